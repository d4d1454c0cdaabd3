"""SACV1's losses (docs/theory.md#sac-v1-updates) against hand computations, on fixed tensors and a real train step."""

import copy

import numpy as np
import pytest
import torch as th
from scipy.stats import norm
from stable_baselines3.common.envs import IdentityEnvBox

from sb3_maxent import SACV1
from sb3_maxent.common.losses import critic_loss_fn, soft_q_target
from sb3_maxent.sacv1.continuous import actor_loss_fn, soft_value_target
from sb3_maxent.sacv1.sacv1 import value_loss_fn


def test_value_target_is_min_q_minus_alpha_log_pi():
    q_pi = th.tensor([[1.0, 3.0], [-2.0, -5.0], [0.5, 0.5]])
    log_pi = th.tensor([[-1.0], [0.5], [2.0]])
    alpha = th.tensor(0.2)
    # by hand: min(1, 3) - 0.2 * (-1) = 1.2; min(-2, -5) - 0.2 * 0.5 = -5.1; 0.5 - 0.2 * 2 = 0.1
    expected = th.tensor([[1.2], [-5.1], [0.1]])
    assert th.allclose(soft_value_target(q_pi, log_pi, alpha), expected)


def test_q_target_bootstraps_on_target_value_unless_done():
    rewards = th.tensor([[1.0], [2.0], [-1.0]])
    dones = th.tensor([[0.0], [1.0], [0.0]])
    next_v = th.tensor([[10.0], [10.0], [-4.0]])
    # by hand, gamma = 0.9: 1 + 9 = 10; 2 (terminal: no bootstrap); -1 - 3.6 = -4.6
    expected = th.tensor([[10.0], [2.0], [-4.6]])
    assert th.allclose(soft_q_target(rewards, dones, 0.9, next_v), expected)


def test_losses_are_half_squared_errors_and_policy_kl():
    values = th.tensor([[1.0], [2.0]])
    v_target = th.tensor([[0.0], [4.0]])
    # 0.5 * mean(1, 4) = 1.25
    assert th.isclose(value_loss_fn(values, v_target), th.tensor(1.25))

    q1 = th.tensor([[1.0], [0.0]])
    q2 = th.tensor([[3.0], [0.0]])
    q_target = th.tensor([[1.0], [2.0]])
    # 0.5 * [mean(0, 4) + mean(4, 4)] = 0.5 * (2 + 4) = 3
    assert th.isclose(critic_loss_fn((q1, q2), q_target), th.tensor(3.0))

    q_pi = th.tensor([[1.0, 3.0], [-2.0, -5.0]])
    log_pi = th.tensor([[-1.0], [0.5]])
    # mean(0.5 * -1 - 1, 0.5 * 0.5 + 5) = mean(-1.5, 5.25) = 1.875
    assert th.isclose(actor_loss_fn(q_pi, log_pi, th.tensor(0.5)), th.tensor(1.875))


def test_huber_critic_loss_is_half_squared_error_near_the_target_and_linear_beyond():
    # SB3 DQN's smooth L1 (beta 1): h(x) = x^2 / 2 for |x| < 1, |x| - 1/2 beyond
    q1 = th.tensor([[0.5], [10.0]])
    q2 = th.tensor([[0.0], [-3.0]])
    q_target = th.tensor([[0.0], [0.0]])
    # mean(0.125, 9.5) + mean(0, 2.5) = 4.8125 + 1.25
    assert th.isclose(critic_loss_fn((q1, q2), q_target, "huber"), th.tensor(6.0625))
    # the squared error of the same errors: 0.5 * [mean(0.25, 100) + mean(0, 9)] = 27.3125
    assert th.isclose(critic_loss_fn((q1, q2), q_target, "mse"), th.tensor(27.3125))
    small = th.tensor([[0.3], [-0.9]])
    assert th.isclose(critic_loss_fn((small,), th.zeros(2, 1), "huber"), critic_loss_fn((small,), th.zeros(2, 1)))


def _squashed_gaussian_density_by_finite_differences(action, mean, std, eps=1e-5):
    """Density of a = tanh(u), u ~ N(mean, std), as the numerical derivative of its CDF (per dimension)."""

    def cdf(a):
        return norm.cdf((np.arctanh(a) - mean) / std)

    return np.prod((cdf(action + eps) - cdf(action - eps)) / (2 * eps), axis=-1)


@pytest.mark.parametrize("action_dim", [1, 2])
def test_tanh_gaussian_log_prob_matches_numerical_density(action_dim):
    model = SACV1("MlpPolicy", IdentityEnvBox(-1, 1) if action_dim == 1 else _box_env(action_dim), seed=0)
    th.manual_seed(0)
    obs = th.randn(64, *model.observation_space.shape)
    with th.no_grad():
        # widen the policy so samples are spread over (-1, 1)
        model.actor.log_std.bias.fill_(-0.5)
        actions, log_prob = model.actor.action_log_prob(obs)
        mean, log_std, _ = model.actor.get_action_dist_params(obs)
    actions_np = actions.double().numpy().clip(-0.999, 0.999)
    density = _squashed_gaussian_density_by_finite_differences(
        actions_np, mean.double().numpy(), log_std.exp().double().numpy()
    )
    kept = np.all(np.abs(actions.numpy()) < 0.999, axis=-1)
    assert kept.sum() > 40
    np.testing.assert_allclose(log_prob.numpy()[kept], np.log(density[kept]), atol=2e-3)


def _box_env(action_dim):
    import gymnasium as gym

    class BoxEnv(IdentityEnvBox):
        def __init__(self):
            super().__init__(-1, 1)
            self.action_space = gym.spaces.Box(-1, 1, (action_dim,), dtype=np.float32)
            self.observation_space = gym.spaces.Box(-1, 1, (action_dim,), dtype=np.float32)

    return BoxEnv()


def _model_with_sgd(ent_coef):
    # Plain SGD with lr 1: each parameter moves by exactly minus its gradient
    return SACV1(
        "MlpPolicy",
        "Pendulum-v1",
        learning_starts=10_000,
        batch_size=16,
        tau=0.1,
        gamma=0.9,
        ent_coef=ent_coef,
        policy_kwargs=dict(net_arch=[16], optimizer_class=th.optim.SGD),
        learning_rate=1.0,
        seed=1,
    )


@pytest.mark.parametrize("ent_coef", [0.3, "auto_0.5"])
def test_train_step_applies_the_papers_gradients(ent_coef):
    model = _model_with_sgd(ent_coef)
    model.learn(64)  # fills the buffer, no update yet (learning_starts)
    before = copy.deepcopy(model.policy)
    log_alpha_before = None if model.log_ent_coef is None else model.log_ent_coef.detach().clone()
    alpha = th.tensor(0.3) if log_alpha_before is None else log_alpha_before.exp()

    np.random.seed(7)
    th.manual_seed(7)
    model.train(gradient_steps=1, batch_size=16)

    # Hand computation with the same batch and the same reparameterisation noise
    np.random.seed(7)
    th.manual_seed(7)
    batch = model.replay_buffer.sample(16)
    actor, critic, value, value_target = before.actor, before.critic, before.value_net, before.value_target
    a_tilde, log_pi = actor.action_log_prob(batch.observations)
    log_pi = log_pi.reshape(-1, 1)
    q_pi = th.cat(critic(batch.observations, a_tilde), dim=1)
    min_q_pi = th.minimum(q_pi[:, :1], q_pi[:, 1:])
    v_hat = (min_q_pi - alpha * log_pi).detach()
    q_hat = (batch.rewards + 0.9 * (1 - batch.dones) * value_target(batch.next_observations)).detach()
    j_v = 0.5 * ((value(batch.observations) - v_hat) ** 2).mean()
    j_q = sum(0.5 * ((q - q_hat) ** 2).mean() for q in critic(batch.observations, batch.actions))
    j_pi = (alpha * log_pi - min_q_pi).mean()

    for loss, network, trained in [
        (j_v, value, model.value_net),
        (j_q, critic, model.critic),
        (j_pi, actor, model.actor),
    ]:
        grads = th.autograd.grad(loss, list(network.parameters()), retain_graph=True)
        for param_before, grad, param_after in zip(network.parameters(), grads, trained.parameters(), strict=True):
            th.testing.assert_close(param_after, param_before - grad, atol=1e-5, rtol=1e-4)

    if log_alpha_before is not None:
        # d/d(log alpha) of -log(alpha) * (log pi + target) is -(log pi + target); Adam's first step is lr * sign
        grad = -(log_pi.detach() + model.target_entropy).mean()
        assert th.sign(log_alpha_before - model.log_ent_coef.detach()) == th.sign(grad)


def test_target_value_moves_only_by_polyak_averaging():
    model = _model_with_sgd(0.3)
    model.learn(64)
    psi_bar = [p.detach().clone() for p in model.value_target.parameters()]
    model.train(gradient_steps=1, batch_size=16)
    psi = list(model.value_net.parameters())
    for old_target, new_value, new_target in zip(psi_bar, psi, model.value_target.parameters(), strict=True):
        th.testing.assert_close(new_target, 0.1 * new_value + 0.9 * old_target)
    # and no gradient ever reaches the target network
    assert all(p.grad is None and not p.requires_grad for p in model.value_target.parameters())


@pytest.mark.parametrize("interval", [1, 2])
def test_target_update_interval(interval):
    # tau = 1 copies V into the target at the updating steps: with 2 gradient steps and interval 2 only
    # step 0 copies, so the target then lags one update behind V
    model = _model_with_sgd(0.3)
    model.tau, model.target_update_interval = 1.0, interval
    model.learn(64)
    model.train(gradient_steps=2, batch_size=16)
    same = [th.equal(p, q) for p, q in zip(model.value_net.parameters(), model.value_target.parameters(), strict=True)]
    assert all(same) == (interval == 1)


@pytest.mark.parametrize("discrete", [False, True])
def test_the_chosen_loss_reaches_the_critic_update(discrete):
    from stable_baselines3.common.envs import IdentityEnv

    env = IdentityEnv(5) if discrete else IdentityEnvBox(ep_length=10)
    model = SACV1("MlpPolicy", env, learning_starts=20, loss="huber", policy_kwargs=dict(net_arch=[8]), seed=0)
    model.learn(20)
    batch = model.replay_buffer.sample(16)
    batch = batch._replace(rewards=batch.rewards * 100 + 50)  # TD errors far beyond 1: Huber is linear there
    losses = model._step_losses(batch, model.gamma, 0)
    with th.no_grad():
        target = soft_q_target(batch.rewards, batch.dones, model.gamma, model.value_target(batch.next_observations))
    huber = sum(th.nn.functional.smooth_l1_loss(q, target) for q in losses.q_values)
    th.testing.assert_close(losses.critic_loss, huber)
    assert losses.critic_loss < critic_loss_fn(losses.q_values, target, "mse")
