"""The tabular soft-optimal policy: a Q table and its Boltzmann policy, behind SB3's ``BasePolicy`` interface."""

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import PyTorchObs

from sb3_maxent.common.soft_bellman import FloatArray, soft_greedy_log_policy


class TabularSoftPolicy(BasePolicy):
    r"""
    :math:`\pi(a|s) = \exp((Q(s,a) - V(s))/\alpha)` stored as tables (float64 buffers, saved exactly).

    ``predict(obs, deterministic=False)`` samples from :math:`\pi(\cdot|s)`; ``deterministic=True`` takes
    :math:`\arg\max_a Q(s,a)` (the mode of :math:`\pi`).

    :param observation_space: ``Discrete(n_states)``
    :param action_space: ``Discrete(n_actions)``
    """

    q_table: th.Tensor
    log_policy_table: th.Tensor

    def __init__(self, observation_space: spaces.Space, action_space: spaces.Space, **kwargs: Any):
        if not isinstance(observation_space, spaces.Discrete) or not isinstance(action_space, spaces.Discrete):
            raise ValueError(
                f"a tabular policy needs Discrete observation and action spaces, got {observation_space} and {action_space}"
            )
        super().__init__(observation_space, action_space, **kwargs)
        shape = (int(observation_space.n), int(action_space.n))
        self.register_buffer("q_table", th.zeros(shape, dtype=th.float64))
        self.register_buffer("log_policy_table", th.full(shape, -float(np.log(shape[1])), dtype=th.float64))

    def set_q_values(self, q_values: FloatArray, ent_coef: float) -> None:
        """Store :math:`Q` and its soft-greedy policy at temperature ``ent_coef``."""
        self.q_table.copy_(th.as_tensor(q_values, dtype=th.float64))
        self.log_policy_table.copy_(th.as_tensor(soft_greedy_log_policy(q_values, ent_coef), dtype=th.float64))

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """
        SB3's ``predict``, after checking that the observation holds state indices: a table lookup would otherwise
        wrap a negative index to the last states, and fail on a too large one with a bare IndexError.

        :raises ValueError: naming the observation and the allowed range
        """
        check_state_indices(observation, int(self.observation_space.n))  # type: ignore[attr-defined]
        return super().predict(observation, state, episode_start, deterministic)

    def forward(self, obs: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        return self._predict(obs, deterministic)

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        assert isinstance(observation, th.Tensor)
        states = observation.long().reshape(-1)
        if deterministic:
            return self.q_table[states].argmax(dim=1)
        return th.distributions.Categorical(logits=self.log_policy_table[states]).sample()


def check_state_indices(observation: Any, n_states: int) -> None:
    """
    :raises ValueError: unless ``observation`` is a state index or an array of them: integers in [0, n_states)
    """
    array = np.asarray(observation.cpu() if isinstance(observation, th.Tensor) else observation)
    allowed = f"integer state indices in [0, {n_states}) (the Discrete({n_states}) observation space)"
    if array.dtype == object or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"observation must be {allowed}, got {observation!r}")
    flat = array.reshape(-1)
    whole = np.isfinite(flat) & (np.mod(flat, 1) == 0) if np.issubdtype(flat.dtype, np.floating) else np.ones(flat.size, bool)
    bad = ~whole | (flat < 0) | (flat >= n_states)
    if np.any(bad):
        value = flat[np.flatnonzero(bad)[0]].item()
        where = f" in {array.tolist()}" if array.ndim > 0 else ""
        raise ValueError(f"observation must be {allowed}, got {value!r}{where}")
