"""
Saving that never leaves a broken file in place of a good one.

SB3 opens the target itself and writes into it, so a save that fails midway (a full disk, a kill) leaves a
truncated or empty zip where the previous good one was. Here the bytes go to a temporary file beside the target,
in the same directory (so on the same file system), are flushed to disk with ``fsync``, and only then replace the
target with ``os.replace``, which is atomic: the target is either the old file or the new one, never a mix. A save
that raises removes its temporary file; a killed process may leave one behind, named
``.<target name>.<random hex>.tmp``, which is safe to delete.
"""

import io
import os
import pathlib
import stat
import uuid
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import IO, TYPE_CHECKING, Any

import torch as th

if TYPE_CHECKING:
    from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

    _AlgorithmBase = OffPolicyAlgorithm
else:
    _AlgorithmBase = object

TEMPORARY_SUFFIX = ".tmp"


def resolve_save_path(path: str | pathlib.Path, suffix: str | None) -> pathlib.Path:
    """
    The file SB3's ``open_path(path, "w", suffix=suffix)`` writes to, with its side effects: ``suffix`` added to a
    path without one (``"model"`` -> ``"model.zip"``), ``<path>_2`` (with a warning) when the path is a folder, and the
    missing parent folders created (with a warning).
    """
    path = pathlib.Path(path)
    while True:
        if path.suffix == "" and suffix:
            path = pathlib.Path(f"{path}.{suffix}")
        if not path.is_dir():
            break
        warnings.warn(f"Path '{path}' is a folder. Will save instead to {path}_2", stacklevel=3)
        path = pathlib.Path(f"{path}_2")
    if not path.parent.exists():
        warnings.warn(f"Path '{path.parent}' does not exist. Will create it.", stacklevel=3)
        path.parent.mkdir(exist_ok=True, parents=True)
    return path


def temporary_path_for(target: pathlib.Path) -> pathlib.Path:
    """
    A new temporary file name beside ``target`` (hidden, unique per call), within the file system's limit on a name's
    length: a ``target`` name as long as the limit allows keeps only as much of itself as fits beside the marks.
    """
    unique = f".{uuid.uuid4().hex[:12]}{TEMPORARY_SUFFIX}"
    try:
        name_max = os.pathconf(target.parent if target.parent.exists() else ".", "PC_NAME_MAX")
    except (OSError, ValueError):  # no such limit reported (or no pathconf): POSIX's usual one
        name_max = 255
    return target.parent / f".{target.name[: name_max - 1 - len(unique)]}{unique}"


@contextmanager
def atomic_write(path: str | pathlib.Path) -> Iterator[io.BufferedWriter]:
    """
    A binary file to write ``path``'s new content into; on success it replaces ``path`` atomically, on an error
    (raised inside the block, or by the flush) ``path`` is left as it was and the temporary file is removed.

    A symbolic link is written through, as ``open(path, "wb")`` would: the file it points to is replaced. An
    existing target's permission bits are kept.
    """
    target = pathlib.Path(os.path.realpath(path))
    temporary = temporary_path_for(target)
    file = open(temporary, "xb")  # noqa: SIM115 (closed below, before the replace)
    try:
        try:
            with suppress(OSError):
                os.chmod(temporary, stat.S_IMODE(os.stat(target).st_mode))
            yield file
            file.flush()
            os.fsync(file.fileno())
        finally:
            file.close()
        os.replace(temporary, target)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_directory(target.parent)


def _fsync_directory(directory: pathlib.Path) -> None:
    """Make the replace itself durable (POSIX); skipped where a folder cannot be opened (Windows)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with suppress(OSError):
            os.fsync(descriptor)
    finally:
        os.close(descriptor)


def atomic_torch_save(obj: Any, path: str | os.PathLike[str] | IO[bytes]) -> None:
    """``th.save(obj, path)``, atomic when ``path`` is a path; a file object is written as ``th.save`` does."""
    if isinstance(path, (str, os.PathLike)):
        with atomic_write(pathlib.Path(path)) as file:
            th.save(obj, file)
    else:
        th.save(obj, path)


class AtomicSaveMixin(_AlgorithmBase):
    """
    ``save`` and ``save_replay_buffer`` of an SB3 algorithm, atomic (see :func:`atomic_write`) when given a path,
    with SB3's handling of that path (:func:`resolve_save_path`); a file object is written as SB3 writes it.
    Put it before the SB3 base class.
    """

    def save(
        self,
        path: str | pathlib.Path | io.BufferedIOBase,
        exclude: Iterable[str] | None = None,
        include: Iterable[str] | None = None,
    ) -> None:
        if isinstance(path, (str, pathlib.Path)):
            with atomic_write(resolve_save_path(path, "zip")) as file:
                super().save(file, exclude=exclude, include=include)
            return
        super().save(path, exclude=exclude, include=include)

    def save_replay_buffer(self, path: str | pathlib.Path | io.BufferedIOBase) -> None:
        if isinstance(path, (str, pathlib.Path)):
            target = resolve_save_path(path, "pkl")
            if self.verbose >= 2 and target.is_file():
                warnings.warn(f"Path '{target}' exists, will overwrite it.", stacklevel=2)
            with atomic_write(target) as file:
                super().save_replay_buffer(file)
            return
        super().save_replay_buffer(path)
