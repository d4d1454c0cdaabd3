from sb3_maxent.sacv1.discrete import DiscreteSACV1
from sb3_maxent.sacv1.policies import (
    CnnPolicy,
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
    "CnnPolicy",
    "DiscreteCnnPolicy",
    "DiscreteMlpPolicy",
    "DiscreteMultiInputPolicy",
    "DiscreteSACV1",
    "DiscreteSACV1Policy",
    "MlpPolicy",
    "MultiInputPolicy",
    "SACV1Policy",
]
