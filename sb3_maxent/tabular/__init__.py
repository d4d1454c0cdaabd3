from sb3_maxent.tabular.mdp import TabularMDP
from sb3_maxent.tabular.policies import TabularSoftPolicy
from sb3_maxent.tabular.soft_vi import SoftValueIteration
from sb3_maxent.tabular.solvers import (
    ConvergenceWarning,
    SolverResult,
    soft_bellman_backup,
    soft_newton_iteration,
    soft_policy_evaluation,
    soft_policy_iteration,
    soft_value_iteration,
)

__all__ = [
    "ConvergenceWarning",
    "SoftValueIteration",
    "SolverResult",
    "TabularMDP",
    "TabularSoftPolicy",
    "soft_bellman_backup",
    "soft_newton_iteration",
    "soft_policy_evaluation",
    "soft_policy_iteration",
    "soft_value_iteration",
]
