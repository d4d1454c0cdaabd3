"""Integration with RL Baselines3 Zoo (rl_zoo3): registration of our algorithms and bundled configs."""

from sb3_maxent.zoo.register import ALGORITHMS, config_path, register_algorithms

__all__ = ["ALGORITHMS", "config_path", "register_algorithms"]
