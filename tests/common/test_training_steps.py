"""
Each training step pinned numerically, against the formulas of docs/theory.md written out here independently of the
code.

Every test drives one gradient step on a fixed batch that has terminal transitions and n-step discounts, with
the target networks perturbed away from the online ones (a fresh model's target is an exact copy, which hides
a step that bootstraps on the wrong network) and plain SGD, so that each parameter moves by exactly
``-learning_rate * gradient``.
"""

import copy
import math

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.buffers import NStepReplayBuffer
from stable_baselines3.common.type_aliases import ReplayBufferSamples

from sb3_maxent import SACV1, EntropyTargetCallback, SoftQLearning

BATCH_SIZE = 8
GAMMA = 0.9
# terminal transitions and n-step discounts gamma^k (k = 1, 2, 3) in the same batch
DONES = th.tensor([0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]).reshape(-1, 1)
DISCOUNTS = th.tensor([GAMMA, GAMMA, GAMMA**2, GAMMA**3, GAMMA**2, GAMMA, GAMMA**3, GAMMA**2]).reshape(-1, 1)


def fixed_batch(model, seed: int = 0) -> ReplayBufferSamples:
    generator = th.Generator().manual_seed(seed)
    obs_shape = model.observation_space.shape
    if isinstance(model.action_space, gym.spaces.Discrete):
        actions = th.randint(int(model.action_space.n), (BATCH_SIZE, 1), generator=generator).float()
    else:
        # actions are stored scaled to [-1, 1]
        actions = 2 * th.rand(BATCH_SIZE, *model.action_space.shape, generator=generator) - 1
    return ReplayBufferSamples(
        observations=th.randn(BATCH_SIZE, *obs_shape, generator=generator),
        actions=actions,
        next_observations=th.randn(BATCH_SIZE, *obs_shape, generator=generator),
        dones=DONES,
        rewards=th.randn(BATCH_SIZE, 1, generator=generator),
        discounts=DISCOUNTS,
    )


NORMALIZER = object()  # stands for the model's VecNormalize, which sample() must be given


def serve_batch(model, batch: ReplayBufferSamples) -> None:
    """Every ``replay_buffer.sample`` call returns ``batch``, once given the model's VecNormalize."""
    model._vec_normalize_env = NORMALIZER

    def sample(batch_size, env=None):
        assert env is NORMALIZER
        return batch

    model.replay_buffer.sample = sample


def assert_logged(model, expected: dict) -> None:
    """The step's statistics, as SB3 logs them (``n_updates`` kept out of TensorBoard)."""
    logged = model.logger.name_to_value
    for key, value in expected.items():
        assert logged[f"train/{key}"] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    assert logged["train/n_updates"] == model._n_updates
    assert model.logger.name_to_excluded["train/n_updates"] == ("tensorboard",)
    assert model.policy.training  # train() leaves the policy in training mode


def perturb(module: th.nn.Module, seed: int = 1, scale: float = 0.3) -> None:
    generator = th.Generator().manual_seed(seed)
    with th.no_grad():
        for parameter in module.parameters():
            parameter.add_(scale * th.randn(parameter.shape, generator=generator))


def assert_sgd_step(before: th.nn.Module, after: th.nn.Module, gradients, learning_rate: float) -> None:
    for param_before, gradient, param_after in zip(before.parameters(), gradients, after.parameters(), strict=True):
        th.testing.assert_close(param_after.detach(), param_before.detach() - learning_rate * gradient, atol=1e-5, rtol=1e-4)


def adam_first_step(log_alpha: float, gradient: float, learning_rate: float) -> float:
    """Adam's first step is ``lr * g / (|g| + eps)`` (bias-corrected moments of one gradient)."""
    return log_alpha - learning_rate * gradient / (abs(gradient) + 1e-8)


# SACV1 ---------------------------------------------------------------------------------------------------


def sacv1_model(ent_coef, n_steps: int = 1):
    model = SACV1(
        "MlpPolicy",
        "Pendulum-v1",
        learning_starts=10_000,
        batch_size=BATCH_SIZE,
        tau=0.1,
        gamma=GAMMA,
        ent_coef=ent_coef,
        n_steps=n_steps,
        policy_kwargs=dict(net_arch=[16], optimizer_class=th.optim.SGD),
        learning_rate=1.0,
        seed=1,
    )
    model.learn(10)  # sets up the logger; no update (learning_starts)
    perturb(model.value_target)
    return model


def sacv1_expected_gradients(policy, batch, alpha):
    """J_V, J_Q, J_pi (docs/theory.md#sac-v1-updates) on the batch, differentiated w.r.t. each network's own parameters."""
    actor, critic, value, value_target = policy.actor, policy.critic, policy.value_net, policy.value_target
    a_tilde, log_pi = actor.action_log_prob(batch.observations)
    log_pi = log_pi.reshape(-1, 1)
    q_pi = th.cat(critic(batch.observations, a_tilde), dim=1)
    min_q_pi = q_pi.min(dim=1, keepdim=True).values
    v_hat = (min_q_pi - alpha * log_pi).detach()
    q_hat = (batch.rewards + batch.discounts * (1 - batch.dones) * value_target(batch.next_observations)).detach()
    j_v = 0.5 * ((value(batch.observations) - v_hat) ** 2).mean()
    j_q = sum(0.5 * ((q - q_hat) ** 2).mean() for q in critic(batch.observations, batch.actions))
    j_pi = (alpha * log_pi - min_q_pi).mean()
    gradients = {
        name: th.autograd.grad(loss, list(network.parameters()), retain_graph=True)
        for name, loss, network in [("value_net", j_v, value), ("critic", j_q, critic), ("actor", j_pi, actor)]
    }
    statistics = {
        "value_loss": j_v.item(),
        "critic_loss": j_q.item(),
        "actor_loss": j_pi.item(),
        "entropy": -log_pi.mean().item(),
        "q_values": critic(batch.observations, batch.actions)[0].mean().item(),
        "values": value(batch.observations).mean().item(),
        "ent_coef": float(alpha),
    }
    return gradients, -log_pi.detach(), statistics


@pytest.mark.parametrize("ent_coef", [0.3, "auto_0.5"])
def test_sacv1_step(ent_coef):
    model = sacv1_model(ent_coef)
    batch = fixed_batch(model)
    serve_batch(model, batch)
    before = copy.deepcopy(model.policy)
    alpha = model.temperature.item()

    th.manual_seed(7)
    model.train(gradient_steps=1, batch_size=BATCH_SIZE)
    th.manual_seed(7)  # the same reparameterisation noise
    gradients, entropy, statistics = sacv1_expected_gradients(before, batch, alpha)

    for name, network_gradients in gradients.items():
        assert_sgd_step(getattr(before, name), getattr(model, name), network_gradients, learning_rate=1.0)
    # psi_bar <- tau psi + (1 - tau) psi_bar, from the perturbed target
    for old_target, new_value, new_target in zip(
        before.value_target.parameters(), model.value_net.parameters(), model.value_target.parameters(), strict=True
    ):
        th.testing.assert_close(new_target, 0.1 * new_value + 0.9 * old_target)
    if model.temperature.learnable:
        # dJ/dlog(alpha) = E[-log pi] - H_target
        gradient = entropy.mean().item() - model.target_entropy
        expected = adam_first_step(math.log(0.5), gradient, learning_rate=1.0)
        assert model.log_ent_coef.item() == pytest.approx(expected, abs=1e-5)
        statistics["ent_coef_loss"] = math.log(0.5) * gradient
    else:
        assert model.temperature.item() == alpha
        assert "train/ent_coef_loss" not in model.logger.name_to_value
    assert_logged(model, statistics)


# discrete SoftQLearning ----------------------------------------------------------------------------------


def discrete_sql_model(ent_coef, loss="mse", max_grad_norm=1e9, n_steps: int = 1, **munchausen):
    model = SoftQLearning(
        "MlpPolicy",
        "CartPole-v1",
        learning_starts=10_000,
        gamma=GAMMA,
        ent_coef=ent_coef,
        loss=loss,
        max_grad_norm=max_grad_norm,
        n_steps=n_steps,
        **munchausen,
        policy_kwargs={"net_arch": [16], "optimizer_class": th.optim.SGD},
        learning_rate=0.1,
        seed=0,
    )
    model.learn(10)
    perturb(model.q_net_target)
    return model


def huber(errors: th.Tensor) -> th.Tensor:
    return th.where(errors.abs() < 1.0, 0.5 * errors**2, errors.abs() - 0.5).mean()


@pytest.mark.parametrize("loss", ["mse", "huber"])
@pytest.mark.parametrize("ent_coef", [0.5, "auto_0.5"])
@pytest.mark.parametrize("max_grad_norm", [1e9, 0.05])
def test_discrete_sql_step(loss, ent_coef, max_grad_norm):
    model = discrete_sql_model(ent_coef, loss, max_grad_norm)
    batch = fixed_batch(model)
    serve_batch(model, batch)
    before = copy.deepcopy(model.policy)
    alpha = model.temperature.item()

    model.train(gradient_steps=1, batch_size=BATCH_SIZE)

    # t = r + gamma^k (1 - d) alpha log sum_a' exp(Q_bar(s', a') / alpha), with the (perturbed) target network
    with th.no_grad():
        next_q = before.q_net_target(batch.next_observations)
        soft_value = alpha * th.log(th.exp(next_q / alpha).sum(dim=1, keepdim=True))
        target = batch.rewards + batch.discounts * (1 - batch.dones) * soft_value
    all_q = before.q_net(batch.observations)
    q = all_q[th.arange(BATCH_SIZE), batch.actions.long().flatten()].reshape(-1, 1)
    objective = ((q - target) ** 2).mean() if loss == "mse" else huber(q - target)
    gradients = th.autograd.grad(objective, list(before.q_net.parameters()))
    norm = th.sqrt(sum((g**2).sum() for g in gradients))
    clip = min(1.0, max_grad_norm / (norm.item() + 1e-6))
    assert_sgd_step(before.q_net, model.q_net, [clip * g for g in gradients], learning_rate=0.1)
    probs = th.softmax(all_q.detach() / alpha, dim=1)
    entropy = -(probs * th.log(probs)).sum(dim=1).mean().item()
    statistics = {"loss": objective.item(), "entropy": entropy, "q_values": q.mean().item(), "ent_coef": alpha}
    if model.temperature.learnable:
        statistics["ent_coef_loss"] = math.log(alpha) * (entropy - model.target_entropy)
    assert_logged(model, statistics)
    assert (clip < 1.0) == (max_grad_norm < 1.0)  # both branches of the clipping are exercised
    # the target network moves only in _on_step
    for old, new in zip(before.q_net_target.parameters(), model.q_net_target.parameters(), strict=True):
        assert th.equal(old, new)

    if model.temperature.learnable:
        # dJ/dlog(alpha) = H(softmax(Q(s, .) / alpha)) - H_target, the exact entropy on the batch
        expected = adam_first_step(math.log(0.5), entropy - model.target_entropy, learning_rate=0.1)
        assert model.log_ent_coef.item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("ent_coef", [0.5, "auto_0.5"])
def test_munchausen_sql_step(ent_coef):
    alpha_m, l0 = 0.7, -0.4
    model = discrete_sql_model(ent_coef, munchausen_coef=alpha_m, munchausen_clip=l0)
    batch = fixed_batch(model)
    serve_batch(model, batch)
    before = copy.deepcopy(model.policy)
    alpha = model.temperature.item()

    model.train(gradient_steps=1, batch_size=BATCH_SIZE)

    # Vieillard et al. 2020, eq. 2: t = r + alpha_m clip(alpha log pi_bar(a|s), l0, 0)
    #   + gamma^k (1 - d) sum_a' pi_bar(a'|s') [Q_bar(s', a') - alpha log pi_bar(a'|s')],
    # pi_bar = softmax(Q_bar / alpha) of the target network, written out with probabilities
    with th.no_grad():
        next_q = before.q_net_target(batch.next_observations)
        next_log_pi = th.log(th.softmax(next_q / alpha, dim=1))
        expected_next_value = (th.softmax(next_q / alpha, dim=1) * (next_q - alpha * next_log_pi)).sum(1, keepdim=True)
        log_pi = th.log(th.softmax(before.q_net_target(batch.observations) / alpha, dim=1))
        taken_log_pi = log_pi[th.arange(BATCH_SIZE), batch.actions.long().flatten()].reshape(-1, 1)
        bonus = alpha_m * th.clamp(alpha * taken_log_pi, l0, 0.0)
        target = batch.rewards + bonus + batch.discounts * (1 - batch.dones) * expected_next_value
    # both sides of the clip occur in this batch
    assert (alpha * taken_log_pi < l0).any() and (alpha * taken_log_pi > l0).any()
    all_q = before.q_net(batch.observations)
    q = all_q[th.arange(BATCH_SIZE), batch.actions.long().flatten()].reshape(-1, 1)
    objective = ((q - target) ** 2).mean()
    gradients = th.autograd.grad(objective, list(before.q_net.parameters()))
    assert_sgd_step(before.q_net, model.q_net, gradients, learning_rate=0.1)
    assert model.logger.name_to_value["train/loss"] == pytest.approx(objective.item(), rel=1e-5)


@pytest.mark.parametrize("implementation", ["discrete", "continuous"])
@pytest.mark.parametrize("tau", [0.3, 1.0, 0.0])
def test_sql_target_update_is_polyak_averaging(implementation, tau):
    model = discrete_sql_model(0.5) if implementation == "discrete" else continuous_sql_model()
    online, target = model._online_and_target()
    perturb(target, seed=3)
    model.tau, model.target_update_interval = tau, 2
    old_target = [p.detach().clone() for p in target.parameters()]
    model._n_calls = 0
    model._on_step()  # call 1 of every 2: no update
    assert all(th.equal(old, new) for old, new in zip(old_target, target.parameters(), strict=True))
    model._on_step()
    for old, new_online, new_target in zip(old_target, online.parameters(), target.parameters(), strict=True):
        th.testing.assert_close(new_target, tau * new_online + (1 - tau) * old)


# continuous SoftQLearning --------------------------------------------------------------------------------

VALUE_PARTICLES, SVGD_PARTICLES, SQL_ALPHA, SQL_LR = 6, 4, 0.5, 0.1


def continuous_sql_model():
    model = SoftQLearning(
        "MlpPolicy",
        "Pendulum-v1",
        ent_coef=SQL_ALPHA,
        gamma=GAMMA,
        learning_starts=10_000,
        value_n_particles=VALUE_PARTICLES,
        svgd_n_particles=SVGD_PARTICLES,
        policy_kwargs={"net_arch": [16], "n_critics": 2, "optimizer_class": th.optim.SGD},
        learning_rate=SQL_LR,
        seed=0,
    )
    model.learn(10)
    perturb(model.critic_target)
    return model


def lower_median(values: th.Tensor) -> float:
    ordered = np.sort(values.detach().numpy().ravel())
    return float(ordered[(ordered.size - 1) // 2])


def stein_direction_by_hand(fixed: th.Tensor, updated: th.Tensor, scores: th.Tensor) -> th.Tensor:
    """phi(y_i) = 1/K sum_j [k(x_j, y_i) grad log p(x_j) + grad_{x_j} k(x_j, y_i)], per state, RBF kernel."""
    directions = th.zeros_like(updated)
    for state in range(fixed.shape[0]):
        x, y, s = fixed[state], updated[state], scores[state]
        squared = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)  # (K_fixed, K_updated)
        bandwidth = max(lower_median(squared) / math.log(x.shape[0]), 1e-3)
        kernel = th.exp(-squared / bandwidth)
        for i in range(y.shape[0]):
            for j in range(x.shape[0]):
                gradient_of_kernel = -2.0 * (x[j] - y[i]) / bandwidth * kernel[j, i]
                directions[state, i] += (kernel[j, i] * s[j] + gradient_of_kernel) / x.shape[0]
    return directions


def min_q(critic, obs, actions):
    """min_i Q_i(s, a_k) for actions (B, K, D): (B, K)."""
    batch_size, n_particles, action_dim = actions.shape
    repeated = obs.repeat_interleave(n_particles, dim=0)
    q_values = th.cat(critic(repeated, actions.reshape(-1, action_dim)), dim=1)
    return q_values.min(dim=1).values.reshape(batch_size, n_particles)


def test_continuous_sql_step():
    model = continuous_sql_model()
    batch = fixed_batch(model)
    serve_batch(model, batch)
    before = copy.deepcopy(model.policy)

    th.manual_seed(11)
    model.train(gradient_steps=1, batch_size=BATCH_SIZE)

    th.manual_seed(11)  # the same uniform actions, then the same sampler noise
    action_dim = 1
    uniform = 2 * th.rand(BATCH_SIZE, VALUE_PARTICLES, action_dim) - 1
    particles = before.actor.sample(batch.observations, n_particles=SVGD_PARTICLES)

    # critic: t = r + gamma^k (1 - d) V_bar(s'), V_bar(s') = alpha log E_{a ~ U[-1,1]}[exp(min_i Q_bar_i(s', a) / alpha)]
    with th.no_grad():
        q_bar = min_q(before.critic_target, batch.next_observations, uniform)
        mean_exp = th.exp(q_bar / SQL_ALPHA).mean(dim=1, keepdim=True)
        next_value = SQL_ALPHA * (th.log(mean_exp) + action_dim * math.log(2.0))  # / q(a) = 2^-D
        target = batch.rewards + batch.discounts * (1 - batch.dones) * next_value
    j_q = sum(0.5 * ((q - target) ** 2).mean() for q in before.critic(batch.observations, batch.actions))
    assert_sgd_step(
        before.critic, model.critic, th.autograd.grad(j_q, list(before.critic.parameters()), retain_graph=True), SQL_LR
    )

    # sampler: the updated half of the particles moves along the Stein direction of
    # log p(a) = min_i Q_i(s, a) / alpha + sum_d log(1 - a_d^2) (the tanh change of variables), scored at the fixed half
    n_fixed = SVGD_PARTICLES // 2
    fixed = particles[:, :n_fixed].detach().requires_grad_(True)
    log_density = min_q(before.critic, batch.observations, fixed) / SQL_ALPHA + th.log(1 - fixed**2).sum(-1)
    (scores,) = th.autograd.grad(log_density.sum(), fixed)
    direction = stein_direction_by_hand(fixed.detach(), particles[:, n_fixed:].detach(), scores)
    # descending -<f(s, xi_i), phi_i> (averaged over states and particles) moves f along +phi
    sampler_parameters = list(before.actor.parameters())
    gradients = th.autograd.grad(
        particles[:, n_fixed:], sampler_parameters, grad_outputs=-direction / direction[..., 0].numel(), allow_unused=True
    )
    gradients = [th.zeros_like(p) if g is None else g for p, g in zip(sampler_parameters, gradients, strict=True)]
    assert_sgd_step(before.actor, model.actor, gradients, SQL_LR)
    sampler_loss = -(particles[:, n_fixed:] * direction).sum(dim=-1).mean().item()
    q_values = before.critic(batch.observations, batch.actions)[0].mean().item()
    assert_logged(
        model, {"critic_loss": j_q.item(), "sampler_loss": sampler_loss, "q_values": q_values, "ent_coef": SQL_ALPHA}
    )
    # the target critic moves only in _on_step
    for old, new in zip(before.critic_target.parameters(), model.critic_target.parameters(), strict=True):
        assert th.equal(old, new)


# the entropy-target callback's dual step ------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["sacv1", "discrete_sql"])
def test_callback_dual_step(algorithm):
    model = sacv1_model(0.5) if algorithm == "sacv1" else discrete_sql_model(0.5)
    batch = fixed_batch(model)
    serve_batch(model, batch)
    callback = EntropyTargetCallback(target_entropy=0.3, learning_rate=0.02)
    callback.init_callback(model)
    log_alpha = callback.log_ent_coef.item()
    assert log_alpha == pytest.approx(math.log(0.5))

    th.manual_seed(5)
    callback.update(1)

    th.manual_seed(5)
    with th.no_grad():
        if algorithm == "sacv1":
            _, log_prob = model.actor.action_log_prob(batch.observations)
            entropy = -log_prob.mean().item()  # one sampled action per state: an unbiased estimate
        else:
            probs = th.softmax(model.q_net(batch.observations) / 0.5, dim=1)
            entropy = -(probs * th.log(probs)).sum(dim=1).mean().item()  # exact
    # J(log alpha) = log alpha (H - H_target): d/dlog(alpha) = H - H_target
    expected = adam_first_step(log_alpha, entropy - 0.3, learning_rate=0.02)
    assert callback.log_ent_coef.item() == pytest.approx(expected, abs=1e-6)
    # and the algorithm trains with the new alpha
    assert model.temperature.item() == pytest.approx(math.exp(expected), rel=1e-6)


# n-step returns through SB3's NStepReplayBuffer ----------------------------------------------------------


class CountingEnv(gym.Env):
    """Observation t, reward t + 1, terminated after 5 steps: n-step returns computable by hand."""

    def __init__(self, action_space: gym.spaces.Space):
        self.observation_space = gym.spaces.Box(0, 10, (1,), dtype=np.float32)
        self.action_space = action_space
        self.t = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], dtype=np.float32), {}

    def step(self, action):
        reward = float(self.t + 1)
        self.t += 1
        return np.array([self.t], dtype=np.float32), reward, self.t == 5, False, {}


@pytest.mark.parametrize("algorithm", [SACV1, SoftQLearning])
@pytest.mark.parametrize("action_space", [gym.spaces.Box(-1, 1, (1,)), gym.spaces.Discrete(2)], ids=["box", "discrete"])
def test_n_step_returns_and_discounts(algorithm, action_space):
    if algorithm is SACV1 and isinstance(action_space, gym.spaces.Discrete):
        pytest.skip("SACV1 takes Box actions")
    gamma, n_steps = 0.5, 3
    model = algorithm(
        "MlpPolicy",
        CountingEnv(action_space),
        n_steps=n_steps,
        gamma=gamma,
        learning_starts=10_000,
        train_freq=1,  # collect exactly two whole episodes
        policy_kwargs={"net_arch": [8]},
    )
    model.learn(10)
    assert isinstance(model.replay_buffer, NStepReplayBuffer)
    batch = model.replay_buffer.sample(64)
    start = batch.observations.flatten().long()
    for t, reward, discount, done in zip(
        start, batch.rewards.flatten(), batch.discounts.flatten(), batch.dones.flatten(), strict=True
    ):
        n = min(n_steps, 5 - int(t))  # the return stops at the episode's end
        assert reward.item() == pytest.approx(sum(gamma**k * (t.item() + 1 + k) for k in range(n)))
        assert discount.item() == pytest.approx(gamma**n)
        assert done.item() == float(int(t) + n == 5)
    assert len(set(start.tolist())) == 5  # every start state was drawn


# a diverging step stops training, naming the loss, the gradient step and the environment step ----------------


@pytest.mark.parametrize("algorithm", ["sacv1", "discrete_sql", "continuous_sql"])
def test_divergence_names_the_loss_and_the_step(algorithm):
    from sb3_maxent import DivergenceError

    model = {
        "sacv1": lambda: sacv1_model(0.3),
        "discrete_sql": lambda: discrete_sql_model(0.5),
        "continuous_sql": continuous_sql_model,
    }[algorithm]()
    serve_batch(model, fixed_batch(model))
    model._n_updates = 5
    # an absurd learning rate: the first step sends the weights to infinity, the second step's loss is not finite
    model.lr_schedule = lambda _: 1e38
    if algorithm == "discrete_sql":
        model.max_grad_norm = 1e38
    with pytest.raises(
        DivergenceError,
        match=rf"^(\w+ is (nan|inf|-inf)|the actor's output is not finite) at gradient step 6 "
        rf"\(environment step {model.num_timesteps}\)",
    ):
        model.train(gradient_steps=2, batch_size=BATCH_SIZE)


def test_target_update_every_step_when_envs_outnumber_the_interval():
    from stable_baselines3.common.env_util import make_vec_env

    with pytest.warns(UserWarning, match="greater than the target network update interval"):
        model = SoftQLearning("MlpPolicy", make_vec_env("CartPole-v1", n_envs=3), target_update_interval=2, tau=0.5)
    online, target = model._online_and_target()
    for call in range(3):
        perturb(target, seed=call)
        old = [p.detach().clone() for p in target.parameters()]
        model._on_step()  # every env.step() updates: 2 // 3 environments rounds up to every call
        for before, new_online, new_target in zip(old, online.parameters(), target.parameters(), strict=True):
            th.testing.assert_close(new_target, 0.5 * new_online + 0.5 * before)
