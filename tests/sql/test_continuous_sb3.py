"""
Continuous SoftQLearning's contract with its users and with SB3: the defaults, every argument reaching SB3,
whole error messages, the divergence guard naming the loss, and the SVGD sampler as a policy of its own.
"""

import copy
import re

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3 import DQN
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.envs import IdentityEnv, IdentityEnvBox
from stable_baselines3.common.torch_layers import FlattenExtractor
from stable_baselines3.common.type_aliases import ReplayBufferSamples
from stable_baselines3.common.vec_env import DummyVecEnv
from torch import nn

from sb3_maxent import DivergenceError, SoftQLearning
from sb3_maxent.sql import ContinuousSoftQLearning
from sb3_maxent.sql.policies import SVGDSampler

ALPHA = 0.5


def small_model(env=None, **kwargs):
    """A tiny continuous model: 1-D observations and actions, 8 hidden units, few particles."""
    kwargs = {"ent_coef": ALPHA, "value_n_particles": 3, "svgd_n_particles": 2, "seed": 0, **kwargs}
    return SoftQLearning("MlpPolicy", env or IdentityEnvBox(-1, 1), policy_kwargs={"net_arch": [8]}, **kwargs)


def batch_of(size: int, seed: int = 0) -> ReplayBufferSamples:
    """A finite replay batch for 1-D observations and actions."""
    generator = th.Generator().manual_seed(seed)
    return ReplayBufferSamples(
        observations=th.randn(size, 1, generator=generator),
        actions=2 * th.rand(size, 1, generator=generator) - 1,
        next_observations=th.randn(size, 1, generator=generator),
        dones=th.zeros(size, 1),
        rewards=th.randn(size, 1, generator=generator),
    )


def serve_batches(model) -> list[int]:
    """``replay_buffer.sample(n)`` returns a fixed batch of n transitions; the sizes asked for are recorded."""
    requested = []

    def sample(batch_size, env=None):
        requested.append(batch_size)
        return batch_of(batch_size)

    model.replay_buffer.sample = sample
    return requested


# defaults and arguments -----------------------------------------------------------------------------------


def test_defaults_are_dqns_and_the_papers_sampler():
    # the docstring: "the other defaults are DQN's, as for discrete actions"
    model = SoftQLearning("MlpPolicy", IdentityEnvBox(-1, 1), policy_kwargs={"net_arch": [8]})
    dqn = DQN("MlpPolicy", IdentityEnv(2), _init_setup_model=False)
    shared = ["learning_rate", "buffer_size", "learning_starts", "batch_size", "tau", "gamma", "gradient_steps"]
    for name in [*shared, "target_update_interval", "verbose"]:
        assert getattr(model, name) == getattr(dqn, name), name
    assert [getattr(model, name) for name in shared] == [1e-4, 1_000_000, 100, 32, 1.0, 0.99, 1]
    assert (model.target_update_interval, model.verbose) == (10_000, 0)
    assert (model.train_freq.frequency, model.train_freq.unit.value) == (4, "step")
    assert model.actor.optimizer.param_groups[0]["lr"] == 1e-4
    # softlearning's SQL: 16 particles for the soft value and for SVGD, half of them moved; alpha = 1 / reward scale
    assert (model.value_n_particles, model.svgd_n_particles, model.svgd_update_ratio) == (16, 16, 0.5)
    assert model.ent_coef == 0.01
    model.learn(1)  # no gradient step before learning_starts
    assert model.ep_info_buffer.maxlen == 100  # stats_window_size, as DQN's
    assert model._n_updates == 0
    # as SAC's, target_entropy reads "auto" until the model is set up (the temperature is fixed anyway)
    unbuilt = ContinuousSoftQLearning("MlpPolicy", IdentityEnvBox(-1, 1), _init_setup_model=False)
    assert unbuilt.target_entropy == "auto"


class MarkedReplayBuffer(ReplayBuffer):
    """A user's replay buffer class."""


def test_every_sb3_argument_reaches_sb3(tmp_path):
    model = small_model(
        buffer_size=64,
        replay_buffer_class=MarkedReplayBuffer,
        replay_buffer_kwargs={"handle_timeout_termination": False},  # SB3 refuses it with optimize_memory_usage
        optimize_memory_usage=True,
        stats_window_size=7,
        tensorboard_log=str(tmp_path),
        verbose=1,
        seed=3,
        device="cpu:0",  # "auto" is the CPU here: an explicit index tells whether the argument was used
        learning_starts=1_000,
    )
    assert type(model.replay_buffer) is MarkedReplayBuffer
    assert model.replay_buffer.optimize_memory_usage is True
    assert model.replay_buffer.handle_timeout_termination is False
    assert model.device == th.device("cpu", 0)
    assert (model.verbose, model.seed, model.tensorboard_log) == (1, 3, str(tmp_path))
    model.learn(2)
    assert model.ep_info_buffer.maxlen == 7
    assert [path.name for path in tmp_path.iterdir()] == ["SoftQLearning_1"]
    # the seed seeds the networks
    twin = small_model(seed=3)
    for name, value in model.policy.state_dict().items():
        assert th.equal(value, twin.policy.state_dict()[name]), name


def test_several_environments_are_supported():
    model = small_model(DummyVecEnv([lambda: IdentityEnvBox(-1, 1)] * 2), learning_starts=0, batch_size=4, train_freq=1)
    assert model.n_envs == 2
    model.learn(4)
    assert model.num_timesteps == 4 and model._n_updates == 2


def test_only_box_actions_are_accepted():
    with pytest.raises(
        AssertionError,
        match=r"^The algorithm only supports \(<class 'gymnasium\.spaces\.box\.Box'>,\) as action spaces "
        r"but Discrete\(3\) was provided$",
    ):
        ContinuousSoftQLearning("MlpPolicy", IdentityEnv(3), ent_coef=ALPHA)


AUTO_REFUSED = (
    "ent_coef='auto' needs the policy's entropy, which the SVGD sampler of continuous SoftQLearning does not have "
    "in closed form: use a float ent_coef (the inverse reward scale)"
)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"value_n_particles": 0}, "value_n_particles must be >= 1 and svgd_n_particles >= 2, got 0 and 16"),
        ({"svgd_n_particles": 1}, "value_n_particles must be >= 1 and svgd_n_particles >= 2, got 16 and 1"),
        (
            {"svgd_update_ratio": 0.01},  # round(16 * 0.01) = 0 particles moved
            "svgd_update_ratio=0.01 must leave at least one fixed and one updated particle out of svgd_n_particles=16",
        ),
        (
            {"svgd_update_ratio": 1.0},
            "svgd_update_ratio=1.0 must leave at least one fixed and one updated particle out of svgd_n_particles=16",
        ),
        ({"learning_rate": -1e-3}, "learning_rate must be a finite number > 0 or a schedule, got -0.001"),
        ({"ent_coef": "auto"}, AUTO_REFUSED),
        ({"ent_coef": 0.0}, "continuous SoftQLearning needs ent_coef > 0 (the soft value divides by it)"),
    ],
)
def test_invalid_settings_are_refused_with_the_whole_reason(kwargs, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        SoftQLearning("MlpPolicy", IdentityEnvBox(-1, 1), policy_kwargs={"net_arch": [8]}, **{"ent_coef": ALPHA, **kwargs})


def test_the_fewest_particles_allowed_train():
    # one uniform action for the soft value; two SVGD particles: one fixed, one moved
    model = small_model(value_n_particles=1, svgd_n_particles=2, learning_starts=0, batch_size=4, train_freq=1)
    sampler_before = [p.detach().clone() for p in model.actor.parameters()]
    model.learn(3)
    assert model._n_updates == 3
    assert all(np.isfinite(model.logger.name_to_value[f"train/{key}"]) for key in ("critic_loss", "sampler_loss"))
    assert any(not th.equal(b, p) for b, p in zip(sampler_before, model.actor.parameters(), strict=True))


# training -------------------------------------------------------------------------------------------------


def test_random_draws_follow_the_models_device_not_torchs_default():
    # torch's default device set elsewhere (meta stands for an accelerator on a CPU-only machine): the uniform
    # actions of the soft value and the sampler's noise must still be drawn on model.device
    model = small_model(learning_starts=0, batch_size=4, train_freq=1)
    observations = np.zeros((5, 1), dtype=np.float32)
    with th.device("meta"):
        model.learn(3)
        stochastic, _ = model.predict(observations)
        deterministic, _ = model.predict(observations, deterministic=True)
    assert model._n_updates == 3
    assert stochastic.shape == deterministic.shape == (5, 1)
    assert np.all(deterministic == deterministic[0]) and np.all(np.abs(stochastic) <= 1)


@pytest.mark.parametrize("broken", ["critic_loss", "sampler_loss"])
def test_divergence_names_the_loss_that_is_not_finite(broken):
    model = small_model(learning_starts=1_000, train_freq=1)
    model.learn(1)  # sets the logger up
    serve_batches(model)
    with th.no_grad():
        if broken == "critic_loss":
            model.critic_target.q_networks[0][0].weight.fill_(float("nan"))  # a diverged target, finite data
        else:
            model.actor.sampler_net[-1].bias.fill_(float("nan"))  # a diverged sampler: NaN particles
    before = copy.deepcopy(model.policy.state_dict())
    message = (
        f"{broken} is nan at gradient step 0 (environment step 1): training diverged. Lower the learning rate, "
        "rescale rewards or lower ent_coef; the model was not updated with this step."
    )
    with pytest.raises(DivergenceError, match=f"^{re.escape(message)}$"):
        model.train(gradient_steps=1, batch_size=4)
    for name, value in model.policy.state_dict().items():  # the step was not applied
        th.testing.assert_close(value, before[name], rtol=0, atol=0, equal_nan=True)


def test_saturated_particles_keep_a_finite_sampler_loss():
    # particles at tanh(.) = 1 exactly (float32): the tanh correction log(1 - a^2 + 1e-6) stays finite, and the Stein
    # direction between identical particles is their score dQ/da / alpha - 2a / (1 - a^2 + 1e-6)
    model = small_model(learning_starts=1_000)
    model.learn(1)  # sets the logger up
    requested = serve_batches(model)
    with th.no_grad():
        model.actor.sampler_net[-1].weight.zero_()
        model.actor.sampler_net[-1].bias.fill_(20.0)
    before = copy.deepcopy(model.policy)
    model.train(gradient_steps=1)  # SB3's default batch size: 100
    assert requested == [100]
    observations = batch_of(100).observations
    ones = th.ones(100, 1, requires_grad=True)
    (dq_da,) = th.autograd.grad(before.critic(observations, ones)[0].sum(), ones)
    score = dq_da / ALPHA - 2.0 / (th.tensor(1.0) - 1.0 + 1e-6)
    assert model.logger.name_to_value["train/sampler_loss"] == pytest.approx(-score.mean().item(), rel=1e-6)


# the sampler as a policy of its own -----------------------------------------------------------------------

BOX = spaces.Box(-3.0, 3.0, (2,))


def make_sampler(observation_space=None, **kwargs) -> SVGDSampler:
    observation_space = observation_space or spaces.Box(-1.0, 1.0, (3,))
    extractor = FlattenExtractor(observation_space)
    return SVGDSampler(
        observation_space, BOX, net_arch=[8], features_extractor=extractor, features_dim=extractor.features_dim, **kwargs
    )


def mlp_by_hand(sampler: SVGDSampler, inputs: th.Tensor, activation) -> th.Tensor:
    first, _, last = sampler.sampler_net
    return th.tanh(last(activation(first(inputs))))


def test_sampler_is_tanh_of_an_mlp_on_features_and_noise():
    sampler = make_sampler(activation_fn=nn.Tanh)
    assert [type(layer) for layer in sampler.sampler_net] == [nn.Linear, nn.Tanh, nn.Linear]
    assert (sampler.sampler_net[0].in_features, sampler.sampler_net[-1].out_features) == (3 + 2, 2)
    observations = th.randn(4, 3, generator=th.Generator().manual_seed(0))
    with th.no_grad():
        th.manual_seed(1)
        called = sampler(observations)  # sampling by default, one action per state
        one_each = sampler.sample(observations)
        particles = sampler.sample(observations, n_particles=5)
        median = sampler.sample(observations, deterministic=True)
        th.manual_seed(1)
        noises = th.randn(4, 2), th.randn(4, 2), th.randn(4, 5, 2)
        expected_particles = mlp_by_hand(sampler, th.cat([observations[:, None].expand(-1, 5, -1), noises[2]], -1), th.tanh)
        th.testing.assert_close(called, mlp_by_hand(sampler, th.cat([observations, noises[0]], -1), th.tanh))
        th.testing.assert_close(one_each, mlp_by_hand(sampler, th.cat([observations, noises[1]], -1), th.tanh))
        th.testing.assert_close(particles, expected_particles)
        th.testing.assert_close(median, mlp_by_hand(sampler, th.cat([observations, th.zeros(4, 2)], -1), th.tanh))


def test_sampler_predict_rescales_its_squashed_actions_to_the_box():
    sampler = make_sampler()
    observations = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    with th.no_grad():
        median = sampler.sample(th.as_tensor(observations), deterministic=True).numpy()
    actions, _ = sampler.predict(observations, deterministic=True)
    # [-1, 1] -> [-3, 3]: SB3's unscaling, low + 0.5 (a + 1) (high - low), is three float32 operations on values up to
    # 8 in magnitude, each rounding by at most half an ulp of 8 (2^-21), and 3 * median one more: absolute, not
    # relative (an action near 0 comes out of a cancellation)
    np.testing.assert_allclose(actions, 3.0 * median, rtol=0, atol=4 * 2.0**-21)
    th.manual_seed(2)
    sampled, _ = sampler.predict(observations)  # deterministic=False: noise
    assert sampled.shape == (6, 2) and np.all(np.abs(sampled) <= 3.0) and not np.allclose(sampled, actions)


@pytest.mark.parametrize("normalize_images", [None, True, False])
def test_sampler_normalizes_images_unless_told_not_to(normalize_images):
    images = spaces.Box(0, 255, (1, 4, 4), dtype=np.uint8)
    kwargs = {} if normalize_images is None else {"normalize_images": normalize_images}
    sampler = make_sampler(images, **kwargs)
    with th.no_grad():
        actions = sampler.sample(th.full((2, 1, 4, 4), 255.0), deterministic=True)
        scale = 255.0 if normalize_images is False else 1.0  # True by default, as SB3's policies
        expected = mlp_by_hand(sampler, th.cat([th.full((2, 16), scale), th.zeros(2, 2)], -1), th.relu)
    th.testing.assert_close(actions, expected)


def test_sampler_saved_alone_loads_back_the_same(tmp_path):
    sampler = make_sampler(activation_fn=nn.Tanh, normalize_images=False)
    sampler.save(tmp_path / "sampler.pth")
    loaded = SVGDSampler.load(tmp_path / "sampler.pth")
    assert (loaded.net_arch, loaded.features_dim, loaded.activation_fn) == ([8], 3, nn.Tanh)
    assert isinstance(loaded.features_extractor, FlattenExtractor) and loaded.normalize_images is False
    assert loaded.action_space == BOX
    for (name, saved), (loaded_name, restored) in zip(sampler.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert name == loaded_name and th.equal(saved, restored), name
    observations = np.ones((2, 3), dtype=np.float32)
    np.testing.assert_array_equal(
        loaded.predict(observations, deterministic=True)[0], sampler.predict(observations, deterministic=True)[0]
    )


def test_make_actor_uses_the_features_extractor_it_is_given():
    # SB3's make_actor(features_extractor) contract, as SAC's (the shared extractor case)
    model = small_model()
    extractor = model.critic.features_extractor
    actor = model.policy.make_actor(features_extractor=extractor)
    assert isinstance(actor, SVGDSampler) and actor.features_extractor is extractor
