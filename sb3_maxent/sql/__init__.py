from sb3_maxent.sql.composition import ComposedSoftQPolicy, compose_q_values
from sb3_maxent.sql.continuous import ContinuousSoftQLearning
from sb3_maxent.sql.discrete import DiscreteSoftQLearning
from sb3_maxent.sql.policies import (
    CnnPolicy,
    ContinuousCnnPolicy,
    ContinuousMlpPolicy,
    ContinuousMultiInputPolicy,
    ContinuousSoftQPolicy,
    DiscreteCnnPolicy,
    DiscreteMlpPolicy,
    DiscreteMultiInputPolicy,
    DiscreteSoftQPolicy,
    MlpPolicy,
    MultiInputPolicy,
    SoftQPolicy,
)
from sb3_maxent.sql.sql import SoftQLearning

__all__ = [
    "CnnPolicy",
    "ComposedSoftQPolicy",
    "ContinuousCnnPolicy",
    "ContinuousMlpPolicy",
    "ContinuousMultiInputPolicy",
    "ContinuousSoftQLearning",
    "ContinuousSoftQPolicy",
    "DiscreteCnnPolicy",
    "DiscreteMlpPolicy",
    "DiscreteMultiInputPolicy",
    "DiscreteSoftQLearning",
    "DiscreteSoftQPolicy",
    "MlpPolicy",
    "MultiInputPolicy",
    "SoftQLearning",
    "SoftQPolicy",
    "compose_q_values",
]
