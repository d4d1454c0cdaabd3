"""
Automatic temperature by dual gradient descent, as a callback (Haarnoja et al. 2018b, arXiv 1812.05905, §5).

Maximum-entropy RL with an entropy *constraint* :math:`\\mathbb{E}[-\\log\\pi(a|s)] \\geq \\bar{\\mathcal H}` has the dual

.. math::

    J(\\alpha) = \\mathbb{E}_{s\\sim\\mathcal D,\\, a\\sim\\pi}\\big[-\\alpha\\,(\\log\\pi(a|s) + \\bar{\\mathcal H})\\big],

minimised over :math:`\\alpha` (here over :math:`\\log\\alpha`, which keeps :math:`\\alpha > 0`). Its gradient
:math:`\\partial J/\\partial\\alpha = \\mathcal H(\\pi) - \\bar{\\mathcal H}` is negative when the entropy is below the
target (the constraint is violated), so :math:`\\alpha` grows; above the target, it shrinks.
"""

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.callbacks import BaseCallback

from sb3_maxent.common import boltzmann
from sb3_maxent.common.ent_coef import (
    Temperature,
    check_initial_ent_coef,
    epsilon_greedy_target_schedule,
    parse_target_entropy,
)
from sb3_maxent.common.saving import atomic_torch_save

TargetEntropy = float | str | Callable[[float], float]


def linear_target_schedule(start: float, end: float) -> Callable[[float], float]:
    """
    Entropy target moving linearly from ``start`` to ``end`` over training.

    :return: a function of SB3's ``progress_remaining`` (1 at the start, 0 at the end)
    """

    def schedule(progress_remaining: float) -> float:
        return end + (start - end) * progress_remaining

    return schedule


def exponential_target_schedule(start: float, end: float, decay: float = 5.0) -> Callable[[float], float]:
    """
    Entropy target decaying exponentially from ``start`` towards ``end``:
    :math:`\\bar{\\mathcal H}(p) = end + (start - end)\\,e^{-decay\\,(1 - p)}` with ``p`` the progress remaining.
    """
    if decay <= 0:
        raise ValueError(f"decay must be > 0, got {decay}")

    def schedule(progress_remaining: float) -> float:
        return end + (start - end) * math.exp(-decay * (1.0 - progress_remaining))

    return schedule


class EntropyTargetCallback(BaseCallback):
    """
    Drive the temperature :math:`\\alpha` (``ent_coef``) of an entropy-regularised algorithm to keep the policy's
    entropy at a target, by dual gradient descent on :math:`\\log\\alpha` with its own optimiser.

    Works with ``SACV1`` (``Box`` or ``Discrete`` actions), SB3's ``SAC`` and discrete ``SoftQLearning`` created with a
    *fixed* float ``ent_coef`` (entropy estimated by :math:`-\\log\\pi` of a sampled action, or exactly for the softmax
    policies of discrete actions): after each training phase it
    takes as many dual steps as the phase took gradient steps, each on a fresh replay batch with actions
    sampled from the current policy, and writes :math:`\\alpha` into the tensor the algorithm trains with
    (``ent_coef_tensor``). That tensor is saved with the model, so a reloaded model resumes with the same
    :math:`\\alpha`; :meth:`save`/:meth:`load` also keep the dual optimiser's moments. One callback drives one
    model: the first it is used with, which may ``learn()`` with it again; another model is refused.

    :param target_entropy: :math:`\\bar{\\mathcal H}`: ``"auto"`` (:math:`-\\dim\\mathcal A` for ``Box`` actions, the
        entropy of SB3 DQN's final epsilon-greedy policy for ``Discrete``, as the algorithms), a float (checked
        against the model's action space as the algorithms check theirs),
        or a function of SB3's ``progress_remaining`` (see :func:`linear_target_schedule`,
        :func:`exponential_target_schedule`) to anneal the entropy over training
    :param learning_rate: learning rate of the Adam optimiser on :math:`\\log\\alpha`
    :param initial_ent_coef: starting :math:`\\alpha` (> 0); by default the model's own ``ent_coef``
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
        self.target_entropy = target_entropy
        self.learning_rate = learning_rate
        self.initial_ent_coef = initial_ent_coef
        self.batch_size = batch_size
        # the dual variable log alpha and its optimiser; alpha itself is written to the model's temperature
        self.temperature: Temperature | None = None
        self._pending_state: dict[str, Any] | None = None
        self._n_updates_seen = 0
        # the model whose temperature this callback drives (see _check_bound_model)
        self._bound_model: Any = None

    # set-up ---------------------------------------------------------------------------------------

    def _init_callback(self) -> None:
        self._check_bound_model()
        self._check_model()
        # the target must be reachable by the model's policy, as the algorithms' own target_entropy must be
        self.current_target_entropy()
        if self.temperature is None:
            initial = (
                self.initial_ent_coef if self.initial_ent_coef is not None else float(self._algorithm.ent_coef_tensor.item())
            )
            if not initial > 0:
                raise ValueError(
                    f"the model's ent_coef is {initial}: the dual update works on log(alpha) and needs alpha > 0 "
                    "(pass initial_ent_coef)"
                )
            self.temperature = Temperature.learned_from(
                initial, self.model.action_space, self.model.device, self.learning_rate
            )
            if self._pending_state is not None:
                self._load_state_dict_now(self._pending_state)
                self._pending_state = None
            self._bound_model = self.model
        self._write_ent_coef()
        self._n_updates_seen = self.model._n_updates

    def _check_bound_model(self) -> None:
        """
        Refuse a second model. The callback's log(alpha) and Adam moments belong to the model they were learned
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

    @property
    def _algorithm(self) -> Any:
        """The model, as the SAC-like algorithm that ``_check_model`` verified (actor, replay buffer, ent_coef_tensor)."""
        return self.model

    def _check_model(self) -> None:
        model = self.model
        if getattr(model, "ent_coef_optimizer", None) is not None:
            raise ValueError(
                f"{type(model).__name__} already learns its ent_coef ('auto'): create it with a float ent_coef "
                "(e.g. ent_coef=0.1) to let EntropyTargetCallback drive it"
            )
        actor = getattr(model, "actor", None)
        has_entropy = (
            hasattr(actor, "action_log_prob")
            or hasattr(actor, "action_log_probs")
            or hasattr(getattr(model, "policy", None), "boltzmann_log_probs")
        )
        if hasattr(actor, "sample") and not has_entropy:
            raise ValueError(
                "continuous SoftQLearning samples with an SVGD sampler whose log-probability (and entropy) has no "
                "closed form: EntropyTargetCallback cannot drive its temperature; set ent_coef directly"
            )
        if not hasattr(model, "ent_coef_tensor") or not has_entropy:
            raise ValueError(
                "EntropyTargetCallback supports SACV1 (either action space), SB3's SAC and discrete SoftQLearning "
                f"(with a float ent_coef), not {type(model).__name__}"
            )
        if getattr(model, "replay_buffer", None) is None:
            raise ValueError("EntropyTargetCallback needs the model's replay buffer")

    # the dual update ----------------------------------------------------------------------------

    def current_target_entropy(self) -> float:
        """
        :math:`\\bar{\\mathcal H}` now (schedules read the model's ``progress_remaining``).

        :raises ValueError: if it is not finite, or out of reach for the model's action space (a ``Discrete`` policy's
            entropy lies in :math:`[0, \\log|\\mathcal A|]`), as the algorithms' ``target_entropy`` is checked
        """
        target = self.target_entropy
        if callable(target):
            target = float(target(self.model._current_progress_remaining))
        return parse_target_entropy(target, self.model.action_space)

    @property
    def ent_coef(self) -> float:
        """The current :math:`\\alpha`."""
        return self._initialised_temperature("ent_coef").item()

    def _initialised_temperature(self, what: str) -> Temperature:
        """The temperature, or a clear error before ``learn()`` has created it."""
        if self.temperature is None:
            raise RuntimeError(
                f"{type(self).__name__}.{what}: the callback has no temperature yet; it is created when learn() "
                "starts with it (model.learn(..., callback=callback)) or by callback.init_callback(model)"
            )
        return self.temperature

    @property
    def log_ent_coef(self) -> th.Tensor | None:
        """:math:`\\log\\alpha`, the dual variable (``None`` until ``learn()`` starts)."""
        return None if self.temperature is None else self.temperature.log_ent_coef

    @property
    def optimizer(self) -> th.optim.Adam | None:
        """The Adam optimiser of :math:`\\log\\alpha` (``None`` until ``learn()`` starts)."""
        return None if self.temperature is None else self.temperature.ent_coef_optimizer

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
        """Take ``n_steps`` dual gradient steps on fresh replay batches and write the new :math:`\\alpha`."""
        temperature = self._initialised_temperature("update()")
        target_entropy = self.current_target_entropy()
        losses, entropies = [], []
        for _ in range(n_steps):
            entropy = self._batch_entropy()
            losses.append(temperature.minimise_dual_loss(entropy, target_entropy))
            entropies.append(entropy.mean().item())
        self._write_ent_coef()
        self.logger.record("train/ent_coef", self.ent_coef)
        self.logger.record("train/entropy", float(np.mean(entropies)))
        self.logger.record("train/target_entropy", target_entropy)
        self.logger.record("train/ent_coef_loss", float(np.mean(losses)))

    def _batch_entropy(self) -> th.Tensor:
        """Entropy of the current policy on a fresh replay batch of states, shape (batch_size,)."""
        model = self._algorithm
        batch_size = self.batch_size or model.batch_size
        observations = model.replay_buffer.sample(batch_size, env=model._vec_normalize_env).observations
        with th.no_grad():
            if hasattr(model.policy, "boltzmann_log_probs"):
                # Discrete SoftQLearning: the exact entropy of pi = softmax(Q / alpha)
                return boltzmann.entropy_of_log_probs(model.policy.boltzmann_log_probs(observations))
            if hasattr(model.actor, "action_log_probs"):
                # Discrete SACV1: the exact entropy of its softmax actor
                return boltzmann.entropy_of_log_probs(model.actor.action_log_probs(observations))
            if getattr(model, "use_sde", False):
                model.actor.reset_noise()
            # Continuous: -log pi(a|s) of one action sampled per state, an unbiased estimate
            _, log_prob = model.actor.action_log_prob(observations)
        return -log_prob.reshape(-1)

    def _write_ent_coef(self) -> None:
        assert self.temperature is not None and self.temperature.log_ent_coef is not None
        ent_coef = self.temperature.log_ent_coef.detach().exp()
        target = getattr(self._algorithm, "temperature", None)
        if isinstance(target, Temperature):
            target.assign(ent_coef)  # ours: the one owner, which the policy reads too
            return
        # SB3's SAC: in place, as the tensor its train() reads and save() stores
        with th.no_grad():
            ent_coef_tensor = self._algorithm.ent_coef_tensor
            ent_coef_tensor.copy_(ent_coef.reshape(ent_coef_tensor.shape))

    # state --------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """
        :math:`\\log\\alpha` and the dual optimiser's state (before ``learn()``: a state given to
        :meth:`load_state_dict` and not applied yet).

        :raises RuntimeError: before ``learn()`` when no state was loaded: there is nothing to save yet
        """
        return self._state("state_dict()")

    def _state(self, what: str) -> dict[str, Any]:
        if self.temperature is None and self._pending_state is not None:
            return self._pending_state
        temperature = self._initialised_temperature(what)
        assert temperature.log_ent_coef is not None and temperature.ent_coef_optimizer is not None
        return {
            "log_ent_coef": temperature.log_ent_coef.detach().clone(),
            "optimizer": temperature.ent_coef_optimizer.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (applied when ``learn()`` starts if the callback is not initialised yet)."""
        if self.temperature is None:
            self._pending_state = state
        else:
            self._load_state_dict_now(state)

    def _load_state_dict_now(self, state: dict[str, Any]) -> None:
        assert self.log_ent_coef is not None and self.optimizer is not None
        with th.no_grad():
            self.log_ent_coef.copy_(state["log_ent_coef"].to(self.log_ent_coef.device))
        self.optimizer.load_state_dict(state["optimizer"])

    def save(self, path: str | Path) -> None:
        """Save :math:`\\log\\alpha` and the optimiser beside the model (e.g. ``"model_entropy_callback.pt"``)."""
        atomic_torch_save(self._state("save()"), path)

    def load(self, path: str | Path) -> None:
        """Load what :meth:`save` wrote; a resumed run then goes on with the same :math:`\\alpha` and optimiser."""
        self.load_state_dict(th.load(path, weights_only=True))


class EpsilonGreedyEntropyCallback(EntropyTargetCallback):
    """
    :class:`EntropyTargetCallback` whose target explores as SB3's DQN does
    (:func:`~sb3_maxent.common.ent_coef.epsilon_greedy_target_schedule`): the entropy of DQN's epsilon-greedy policy
    along DQN's exploration schedule, for ``Discrete`` actions. It takes
    DQN's own argument names, so a DQN configuration's exploration carries over to discrete ``SoftQLearning`` or
    ``SACV1`` (created with a float ``ent_coef``, the starting :math:`\\alpha`), and rl-zoo configs can name it
    (``callback: - sb3_maxent.EpsilonGreedyEntropyCallback: {exploration_fraction: 0.12, ...}``).

    :param exploration_fraction: fraction of training over which :math:`\\epsilon` decays
    :param exploration_initial_eps: :math:`\\epsilon` at the start
    :param exploration_final_eps: :math:`\\epsilon` from then on
    :param max_fraction: the target's cap as a fraction of :math:`\\log|\\mathcal A|`
    :param learning_rate: learning rate of the Adam optimiser on :math:`\\log\\alpha`
    :param initial_ent_coef: starting :math:`\\alpha` (> 0); by default the model's own ``ent_coef``
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
