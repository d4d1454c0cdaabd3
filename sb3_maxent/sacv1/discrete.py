r"""
SACV1 for discrete actions (Christodoulou 2019, arXiv 1910.07207, on the value network of SAC v1).

The critics give :math:`Q_{\theta_i}(s,\cdot)` for every action and the policy is a softmax, so each expectation
over actions is an exact sum: no reparameterisation, no sampled log-probabilities.
"""

from collections.abc import Mapping
from typing import Any, ClassVar

import torch as th
from gymnasium import spaces
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import PyTorchObs, ReplayBufferSamples

from sb3_maxent.common import boltzmann
from sb3_maxent.common.losses import critic_loss_fn, soft_q_target
from sb3_maxent.common.validation import environment_data_blamed_for_errors
from sb3_maxent.sacv1.policies import (
    DiscreteActor,
    DiscreteCnnPolicy,
    DiscreteCritic,
    DiscreteMlpPolicy,
    DiscreteMultiInputPolicy,
    DiscreteSACV1Policy,
)
from sb3_maxent.sacv1.sacv1 import SACV1, StepLosses, value_loss_fn


def expected_soft_value(probs: th.Tensor, log_probs: th.Tensor, min_q_values: th.Tensor, ent_coef: th.Tensor) -> th.Tensor:
    r"""
    Target of the state-value network with discrete actions, an exact expectation:

    :math:`\hat V(s) = \sum_a \pi_\phi(a|s)\,[\min_i Q_{\theta_i}(s,a) - \alpha\log\pi_\phi(a|s)]`.

    :param probs: :math:`\pi_\phi(\cdot|s)`, shape (batch_size, n_actions)
    :param log_probs: :math:`\log\pi_\phi(\cdot|s)`, shape (batch_size, n_actions)
    :param min_q_values: :math:`\min_i Q_{\theta_i}(s,\cdot)`, shape (batch_size, n_actions)
    :param ent_coef: :math:`\alpha`
    :return: shape (batch_size, 1)
    """
    return (probs * (min_q_values - ent_coef * log_probs)).sum(dim=1, keepdim=True)


def discrete_actor_loss_fn(probs: th.Tensor, log_probs: th.Tensor, min_q_values: th.Tensor, ent_coef: th.Tensor) -> th.Tensor:
    r"""
    Policy loss with discrete actions, the KL projection of SAC written as an exact sum over actions:

    :math:`J_\pi(\phi) = \mathbb{E}_s\big[\sum_a \pi_\phi(a|s)\,
    (\alpha\log\pi_\phi(a|s) - \min_i Q_{\theta_i}(s,a))\big]`

    (``min_q_values`` must not carry gradients to the critics).
    """
    return (probs * (ent_coef * log_probs - min_q_values)).sum(dim=1).mean()


def check_discrete_exploration(use_sde: bool, use_sde_at_warmup: bool, action_noise: ActionNoise | None) -> None:
    """:raises ValueError: on gSDE or action noise, which explore in a continuous action space"""
    if use_sde or use_sde_at_warmup:
        raise ValueError("use_sde: gSDE explores in a continuous action space; with Discrete actions pass use_sde=False")
    if action_noise is not None:
        raise ValueError(
            "action_noise is added to Box actions only; a softmax policy over Discrete actions explores by sampling"
        )


class DiscreteSACV1(SACV1, action_space=spaces.Discrete):
    r"""
    SACV1 for ``Discrete`` actions (Christodoulou 2019, "Soft Actor-Critic for Discrete Action Settings",
    https://arxiv.org/abs/1910.07207), with SAC v1's state-value network. Built by ``SACV1(policy, env)`` when the
    environment's actions are ``Discrete``; its arguments are :class:`~sb3_maxent.SACV1`'s, and gSDE
    (``use_sde``, ``use_sde_at_warmup``) and ``action_noise``, which are for ``Box`` actions, are refused.

    The critics output :math:`Q_{\theta_i}(s,\cdot)` for every action and the policy is a softmax, so every
    expectation over actions is an exact sum:

    - value target :math:`\hat V(s) = \sum_a \pi(a|s)[\min_i Q_{\theta_i}(s,a) - \alpha\log\pi(a|s)]`;
    - soft Q target :math:`\hat Q(s,a) = r + \gamma(1-d)V_{\bar\psi}(s')`, as in the continuous case;
    - policy loss :math:`\mathbb{E}_s\sum_a\pi(a|s)[\alpha\log\pi(a|s) - \min_i Q_{\theta_i}(s,a)]`;
    - temperature loss on the exact entropy :math:`\mathcal H(\pi(\cdot|s))`.

    ``target_entropy="auto"`` is the entropy of SB3 DQN's final epsilon-greedy policy (:math:`\epsilon = 0.05`),
    as for discrete ``SoftQLearning``, not the paper's :math:`0.98\log|\mathcal A|` nor CleanRL's
    :math:`0.89\log|\mathcal A|`: in episodic tasks the entropy bonus is collected only until the episode ends, so
    a near-uniform target turns it into a reward for surviving or for not reaching the goal (measurements:
    :doc:`/modules/sacv1_discrete`).
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": DiscreteMlpPolicy,
        "CnnPolicy": DiscreteCnnPolicy,
        "MultiInputPolicy": DiscreteMultiInputPolicy,
    }
    policy_base: ClassVar[type[DiscreteSACV1Policy]] = DiscreteSACV1Policy
    policy: DiscreteSACV1Policy
    actor: DiscreteActor
    critic: DiscreteCritic

    @classmethod
    def _check_implementation_arguments(cls, arguments: Mapping[str, Any]) -> None:
        check_discrete_exploration(arguments["use_sde"], arguments["use_sde_at_warmup"], arguments["action_noise"])

    def policy_entropy(self, observations: PyTorchObs) -> th.Tensor:
        r"""
        The exact entropy of the softmax actor, :math:`-\sum_a \pi_\phi(a|s)\log\pi_\phi(a|s)`, shape (batch_size,)
        (:class:`~sb3_maxent.common.protocol.MaxEntAlgorithm`).
        """
        with th.no_grad():
            return boltzmann.entropy_of_log_probs(self.actor.action_log_probs(observations))

    def _step_losses(self, replay_data: ReplayBufferSamples, discounts: th.Tensor | float, n_update: int) -> StepLosses:
        with (
            self._diverged_actor_blamed_for_errors(n_update),
            environment_data_blamed_for_errors("the replay batch", observations=replay_data.observations),
        ):
            log_probs = self.actor.action_log_probs(replay_data.observations)
        probs = log_probs.exp()
        # H(pi(.|s)) = -sum_a pi(a|s) log pi(a|s), exact
        entropy = boltzmann.entropy_of_log_probs(log_probs)
        ent_coef = self.temperature.value()
        # J(log alpha) = log alpha (H(pi(.|s)) - H_target), with the exact entropy, applied with the other losses
        ent_coef_loss = self.temperature.dual_loss(entropy) if self.temperature.learnable else None

        # one pass of each critic gives Q(s, .): the replayed actions' values and the expectations over actions
        q_values_all = self.critic(replay_data.observations)
        min_q_values = th.min(th.stack(q_values_all), dim=0).values.detach()

        with th.no_grad():
            # V^(s) = sum_a pi(a|s) [min_i Q_theta_i(s, a) - alpha log pi(a|s)]
            value_target = expected_soft_value(probs, log_probs, min_q_values, ent_coef)
            # Q^(s, a) = r + gamma (1 - d) V_psi_bar(s')
            q_target = soft_q_target(
                replay_data.rewards, replay_data.dones, discounts, self.value_target(replay_data.next_observations)
            )

        values = self.value_net(replay_data.observations)
        q_values = tuple(th.gather(q, dim=1, index=replay_data.actions.long()) for q in q_values_all)
        return StepLosses(
            value_loss=value_loss_fn(values, value_target),
            critic_loss=critic_loss_fn(q_values, q_target, self.loss),
            actor_loss=discrete_actor_loss_fn(probs, log_probs, min_q_values, ent_coef),
            ent_coef_loss=ent_coef_loss,
            ent_coef=ent_coef,
            log_prob_pi=-entropy,
            q_values=q_values,
            values=values,
        )
