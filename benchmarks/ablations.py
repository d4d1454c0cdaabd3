"""
Ablations of SACV1 for the MuJoCo campaign (issue 14: "if SACV1 trails SAC, find out why").

SACV1 and SB3's SAC with the same arguments (``sacv1`` and ``sac`` in ``mujoco_campaign.py``) differ in two ways:

1. **the bootstrap target**: SACV1's critics regress on r + gamma V_psi_bar(s') of a separate state-value network,
   SAC's on r + gamma (min_i Q_theta_bar_i(s', a') - alpha log pi(a'|s')) of target critics;
2. **the update order**: SACV1 evaluates the value, critic and policy losses at the same parameters and applies
   them together (the authors' code groups the three train ops the same way); SAC steps the critics first and
   evaluates the policy loss with the updated critics.

``SequentialSACV1`` changes only the second: the critics step first, then the value and policy losses are evaluated
with the updated critics, as in SAC. So ``sacv1`` against ``sacv1_seq`` measures the update order, and ``sacv1_seq``
against ``sac`` the value network. It is a benchmark tool, not part of the package.
"""

from __future__ import annotations

import torch as th
from stable_baselines3.common.type_aliases import ReplayBufferSamples

from sb3_maxent.common.losses import critic_loss_fn, soft_q_target
from sb3_maxent.sacv1 import ContinuousSACV1
from sb3_maxent.sacv1.sacv1 import StepLosses


class SequentialSACV1(ContinuousSACV1):
    """SACV1 with SB3 SAC's update order: critics first, then value and policy against the updated critics."""

    def _step_losses(self, replay_data: ReplayBufferSamples, discounts: th.Tensor | float, n_update: int) -> StepLosses:
        # Q^(s, a) = r + gamma (1 - d) V_psi_bar(s'): the critic loss does not depend on the order, so stepping it
        # first changes only what the value and policy losses below see
        with th.no_grad():
            next_values = self.value_target(replay_data.next_observations)
            q_target = soft_q_target(replay_data.rewards, replay_data.dones, discounts, next_values)
        critic_loss = critic_loss_fn(self.critic(replay_data.observations, replay_data.actions), q_target, self.loss)
        self.critic.optimizer.zero_grad()
        critic_loss.backward()
        self.critic.optimizer.step()
        losses = super()._step_losses(replay_data, discounts, n_update)
        # report the loss that was applied, not the one at the updated critics
        return losses._replace(critic_loss=critic_loss.detach())

    def _apply_gradients(
        self, actor_loss: th.Tensor, critic_loss: th.Tensor, value_loss: th.Tensor, ent_coef_loss: th.Tensor | None
    ) -> None:
        # The critics stepped in _step_losses; only the other networks step here (the critics' gradients are
        # cleared too, so a stale one cannot reach a later step).
        optimizers = [self.actor.optimizer, self.value_net.optimizer]
        total_loss = actor_loss + value_loss
        if ent_coef_loss is not None and self.ent_coef_optimizer is not None:
            optimizers.append(self.ent_coef_optimizer)
            total_loss = total_loss + ent_coef_loss
        for optimizer in [*optimizers, self.critic.optimizer]:
            optimizer.zero_grad()
        total_loss.backward()
        for optimizer in optimizers:
            optimizer.step()
