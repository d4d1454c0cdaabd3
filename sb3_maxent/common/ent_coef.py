r"""Entropy coefficient (temperature :math:`\alpha`) handling shared by the maximum-entropy algorithms.

SB3's ``SAC`` accepts ``ent_coef`` as a float, ``"auto"`` or ``"auto_<init>"``; every algorithm of this
package accepts the same values, parsed once here instead of once per algorithm.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.utils import LinearSchedule

AUTO_PREFIX = "auto"
DEFAULT_AUTO_INIT = 1.0

# an entropy target: "auto", a number, or a function of SB3's progress_remaining (1 at the start of training, 0 at the end)
TargetEntropy = str | float | Callable[[float], float]


@dataclass(frozen=True)
class EntCoefSpec:
    r"""
    Parsed ``ent_coef`` argument.

    :param learnable: ``True`` when :math:`\alpha` is tuned by dual gradient descent (``"auto"``)
    :param initial_value: the fixed :math:`\alpha`, or the starting value of the learned one
    """

    learnable: bool
    initial_value: float


def parse_ent_coef(ent_coef: str | float) -> EntCoefSpec:
    r"""
    Parse ``ent_coef`` the way SB3's ``SAC`` understands it, with explicit errors.

    * a number :math:`\alpha \geq 0`: fixed temperature (``0`` removes the entropy bonus);
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
    return EntCoefSpec(learnable=False, initial_value=parse_fixed_ent_coef(value))


def parse_fixed_ent_coef(ent_coef: float, *, float32: bool = True) -> float:
    r"""
    A fixed temperature :math:`\alpha \geq 0`.

    :param ent_coef: the user's value
    :param float32: whether it will live in a float32 tensor (the deep algorithms) rather than float64 (tabular
        solvers, where any positive double is fine)
    :raises ValueError: on a negative or non-finite value, or one float32 would turn into 0
    """
    value = float(ent_coef)
    if not np.isfinite(value) or value < 0.0:
        raise ValueError(f"ent_coef (the temperature alpha) must be a finite number >= 0, got {ent_coef}")
    if float32:
        _check_float32_representable(value, "ent_coef")
    return value


# the largest float32, about 3.4e38: alpha lives in float32 tensors
FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_float32_representable(value: float, name: str, *, zero_allowed: bool = True) -> None:
    # alpha lives in float32 tensors: a positive value below float32's range would silently become 0 (no entropy
    # bonus at all, or log(alpha) = -inf), which is not what a positive value asks for; one above it would become
    # inf, and the first loss with it infinite (reported as divergence, not as the argument it comes from)
    if value > FLOAT32_MAX:
        raise ValueError(f"{name} must be finite in float32 (<= 3.4e38), got {value}")
    if value > 0.0 and np.float32(value) == 0.0:
        tiny = float(np.finfo(np.float32).smallest_subnormal)
        allowed = (
            "pass 0 for no entropy bonus, or a value of at least 1e-38" if zero_allowed else "pass a value of at least 1e-38"
        )
        raise ValueError(
            f"{name}={value} is below float32's smallest positive number ({tiny:.1e}) and would become 0: {allowed}"
        )


def check_initial_ent_coef(initial_ent_coef: float, name: str = "initial_ent_coef") -> None:
    r"""
    A starting :math:`\alpha` of a learned temperature: a finite number > 0 that float32 holds.

    :raises ValueError: naming ``name`` and the values allowed
    """
    if not (initial_ent_coef > 0 and math.isfinite(initial_ent_coef)):
        raise ValueError(f"{name} must be a finite number > 0, got {initial_ent_coef}")
    _check_float32_representable(float(initial_ent_coef), name, zero_allowed=False)


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
    _check_float32_representable(init_value, f"ent_coef={ent_coef!r}: the initial value", zero_allowed=False)
    return init_value


# SB3 DQN's default exploration_final_eps: the default discrete target explores as much as DQN's defaults do
DQN_FINAL_EPSILON = 0.05


def default_target_entropy(action_space: spaces.Space) -> float:
    r"""
    Default entropy target :math:`\bar{\mathcal{H}}`.

    * ``Box`` actions: :math:`-\dim(\mathcal{A})` (Haarnoja et al. 2018b);
    * ``Discrete`` actions: the entropy of SB3 DQN's final epsilon-greedy policy (:math:`\epsilon = 0.05`,
      :func:`epsilon_greedy_entropy`), so that a Boltzmann policy with a learned temperature explores as much as
      DQN's defaults. Discrete SACV1 uses it too: the discrete SAC of Christodoulou 2019 aims at
      :math:`0.98\log|\mathcal{A}|`, nearly uniform, which in episodic tasks makes the entropy bonus a reward for
      prolonging episodes (see :class:`~sb3_maxent.sacv1.discrete.DiscreteSACV1`).

    :param action_space: the environment's action space
    :return: the target entropy
    """
    if isinstance(action_space, spaces.Box):
        return -float(np.prod(action_space.shape))
    if isinstance(action_space, spaces.Discrete):
        return epsilon_greedy_entropy(DQN_FINAL_EPSILON, int(action_space.n))
    raise ValueError(f"No default target entropy for action space {action_space}")


def epsilon_greedy_entropy(epsilon: float, n_actions: int) -> float:
    r"""
    Entropy of an epsilon-greedy policy over ``n_actions`` actions (one greedy action), in nats:

    :math:`\mathcal H = -p\log p - (n-1)\,\frac{\epsilon}{n}\log\frac{\epsilon}{n}`,
    :math:`p = 1 - \epsilon + \epsilon/n`.

    A DQN configuration's ``exploration_final_eps`` through this function gives the ``target_entropy`` at which
    a Boltzmann policy (``SoftQLearning`` with ``ent_coef="auto"``) explores as much as that DQN, whatever the
    scale of the rewards: 0 at :math:`\epsilon = 0`, :math:`\log n` (uniform) at :math:`\epsilon = 1`.

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


def epsilon_greedy_target_schedule(
    n_actions: int,
    exploration_fraction: float = 0.1,
    exploration_initial_eps: float = 1.0,
    exploration_final_eps: float = 0.05,
    max_fraction: float = 0.98,
) -> Callable[[float], float]:
    r"""
    Entropy target that explores as SB3's DQN does: the entropy of its epsilon-greedy policy (see
    :func:`~sb3_maxent.epsilon_greedy_entropy`) while :math:`\epsilon` goes linearly from ``exploration_initial_eps``
    to ``exploration_final_eps`` over the first ``exploration_fraction`` of training (SB3's ``LinearSchedule``, DQN's
    argument names and defaults), capped at ``max_fraction`` :math:`\log|\mathcal A|`: the uniform policy's
    :math:`\log|\mathcal A|` (:math:`\epsilon = 1`) is a bound no softmax policy reaches, so a dual step towards it
    would raise :math:`\alpha` without end.

    :param n_actions: number of discrete actions, >= 2
    :param max_fraction: the cap as a fraction of :math:`\log|\mathcal A|`, in (0, 1) (0.98: the discrete SAC paper's
        target)
    :return: a function of SB3's ``progress_remaining``
    """
    if n_actions < 2:
        raise ValueError(f"n_actions must be >= 2 (one action has no entropy to target), got {n_actions}")
    if not 0.0 < max_fraction < 1.0:
        raise ValueError(f"max_fraction must be in (0, 1), got {max_fraction}")
    for name, value in (
        ("exploration_fraction", exploration_fraction),
        ("exploration_initial_eps", exploration_initial_eps),
        ("exploration_final_eps", exploration_final_eps),
    ):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], as for SB3's DQN, got {value}")
    epsilon = LinearSchedule(exploration_initial_eps, exploration_final_eps, exploration_fraction)
    ceiling = max_fraction * math.log(n_actions)

    def schedule(progress_remaining: float) -> float:
        return min(epsilon_greedy_entropy(epsilon(progress_remaining), n_actions), ceiling)

    return schedule


def parse_target_entropy(target_entropy: str | float, action_space: spaces.Space) -> float:
    r"""
    Resolve ``target_entropy`` (``"auto"`` or a number) to a float.

    With ``Discrete`` actions the entropy lies in :math:`[0, \log|\mathcal A|]`: a target outside
    :math:`[0, \log|\mathcal A|)` cannot be met (the temperature would grow or shrink without end) and is refused.

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


class Temperature:
    r"""
    The temperature :math:`\alpha` of a maximum-entropy algorithm: the one owner of its value, of :math:`\log\alpha`
    and its optimiser, and of the entropy target :math:`\bar{\mathcal H}` (with its schedule, if it has one).
    Algorithms, their policies and :class:`~sb3_maxent.EntropyTargetCallback` read and change them only through it;
    an algorithm's ``target_entropy``, ``log_ent_coef``, ``ent_coef_optimizer`` and ``ent_coef_tensor`` are views of
    it (:class:`TemperatureAttributes`).

    ``ent_coef`` is parsed once, as SB3's ``SAC`` reads it: a float is a fixed :math:`\alpha`; ``"auto"`` or
    ``"auto_<init>"`` learns :math:`\log\alpha` (which keeps :math:`\alpha > 0`, as SB3 and softlearning do) by
    dual gradient descent on

    .. math::

        J(\log\alpha) = \mathbb{E}[-\log\alpha\,(\log\pi(a|s) + \bar{\mathcal H})]
        = \log\alpha\,(\mathcal H - \bar{\mathcal H}),

    whose gradient :math:`\mathcal H - \bar{\mathcal H}` raises :math:`\alpha` while the entropy is below the target.

    A fixed temperature can be *steered* from outside (:meth:`steer`, as :class:`~sb3_maxent.EntropyTargetCallback`
    does): it then holds a :math:`\log\alpha` and its optimiser too, which the steering code steps
    (:meth:`minimise_dual_loss`) and copies into the fixed :math:`\alpha` the algorithm trains with (:meth:`publish`).

    Its tensors carry SB3 ``SAC``'s attribute names, which the algorithms expose for save and load:
    ``log_ent_coef`` and ``ent_coef_optimizer`` when learned (or steered), ``ent_coef_tensor`` when fixed.

    :param ent_coef: the user's ``ent_coef``
    :param target_entropy: the user's ``target_entropy`` (``"auto"`` or a float; see :func:`parse_target_entropy`)
    :param action_space: the environment's action space
    :param device: where the tensors live
    :param learning_rate: of the Adam optimiser on :math:`\log\alpha`
    """

    def __init__(
        self,
        ent_coef: str | float,
        target_entropy: str | float,
        action_space: spaces.Space,
        device: th.device | str,
        learning_rate: float,
    ):
        spec = parse_ent_coef(ent_coef)
        self.learnable = spec.learnable
        self.action_space = action_space
        self.target_entropy = parse_target_entropy(target_entropy, action_space)
        # a function of SB3's progress_remaining that moves target_entropy (follow_schedule), or None
        self.target_entropy_schedule: Callable[[float], float] | None = None
        self.log_ent_coef: th.Tensor | None = None
        self.ent_coef_optimizer: th.optim.Adam | None = None
        self.ent_coef_tensor: th.Tensor | None = None
        if spec.learnable:
            self.log_ent_coef = th.log(th.ones(1, device=device) * spec.initial_value).requires_grad_(True)
            self.ent_coef_optimizer = th.optim.Adam([self.log_ent_coef], lr=learning_rate)
        else:
            self.ent_coef_tensor = th.tensor(spec.initial_value, device=device)

    @classmethod
    def learned_from(
        cls, initial_ent_coef: float, action_space: spaces.Space, device: th.device | str, learning_rate: float
    ) -> "Temperature":
        r"""
        A learned temperature starting at ``initial_ent_coef``, with :math:`\log\alpha` rounded once from float64 (as
        :meth:`steer` starts it).
        """
        temperature = cls(f"auto_{initial_ent_coef!r}", "auto", action_space, device, learning_rate)
        with th.no_grad():
            assert temperature.log_ent_coef is not None
            temperature.log_ent_coef.copy_(th.tensor([math.log(initial_ent_coef)], device=device))
        return temperature

    # alpha ----------------------------------------------------------------------------------------------------

    def value(self) -> th.Tensor:
        r""":math:`\alpha`, detached: the other losses must not move it (softlearning issue #60)."""
        if self.learnable:
            assert self.log_ent_coef is not None
            return th.exp(self.log_ent_coef.detach())
        assert self.ent_coef_tensor is not None
        return self.ent_coef_tensor

    def item(self) -> float:
        r""":math:`\alpha` as a Python number (one device synchronisation)."""
        return float(self.value().item())

    def assign(self, ent_coef: th.Tensor) -> None:
        r"""Set a fixed :math:`\alpha` in place (the tensor the algorithm trains with and saves)."""
        if self.ent_coef_tensor is None:
            raise ValueError("this temperature is learned (ent_coef='auto'): it cannot be set from outside")
        with th.no_grad():
            self.ent_coef_tensor.copy_(ent_coef.detach().reshape(self.ent_coef_tensor.shape))

    # steering a fixed temperature -----------------------------------------------------------------------------

    @property
    def steered(self) -> bool:
        r"""Whether a fixed :math:`\alpha` is learned from outside (:meth:`steer`)."""
        return not self.learnable and self.log_ent_coef is not None

    def steer(self, initial_ent_coef: float, learning_rate: float) -> None:
        r"""
        Make this fixed temperature learnable from outside: :math:`\log\alpha` starts at ``log(initial_ent_coef)``
        (rounded once from float64), with a new Adam optimiser. The algorithm goes on training with the fixed
        :math:`\alpha` until :meth:`publish` copies the new one into it. Steering a steered temperature again starts
        it afresh.

        :param initial_ent_coef: the starting :math:`\alpha`, > 0
        :param learning_rate: of the Adam optimiser on :math:`\log\alpha`
        :raises ValueError: if the algorithm learns this temperature itself (``ent_coef="auto"``)
        """
        if self.ent_coef_tensor is None:
            raise ValueError("this temperature is learned (ent_coef='auto'): it cannot be steered from outside")
        device = self.ent_coef_tensor.device
        self.log_ent_coef = th.tensor([math.log(initial_ent_coef)], device=device).requires_grad_(True)
        self.ent_coef_optimizer = th.optim.Adam([self.log_ent_coef], lr=learning_rate)

    def publish(self) -> None:
        r"""Copy :math:`\alpha = \exp(\log\alpha)` of a steered temperature into the fixed value the algorithm reads."""
        assert self.log_ent_coef is not None, "only a steered temperature has a log alpha to publish"
        self.assign(self.log_ent_coef.detach().exp())

    # the entropy target ---------------------------------------------------------------------------------------

    def set_target_entropy(self, target_entropy: str | float) -> None:
        r"""
        A new constant :math:`\bar{\mathcal H}`, checked as the constructor checks its own (:func:`parse_target_entropy`);
        it replaces a schedule.
        """
        self.target_entropy = parse_target_entropy(target_entropy, self.action_space)
        self.target_entropy_schedule = None

    def schedule_target_entropy(self, schedule: Callable[[float], float]) -> None:
        r"""
        Let :math:`\bar{\mathcal H}` follow ``schedule``, a function of SB3's ``progress_remaining`` (see
        :meth:`follow_schedule`); it starts at ``schedule(1.0)``.

        :raises ValueError: if ``schedule(1.0)`` is not a valid target for the action space (:func:`parse_target_entropy`)
        """
        self.target_entropy = parse_target_entropy(schedule(1.0), self.action_space)
        self.target_entropy_schedule = schedule

    def follow_schedule(self, progress_remaining: float) -> float:
        r"""
        Move :math:`\bar{\mathcal H}` to its schedule's value at ``progress_remaining`` (if it has a schedule).

        :return: the target
        """
        if self.target_entropy_schedule is not None:
            self.target_entropy = float(self.target_entropy_schedule(progress_remaining))
        return self.target_entropy

    # the dual problem -----------------------------------------------------------------------------------------

    def dual_loss(self, entropy: th.Tensor, target_entropy: float | None = None) -> th.Tensor:
        r"""
        :math:`J(\log\alpha)` on a batch, for a backward pass (SACV1 applies it with its other losses).

        :param entropy: per-state entropy estimates, shape (batch_size,) or (batch_size, 1): :math:`-\log\pi(a|s)`
            of a sampled action, or the exact entropy of a Boltzmann policy
        :param target_entropy: :math:`\bar{\mathcal H}` (default: this temperature's)
        """
        assert self.log_ent_coef is not None, "only a learned temperature has a dual loss"
        target = self.target_entropy if target_entropy is None else target_entropy
        return (self.log_ent_coef * (entropy.detach() - target)).mean()

    def dual_loss_value(self, ent_coef: float, mean_entropy: float) -> float:
        r"""The value of :meth:`dual_loss` from numbers already on the host, for logging without another sync."""
        log_ent_coef = math.log(ent_coef) if ent_coef > 0.0 else -math.inf  # alpha reaches 0 only by underflow
        return log_ent_coef * (mean_entropy - self.target_entropy)

    def dual_gradient_step(self, entropy: th.Tensor) -> None:
        r"""
        One step on :math:`J`, whose gradient is set directly: :math:`J` is linear in :math:`\log\alpha`, so the
        batch mean of :math:`\mathcal H - \bar{\mathcal H}` is it, without a backward pass.
        """
        assert self.log_ent_coef is not None and self.ent_coef_optimizer is not None
        self.log_ent_coef.grad = (entropy.detach().mean() - self.target_entropy).reshape(1)
        self.ent_coef_optimizer.step()

    def minimise_dual_loss(self, entropy: th.Tensor, target_entropy: float | None = None) -> float:
        r"""
        One backward step on :meth:`dual_loss` towards ``target_entropy`` (default: this temperature's); returns the
        loss.
        """
        assert self.ent_coef_optimizer is not None
        loss = self.dual_loss(entropy, target_entropy)
        self.ent_coef_optimizer.zero_grad()
        loss.backward()
        self.ent_coef_optimizer.step()
        return loss.item()

    # the algorithm's optimisers and saving --------------------------------------------------------------------

    def optimizers(self) -> list[th.optim.Optimizer]:
        r"""
        The optimiser of :math:`\log\alpha` when the algorithm learns it (for its learning-rate schedule; a steered
        temperature's optimiser keeps its own learning rate).
        """
        if not self.learnable:
            return []
        assert self.ent_coef_optimizer is not None
        return [self.ent_coef_optimizer]

    def torch_save_params(self) -> tuple[list[str], list[str]]:
        """SB3's names of the state dicts and tensors to save (``_get_torch_save_params``)."""
        if self.learnable:
            return ["ent_coef_optimizer"], ["log_ent_coef"]
        return [], ["ent_coef_tensor"]


class TemperatureAttributes:
    r"""
    Read-only views of an algorithm's :class:`Temperature` (``self.temperature``) under SB3 ``SAC``'s attribute
    names: save, load and user code that read ``model.target_entropy``, ``model.log_ent_coef`` or
    ``model.ent_coef_tensor`` (SB3-style checkpoints) reach the one owner. ``ent_coef`` stays what SAC's is: the
    user's argument (``"auto"``, ``0.1``, ...).

    ``target_entropy`` is the target now (it moves with a schedule, or with EntropyTargetCallback's target); before
    ``_setup_model`` builds the temperature it is the ``target_entropy`` argument, as SAC's. ``log_ent_coef`` and
    ``ent_coef_optimizer`` are those of a temperature the algorithm learns (``ent_coef="auto"``), else ``None``, as on
    SAC, also while a callback steers a fixed temperature.

    The algorithm keeps its ``target_entropy`` argument as ``_target_entropy_argument``, which ``save`` stores; see
    :meth:`_adopt_loaded_target_entropy` for the files of earlier versions.
    """

    temperature: Temperature
    _target_entropy_argument: str | float

    @property
    def target_entropy(self) -> str | float:
        temperature: Temperature | None = getattr(self, "temperature", None)
        return self._target_entropy_argument if temperature is None else temperature.target_entropy

    @property
    def log_ent_coef(self) -> th.Tensor | None:
        return self.temperature.log_ent_coef if self.temperature.learnable else None

    @property
    def ent_coef_optimizer(self) -> th.optim.Adam | None:
        return self.temperature.ent_coef_optimizer if self.temperature.learnable else None

    @property
    def ent_coef_tensor(self) -> th.Tensor | None:
        return self.temperature.ent_coef_tensor

    def _adopt_loaded_target_entropy(self) -> None:
        """
        Take a ``target_entropy`` that SB3's ``load`` wrote into ``__dict__`` (where the view hides it) as the argument:
        files saved by versions up to 0.2 hold the resolved target under that name, and ``load(..., target_entropy=x)``
        sets it there too.
        """
        loaded = vars(self).pop("target_entropy", None)
        if loaded is not None:
            self._target_entropy_argument = loaded
