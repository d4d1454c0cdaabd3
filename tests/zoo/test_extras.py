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


PACKAGE = PYPROJECT.parent / "sb3_maxent"
# every `python -m sb3_maxent....` module: those that run something as __main__
PYTHON_M_MODULES = sorted(
    ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    for path in PACKAGE.rglob("*.py")
    if 'if __name__ == "__main__":' in path.read_text()
)
CONSOLE_SCRIPTS = tomllib.loads(PYPROJECT.read_text())["project"]["scripts"]
RUN_EVERY_ENTRY_POINT = """
import importlib, json, runpy, sys, warnings
warnings.simplefilter("ignore")  # runpy's RuntimeWarning on a module the previous one imported
modules, scripts = json.loads(sys.argv[1])
sys.modules["rl_zoo3"] = None  # as if installed without the zoo extra
arguments = ["--algo", "sql", "--env", "CartPole-v1"]
outcomes = {}
for module in modules:
    sys.argv = ["-m", *arguments]  # run_module puts the module's file in sys.argv[0], as python -m does
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        outcomes[module] = "returned"
    except SystemExit as stop:
        outcomes[module] = stop.code
    except BaseException as error:
        outcomes[module] = f"raised {type(error).__name__}: {error}"
for script, target in scripts.items():
    module, function = target.split(":")
    sys.argv = [f"/venv/bin/{script}", *arguments]
    try:
        getattr(importlib.import_module(module), function)()
        outcomes[script] = "returned"
    except SystemExit as stop:
        outcomes[script] = stop.code
    except BaseException as error:
        outcomes[script] = f"raised {type(error).__name__}: {error}"
print(json.dumps(outcomes))
"""


def test_the_entry_points_are_the_ones_this_file_checks():
    """The lists below are read from the package and pyproject.toml; they hold what README and the docs name."""
    assert {"sb3-maxent-train", "sb3-maxent-enjoy", "sb3-maxent-record-video"} <= set(CONSOLE_SCRIPTS)
    for command in ("train", "enjoy", "record_video", "push_to_hub", "load_from_hub"):
        assert f"sb3_maxent.{command}" in PYTHON_M_MODULES
        assert f"sb3_maxent.zoo.{command}" in PYTHON_M_MODULES


def test_every_console_script_and_python_m_module_without_the_zoo_names_the_zoo_extra():
    """
    Each ``[project.scripts]`` entry and each module with a ``__main__`` block exits with one sentence naming
    the zoo extra (no traceback, nothing started) where rl_zoo3 is missing; all in one interpreter, for speed.
    """
    result = subprocess.run(
        [sys.executable, "-c", RUN_EVERY_ENTRY_POINT, json.dumps([PYTHON_M_MODULES, CONSOLE_SCRIPTS])],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcomes = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(outcomes) == {*PYTHON_M_MODULES, *CONSOLE_SCRIPTS}
    for entry_point, outcome in outcomes.items():
        assert isinstance(outcome, str), (entry_point, outcome)  # sys.exit(message): status 1, the message printed
        assert outcome.endswith('rl_zoo3, which is not installed: pip install "sb3_maxent[zoo]"') or outcome.endswith(
            'rl_zoo3 is not installed: pip install "sb3_maxent[zoo]"'
        ), (entry_point, outcome)
        if entry_point in CONSOLE_SCRIPTS:
            assert outcome.startswith(f"{entry_point} needs rl_zoo3"), (entry_point, outcome)
        else:
            command = entry_point.rsplit(".", 1)[-1]
            assert outcome.startswith(f"python -m sb3_maxent.{command}"), (entry_point, outcome)


INSTALL_PAGE = PYPROJECT.parent / "docs" / "guide" / "install.md"


@pytest.mark.parametrize(("algorithm", "env_id"), [("SACV1", "Pendulum-v1"), ("SoftQLearning", "CartPole-v1")])
def test_tensorboard_log_without_tensorboard_fails_as_the_install_page_says(monkeypatch, tmp_path, algorithm, env_id):
    """
    SB3 raises its own ImportError, naming TensorBoard, in ``learn()`` (the algorithms add nothing to it); the
    installation page quotes it and names the extra. ``SummaryWriter = None`` is what SB3 sets where the import fails.
    """
    import stable_baselines3.common.utils

    import sb3_maxent

    monkeypatch.setattr(stable_baselines3.common.utils, "SummaryWriter", None)
    model = getattr(sb3_maxent, algorithm)("MlpPolicy", env_id, tensorboard_log=str(tmp_path / "tb"))
    with pytest.raises(ImportError) as excinfo:
        model.learn(10)
    message = str(excinfo.value)
    assert message == "Trying to log data to tensorboard but tensorboard is not installed."
    page = " ".join(INSTALL_PAGE.read_text().split())  # the page's lines wrap
    assert f'`ImportError: {message}` Install `pip install "sb3_maxent[extra]"`' in page
    assert EXTRA_OF["tensorboard"] == "extra"


def test_progress_bar_without_tqdm_fails_as_the_install_page_says(monkeypatch):
    """SB3's ImportError names ``stable-baselines3[extra]``; the page says which of our extras installs the same."""
    import stable_baselines3.common.callbacks

    from sb3_maxent import SoftValueIteration

    monkeypatch.setattr(stable_baselines3.common.callbacks, "tqdm", None)
    model = SoftValueIteration(env="FrozenLake-v1")
    with pytest.raises(ImportError, match="You must install tqdm and rich") as excinfo:
        model.learn(1, progress_bar=True)
    first_sentence = str(excinfo.value).split(". ")[0]
    page = " ".join(INSTALL_PAGE.read_text().split())
    assert f"`ImportError: {first_sentence}. ...`" in page
    assert 'pip install "sb3_maxent[extra]"` installs the same two packages' in page
    assert {EXTRA_OF["tqdm"], EXTRA_OF["rich"]} == {"extra"}
