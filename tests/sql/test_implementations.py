"""One public name, two implementations: SoftQLearning picks by the action space, refuses the other's arguments."""

import inspect

import pytest
from stable_baselines3.common.envs import IdentityEnv, IdentityEnvBox

from sb3_maxent import SoftQLearning
from sb3_maxent.sql import ContinuousSoftQLearning, DiscreteSoftQLearning
from sb3_maxent.sql.policies import ContinuousSoftQPolicy, DiscreteSoftQPolicy
from sb3_maxent.sql.sql import CONTINUOUS_ONLY, DISCRETE_ONLY


def small():
    return {"net_arch": [8]}


@pytest.mark.parametrize(
    ("env", "implementation", "policy_class"),
    [
        (IdentityEnv(3), DiscreteSoftQLearning, DiscreteSoftQPolicy),
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


def test_each_implementation_refuses_exactly_the_others_arguments():
    assert dict(ContinuousSoftQLearning.refused_arguments) == DISCRETE_ONLY
    assert dict(DiscreteSoftQLearning.refused_arguments) == CONTINUOUS_ONLY
    # SoftQLearning's signature shows them all
    assert set(DISCRETE_ONLY) | set(CONTINUOUS_ONLY) <= set(inspect.signature(SoftQLearning).parameters)


@pytest.mark.parametrize(
    ("implementation", "env", "name", "value"),
    [
        (ContinuousSoftQLearning, IdentityEnvBox(-1, 1), "loss", "huber"),
        (DiscreteSoftQLearning, IdentityEnv(3), "svgd_update_ratio", 0.5),
    ],
)
def test_an_implementation_built_directly_refuses_the_others_arguments_too(implementation, env, name, value):
    # at their default value as well: the chosen implementation would ignore them
    with pytest.raises(ValueError, match=rf"^SoftQLearning: {name} applies to .+ actions only \(.+\)$"):
        implementation("MlpPolicy", env, **{name: value})


def test_each_implementation_keeps_only_its_own_arguments():
    discrete = SoftQLearning("MlpPolicy", IdentityEnv(3), policy_kwargs=small())
    continuous = SoftQLearning("MlpPolicy", IdentityEnvBox(-1, 1), ent_coef=0.1, policy_kwargs=small())
    assert not any(hasattr(discrete, name) for name in CONTINUOUS_ONLY)
    assert not any(hasattr(continuous, name) for name in DISCRETE_ONLY if name != "target_entropy")
    assert (discrete.loss, discrete.munchausen_coef, continuous.svgd_n_particles) == ("huber", 0.0, 16)


@pytest.mark.parametrize(("env", "expected"), [(IdentityEnv(3), "auto_0.1"), (IdentityEnvBox(-1, 1), 0.01)])
def test_the_default_temperature_is_the_implementations(env, expected):
    assert SoftQLearning("MlpPolicy", env, policy_kwargs=small()).ent_coef == expected


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
        SoftQLearning(DiscreteSoftQPolicy, IdentityEnvBox(-1, 1), ent_coef=0.1)
    with pytest.raises(TypeError, match="made for another action space"):
        SoftQLearning(ContinuousSoftQPolicy, IdentityEnv(3))
