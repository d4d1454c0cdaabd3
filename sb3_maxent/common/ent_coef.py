"""Entropy coefficient (temperature :math:`\\alpha`) handling shared by the maximum-entropy algorithms.

SB3's ``SAC`` accepts ``ent_coef`` as a float, ``"auto"`` or ``"auto_<init>"``; every algorithm of this
package accepts the same values, parsed once here instead of once per algorithm.
"""

from dataclasses import dataclass

import numpy as np
import torch as th
from gymnasium import spaces

AUTO_PREFIX = "auto"
DEFAULT_AUTO_INIT = 1.0


@dataclass(frozen=True)
class EntCoefSpec:
    """
    Parsed ``ent_coef`` argument.

    :param learnable: ``True`` when :math:`\\alpha` is tuned by dual gradient descent (``"auto"``)
    :param initial_value: the fixed :math:`\\alpha`, or the starting value of the learned one
    """

    learnable: bool
    initial_value: float


def parse_ent_coef(ent_coef: str | float) -> EntCoefSpec:
    """
    Parse ``ent_coef`` the way SB3's ``SAC`` understands it, with explicit errors.

    * a number :math:`\\alpha \\geq 0`: fixed temperature (``0`` removes the entropy bonus);
    * ``"auto"``: learned, starting at 1;
    * ``"auto_<x>"``: learned, starting at ``x > 0``.

    :param ent_coef: the user's value
    :return: whether it is learned, and its (initial) value
    :raises ValueError: on a negative or non-finite value, or a malformed string
    """
    if isinstance(ent_coef, str):
        if not ent_coef.startswith(AUTO_PREFIX):
            try:
                return _fixed_ent_coef(float(ent_coef))
            except ValueError:
                raise ValueError(f"ent_coef must be a float, 'auto' or 'auto_<initial value>', got {ent_coef!r}") from None
        return EntCoefSpec(learnable=True, initial_value=_auto_initial_value(ent_coef))
    return _fixed_ent_coef(float(ent_coef))


def _fixed_ent_coef(value: float) -> EntCoefSpec:
    if not np.isfinite(value) or value < 0.0:
        raise ValueError(f"ent_coef must be a finite number >= 0, got {value}")
    _check_float32_representable(value, "ent_coef")
    return EntCoefSpec(learnable=False, initial_value=value)


def _check_float32_representable(value: float, name: str) -> None:
    # alpha lives in float32 tensors: a positive value below float32's range would silently become 0 (no entropy
    # bonus at all, or log(alpha) = -inf), which is not what a positive value asks for
    if value > 0.0 and np.float32(value) == 0.0:
        tiny = float(np.finfo(np.float32).smallest_subnormal)
        raise ValueError(
            f"{name}={value} is below float32's smallest positive number ({tiny:.1e}) and would become 0: "
            "pass 0 for no entropy bonus, or a value of at least 1e-38"
        )


def _auto_initial_value(ent_coef: str) -> float:
    if ent_coef == AUTO_PREFIX:
        return DEFAULT_AUTO_INIT
    _, sep, tail = ent_coef.partition("_")
    try:
        init_value = float(tail) if sep else float("nan")
    except ValueError:
        init_value = float("nan")
    if not np.isfinite(init_value) or init_value <= 0.0:
        raise ValueError(f"ent_coef={ent_coef!r}: the initial value after 'auto_' must be a finite number > 0")
    _check_float32_representable(init_value, f"ent_coef={ent_coef!r}: the initial value")
    return init_value


# SB3 DQN's default exploration_final_eps: the default discrete target explores as much as DQN's defaults do
DQN_FINAL_EPSILON = 0.05


def default_target_entropy(action_space: spaces.Space) -> float:
    """
    Default entropy target :math:`\\bar{\\mathcal{H}}`.

    * ``Box`` actions: :math:`-\\dim(\\mathcal{A})` (Haarnoja et al. 2018b);
    * ``Discrete`` actions: the entropy of SB3 DQN's final epsilon-greedy policy (:math:`\\epsilon = 0.05`,
      :func:`epsilon_greedy_entropy`), so that a Boltzmann policy with a learned temperature explores as much as
      DQN's defaults. (The discrete SAC of Christodoulou 2019 aims at :math:`0.98\\log|\\mathcal{A}|`, nearly
      uniform: right for an actor-critic's stochastic policy, far too random for a Q-learner that acts by it.)

    :param action_space: the environment's action space
    :return: the target entropy
    """
    if isinstance(action_space, spaces.Box):
        return -float(np.prod(action_space.shape))
    if isinstance(action_space, spaces.Discrete):
        return epsilon_greedy_entropy(DQN_FINAL_EPSILON, int(action_space.n))
    raise ValueError(f"No default target entropy for action space {action_space}")


def epsilon_greedy_entropy(epsilon: float, n_actions: int) -> float:
    """
    Entropy of an epsilon-greedy policy over ``n_actions`` actions (one greedy action), in nats:

    :math:`\\mathcal H = -p\\log p - (n-1)\\,\\frac{\\epsilon}{n}\\log\\frac{\\epsilon}{n}`,
    :math:`p = 1 - \\epsilon + \\epsilon/n`.

    A DQN configuration's ``exploration_final_eps`` through this function gives the ``target_entropy`` at which
    a Boltzmann policy (``SoftQLearning`` with ``ent_coef="auto"``) explores as much as that DQN, whatever the
    scale of the rewards: 0 at :math:`\\epsilon = 0`, :math:`\\log n` (uniform) at :math:`\\epsilon = 1`.

    :param epsilon: probability of a uniformly random action, in [0, 1]
    :param n_actions: number of actions, >= 1
    :return: the entropy in nats
    """
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
    if n_actions < 1:
        raise ValueError(f"n_actions must be >= 1, got {n_actions}")
    greedy = 1.0 - epsilon + epsilon / n_actions
    other = epsilon / n_actions
    # x log x -> 0 at x = 0
    return float(-greedy * np.log(greedy) - (n_actions - 1) * (other * np.log(other) if other > 0 else 0.0))


def parse_target_entropy(target_entropy: str | float, action_space: spaces.Space) -> float:
    """
    Resolve ``target_entropy`` (``"auto"`` or a number) to a float.

    With ``Discrete`` actions the entropy lies in :math:`[0, \\log|\\mathcal A|]`: a target outside
    :math:`[0, \\log|\\mathcal A|)` cannot be met (the temperature would grow or shrink without end) and is refused.

    :param target_entropy: the user's value
    :param action_space: the environment's action space (for ``"auto"``)
    :return: the target entropy
    """
    if target_entropy == "auto":
        return default_target_entropy(action_space)
    try:
        value = float(target_entropy)
    except ValueError:
        raise ValueError(f"target_entropy must be 'auto' or a float, got {target_entropy!r}") from None
    if not np.isfinite(value):
        raise ValueError(f"target_entropy must be finite, got {value}")
    if isinstance(action_space, spaces.Discrete):
        max_entropy = float(np.log(int(action_space.n)))
        if not 0.0 <= value < max_entropy:
            raise ValueError(
                f"target_entropy={value} is out of reach for {int(action_space.n)} discrete actions: the entropy of a "
                f"policy lies in [0, log {int(action_space.n)} = {max_entropy:.4f}]; pass a value in [0, {max_entropy:.4f})"
            )
    return value


@dataclass
class EntCoefState:
    """
    The tensors behind ``ent_coef``, under the attribute names SB3's ``SAC`` uses (and saves).

    :param log_ent_coef: :math:`\\log\\alpha` when learned, else ``None``
    :param ent_coef_optimizer: its Adam optimiser when learned, else ``None``
    :param ent_coef_tensor: :math:`\\alpha` when fixed, else ``None``
    """

    log_ent_coef: th.Tensor | None
    ent_coef_optimizer: th.optim.Adam | None
    ent_coef_tensor: th.Tensor | None


def make_ent_coef(ent_coef: str | float, device: th.device, learning_rate: float) -> EntCoefState:
    """
    Build the temperature's tensors: a learnable :math:`\\log\\alpha` with its optimiser (``"auto"``: SB3 and
    softlearning optimise the log, which keeps :math:`\\alpha > 0`), or a fixed :math:`\\alpha`.
    """
    spec = parse_ent_coef(ent_coef)
    if spec.learnable:
        log_ent_coef = th.log(th.ones(1, device=device) * spec.initial_value).requires_grad_(True)
        return EntCoefState(log_ent_coef, th.optim.Adam([log_ent_coef], lr=learning_rate), None)
    return EntCoefState(None, None, th.tensor(spec.initial_value, device=device))


def dual_ent_coef_loss(log_ent_coef: th.Tensor, entropy: th.Tensor, target_entropy: float) -> th.Tensor:
    """
    :math:`J(\\log\\alpha) = \\mathbb{E}[-\\log\\alpha\\,(\\log\\pi(a|s) + \\bar{\\mathcal H})]
    = \\log\\alpha\\,(\\mathcal H - \\bar{\\mathcal H})`.

    Its gradient w.r.t. :math:`\\log\\alpha` is :math:`\\mathcal H - \\bar{\\mathcal H}`: a gradient step raises
    :math:`\\alpha` when the entropy is below the target.

    :param log_ent_coef: :math:`\\log\\alpha`, shape (1,), requires grad
    :param entropy: per-state entropy estimates, shape (batch_size,): :math:`-\\log\\pi(a|s)` of a sampled action
        (continuous), or the exact :math:`-\\sum_a \\pi(a|s)\\log\\pi(a|s)` (discrete)
    :param target_entropy: :math:`\\bar{\\mathcal H}`
    """
    return (log_ent_coef * (entropy.detach() - target_entropy)).mean()


def dual_ent_coef_gradient(entropy: th.Tensor, target_entropy: float) -> th.Tensor:
    """
    The gradient of :func:`dual_ent_coef_loss` w.r.t. :math:`\\log\\alpha`: :math:`\\mathcal H - \\bar{\\mathcal H}`
    averaged over the batch (the dual is linear in :math:`\\log\\alpha`), for setting ``log_ent_coef.grad``
    without a backward pass.

    :param entropy: per-state entropies, shape (batch_size,)
    :param target_entropy: :math:`\\bar{\\mathcal H}`
    :return: shape (1,), like ``log_ent_coef``
    """
    return (entropy.detach().mean() - target_entropy).reshape(1)
