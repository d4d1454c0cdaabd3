"""The Optuna search spaces: rl_zoo3's own, plus what is ours; every sampled trial builds its model, and a stored
trial converts back to the same keyword arguments."""

import copy

import gymnasium as gym
import optuna
import pytest
from rl_zoo3 import hyperparams_opt
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.envs import BitFlippingEnv

from sb3_maxent import SACV1, SoftQLearning, SoftValueIteration
from sb3_maxent.sql import ContinuousSoftQLearning, DiscreteSoftQLearning
from sb3_maxent.zoo.samplers import CONVERTERS, SAMPLERS

optuna.logging.set_verbosity(optuna.logging.WARNING)
NO_HER = {"using_her_replay_buffer": False, "her_kwargs": {}}
HER = {"using_her_replay_buffer": True, "her_kwargs": {"n_sampled_goal": 4, "goal_selection_strategy": "future"}}


def sampled_trials(sampler, n_actions: int, additional_args: dict, n_trials: int = 25) -> list[tuple]:
    """Random trials of a sampler, with the keyword arguments each returned."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    kwargs_of: dict[int, dict] = {}

    def objective(trial: optuna.Trial) -> float:
        kwargs_of[trial.number] = sampler(trial, n_actions, 1, dict(additional_args))
        return 0.0

    study.optimize(objective, n_trials=n_trials)
    return [(trial, kwargs_of[trial.number]) for trial in study.trials]


def distributions(sampler, n_actions: int, n_trials: int) -> dict[str, set]:
    """Each parameter's distributions over random trials (several where a range depends on another parameter)."""
    seen: dict[str, set] = {}
    for trial, _ in sampled_trials(sampler, n_actions, NO_HER, n_trials):
        for name, distribution in trial.distributions.items():
            seen.setdefault(name, set()).add(repr(distribution))
    return seen


def assert_builds(model_class, env, trials, **extra):
    for trial, kwargs in trials:
        assert CONVERTERS[model_class_name(model_class)](trial.params) == kwargs
        model = model_class("MlpPolicy", env, buffer_size=1000, **copy.deepcopy(kwargs), **extra)  # SB3 edits policy_kwargs
        assert model.gamma == pytest.approx(trial.user_attrs["gamma"])
        assert model.batch_size == trial.user_attrs["batch_size"]


def model_class_name(model_class) -> str:
    return {SACV1: "sacv1", SoftQLearning: "sql"}[model_class]


@pytest.mark.parametrize(
    ("ours", "theirs", "n_actions", "not_drawn"),
    [
        ("sacv1", hyperparams_opt.sample_sac_params, 1, set()),
        ("sql", hyperparams_opt.sample_sac_params, 1, set()),  # continuous SoftQLearning: SAC's space
        ("sql", hyperparams_opt.sample_dqn_params, 0, set()),  # exploration_*: the learned temperature's target
    ],
)
def test_the_search_space_is_rl_zoo3s(ours, theirs, n_actions, not_drawn):
    """Every parameter rl_zoo3's sampler draws is drawn with the same distribution (no hand copy to drift)."""
    their_space = distributions(theirs, n_actions, n_trials=200)  # every conditional range seen
    our_space = distributions(SAMPLERS[ours], n_actions, n_trials=25)
    for name, their_distributions in their_space.items():
        if name in not_drawn:
            assert name not in our_space
        else:  # a conditional range (subsample_steps up to train_freq) has several
            assert our_space[name] <= their_distributions, name
    assert set(our_space) - set(their_space) <= {"ent_coef_mode", "ent_coef", "value_n_particles", "svgd_n_particles"}


def test_every_sacv1_trial_builds():
    trials = sampled_trials(SAMPLERS["sacv1"], 1, NO_HER)
    assert {kwargs["ent_coef"] == "auto" for _, kwargs in trials} == {True, False}
    assert_builds(SACV1, gym.make("Pendulum-v1"), trials)


def test_every_discrete_sql_trial_builds_with_the_temperature_learned_or_fixed():
    trials = sampled_trials(SAMPLERS["sql"], 0, NO_HER)  # rl_zoo3 passes n_actions=0 for Discrete actions
    env = gym.make("CartPole-v1")
    assert_builds(SoftQLearning, env, trials)
    for trial, kwargs in trials:
        model = SoftQLearning("MlpPolicy", env, buffer_size=1000, **copy.deepcopy(kwargs))
        assert isinstance(model, DiscreteSoftQLearning)
        if kwargs["ent_coef"] == "auto":
            # DQN's exploration schedule sets the entropy the learned temperature follows
            assert 0 <= kwargs["exploration_final_eps"] <= 0.2 and 0 <= kwargs["exploration_fraction"] <= 0.5
            assert model.exploration_final_eps == kwargs["exploration_final_eps"]
            assert (model.temperature.target_entropy_schedule is None) == (kwargs["exploration_fraction"] == 0)
        else:
            for name in ("exploration_final_eps", "exploration_fraction"):
                assert name not in kwargs and name not in trial.params
            assert model.ent_coef == kwargs["ent_coef"]
    assert {kwargs["ent_coef"] == "auto" for _, kwargs in trials} == {True, False}


def test_every_msql_trial_is_a_discrete_sql_trial_with_munchausen_parameters():
    trials = sampled_trials(SAMPLERS["msql"], 0, NO_HER)
    env = gym.make("CartPole-v1")
    assert_builds(SoftQLearning, env, trials)
    for trial, kwargs in trials:
        assert CONVERTERS["msql"](trial.params) == kwargs
        assert 0.1 <= kwargs["munchausen_coef"] <= 1.0 and kwargs["munchausen_clip"] in (-2.0, -1.0, -0.5)
    # everything else is discrete sql's space
    msql_space = distributions(SAMPLERS["msql"], 0, n_trials=25)
    sql_space = distributions(SAMPLERS["sql"], 0, n_trials=100)
    assert set(msql_space) - set(sql_space) == {"munchausen_coef", "munchausen_clip"}
    for name, sql_distributions in sql_space.items():
        assert msql_space[name] <= sql_distributions, name
    model = SoftQLearning("MlpPolicy", env, buffer_size=1000, **copy.deepcopy(trials[0][1]))
    assert model.munchausen_coef == trials[0][0].params["munchausen_coef"] > 0
    with pytest.raises(ValueError, match=r"msql \(Munchausen soft Q-learning\) needs Discrete actions"):
        sampled_trials(SAMPLERS["msql"], 1, NO_HER, n_trials=1)


def test_every_continuous_sql_trial_builds_with_a_fixed_temperature():
    trials = sampled_trials(SAMPLERS["sql"], 1, NO_HER)
    env = gym.make("Pendulum-v1")
    assert_builds(SoftQLearning, env, trials)
    for _, kwargs in trials:
        assert isinstance(kwargs["ent_coef"], float) and kwargs["ent_coef"] > 0
        assert kwargs["value_n_particles"] in (8, 16, 32) and kwargs["svgd_n_particles"] in (8, 16, 32)
    assert isinstance(SoftQLearning("MlpPolicy", env, **copy.deepcopy(trials[0][1])), ContinuousSoftQLearning)


@pytest.mark.parametrize(("algo", "continuous"), [("sacv1", True), ("sql", False)])
def test_her_parameters_are_searched_when_the_config_uses_her(algo, continuous):
    env = BitFlippingEnv(n_bits=4, continuous=continuous, max_steps=4)
    trials = sampled_trials(SAMPLERS[algo], 1 if continuous else 0, HER, n_trials=10)
    model_class = SACV1 if algo == "sacv1" else SoftQLearning
    for trial, kwargs in trials:
        her_kwargs = kwargs["replay_buffer_kwargs"]
        assert her_kwargs["n_sampled_goal"] == trial.params["n_sampled_goal"] in range(1, 6)
        assert her_kwargs["goal_selection_strategy"] == trial.params["goal_selection_strategy"]
        assert CONVERTERS[algo](trial.params) == {**kwargs, "replay_buffer_kwargs": her_kwargs}
        model = model_class(
            "MultiInputPolicy", env, replay_buffer_class=HerReplayBuffer, buffer_size=1000, **copy.deepcopy(kwargs)
        )
        assert model.replay_buffer.n_sampled_goal == her_kwargs["n_sampled_goal"]


def test_every_soft_vi_trial_builds_and_converts_back():
    env = gym.make("FrozenLake-v1")
    for trial, kwargs in sampled_trials(SAMPLERS["soft_vi"], 0, NO_HER):
        assert CONVERTERS["soft_vi"](trial.params) == kwargs
        model = SoftValueIteration("TabularPolicy", env, **kwargs)
        assert model.gamma == pytest.approx(trial.user_attrs["gamma"])


def test_studies_of_version_0_2_still_convert():
    """Trials stored by the earlier samplers (hand-copied ranges, tau and target_entropy drawn) still load."""
    old_discrete = {"one_minus_gamma": 0.01, "batch_size_pow": 6, "learning_rate": 1e-3, "train_freq": 4}
    old_discrete |= {"net_arch": "small", "target_update_interval": 10, "tau": 0.5}
    old_discrete |= {"ent_coef_mode": "auto", "target_entropy": 0.1}
    kwargs = CONVERTERS["sql"](old_discrete)
    assert kwargs["ent_coef"] == "auto" and kwargs["target_entropy"] == 0.1 and kwargs["tau"] == 0.5
    assert kwargs["batch_size"] == 64 and kwargs["gamma"] == pytest.approx(0.99)
    SoftQLearning("MlpPolicy", gym.make("CartPole-v1"), **kwargs)
    # before the mode was drawn, a SoftQLearning trial stored its fixed ent_coef alone
    assert (
        CONVERTERS["sql"]({**old_discrete, "ent_coef_mode": None, "ent_coef": 0.05} | {"ent_coef_mode": "fixed"})["ent_coef"]
        == 0.05
    )
