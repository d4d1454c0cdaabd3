"""
Share a trained agent on the Hugging Face Hub with RL Baselines3 Zoo's own ``push_to_hub``, our algorithms registered.

``python -m sb3_maxent.push_to_hub --algo sacv1 --env Pendulum-v1 -f logs/ -orga <user>`` takes every flag of
``python -m rl_zoo3.push_to_hub``: it evaluates the agent, records a video (unless ``--no-render``), writes a
model card and uploads the folder ``hub/<repo name>``. rl_zoo3's card tells readers to run ``rl_zoo3`` commands
that fail on our algorithms; for ours, the card names this package and its commands instead (see
:func:`sb3_maxent_model_card`), and its metadata gains the tag ``sb3_maxent``.
"""

import argparse
import contextlib
import importlib
import importlib.util
import re
import runpy
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from sb3_maxent.zoo.register import ALGORITHMS

PACKAGE_URL = "https://sb3-maxent.readthedocs.io/"
TAG = "sb3_maxent"


def require_hub_modules(program: str) -> None:
    """Exit with one sentence naming the extra where rl_zoo3 or its Hub modules are missing."""
    for module in ("rl_zoo3", "huggingface_sb3", "huggingface_hub"):
        try:
            __import__(module)
        except ModuleNotFoundError:
            sys.exit(f'{program}: error: {module} is not installed: pip install "sb3_maxent[zoo]"')


def run_rl_zoo3_script(module: str) -> None:
    """
    Run one of rl_zoo3's scripts as ``__main__`` (their command line is parsed under ``if __name__ == "__main__"``).

    Run from its file: ``runpy.run_module`` warns where the module was imported already (``rl_zoo3.enjoy`` imports
    ``rl_zoo3.load_from_hub``); the scripts import absolutely, so nothing depends on their package.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"No module named {module!r}", name=module)
    runpy.run_path(spec.origin, run_name="__main__")


def sb3_maxent_model_card(card: str, algo: str, env_id: str, organization: str, repo_name: str) -> str:
    """
    Rewrite the model card that ``rl_zoo3.push_to_hub`` generates so that it names this package.

    The header and the hyperparameters are kept; the usage and training sections are replaced by the
    ``sb3_maxent`` commands (``load_from_hub``, ``enjoy``, ``train``, ``push_to_hub``) and ``<Class>.load``.
    Any other ``python -m rl_zoo3.<script>`` or ``pip install rl_zoo3`` left in the card is rewritten too.

    :param card: the card (Markdown, without metadata) that rl_zoo3 wrote
    :param algo: rl_zoo3 name of one of our algorithms (``--algo``)
    :param env_id: the environment (``--env``)
    :param organization: the Hub user or organisation (``-orga``)
    :param repo_name: the Hub repository's name (``-name``, by default ``<algo>-<env>``)
    """
    from huggingface_sb3 import EnvironmentName, ModelName

    class_name = ALGORITHMS[algo].__name__
    filename = ModelName(algo, EnvironmentName(env_id)).filename  # "<algo>-<env>.zip", a "/" of the environment's id as "-"
    usage = f"""## Usage (with sb3_maxent and the RL Zoo)

**{class_name}** comes from [sb3_maxent]({PACKAGE_URL}) (maximum-entropy RL for Stable-Baselines3),
not from SB3 itself: `rl_zoo3`'s own commands do not know `--algo {algo}`. sb3_maxent's front ends take the
same flags, with its algorithms registered.

```bash
pip install "sb3_maxent[zoo]"
```

```
# Download model and save it into the logs/ folder (the checkpoint is a pickle: trust its author)
TRUST_REMOTE_CODE=True python -m sb3_maxent.load_from_hub --algo {algo} --env {env_id} -orga {organization} \\
    -name {repo_name} -f logs/
python -m sb3_maxent.enjoy --algo {algo} --env {env_id} -f logs/
```

## Usage (in Python)

```python
import os

from huggingface_sb3 import load_from_hub
from sb3_maxent import {class_name}

os.environ["TRUST_REMOTE_CODE"] = "True"  # the checkpoint is a pickle: trust its author
checkpoint = load_from_hub("{organization}/{repo_name}", "{filename}")
model = {class_name}.load(checkpoint)
```

## Training (with sb3_maxent and the RL Zoo)
```
python -m sb3_maxent.train --algo {algo} --env {env_id} -f logs/
# Upload the model and generate video (when possible)
python -m sb3_maxent.push_to_hub --algo {algo} --env {env_id} -f logs/ -orga {organization}
```

"""
    start, end = card.find("## Usage"), card.find("## Hyperparameters")
    # a card laid out differently is kept, ours put before it
    card = card[:start] + usage + card[end:] if 0 <= start < end else usage + card
    card = re.sub(r"python -m rl_zoo3\.(\w+)", r"python -m sb3_maxent.\1", card)
    card = re.sub(r"pip install rl_zoo3\b", 'pip install "sb3_maxent[zoo]"', card)
    return card.replace(
        "and the [RL Zoo](https://github.com/DLR-RM/rl-baselines3-zoo).",
        f"with [sb3_maxent]({PACKAGE_URL})\nand the [RL Zoo](https://github.com/DLR-RM/rl-baselines3-zoo).",
        1,
    )


@contextlib.contextmanager
def huggingface_sb3_as_rl_zoo3_expects() -> Iterator[None]:
    """
    Within the block, ``huggingface_sb3.push_to_hub.generate_metadata`` exists, as ``rl_zoo3.push_to_hub`` imports it.

    ``sb3-team-hf-integration`` 3.2 (the distribution of ``huggingface_sb3`` that rl_zoo3 2.9 requires) renamed
    it ``_generate_metadata`` and made it return a ``ModelCardData``; rl_zoo3 passes the result to
    ``metadata_save``, which takes a dict. Where ``generate_metadata`` exists, nothing changes.
    """
    # the module: the package's attribute push_to_hub is the function of that name
    hf_push = importlib.import_module("huggingface_sb3.push_to_hub")

    if hasattr(hf_push, "generate_metadata") or not hasattr(hf_push, "_generate_metadata"):
        yield
        return

    def generate_metadata(model_name: str, env_id: str, mean_reward: float, std_reward: float) -> dict[str, Any]:
        return hf_push._generate_metadata(model_name, env_id, mean_reward, std_reward).to_dict()

    hf_push.generate_metadata = generate_metadata  # type: ignore[attr-defined]
    try:
        yield
    finally:
        del hf_push.generate_metadata  # type: ignore[attr-defined]


@contextlib.contextmanager
def model_cards_name_sb3_maxent(algo: str, env_id: str, organization: str) -> Iterator[None]:
    """
    Within the block, the model card that rl_zoo3's ``save_model_card`` writes is rewritten by
    :func:`sb3_maxent_model_card`, and its metadata gains the tag ``sb3_maxent``.

    rl_zoo3 writes ``README.md`` and then calls ``huggingface_hub.repocard.metadata_save`` on it (imported
    when its script runs, so the wrapper set here is the one it calls); the repository's name is the folder's.
    """
    import huggingface_hub.repocard

    metadata_save = huggingface_hub.repocard.metadata_save

    def save_card_metadata(local_path: str | Path, data: dict[str, Any]) -> Any:
        readme = Path(local_path)
        card = sb3_maxent_model_card(readme.read_text(encoding="utf-8"), algo, env_id, organization, readme.parent.name)
        readme.write_text(card, encoding="utf-8")
        data = data if isinstance(data, dict) else data.to_dict()
        tags = list(data.get("tags", []))
        return metadata_save(local_path, {**data, "tags": tags if TAG in tags else [*tags, TAG]})

    huggingface_hub.repocard.metadata_save = save_card_metadata  # type: ignore[assignment]
    try:
        yield
    finally:
        huggingface_hub.repocard.metadata_save = metadata_save  # type: ignore[assignment]


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m sb3_maxent.push_to_hub``: rl_zoo3's script, run as ``__main__``."""
    from sb3_maxent.zoo.enjoy import LoadWithoutReplayBuffer, run_loading_script

    require_hub_modules("python -m sb3_maxent.push_to_hub")
    arguments = list(sys.argv[1:] if argv is None else argv)
    # the flags the card needs; rl_zoo3's own parser checks them all (and prints its usage) below
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--algo")
    parser.add_argument("--env")
    parser.add_argument("-orga", "--organization")
    known, _ = parser.parse_known_args(arguments)

    def push() -> None:
        from rl_zoo3.utils import ALGOS

        # rl_zoo3 names the card's algorithm with ALGOS[algo].__name__; ours stand in as loaders here
        for entry in ALGOS.values():
            if isinstance(entry, LoadWithoutReplayBuffer):
                entry.__name__ = entry.algorithm_class.__name__  # type: ignore[attr-defined]
        run_rl_zoo3_script("rl_zoo3.push_to_hub")

    with contextlib.ExitStack() as stack:
        stack.enter_context(huggingface_sb3_as_rl_zoo3_expects())
        if known.algo in ALGORITHMS and known.env and known.organization:
            stack.enter_context(model_cards_name_sb3_maxent(known.algo, known.env, known.organization))
        run_loading_script(push, arguments)


if __name__ == "__main__":
    main()
