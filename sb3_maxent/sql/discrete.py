"""Soft Q-Learning with discrete actions: DQN's algorithm on the soft Bellman equation, with an exact soft value."""

import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import PyTorchObs, ReplayBufferSamples
from stable_baselines3.dqn.policies import QNetwork
from torch import nn

from sb3_maxent.common import boltzmann
from sb3_maxent.common.ent_coef import DQN_FINAL_EPSILON, epsilon_greedy_entropy, epsilon_greedy_target_schedule
from sb3_maxent.common.losses import critic_loss_fn, soft_q_target
from sb3_maxent.common.torch_utils import host_values
from sb3_maxent.common.validation import LossName, check_finite_losses, check_loss_name
from sb3_maxent.sql.policies import DiscreteCnnPolicy, DiscreteMlpPolicy, DiscreteMultiInputPolicy, DiscreteSoftQPolicy
from sb3_maxent.sql.sql import CONTINUOUS_ONLY, SoftQLearning

# Learned from 0.1 (in reward units) towards the entropy of DQN's final epsilon-greedy policy: from 1 (SAC's "auto")
# the entropy bonus of up to log|A| per step outweighs unit rewards while alpha is high, and a fixed small alpha (0.01
# in version 0.1) is practically greedy after a few hundred steps (measurements: docs/modules/sql.md, "Defaults")
DEFAULT_ENT_COEF = "auto_0.1"


def check_munchausen_parameters(munchausen_coef: float, munchausen_clip: float) -> None:
    r"""
    :raises ValueError: unless :math:`\alpha_m` is a finite number >= 0 and :math:`l_0 \leq 0` (``-inf``: no clipping)
    """
    if not (math.isfinite(munchausen_coef) and munchausen_coef >= 0.0):
        raise ValueError(
            f"munchausen_coef (alpha_m, the weight of the Munchausen bonus) must be a finite number >= 0 "
            f"(0 turns it off; the paper uses 0.9), got {munchausen_coef}"
        )
    if not munchausen_clip <= 0.0:
        raise ValueError(
            f"munchausen_clip (l0, the lower clip of alpha log pi(a|s)) must be <= 0, since a log-probability is <= 0 "
            f"(the paper uses -1), got {munchausen_clip}"
        )


def check_discrete_arguments(loss: str, max_grad_norm: float, munchausen_coef: float, munchausen_clip: float) -> None:
    """:raises ValueError: naming the first of the discrete implementation's own arguments that is invalid"""
    check_loss_name(loss)
    if not (max_grad_norm > 0 and math.isfinite(max_grad_norm)):
        raise ValueError(f"max_grad_norm must be a finite number > 0, got {max_grad_norm}")
    check_munchausen_parameters(munchausen_coef, munchausen_clip)


def soft_q_learning_target(
    rewards: th.Tensor,
    dones: th.Tensor,
    discounts: th.Tensor | float,
    next_q_values: th.Tensor,
    ent_coef: th.Tensor | float,
) -> th.Tensor:
    r"""
    Soft Q-learning target (Haarnoja et al. 2017, eq. 10 with the exact soft value of a finite action set).

    :math:`t = r + \gamma (1 - d)\,\alpha \log \sum_{a'} \exp(\bar Q(s', a')/\alpha)`; at :math:`\alpha = 0`
    it is DQN's target :math:`r + \gamma (1 - d) \max_{a'} \bar Q(s', a')`.

    :param next_q_values: :math:`\bar Q(s', \cdot)` of the target network, shape (batch_size, n_actions)
    :return: shape (batch_size, 1)
    """
    return soft_q_target(rewards, dones, discounts, boltzmann.soft_value(next_q_values, ent_coef))


def munchausen_bonus(
    target_q_values: th.Tensor,
    actions: th.Tensor,
    ent_coef: th.Tensor | float,
    munchausen_coef: float,
    munchausen_clip: float,
) -> th.Tensor:
    r"""
    Munchausen bonus (Vieillard, Pietquin, Geist 2020, eq. 2): the scaled, clipped log-probability of the taken
    action under the target network's Boltzmann policy, added to the reward,

    :math:`\alpha_m \,\mathrm{clip}(\alpha \log\bar\pi(a|s), l_0, 0)`, with
    :math:`\alpha\log\bar\pi(a|s) = \bar Q(s,a) - \alpha\log\sum_b\exp(\bar Q(s,b)/\alpha)`.

    Written as :math:`\bar Q(s,a) - \bar V(s)`, it stays finite where :math:`\log\bar\pi` alone underflows
    (a temperature decayed towards 0), and tends to the advantage :math:`\bar Q(s,a) - \max_b \bar Q(s,b)` there.

    :param target_q_values: :math:`\bar Q(s, \cdot)` of the target network at the *current* states,
        shape (batch_size, n_actions)
    :param actions: the replayed actions, shape (batch_size, 1)
    :param ent_coef: :math:`\alpha`
    :param munchausen_coef: :math:`\alpha_m \geq 0`
    :param munchausen_clip: :math:`l_0 \leq 0`
    :return: shape (batch_size, 1)
    """
    scaled_log_policy = th.gather(target_q_values, dim=1, index=actions.long()) - boltzmann.soft_value(
        target_q_values, ent_coef
    )
    return munchausen_coef * th.clamp(scaled_log_policy, min=munchausen_clip, max=0.0)


class DiscreteSoftQLearning(SoftQLearning, action_space=spaces.Discrete, refused_arguments=CONTINUOUS_ONLY):
    r"""
    Soft Q-Learning with discrete actions, DQN-shaped (SB3 ``DQN``'s arguments and networks): replay buffer,
    target network updated every ``target_update_interval`` environment steps with coefficient ``tau``, loss
    (Huber, or the paper's squared error) between :math:`Q_\theta(s,a)` and

    :math:`t = r + \gamma(1-d)\,\alpha\log\sum_{a'}\exp(\bar Q(s',a')/\alpha)`,

    exact for a finite action set. Exploration comes from the Boltzmann policy itself, so there is no epsilon-greedy
    schedule; ``ent_coef=0`` is DQN without exploration noise. Built by ``SoftQLearning(policy, env)`` for
    ``Discrete`` actions; its arguments are :class:`~sb3_maxent.SoftQLearning`'s, those for ``Box`` actions
    (``value_n_particles``, ``svgd_*``) refused. ``ent_coef`` defaults to ``"auto_0.1"``.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": DiscreteMlpPolicy,
        "CnnPolicy": DiscreteCnnPolicy,
        "MultiInputPolicy": DiscreteMultiInputPolicy,
    }
    policy_base: ClassVar[type[DiscreteSoftQPolicy]] = DiscreteSoftQPolicy
    default_ent_coef: ClassVar[str | float] = DEFAULT_ENT_COEF
    policy: DiscreteSoftQPolicy
    q_net: QNetwork
    q_net_target: QNetwork
    loss: LossName
    max_grad_norm: float
    exploration_final_eps: float | None
    exploration_fraction: float | None
    exploration_initial_eps: float
    munchausen_coef: float
    munchausen_clip: float

    @classmethod
    def _check_implementation_arguments(cls, arguments: Mapping[str, Any]) -> None:
        check_discrete_arguments(
            arguments["loss"], arguments["max_grad_norm"], arguments["munchausen_coef"], arguments["munchausen_clip"]
        )

    def _setup_model(self) -> None:
        super()._setup_model()
        # the policy acts with exp(Q / alpha), reading alpha from the one temperature
        self.policy.temperature = self.temperature

    def policy_entropy(self, observations: PyTorchObs) -> th.Tensor:
        r"""
        The exact entropy of the Boltzmann policy :math:`\pi = \mathrm{softmax}(Q(s,\cdot)/\alpha)`, shape (batch_size,)
        (:class:`~sb3_maxent.common.protocol.MaxEntAlgorithm`).
        """
        with th.no_grad():
            return boltzmann.entropy_of_log_probs(self.policy.boltzmann_log_probs(observations))

    def _exploration_schedule(self) -> Callable[[float], float] | None:
        """The entropy target along DQN's epsilon schedule, when ``exploration_fraction`` asks for one."""
        # None, or 0 (DQN's epsilon final from the start): a constant target. A fixed temperature has no target to
        # schedule, and ignores it as it ignores target_entropy (SB3's SAC too), so that a config's exploration
        # arguments stay valid when a tuning trial draws a fixed ent_coef
        if not self.exploration_fraction or not self.temperature.learnable:
            return None
        assert isinstance(self.action_space, spaces.Discrete)
        final_eps = DQN_FINAL_EPSILON if self.exploration_final_eps is None else self.exploration_final_eps
        schedule = epsilon_greedy_target_schedule(
            int(self.action_space.n), self.exploration_fraction, self.exploration_initial_eps, final_eps
        )
        # a model saved by version 0.2 or earlier carries the target it started from
        if self._target_entropy_argument not in ("auto", schedule(1.0)):
            raise ValueError("pass target_entropy or exploration_fraction (which schedules it), not both")
        return schedule

    def _check_temperature(self) -> None:
        if self.munchausen_coef > 0 and not self.temperature.learnable and self.temperature.item() == 0.0:
            raise ValueError(
                f"munchausen_coef={self.munchausen_coef} needs a temperature ent_coef > 0: the Munchausen bonus is "
                "alpha * log pi(a|s) of the Boltzmann policy, which ent_coef=0 (a greedy policy) does not have; "
                "pass a positive or learned ent_coef, or munchausen_coef=0"
            )

    def _set_target_entropy(self) -> None:
        """
        DQN's exploration arguments set the temperature's target: it follows the entropy of DQN's epsilon-greedy
        policy along its schedule (``exploration_fraction``, a learned temperature), or is that entropy at
        ``exploration_final_eps``; otherwise it is ``target_entropy``.
        """
        schedule = self._exploration_schedule()
        if schedule is not None:
            self.temperature.schedule_target_entropy(schedule)
            return
        epsilon = self.exploration_final_eps
        if epsilon is None:
            return
        assert isinstance(self.action_space, spaces.Discrete)
        from_epsilon = epsilon_greedy_entropy(epsilon, int(self.action_space.n))
        # a model saved by version 0.2 or earlier carries the target it resolved to
        if self._target_entropy_argument not in ("auto", from_epsilon):
            raise ValueError("pass target_entropy or exploration_final_eps (which sets it), not both")
        self.temperature.set_target_entropy(from_epsilon)

    def _create_aliases(self) -> None:
        self.q_net = self.policy.q_net
        self.q_net_target = self.policy.q_net_target

    def _online_and_target(self) -> tuple[nn.Module, nn.Module]:
        return self.q_net, self.q_net_target

    def _optimizer_names(self) -> list[str]:
        return ["policy.optimizer"]

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "q_net", "q_net_target"]

    def _target(self, replay_data: ReplayBufferSamples, discounts: th.Tensor | float, ent_coef: float) -> th.Tensor:
        if self.munchausen_coef == 0:
            # t = r + gamma (1 - d) alpha logsumexp(Q_bar(s', .) / alpha)
            next_q_values = self.q_net_target(replay_data.next_observations)
            return soft_q_learning_target(replay_data.rewards, replay_data.dones, discounts, next_q_values, ent_coef)
        # + alpha_m clip(alpha log pi_bar(a|s), l0, 0), which needs Q_bar at s as well as at s'
        next_q_values, current_q_values = self._target_q_values_at_both(replay_data)
        target = soft_q_learning_target(replay_data.rewards, replay_data.dones, discounts, next_q_values, ent_coef)
        bonus = munchausen_bonus(current_q_values, replay_data.actions, ent_coef, self.munchausen_coef, self.munchausen_clip)
        return target + bonus

    def _target_q_values_at_both(self, replay_data: ReplayBufferSamples) -> tuple[th.Tensor, th.Tensor]:
        r""":math:`\bar Q(s', \cdot)` and :math:`\bar Q(s, \cdot)`: one pass over both batches when they are tensors."""
        next_observations, observations = replay_data.next_observations, replay_data.observations
        if isinstance(observations, th.Tensor) and isinstance(next_observations, th.Tensor):
            both = self.q_net_target(th.cat([next_observations, observations]))
            return both[: len(next_observations)], both[len(next_observations) :]
        return self.q_net_target(next_observations), self.q_net_target(observations)

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate([self.policy.optimizer, *self.temperature.optimizers()])
        if self.temperature.target_entropy_schedule is not None:
            self.logger.record("train/target_entropy", self.temperature.follow_schedule(self._current_progress_remaining))
        logs: dict[str, list[float]] = defaultdict(list)

        for gradient_step in range(gradient_steps):
            replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            discounts = replay_data.discounts if replay_data.discounts is not None else self.gamma
            ent_coef = self.temperature.item()

            with th.no_grad():
                target_q_values = self._target(replay_data, discounts, ent_coef)

            all_q_values = self.q_net(replay_data.observations)
            q_values = th.gather(all_q_values, dim=1, index=replay_data.actions.long())
            # J_Q = E[rho(Q(s, a) - t)]: Huber, or the squared error (Q - t)^2 (torch's mse_loss, not the paper's half)
            loss = critic_loss_fn((q_values,), target_q_values, self.loss, mse_factor=1.0)

            # Exact entropy of the Boltzmann policy pi = softmax(Q / alpha) on the batch
            entropy = boltzmann.entropy(all_q_values.detach(), ent_coef)

            logged = host_values({"loss": loss, "entropy": entropy.mean(), "q_values": q_values.mean()})
            logged["ent_coef"] = ent_coef
            if self.temperature.learnable:
                # J(log alpha) = log alpha * (H - H_target) on the batch (-inf names an alpha underflowed to 0)
                logged["ent_coef_loss"] = self.temperature.dual_loss_value(ent_coef, logged["entropy"])
            check_finite_losses(
                {key: logged[key] for key in ("loss", "ent_coef_loss") if key in logged},
                n_updates=self._n_updates + gradient_step,
                num_timesteps=self.num_timesteps,
                replay_data=replay_data,
            )

            self.policy.optimizer.zero_grad()
            loss.backward()
            th.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()
            if self.temperature.learnable:
                self.temperature.dual_gradient_step(entropy)
            for key, value in logged.items():
                logs[key].append(value)

        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        for key, values in logs.items():
            self.logger.record(f"train/{key}", np.mean(values))
