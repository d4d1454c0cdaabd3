"""Soft Q-Learning with continuous actions, as in the paper: importance-sampled soft value, SVGD sampler."""

import math
from collections import defaultdict
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy, ContinuousCritic
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.type_aliases import PyTorchObs
from torch import nn

from sb3_maxent.common.losses import critic_loss_fn, soft_q_target
from sb3_maxent.common.torch_utils import frozen_parameters, host_values
from sb3_maxent.common.validation import check_finite_losses
from sb3_maxent.sql.policies import (
    ContinuousCnnPolicy,
    ContinuousMlpPolicy,
    ContinuousMultiInputPolicy,
    ContinuousSoftQPolicy,
    SVGDSampler,
)
from sb3_maxent.sql.sql import DISCRETE_ONLY, SoftQLearning
from sb3_maxent.sql.svgd import stein_direction

# A fixed temperature (the SVGD sampler has no entropy to learn it from), in reward units: the inverse of the
# paper's reward scale (zoo_configs/sql.yml sets it per task)
DEFAULT_ENT_COEF = 0.01


def importance_sampled_soft_value(q_values: th.Tensor, ent_coef: float, action_dim: int) -> th.Tensor:
    r"""
    Soft value of a continuous action box by importance sampling with the uniform proposal
    :math:`q(a) = 2^{-D}` over :math:`[-1, 1]^D` (Haarnoja et al. 2017, eq. 10):

    :math:`V(s) \approx \alpha\,[\mathrm{logsumexp}_i(Q(s, a_i)/\alpha) - \log M + D \log 2]`, :math:`a_i \sim q`.

    :param q_values: :math:`Q(s, a_i)`, shape (batch_size, M)
    :param ent_coef: :math:`\alpha > 0`
    :param action_dim: :math:`D`
    :return: shape (batch_size, 1)
    """
    n_samples = q_values.shape[1]
    log_mean_exp = th.logsumexp(q_values / ent_coef, dim=1, keepdim=True) - math.log(n_samples)
    return ent_coef * (log_mean_exp + action_dim * math.log(2.0))


def check_particle_arguments(value_n_particles: int, svgd_n_particles: int, svgd_update_ratio: float) -> None:
    """:raises ValueError: naming the first particle argument that is invalid"""
    if value_n_particles < 1 or svgd_n_particles < 2:
        raise ValueError(
            f"value_n_particles must be >= 1 and svgd_n_particles >= 2, got {value_n_particles} and {svgd_n_particles}"
        )
    if not math.isfinite(svgd_update_ratio):
        raise ValueError(
            f"svgd_update_ratio (the fraction of the particles moved by the Stein direction) must be a finite number "
            f"in (0, 1), got {svgd_update_ratio}"
        )
    n_updated = round(svgd_n_particles * svgd_update_ratio)
    if not 0 < n_updated < svgd_n_particles:
        raise ValueError(
            f"svgd_update_ratio={svgd_update_ratio} must leave at least one fixed and one updated particle "
            f"out of svgd_n_particles={svgd_n_particles}"
        )


def repeat_observations(obs: PyTorchObs, repeats: int) -> PyTorchObs:
    """Each observation ``repeats`` times in a row (batch_size * repeats, ...), for particles per state."""
    if isinstance(obs, dict):
        return {key: value.repeat_interleave(repeats, dim=0) for key, value in obs.items()}
    return obs.repeat_interleave(repeats, dim=0)


class ContinuousSoftQLearning(SoftQLearning, action_space=spaces.Box, refused_arguments=DISCRETE_ONLY):
    r"""
    Soft Q-Learning with continuous (``Box``) actions, as in the paper: soft Q networks (``n_critics``, min over
    them; 1 by default as in the paper) with a target network, the soft value of :math:`s'` by importance sampling
    with ``value_n_particles`` uniform actions, and an amortised sampler :math:`a = \tanh(f_\phi(s, \xi))` trained
    by SVGD with ``svgd_n_particles`` particles per state, ``svgd_update_ratio`` of which are moved by the Stein
    direction computed from the others (the target log-density includes the tanh correction
    :math:`\sum_d \log(1 - a_d^2)`, as in softlearning). Built by ``SoftQLearning(policy, env)`` for ``Box`` actions;
    its arguments are :class:`~sb3_maxent.SoftQLearning`'s, those for ``Discrete`` actions refused.

    ``ent_coef`` is a fixed float (the inverse of the paper's reward scale), 0.01 by default: the sampler has no
    tractable :math:`\log\pi`, so ``"auto"`` is refused.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": ContinuousMlpPolicy,
        "CnnPolicy": ContinuousCnnPolicy,
        "MultiInputPolicy": ContinuousMultiInputPolicy,
    }
    policy_base: ClassVar[type[ContinuousSoftQPolicy]] = ContinuousSoftQPolicy
    default_ent_coef: ClassVar[str | float] = DEFAULT_ENT_COEF
    policy: ContinuousSoftQPolicy
    actor: SVGDSampler
    critic: ContinuousCritic
    critic_target: ContinuousCritic
    value_n_particles: int
    svgd_n_particles: int
    svgd_update_ratio: float
    # MaxEntAlgorithm (common/protocol.py)
    policy_entropy_unavailable: ClassVar[str | None] = (
        "continuous SoftQLearning samples with an SVGD sampler whose log-probability (and entropy) has no closed form: "
        "EntropyTargetCallback cannot drive its temperature; set ent_coef directly"
    )

    @classmethod
    def _check_implementation_arguments(cls, arguments: Mapping[str, Any]) -> None:
        check_particle_arguments(arguments["value_n_particles"], arguments["svgd_n_particles"], arguments["svgd_update_ratio"])

    def _check_temperature(self) -> None:
        if self.temperature.learnable:
            raise ValueError(
                "ent_coef='auto' needs the policy's entropy, which the SVGD sampler of continuous SoftQLearning "
                "does not have in closed form: use a float ent_coef (the inverse reward scale)"
            )
        if self.temperature.item() <= 0.0:
            raise ValueError("continuous SoftQLearning needs ent_coef > 0 (the soft value divides by it)")

    def policy_entropy(self, observations: PyTorchObs) -> th.Tensor:
        """
        :raises ValueError: always: the SVGD sampler has no tractable entropy (``policy_entropy_unavailable``)
        """
        raise ValueError(self.policy_entropy_unavailable)

    def _create_aliases(self) -> None:
        self.actor = self.policy.actor
        self.critic = self.policy.critic
        self.critic_target = self.policy.critic_target

    def _online_and_target(self) -> tuple[nn.Module, nn.Module]:
        return self.critic, self.critic_target

    def _optimizer_names(self) -> list[str]:
        return ["actor.optimizer", "critic.optimizer"]

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "actor", "critic", "critic_target"]

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate([self.actor.optimizer, self.critic.optimizer])
        ent_coef = self.temperature.item()
        action_dim = get_action_dim(self.action_space)
        logs: dict[str, list[float]] = defaultdict(list)
        for gradient_step in range(gradient_steps):
            replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma

            with th.no_grad():
                # V_bar(s') ~ alpha [logsumexp_i Q_bar(s', a_i)/alpha - log M + log|A|], a_i ~ U([-1, 1]^D)
                next_values = importance_sampled_soft_value(
                    self._min_q_of_particles(
                        self.critic_target, replay_data.next_observations, self._uniform_actions(batch_size)
                    ),
                    ent_coef,
                    action_dim,
                )
                # Q^(s, a) = r + gamma (1 - d) V_bar(s')
                target_q_values = soft_q_target(replay_data.rewards, replay_data.dones, discounts, next_values)

            q_values = self.critic(replay_data.observations, replay_data.actions)
            # J_Q = sum_i 1/2 (Q_i(s, a) - t)^2
            critic_loss = critic_loss_fn(q_values, target_q_values)
            sampler_loss = self._svgd_surrogate_loss(replay_data.observations, ent_coef)

            logged = host_values({"critic_loss": critic_loss, "sampler_loss": sampler_loss, "q_values": q_values[0].mean()})
            check_finite_losses(
                {"critic_loss": logged["critic_loss"], "sampler_loss": logged["sampler_loss"]},
                n_updates=self._n_updates + gradient_step,
                num_timesteps=self.num_timesteps,
                replay_data=replay_data,
            )
            self.critic.optimizer.zero_grad()
            critic_loss.backward()
            self.critic.optimizer.step()
            self.actor.optimizer.zero_grad()
            sampler_loss.backward()
            self.actor.optimizer.step()
            for key, value in logged.items():
                logs[key].append(value)

        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/ent_coef", ent_coef)
        for key, values in logs.items():
            self.logger.record(f"train/{key}", np.mean(values))

    def _uniform_actions(self, batch_size: int) -> th.Tensor:
        """``value_n_particles`` actions per state, uniform over the squashed box [-1, 1]^D."""
        action_dim = get_action_dim(self.action_space)
        return 2.0 * th.rand(batch_size, self.value_n_particles, action_dim, device=self.device) - 1.0

    @staticmethod
    def _min_q_of_particles(critic: ContinuousCritic, obs: PyTorchObs, actions: th.Tensor) -> th.Tensor:
        r""":math:`\min_i Q_i(s, a_k)` for K actions per state: actions (B, K, D) -> (B, K)."""
        batch_size, n_particles, action_dim = actions.shape
        q_values = critic(repeat_observations(obs, n_particles), actions.reshape(batch_size * n_particles, action_dim))
        return th.cat(q_values, dim=1).min(dim=1).values.reshape(batch_size, n_particles)

    def _svgd_surrogate_loss(self, obs: PyTorchObs, ent_coef: float) -> th.Tensor:
        r"""
        Surrogate whose gradient moves the sampler's particles along the Stein direction (Haarnoja et al. 2017,
        eq. 13): :math:`-\sum \langle f_\phi(s, \xi_i), \mathrm{sg}[\phi(a_i)] \rangle`, with the target
        :math:`\log p(a) = Q(s,a)/\alpha + \sum_d \log(1 - a_d^2)` scored at the fixed particles.
        """
        n_updated = round(self.svgd_n_particles * self.svgd_update_ratio)
        actions = self.actor.sample(obs, n_particles=self.svgd_n_particles)
        fixed = actions[:, : self.svgd_n_particles - n_updated].detach().requires_grad_(True)
        updated = actions[:, self.svgd_n_particles - n_updated :]
        with frozen_parameters(self.critic):
            log_density = self._min_q_of_particles(self.critic, obs, fixed) / ent_coef
            log_density = log_density + th.log(1.0 - fixed.pow(2) + 1e-6).sum(dim=-1)
            (scores,) = th.autograd.grad(log_density.sum(), fixed)
        direction = stein_direction(fixed.detach(), updated.detach(), scores.detach())
        return -(updated * direction).sum(dim=-1).mean()
