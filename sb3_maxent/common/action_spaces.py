"""Which implementation an algorithm name builds: the environment's action space decides (or, on load, the policy)."""

import inspect
from typing import Any

import gymnasium as gym
from gymnasium import spaces


def action_space_of(env: Any) -> spaces.Space | None:
    """
    :param env: what the user passed as ``env``: an environment, a ``VecEnv``, a registered id, or ``None``
    :return: its action space, or ``None`` without an environment
    """
    if env is None:
        return None
    if isinstance(env, str):
        # a throwaway instance: SB3 makes its own from the id
        made = gym.make(env)
        try:
            return made.action_space
        finally:
            made.close()
    return getattr(env, "action_space", None)


def is_discrete_problem(policy: Any, env: Any, discrete_policy_base: type) -> bool:
    """
    Whether ``Algorithm(policy, env)`` is for ``Discrete`` actions: the environment's action space says so, or,
    without an environment (``Algorithm.load``), the saved policy class.

    :param discrete_policy_base: the class every policy of the discrete implementation derives from
    """
    action_space = action_space_of(env)
    if action_space is not None:
        return isinstance(action_space, spaces.Discrete)
    return inspect.isclass(policy) and issubclass(policy, discrete_policy_base)
