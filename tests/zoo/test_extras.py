"""
A console script or module that needs an extra, with the extra missing, says in one sentence which extra to install
(``pip install "sb3_maxent[zoo]"``) instead of failing with a bare ``ModuleNotFoundError``.

The missing module is simulated by ``sys.modules[name] = None``, which makes ``import name`` fail as if it were not
installed.
"""

import importlib
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from sb3_maxent.zoo import enjoy, record_video, register_algorithms, train
from sb3_maxent.zoo.extras import EXTRA_OF

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _exit_message(excinfo: pytest.ExceptionInfo[SystemExit]) -> str:
    assert isinstance(excinfo.value.code, str), "a message for the user, exit status 1"
    return excinfo.value.code


@pytest.mark.parametrize(
    ("main", "script"),
    [(train.main, "sb3-maxent-train"), (enjoy.main, "sb3-maxent-enjoy"), (record_video.main, "sb3-maxent-record-video")],
)
def test_console_scripts_without_the_zoo_name_the_zoo_extra(monkeypatch, main, script):
    monkeypatch.setitem(sys.modules, "rl_zoo3", None)
    monkeypatch.setattr(sys, "argv", [f"/venv/bin/{script}"])
    with pytest.raises(SystemExit) as excinfo:
        main(["--algo", "sql", "--env", "CartPole-v1"])
    expected = f'{script} needs rl_zoo3, which is not installed: pip install "sb3_maxent[zoo]"'
    assert _exit_message(excinfo) == expected


def test_record_video_without_moviepy_names_the_video_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "moviepy", None)
    monkeypatch.setattr(sys, "argv", ["sb3_maxent/record_video.py"])
    with pytest.raises(SystemExit) as excinfo:
        record_video.main(["--algo", "sql", "--env", "CartPole-v1"])
    assert _exit_message(excinfo).endswith(
        'python -m sb3_maxent.record_video needs moviepy, which is not installed: pip install "sb3_maxent[video]"'
    )


def test_postgresql_storage_without_its_driver_names_the_postgres_extra(monkeypatch, tmp_path):
    pytest.importorskip("rl_zoo3")
    monkeypatch.setitem(sys.modules, "psycopg", None)
    monkeypatch.setattr(sys, "argv", ["sb3-maxent-train"])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as excinfo:
        train.main(["--algo", "sql", "--env", "CartPole-v1", "-optimize", "--storage", "postgresql+psycopg://u@localhost/db"])
    assert _exit_message(excinfo).endswith('needs psycopg, which is not installed: pip install "sb3_maxent[postgres]"')
    assert not (tmp_path / "logs").exists(), "it stops before rl_zoo3 starts"


def test_register_algorithms_without_the_zoo_names_the_zoo_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "rl_zoo3", None)
    with pytest.raises(ModuleNotFoundError, match=r'pip install "sb3_maxent\[zoo\]"') as excinfo:
        register_algorithms()
    assert excinfo.value.name == "rl_zoo3"


@pytest.mark.parametrize("module", ["sb3_maxent.zoo.samplers", "sb3_maxent.zoo.tuning"])
def test_modules_that_import_optuna_name_the_zoo_extra(monkeypatch, module):
    monkeypatch.setitem(sys.modules, "optuna", None)
    monkeypatch.delitem(sys.modules, module, raising=False)  # imported afresh; monkeypatch puts the original back
    with pytest.raises(ModuleNotFoundError, match=rf'^{module} needs optuna, .*pip install "sb3_maxent\[zoo\]"$'):
        importlib.import_module(module)


def test_python_m_train_without_the_zoo_prints_one_sentence_and_no_traceback():
    code = (
        "import runpy, sys; sys.modules['rl_zoo3'] = None; sys.argv = ['train', '--algo', 'sql']; "
        "runpy.run_module('sb3_maxent.train', run_name='__main__', alter_sys=True)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        'python -m sb3_maxent.train needs rl_zoo3, which is not installed: pip install "sb3_maxent[zoo]"'
    )


def test_every_hinted_extra_exists_and_installs_its_module():
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    package_of = {"sb3_contrib": "sb3-contrib", "pygame": "gymnasium[classic-control]", "yaml": "rl_zoo3"}
    for module, extra in EXTRA_OF.items():
        assert extra in extras, f"pyproject.toml has no extra {extra!r}"
        package = package_of.get(module, module)
        assert any(requirement.startswith(package) for requirement in extras[extra]), (module, extra)


def test_the_zoo_extra_leaves_out_the_heavy_pieces():
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    for heavy in ("psycopg", "moviepy", "tensorboard"):
        assert not any(requirement.startswith(heavy) for requirement in extras["zoo"]), heavy


# what `pip install sb3_maxent` lacks: every extra's top-level modules
NOT_IN_THE_CORE = sorted({*EXTRA_OF, "moviepy", "psycopg", "pandas"})
HIDE_AND_RUN = """
import functools, re, sys
for module in sys.argv[2:]:
    sys.modules[module] = None  # as if not installed: imported by nothing before this line
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
learn = OffPolicyAlgorithm.learn


@functools.wraps(learn)
def short_learn(self, total_timesteps, *args, **kwargs):
    return learn(self, min(total_timesteps, 300), *args, **kwargs)

OffPolicyAlgorithm.learn = short_learn
text = open(sys.argv[1]).read()
for code in re.findall(r"^```python\\n(.*?)^```", text, re.DOTALL | re.MULTILINE):
    exec(compile(code, sys.argv[1], "exec"), {"__name__": "__example__"})
"""


def _code_of_examples(page: str) -> str:
    text = (PYPROJECT.parent / page).read_text()
    code = "\n".join(re.findall(r"^```python\n(.*?)^```", text, re.DOTALL | re.MULTILINE))
    return "\n".join(line.split("#")[0] for line in code.splitlines())  # comments may name what an extra adds


@pytest.mark.parametrize("page", ["README.md", "README.pypi.md", "docs/guide/getting_started.md"])
def test_readme_examples_use_nothing_from_an_extra(page):
    """Fast: the examples (the getting-started page includes README's) ask for no progress bar, window or log."""
    code = _code_of_examples(page)
    for needs_an_extra in ("progress_bar=True", "render_mode=", "tensorboard_log=", "rl_zoo3", "optuna", "moviepy"):
        assert needs_an_extra not in code, f"{page}: {needs_an_extra} needs an extra; say which in a comment"


@pytest.mark.slow  # three minutes: every example, each learn() cut to 300 steps, in a fresh interpreter
@pytest.mark.parametrize("page", ["README.md", "README.pypi.md"])
def test_readme_examples_run_with_the_core_dependencies_only(page, tmp_path):
    """README's Python examples (the getting-started page includes them) run without any extra's modules."""
    path = PYPROJECT.parent / page
    result = subprocess.run(
        [sys.executable, "-c", HIDE_AND_RUN, str(path), *NOT_IN_THE_CORE],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,  # the examples save their models
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize(("main", "module"), [(enjoy.main, "rl_zoo3.enjoy"), (record_video.main, None)])
def test_rendering_without_pygame_names_the_extra_extra(monkeypatch, main, module):
    """``enjoy`` and ``record_video`` render; the classic-control environments need pygame (the ``extra`` extra)."""
    pytest.importorskip("rl_zoo3")
    import gymnasium as gym
    import rl_zoo3.enjoy

    def render_without_pygame(*args, **kwargs):
        env = gym.make("CartPole-v1", render_mode="rgb_array")
        env.reset(seed=0)
        env.render()  # gymnasium raises DependencyNotInstalled here

    monkeypatch.setitem(sys.modules, "pygame", None)
    monkeypatch.setattr(sys, "argv", [f"/x/sb3_maxent/{main.__module__.rsplit('.', 1)[-1]}.py"])
    if module is None:
        monkeypatch.setattr("runpy.run_module", render_without_pygame)
    else:
        monkeypatch.setattr(rl_zoo3.enjoy, "enjoy", render_without_pygame)
    with pytest.raises(SystemExit) as excinfo:
        main(["--algo", "sql", "--env", "CartPole-v1"])
    command = main.__module__.rsplit(".", 1)[-1]
    assert _exit_message(excinfo) == (
        f'python -m sb3_maxent.{command} needs pygame, which is not installed: pip install "sb3_maxent[extra]" '
        "(or run with --no-render)"
    )


CORE_ONLY = """
import importlib, json, pkgutil, sys
for module in sys.argv[1:]:
    sys.modules[module] = None  # as if `pip install sb3_maxent` alone: no extra
import sb3_maxent

failures = {}
for info in pkgutil.walk_packages(sb3_maxent.__path__, "sb3_maxent."):
    try:
        importlib.import_module(info.name)
    except ModuleNotFoundError as error:
        failures[info.name] = str(error)
exits = {}
for command in ("train", "enjoy", "record_video"):
    sys.argv = [f"/x/sb3_maxent/{command}.py"]
    try:
        importlib.import_module(f"sb3_maxent.zoo.{command}").main(["--algo", "sql", "--env", "CartPole-v1"])
    except SystemExit as stop:
        exits[command] = stop.code
print(json.dumps({"failures": failures, "exits": exits}))
"""


def test_with_the_core_dependencies_only_every_import_and_command_names_its_extra():
    """Every module of the package imports, or fails with the extra's name; no bare ModuleNotFoundError."""
    hidden = [*NOT_IN_THE_CORE, "yaml", "huggingface_sb3", "huggingface_hub", "requests", "sqlalchemy"]
    result = subprocess.run([sys.executable, "-c", CORE_ONLY, *hidden], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    for module, message in report["failures"].items():
        assert 'which is not installed: pip install "sb3_maxent[' in message, (module, message)
    assert "sb3_maxent.train" not in report["failures"], "the console scripts' modules import: their main() says it"
    for command in ("train", "enjoy", "record_video"):
        assert report["exits"][command].endswith('needs rl_zoo3, which is not installed: pip install "sb3_maxent[zoo]"')
