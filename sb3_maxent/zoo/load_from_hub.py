"""
Fetch a shared agent from the Hugging Face Hub with RL Baselines3 Zoo's own ``load_from_hub``, our algorithms
registered.

``python -m sb3_maxent.load_from_hub --algo sacv1 --env Pendulum-v1 -orga <user> -f logs/`` takes every flag of
``python -m rl_zoo3.load_from_hub`` and lays the files out as a run of ``python -m sb3_maxent.train``
(``logs/sacv1/Pendulum-v1_<n>/``), ready for ``python -m sb3_maxent.enjoy`` or ``SACV1.load``. Like rl_zoo3's,
it downloads only with ``TRUST_REMOTE_CODE=True`` set (a checkpoint is a pickle: trust its author).

rl_zoo3 treats a missing ``vec_normalize.pkl`` (an agent trained without ``VecNormalize``) as a
``requests`` ``HTTPError``; ``huggingface_hub`` 1.0 and later raise ``EntryNotFoundError``, which is not one.
Here that error reaches rl_zoo3 as the ``HTTPError`` it expects (see :func:`missing_files_as_http_errors`).
"""

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sb3_maxent.zoo.push_to_hub import require_hub_modules, run_rl_zoo3_script


@contextlib.contextmanager
def missing_files_as_http_errors() -> Iterator[None]:
    """
    Within the block, ``huggingface_hub.hf_hub_download`` (which ``huggingface_sb3.load_from_hub`` imports at each
    call) raises an error that is both ``huggingface_hub``'s ``EntryNotFoundError`` and ``requests``' ``HTTPError``
    for a file the repository lacks.
    """
    import huggingface_hub
    from huggingface_hub.errors import EntryNotFoundError
    from requests.exceptions import HTTPError

    if issubclass(EntryNotFoundError, HTTPError):  # huggingface_hub before 1.0
        yield
        return

    class MissingFile(EntryNotFoundError, HTTPError):  # type: ignore[misc]
        """A file the Hub repository lacks."""

    download: Callable[..., Any] = huggingface_hub.hf_hub_download

    def hf_hub_download(*args: Any, **kwargs: Any) -> Any:
        try:
            return download(*args, **kwargs)
        except EntryNotFoundError as error:
            raise MissingFile(str(error)) from error

    huggingface_hub.hf_hub_download = hf_hub_download  # type: ignore[assignment]
    try:
        yield
    finally:
        huggingface_hub.hf_hub_download = download  # type: ignore[assignment]


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m sb3_maxent.load_from_hub``: rl_zoo3's script, run as ``__main__``."""
    from sb3_maxent.zoo.register import register_algorithms

    require_hub_modules("python -m sb3_maxent.load_from_hub")
    register_algorithms()
    original_argv = sys.argv
    if argv is not None:
        sys.argv = [original_argv[0], *argv]
    try:
        with missing_files_as_http_errors():
            run_rl_zoo3_script("rl_zoo3.load_from_hub")
    finally:
        sys.argv = original_argv


if __name__ == "__main__":
    main()
