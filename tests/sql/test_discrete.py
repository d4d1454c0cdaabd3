"""Discrete SoftQLearning: the soft target against hand computations and DQN, Boltzmann acting, SB3 behaviour."""

import re

import numpy as np
import pytest
import torch as th
from stable_baselines3 import DQN
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import IdentityEnv, SimpleMultiObsEnv
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_maxent import DivergenceError, EnvironmentDataError, SoftQLearning
from sb3_maxent.common.boltzmann import gumbel_max_sample
from sb3_maxent.common.boltzmann import soft_value as soft_value_torch
from sb3_maxent.sql.discrete import soft_q_learning_target

SMALL = {"net_arch": [16]}


def test_soft_target_against_a_hand_computation():
    rewards = th.tensor([[1.0], [0.5]])
    dones = th.tensor([[0.0], [1.0]])
    next_q = th.tensor([[0.0, np.log(3.0)], [5.0, 5.0]])
    alpha = th.tensor(1.0)
    # row 0: 1 + 0.9 * log(e^0 + e^log 3) = 1 + 0.9 log 4; row 1: terminal, 0.5
    expected = th.tensor([[1.0 + 0.9 * np.log(4.0)], [0.5]])
    assert th.allclose(soft_q_learning_target(rewards, dones, 0.9, next_q, alpha), expected)
    # alpha = 2: 2 log(e^0 + e^(log 3 / 2)) = 2 log(1 + sqrt 3)
    expected_alpha2 = 1.0 + 0.9 * 2.0 * np.log(1.0 + np.sqrt(3.0))
    assert soft_q_learning_target(rewards, dones, 0.9, next_q, th.tensor(2.0))[0, 0].item() == pytest.approx(expected_alpha2)


def _batch_and_models(seed=0):
    sql = SoftQLearning("MlpPolicy", "CartPole-v1", learning_starts=10_000, ent_coef=0.0, policy_kwargs=SMALL, seed=seed)
    sql.learn(300)
    dqn = DQN("MlpPolicy", "CartPole-v1", policy_kwargs=SMALL, seed=seed)
    dqn.q_net_target.load_state_dict(sql.q_net_target.state_dict())
    return sql, dqn, sql.replay_buffer.sample(64)


def test_zero_temperature_target_equals_dqn_target_exactly():
    sql, dqn, batch = _batch_and_models()
    with th.no_grad():
        next_q = dqn.q_net_target(batch.next_observations)
        # DQN's target, as SB3's DQN.train computes it
        dqn_target = batch.rewards + (1 - batch.dones) * dqn.gamma * next_q.max(dim=1)[0].reshape(-1, 1)
        sql_target = soft_q_learning_target(
            batch.rewards, batch.dones, sql.gamma, sql.q_net_target(batch.next_observations), th.tensor(0.0)
        )
    assert th.equal(sql_target, dqn_target)


@pytest.mark.parametrize("alpha", [1e-2, 1e-4, 1e-8])
def test_small_temperature_target_tends_to_dqn_target(alpha):
    sql, dqn, batch = _batch_and_models()
    with th.no_grad():
        next_q = dqn.q_net_target(batch.next_observations)
        dqn_target = batch.rewards + (1 - batch.dones) * dqn.gamma * next_q.max(dim=1)[0].reshape(-1, 1)
        sql_target = soft_q_learning_target(batch.rewards, batch.dones, sql.gamma, next_q, th.tensor(alpha))
    # 0 <= soft - hard <= gamma alpha log|A|
    difference = sql_target - dqn_target
    assert difference.min().item() >= -1e-6
    assert difference.max().item() <= sql.gamma * alpha * np.log(2) + 1e-6


def test_soft_value_is_stable_for_tiny_temperatures():
    q_values = th.tensor([[1e3, -1e3], [0.0, 0.0]])
    for alpha in [1e-8, 1e-30, 1e-45]:
        values = soft_value_torch(q_values, alpha)
        assert th.all(th.isfinite(values))
        assert th.allclose(values[:, 0], th.tensor([1e3, 0.0]), atol=1e-6)


def test_train_step_minimises_the_soft_bellman_error():
    model = SoftQLearning(
        "MlpPolicy",
        "CartPole-v1",
        learning_starts=10_000,
        ent_coef=0.5,
        loss="mse",  # the paper's loss, whose gradient the test writes out
        policy_kwargs={"net_arch": [16], "optimizer_class": th.optim.SGD},
        learning_rate=0.1,
        seed=0,
    )
    model.learn(200)
    np.random.seed(3)
    batch = model.replay_buffer.sample(32)
    before = {k: v.clone() for k, v in model.q_net.state_dict().items()}
    q = th.gather(model.q_net(batch.observations), 1, batch.actions.long())
    with th.no_grad():
        target = batch.rewards + 0.99 * (1 - batch.dones) * 0.5 * th.logsumexp(
            model.q_net_target(batch.next_observations) / 0.5, dim=1, keepdim=True
        )
    expected_loss = ((q - target) ** 2).mean()
    grads = th.autograd.grad(expected_loss, list(model.q_net.parameters()))
    np.random.seed(3)
    model.max_grad_norm = 1e9  # no clipping: the update is exactly -lr * grad
    model.train(gradient_steps=1, batch_size=32)
    for (name, param), grad in zip(model.q_net.named_parameters(), grads, strict=True):
        th.testing.assert_close(param.detach(), before[name] - 0.1 * grad, atol=1e-6, rtol=1e-5)


def test_acts_by_sampling_the_boltzmann_policy():
    model = SoftQLearning("MlpPolicy", IdentityEnv(3), ent_coef=0.7, policy_kwargs=SMALL, seed=0)
    observation = np.zeros(5000, dtype=np.int64)
    actions, _ = model.predict(observation)
    with th.no_grad():
        obs_tensor, _ = model.policy.obs_to_tensor(observation[:1])
        expected = th.softmax(model.q_net(obs_tensor) / 0.7, dim=1)[0].numpy()
    np.testing.assert_allclose(np.bincount(actions, minlength=3) / actions.size, expected, atol=0.03)
    greedy, _ = model.predict(observation[:10], deterministic=True)
    assert np.all(greedy == expected.argmax())


@pytest.mark.parametrize("ent_coef", [0.1, 0.0, "auto", "auto_0.5"])
@pytest.mark.parametrize("loss", ["mse", "huber"])
def test_run(ent_coef, loss):
    model = SoftQLearning(
        "MlpPolicy", "CartPole-v1", learning_starts=50, train_freq=1, ent_coef=ent_coef, loss=loss, policy_kwargs=SMALL
    )
    model.learn(120)
    assert model._n_updates > 0


def test_learned_temperature_moves_towards_the_entropy_target():
    model = SoftQLearning(
        "MlpPolicy",
        IdentityEnv(4),
        learning_starts=20,
        train_freq=1,
        ent_coef="auto_0.01",
        target_entropy=0.98 * np.log(4),
        policy_kwargs=SMALL,
        seed=0,
    )
    model.learn(200)
    # a near-uniform target entropy: alpha must grow from 0.01
    assert model.temperature.item() > 0.01
    assert model.policy.temperature is model.temperature


def test_multi_env_dict_observations_and_evaluate_policy():
    env = make_vec_env("CartPole-v1", n_envs=2)
    model = SoftQLearning("MlpPolicy", env, learning_starts=30, target_update_interval=2, policy_kwargs=SMALL)
    model.learn(100)
    # collection and update counts over 2 envs are exactly DQN's with the same settings
    dqn = DQN("MlpPolicy", make_vec_env("CartPole-v1", n_envs=2), learning_starts=30, target_update_interval=2)
    dqn.learn(100)
    assert model._n_updates > 0
    assert (model.num_timesteps, model.replay_buffer.size(), model._n_updates) == (
        dqn.num_timesteps,
        dqn.replay_buffer.size(),
        dqn._n_updates,
    )
    episode_returns, episode_lengths = evaluate_policy(model, env, n_eval_episodes=4, return_episode_rewards=True)
    assert len(episode_returns) == 4 and episode_returns == [float(length) for length in episode_lengths]  # +1 a step

    multi_obs_env = SimpleMultiObsEnv(random_start=False)
    model = SoftQLearning("MultiInputPolicy", multi_obs_env, learning_starts=30, policy_kwargs=SMALL)
    model.learn(60)
    assert model._n_updates > 0
    obs, _ = multi_obs_env.reset()
    action, _ = model.predict(obs)
    assert multi_obs_env.action_space.contains(int(action))


@pytest.mark.parametrize("ent_coef", [0.3, "auto"])
def test_save_load_is_exact(tmp_path, ent_coef):
    env = IdentityEnv(5)
    model = SoftQLearning("MlpPolicy", env, learning_starts=20, train_freq=1, ent_coef=ent_coef, policy_kwargs=SMALL, seed=0)
    model.learn(60)
    model.save(tmp_path / "model.zip")
    model.save_replay_buffer(tmp_path / "buffer.pkl")
    loaded = SoftQLearning.load(tmp_path / "model.zip", env=env)
    loaded.load_replay_buffer(tmp_path / "buffer.pkl")
    for key, value in model.policy.state_dict().items():
        assert th.equal(value, loaded.policy.state_dict()[key]), key
    assert th.equal(loaded.temperature.value(), model.temperature.value())
    observations = np.arange(5)
    assert np.array_equal(
        loaded.predict(observations, deterministic=True)[0], model.predict(observations, deterministic=True)[0]
    )
    assert loaded.replay_buffer.size() == model.replay_buffer.size()
    loaded.learn(30, reset_num_timesteps=False)


def test_same_seed_same_parameters():
    def run():
        model = SoftQLearning("MlpPolicy", "CartPole-v1", learning_starts=30, train_freq=1, seed=5, policy_kwargs=SMALL)
        model.learn(80)
        return model.policy.state_dict()

    first, second = run(), run()
    assert all(th.equal(first[key], second[key]) for key in first)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ent_coef": -1.0}, "ent_coef"),
        ({"tau": -0.5}, "tau"),
        ({"gamma": 2.0}, "gamma"),
        ({"loss": "l1"}, "loss"),
        ({"max_grad_norm": 0.0}, "max_grad_norm"),
        ({"target_update_interval": 0}, "target_update_interval"),
    ],
)
def test_invalid_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SoftQLearning("MlpPolicy", "CartPole-v1", **kwargs)


class NaNRewardEnv(IdentityEnv):
    def step(self, action):
        obs, _, terminated, truncated, info = super().step(action)
        return obs, float("nan"), terminated, truncated, info


def test_nan_rewards_are_blamed_on_the_environment():
    model = SoftQLearning("MlpPolicy", NaNRewardEnv(3), learning_starts=20, train_freq=1, policy_kwargs=SMALL)
    with pytest.raises(EnvironmentDataError, match=r"replay batch holds non-finite values \(\d+ in rewards\).*VecCheckNan"):
        model.learn(50)


def test_nan_loss_on_finite_data_is_divergence():
    model = SoftQLearning("MlpPolicy", IdentityEnv(3), learning_starts=20, train_freq=1, policy_kwargs=SMALL)
    with th.no_grad():
        next(model.q_net_target.parameters()).fill_(float("inf"))
    with pytest.raises(DivergenceError, match="loss is nan at gradient step 0"):
        model.learn(50)


def test_unsupported_action_space_is_refused():
    from stable_baselines3.common.envs import IdentityEnvMultiBinary

    with pytest.raises(AssertionError, match="Discrete"):
        SoftQLearning("MlpPolicy", IdentityEnvMultiBinary(3))


@pytest.mark.parametrize("logits", [[0.0, 1.0, 2.0, -1.0], [3.0, 3.0, 0.0, -5.0]])
def test_gumbel_max_draws_follow_the_softmax(logits):
    th.manual_seed(0)
    rows = th.tensor([logits]).repeat(40_000, 1)
    draws = gumbel_max_sample(rows)
    frequencies = th.bincount(draws, minlength=4).double() / draws.numel()
    th.testing.assert_close(frequencies, th.softmax(th.tensor(logits, dtype=th.float64), dim=0), atol=0.008, rtol=0.0)


def test_boltzmann_functions_on_any_leading_shape_and_at_zero_temperature():
    from sb3_maxent.common import boltzmann

    q_values = th.tensor([[[1.0, 2.0, 0.5], [0.0, 0.0, 3.0]], [[-1.0, 4.0, 4.0], [2.0, 1.0, 0.0]]])  # (2, 2, 3)
    values = boltzmann.soft_value(q_values, 0.5)
    assert values.shape == (2, 2, 1)
    for index in np.ndindex(2, 2):
        expected = 0.5 * th.logsumexp(q_values[index] / 0.5, dim=0)
        assert values[index].item() == pytest.approx(expected.item(), rel=1e-6)
    np.testing.assert_allclose(boltzmann.soft_value(q_values, 0.0).numpy(), q_values.max(dim=-1, keepdim=True).values)
    # a greedy policy has no entropy: zeros, one per state
    flat = q_values.reshape(4, 3)
    zero = boltzmann.entropy(flat, 0.0)
    assert zero.shape == (4,) and th.equal(zero, th.zeros(4))
    probabilities = th.softmax(flat / 1.0, dim=1)
    np.testing.assert_allclose(boltzmann.entropy(flat, 1.0), -(probabilities * probabilities.log()).sum(dim=1), rtol=1e-6)


def test_a_policy_without_its_algorithm_cannot_give_boltzmann_probabilities():
    model = SoftQLearning("MlpPolicy", IdentityEnv(3), ent_coef=0.4, policy_kwargs=SMALL)
    model.policy.temperature = None
    with pytest.raises(AssertionError, match=r"^the policy samples at its algorithm's temperature$"):
        model.policy.boltzmann_log_probs(th.zeros(1, 3))


def test_munchausen_at_zero_temperature_is_refused_with_the_whole_sentence():
    message = (
        "munchausen_coef=0.9 needs a temperature ent_coef > 0: the Munchausen bonus is alpha * log pi(a|s) of the "
        "Boltzmann policy, which ent_coef=0 (a greedy policy) does not have; pass a positive or learned ent_coef, or "
        "munchausen_coef=0"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        SoftQLearning("MlpPolicy", IdentityEnv(3), ent_coef=0.0, munchausen_coef=0.9, policy_kwargs={"net_arch": [8]})


@pytest.mark.parametrize("ent_coef", [0.0, 1.0])
def test_predict_samples_the_boltzmann_policy_and_is_greedy_at_zero_temperature(ent_coef):
    model = SoftQLearning("MlpPolicy", IdentityEnv(3), ent_coef=ent_coef, policy_kwargs={"net_arch": [8]}, seed=0)
    observations = np.tile(np.arange(3), 100)
    greedy = model.q_net(th.as_tensor(observations)).argmax(dim=1).numpy()
    th.manual_seed(0)
    actions, _ = model.predict(observations, deterministic=False)
    assert actions.shape == (300,)
    if ent_coef == 0.0:
        np.testing.assert_array_equal(actions, greedy)
    else:
        # a fresh network's Q-values are near 0: at alpha = 1 the policy is near uniform over 3 actions, and 300
        # samples all equal to the argmax have probability about 3^-300
        assert not np.array_equal(actions, greedy)


@pytest.mark.parametrize("munchausen_clip", [0.0, -float("inf")])
def test_munchausen_clips_at_the_ends_of_their_range_are_accepted(munchausen_clip):
    # l0 <= 0: at 0 the clipped log-policy, hence the bonus, is 0; at -inf nothing is clipped
    model = SoftQLearning(
        "MlpPolicy", IdentityEnv(3), munchausen_coef=0.9, munchausen_clip=munchausen_clip, policy_kwargs={"net_arch": [8]}
    )
    assert model.munchausen_clip == munchausen_clip
