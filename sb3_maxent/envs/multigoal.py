r"""
A multi-goal environment modelled on the one of Haarnoja et al. 2017 (§6.1, Figure 2): a 2-D point mass
with four goals (our own parameters, not a copy of the paper's code).

The agent starts at the origin and moves by its action (clipped to [-1, 1]^2); the reward is
:math:`-c_a\|a\|^2 - c_d \min_g \|x - g\| + R\,[\text{goal reached}]` with goals at :math:`(\pm 5, 0)`,
:math:`(0, \pm 5)`. All four goals are equally good, so a maximum-entropy policy should head towards several
of them from the start, not one: a test of multimodality.
"""

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import register, registry


class MultiGoalEnv(gym.Env):
    """
    :param goal_distance: distance of the four goals from the origin
    :param goal_reward: reward on reaching a goal (within ``goal_radius``), which ends the episode
    :param goal_radius: distance at which a goal counts as reached
    :param action_cost: weight :math:`c_a` of the quadratic action penalty
    :param distance_cost: weight :math:`c_d` of the distance-to-nearest-goal cost
    :param max_episode_steps: episode length
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        goal_distance: float = 5.0,
        goal_reward: float = 10.0,
        goal_radius: float = 0.5,
        action_cost: float = 0.3,
        distance_cost: float = 1.0,
        max_episode_steps: int = 30,
    ):
        super().__init__()
        self.goals = goal_distance * np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
        self.goal_reward, self.goal_radius = goal_reward, goal_radius
        self.action_cost, self.distance_cost = action_cost, distance_cost
        self.max_episode_steps = max_episode_steps
        bound = 1.5 * goal_distance
        self.observation_space = spaces.Box(-bound, bound, (2,), dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
        self.position = np.zeros(2)
        self.steps = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        """Start at the origin; ``options`` is accepted and unused."""
        super().reset(seed=seed)
        self.position = np.zeros(2)
        self.steps = 0
        return self.position.astype(np.float32), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        """
        Move by the action clipped to [-1, 1]^2. The reward is
        ``-action_cost |a|^2 - distance_cost min_g |x - g| (+ goal_reward on reaching a goal)``; the episode
        terminates at a goal and is truncated after ``max_episode_steps``.
        """
        action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        bound = 1.5 * np.abs(self.goals).max()
        self.position = np.clip(self.position + action, -bound, bound)
        self.steps += 1
        distance = float(np.min(np.linalg.norm(self.goals - self.position, axis=1)))
        reward = -self.action_cost * float(action @ action) - self.distance_cost * distance
        reached = distance < self.goal_radius
        if reached:
            reward += self.goal_reward
        truncated = self.steps >= self.max_episode_steps
        return self.position.astype(np.float32), reward, reached, truncated, {"goal_reached": reached}


def register_multigoal() -> None:
    """Register ``MultiGoal-v0`` with gymnasium (idempotent)."""
    if "MultiGoal-v0" not in registry:
        register(id="MultiGoal-v0", entry_point="sb3_maxent.envs.multigoal:MultiGoalEnv")
