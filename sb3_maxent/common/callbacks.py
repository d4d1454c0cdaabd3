r"""
Automatic temperature by dual gradient descent, as a callback (Haarnoja et al. 2018b, arXiv 1812.05905, §5).

Maximum-entropy RL with an entropy *constraint* :math:`\mathbb{E}[-\log\pi(a|s)] \geq \bar{\mathcal H}` has the dual

.. math::

    J(\alpha) = \mathbb{E}_{s\sim\mathcal D,\, a\sim\pi}\big[-\alpha\,(\log\pi(a|s) + \bar{\mathcal H})\big],

minimised over :math:`\alpha` (here over :math:`\log\alpha`, which keeps :math:`\alpha > 0`). Its gradient
:math:`\partial J/\partial\alpha = \mathcal H(\pi) - \bar{\mathcal H}` is negative when the entropy is below the
target (the constraint is violated), so :math:`\alpha` grows; above the target, it shrinks.
"""

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from sb3_maxent.common.ent_coef import (
    TargetEntropy,
    Temperature,
    check_initial_ent_coef,
    epsilon_greedy_target_schedule,
    parse_target_entropy,
)
from sb3_maxent.common.protocol import MaxEntAlgorithm, as_maxent_algorithm
from sb3_maxent.common.saving import atomic_torch_save


def linear_target_schedule(start: float, end: float) -> Callable[[float], float]:
    """
    Entropy target moving linearly from ``start`` to ``end`` over training.

    :return: a function of SB3's ``progress_remaining`` (1 at the start, 0 at the end)
    """

    def schedule(progress_remaining: float) -> float:
        return end + (start - end) * progress_remaining

    return schedule


def exponential_target_schedule(start: float, end: float, decay: float = 5.0) -> Callable[[float], float]:
    r"""
    Entropy target decaying exponentially from ``start`` towards ``end``:
    :math:`\bar{\mathcal H}(p) = end + (start - end)\,e^{-decay\,(1 - p)}` with ``p`` the progress remaining.
    """
    if decay <= 0:
        raise ValueError(f"decay must be > 0, got {decay}")

    def schedule(progress_remaining: float) -> float:
        return end + (start - end) * math.exp(-decay * (1.0 - progress_remaining))

    return schedule


class EntropyTargetCallback(BaseCallback):
    r"""
    Drive the temperature :math:`\alpha` of an entropy-regularised algorithm to keep the policy's entropy at a target,
    by dual gradient descent on :math:`\log\alpha`.

    Works with the algorithms that follow :class:`~sb3_maxent.common.protocol.MaxEntAlgorithm` (``SACV1`` with ``Box``
    or ``Discrete`` actions, discrete ``SoftQLearning``) and with SB3's ``SAC``
    (:class:`~sb3_maxent.common.protocol.SACAdapter`), created with a *fixed* float ``ent_coef``. The callback keeps no
    temperature of its own: it steers the model's (:meth:`~sb3_maxent.common.ent_coef.Temperature.steer`), which then
    holds :math:`\log\alpha` and its Adam optimiser besides the fixed :math:`\alpha` the algorithm trains with. After
    each training phase it sets the temperature's target (``model.target_entropy`` shows it) and takes as many dual
    steps as the phase took gradient steps, each on a fresh replay batch with the policy's entropy there (exact for
    the softmax policies of discrete actions, else :math:`-\log\pi` of a sampled action), then publishes
    :math:`\alpha` into the tensor the algorithm trains with (``ent_coef_tensor``). That tensor is saved with the
    model, so a reloaded model resumes with the same :math:`\alpha`; :meth:`save`/:meth:`load` also keep
    :math:`\log\alpha` and the dual optimiser's moments. One callback drives one model: the first it is used with,
    which may ``learn()`` with it again; another model is refused.

    :param target_entropy: :math:`\bar{\mathcal H}`: ``"auto"`` (:math:`-\dim\mathcal A` for ``Box`` actions, the
        entropy of SB3 DQN's final epsilon-greedy policy for ``Discrete``, as the algorithms), a float (checked
        against the model's action space as the algorithms check theirs),
        or a function of SB3's ``progress_remaining`` (see :func:`linear_target_schedule`,
        :func:`exponential_target_schedule`) to anneal the entropy over training
    :param learning_rate: learning rate of the Adam optimiser on :math:`\log\alpha`
    :param initial_ent_coef: starting :math:`\alpha` (> 0); by default the model's own ``ent_coef``
    :param batch_size: replay batch size of a dual step (default: the model's)
    :param verbose: verbosity
    """

    def __init__(
        self,
        target_entropy: TargetEntropy = "auto",
        learning_rate: float = 3e-4,
        initial_ent_coef: float | None = None,
        batch_size: int | None = None,
        verbose: int = 0,
    ):
        super().__init__(verbose)
        if not (learning_rate > 0 and math.isfinite(learning_rate)):
            raise ValueError(f"learning_rate must be a finite number > 0, got {learning_rate}")
        if initial_ent_coef is not None:
            check_initial_ent_coef(initial_ent_coef)
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if isinstance(target_entropy, str) and target_entropy != "auto":
            raise ValueError(f"target_entropy must be 'auto', a float or a schedule, got {target_entropy!r}")
        # the argument; its value now is the temperature's target (current_target_entropy)
        self.target_entropy = target_entropy
        self.learning_rate = learning_rate
        self.initial_ent_coef = initial_ent_coef
        self.batch_size = batch_size
        self._pending_state: dict[str, Any] | None = None
        self._n_updates_seen = 0
        # the model whose temperature this callback steers (see _check_bound_model), and that model as a
        # MaxEntAlgorithm (itself, or SB3's SAC through its adapter, which holds the steered temperature)
        self._bound_model: Any = None
        self._algorithm: MaxEntAlgorithm | None = None

    # set-up ---------------------------------------------------------------------------------------

    def _init_callback(self) -> None:
        self._check_bound_model()
        algorithm = self._algorithm if self._bound_model is self.model else self._supported_algorithm()
        assert algorithm is not None
        # the target must be reachable by the model's policy, as the algorithms' own target_entropy must be
        target_entropy = self.current_target_entropy()
        temperature = algorithm.temperature
        if self._bound_model is not self.model:
            initial = self.initial_ent_coef if self.initial_ent_coef is not None else temperature.item()
            if not initial > 0:
                raise ValueError(
                    f"the model's ent_coef is {initial}: the dual update works on log(alpha) and needs alpha > 0 "
                    "(pass initial_ent_coef)"
                )
            temperature.steer(initial, self.learning_rate)
            self._algorithm, self._bound_model = algorithm, self.model
            if self._pending_state is not None:
                self._load_state_dict_now(self._pending_state)
                self._pending_state = None
        temperature.set_target_entropy(target_entropy)
        temperature.publish()
        self._n_updates_seen = self.model._n_updates

    def _check_bound_model(self) -> None:
        """
        Refuse a second model. The log(alpha) and Adam moments the callback steers belong to the model they were learned
        on: writing them into another model would silently replace its temperature, and re-initialising would
        silently drop them (SB3 callbacks with state, such as EvalCallback's best reward, are made per model too).
        The same model may learn() with it again (a resumed run); a reloaded model takes a new callback, to which
        save()/load() carry the state.
        """
        if self._bound_model is not None and self.model is not self._bound_model:
            raise ValueError(
                f"this {type(self).__name__} already drives the temperature of another model (a "
                f"{type(self._bound_model).__name__}): create one callback per model; to carry alpha and its optimiser "
                "over to a reloaded model, save() this callback and load() it into a new one"
            )

    def _supported_algorithm(self) -> MaxEntAlgorithm:
        """
        The model as a :class:`~sb3_maxent.common.protocol.MaxEntAlgorithm` whose fixed temperature can be steered.

        :raises ValueError: naming what the model lacks
        """
        model = self.model
        algorithm = as_maxent_algorithm(model)
        if algorithm is None:
            raise ValueError(
                "EntropyTargetCallback supports SACV1 (either action space), SB3's SAC and discrete SoftQLearning "
                f"(with a float ent_coef), not {type(model).__name__}"
            )
        if algorithm.policy_entropy_unavailable is not None:
            raise ValueError(algorithm.policy_entropy_unavailable)
        if algorithm.temperature.learnable:
            raise ValueError(
                f"{type(model).__name__} already learns its ent_coef ('auto'): create it with a float ent_coef "
                "(e.g. ent_coef=0.1) to let EntropyTargetCallback drive it"
            )
        if not isinstance(model, OffPolicyAlgorithm) or model.replay_buffer is None:
            raise ValueError("EntropyTargetCallback needs the model's replay buffer")
        return algorithm

    # the dual update ----------------------------------------------------------------------------

    def current_target_entropy(self) -> float:
        r"""
        :math:`\bar{\mathcal H}` now (schedules read the model's ``progress_remaining``).

        :raises ValueError: if it is not finite, or out of reach for the model's action space (a ``Discrete`` policy's
            entropy lies in :math:`[0, \log|\mathcal A|]`), as the algorithms' ``target_entropy`` is checked
        """
        target = self.target_entropy
        if callable(target):
            target = float(target(self.model._current_progress_remaining))
        return parse_target_entropy(target, self.model.action_space)

    @property
    def temperature(self) -> Temperature | None:
        """The model's temperature, which this callback steers (``None`` until ``learn()`` starts)."""
        return None if self._algorithm is None else self._algorithm.temperature

    @property
    def alpha(self) -> float:
        r"""The current :math:`\alpha`, the model's."""
        return self._initialised_temperature("alpha").item()

    @property
    def ent_coef(self) -> float:
        r"""
        :attr:`alpha` under the name SB3 logs it with (``train/ent_coef``), kept from version 0.2; on a model,
        ``ent_coef`` is the argument (``"auto"``, ``0.1``, ...).
        """
        return self._initialised_temperature("ent_coef").item()

    def _initialised_temperature(self, what: str) -> Temperature:
        """The temperature, or a clear error before ``learn()`` has bound the callback to a model."""
        if self._algorithm is None:
            raise RuntimeError(
                f"{type(self).__name__}.{what}: the callback has no temperature yet; it is created when learn() "
                "starts with it (model.learn(..., callback=callback)) or by callback.init_callback(model)"
            )
        return self._algorithm.temperature

    @property
    def log_ent_coef(self) -> th.Tensor | None:
        r""":math:`\log\alpha`, the dual variable, the model's temperature's (``None`` until ``learn()`` starts)."""
        temperature = self.temperature
        return None if temperature is None else temperature.log_ent_coef

    @property
    def optimizer(self) -> th.optim.Adam | None:
        r"""The Adam optimiser of :math:`\log\alpha`, the model's temperature's (``None`` until ``learn()`` starts)."""
        temperature = self.temperature
        return None if temperature is None else temperature.ent_coef_optimizer

    def _on_rollout_start(self) -> None:
        # Called at the start of each rollout, i.e. right after the previous training phase
        n_new_updates = self.model._n_updates - self._n_updates_seen
        self._n_updates_seen = self.model._n_updates
        if n_new_updates > 0:
            self.update(n_new_updates)

    def _on_training_end(self) -> None:
        self._on_rollout_start()

    def _on_step(self) -> bool:
        return True

    def update(self, n_steps: int) -> None:
        r"""
        Set the temperature's target to :meth:`current_target_entropy`, take ``n_steps`` dual gradient steps on fresh
        replay batches (the algorithm's :math:`\alpha` stays the same meanwhile), then publish the new :math:`\alpha`.
        """
        temperature = self._initialised_temperature("update()")
        temperature.set_target_entropy(self.current_target_entropy())
        losses, entropies = [], []
        for _ in range(n_steps):
            entropy = self._batch_entropy()
            losses.append(temperature.minimise_dual_loss(entropy))
            entropies.append(entropy.mean().item())
        temperature.publish()
        self.logger.record("train/ent_coef", temperature.item())
        self.logger.record("train/entropy", float(np.mean(entropies)))
        self.logger.record("train/target_entropy", temperature.target_entropy)
        self.logger.record("train/ent_coef_loss", float(np.mean(losses)))

    def _batch_entropy(self) -> th.Tensor:
        """Entropy of the current policy on a fresh replay batch of states, shape (batch_size,)."""
        assert self._algorithm is not None and isinstance(self.model, OffPolicyAlgorithm)
        assert self.model.replay_buffer is not None
        batch_size = self.batch_size or self.model.batch_size
        observations = self.model.replay_buffer.sample(batch_size, env=self.model._vec_normalize_env).observations
        return self._algorithm.policy_entropy(observations)

    # state --------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        r"""
        :math:`\log\alpha` and the dual optimiser's state (before ``learn()``: a state given to
        :meth:`load_state_dict` and not applied yet).

        :raises RuntimeError: before ``learn()`` when no state was loaded: there is nothing to save yet
        """
        return self._state("state_dict()")

    def _state(self, what: str) -> dict[str, Any]:
        if self._algorithm is None and self._pending_state is not None:
            return self._pending_state
        temperature = self._initialised_temperature(what)
        assert temperature.log_ent_coef is not None and temperature.ent_coef_optimizer is not None
        return {
            "log_ent_coef": temperature.log_ent_coef.detach().clone(),
            "optimizer": temperature.ent_coef_optimizer.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (applied when ``learn()`` starts if the callback is not initialised yet)."""
        if self._algorithm is None:
            self._pending_state = state
        else:
            self._load_state_dict_now(state)

    def _load_state_dict_now(self, state: dict[str, Any]) -> None:
        assert self.log_ent_coef is not None and self.optimizer is not None
        with th.no_grad():
            self.log_ent_coef.copy_(state["log_ent_coef"].to(self.log_ent_coef.device))
        self.optimizer.load_state_dict(state["optimizer"])

    def save(self, path: str | Path) -> None:
        r"""Save :math:`\log\alpha` and the optimiser beside the model (e.g. ``"model_entropy_callback.pt"``)."""
        atomic_torch_save(self._state("save()"), path)

    def load(self, path: str | Path) -> None:
        r"""Load what :meth:`save` wrote; a resumed run then goes on with the same :math:`\alpha` and optimiser."""
        self.load_state_dict(th.load(path, weights_only=True))


class EpsilonGreedyEntropyCallback(EntropyTargetCallback):
    r"""
    :class:`EntropyTargetCallback` whose target explores as SB3's DQN does
    (:func:`~sb3_maxent.common.ent_coef.epsilon_greedy_target_schedule`): the entropy of DQN's epsilon-greedy policy
    along DQN's exploration schedule, for ``Discrete`` actions. It takes
    DQN's own argument names, so a DQN configuration's exploration carries over to discrete ``SoftQLearning`` or
    ``SACV1`` (created with a float ``ent_coef``, the starting :math:`\alpha`), and rl-zoo configs can name it
    (``callback: - sb3_maxent.EpsilonGreedyEntropyCallback: {exploration_fraction: 0.12, ...}``).

    :param exploration_fraction: fraction of training over which :math:`\epsilon` decays
    :param exploration_initial_eps: :math:`\epsilon` at the start
    :param exploration_final_eps: :math:`\epsilon` from then on
    :param max_fraction: the target's cap as a fraction of :math:`\log|\mathcal A|`
    :param learning_rate: learning rate of the Adam optimiser on :math:`\log\alpha`
    :param initial_ent_coef: starting :math:`\alpha` (> 0); by default the model's own ``ent_coef``
    :param batch_size: replay batch size of a dual step (default: the model's)
    :param verbose: verbosity
    """

    def __init__(
        self,
        exploration_fraction: float = 0.1,
        exploration_initial_eps: float = 1.0,
        exploration_final_eps: float = 0.05,
        max_fraction: float = 0.98,
        learning_rate: float = 3e-4,
        initial_ent_coef: float | None = None,
        batch_size: int | None = None,
        verbose: int = 0,
    ):
        # checked now, with any number of actions; the schedule itself needs the model's action space
        epsilon_greedy_target_schedule(2, exploration_fraction, exploration_initial_eps, exploration_final_eps, max_fraction)
        super().__init__("auto", learning_rate, initial_ent_coef, batch_size, verbose)
        self.exploration_fraction = exploration_fraction
        self.exploration_initial_eps = exploration_initial_eps
        self.exploration_final_eps = exploration_final_eps
        self.max_fraction = max_fraction

    def _init_callback(self) -> None:
        self._check_bound_model()
        action_space = self.model.action_space
        if not isinstance(action_space, spaces.Discrete):
            raise ValueError(
                f"EpsilonGreedyEntropyCallback targets the entropy of an epsilon-greedy policy over discrete actions; "
                f"the action space is {action_space}: use EntropyTargetCallback with a float or a schedule"
            )
        self.target_entropy = epsilon_greedy_target_schedule(
            int(action_space.n),
            self.exploration_fraction,
            self.exploration_initial_eps,
            self.exploration_final_eps,
            self.max_fraction,
        )
        super()._init_callback()
