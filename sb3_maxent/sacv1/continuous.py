r"""
SACV1 for continuous (``Box``) actions, as in the paper (Haarnoja et al. 2018, arXiv 1801.01290): a reparameterised
tanh-Gaussian policy, whose expectations over actions are estimated with one fresh sample :math:`\tilde a`.
"""

from typing import ClassVar

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy, ContinuousCritic
from stable_baselines3.common.type_aliases import PyTorchObs, ReplayBufferSamples
from stable_baselines3.sac.policies import Actor

from sb3_maxent.common.losses import critic_loss_fn, soft_q_target
from sb3_maxent.common.torch_utils import frozen_parameters
from sb3_maxent.common.validation import environment_data_blamed_for_errors
from sb3_maxent.sacv1.policies import (
    ContinuousCnnPolicy,
    ContinuousMlpPolicy,
    ContinuousMultiInputPolicy,
    ContinuousSACV1Policy,
)
from sb3_maxent.sacv1.sacv1 import SACV1, StepLosses, value_loss_fn


def soft_value_target(q_values_pi: th.Tensor, log_prob_pi: th.Tensor, ent_coef: th.Tensor) -> th.Tensor:
    r"""
    Target of the state-value network (SAC v1, eq. 5).

    :math:`\hat V(s) = \min_i Q_{\theta_i}(s, \tilde a) - \alpha \log \pi_\phi(\tilde a|s)`,
    :math:`\tilde a \sim \pi_\phi(\cdot|s)` sampled fresh (not the replay action).

    :param q_values_pi: :math:`Q_{\theta_i}(s, \tilde a)`, shape (batch_size, n_critics)
    :param log_prob_pi: :math:`\log \pi_\phi(\tilde a|s)`, shape (batch_size, 1)
    :param ent_coef: :math:`\alpha`, a scalar tensor
    :return: the target, shape (batch_size, 1)
    """
    min_q_pi, _ = th.min(q_values_pi, dim=1, keepdim=True)
    return min_q_pi - ent_coef * log_prob_pi


def actor_loss_fn(q_values_pi: th.Tensor, log_prob_pi: th.Tensor, ent_coef: th.Tensor) -> th.Tensor:
    r"""
    Reparameterised policy loss (SAC v1, eq. 12, with the minimum over the critics that §4.2 of the paper
    prescribes for the policy gradient; the authors' code, haarnoja/sac, differentiates the first critic only).

    :math:`J_\pi(\phi) = \mathbb{E}[\alpha \log \pi_\phi(\tilde a|s) - \min_i Q_{\theta_i}(s, \tilde a)]`
    """
    min_q_pi, _ = th.min(q_values_pi, dim=1, keepdim=True)
    return (ent_coef * log_prob_pi - min_q_pi).mean()


class ContinuousSACV1(SACV1, action_space=spaces.Box):
    r"""
    SACV1 for ``Box`` actions, as in the paper: SB3 ``SAC``'s tanh-Gaussian actor (gSDE and action noise
    included) and ``ContinuousCritic``, with the state-value network. Built by ``SACV1(policy, env)`` for ``Box``
    actions; its arguments are :class:`~sb3_maxent.SACV1`'s.

    Each expectation over actions uses one fresh, reparameterised sample
    :math:`\tilde a = \tanh(\mu_\phi(s) + \sigma_\phi(s)\,\xi)`:

    - value target :math:`\hat V(s) = \min_i Q_{\theta_i}(s,\tilde a) - \alpha\log\pi_\phi(\tilde a|s)`;
    - soft Q target :math:`\hat Q(s,a) = r + \gamma(1-d)V_{\bar\psi}(s')`;
    - policy loss :math:`\mathbb{E}[\alpha\log\pi_\phi(\tilde a|s) - \min_i Q_{\theta_i}(s,\tilde a)]`;
    - temperature loss on :math:`-\log\pi_\phi(\tilde a|s)`, an estimate of the entropy.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        "MlpPolicy": ContinuousMlpPolicy,
        "CnnPolicy": ContinuousCnnPolicy,
        "MultiInputPolicy": ContinuousMultiInputPolicy,
    }
    policy_base: ClassVar[type[ContinuousSACV1Policy]] = ContinuousSACV1Policy
    policy: ContinuousSACV1Policy
    actor: Actor
    critic: ContinuousCritic

    def policy_entropy(self, observations: PyTorchObs) -> th.Tensor:
        r"""
        :math:`-\log\pi_\phi(\tilde a|s)` of one action sampled per state (fresh gSDE noise), an unbiased estimate of
        the entropy, shape (batch_size,) (:class:`~sb3_maxent.common.protocol.MaxEntAlgorithm`).
        """
        with th.no_grad():
            if self.use_sde:
                self.actor.reset_noise()
            _, log_prob = self.actor.action_log_prob(observations)
        return -log_prob.reshape(-1)

    def _step_losses(self, replay_data: ReplayBufferSamples, discounts: th.Tensor | float, n_update: int) -> StepLosses:
        if self.use_sde:
            self.actor.reset_noise()

        # a~ ~ pi_phi(.|s), reparameterised: a~ = tanh(mu + sigma * eps)
        with (
            self._diverged_actor_blamed_for_errors(n_update),
            environment_data_blamed_for_errors("the replay batch", observations=replay_data.observations),
        ):
            actions_pi, log_prob_pi = self.actor.action_log_prob(replay_data.observations)
        log_prob_pi = log_prob_pi.reshape(-1, 1)
        ent_coef = self.temperature.value()
        # J(log alpha) = E[-log alpha (log pi(a~|s) + H_target)], applied with the other losses
        ent_coef_loss = self.temperature.dual_loss(-log_prob_pi) if self.temperature.learnable else None

        # Q_theta_i(s, a~): one forward pass serves the value target (detached) and the policy loss,
        # which needs gradients w.r.t. a~ only, not w.r.t. the critics' weights
        with frozen_parameters(self.critic):
            q_values_pi = th.cat(self.critic(replay_data.observations, actions_pi), dim=1)

        with th.no_grad():
            # V^(s) = min_i Q_theta_i(s, a~) - alpha log pi(a~|s)
            value_target = soft_value_target(q_values_pi, log_prob_pi, ent_coef)
            # Q^(s, a) = r + gamma (1 - d) V_psi_bar(s')
            q_target = soft_q_target(
                replay_data.rewards, replay_data.dones, discounts, self.value_target(replay_data.next_observations)
            )

        values = self.value_net(replay_data.observations)
        q_values = self.critic(replay_data.observations, replay_data.actions)
        return StepLosses(
            value_loss=value_loss_fn(values, value_target),
            critic_loss=critic_loss_fn(q_values, q_target, self.loss),
            actor_loss=actor_loss_fn(q_values_pi, log_prob_pi, ent_coef),
            ent_coef_loss=ent_coef_loss,
            ent_coef=ent_coef,
            log_prob_pi=log_prob_pi,
            q_values=q_values,
            values=values,
        )
