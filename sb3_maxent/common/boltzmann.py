r"""
The Boltzmann policy of a finite action set in torch: :math:`\pi(a|s) = \exp((Q(s,a) - V(s))/\alpha)` with the
soft value :math:`V(s) = \alpha\log\sum_a\exp(Q(s,a)/\alpha)` (the NumPy counterparts for tabular MDPs are in
:mod:`sb3_maxent.common.soft_bellman`). At :math:`\alpha = 0` they are the hard ``max`` and the greedy policy.
"""

import math

import torch as th


def soft_value(q_values: th.Tensor, ent_coef: th.Tensor | float) -> th.Tensor:
    r"""
    :math:`\alpha\,\mathrm{logsumexp}(Q/\alpha)` over the last axis, or the hard ``max`` when :math:`\alpha = 0`
    (then exactly DQN's bootstrap value).

    :param q_values: shape (batch_size, n_actions)
    :param ent_coef: :math:`\alpha \geq 0` (a float or a scalar tensor)
    :return: shape (batch_size, 1)
    """
    # a Python number: one read of a tensor alpha, then scalar arithmetic (no tensor-scalar ops per call)
    alpha = float(ent_coef)
    if alpha == 0.0:
        return q_values.max(dim=-1, keepdim=True).values
    # Shift by the maximum before dividing: (q - max) / alpha is 0 or negative, so no overflow for any
    # alpha > 0, even where q / alpha alone would overflow float32
    max_q = q_values.max(dim=-1, keepdim=True).values
    return max_q + alpha * _log_sum_exp_of_shifted((q_values - max_q) / alpha)


def _log_sum_exp_of_shifted(shifted: th.Tensor) -> th.Tensor:
    r"""
    :math:`\log\sum_a\exp(x_a)` over the last axis of rows whose maximum is exactly 0.

    ``torch.logsumexp`` would subtract each row's maximum again (0 here), exp, sum, log, then add the maximum
    back: with a maximum of 0 those extra steps change no bit, so this is its result in three operations
    instead of eight (the soft target runs on every gradient step).
    """
    return th.log(th.exp(shifted).sum(dim=-1, keepdim=True))


def logits(q_values: th.Tensor, ent_coef: th.Tensor | float) -> th.Tensor:
    r"""
    :math:`Q(s,\cdot)/\alpha`, the logits of the Boltzmann policy, shape (batch_size, n_actions); needs
    :math:`\alpha > 0`.

    At a tiny :math:`\alpha` the division overflows (:math:`|Q|/\alpha` beyond the float's range gives
    :math:`\pm\infty` for every action, and the policy is lost). Such rows are shifted by their maximum first,
    :math:`(Q - \max_a Q)/\alpha`: the same policy, with the best action at 0 and the others below it (down to
    :math:`-\infty`, probability 0). Other rows are the plain division, bit for bit.
    """
    scaled = q_values / ent_coef
    if _all_finite_on_cpu(scaled):
        return scaled  # what th.where below selects when no row overflows, without its four extra operations
    shifted = (q_values - q_values.max(dim=-1, keepdim=True).values) / ent_coef
    return th.where(th.isfinite(scaled).all(dim=-1, keepdim=True), scaled, shifted)


def _all_finite_on_cpu(values: th.Tensor) -> bool:
    """
    True when ``values`` is on the CPU and has no infinite or NaN entry; False otherwise, also where that is not
    known (on a GPU reading the answer would cost a host synchronisation).

    One reduction: a sum is finite only if every term is. A sum that overflows from finite terms answers False,
    which only sends the caller down its general path.
    """
    return values.device.type == "cpu" and math.isfinite(values.sum().item())


def log_probs(q_values: th.Tensor, ent_coef: th.Tensor | float) -> th.Tensor:
    r""":math:`\log\pi(a|s) = (Q(s,a) - V(s))/\alpha`, shape (batch_size, n_actions); needs :math:`\alpha > 0`."""
    return th.log_softmax(logits(q_values, ent_coef), dim=1)


def entropy_of_log_probs(log_probabilities: th.Tensor) -> th.Tensor:
    r"""
    :math:`-\sum_a \pi(a|s)\log\pi(a|s)` from :math:`\log\pi`, shape (batch_size,); an action of
    probability 0 (:math:`\log\pi = -\infty`) adds 0, its limit.
    """
    probabilities = log_probabilities.exp()
    return -th.where(probabilities > 0, probabilities * log_probabilities, 0.0).sum(dim=1)


def entropy(q_values: th.Tensor, ent_coef: float) -> th.Tensor:
    r"""
    :math:`\mathcal H(\pi(\cdot|s))` of :math:`\pi \propto \exp(Q/\alpha)`, shape (batch_size,);
    0 at :math:`\alpha = 0`.
    """
    if ent_coef == 0.0:
        return th.zeros(q_values.shape[0], device=q_values.device)
    return entropy_of_log_probs(log_probs(q_values, ent_coef))


def gumbel_max_sample(logits: th.Tensor) -> th.Tensor:
    r"""
    One draw per row from :math:`\mathrm{softmax}(\text{logits})` by the Gumbel-max trick:
    :math:`\arg\max_a (\text{logits}_a + G_a)`, :math:`G_a = -\log(-\log U_a)`, :math:`U_a \sim U(0, 1)`.

    Exact, and cheaper than ``torch.multinomial`` on the one-row batches of acting (one call per environment step;
    timings: :doc:`/modules/sql`).

    :param logits: shape (batch_size, n_actions)
    :return: the sampled indices, shape (batch_size,)
    """
    gumbel_noise = -th.log(-th.log(th.rand_like(logits)))
    return (logits + gumbel_noise).argmax(dim=1)
