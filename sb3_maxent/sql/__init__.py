from sb3_maxent.sql.policies import CnnPolicy, MlpPolicy, MultiInputPolicy, SoftQPolicy
from sb3_maxent.sql.sql import SoftQLearning

__all__ = ["CnnPolicy", "MlpPolicy", "MultiInputPolicy", "SoftQLearning", "SoftQPolicy"]
