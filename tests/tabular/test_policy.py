"""TabularSoftPolicy behind SB3's BasePolicy interface: constructor keywords, deterministic and sampled actions."""

import gymnasium as gym
import numpy as np
import torch as th

from sb3_maxent import SoftValueIteration, TabularMDP
from sb3_maxent.tabular.policies import TabularSoftPolicy


def test_base_policy_keywords_reach_sb3():
    # policy_kwargs are SB3's BasePolicy keywords too: they must not be dropped on the way
    policy = TabularSoftPolicy(gym.spaces.Discrete(2), gym.spaces.Discrete(3), normalize_images=False, squash_output=True)
    assert policy.normalize_images is False and policy.squash_output is True
    mdp = TabularMDP.random(4, 2, seed=0)
    model = SoftValueIteration(mdp=mdp, policy_kwargs={"normalize_images": False})
    assert model.policy.normalize_images is False


def test_deterministic_actions_are_the_argmax_of_q_and_sampling_is_the_default():
    # at a high temperature pi is nearly uniform, so a sampled action is the argmax only a third of the time;
    # deterministic=True must still give argmax_a Q(s, a) every time, through forward and predict alike
    policy = TabularSoftPolicy(gym.spaces.Discrete(3), gym.spaces.Discrete(3))
    q_values = np.array([[0.0, 1.0, 0.5], [2.0, 0.0, 1.0], [0.0, 0.0, 3.0]])
    policy.set_q_values(q_values, ent_coef=100.0)
    states = th.arange(3).repeat(200)
    expected = q_values.argmax(axis=1)[states.numpy()]
    th.manual_seed(0)
    np.testing.assert_array_equal(policy(states, deterministic=True).numpy(), expected)
    np.testing.assert_array_equal(policy.forward(states, True).numpy(), expected)
    actions, _ = policy.predict(states.numpy(), deterministic=True)
    np.testing.assert_array_equal(actions, expected)
    # SB3's hook _predict(observation, deterministic=False) samples by default, as forward does
    for sampled in (policy._predict(states), policy(states)):
        assert 0.2 < float((sampled.numpy() == expected).mean()) < 0.5
