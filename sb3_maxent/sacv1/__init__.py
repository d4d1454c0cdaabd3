from sb3_maxent.sacv1.continuous import ContinuousSACV1
from sb3_maxent.sacv1.discrete import DiscreteSACV1
from sb3_maxent.sacv1.policies import (
    BaseSACV1Policy,
    CnnPolicy,
    ContinuousCnnPolicy,
    ContinuousMlpPolicy,
    ContinuousMultiInputPolicy,
    ContinuousSACV1Policy,
    DiscreteCnnPolicy,
    DiscreteMlpPolicy,
    DiscreteMultiInputPolicy,
    DiscreteSACV1Policy,
    MlpPolicy,
    MultiInputPolicy,
    SACV1Policy,
)
from sb3_maxent.sacv1.sacv1 import SACV1

__all__ = [
    "SACV1",
    "BaseSACV1Policy",
    "CnnPolicy",
    "ContinuousCnnPolicy",
    "ContinuousMlpPolicy",
    "ContinuousMultiInputPolicy",
    "ContinuousSACV1",
    "ContinuousSACV1Policy",
    "DiscreteCnnPolicy",
    "DiscreteMlpPolicy",
    "DiscreteMultiInputPolicy",
    "DiscreteSACV1",
    "DiscreteSACV1Policy",
    "MlpPolicy",
    "MultiInputPolicy",
    "SACV1Policy",
]
