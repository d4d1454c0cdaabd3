"""Each policy class on its own, as SB3 users use them: ``policy.save`` / ``Policy.load``, and every alias builds."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.envs import FakeImageEnv, IdentityEnv, IdentityEnvBox, SimpleMultiObsEnv
from stable_baselines3.common.torch_layers import CombinedExtractor, FlattenExtractor, NatureCNN

from sb3_maxent import SACV1, SoftQLearning

# SB3 adds keys to the policy_kwargs it is given (use_sde): each model gets its own copy
SMALL = {"net_arch": [16]}


def build(algorithm, env, policy="MlpPolicy", **kwargs):
    return algorithm(policy, env, learning_starts=0, policy_kwargs=dict(SMALL), seed=0, **kwargs)


@pytest.mark.parametrize(
    ("algorithm", "env", "kwargs"),
    [
        (SACV1, IdentityEnvBox(-1, 1), {}),
        (SoftQLearning, IdentityEnv(3), {"ent_coef": 0.4}),
        (SoftQLearning, IdentityEnvBox(-1, 1), {"ent_coef": 0.4}),
    ],
    ids=["sacv1", "sql-discrete", "sql-continuous"],
)
def test_policy_save_load_round_trip(tmp_path, algorithm, env, kwargs):
    model = build(algorithm, env, **kwargs)
    model.learn(20)
    model.policy.save(tmp_path / "policy.pth")
    loaded = type(model.policy).load(tmp_path / "policy.pth")
    # the same architecture, rebuilt from the saved constructor parameters
    assert loaded._get_constructor_parameters().keys() == model.policy._get_constructor_parameters().keys()
    for key, value in model.policy._get_constructor_parameters().items():
        if key not in ("lr_schedule", "optimizer_class", "features_extractor_class", "activation_fn"):
            assert repr(getattr(loaded, key, value)) == repr(value), key
    for (name, saved), (loaded_name, restored) in zip(
        model.policy.state_dict().items(), loaded.state_dict().items(), strict=True
    ):
        assert name == loaded_name and th.equal(saved, restored), name
    observations = np.stack([env.observation_space.sample() for _ in range(8)])
    np.testing.assert_array_equal(
        model.policy.predict(observations, deterministic=True)[0], loaded.predict(observations, deterministic=True)[0]
    )


def test_a_sacv1_policy_sharing_its_features_extractor_loads_sharing_it(tmp_path):
    model = SACV1(
        "CnnPolicy",
        FakeImageEnv(screen_height=36, screen_width=36, n_channels=1, discrete=False),
        buffer_size=10,
        policy_kwargs={"share_features_extractor": True, "net_arch": [8]},
        seed=0,
    )
    model.policy.save(tmp_path / "policy.pth")
    loaded = type(model.policy).load(tmp_path / "policy.pth")
    assert loaded.share_features_extractor is True
    # one extractor for the actor, the critics and the value network, as in the saved policy
    assert loaded.critic.features_extractor is loaded.actor.features_extractor
    assert loaded.value_net.features_extractor is loaded.actor.features_extractor
    assert loaded.net_arch == [8]


def test_a_discrete_policy_loaded_alone_acts_greedily(tmp_path):
    # as SB3's DQNPolicy, whose exploration belongs to the algorithm: alpha lives in SoftQLearning's temperature
    model = build(SoftQLearning, IdentityEnv(3), ent_coef=0.4)
    model.policy.save(tmp_path / "policy.pth")
    loaded = type(model.policy).load(tmp_path / "policy.pth")
    assert loaded.temperature is None
    observations = np.arange(3).repeat(50)
    greedy, _ = model.predict(observations, deterministic=True)
    np.testing.assert_array_equal(loaded.predict(observations, deterministic=False)[0], greedy)
    # while the model's own policy samples from softmax(Q / 0.4)
    assert not np.array_equal(model.predict(observations, deterministic=False)[0], greedy)


def features_extractor_of(policy):
    owner = policy.q_net if hasattr(policy, "q_net") else policy.actor
    return owner.features_extractor


@pytest.mark.parametrize(
    ("algorithm", "continuous", "kwargs"),
    [(SACV1, True, {}), (SoftQLearning, False, {"ent_coef": 0.3}), (SoftQLearning, True, {"ent_coef": 0.3})],
    ids=["sacv1", "sql-discrete", "sql-continuous"],
)
def test_every_alias_builds_its_features_extractor(algorithm, continuous, kwargs):
    images = FakeImageEnv(screen_height=36, screen_width=36, n_channels=1, discrete=not continuous)
    cnn = algorithm("CnnPolicy", images, learning_starts=0, buffer_size=100, policy_kwargs=dict(SMALL), **kwargs)
    assert isinstance(features_extractor_of(cnn.policy), NatureCNN)
    cnn.learn(8)
    dict_env = SimpleMultiObsEnv(random_start=False, discrete_actions=not continuous)
    multi = algorithm("MultiInputPolicy", dict_env, learning_starts=0, buffer_size=100, policy_kwargs=dict(SMALL), **kwargs)
    assert isinstance(features_extractor_of(multi.policy), CombinedExtractor)
    mlp = algorithm("MlpPolicy", IdentityEnvBox(-1, 1) if continuous else IdentityEnv(2), policy_kwargs=dict(SMALL), **kwargs)
    assert isinstance(features_extractor_of(mlp.policy), FlattenExtractor)
    assert isinstance(mlp.action_space, gym.spaces.Box if continuous else gym.spaces.Discrete)


def test_discrete_policy_load_state_dict_keeps_torchs_contract():
    model = build(SoftQLearning, IdentityEnv(3), ent_coef=0.4)
    policy = model.policy
    state = {key: value.clone() + 1.0 for key, value in policy.state_dict().items()}
    # version 0.1's buffer ent_coef is dropped; everything else is loaded
    policy.load_state_dict({**state, "ent_coef": th.tensor(0.4)})
    assert all(th.equal(policy.state_dict()[key], value) for key, value in state.items())
    # strict by default: a missing key is an error; strict=False accepts it
    partial = dict(list(state.items())[1:])
    with pytest.raises(RuntimeError, match="Missing key"):
        policy.load_state_dict(partial)
    policy.load_state_dict(partial, strict=False)
    # assign=False by default copies into the existing parameters; assign=True takes the given tensors
    name, parameter = next(iter(policy.named_parameters()))
    policy.load_state_dict(state)
    assert policy.get_parameter(name) is parameter
    fresh = {key: th.nn.Parameter(value.clone()) if key == name else value for key, value in state.items()}
    policy.load_state_dict(fresh, assign=True)
    assert policy.get_parameter(name) is fresh[name]


@pytest.mark.parametrize(
    ("algorithm", "env", "kwargs"),
    [(SACV1, IdentityEnvBox(-1, 1), {}), (SoftQLearning, IdentityEnv(3), {}), (SoftQLearning, IdentityEnvBox(-1, 1), {})],
    ids=["sacv1", "sql-discrete", "sql-continuous"],
)
def test_optimizers_fused_adam_by_default_and_the_users_choice_otherwise(algorithm, env, kwargs):
    def optimizers(model):
        return [module.optimizer for module in model.policy.modules() if hasattr(module, "optimizer")] or [
            model.policy.optimizer
        ]

    default = algorithm("MlpPolicy", env, policy_kwargs=dict(SMALL), **kwargs)
    assert all(isinstance(opt, th.optim.Adam) and opt.defaults["fused"] for opt in optimizers(default))
    chosen = algorithm("MlpPolicy", env, policy_kwargs={**SMALL, "optimizer_class": th.optim.RMSprop}, **kwargs)
    assert all(isinstance(opt, th.optim.RMSprop) for opt in optimizers(chosen))
    looped = algorithm("MlpPolicy", env, policy_kwargs={**SMALL, "optimizer_kwargs": {"foreach": False}}, **kwargs)
    assert all(not opt.defaults["fused"] and opt.defaults["foreach"] is False for opt in optimizers(looped))


@pytest.mark.parametrize("share", [False, True])
def test_continuous_sql_shares_the_features_extractor_when_asked(share):
    model = SoftQLearning("MlpPolicy", IdentityEnvBox(-1, 1), policy_kwargs={**SMALL, "share_features_extractor": share})
    assert (model.actor.features_extractor is model.critic.features_extractor) == share
    with pytest.raises(ValueError, match=r"^SoftQLearning samples with an SVGD sampler: use_sde is not supported$"):
        SoftQLearning("MlpPolicy", IdentityEnvBox(-1, 1), policy_kwargs={**SMALL, "use_sde": True})


@pytest.mark.parametrize(
    ("algorithm", "env", "kwargs", "networks"),
    [
        (SACV1, IdentityEnvBox(-1, 1), {}, {"actor", "critic", "value_net", "value_target", "temperature"}),
        (SoftQLearning, IdentityEnv(3), {}, {"q_net", "q_net_target", "temperature"}),
        (SoftQLearning, IdentityEnvBox(-1, 1), {"ent_coef": 0.3}, {"actor", "critic", "critic_target", "temperature"}),
    ],
    ids=["sacv1", "sql-discrete", "sql-continuous"],
)
def test_saved_data_holds_no_network_twice(tmp_path, algorithm, env, kwargs, networks):
    from stable_baselines3.common.save_util import load_from_zip_file

    model = build(algorithm, env, **kwargs)
    model.save(tmp_path / "model.zip")
    data, params, _ = load_from_zip_file(tmp_path / "model.zip")
    # the networks are saved once, as the policy's state dict; the temperature as its tensors and optimiser
    assert not networks & set(data), networks & set(data)
    assert "policy" in params


def test_soft_value_iteration_saves_no_mdp(tmp_path):
    from stable_baselines3.common.save_util import load_from_zip_file

    from sb3_maxent import SoftValueIteration

    model = SoftValueIteration("TabularPolicy", gym.make("FrozenLake-v1"), ent_coef=0.1).learn()
    model.save(tmp_path / "model.zip")
    data, _, _ = load_from_zip_file(tmp_path / "model.zip")
    assert not {"mdp", "solver_result"} & set(data)
