"""sb3_maxent: maximum-entropy reinforcement learning for stable-baselines3."""

import os

from sb3_maxent.common.callbacks import EntropyTargetCallback, EpsilonGreedyEntropyCallback
from sb3_maxent.common.ent_coef import epsilon_greedy_entropy
from sb3_maxent.common.validation import DivergenceError, EnvironmentDataError
from sb3_maxent.sacv1 import SACV1
from sb3_maxent.sql import SoftQLearning
from sb3_maxent.tabular import SoftValueIteration, TabularMDP

# Read version from file
version_file = os.path.join(os.path.dirname(__file__), "version.txt")
with open(version_file) as file_handler:
    __version__ = file_handler.read().strip()

__all__ = [
    "SACV1",
    "DivergenceError",
    "EntropyTargetCallback",
    "EnvironmentDataError",
    "EpsilonGreedyEntropyCallback",
    "SoftQLearning",
    "SoftValueIteration",
    "TabularMDP",
    "__version__",
    "epsilon_greedy_entropy",
]
