"""Continuous SoftQLearning: the importance-sampled soft value, the SVGD sampler, SB3 behaviour."""

import math

import numpy as np
import pytest
import torch as th
from scipy.integrate import quad
from stable_baselines3.common.envs import BitFlippingEnv, IdentityEnvBox
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.torch_layers import CombinedExtractor

from sb3_maxent import SoftQLearning
from sb3_maxent.envs.multigoal import MultiGoalEnv
from sb3_maxent.sql.continuous import importance_sampled_soft_value
from sb3_maxent.sql.policies import ContinuousSoftQPolicy, SVGDSampler


def quadratic_q(actions, centre=0.3, curvature=4.0):
    return -curvature * (actions - centre) ** 2


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0])
def test_importance_sampled_soft_value_matches_quadrature(alpha):
    # alpha log int_{-1}^{1} exp(Q(a) / alpha) da, by quadrature
    integral, _ = quad(lambda a: math.exp(quadratic_q(a) / alpha), -1.0, 1.0)
    exact = alpha * math.log(integral)
    generator = th.Generator().manual_seed(0)
    errors = []
    for n_samples in [16, 256, 4096, 65536]:
        actions = 2 * th.rand(200, n_samples, generator=generator, dtype=th.float64) - 1
        estimates = importance_sampled_soft_value(quadratic_q(actions), alpha, action_dim=1)
        errors.append((estimates - exact).abs().mean().item())
    assert errors[-1] < 0.01
    # the estimator converges as M grows (log of a mean: biased low, the bias shrinking like 1/M)
    assert errors[0] > errors[1] > errors[2] > errors[3]


def test_importance_sampled_soft_value_in_two_dimensions():
    alpha = 1.0
    one_dim, _ = quad(lambda a: math.exp(quadratic_q(a)), -1.0, 1.0)
    exact = alpha * 2 * math.log(one_dim)  # separable: the 2-D integral is the square
    actions = 2 * th.rand(50, 100_000, 2, dtype=th.float64, generator=th.Generator().manual_seed(1)) - 1
    estimate = importance_sampled_soft_value(quadratic_q(actions).sum(-1), alpha, action_dim=2)
    assert estimate.mean().item() == pytest.approx(exact, abs=0.01)


def test_one_alias_builds_the_continuous_policy():
    model = SoftQLearning("MlpPolicy", "Pendulum-v1", ent_coef=0.1, policy_kwargs={"net_arch": [16]})
    assert isinstance(model.policy, ContinuousSoftQPolicy)
    assert isinstance(model.actor, SVGDSampler)
    assert len(model.critic.q_networks) == 1  # the paper's single soft Q network by default


def test_sampler_actions_and_deterministic_noise():
    model = SoftQLearning("MlpPolicy", IdentityEnvBox(-3, 3), ent_coef=0.1, policy_kwargs={"net_arch": [16]}, seed=0)
    observations = np.zeros((500, 1), dtype=np.float32)
    actions, _ = model.predict(observations)
    assert actions.shape == (500, 1)
    assert np.all(np.abs(actions) <= 3.0)
    assert np.std(actions) > 0  # samples vary with the noise
    deterministic, _ = model.predict(observations, deterministic=True)
    assert np.all(deterministic == deterministic[0])  # xi = 0


def test_svgd_step_moves_particles_along_the_stein_direction():
    model = SoftQLearning(
        "MlpPolicy", "Pendulum-v1", ent_coef=0.5, learning_starts=10_000, policy_kwargs={"net_arch": [16]}, seed=0
    )
    model.learn(200)
    batch = model.replay_buffer.sample(32)
    before = [p.detach().clone() for p in model.actor.parameters()]
    loss = model._svgd_surrogate_loss(batch.observations, 0.5)
    model.actor.optimizer.zero_grad()
    loss.backward()
    # the critic receives no gradient from the sampler's update
    assert all(p.grad is None for p in model.critic.parameters())
    assert all(p.grad is not None for p in model.actor.parameters())
    model.actor.optimizer.step()
    assert any(not th.equal(b, p) for b, p in zip(before, model.actor.parameters(), strict=True))


@pytest.mark.parametrize("n_critics", [1, 2])
def test_run_save_load(tmp_path, n_critics):
    model = SoftQLearning(
        "MlpPolicy",
        "Pendulum-v1",
        ent_coef=0.2,
        learning_starts=50,
        train_freq=1,
        tau=0.01,
        target_update_interval=1,
        policy_kwargs={"net_arch": [16], "n_critics": n_critics},
        seed=0,
    )
    model.learn(100)
    model.save(tmp_path / "model.zip")
    loaded = SoftQLearning.load(tmp_path / "model.zip", env=model.get_env())
    for key, value in model.policy.state_dict().items():
        assert th.equal(value, loaded.policy.state_dict()[key]), key
    observations = np.zeros((5, 3), dtype=np.float32)
    assert np.array_equal(
        loaded.predict(observations, deterministic=True)[0], model.predict(observations, deterministic=True)[0]
    )
    loaded.learn(30, reset_num_timesteps=False)
    assert np.isfinite(evaluate_policy(loaded, loaded.get_env(), n_eval_episodes=1)[0])


def test_dict_observations():
    env = BitFlippingEnv(n_bits=3, continuous=True)
    model = SoftQLearning(
        "MultiInputPolicy", env, ent_coef=0.1, learning_starts=30, train_freq=1, policy_kwargs={"net_arch": [16]}
    )
    assert isinstance(model.critic.features_extractor, CombinedExtractor)
    sampler_before = [p.detach().clone() for p in model.actor.parameters()]
    model.learn(60)
    assert model._n_updates == 30
    assert all(not th.equal(b, a) for b, a in zip(sampler_before, model.actor.parameters(), strict=True))
    obs, _ = env.reset(seed=0)
    action, _ = model.predict(obs)
    assert env.action_space.contains(action)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ent_coef": "auto"}, "ent_coef='auto'"),
        ({"ent_coef": 0.0}, "ent_coef > 0"),
        ({"svgd_n_particles": 1}, "svgd_n_particles"),
        ({"svgd_update_ratio": 1.0}, "svgd_update_ratio"),
        ({"value_n_particles": 0}, "value_n_particles"),
        ({"policy_kwargs": {"use_sde": True}}, "use_sde"),
    ],
)
def test_invalid_continuous_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SoftQLearning("MlpPolicy", "Pendulum-v1", **kwargs)


def test_multigoal_env_rewards():
    env = MultiGoalEnv()
    obs, _ = env.reset(seed=0)
    assert np.array_equal(obs, np.zeros(2, dtype=np.float32))
    for _ in range(4):
        _, _, terminated, _, _ = env.step(np.array([1.0, 0.0]))
    assert not terminated
    _, reward, terminated, _, info = env.step(np.array([1.0, 0.0]))
    assert terminated and info["goal_reached"]
    assert reward == pytest.approx(10.0 - 0.3)


@pytest.mark.slow
def test_sampler_is_multimodal_on_the_multigoal_env():
    model = SoftQLearning(
        "MlpPolicy",
        MultiGoalEnv(),
        learning_rate=3e-3,
        batch_size=128,
        tau=0.01,
        target_update_interval=1,
        train_freq=1,
        learning_starts=500,
        ent_coef=1.0,
        gamma=0.95,
        policy_kwargs={"net_arch": [64, 64]},
        seed=0,
    )
    model.learn(6000)
    actions, _ = model.predict(np.zeros((1000, 2), dtype=np.float32))
    # the direction of the first step from the centre: towards which goal?
    goal_of_action = np.argmax(actions @ MultiGoalEnv().goals.T, axis=1)
    fractions = np.bincount(goal_of_action, minlength=4) / len(actions)
    assert np.sum(fractions > 0.1) >= 2, fractions


def test_the_sampler_is_built_on_the_policys_device():
    # "meta" stands in for an accelerator: make_actor builds the SVGD sampler where the policy's parameters are, as
    # SB3's SACPolicy.make_actor does
    policy = SoftQLearning("MlpPolicy", "Pendulum-v1", ent_coef=0.1, policy_kwargs={"net_arch": [8]}).policy.to("meta")
    actor = policy.make_actor()
    assert isinstance(actor, SVGDSampler)
    assert {parameter.device.type for parameter in actor.parameters()} == {"meta"}
