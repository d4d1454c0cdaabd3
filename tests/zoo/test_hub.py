"""
``python -m sb3_maxent.push_to_hub`` / ``load_from_hub``: rl_zoo3's Hub scripts with our algorithms, no network.

The real packaging code (rl_zoo3's ``package_to_hub``: save, evaluate, model card, metadata) runs end to end; only
``HfApi``'s network calls are stand-ins (``create_repo``, ``snapshot_download`` of the empty repository, and
``upload_folder``, which copies the folder). The uploaded folder is then the local snapshot from which
``huggingface_hub.hf_hub_download`` serves files to ``load_from_hub``.
"""

import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from sb3_maxent import SACV1

pytest.importorskip("rl_zoo3")
pytest.importorskip("huggingface_sb3")

from huggingface_hub import HfApi
from huggingface_hub.errors import EntryNotFoundError

from sb3_maxent.zoo import enjoy, load_from_hub, push_to_hub, train

ORGANIZATION = "someone"
REPO_NAME = "sacv1-Pendulum-v1"
HUB_PAGE = Path(__file__).resolve().parents[2] / "docs" / "guide" / "hub.md"


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    """The log folder of a 300-step SACV1 run of ``python -m sb3_maxent.train`` (in this process) on Pendulum-v1."""
    folder = tmp_path_factory.mktemp("logs")
    arguments = ["--algo", "sacv1", "--env", "Pendulum-v1", "-n", "300", "-f", str(folder), "--seed", "0"]
    arguments += ["--eval-freq", "-1", "--final-eval-episodes", "1"]
    train.main([*arguments, "-params", "learning_starts:100", "policy_kwargs:dict(net_arch=[16])"])
    return folder


@pytest.fixture
def offline_hub(tmp_path, monkeypatch) -> SimpleNamespace:
    """``HfApi``'s network calls as stand-ins; ``upload_folder`` copies into ``folder``, ``calls`` records them."""
    uploaded = tmp_path / "uploaded"
    calls = []

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", repo_id))
        return f"https://huggingface.co/{repo_id}"

    def snapshot_download(self, repo_id, local_dir, **kwargs):  # a new repository: nothing to fetch
        Path(local_dir).mkdir(parents=True, exist_ok=True)
        return str(local_dir)

    def upload_folder(self, repo_id, folder_path, **kwargs):
        calls.append(("upload_folder", repo_id))
        shutil.copytree(folder_path, uploaded / repo_id)

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "snapshot_download", snapshot_download)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    monkeypatch.chdir(tmp_path)  # rl_zoo3 prepares the repository in ./hub/
    return SimpleNamespace(folder=uploaded, calls=calls)


@pytest.fixture
def hub_snapshot(monkeypatch):
    """Serve ``hf_hub_download`` from a local folder laid out as the Hub repository; a missing file raises."""
    snapshots: dict[str, Path] = {}

    def hf_hub_download(repo_id, filename, **kwargs):
        path = snapshots[repo_id] / filename
        if not path.is_file():
            raise EntryNotFoundError(f"{filename} not in {repo_id}")
        return str(path)

    monkeypatch.setattr("huggingface_hub.hf_hub_download", hf_hub_download)
    monkeypatch.setenv("TRUST_REMOTE_CODE", "True")
    return snapshots


def test_push_then_load_from_hub(trained_run, offline_hub, hub_snapshot, tmp_path):
    push_to_hub.main(["--algo", "sacv1", "--env", "Pendulum-v1", "-f", str(trained_run), "-orga", ORGANIZATION, "--no-render"])

    repo_id = f"{ORGANIZATION}/{REPO_NAME}"
    assert offline_hub.calls == [("create_repo", repo_id), ("upload_folder", repo_id)]
    repository = offline_hub.folder / repo_id
    for name in ("sacv1-Pendulum-v1.zip", "config.yml", "args.yml", "env_kwargs.yml", "train_eval_metrics.zip"):
        assert (repository / name).is_file(), name

    card = (repository / "README.md").read_text(encoding="utf-8")
    metadata = yaml.safe_load(card.split("---")[1])
    assert "sb3_maxent" in metadata["tags"]
    assert "**SACV1** Agent playing **Pendulum-v1**" in card
    assert 'pip install "sb3_maxent[zoo]"' in card
    assert f"python -m sb3_maxent.load_from_hub --algo sacv1 --env Pendulum-v1 -orga {ORGANIZATION}" in card
    assert "python -m sb3_maxent.enjoy --algo sacv1 --env Pendulum-v1 -f logs/" in card
    assert "python -m sb3_maxent.push_to_hub --algo sacv1" in card
    assert "from sb3_maxent import SACV1" in card
    assert f'load_from_hub("{repo_id}", "sacv1-Pendulum-v1.zip")' in card
    assert "rl_zoo3." not in card and "pip install rl_zoo3" not in card
    assert "## Hyperparameters" in card and "learning_starts" in card

    # the repository as fetched: no vec_normalize.pkl (rl_zoo3 expects requests' HTTPError for it)
    hub_snapshot[repo_id] = repository
    fetched = tmp_path / "fetched"
    load_from_hub.main(["--algo", "sacv1", "--env", "Pendulum-v1", "-orga", ORGANIZATION, "-f", str(fetched)])
    run = fetched / "sacv1" / "Pendulum-v1_1"
    assert (run / "Pendulum-v1" / "config.yml").is_file()

    model = SACV1.load(run / "Pendulum-v1.zip", buffer_size=1)
    original = SACV1.load(trained_run / "sacv1" / "Pendulum-v1_1" / "Pendulum-v1.zip", buffer_size=1)
    observations = np.random.default_rng(0).uniform(-1, 1, size=(8, 3)).astype(np.float32)
    assert np.array_equal(
        model.predict(observations, deterministic=True)[0], original.predict(observations, deterministic=True)[0]
    )

    enjoy.main(["--algo", "sacv1", "--env", "Pendulum-v1", "-f", str(fetched), "--no-render", "-n", "20"])

    # the card's Python usage and docs/guide/hub.md's, run against the same snapshot
    blocks = re.findall(r"^```python\n(.*?)^```", card, re.DOTALL | re.MULTILINE)
    (card_example,) = [block for block in blocks if ".load(" in block]  # the other one: the hyperparameters
    (docs_example,) = re.findall(r"^```py\n(.*?)^```", HUB_PAGE.read_text(encoding="utf-8"), re.DOTALL | re.MULTILINE)
    for example in (card_example, docs_example.replace("<user>", ORGANIZATION)):
        namespace: dict = {}
        exec(compile(example, "<example>", "exec"), namespace)
        assert np.array_equal(
            namespace["model"].predict(observations, deterministic=True)[0],
            original.predict(observations, deterministic=True)[0],
        )


def test_card_for_every_algorithm_names_sb3_maxent():
    from sb3_maxent.zoo.register import ALGORITHMS

    with push_to_hub.huggingface_sb3_as_rl_zoo3_expects():  # run, not imported: sb3_maxent.push_to_hub runs it too
        generate_model_card = runpy.run_module("rl_zoo3.push_to_hub")["generate_model_card"]

    for algo, algorithm_class in ALGORITHMS.items():
        card, _ = generate_model_card(algo, algorithm_class.__name__, "orga", "ALE/Pong-v5", 1.0, 0.0, {"gamma": 0.9}, {})
        card = push_to_hub.sb3_maxent_model_card(card, algo, "ALE/Pong-v5", "orga", f"{algo}-ALE-Pong-v5")
        assert "rl_zoo3." not in card
        assert f"python -m sb3_maxent.load_from_hub --algo {algo} --env ALE/Pong-v5 -orga orga" in card
        assert f"from sb3_maxent import {algorithm_class.__name__}" in card
        assert f'load_from_hub("orga/{algo}-ALE-Pong-v5", "{algo}-ALE-Pong-v5.zip")' in card
        assert "{'gamma': 0.9}" in card


def test_our_algorithms_are_choices():
    for module in ("sb3_maxent.load_from_hub", "sb3_maxent.push_to_hub"):
        result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
        assert all(name in result.stdout for name in ("sacv1", "sql", "msql", "soft_vi")), result.stdout


@pytest.mark.parametrize("command", [push_to_hub.main, load_from_hub.main])
def test_missing_hub_module_names_the_extra(command, monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_sb3", None)  # import raises ModuleNotFoundError
    with pytest.raises(SystemExit, match=r'huggingface_sb3 is not installed: pip install "sb3_maxent\[zoo\]"'):
        command(["--algo", "sacv1", "--env", "Pendulum-v1", "-f", "logs", "-orga", ORGANIZATION])
