"""Make our algorithms known to rl_zoo3, whose ``--algo`` choices are read from ``rl_zoo3.ALGOS``."""

from pathlib import Path

from gymnasium import spaces
from stable_baselines3.common.base_class import BaseAlgorithm

from sb3_maxent.envs.multigoal import register_multigoal
from sb3_maxent.sacv1 import SACV1
from sb3_maxent.sql import SoftQLearning
from sb3_maxent.tabular import SoftValueIteration

# rl_zoo3 name -> algorithm class
# ("msql": Munchausen soft Q-learning, SoftQLearning with munchausen_coef > 0 in its own configs and search space)
ALGORITHMS: dict[str, type[BaseAlgorithm]] = {
    "sacv1": SACV1,
    "sql": SoftQLearning,
    "msql": SoftQLearning,
    "soft_vi": SoftValueIteration,
}

# rl_zoo3 names narrower than their class's action spaces (Munchausen needs a finite action set's log-policy)
ACTION_SPACES: dict[str, tuple[type[spaces.Space], ...]] = {"msql": (spaces.Discrete,)}

CONFIG_DIR = Path(__file__).resolve().parent.parent / "zoo_configs"


def config_path(algo: str) -> Path:
    """
    :param algo: rl_zoo3 name of one of our algorithms
    :return: the bundled rl-zoo YAML config of that algorithm
    """
    if algo not in ALGORITHMS:
        raise ValueError(f"Unknown sb3_maxent algorithm {algo!r}; known: {sorted(ALGORITHMS)}")
    return CONFIG_DIR / f"{algo}.yml"


def register_algorithms() -> None:
    """
    Add our algorithms to ``rl_zoo3.utils.ALGOS`` and their Optuna samplers and converters to
    ``rl_zoo3.hyperparams_opt`` (idempotent; needs the ``zoo`` extra).
    """
    from sb3_maxent.zoo.extras import require

    require("rl_zoo3", "sb3_contrib", "optuna", needed_by="sb3_maxent.zoo.register_algorithms()")
    from rl_zoo3.hyperparams_opt import HYPERPARAMS_CONVERTER, HYPERPARAMS_SAMPLER
    from rl_zoo3.utils import ALGOS

    from sb3_maxent.zoo.samplers import CONVERTERS, SAMPLERS

    register_multigoal()
    HYPERPARAMS_SAMPLER.update(SAMPLERS)
    HYPERPARAMS_CONVERTER.update(CONVERTERS)
    for name, algorithm_class in ALGORITHMS.items():
        registered = ALGOS.setdefault(name, algorithm_class)
        if registered is not algorithm_class:
            raise RuntimeError(f"rl_zoo3 already has a different algorithm registered as {name!r}: {registered}")
