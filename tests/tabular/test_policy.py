"""TabularSoftPolicy behind SB3's BasePolicy interface: constructor keywords, deterministic and sampled actions."""

import gymnasium as gym
import numpy as np
import pytest
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


def test_predict_samples_by_default_and_passes_the_recurrent_state_back():
    # predict(obs) without deterministic samples from pi (SB3's default, deterministic=False): at a high temperature
    # the argmax is drawn about a third of the time (P(all 600 argmax) = 3^-600), and SB3's state comes back as given
    policy = TabularSoftPolicy(gym.spaces.Discrete(3), gym.spaces.Discrete(3))
    q_values = np.array([[0.0, 1.0, 0.5], [2.0, 0.0, 1.0], [0.0, 0.0, 3.0]])
    policy.set_q_values(q_values, ent_coef=100.0)
    states = np.tile(np.arange(3), 200)
    th.manual_seed(0)
    actions, _ = policy.predict(states)
    assert 0.2 < float((actions == q_values.argmax(axis=1)[states]).mean()) < 0.5
    recurrent_state = (np.zeros(2),)
    assert policy.predict(states[:1], state=recurrent_state)[1] is recurrent_state


def test_float32_state_indices_are_read_when_whole_and_refused_otherwise():
    # any floating dtype holding whole numbers is a state index (observations often arrive as float32)
    policy = TabularSoftPolicy(gym.spaces.Discrete(3), gym.spaces.Discrete(2))
    actions, _ = policy.predict(np.array([1.0, 2.0], dtype=np.float32), deterministic=True)
    assert actions.tolist() == [0, 0]
    message = (
        r"^observation must be integer state indices in \[0, 3\) \(the Discrete\(3\) observation space\), got 1\.5 "
        r"in \[1\.5\]$"
    )
    with pytest.raises(ValueError, match=message):
        policy.predict(np.array([1.5], dtype=np.float32))
