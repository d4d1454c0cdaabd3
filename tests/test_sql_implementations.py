"""One public name, two implementations: SoftQLearning picks by the action space, refuses the other's arguments."""

import inspect

import pytest
from stable_baselines3.common.envs import IdentityEnv, IdentityEnvBox

from sb3_maxent import SoftQLearning
from sb3_maxent.sql import ContinuousSoftQLearning, DiscreteSoftQLearning
from sb3_maxent.sql.policies import ContinuousSoftQPolicy, SoftQPolicy
from sb3_maxent.sql.sql import CONTINUOUS_ONLY, DISCRETE_ONLY


def small():
    return {"net_arch": [8]}


@pytest.mark.parametrize(
    ("env", "implementation", "policy_class"),
    [
        (IdentityEnv(3), DiscreteSoftQLearning, SoftQPolicy),
        (IdentityEnvBox(-1, 1), ContinuousSoftQLearning, ContinuousSoftQPolicy),
    ],
)
def test_the_action_space_picks_the_implementation(env, implementation, policy_class):
    kwargs = {"ent_coef": 0.1} if implementation is ContinuousSoftQLearning else {}
    model = SoftQLearning("MlpPolicy", env, policy_kwargs=small(), **kwargs)
    assert type(model) is implementation and isinstance(model, SoftQLearning)
    assert type(model.policy) is policy_class


def test_an_environment_id_picks_too():
    assert type(SoftQLearning("MlpPolicy", "CartPole-v1", policy_kwargs=small())) is DiscreteSoftQLearning
    assert type(SoftQLearning("MlpPolicy", "Pendulum-v1", policy_kwargs=small())) is ContinuousSoftQLearning


@pytest.mark.parametrize("name", sorted(DISCRETE_ONLY))
def test_discrete_arguments_are_refused_for_box_actions(name):
    value = {
        "loss": "mse",
        "max_grad_norm": 1.0,
        "target_entropy": -1.0,
        "exploration_final_eps": 0.1,
        "exploration_fraction": 0.1,
        "exploration_initial_eps": 1.0,
        "munchausen_coef": 0.9,
        "munchausen_clip": -1.0,
    }[name]
    with pytest.raises(ValueError, match=rf"{name} applies to Discrete actions only \(.+\)"):
        SoftQLearning("MlpPolicy", IdentityEnvBox(-1, 1), ent_coef=0.1, **{name: value})


@pytest.mark.parametrize("name", sorted(CONTINUOUS_ONLY))
def test_continuous_arguments_are_refused_for_discrete_actions(name):
    value = {"value_n_particles": 8, "svgd_n_particles": 8, "svgd_update_ratio": 0.5}[name]
    with pytest.raises(ValueError, match=rf"{name} applies to Box actions only \(.+\)"):
        SoftQLearning("MlpPolicy", IdentityEnv(3), **{name: value})


def test_each_implementation_takes_exactly_its_own_arguments():
    discrete = set(inspect.signature(DiscreteSoftQLearning.__init__).parameters)
    continuous = set(inspect.signature(ContinuousSoftQLearning.__init__).parameters)
    assert set(DISCRETE_ONLY) == discrete - continuous
    assert set(CONTINUOUS_ONLY) == continuous - discrete


@pytest.mark.parametrize("env", [IdentityEnv(3), IdentityEnvBox(-1, 1)])
def test_load_without_an_environment_picks_by_the_saved_policy(tmp_path, env):
    kwargs = {"ent_coef": 0.1} if not isinstance(env, IdentityEnv) else {}
    model = SoftQLearning("MlpPolicy", env, policy_kwargs=small(), **kwargs)
    model.save(tmp_path / "model.zip")
    loaded = SoftQLearning.load(tmp_path / "model.zip")
    assert type(loaded) is type(model)
    # the implementation's own load works as well
    assert type(type(model).load(tmp_path / "model.zip")) is type(model)


def test_the_public_name_is_not_built_directly():
    with pytest.raises(TypeError, match="implementations"):
        SoftQLearning.__init__(object.__new__(SoftQLearning), "MlpPolicy", IdentityEnv(3))


def test_a_policy_class_of_the_other_action_type_is_named():
    with pytest.raises(TypeError, match="made for another action space"):
        SoftQLearning(SoftQPolicy, IdentityEnvBox(-1, 1), ent_coef=0.1)
    with pytest.raises(TypeError, match="made for another action space"):
        SoftQLearning(ContinuousSoftQPolicy, IdentityEnv(3))
