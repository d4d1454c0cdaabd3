r"""
What code in ``common/`` asks of a maximum-entropy algorithm, and the one adapter that gives SB3's ``SAC`` that shape.

:class:`~sb3_maxent.EntropyTargetCallback` talks to an algorithm only through :class:`MaxEntAlgorithm`: its
:class:`~sb3_maxent.common.ent_coef.Temperature` (the one owner of :math:`\alpha` and of the entropy target) and the
entropy of its policy on a batch of states. ``SACV1`` and ``SoftQLearning`` implement it in their own packages;
:class:`SACAdapter` implements it for SB3's ``SAC`` from SAC's public attributes. :func:`as_maxent_algorithm` picks
one for a model.
"""

from typing import Any, ClassVar, Protocol, runtime_checkable

import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.type_aliases import PyTorchObs

from sb3_maxent.common.ent_coef import Temperature


@runtime_checkable
class MaxEntAlgorithm(Protocol):
    r"""
    An algorithm whose temperature code outside its package may read and steer.

    - ``temperature``: its :class:`~sb3_maxent.common.ent_coef.Temperature`, the one owner of :math:`\alpha`,
      :math:`\log\alpha` and its optimiser, and the entropy target; the algorithm reads :math:`\alpha` from it at
      every gradient step;
    - :meth:`policy_entropy`: the entropy of the current policy at a batch of states;
    - ``policy_entropy_unavailable``: ``None``, or, for a policy without a tractable entropy, why (then
      :meth:`policy_entropy` raises it, and nothing can steer the temperature).
    """

    temperature: Temperature
    policy_entropy_unavailable: ClassVar[str | None]

    def policy_entropy(self, observations: PyTorchObs) -> th.Tensor:
        r"""
        :math:`\mathcal H(\pi(\cdot|s))` of the current policy at each state, without gradients: exact for a softmax
        over discrete actions, else :math:`-\log\pi(a|s)` of one action sampled per state (an unbiased estimate).

        :param observations: a batch of states, as the replay buffer samples them
        :return: shape (batch_size,)
        :raises ValueError: with ``policy_entropy_unavailable``, for a policy without a tractable entropy
        """
        ...


class SACTemperature(Temperature):
    r"""
    A :class:`~sb3_maxent.common.ent_coef.Temperature` made of SB3 ``SAC``'s own attributes: its tensors are SAC's
    (``log_ent_coef`` and ``ent_coef_optimizer`` when ``ent_coef="auto"``, else ``ent_coef_tensor``, written in place)
    and ``target_entropy`` reads and writes SAC's. What the steering code writes, SAC trains with and saves. A steered
    temperature (:meth:`~sb3_maxent.common.ent_coef.Temperature.steer`) keeps its :math:`\log\alpha` and optimiser
    here: on SAC they would tell its ``train()`` to learn :math:`\alpha` itself.

    :param model: a set-up ``SAC``
    """

    def __init__(self, model: SAC):
        # nothing to parse or create: SAC has set its temperature up
        self.model = model
        self.learnable = model.ent_coef_optimizer is not None
        self.action_space = model.action_space
        self.target_entropy_schedule = None
        self.log_ent_coef = model.log_ent_coef if self.learnable else None
        self.ent_coef_optimizer = model.ent_coef_optimizer
        self.ent_coef_tensor = None if self.learnable else model.ent_coef_tensor

    @property
    def target_entropy(self) -> float:
        r""":math:`\bar{\mathcal H}`: SAC's ``target_entropy``."""
        return float(self.model.target_entropy)

    @target_entropy.setter
    def target_entropy(self, value: float) -> None:
        self.model.target_entropy = value


class SACAdapter:
    r"""
    SB3's ``SAC`` as a :class:`MaxEntAlgorithm`: ``temperature`` is a :class:`SACTemperature` (a view of SAC's
    attributes) and :meth:`policy_entropy` uses SAC's tanh-Gaussian actor.

    :param model: a set-up ``SAC``
    """

    policy_entropy_unavailable: ClassVar[str | None] = None

    def __init__(self, model: SAC):
        self.model = model
        self.temperature: Temperature = SACTemperature(model)

    def policy_entropy(self, observations: PyTorchObs) -> th.Tensor:
        r""":math:`-\log\pi(a|s)` of one action sampled per state (with fresh gSDE noise), shape (batch_size,)."""
        with th.no_grad():
            if self.model.use_sde:
                self.model.actor.reset_noise()
            _, log_prob = self.model.actor.action_log_prob(observations)
        return -log_prob.reshape(-1)


def as_maxent_algorithm(model: Any) -> MaxEntAlgorithm | None:
    """
    :param model: an SB3 algorithm
    :return: the model itself if it is a :class:`MaxEntAlgorithm`, a :class:`SACAdapter` for a set-up SB3 ``SAC``,
        else ``None``
    """
    if isinstance(model, SAC):
        return SACAdapter(model) if getattr(model, "actor", None) is not None else None
    if isinstance(model, MaxEntAlgorithm):
        return model
    return None
