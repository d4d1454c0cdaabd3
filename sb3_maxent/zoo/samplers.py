"""
Optuna search spaces for our algorithms, in rl_zoo3's sampler / converter format, built on rl_zoo3's own samplers.

A sampler draws a trial's parameters and returns the algorithm's keyword arguments; the converter maps a stored
trial's parameters back to them (``--trial-id``). SACV1 searches SB3 SAC's space (rl_zoo3's ``sample_sac_params``:
its ranges, its user attributes ``gamma`` and ``batch_size``, HER's parameters when the config uses
``HerReplayBuffer``); discrete SoftQLearning searches DQN's (``sample_dqn_params``), continuous SoftQLearning SAC's.
What we add is ours only: the temperature (learned or fixed, log scale), the SVGD particle counts and the Munchausen
parameters (``msql``).
"""

from collections.abc import Callable
from typing import Any

from sb3_maxent.zoo.extras import missing_message

try:
    import optuna
except ModuleNotFoundError as error:  # pip install sb3_maxent: the algorithms only
    raise ModuleNotFoundError(missing_message("optuna", "sb3_maxent.zoo.samplers"), name="optuna") from error

ENT_COEF_RANGE = (1e-3, 1.0)
SQL_ENT_COEF_RANGE = (1e-4, 1.0)
HER_PARAMS = ("n_sampled_goal", "goal_selection_strategy")
# rl_zoo3's sampler signature: (trial, n_actions, n_envs, additional_args) -> keyword arguments
Sampler = Callable[[optuna.Trial, int, int, dict], dict[str, Any]]


class _TrialWithFixedParams:
    """
    A trial whose ``suggest_*`` returns a fixed value, without recording it, for the parameters named in ``fixed``:
    rl_zoo3's sampler runs unchanged, and the study holds only parameters that reach the model.
    """

    def __init__(self, trial: optuna.Trial, fixed: dict[str, Any]):
        self._trial = trial
        self._fixed = fixed

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._trial, name)
        if not name.startswith("suggest_"):
            return attribute

        def suggest(param: str, *args: Any, **kwargs: Any) -> Any:
            return self._fixed[param] if param in self._fixed else attribute(param, *args, **kwargs)

        return suggest


def _config_sets_target_entropy(additional_args: dict) -> bool:
    """Whether the config entry being tuned (``additional_args["hyperparams"]``, see :func:`with_config_entry`) sets
    an entropy target of its own."""
    entry = additional_args.get("hyperparams") or {}
    return entry.get("target_entropy", "auto") != "auto"


def with_config_entry(sampler: Sampler, hyperparams: dict[str, Any]) -> Sampler:
    """
    The sampler, told the config entry that its draws complete: ``additional_args["hyperparams"]`` (rl_zoo3 passes
    only HER's settings), so that it does not draw what the entry already decides and the constructor would refuse
    together with it (DQN's exploration arguments when the entry sets ``target_entropy``).
    """

    def sample(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
        return sampler(trial, n_actions, n_envs, {**additional_args, "hyperparams": hyperparams})

    return sample


def _sample_temperature(trial: optuna.Trial, value_range: tuple[float, float], modes: list[str]) -> dict[str, Any]:
    """``ent_coef_mode`` ("auto": learned, "fixed") and, when fixed, ``ent_coef`` on a log scale."""
    mode = trial.suggest_categorical("ent_coef_mode", modes)
    return {"ent_coef": "auto"} if mode == "auto" else {"ent_coef": trial.suggest_float("ent_coef", *value_range, log=True)}


def _convert_offpolicy(params: dict[str, Any], default_mode: str) -> dict[str, Any]:
    """
    rl_zoo3's off-policy conversion, then ours: ``ent_coef_mode`` and ``ent_coef`` -> ``ent_coef``; HER's sampled
    parameters -> ``replay_buffer_kwargs`` (they replace the config's HER arguments, as the sampler did).
    """
    from rl_zoo3.hyperparams_opt import convert_offpolicy_params

    params = dict(params)
    # studies made before a sampler drew the mode stored only ent_coef: default_mode reads them as they were
    mode = params.pop("ent_coef_mode", default_mode)
    ent_coef = params.pop("ent_coef", None)
    her_kwargs = {name: params.pop(name) for name in HER_PARAMS if name in params}
    hyperparams = convert_offpolicy_params(params)
    hyperparams["ent_coef"] = "auto" if mode == "auto" else ent_coef
    if mode != "auto":
        hyperparams.pop("exploration_final_eps", None)  # it sets the target of a learned temperature only
    if her_kwargs:
        hyperparams["replay_buffer_kwargs"] = her_kwargs
    return hyperparams


def convert_sacv1_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """Trial parameters -> SACV1 keyword arguments."""
    return _convert_offpolicy(sampled_params, default_mode="auto")


def sample_sacv1_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """rl_zoo3's SAC search space, plus the temperature: learned (``"auto"``) or fixed, log-uniform."""
    from rl_zoo3.hyperparams_opt import sample_sac_params

    hyperparams = sample_sac_params(trial, n_actions, n_envs, additional_args)
    hyperparams.update(_sample_temperature(trial, ENT_COEF_RANGE, ["auto", "fixed"]))
    return hyperparams


def convert_sql_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """Trial parameters -> SoftQLearning keyword arguments."""
    return _convert_offpolicy(sampled_params, default_mode="fixed")


def sample_sql_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """
    rl_zoo3 sets ``n_actions`` for ``Box`` actions only (0 for discrete ones).

    Discrete actions: rl_zoo3's DQN search space. The temperature is learned, its entropy target following the
    epsilon-greedy policy of DQN's ``exploration_fraction`` and ``exploration_final_eps`` (SoftQLearning's meaning of
    those arguments), or fixed, log-uniform, and then neither is drawn; nor are they when the config entry sets
    ``target_entropy`` (``additional_args["hyperparams"]``, :func:`with_config_entry`): its target is kept.

    Continuous actions: rl_zoo3's SAC search space, a fixed temperature (the SVGD sampler has no tractable entropy)
    and the particle counts.
    """
    from rl_zoo3.hyperparams_opt import sample_dqn_params, sample_sac_params

    if n_actions > 0:
        hyperparams = sample_sac_params(trial, n_actions, n_envs, additional_args)
        hyperparams["value_n_particles"] = trial.suggest_categorical("value_n_particles", [8, 16, 32])
        hyperparams["svgd_n_particles"] = trial.suggest_categorical("svgd_n_particles", [8, 16, 32])
        hyperparams.update(_sample_temperature(trial, SQL_ENT_COEF_RANGE, ["fixed"]))
        return hyperparams
    temperature = _sample_temperature(trial, SQL_ENT_COEF_RANGE, ["auto", "fixed"])
    # DQN's exploration arguments set the entropy target of a learned temperature: a fixed temperature has none to
    # set, and a config entry that sets target_entropy itself has it already (the constructor refuses both at once)
    draws_exploration = temperature["ent_coef"] == "auto" and not _config_sets_target_entropy(additional_args)
    fixed = {} if draws_exploration else {"exploration_fraction": 0.0, "exploration_final_eps": 0.0}
    hyperparams = sample_dqn_params(_TrialWithFixedParams(trial, fixed), n_actions, n_envs, additional_args)  # type: ignore[arg-type]
    for name in fixed:
        del hyperparams[name]
    hyperparams.update(temperature)
    return hyperparams


def sample_msql_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    r"""
    Munchausen soft Q-learning (discrete actions only): the discrete SoftQLearning space, plus the Munchausen
    weight :math:`\alpha_m` (uniform in [0.1, 1]; the paper's 0.9 inside) and the clip :math:`l_0` (the paper's -1,
    or one step either side).
    """
    if n_actions > 0:
        raise ValueError("msql (Munchausen soft Q-learning) needs Discrete actions")
    hyperparams = sample_sql_params(trial, n_actions, n_envs, additional_args)
    hyperparams["munchausen_coef"] = trial.suggest_float("munchausen_coef", 0.1, 1.0)
    hyperparams["munchausen_clip"] = trial.suggest_categorical("munchausen_clip", [-2.0, -1.0, -0.5])
    return hyperparams


def convert_soft_vi_params(sampled_params: dict[str, Any]) -> dict[str, Any]:
    """Trial parameters -> SoftValueIteration keyword arguments."""
    params = dict(sampled_params)
    params["gamma"] = 1.0 - params.pop("one_minus_gamma")
    return params


def sample_soft_vi_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """Discount and temperature (log scale), and the solver."""
    one_minus_gamma = trial.suggest_float("one_minus_gamma", 1e-3, 0.1, log=True)
    sampled = {
        "one_minus_gamma": one_minus_gamma,
        "ent_coef": trial.suggest_float("ent_coef", 1e-5, 1.0, log=True),
        "solver": trial.suggest_categorical("solver", ["value_iteration", "policy_iteration", "newton"]),
    }
    trial.set_user_attr("gamma", 1.0 - one_minus_gamma)
    return convert_soft_vi_params(sampled)


SAMPLERS = {
    "sacv1": sample_sacv1_params,
    "sql": sample_sql_params,
    "msql": sample_msql_params,
    "soft_vi": sample_soft_vi_params,
}
CONVERTERS = {
    "sacv1": convert_sacv1_params,
    "sql": convert_sql_params,
    "msql": convert_sql_params,
    "soft_vi": convert_soft_vi_params,
}
