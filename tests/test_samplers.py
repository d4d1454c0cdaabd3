"""The Optuna search spaces: what a trial samples builds the model, and a stored trial converts back to it."""

import gymnasium as gym
import optuna
import pytest

from sb3_maxent import SoftQLearning
from sb3_maxent.sql import ContinuousSoftQLearning
from sb3_maxent.zoo.samplers import CONVERTERS, SAMPLERS

optuna.logging.set_verbosity(optuna.logging.WARNING)


def sampled_trials(algo: str, n_actions: int, n_trials: int = 30) -> list[tuple[optuna.trial.FrozenTrial, dict]]:
    """Random trials of a sampler, with the keyword arguments each returned."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    kwargs_of: dict[int, dict] = {}

    def objective(trial: optuna.Trial) -> float:
        kwargs_of[trial.number] = SAMPLERS[algo](trial, n_actions, 1, {})
        return 0.0

    study.optimize(objective, n_trials=n_trials)
    return [(trial, kwargs_of[trial.number]) for trial in study.trials]


def test_discrete_sql_samples_both_temperature_modes_and_builds():
    # rl_zoo3 passes n_actions=0 for Discrete action spaces
    trials = sampled_trials("sql", n_actions=0)
    modes = {kwargs["ent_coef"] == "auto" for _, kwargs in trials}
    assert modes == {True, False}
    env = gym.make("CartPole-v1")
    for trial, kwargs in trials:
        assert "value_n_particles" not in kwargs
        if kwargs["ent_coef"] == "auto":
            assert 0.0 < kwargs["target_entropy"] < 0.6931  # below log 2: reachable
        assert CONVERTERS["sql"](trial.params) == kwargs
    model = SoftQLearning(env=env, policy="MlpPolicy", **trials[0][1])
    assert model.q_net is not None


def test_continuous_sql_samples_a_fixed_temperature_and_builds():
    trials = sampled_trials("sql", n_actions=1)
    env = gym.make("Pendulum-v1")
    for trial, kwargs in trials:
        assert isinstance(kwargs["ent_coef"], float) and kwargs["ent_coef"] > 0
        assert "target_entropy" not in kwargs
        assert kwargs["value_n_particles"] in (8, 16, 32)
        assert CONVERTERS["sql"](trial.params) == kwargs
    model = SoftQLearning(env=env, policy="MlpPolicy", **trials[0][1])
    assert isinstance(model, ContinuousSoftQLearning)


@pytest.mark.parametrize("algo", ["sacv1", "soft_vi"])
def test_stored_trials_convert_back(algo):
    for trial, kwargs in sampled_trials(algo, n_actions=1, n_trials=10):
        assert CONVERTERS[algo](trial.params) == kwargs
