r"""
The formulas that every soft Q update shares, in torch: the soft Bellman target and the regression of the soft Q
networks on it. ``SACV1`` (both implementations) and ``SoftQLearning`` (both implementations) differ only in the soft
value :math:`V(s')` they bootstrap on:

- SAC v1: its target state-value network, :math:`V_{\bar\psi}(s')` (Haarnoja et al. 2018, eq. 8);
- discrete Soft Q-Learning: the exact :math:`\alpha\log\sum_{a'}\exp(\bar Q(s',a')/\alpha)`
  (:func:`sb3_maxent.common.boltzmann.soft_value`);
- continuous Soft Q-Learning: its importance-sampled estimate (Haarnoja et al. 2017, eq. 10).
"""

from collections.abc import Sequence

import torch as th
from torch.nn import functional as F

from sb3_maxent.common.validation import LossName


def soft_q_target(rewards: th.Tensor, dones: th.Tensor, discounts: th.Tensor | float, next_values: th.Tensor) -> th.Tensor:
    r"""
    Target of the soft Q networks, the soft Bellman backup of a transition:

    :math:`\hat Q(s, a) = r + \gamma (1 - d)\,V(s')`

    :param rewards: :math:`r`, shape (batch_size, 1)
    :param dones: :math:`d`, termination flags (not timeouts), shape (batch_size, 1)
    :param discounts: :math:`\gamma` (or :math:`\gamma^n` per sample for n-step returns), a float or shape
        (batch_size, 1)
    :param next_values: the soft value :math:`V(s')` of the next state, shape (batch_size, 1)
    :return: the target, shape (batch_size, 1)
    """
    return rewards + (1.0 - dones) * discounts * next_values


def critic_loss_fn(
    q_values: Sequence[th.Tensor], target: th.Tensor, loss: LossName = "mse", *, mse_factor: float = 0.5
) -> th.Tensor:
    r"""
    Regression of the soft Q networks on their target, summed over the networks:

    :math:`J_Q(\theta) = \sum_i \mathbb{E}\big[\rho\big(Q_{\theta_i}(s,a) - \hat Q(s,a)\big)\big]`

    With ``loss="mse"``, :math:`\rho(x) = c\,x^2`, :math:`c` = ``mse_factor``: the papers' :math:`\tfrac12`
    (SAC v1, eq. 7; Soft Q-Learning, eq. 11) by default. With ``loss="huber"``, :math:`\rho` is SB3 DQN's Huber loss,
    :math:`\tfrac12 x^2` for :math:`|x| < 1` and :math:`|x| - \tfrac12` beyond: the same near the target, a bounded
    gradient for large TD errors.

    :param q_values: :math:`Q_{\theta_i}(s, a)` of each network, each of shape (batch_size, 1)
    :param target: :math:`\hat Q(s, a)`, shape (batch_size, 1), without gradients
    :param loss: ``"mse"`` or ``"huber"``
    :param mse_factor: :math:`c` of ``loss="mse"`` (discrete ``SoftQLearning`` passes 1, torch's ``mse_loss``, as
        it has since version 0.1)
    :return: a scalar tensor
    """
    if loss == "huber":
        return th.stack([F.smooth_l1_loss(q, target) for q in q_values]).sum()
    return mse_factor * th.stack([F.mse_loss(q, target) for q in q_values]).sum()
