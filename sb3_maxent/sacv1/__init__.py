from sb3_maxent.sacv1.policies import CnnPolicy, MlpPolicy, MultiInputPolicy, SACV1Policy
from sb3_maxent.sacv1.sacv1 import SACV1

__all__ = ["SACV1", "CnnPolicy", "MlpPolicy", "MultiInputPolicy", "SACV1Policy"]
