"""
Optuna search spaces for our algorithms, in rl_zoo3's sampler / converter format.

A sampler draws a trial's parameters and returns the algorithm's keyword arguments; the converter maps a
stored trial's parameters back to them (``--trial-id``). The temperature is searched on a log scale.
"""

from typing import Any

import optuna

ENT_COEF_RANGE = (1e-3, 1.0)


def _convert_offpolicy(params: dict[str, Any]) -> dict[str, Any]:
    from rl_zoo3.hyperparams_opt import convert_offpolicy_params

    return convert_offpolicy_params(params)


def _convert_offpolicy_with_temperature(sampled_params: dict[str, Any], default_mode: str) -> dict[str, Any]:
    """rl_zoo3's off-policy conversion, with ``ent_coef_mode`` ("auto" or "fixed") and ``ent_coef`` -> ``ent_coef``."""
    params = dict(sampled_params)
    # studies made before a sampler drew the mode stored only ent_coef: default_mode reads them as they were
    mode = params.pop("ent_coef_mode", default_mode)
    value = params.pop("ent_coef", None)
    hyperparams = _convert_offpolicy(params)
    hyperparams["ent_coef"] = "auto" if mode == "auto" else value
    return hyperparams


def convert_sacv1_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """Trial parameters -> SACV1 keyword arguments."""
    return _convert_offpolicy_with_temperature(sampled_params, default_mode="auto")


def sample_sacv1_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """SB3 SAC's search space (rl_zoo3) plus the temperature: learned (``"auto"``) or fixed, log-uniform."""
    sampled = {
        "one_minus_gamma": trial.suggest_float("one_minus_gamma", 1e-4, 0.03, log=True),
        "batch_size_pow": trial.suggest_int("batch_size_pow", 5, 10),
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 2e-3, log=True),
        "train_freq": trial.suggest_int("train_freq", 1, 10),
        "tau": trial.suggest_float("tau", 1e-3, 0.08, log=True),
        "net_arch": trial.suggest_categorical("net_arch", ["small", "medium", "big"]),
        "ent_coef_mode": trial.suggest_categorical("ent_coef_mode", ["auto", "fixed"]),
    }
    if sampled["ent_coef_mode"] == "fixed":
        sampled["ent_coef"] = trial.suggest_float("ent_coef", *ENT_COEF_RANGE, log=True)
    return convert_sacv1_params(sampled)


def convert_sql_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """Trial parameters -> SoftQLearning keyword arguments."""
    return _convert_offpolicy_with_temperature(sampled_params, default_mode="fixed")


DISCRETE_TARGET_ENTROPY_RANGE = (0.02, 0.6)  # below log 2: reachable with any number of actions


def sample_sql_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """
    DQN's search space (without the epsilon-greedy schedule) plus the temperature and the target update (Polyak
    or periodic copy).

    rl_zoo3 sets ``n_actions`` for ``Box`` actions only (0 for discrete ones). Discrete actions: the temperature
    is learned towards a target entropy (log-uniform in 0.02-0.6 nats; the bundled configs use the entropy of
    DQN's final epsilon-greedy policy) or fixed, log-uniform. Continuous actions: a fixed temperature (the SVGD
    sampler has no tractable entropy) and the particle counts.
    """
    sampled: dict[str, Any] = {
        "one_minus_gamma": trial.suggest_float("one_minus_gamma", 1e-4, 0.03, log=True),
        "batch_size_pow": trial.suggest_int("batch_size_pow", 5, 9),
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 3e-3, log=True),
        "train_freq": trial.suggest_categorical("train_freq", [1, 4, 8, 16]),
        "net_arch": trial.suggest_categorical("net_arch", ["small", "medium"]),
        "target_update_interval": trial.suggest_categorical("target_update_interval", [1, 10, 100, 1000]),
        "tau": trial.suggest_float("tau", 5e-3, 1.0, log=True),
    }
    continuous = n_actions > 0
    if continuous:
        sampled["value_n_particles"] = trial.suggest_categorical("value_n_particles", [8, 16, 32])
        sampled["svgd_n_particles"] = trial.suggest_categorical("svgd_n_particles", [8, 16, 32])
        sampled["ent_coef_mode"] = "fixed"
    else:
        sampled["ent_coef_mode"] = trial.suggest_categorical("ent_coef_mode", ["auto", "fixed"])
    if sampled["ent_coef_mode"] == "auto":
        sampled["target_entropy"] = trial.suggest_float("target_entropy", *DISCRETE_TARGET_ENTROPY_RANGE, log=True)
    else:
        sampled["ent_coef"] = trial.suggest_float("ent_coef", 1e-4, 1.0, log=True)
    return convert_sql_params(sampled)


def convert_soft_vi_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """Trial parameters -> SoftValueIteration keyword arguments."""
    params = dict(sampled_params)
    params["gamma"] = 1.0 - params.pop("one_minus_gamma")
    return params


def sample_soft_vi_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """Discount and temperature (log scale), and the solver."""
    sampled = {
        "one_minus_gamma": trial.suggest_float("one_minus_gamma", 1e-3, 0.1, log=True),
        "ent_coef": trial.suggest_float("ent_coef", 1e-5, 1.0, log=True),
        "solver": trial.suggest_categorical("solver", ["value_iteration", "policy_iteration"]),
    }
    return convert_soft_vi_params(sampled)


SAMPLERS = {"sacv1": sample_sacv1_params, "sql": sample_sql_params, "soft_vi": sample_soft_vi_params}
CONVERTERS = {"sacv1": convert_sacv1_params, "sql": convert_sql_params, "soft_vi": convert_soft_vi_params}
