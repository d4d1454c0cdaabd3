"""
What a user sees before the docs: every public class shows its real constructor signature (help(), inspect,
mypy, Sphinx), SACV1 and SoftQLearning build their implementation by one mechanism, old names still import, and
the package has no import cycle.
"""

import ast
import copy
import importlib
import inspect
import re
from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium import spaces
from stable_baselines3.common.envs import IdentityEnv, IdentityEnvBox

import sb3_maxent
import sb3_maxent.sacv1
import sb3_maxent.sql
import sb3_maxent.tabular
from sb3_maxent import SACV1, SoftQLearning
from sb3_maxent.common.dispatch import ActionSpaceDispatch
from sb3_maxent.sacv1 import ContinuousSACV1, DiscreteSACV1
from sb3_maxent.sql import ContinuousSoftQLearning, DiscreteSoftQLearning

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "sb3_maxent"
MODULES = (sb3_maxent, sb3_maxent.sacv1, sb3_maxent.sql, sb3_maxent.tabular)
PUBLIC_CLASSES = sorted(
    {
        (f"{module.__name__}.{name}", getattr(module, name))
        for module in MODULES
        for name in module.__all__
        # exceptions and warnings keep the signature of Python's own: (*args)
        if inspect.isclass(getattr(module, name)) and not issubclass(getattr(module, name), BaseException)
    },
    key=lambda item: item[0],
)
# the arguments a user looks for first
ESSENTIAL = {
    SoftQLearning: {"policy", "env", "ent_coef", "loss", "munchausen_coef", "munchausen_clip", "svgd_n_particles"},
    SACV1: {"policy", "env", "ent_coef", "target_entropy", "use_sde", "loss"},
}
IMPLEMENTATIONS = [
    (SACV1, DiscreteSACV1, ContinuousSACV1),
    (SoftQLearning, DiscreteSoftQLearning, ContinuousSoftQLearning),
]


def small(implementation: type) -> dict:
    # SB3 adds use_sde to the policy_kwargs it is given: a fresh dict per model
    kwargs: dict = {"policy_kwargs": {"net_arch": [8]}}
    if implementation is ContinuousSoftQLearning:
        kwargs["ent_coef"] = 0.1
    return kwargs


def documented_parameters(cls: type) -> set[str]:
    """The ``:param x:`` names of the class's docstring, or of the nearest base that documents its arguments."""
    for klass in cls.__mro__:
        names = set(re.findall(r":param (\w+):", klass.__dict__.get("__doc__") or ""))
        if names:
            return names
    return set()


# signatures ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "cls"), PUBLIC_CLASSES, ids=[name for name, _ in PUBLIC_CLASSES])
def test_every_public_class_shows_its_real_signature(name, cls):
    parameters = inspect.signature(cls).parameters
    named = [
        parameter
        for parameter in parameters.values()
        if parameter.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    assert named, f"{name}{inspect.signature(cls)}: only *args/**kwargs"
    if not any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()):
        # what the docstring documents is what the constructor takes (a class that forwards **kwargs to its base
        # documents the base's arguments)
        assert documented_parameters(cls) <= set(parameters), documented_parameters(cls) - set(parameters)
    assert ESSENTIAL.get(cls, set()) <= set(parameters)


@pytest.mark.parametrize("public", [SACV1, SoftQLearning])
def test_every_argument_of_a_public_algorithm_is_documented(public):
    assert set(inspect.signature(public).parameters) == documented_parameters(public)


@pytest.mark.parametrize(("public", "discrete", "continuous"), IMPLEMENTATIONS)
def test_help_sphinx_and_inspect_see_the_constructor_not_the_dispatch(public, discrete, continuous):
    expected = inspect.signature(public.__init__)
    for cls in (public, discrete, continuous):
        # Sphinx reads __signature__ first; without it, it would show __new__'s (*args, **kwargs)
        assert (
            cls.__signature__ == inspect.signature(cls) == expected.replace(parameters=list(expected.parameters.values())[1:])
        )
    assert "munchausen_coef" in inspect.signature(SoftQLearning).parameters
    import pydoc

    assert "learning_rate: float" in pydoc.render_doc(public, renderer=pydoc.plaintext)


def test_mypy_refuses_a_misspelt_argument_and_accepts_the_documented_ones(tmp_path, monkeypatch):
    api = pytest.importorskip("mypy.api")
    snippet = tmp_path / "snippet.py"
    snippet.write_text(
        "from sb3_maxent import SACV1, SoftQLearning\n"
        "from sb3_maxent.sql import DiscreteSoftQLearning\n"
        "\n"
        'SoftQLearning("MlpPolicy", "CartPole-v1", learning_rat=1e-3)\n'
        'SoftQLearning("MlpPolicy", "CartPole-v1", munchausen_coef=0.9, munchausen_clip=-1.0)\n'
        'SoftQLearning("MlpPolicy", "Pendulum-v1", ent_coef=0.1, svgd_n_particles=8)\n'
        'SACV1("MlpPolicy", "CartPole-v1", target_entrop=0.1)\n'
        'DiscreteSoftQLearning("MlpPolicy", "CartPole-v1", exploration_fraction=0.1)\n'
        'reveal_type(SoftQLearning("MlpPolicy", "CartPole-v1"))\n'
    )
    # sb3_maxent from this checkout (an editable install's import hook is invisible to mypy); the heavy
    # dependencies unanalysed, which keeps this to seconds: the constructors are sb3_maxent's own
    config = tmp_path / "mypy.ini"
    config.write_text(
        "[mypy]\nfollow_imports = silent\nignore_missing_imports = True\n\n"
        "[mypy-torch.*,stable_baselines3.*,gymnasium.*,numpy.*,scipy.*,yaml.*,optuna.*,rl_zoo3.*]\n"
        "follow_imports = skip\n"
    )
    monkeypatch.setenv("MYPYPATH", str(ROOT))
    stdout, stderr, status = api.run([str(snippet), "--config-file", str(config), "--cache-dir", str(tmp_path / "cache")])
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert status == 1, stdout + stderr
    assert len(errors) == 2, stdout
    assert 'snippet.py:4: error: Unexpected keyword argument "learning_rat" for "SoftQLearning"' in errors[0]
    assert 'snippet.py:7: error: Unexpected keyword argument "target_entrop" for "SACV1"' in errors[1]
    # the checks bite on sb3_maxent's real types, not on an Any
    assert 'snippet.py:9: note: Revealed type is "sb3_maxent.sql.sql.SoftQLearning"' in stdout


# one pattern for both algorithms -------------------------------------------------------------------------------


@pytest.mark.parametrize(("public", "discrete", "continuous"), IMPLEMENTATIONS)
def test_the_public_class_builds_the_implementation_for_the_action_space(public, discrete, continuous, tmp_path):
    assert issubclass(public, ActionSpaceDispatch) and public.public_class is public
    assert public.implementations == {spaces.Discrete: discrete, spaces.Box: continuous}
    for implementation, env in ((discrete, IdentityEnv(3)), (continuous, IdentityEnvBox(-1, 1))):
        model = public("MlpPolicy", env, **small(implementation))
        assert type(model) is implementation and isinstance(model, public)
        assert implementation.supported_action_spaces == (implementation.action_space_class,)
        # built directly, and copied
        assert type(implementation("MlpPolicy", env, **small(implementation))) is implementation
        assert type(copy.copy(model)) is implementation
        # loaded without an environment: the saved policy class picks
        model.save(tmp_path / "model.zip")
        assert type(public.load(tmp_path / "model.zip")) is implementation


@pytest.mark.parametrize("public", [SACV1, SoftQLearning])
def test_a_misspelt_argument_is_named_by_python(public):
    # the class name anywhere before __init__: mutmut's trampolines rename the method (xǁSACV1ǁ__init____mutmut_orig)
    with pytest.raises(
        TypeError, match=rf"^.*{public.__name__}.*__init__.*\(\) got an unexpected keyword argument 'learning_rat'$"
    ):
        public("MlpPolicy", IdentityEnv(3), learning_rat=1e-3)


@pytest.mark.parametrize("public", [SACV1, SoftQLearning])
def test_an_action_space_of_no_implementation_is_refused_as_by_sb3(public):
    env = IdentityEnv(3)
    env.action_space = spaces.MultiBinary(2)
    with pytest.raises(AssertionError, match=r"^The algorithm only supports \(.+\) as action spaces but MultiBinary"):
        public("MlpPolicy", env)


@pytest.mark.parametrize("public", [SACV1, SoftQLearning])
def test_without_an_environment_a_policy_class_is_needed(public):
    with pytest.raises(TypeError, match="pass env"):
        public("MlpPolicy", None, _init_setup_model=False)


def test_an_argument_of_the_other_implementation_is_refused_given_by_position_too():
    # loss is SoftQLearning's 18th argument
    arguments = ["MlpPolicy", IdentityEnvBox(-1, 1), 1e-4, 1_000_000, 100, 32, 1.0, 0.99, 4, 1, None, None, False, 1, 0.1]
    with pytest.raises(ValueError, match=r"^SoftQLearning: loss applies to Discrete actions only"):
        SoftQLearning(*arguments, 10_000, "auto", "mse")


def test_a_subclass_of_the_public_class_must_name_an_implementation():
    class Tweaked(SACV1):
        pass

    assert SACV1.implementations == {spaces.Box: ContinuousSACV1, spaces.Discrete: DiscreteSACV1}
    with pytest.raises(TypeError, match=r"^Tweaked derives from SACV1, .+ derive from the implementation for your action"):
        Tweaked("MlpPolicy", IdentityEnvBox(-1, 1))

    class TweakedContinuous(ContinuousSACV1):
        pass

    assert type(TweakedContinuous("MlpPolicy", IdentityEnvBox(-1, 1), policy_kwargs={"net_arch": [8]})) is TweakedContinuous


def test_an_implementation_joins_its_public_class_once():
    with pytest.raises(TypeError, match="already has an implementation for Box"):

        class Another(SoftQLearning, action_space=spaces.Box):
            pass

    with pytest.raises(TypeError, match=r"refuses \['lerning_rate'\], which SoftQLearning's __init__ does not take"):

        class Misspelt(SoftQLearning, action_space=gym.spaces.MultiDiscrete, refused_arguments={"lerning_rate": "no"}):
            pass

    assert set(SoftQLearning.implementations) == {spaces.Discrete, spaces.Box}


# names ----------------------------------------------------------------------------------------------------------

# saved models name their policy class by module and name: the names of version 0.2 must still resolve
OLD_NAMES = [
    ("sb3_maxent.sacv1.policies", "SACV1Policy", "ContinuousSACV1Policy"),
    ("sb3_maxent.sacv1.policies", "MlpPolicy", "ContinuousSACV1Policy"),
    ("sb3_maxent.sacv1.policies", "CnnPolicy", "ContinuousCnnPolicy"),
    ("sb3_maxent.sacv1.policies", "MultiInputPolicy", "ContinuousMultiInputPolicy"),
    ("sb3_maxent.sacv1.policies", "DiscreteSACV1Policy", "DiscreteSACV1Policy"),
    ("sb3_maxent.sacv1.policies", "DiscreteCnnPolicy", "DiscreteCnnPolicy"),
    ("sb3_maxent.sacv1.policies", "DiscreteMultiInputPolicy", "DiscreteMultiInputPolicy"),
    ("sb3_maxent.sql.policies", "SoftQPolicy", "DiscreteSoftQPolicy"),
    ("sb3_maxent.sql.policies", "MlpPolicy", "DiscreteSoftQPolicy"),
    ("sb3_maxent.sql.policies", "CnnPolicy", "DiscreteCnnPolicy"),
    ("sb3_maxent.sql.policies", "MultiInputPolicy", "DiscreteMultiInputPolicy"),
    ("sb3_maxent.sql.policies", "ContinuousSoftQPolicy", "ContinuousSoftQPolicy"),
    ("sb3_maxent.sql.policies", "ContinuousCnnPolicy", "ContinuousCnnPolicy"),
    ("sb3_maxent.sql.policies", "ContinuousMultiInputPolicy", "ContinuousMultiInputPolicy"),
]


@pytest.mark.parametrize(("module", "old", "new"), OLD_NAMES, ids=[f"{m.split('.')[1]}-{o}" for m, o, _ in OLD_NAMES])
def test_the_policy_names_of_version_0_2_still_import(module, old, new):
    policies = importlib.import_module(module)
    assert getattr(policies, old) is getattr(policies, new)
    assert getattr(policies, new).__qualname__ == new


@pytest.mark.parametrize(("public", "discrete", "continuous"), IMPLEMENTATIONS)
def test_names_say_the_action_space_for_algorithms_and_policies(public, discrete, continuous):
    for prefix, implementation in (("Discrete", discrete), ("Continuous", continuous)):
        assert implementation.__name__ == f"{prefix}{public.__name__}"
        assert implementation.policy_base.__name__.startswith(prefix)
        for alias, policy_class in implementation.policy_aliases.items():
            assert policy_class.__name__.startswith(prefix), (alias, policy_class)
            assert issubclass(policy_class, implementation.policy_base)


# imports --------------------------------------------------------------------------------------------------------


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str], package: str) -> set[str]:
    """
    The sb3_maxent modules ``path`` (in ``package``) imports, anywhere in it: functions included, ``if TYPE_CHECKING:``
    blocks left out (they never run). ``from package import name`` is an edge to ``package.name`` when that is a
    module, else to the package.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    type_checking = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for statement in block.body
        for node in ast.walk(statement)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in type_checking:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {name for name in found if name in modules}


def test_no_import_cycle_inside_the_package():
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(path) for path in paths}
    graph = {module_name(path): imported_modules(path, modules, module_name(path.parent)) for path in paths}
    # the dispatch's whole point: the public classes' modules never import their implementations (the packages do)
    assert "sb3_maxent.sql.discrete" in graph["sb3_maxent.sql"]
    assert not graph["sb3_maxent.sql.sql"] & {"sb3_maxent.sql.discrete", "sb3_maxent.sql.continuous"}
    assert not graph["sb3_maxent.sacv1.sacv1"] & {"sb3_maxent.sacv1.discrete", "sb3_maxent.sacv1.continuous"}

    # depth-first search for a back edge
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycle = [*trail[trail.index(target) :], target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*trail, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_common_imports_no_algorithm_package():
    # common/ asks algorithms for what it needs through protocols (common/protocol.py), never by their internals
    modules = {module_name(path) for path in PACKAGE.rglob("*.py")}
    algorithms = ("sb3_maxent.sacv1", "sb3_maxent.sql", "sb3_maxent.tabular")
    for path in sorted((PACKAGE / "common").glob("*.py")):
        imported = imported_modules(path, modules, "sb3_maxent.common")
        assert not {name for name in imported if name.startswith(algorithms)}, path.name


def test_the_cycle_check_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "probe.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from sb3_maxent.tabular import mdp\n"
        "def f():\n    from sb3_maxent.sql import discrete\n    import sb3_maxent.sacv1.sacv1\n    from . import svgd\n"
    )
    modules = {"sb3_maxent.sql.discrete", "sb3_maxent.sql.svgd", "sb3_maxent.sacv1.sacv1", "sb3_maxent.tabular.mdp"}
    assert imported_modules(module, modules, "sb3_maxent.sql") == {
        "sb3_maxent.sql.discrete",
        "sb3_maxent.sql.svgd",
        "sb3_maxent.sacv1.sacv1",
    }
