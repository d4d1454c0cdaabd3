"""Environments of the papers that gymnasium does not ship (as sb3-contrib and softlearning keep theirs)."""

from sb3_maxent.envs.multigoal import MultiGoalEnv, register_multigoal

__all__ = ["MultiGoalEnv", "register_multigoal"]
