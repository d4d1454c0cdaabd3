r"""
The library's ``train()`` against plain reference implementations of the papers' updates, parameter for parameter.

Each test builds a small model, runs the library's ``train()`` for over 100 gradient steps on a fixed list of replay
batches, runs an independent reference of the same update from the same initial parameters on the same batches, and
checks that every trained tensor agrees (actor, critics, value network and its target, Q target, log-temperature;
not the optimisers' states). The references are written from the papers' equations in straightforward PyTorch:
their own MLP forward passes (``x @ W.T + b`` and ReLU on copies of the initial weights), each loss on its own, one
``torch.autograd.grad`` per loss and network, one plain ``torch.optim.Adam`` per network; they call neither
``sb3_maxent.common.losses`` nor the algorithms' ``_step_losses``, policies' ``forward`` or SB3's distributions.
They guard a rewrite of ``train()`` (batched critic ensembles, fused backward passes, ``torch.compile``): it must
keep computing the same update.

- SACV1, ``Box`` actions (Haarnoja et al. 2018, eqs. 5-13): value, soft Q and policy losses at the same parameters,
  the target value network :math:`\bar\psi` Polyak-averaged every ``target_update_interval`` gradient steps, and the
  temperature by SAC v2's dual descent (``ent_coef="auto"``) or fixed.
- SACV1, ``Discrete`` actions (Christodoulou 2019): the same with exact sums over actions.
- SoftQLearning, ``Discrete`` actions (Haarnoja et al. 2017, eq. 10 with an exact soft value), Huber and squared
  loss, gradient clipping, learned and fixed temperature; and its Munchausen variant (Vieillard et al. 2020).
- SoftQLearning, ``Box`` actions: the soft Q update on the importance-sampled soft value (eq. 10, uniform proposal)
  and the amortised SVGD step of the sampler (eq. 13), with the target network updated by ``_on_step``.

**Batches.** ``model.replay_buffer.sample`` is replaced by a function that returns, in order, a list of batches drawn
beforehand from a seeded NumPy generator; the reference consumes the same list.

**Noise.** The update's own randomness comes from torch's global generator; ``th.manual_seed(SEED)`` is called before
the library's first ``train()`` and again before the reference's first step, and the reference draws the same
tensors in the same order, shape and dtype:

- continuous SACV1: one reparameterised sample per step, ``Normal(mean, std).rsample()`` (float64, the actor's
  dtype; no gSDE);
- discrete SACV1 and discrete SoftQLearning: no randomness in the update;
- continuous SoftQLearning: per gradient step, first ``th.rand(batch, value_n_particles, action_dim)`` (the uniform
  proposal of the soft value), then ``th.randn(batch, svgd_n_particles, action_dim)`` (the sampler's noise
  :math:`\xi`), both in the *default* dtype float32, as the library draws them even in a float64 model, and mapped as
  it maps them (``2u - 1`` in float32) before they meet float64 tensors.

A rewrite that draws the same numbers in another order or dtype fails these tests without being wrong: it must then
patch in pre-drawn noise (in both) instead.

**Precision and tolerance.** Both sides run in float64: the policy is cast with ``.double()``, the temperature's
:math:`\log\alpha` (or fixed :math:`\alpha`) and the batches are float64. The library accepts this except in one
place: SB3's ``preprocess_obs`` casts ``Box`` observations to float32 (``obs.float()``), so the tests patch it, in
SB3's ``policies`` module where ``extract_features`` calls it, to return the (flat, non-image) observation as it is.
(The continuous samplers' noise stays float32, see above: drawn numbers, not rounding.)

Then each floating-point operation done in another order (another reduction order in a batched ensemble, a fused
backward, the reference's ``logsumexp(Q/alpha)`` against the library's max-shifted one) changes its result by about
:math:`\epsilon_{64} \approx 1.1\times10^{-16}` relative, and a gradient computed in another order by a relative
:math:`\delta \lesssim 10^{-14}` (a few hundred operations deep). Adam's step :math:`\eta\,m/(\sqrt v + \epsilon)`
is invariant to the gradient's scale, so its change is about :math:`\eta\delta` per step, :math:`\lesssim 10^{-17}`
with :math:`\eta = 10^{-3}`; the worst case, a gradient whose size is near Adam's :math:`\epsilon = 10^{-8}`, changes
it by :math:`\eta |\Delta g| / \epsilon`, with :math:`|\Delta g| \approx 10^{-16}` times the size of the terms that
cancelled in it (order 1 here): :math:`\approx 10^{-11}` for that one step. Over :math:`N \le 150` steps these add up
and feed back through the parameters into later gradients; with the small networks and small learning rate used
here the feedback is mild: a relative perturbation of 1e-13 of the initial parameters ends, after the 100-120 steps
of these tests, as a difference of 6e-14 (SACV1) to 2.5e-13 (continuous SoftQLearning), an amplification of at most
about 10 (measured once while writing this file, as a check of the assumption, not as the source of the tolerance).
So :math:`10 \times N \times 10^{-11} \approx 10^{-8}` bounds even the unlikely worst case of a gradient at Adam's
epsilon at every step, and the realistic size is :math:`10 N \eta \delta \approx 10^{-14}`. The tests ask for
``TOLERANCE = 1e-8`` on :math:`\max |p_{lib} - p_{ref}| / \max(1, \max |p_{ref}|)` per tensor: that worst-case
bound, six orders of magnitude above the realistic rounding difference (today's code gives 1e-16 to 5e-16), and five
below one Adam step :math:`\eta = 10^{-3}`. A change of the maths (a discount off by 1 %, the online network in
place of the target, a dropped tanh correction or Munchausen term, a flipped sign) changes the gradients by a
relative 1e-3 or more, hence each step by :math:`\eta \times 10^{-3} = 10^{-6}` or more, and these do not cancel
over the steps. Each test checks that it can fail: it also runs its reference with one deliberate change and
requires a difference above ``1e3 * TOLERANCE`` (the changes give 5e-3 to 0.16). A constant factor on a whole loss
(a dropped 1/2) is weaker: Adam divides it out except through its epsilon and the gradient clipping, yet it is still
seen (discrete SoftQLearning's "half" change: 2.6e-2 with clipping; a dropped 1/2 on SACV1's value loss: 9e-4).
"""

import math
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import stable_baselines3.common.policies as sb3_policies
import torch as th
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.type_aliases import ReplayBufferSamples
from torch import nn

from sb3_maxent import SACV1, SoftQLearning

TOLERANCE = 1e-8
# a deliberately changed reference must be further off than this
DETECTABLE = 1e3 * TOLERANCE
SEED = 123
LR = 1e-3
BATCH_SIZE = 32
NET_ARCH = [32, 32]
GAMMA = 0.97
TAU = 0.05

Params = list[th.Tensor]


# helpers ------------------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _float64_observations(monkeypatch):
    """SB3 casts Box observations to float32 in ``preprocess_obs``; keep the float64 batches as they are."""

    def keep_dtype(obs, observation_space, normalize_images=True):
        assert isinstance(obs, th.Tensor) and obs.dim() == 2, "only flat Box observations are used here"
        return obs

    monkeypatch.setattr(sb3_policies, "preprocess_obs", keep_dtype)


def to_float64(model) -> None:
    """The model's networks and temperature in float64 (before any optimiser step: Adam's state is created lazily)."""
    model.set_logger(Logger(folder=None, output_formats=[]))
    model.policy.double()
    temperature = model.temperature
    if temperature.log_ent_coef is not None:
        # in place: the temperature's optimiser holds this tensor
        temperature.log_ent_coef.data = temperature.log_ent_coef.data.double()
    if temperature.ent_coef_tensor is not None:
        temperature.ent_coef_tensor = temperature.ent_coef_tensor.double()


def make_batches(
    n_batches: int, obs_dim: int, *, action_dim: int | None = None, n_actions: int | None = None
) -> list[ReplayBufferSamples]:
    """Random transitions from a seeded generator, float64 (Box actions in SB3's buffer scale [-1, 1])."""
    rng = np.random.default_rng(SEED)
    batches = []
    for _ in range(n_batches):
        if n_actions is not None:
            actions = th.as_tensor(rng.integers(0, n_actions, size=(BATCH_SIZE, 1)), dtype=th.long)
        else:
            actions = th.as_tensor(rng.uniform(-1.0, 1.0, size=(BATCH_SIZE, action_dim)))
        batches.append(
            ReplayBufferSamples(
                observations=th.as_tensor(rng.normal(size=(BATCH_SIZE, obs_dim))),
                actions=actions,
                next_observations=th.as_tensor(rng.normal(size=(BATCH_SIZE, obs_dim))),
                dones=th.as_tensor((rng.random(size=(BATCH_SIZE, 1)) < 0.1).astype(np.float64)),
                rewards=th.as_tensor(rng.normal(-0.5, 1.0, size=(BATCH_SIZE, 1))),
                discounts=None,
            )
        )
    return batches


def run_library(
    model,
    monkeypatch,
    batches: list[ReplayBufferSamples],
    n_calls: int,
    gradient_steps: int,
    after_call: Callable[[], None] | None = None,
) -> None:
    """``n_calls`` calls of ``model.train(gradient_steps)``, each gradient step on the next batch of the list."""
    remaining: Iterator[ReplayBufferSamples] = iter(batches)
    monkeypatch.setattr(model.replay_buffer, "sample", lambda batch_size, env=None: next(remaining))
    th.manual_seed(SEED)
    for _ in range(n_calls):
        model.train(gradient_steps=gradient_steps, batch_size=BATCH_SIZE)
        if after_call is not None:
            after_call()
    assert next(remaining, None) is None, "every batch is used"


def linear_params(module: nn.Module) -> Params:
    """The weights and biases of a module's linear layers, in order (the library's tensors themselves)."""
    return [p for layer in module.modules() if isinstance(layer, nn.Linear) for p in (layer.weight, layer.bias)]


def clone(params: Params) -> Params:
    return [p.detach().clone().requires_grad_(True) for p in params]


def mlp(params: Params, x: th.Tensor, *, relu_last: bool = False) -> th.Tensor:
    """A ReLU multilayer perceptron on (weight, bias) pairs."""
    n_layers = len(params) // 2
    for index in range(n_layers):
        x = x @ params[2 * index].T + params[2 * index + 1]
        if index < n_layers - 1 or relu_last:
            x = th.relu(x)
    return x


def polyak(online: Params, target: Params, tau: float) -> None:
    with th.no_grad():
        for p, p_target in zip(online, target, strict=True):
            p_target.copy_(tau * p + (1.0 - tau) * p_target)


def adam_step(optimizer: th.optim.Optimizer, params: Params, grads: tuple[th.Tensor, ...] | Params) -> None:
    for p, g in zip(params, grads, strict=True):
        p.grad = g.detach().clone()
    optimizer.step()


def max_difference(library: dict[str, Params], reference: dict[str, Params]) -> float:
    r""":math:`\max |p_{lib} - p_{ref}| / \max(1, \max|p_{ref}|)` over all tensors."""
    assert library.keys() == reference.keys()
    worst = 0.0
    for name in library:
        assert len(library[name]) == len(reference[name]), name
        for p_lib, p_ref in zip(library[name], reference[name], strict=True):
            assert p_lib.shape == p_ref.shape and p_lib.dtype == p_ref.dtype == th.float64, name
            scale = max(1.0, p_ref.abs().max().item())
            worst = max(worst, (p_lib.detach() - p_ref.detach()).abs().max().item() / scale)
    return worst


def snapshot(tensors: dict[str, Params]) -> dict[str, Params]:
    return {name: [p.detach().clone() for p in params] for name, params in tensors.items()}


def check_agreement(
    library: dict[str, Params],
    initial: dict[str, Params],
    reference: Callable[[str | None], dict[str, Params]],
    mutation: str,
):
    """
    Every trained tensor has moved from ``initial``; the exact reference agrees with it within the tolerance; the one
    with ``mutation`` does not.
    """
    for name in library:
        moved = max_difference({name: library[name]}, {name: initial[name]})
        assert moved > DETECTABLE, f"{name} did not train: the comparison would prove nothing"
    difference = max_difference(library, reference(None))
    print(f"max scaled difference {difference:.3e} (tolerance {TOLERANCE:.0e})")
    assert difference <= TOLERANCE
    changed = max_difference(library, reference(mutation))
    print(f"with the reference changed ({mutation}): {changed:.3e}")
    assert changed > DETECTABLE, f"the test cannot see a change of the maths ({mutation}): {changed:.3e}"


# SACV1 ------------------------------------------------------------------------------------------------------------

SAC_CALLS = 60
SAC_GRADIENT_STEPS = 2
SAC_TARGET_UPDATE_INTERVAL = 2


def sacv1_model(env_id: str, ent_coef: str | float):
    model = SACV1(
        "MlpPolicy",
        env_id,
        learning_rate=LR,
        buffer_size=1_000,
        batch_size=BATCH_SIZE,
        tau=TAU,
        gamma=GAMMA,
        gradient_steps=SAC_GRADIENT_STEPS,
        target_update_interval=SAC_TARGET_UPDATE_INTERVAL,
        ent_coef=ent_coef,
        policy_kwargs={"net_arch": NET_ARCH},
        seed=SEED,
        device="cpu",
    )
    to_float64(model)
    return model


def sacv1_tensors(model) -> dict[str, Params]:
    if hasattr(model.actor, "latent_pi"):
        actor = linear_params(model.actor.latent_pi) + linear_params(model.actor.mu) + linear_params(model.actor.log_std)
    else:
        actor = linear_params(model.actor.logits_net)
    tensors = {
        "actor": actor,
        "critics": [p for q_net in model.critic.q_networks for p in linear_params(q_net)],
        "value": linear_params(model.value_net.v_net),
        "value_target": linear_params(model.value_target.v_net),
    }
    if model.log_ent_coef is not None:
        tensors["log_alpha"] = [model.log_ent_coef]
    return tensors


class SACV1Reference:
    r"""
    SAC v1 (Haarnoja et al. 2018) in plain PyTorch, on copies of a model's initial parameters.

    Per gradient step, all at the current parameters, with :math:`\tilde a \sim \pi_\phi(\cdot|s)` fresh:
    :math:`J_V = \tfrac12(V_\psi(s) - [\min_i Q_i(s,\tilde a) - \alpha\log\pi(\tilde a|s)])^2` (eq. 5),
    :math:`J_Q = \sum_i \tfrac12(Q_i(s,a) - [r + \gamma(1-d)V_{\bar\psi}(s')])^2` (eqs. 7-8),
    :math:`J_\pi = \alpha\log\pi(\tilde a|s) - \min_i Q_i(s,\tilde a)` (eq. 12, reparameterised),
    :math:`J(\log\alpha) = -\log\alpha\,(\log\pi(\tilde a|s) + \bar{\mathcal H})` (SAC v2, eq. 18); then
    :math:`\bar\psi \leftarrow \tau\psi + (1-\tau)\bar\psi` every ``target_update_interval`` gradient steps. Discrete
    actions (Christodoulou 2019) replace the sample by exact sums over actions.

    ``mutation``: ``"gamma"`` (discount times 0.99), ``"online_value"`` (bootstrap on :math:`V_\psi`, not
    :math:`V_{\bar\psi}`), ``"entropy_sign"`` (:math:`+\alpha\log\pi` in the value target).
    """

    def __init__(self, model, mutation: str | None = None):
        self.discrete = not hasattr(model.actor, "latent_pi")
        self.mutation = mutation
        if self.discrete:
            self.actor = clone(linear_params(model.actor.logits_net))
        else:
            self.latent = clone(linear_params(model.actor.latent_pi))
            self.mu = clone(linear_params(model.actor.mu))
            self.log_std = clone(linear_params(model.actor.log_std))
            self.actor = self.latent + self.mu + self.log_std
        self.critics = [clone(linear_params(q_net)) for q_net in model.critic.q_networks]
        self.value = clone(linear_params(model.value_net.v_net))
        self.value_target = clone(linear_params(model.value_target.v_net))
        self.learned_alpha = model.log_ent_coef is not None
        if self.learned_alpha:
            self.log_alpha = model.log_ent_coef.detach().clone().requires_grad_(True)
            self.alpha_optimizer = th.optim.Adam([self.log_alpha], lr=LR)
        else:
            # the value the user asked for, as the model holds it (0.1 rounded to float32)
            self.fixed_alpha = model.ent_coef_tensor.detach().clone()
        self.target_entropy = float(model.target_entropy)
        self.actor_optimizer = th.optim.Adam(self.actor, lr=LR)
        self.critic_optimizer = th.optim.Adam([p for q in self.critics for p in q], lr=LR)
        self.value_optimizer = th.optim.Adam(self.value, lr=LR)
        self.n_steps = 0

    def q_values(self, obs: th.Tensor, actions: th.Tensor) -> list[th.Tensor]:
        r"""Continuous: :math:`Q_i(s, a)`, (B, 1) each; discrete: :math:`Q_i(s, \cdot)`, (B, n_actions) each."""
        inputs = obs if self.discrete else th.cat([obs, actions], dim=1)
        return [mlp(q, inputs) for q in self.critics]

    def step(self, batch: ReplayBufferSamples) -> None:
        gamma = GAMMA * 0.99 if self.mutation == "gamma" else GAMMA
        obs = batch.observations
        alpha = self.log_alpha.detach().exp() if self.learned_alpha else self.fixed_alpha
        sign = -1.0 if self.mutation == "entropy_sign" else 1.0

        if self.discrete:
            log_pi = th.log_softmax(mlp(self.actor, obs), dim=1)
            pi = log_pi.exp()
            entropy = -(pi * log_pi).sum(dim=1)
            min_q_all = th.minimum(*self.q_values(obs, None)).detach()
            value_target = (pi * (min_q_all - sign * alpha * log_pi)).sum(dim=1, keepdim=True).detach()
            actor_loss = (pi * (alpha * log_pi - min_q_all)).sum(dim=1).mean()
            q_taken = [q.gather(1, batch.actions) for q in self.q_values(obs, None)]
        else:
            latent = mlp(self.latent, obs, relu_last=True)
            mean = mlp(self.mu, latent)
            std = mlp(self.log_std, latent).clamp(-20.0, 2.0).exp()
            gaussian = th.distributions.Normal(mean, std)
            u = gaussian.rsample()
            action = th.tanh(u)
            # change of variables a = tanh(u) (eq. 21), with SB3's 1e-6 inside the log
            log_pi = (gaussian.log_prob(u) - th.log(1.0 - action.pow(2) + 1e-6)).sum(dim=1, keepdim=True)
            entropy = -log_pi
            min_q_pi = th.minimum(*self.q_values(obs, action))
            value_target = (min_q_pi - sign * alpha * log_pi).detach()
            actor_loss = (alpha * log_pi - min_q_pi).mean()
            q_taken = self.q_values(obs, batch.actions)

        bootstrap = self.value if self.mutation == "online_value" else self.value_target
        q_target = (batch.rewards + gamma * (1.0 - batch.dones) * mlp(bootstrap, batch.next_observations)).detach()
        value_loss = 0.5 * ((mlp(self.value, obs) - value_target) ** 2).mean()
        critic_loss = sum(0.5 * ((q - q_target) ** 2).mean() for q in q_taken)

        # each network the gradient of its own loss only (the policy's does not reach the critics' weights)
        critic_params = [p for q in self.critics for p in q]
        value_grads = th.autograd.grad(value_loss, self.value)
        critic_grads = th.autograd.grad(critic_loss, critic_params)
        actor_grads = th.autograd.grad(actor_loss, self.actor)
        if self.learned_alpha:
            alpha_loss = -(self.log_alpha * (-entropy.detach() + self.target_entropy)).mean()
            (alpha_grad,) = th.autograd.grad(alpha_loss, self.log_alpha)
            adam_step(self.alpha_optimizer, [self.log_alpha], [alpha_grad])
        adam_step(self.value_optimizer, self.value, value_grads)
        adam_step(self.critic_optimizer, critic_params, critic_grads)
        adam_step(self.actor_optimizer, self.actor, actor_grads)

        if self.n_steps % SAC_TARGET_UPDATE_INTERVAL == 0:
            polyak(self.value, self.value_target, TAU)
        self.n_steps += 1

    def run(self, batches: list[ReplayBufferSamples]) -> dict[str, Params]:
        th.manual_seed(SEED)
        for batch in batches:
            self.step(batch)
        tensors = {
            "actor": self.actor,
            "critics": [p for q in self.critics for p in q],
            "value": self.value,
            "value_target": self.value_target,
        }
        if self.learned_alpha:
            tensors["log_alpha"] = [self.log_alpha]
        return tensors


@pytest.mark.parametrize(
    ("env_id", "ent_coef", "mutation"),
    [
        ("Pendulum-v1", "auto", "gamma"),
        ("Pendulum-v1", 0.1, "online_value"),
        ("CartPole-v1", "auto", "entropy_sign"),
        ("CartPole-v1", 0.1, "gamma"),
    ],
)
def test_sacv1_train_is_the_papers_update(monkeypatch, env_id, ent_coef, mutation):
    model = sacv1_model(env_id, ent_coef)
    discrete = env_id == "CartPole-v1"
    obs_dim = model.observation_space.shape[0]
    batches = make_batches(
        SAC_CALLS * SAC_GRADIENT_STEPS,
        obs_dim,
        action_dim=None if discrete else model.action_space.shape[0],
        n_actions=int(model.action_space.n) if discrete else None,
    )
    references = {key: SACV1Reference(model, key) for key in (None, mutation)}
    initial = snapshot(sacv1_tensors(model))
    run_library(model, monkeypatch, batches, SAC_CALLS, SAC_GRADIENT_STEPS)
    check_agreement(sacv1_tensors(model), initial, lambda key: references[key].run(batches), mutation)


# SoftQLearning, discrete actions ----------------------------------------------------------------------------------

SQL_CALLS = 75
SQL_GRADIENT_STEPS = 2
SQL_TARGET_UPDATE_INTERVAL = 2
MAX_GRAD_NORM = 1.0


def discrete_sql_model(loss: str, ent_coef: str | float, munchausen_coef: float):
    model = SoftQLearning(
        "MlpPolicy",
        "CartPole-v1",
        learning_rate=LR,
        buffer_size=1_000,
        batch_size=BATCH_SIZE,
        tau=TAU * 2,
        gamma=GAMMA,
        gradient_steps=SQL_GRADIENT_STEPS,
        target_update_interval=SQL_TARGET_UPDATE_INTERVAL,
        ent_coef=ent_coef,
        loss=loss,
        max_grad_norm=MAX_GRAD_NORM,
        munchausen_coef=munchausen_coef,
        munchausen_clip=-1.0,
        policy_kwargs={"net_arch": NET_ARCH},
        seed=SEED,
        device="cpu",
    )
    to_float64(model)
    return model


class DiscreteSQLReference:
    r"""
    Discrete soft Q-learning (Haarnoja et al. 2017, eq. 10 with the exact soft value of a finite action set):
    :math:`t = r + \gamma(1-d)\,\alpha\log\sum_{a'}\exp(\bar Q(s',a')/\alpha)`, plus, for Munchausen soft Q-learning
    (Vieillard et al. 2020, eq. 2), :math:`\alpha_m\,\mathrm{clip}(\alpha\log\bar\pi(a|s), l_0, 0)` with
    :math:`\bar\pi = \mathrm{softmax}(\bar Q(s,\cdot)/\alpha)`; regression of :math:`Q(s,a)` on it (Huber, or the
    squared error, without the paper's 1/2: the library's choice, see the report), the gradient's norm clipped, Adam;
    a learned :math:`\alpha` by dual descent on :math:`\log\alpha\,(\mathcal H(\pi(\cdot|s)) - \bar{\mathcal H})` with
    the entropy of :math:`\mathrm{softmax}(Q(s,\cdot)/\alpha)` before the step; the target network Polyak-averaged
    every ``target_update_interval`` environment steps (``train()`` calls here, one environment step each).

    ``mutation``: ``"gamma"`` (discount times 0.99), ``"half"`` (a factor 1/2 on the squared error),
    ``"no_munchausen"`` (without the bonus), ``"online_target"`` (bootstrap on the online network).
    """

    def __init__(self, model, mutation: str | None = None):
        self.mutation = mutation
        self.q_net = clone(linear_params(model.q_net))
        self.q_target = clone(linear_params(model.q_net_target))
        self.optimizer = th.optim.Adam(self.q_net, lr=LR)
        self.learned_alpha = model.log_ent_coef is not None
        if self.learned_alpha:
            self.log_alpha = model.log_ent_coef.detach().clone().requires_grad_(True)
            self.alpha_optimizer = th.optim.Adam([self.log_alpha], lr=LR)
        else:
            self.fixed_alpha = model.ent_coef_tensor.item()
        self.target_entropy = float(model.target_entropy)
        self.loss = model.loss
        self.munchausen_coef = model.munchausen_coef
        self.munchausen_clip = model.munchausen_clip
        self.tau = model.tau

    def step(self, batch: ReplayBufferSamples) -> None:
        gamma = GAMMA * 0.99 if self.mutation == "gamma" else GAMMA
        alpha = self.log_alpha.detach().exp().item() if self.learned_alpha else self.fixed_alpha
        bootstrap = self.q_net if self.mutation == "online_target" else self.q_target
        with th.no_grad():
            next_value = alpha * th.logsumexp(mlp(bootstrap, batch.next_observations) / alpha, dim=1, keepdim=True)
            target = batch.rewards + gamma * (1.0 - batch.dones) * next_value
            if self.munchausen_coef > 0 and self.mutation != "no_munchausen":
                target_log_pi = th.log_softmax(mlp(self.q_target, batch.observations) / alpha, dim=1)
                scaled = alpha * target_log_pi.gather(1, batch.actions)
                target = target + self.munchausen_coef * scaled.clamp(self.munchausen_clip, 0.0)

        all_q = mlp(self.q_net, batch.observations)
        error = all_q.gather(1, batch.actions) - target
        if self.loss == "huber":
            loss = th.where(error.abs() < 1.0, 0.5 * error**2, error.abs() - 0.5).mean()
        else:
            loss = (error**2).mean() * (0.5 if self.mutation == "half" else 1.0)
        grads = th.autograd.grad(loss, self.q_net)
        norm = th.sqrt(sum((g**2).sum() for g in grads))
        # clip_grad_norm_'s rule: scale by max_norm / (norm + 1e-6) when that is below 1
        scale = MAX_GRAD_NORM / (norm + 1e-6)
        if scale < 1.0:
            grads = [g * scale for g in grads]
        adam_step(self.optimizer, self.q_net, grads)

        if self.learned_alpha:
            log_pi = th.log_softmax(all_q.detach() / alpha, dim=1)
            entropy = -(log_pi.exp() * log_pi).sum(dim=1)
            # d/d log(alpha) of log(alpha) (H - H_target)
            adam_step(self.alpha_optimizer, [self.log_alpha], [(entropy.mean() - self.target_entropy).reshape(1)])

    def run(self, batches: list[ReplayBufferSamples]) -> dict[str, Params]:
        for call in range(SQL_CALLS):
            for step in range(SQL_GRADIENT_STEPS):
                self.step(batches[call * SQL_GRADIENT_STEPS + step])
            if (call + 1) % SQL_TARGET_UPDATE_INTERVAL == 0:
                polyak(self.q_net, self.q_target, self.tau)
        tensors = {"q_net": self.q_net, "q_net_target": self.q_target}
        if self.learned_alpha:
            tensors["log_alpha"] = [self.log_alpha]
        return tensors


@pytest.mark.parametrize(
    ("loss", "ent_coef", "munchausen_coef", "mutation"),
    [
        ("huber", "auto_0.1", 0.0, "gamma"),
        ("mse", 0.1, 0.0, "online_target"),
        ("mse", "auto_0.1", 0.0, "half"),
        ("huber", "auto_0.1", 0.9, "no_munchausen"),
        ("mse", 0.1, 0.9, "no_munchausen"),
    ],
)
def test_discrete_soft_q_learning_train_is_the_papers_update(monkeypatch, loss, ent_coef, munchausen_coef, mutation):
    model = discrete_sql_model(loss, ent_coef, munchausen_coef)
    batches = make_batches(SQL_CALLS * SQL_GRADIENT_STEPS, 4, n_actions=2)
    references = {key: DiscreteSQLReference(model, key) for key in (None, mutation)}
    library = {"q_net": linear_params(model.q_net), "q_net_target": linear_params(model.q_net_target)}
    if model.log_ent_coef is not None:
        library["log_alpha"] = [model.log_ent_coef]
    initial = snapshot(library)
    # an environment step follows each train() call (train_freq=1): _on_step updates the target network
    run_library(model, monkeypatch, batches, SQL_CALLS, SQL_GRADIENT_STEPS, after_call=model._on_step)
    check_agreement(library, initial, lambda key: references[key].run(batches), mutation)


# SoftQLearning, continuous actions --------------------------------------------------------------------------------

CSQL_CALLS = 50
CSQL_GRADIENT_STEPS = 2
VALUE_N_PARTICLES = 16
SVGD_N_PARTICLES = 16
SVGD_UPDATE_RATIO = 0.5
CSQL_ALPHA = 0.1


def continuous_sql_model(n_critics: int):
    model = SoftQLearning(
        "MlpPolicy",
        "Pendulum-v1",
        learning_rate=LR,
        buffer_size=1_000,
        batch_size=BATCH_SIZE,
        tau=TAU,
        gamma=GAMMA,
        gradient_steps=CSQL_GRADIENT_STEPS,
        target_update_interval=SQL_TARGET_UPDATE_INTERVAL,
        ent_coef=CSQL_ALPHA,
        value_n_particles=VALUE_N_PARTICLES,
        svgd_n_particles=SVGD_N_PARTICLES,
        svgd_update_ratio=SVGD_UPDATE_RATIO,
        policy_kwargs={"net_arch": NET_ARCH, "n_critics": n_critics},
        seed=SEED,
        device="cpu",
    )
    to_float64(model)
    return model


class ContinuousSQLReference:
    r"""
    Continuous soft Q-learning (Haarnoja et al. 2017) in plain PyTorch.

    Soft Q update: :math:`t = r + \gamma(1-d)\bar V(s')` with the importance-sampled soft value (eq. 10) under the
    uniform proposal :math:`q = 2^{-D}` on :math:`[-1, 1]^D`,
    :math:`\bar V(s') = \alpha\log\big(\tfrac1M\sum_j\exp(\min_i\bar Q_i(s',a_j)/\alpha)/q(a_j)\big)`, regressed by
    :math:`\sum_i\tfrac12(Q_i(s,a) - t)^2` (eq. 11).

    Sampler (eq. 13): :math:`a = \tanh(f_\phi(s,\xi))`, :math:`K` particles per state, the first
    :math:`K - K_u` held fixed (:math:`x_j`), the last :math:`K_u` moved (:math:`y_i`) along the Stein direction
    :math:`\phi(y_i) = \tfrac1{K-K_u}\sum_j[k(x_j,y_i)\nabla_{x}\log p(x_j) + \nabla_{x_j}k(x_j,y_i)]` with
    :math:`\log p(a) = \min_i Q_i(s,a)/\alpha + \sum_d\log(1 - a_d^2)` (the tanh correction, with SB3's and
    softlearning's 1e-6) and the RBF kernel :math:`k = \exp(-\|x-y\|^2/h)`, :math:`h` the median (torch's: the lower
    middle value) of the squared distances over :math:`\log(K - K_u)`, at least 1e-3. The sampler's gradient is
    :math:`-\mathbb E[\phi(y_i)\,\partial f_\phi/\partial\phi]` (a vector-Jacobian product, not a surrogate loss).
    Both losses are evaluated at the same parameters, then each network takes its Adam step; the target critics are
    Polyak-averaged every ``target_update_interval`` environment steps (``train()`` calls here).

    ``mutation``: ``"gamma"`` (discount times 0.99), ``"no_tanh_correction"`` (:math:`\log p = Q/\alpha`),
    ``"no_repulsion"`` (the Stein direction without :math:`\nabla k`).
    """

    def __init__(self, model, mutation: str | None = None):
        self.mutation = mutation
        self.sampler = clone(linear_params(model.actor.sampler_net))
        self.critics = [clone(linear_params(q)) for q in model.critic.q_networks]
        self.critic_targets = [clone(linear_params(q)) for q in model.critic_target.q_networks]
        self.alpha = model.temperature.item()
        self.action_dim = model.action_space.shape[0]
        self.sampler_optimizer = th.optim.Adam(self.sampler, lr=LR)
        self.critic_optimizer = th.optim.Adam([p for q in self.critics for p in q], lr=LR)

    @staticmethod
    def min_q(critics: list[Params], obs: th.Tensor, actions: th.Tensor) -> th.Tensor:
        r""":math:`\min_i Q_i(s, a_k)` for actions (B, K, D): shape (B, K)."""
        n_particles = actions.shape[1]
        inputs = th.cat([obs[:, None, :].expand(-1, n_particles, -1), actions], dim=-1)
        return th.stack([mlp(q, inputs).squeeze(-1) for q in critics]).min(dim=0).values

    def step(self, batch: ReplayBufferSamples) -> None:
        gamma = GAMMA * 0.99 if self.mutation == "gamma" else GAMMA
        alpha, dim = self.alpha, self.action_dim
        obs = batch.observations

        # drawn first: the uniform proposal's M actions per next state (float32, as the library's)
        uniform = (2.0 * th.rand(BATCH_SIZE, VALUE_N_PARTICLES, dim) - 1.0).double()
        with th.no_grad():
            q_next = self.min_q(self.critic_targets, batch.next_observations, uniform)
            # log((1/M) sum_j exp(Q_j / alpha) / 2^-D)
            log_mean = th.logsumexp(q_next / alpha, dim=1, keepdim=True) - math.log(VALUE_N_PARTICLES)
            next_value = alpha * (log_mean + dim * math.log(2.0))
            target = batch.rewards + gamma * (1.0 - batch.dones) * next_value
        critic_params = [p for q in self.critics for p in q]
        q_sa = [mlp(q, th.cat([obs, batch.actions], dim=1)) for q in self.critics]
        critic_loss = sum(0.5 * ((q - target) ** 2).mean() for q in q_sa)
        critic_grads = th.autograd.grad(critic_loss, critic_params)

        # then the sampler's noise xi, K particles per state (float32, as the library's)
        noise = th.randn(BATCH_SIZE, SVGD_N_PARTICLES, dim).double()
        particles = th.tanh(mlp(self.sampler, th.cat([obs[:, None, :].expand(-1, SVGD_N_PARTICLES, -1), noise], dim=-1)))
        n_moved = round(SVGD_N_PARTICLES * SVGD_UPDATE_RATIO)
        n_fixed = SVGD_N_PARTICLES - n_moved
        fixed = particles[:, :n_fixed].detach().requires_grad_(True)
        moved = particles[:, n_fixed:]
        log_p = self.min_q([[p.detach() for p in q] for q in self.critics], obs, fixed) / alpha
        if self.mutation != "no_tanh_correction":
            log_p = log_p + th.log(1.0 - fixed**2 + 1e-6).sum(dim=-1)
        (scores,) = th.autograd.grad(log_p.sum(), fixed)
        x, y = fixed.detach(), moved.detach()
        diff = x[:, :, None, :] - y[:, None, :, :]  # (B, K_fixed, K_moved, D)
        sq_dist = (diff**2).sum(dim=-1)
        bandwidth = (sq_dist.flatten(1).median(dim=1).values / math.log(n_fixed)).clamp_min(1e-3)[:, None, None]
        kernel = th.exp(-sq_dist / bandwidth)
        grad_kernel = -2.0 * diff / bandwidth[..., None] * kernel[..., None]
        if self.mutation == "no_repulsion":
            grad_kernel = th.zeros_like(grad_kernel)
        direction = (kernel[..., None] * scores[:, :, None, :] + grad_kernel).mean(dim=1)  # (B, K_moved, D)
        # ascend E[<f_phi(s, xi_i), phi(y_i)>] over the moved particles
        sampler_grads = th.autograd.grad(moved, self.sampler, grad_outputs=-direction / (BATCH_SIZE * n_moved))

        adam_step(self.critic_optimizer, critic_params, critic_grads)
        adam_step(self.sampler_optimizer, self.sampler, sampler_grads)

    def run(self, batches: list[ReplayBufferSamples]) -> dict[str, Params]:
        th.manual_seed(SEED)
        for call in range(CSQL_CALLS):
            for step in range(CSQL_GRADIENT_STEPS):
                self.step(batches[call * CSQL_GRADIENT_STEPS + step])
            if (call + 1) % SQL_TARGET_UPDATE_INTERVAL == 0:
                for q, q_target in zip(self.critics, self.critic_targets, strict=True):
                    polyak(q, q_target, TAU)
        return {
            "sampler": self.sampler,
            "critics": [p for q in self.critics for p in q],
            "critic_targets": [p for q in self.critic_targets for p in q],
        }


@pytest.mark.parametrize(("n_critics", "mutation"), [(1, "gamma"), (2, "no_tanh_correction"), (1, "no_repulsion")])
def test_continuous_soft_q_learning_train_is_the_papers_update(monkeypatch, n_critics, mutation):
    model = continuous_sql_model(n_critics)
    batches = make_batches(CSQL_CALLS * CSQL_GRADIENT_STEPS, 3, action_dim=1)
    references = {key: ContinuousSQLReference(model, key) for key in (None, mutation)}
    library = {
        "sampler": linear_params(model.actor.sampler_net),
        "critics": [p for q in model.critic.q_networks for p in linear_params(q)],
        "critic_targets": [p for q in model.critic_target.q_networks for p in linear_params(q)],
    }
    initial = snapshot(library)
    run_library(model, monkeypatch, batches, CSQL_CALLS, CSQL_GRADIENT_STEPS, after_call=model._on_step)
    check_agreement(library, initial, lambda key: references[key].run(batches), mutation)
