"""
Every configuration the benchmarks run, by name: a table of data, one row per variant.

    from variants import VARIANTS, build_variant
    algo_class, kwargs, callback = build_variant("sacv1_lr2e-4", "LunarLander-v3")

A row names the algorithm, the zoo entry its hyperparameters come from (``zoo_configs/<entry>.yml``, or rl_zoo3's
own tuned file with ``rl_zoo:<algo>``), and what the variant changes there: keyword ``overrides``, keys merged
into ``policy_kwargs``, and, for what depends on the environment (an entropy target in units of log|A|, DQN's
exploration schedule, action noise sized to the action space), named ``adjust`` steps applied last, in order. A
new probe is a new row; a name is only a name, never parsed. The names are those of the raw results
(``benchmarks/results/raw/<env>_<variant>_seed<n>_<steps>.json``, ``raw/mujoco/``): renaming a row orphans its
runs.

``compare.py`` runs any row on any environment; ``mujoco_campaign.py`` queues the rows of its campaigns. A
variant that sets ``ent_coef`` replaces a temperature callback of its entry (none of the bundled entries has one).
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from common import rl_zoo_config, zoo_entry

# (keyword arguments, callback, environment id) -> (keyword arguments, callback)
Adjustment = Callable[[dict[str, Any], Any, str], tuple[dict[str, Any], Any]]


@dataclass(frozen=True)
class Variant:
    """One benchmarked configuration: an algorithm, the zoo entry it starts from, and what it changes there."""

    algorithm: str  # "module:Class", imported when the variant is built
    entry: str  # "sacv1", "sql", "msql" (zoo_configs/<entry>.yml) or "rl_zoo:<algo>" (rl_zoo3's tuned entry)
    overrides: Mapping[str, Any] = field(default_factory=dict)  # keyword arguments set over the entry's
    policy_kwargs: Mapping[str, Any] = field(default_factory=dict)  # merged into the entry's policy_kwargs
    without_exploration: bool = False  # drop the entry's entropy target and DQN's exploration_* arguments first
    adjust: tuple[Adjustment, ...] = ()  # what depends on the environment, applied last
    note: str = ""


# --- adjustments: the changes that depend on the environment ------------------------------------------------------


def without_exploration(kwargs: dict[str, Any]) -> dict[str, Any]:
    """An entry without its entropy target: ``target_entropy`` and DQN's ``exploration_*`` arguments that set it."""
    return {key: value for key, value in kwargs.items() if key != "target_entropy" and not key.startswith("exploration_")}


def rl_zoo_env_id(env_id: str) -> str:
    """rl_zoo3 2.9 keys its MuJoCo entries by v4; the hyperparameters are the same for v5."""
    return env_id.replace("-v5", "-v4")


def dqn_entry(env_id: str) -> dict[str, Any]:
    return zoo_entry(rl_zoo_config("dqn"), rl_zoo_env_id(env_id))


def epsilon_schedule_target(kwargs: dict[str, Any], callback: Any, env_id: str) -> tuple[dict[str, Any], Any]:
    """
    The entry's learned temperature, its target now following rl_zoo3's DQN exploration for ``env_id``
    (``EpsilonGreedyEntropyCallback`` with that entry's ``exploration_*`` arguments), so that the soft method explores
    as much as DQN at every step; the temperature starts at 1, as ``"auto"`` does.
    """
    from sb3_maxent import EpsilonGreedyEntropyCallback

    dqn = dqn_entry(env_id)
    kwargs = {key: value for key, value in without_exploration(kwargs).items() if key != "callback"}
    kwargs["ent_coef"] = 1.0
    callback = EpsilonGreedyEntropyCallback(
        exploration_fraction=float(dqn.get("exploration_fraction", 0.1)),
        exploration_initial_eps=float(dqn.get("exploration_initial_eps", 1.0)),
        exploration_final_eps=float(dqn.get("exploration_final_eps", 0.05)),
        learning_rate=float(kwargs.get("learning_rate", 3e-4)),
    )
    return kwargs, callback


def entropy_target_callback(kwargs: dict[str, Any], callback: Any, env_id: str) -> tuple[dict[str, Any], Any]:
    """``ent_coef=1.0`` driven by ``EntropyTargetCallback`` (target ``"auto"``, the entry's learning rate)."""
    from sb3_maxent import EntropyTargetCallback

    learning_rate = float(kwargs.get("learning_rate", 3e-4))
    return {**kwargs, "ent_coef": 1.0}, EntropyTargetCallback(target_entropy="auto", learning_rate=learning_rate)


def _target_entropy_share(share: float, kwargs: dict[str, Any], callback: Any, env_id: str) -> tuple[dict[str, Any], Any]:
    import gymnasium as gym

    n_actions = int(gym.make(env_id).action_space.n)
    return {**kwargs, "target_entropy": share * math.log(n_actions)}, callback


def target_entropy_share(share: float) -> Adjustment:
    """Discrete actions: ``target_entropy = share * log|A|`` (the SAC-discrete paper's 0.98)."""
    return functools.partial(_target_entropy_share, share)


def dqn_final_epsilon_target(kwargs: dict[str, Any], callback: Any, env_id: str) -> tuple[dict[str, Any], Any]:
    """Discrete actions: the entropy of the final epsilon-greedy policy of rl_zoo3's tuned DQN entry as target."""
    import gymnasium as gym

    from sb3_maxent import epsilon_greedy_entropy

    n_actions = int(gym.make(env_id).action_space.n)
    final_eps = float(dqn_entry(env_id).get("exploration_final_eps", 0.05))
    return {**kwargs, "target_entropy": epsilon_greedy_entropy(final_eps, n_actions)}, callback


def dqn_budget(kwargs: dict[str, Any], callback: Any, env_id: str) -> tuple[dict[str, Any], Any]:
    """The training budget of rl_zoo3's tuned DQN entry (not its exploration schedule or target update)."""
    dqn = dqn_entry(env_id)
    shared = ("learning_rate", "batch_size", "buffer_size", "learning_starts", "gamma", "train_freq", "gradient_steps")
    return {**kwargs, **{key: dqn[key] for key in (*shared, "policy_kwargs") if key in dqn}}, callback


def _updates_per_step(ratio: int, kwargs: dict[str, Any], callback: Any, env_id: str) -> tuple[dict[str, Any], Any]:
    return {**kwargs, "gradient_steps": ratio * int(kwargs.get("train_freq", 1))}, callback


def updates_per_step(ratio: int) -> Adjustment:
    """``ratio`` gradient steps per environment step (``gradient_steps = ratio * train_freq``), on the same data."""
    return functools.partial(_updates_per_step, ratio)


def rl_zoo_sac_gamma(kwargs: dict[str, Any], callback: Any, env_id: str) -> tuple[dict[str, Any], Any]:
    """The discount of rl_zoo3's SAC entry (SB3's default 0.99 where it names none; Swimmer: 0.999)."""
    sac = zoo_entry(rl_zoo_config("sac"), rl_zoo_env_id(env_id))
    return {**kwargs, "gamma": sac.get("gamma", 0.99)}, callback


def _colder(factor: float, kwargs: dict[str, Any], callback: Any, env_id: str) -> tuple[dict[str, Any], Any]:
    return {**kwargs, "ent_coef": float(kwargs["ent_coef"]) / factor}, callback


def colder(factor: float) -> Adjustment:
    """The entry's fixed temperature divided by ``factor`` (the reward scale multiplied by it)."""
    return functools.partial(_colder, factor)


def gaussian_action_noise(kwargs: dict[str, Any], callback: Any, env_id: str) -> tuple[dict[str, Any], Any]:
    """rl-zoo's ``noise_type``/``noise_std`` keys as the ``action_noise`` object its ExperimentManager builds."""
    import gymnasium as gym
    import numpy as np
    from stable_baselines3.common.noise import NormalActionNoise

    kwargs = dict(kwargs)
    noise_type, noise_std = kwargs.pop("noise_type"), float(kwargs.pop("noise_std"))
    if noise_type != "normal":
        raise ValueError(f"unsupported noise_type {noise_type!r}")
    n_actions = gym.spec(env_id).make().action_space.shape[0]
    kwargs["action_noise"] = NormalActionNoise(np.zeros(n_actions), noise_std * np.ones(n_actions))
    return kwargs, callback


# --- the table -----------------------------------------------------------------------------------------------------

SACV1, SAC, SQL, DQN = "sb3_maxent:SACV1", "stable_baselines3:SAC", "sb3_maxent:SoftQLearning", "stable_baselines3:DQN"
DQN_LR = 6.3e-4  # rl_zoo3's tuned DQN learning rate on LunarLander, MSQL's entry's until 2e-4 replaced it

VARIANTS: dict[str, Variant] = {
    # the bundled entries, and SB3's algorithm with the same arguments
    "sacv1": Variant(SACV1, "sacv1"),
    "sac": Variant(SAC, "sacv1", note="SB3's SAC with exactly SACV1's arguments"),
    "sql": Variant(SQL, "sql"),
    "msql": Variant(SQL, "msql"),
    "dqn": Variant(DQN, "rl_zoo:dqn", note="SB3's DQN with rl_zoo3's tuned entry"),
    # temperature
    "sacv1_alpha0.05": Variant(SACV1, "sacv1", {"ent_coef": 0.05}),
    "sacv1_alpha0.2": Variant(SACV1, "sacv1", {"ent_coef": 0.2}),
    "sacv1_callback": Variant(SACV1, "sacv1", adjust=(entropy_target_callback,)),
    "sac_callback": Variant(SAC, "sacv1", adjust=(entropy_target_callback,)),
    "sql_mse": Variant(SQL, "sql", {"loss": "mse"}, note="the paper's squared error"),
    "sql_mse_alpha0.01": Variant(SQL, "sql", {"loss": "mse", "ent_coef": 0.01}, note="and earlier versions' alpha"),
    # discrete SACV1 probes on LunarLander-v3 (docs/modules/sacv1_discrete.md)
    "sacv1_tent0.5": Variant(SACV1, "sacv1", adjust=(target_entropy_share(0.5),)),
    "sacv1_tenteps": Variant(SACV1, "sacv1", adjust=(dqn_final_epsilon_target,)),
    "sacv1_dqn": Variant(SACV1, "sacv1", adjust=(dqn_budget, dqn_final_epsilon_target), note="DQN's budget and target"),
    "sacv1_q1": Variant(SACV1, "sacv1", policy_kwargs={"n_critics": 1}),
    "sacv1_huber": Variant(SACV1, "sacv1", {"loss": "huber"}),
    "sacv1_epssched": Variant(SACV1, "sacv1", adjust=(epsilon_schedule_target,)),
    "sacv1_lr1e-3": Variant(SACV1, "sacv1", {"learning_rate": 1e-3}),
    "sacv1_lr2e-4": Variant(SACV1, "sacv1", {"learning_rate": 2e-4}),
    "sacv1_utd2": Variant(SACV1, "sacv1", adjust=(updates_per_step(2),)),
    "sacv1_ls10000": Variant(SACV1, "sacv1", {"learning_starts": 10_000}, note="SAC's MuJoCo warm-up"),
    # Munchausen SoftQLearning on LunarLander-v3 with DQN's learning rate (docs/modules/msql.md)
    "msql_lr6.3e-4": Variant(SQL, "msql", {"learning_rate": DQN_LR}),
    "msql_lr6.3e-4_epssched": Variant(SQL, "msql", {"learning_rate": DQN_LR}, adjust=(epsilon_schedule_target,)),
    "msql_lr6.3e-4_target0.349": Variant(
        SQL, "msql", {"learning_rate": DQN_LR, "ent_coef": "auto", "target_entropy": 0.349}, without_exploration=True
    ),
    "msql_lr6.3e-4_alpha0.03": Variant(SQL, "msql", {"learning_rate": DQN_LR, "ent_coef": 0.03}, note="the paper's tau"),
    "msql_lr6.3e-4_tui1000": Variant(SQL, "msql", {"learning_rate": DQN_LR, "target_update_interval": 1000}),
    # the MuJoCo campaign (mujoco_campaign.py's docstring says why each)
    "sacv1_seq": Variant("ablations:SequentialSACV1", "sacv1", note="SACV1 with SAC's update order"),
    "sac_zoo": Variant(SAC, "rl_zoo:sac"),
    "sac_zoo_g099": Variant(SAC, "rl_zoo:sac", {"gamma": 0.99}),
    "ddpg_g099": Variant("stable_baselines3:DDPG", "rl_zoo:ddpg", {"gamma": 0.99}, adjust=(gaussian_action_noise,)),
    "td3_g099": Variant("stable_baselines3:TD3", "rl_zoo:td3", {"gamma": 0.99}, adjust=(gaussian_action_noise,)),
    "sql_zoo_gamma": Variant(SQL, "sql", adjust=(rl_zoo_sac_gamma,)),
    "sql_zoo_gamma_cold": Variant(SQL, "sql", adjust=(rl_zoo_sac_gamma, colder(10))),
    # SB3 SAC's target network (Polyak averaging after every step), which rl-zoo's entry keeps
    "sql_zoo_gamma_polyak": Variant(SQL, "sql", {"tau": 0.005, "target_update_interval": 1}, adjust=(rl_zoo_sac_gamma,)),
}


# --- building ------------------------------------------------------------------------------------------------------


def entry_kwargs(entry: str, env_id: str) -> dict[str, Any]:
    """The keyword arguments of a zoo entry for ``env_id``: ours (``default`` where it has none) or rl_zoo3's."""
    if entry.startswith("rl_zoo:"):
        return zoo_entry(rl_zoo_config(entry.removeprefix("rl_zoo:")), rl_zoo_env_id(env_id))
    from sb3_maxent.zoo import config_path

    return zoo_entry(config_path(entry), env_id, fallback="default")


def entry_callback(kwargs: dict[str, Any]) -> Any:
    """Takes a zoo entry's ``callback`` out of ``kwargs`` and builds it as rl_zoo3 does (one callback, or None)."""
    if "callback" not in kwargs:
        return None
    from rl_zoo3.utils import get_callback_list

    callbacks = get_callback_list({"callback": kwargs.pop("callback")})
    if len(callbacks) != 1:
        raise ValueError(f"a benchmark variant runs an entry with one callback, got {len(callbacks)}")
    return callbacks[0]


def import_algorithm(spec: str) -> type:
    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def build_variant(name: str, env_id: str) -> tuple[type, dict[str, Any], Any]:
    """:return: algorithm class, keyword arguments (``policy`` among them) and a callback or None for ``name``."""
    try:
        variant = VARIANTS[name]
    except KeyError:
        raise ValueError(
            f"unknown variant {name!r}: the variants are the keys of VARIANTS in benchmarks/variants.py"
        ) from None
    kwargs = entry_kwargs(variant.entry, env_id)
    callback = entry_callback(kwargs)
    if variant.without_exploration:
        kwargs = without_exploration(kwargs)
    kwargs.update(variant.overrides)
    if "ent_coef" in variant.overrides:
        callback = None  # the variant's temperature, not the entry's callback
    if variant.policy_kwargs:
        kwargs["policy_kwargs"] = {**(kwargs.get("policy_kwargs") or {}), **variant.policy_kwargs}
    for adjust in variant.adjust:
        kwargs, callback = adjust(kwargs, callback, env_id)
    return import_algorithm(variant.algorithm), kwargs, callback
