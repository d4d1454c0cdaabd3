"""
Checks of an rl_zoo3 command line for our algorithms, run before rl_zoo3 builds anything, so that a config
or environment the algorithm cannot use fails with one clear sentence instead of a traceback mid-set-up.
"""

import difflib
from pathlib import Path
from typing import Any

import gymnasium as gym
from gymnasium import spaces

from sb3_maxent.zoo.register import ACTION_SPACES, ALGORITHMS
from sb3_maxent.zoo.yaml_files import load_yaml


def check_config_entry(algo: str, env_id: str, conf_file: str, n_timesteps: int) -> None:
    """
    :param conf_file: an rl-zoo YAML file (other config forms, Python files and modules, are left to rl_zoo3)
    :param n_timesteps: the ``-n`` flag (rl_zoo3 needs ``n_timesteps`` in the entry only when ``-n`` is not given)
    :raises ValueError: if the file has no entry for ``env_id`` (nor a ``default`` one) or the entry lacks
        ``n_timesteps``; :class:`~sb3_maxent.zoo.yaml_files.UnsafeYamlError` if it holds a Python tag
    """
    if not conf_file.endswith((".yml", ".yaml")):
        return
    if not Path(conf_file).is_file():
        raise ValueError(f"-conf {conf_file}: no such file")
    hyperparams = load_yaml(conf_file) or {}  # as data: a Python tag is refused (UnsafeYamlError, a ValueError)
    entry_name = env_id if env_id in hyperparams else "default"
    if entry_name not in hyperparams:
        raise ValueError(f"{conf_file} has no entry for {env_id} (nor a `default` entry) for --algo {algo}")
    if n_timesteps <= 0 and "n_timesteps" not in (hyperparams[entry_name] or {}):
        raise ValueError(
            f"entry {entry_name!r} of {conf_file} has no `n_timesteps` (rl-zoo configs need it), and no -n was given"
        )


def check_registered(env_id: str) -> None:
    """
    :raises ValueError: if no environment of that id is registered, naming the closest registered id, as rl_zoo3 does
        (its own check comes after the config is read, so a config without the misspelt entry would hide it)
    """
    if env_id in gym.registry:
        return
    closest = difflib.get_close_matches(env_id, list(gym.registry), n=1)
    hint = f"; did you mean {closest[0]}?" if closest else " (register it, or name its package with --gym-packages)"
    raise ValueError(f"{env_id} is not a registered environment{hint}")


def check_environment(algo: str, env_id: str, env_kwargs: dict[str, Any] | None = None) -> None:
    """
    :raises ValueError: if the environment's action space is not one the algorithm supports, or the algorithm's own
        ``check_environment`` (for example SoftValueIteration's: a known tabular model ``P``) refuses it
    """
    algorithm_class = ALGORITHMS[algo]
    try:
        env = gym.make(env_id, **(env_kwargs or {}))
    except gym.error.Error:
        return  # registered but not makeable here (a missing extra, ...): rl_zoo3 makes it and reports on it
    try:
        own: tuple[type[spaces.Space], ...] = algorithm_class.supported_action_spaces  # type: ignore[attr-defined]
        supported = ACTION_SPACES.get(algo, own)
        if not isinstance(env.action_space, supported):
            names = " or ".join(space.__name__ for space in supported)
            raise ValueError(f"--algo {algo} needs {names} actions; {env_id} has {env.action_space}")
        # each algorithm declares what else it needs of an environment
        check_environment = getattr(algorithm_class, "check_environment", None)
        if check_environment is not None:
            check_environment(env)
    finally:
        env.close()
