r"""
Composition of soft Q-functions (Haarnoja et al. 2018, "Composable Deep Reinforcement Learning for Robotic
Manipulation", arXiv 1803.06773).

Soft Q-functions :math:`Q^*_1, \dots, Q^*_k` learnt at one temperature :math:`\alpha` for rewards
:math:`r_1, \dots, r_k` combine, without further training, into an approximation of the soft Q-function of the
mixed reward :math:`r_C = \sum_i w_i r_i` (weights on the simplex):

.. math::

    Q_\Sigma(s, a) = \sum_i w_i Q^*_i(s, a), \qquad \pi_\Sigma(a|s) \propto \exp(Q_\Sigma(s, a) / \alpha).

By Hölder's inequality, :math:`\alpha\log\sum_a\exp(\sum_i w_i q_i(a)/\alpha) \le \sum_i w_i\,\alpha\log\sum_a
\exp(q_i(a)/\alpha)`, so the soft Bellman operator of :math:`r_C` maps :math:`Q_\Sigma` below itself and

.. math::

    Q_\Sigma - C^* \le Q^*_C \le Q_\Sigma,

where :math:`C^*` is the fixed point of :math:`C(s,a) = \gamma\,\mathbb{E}_{s'}[D(s') + \max_{a'} C(s', a')]` and
:math:`D(s) = \sum_i w_i V^*_i(s) - \alpha\log\sum_a\exp(Q_\Sigma(s,a)/\alpha) \ge 0` measures how much the
constituent policies disagree at :math:`s` (zero where they agree). The bound is exact when :math:`\gamma = 0`.
"""

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.type_aliases import PyTorchObs

from sb3_maxent.common import boltzmann
from sb3_maxent.sql.continuous import ContinuousSoftQLearning
from sb3_maxent.sql.sql import SoftQLearning


def composition_weights(weights: Sequence[float] | np.ndarray | None, n_functions: int) -> np.ndarray:
    r"""
    The weights :math:`w` of a composition, on the simplex: equal weights :math:`1/k` when ``None`` (the paper's
    average of rewards).

    :raises ValueError: for weights of the wrong length, negative or non-finite, or not summing to 1
    """
    if n_functions < 1:
        raise ValueError("a composition needs at least one soft Q-function")
    if weights is None:
        return np.full(n_functions, 1.0 / n_functions)
    array = np.asarray(weights, dtype=np.float64)
    if array.shape != (n_functions,):
        raise ValueError(f"weights must have one entry per soft Q-function ({n_functions}), got shape {array.shape}")
    if not np.all(np.isfinite(array)) or np.any(array < 0) or not np.isclose(array.sum(), 1.0, rtol=0.0, atol=1e-9):
        raise ValueError(
            f"weights must be finite, non-negative and sum to 1 (the composed reward is their mixture of the rewards), "
            f"got {array.tolist()}"
        )
    return array


def compose_q_values(q_values: Sequence[Any], weights: Sequence[float] | np.ndarray | None = None) -> Any:
    r"""
    :math:`Q_\Sigma = \sum_i w_i Q_i` of NumPy arrays or torch tensors of one shape.

    :param q_values: the constituent soft Q-values, e.g. ``(n_states, n_actions)`` tables or ``(batch, n_actions)``
    :param weights: on the simplex; ``None`` for equal weights
    """
    mixture = composition_weights(weights, len(q_values))
    shapes = {tuple(q.shape) for q in q_values}
    if len(shapes) != 1:
        raise ValueError(f"the soft Q-values to compose must have one shape, got {sorted(shapes)}")
    return sum(float(weight) * q for weight, q in zip(mixture, q_values, strict=True))


class ComposedSoftQPolicy:
    r"""
    Acts with :math:`\pi_\Sigma(a|s) \propto \exp(\sum_i w_i Q_i(s,a)/\alpha)` from trained
    :class:`~sb3_maxent.SoftQLearning` models, without training (``predict`` as SB3's, so ``evaluate_policy``
    takes it).

    Discrete actions sample the Boltzmann policy of :math:`Q_\Sigma` exactly. Continuous actions use
    sampling-importance-resampling: ``n_particles`` actions uniform over the action box, one of them drawn with
    probability :math:`\propto \exp(Q_\Sigma/\alpha)` (exact as ``n_particles`` grows); each model's :math:`Q` is
    the minimum over its critics, as in its own soft value. ``deterministic=True`` takes the mode (the argmax; among
    the particles for continuous actions).

    :param models: trained SoftQLearning models of one implementation, with the same observation and action spaces
        and the same temperature (the composition bound holds at one :math:`\alpha`)
    :param weights: the mixture of their rewards, on the simplex; ``None`` for equal weights
    :param n_particles: continuous actions only: the uniform proposal's size
    """

    def __init__(self, models: Sequence[SoftQLearning], weights: Sequence[float] | None = None, n_particles: int = 1000):
        if not models or not all(isinstance(model, SoftQLearning) for model in models):
            raise TypeError("models must be a non-empty sequence of SoftQLearning models")
        if len({type(model) for model in models}) != 1:
            raise ValueError("models must all have discrete actions or all continuous actions")
        for model in models[1:]:
            if model.observation_space != models[0].observation_space or model.action_space != models[0].action_space:
                raise ValueError("models must share their observation and action spaces")
        temperatures = [model.temperature.item() for model in models]
        if not np.allclose(temperatures, temperatures[0], rtol=1e-6, atol=0.0) or temperatures[0] <= 0:
            raise ValueError(f"models must share one positive temperature (ent_coef), got {temperatures}")
        if isinstance(n_particles, bool) or not isinstance(n_particles, int) or n_particles < 1:
            raise ValueError(f"n_particles must be a positive integer, got {n_particles!r}")
        self.models = list(models)
        self.weights = composition_weights(weights, len(models))
        self.ent_coef = temperatures[0]
        self.n_particles = n_particles
        self.observation_space = models[0].observation_space
        self.action_space = models[0].action_space

    @th.no_grad()
    def q_values(self, obs: PyTorchObs, actions: th.Tensor | None = None) -> th.Tensor:
        r"""
        :math:`Q_\Sigma`: shape (batch_size, n_actions) for discrete actions; for continuous actions at ``actions``
        of shape (batch_size, n, action_dim) in the squashed box :math:`[-1, 1]^D`, shape (batch_size, n).
        """
        if actions is None:
            return compose_q_values([cast(Any, model.policy).q_net(obs) for model in self.models], self.weights)
        return compose_q_values(
            [
                ContinuousSoftQLearning._min_q_of_particles(cast(ContinuousSoftQLearning, model).critic, obs, actions)
                for model in self.models
            ],
            self.weights,
        )

    @th.no_grad()
    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """Actions for ``observation`` (one or a batch, as SB3's ``predict``); ``state`` is returned unchanged."""
        policy = self.models[0].policy
        obs, vectorized = policy.obs_to_tensor(observation)
        if isinstance(self.action_space, spaces.Discrete):
            logits = boltzmann.logits(self.q_values(obs), self.ent_coef)
            choice = logits.argmax(dim=1) if deterministic else th.distributions.Categorical(logits=logits).sample()
            actions = choice.cpu().numpy()
        else:
            actions = self._continuous_actions(obs, deterministic)
        if not vectorized:
            actions = actions.squeeze(axis=0)
        return actions, state

    def _continuous_actions(self, obs: PyTorchObs, deterministic: bool) -> np.ndarray:
        batch_size = obs.shape[0] if isinstance(obs, th.Tensor) else next(iter(obs.values())).shape[0]
        shape = tuple(self.action_space.shape or ())
        action_dim = int(np.prod(shape))
        particles = 2.0 * th.rand(batch_size, self.n_particles, action_dim, device=self.models[0].device) - 1.0
        logits = boltzmann.logits(self.q_values(obs, particles), self.ent_coef)
        index = logits.argmax(dim=1) if deterministic else th.distributions.Categorical(logits=logits).sample()
        squashed = particles[th.arange(batch_size), index].cpu().numpy()
        # to the action space's shape first: the bounds of a matrix-shaped Box broadcast against it, not a flat row
        return self.models[0].policy.unscale_action(squashed.reshape((batch_size, *shape)))
