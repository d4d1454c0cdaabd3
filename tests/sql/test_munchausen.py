r"""
Munchausen soft Q-learning (Vieillard, Pietquin, Geist 2020): discrete ``SoftQLearning`` with ``munchausen_coef``.

The target is :math:`r + \alpha_m\,\mathrm{clip}(\alpha\log\bar\pi(a|s), l_0, 0) + \gamma(1-d)\,\bar V(s')`; the
bonus is checked against hand-computed numbers and its limits, ``munchausen_coef=0`` against Soft Q-Learning
bit for bit, and the SB3 behaviours as for the other algorithms.
"""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from hypothesis import given, settings
from hypothesis import strategies as st
from stable_baselines3.common.callbacks import CheckpointCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.envs import IdentityEnv, SimpleMultiObsEnv
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_maxent import SoftQLearning
from sb3_maxent.sql.discrete import munchausen_bonus

SMALL = {"net_arch": [16]}
PAPER = {"munchausen_coef": 0.9, "munchausen_clip": -1.0}


def test_bonus_against_a_hand_computation():
    # Q_bar(s1, .) = (1, 2), Q_bar(s2, .) = (0, -3), alpha = 0.5: log pi = Q/alpha - logsumexp(Q/alpha)
    # s1, a=0: 0.5 * (2 - log(e^2 + e^4)) = 1 - 0.5 log(e^2 + e^4) = -1.0634640 -> clipped to -1
    # s2, a=1: 0.5 * (-6 - log(1 + e^-6)) = -3.0012380 -> clipped to -1
    # s1, a=1: 0.5 * (4 - log(e^2 + e^4)) = -0.0634640 (not clipped)
    q_values = th.tensor([[1.0, 2.0], [0.0, -3.0], [1.0, 2.0]])
    actions = th.tensor([[0.0], [1.0], [1.0]])
    bonus = munchausen_bonus(q_values, actions, 0.5, munchausen_coef=0.9, munchausen_clip=-1.0)
    expected = 0.9 * th.tensor([[-1.0], [-1.0], [1.0 - 0.5 * math.log(math.exp(2) + math.exp(4)) + 1.0]])
    th.testing.assert_close(bonus, expected)
    # without clipping, the first two are alpha log pi itself
    unclipped = munchausen_bonus(q_values, actions, 0.5, munchausen_coef=1.0, munchausen_clip=-math.inf)
    th.testing.assert_close(unclipped[:2], th.tensor([[1.0 - 0.5 * math.log(math.exp(2) + math.exp(4))], [-3.0012380]]))


@settings(max_examples=50, deadline=None)
@given(
    q_values=st.lists(st.floats(-50, 50), min_size=3, max_size=3),
    action=st.integers(0, 2),
    alpha=st.floats(1e-3, 10.0),
    munchausen_coef=st.floats(0.0, 1.0),
    munchausen_clip=st.floats(-5.0, 0.0),
)
def test_bonus_is_the_scaled_clipped_log_policy(q_values, action, alpha, munchausen_coef, munchausen_clip):
    q = th.tensor([q_values], dtype=th.float64)
    bonus = munchausen_bonus(q, th.tensor([[float(action)]]), alpha, munchausen_coef, munchausen_clip).item()
    log_pi = th.log_softmax(q / alpha, dim=1)[0, action].item()
    assert bonus == pytest.approx(munchausen_coef * min(max(alpha * log_pi, munchausen_clip), 0.0), abs=1e-9)
    assert munchausen_coef * munchausen_clip <= bonus <= 0.0


@pytest.mark.parametrize("alpha", [1e-3, 1e-6, 0.0])
def test_bonus_tends_to_the_clipped_advantage_as_alpha_vanishes(alpha):
    # alpha log pi(a|s) = Q(s,a) - V(s) -> Q(s,a) - max_b Q(s,b): advantage learning, finite for every alpha
    q_values = th.tensor([[1.0, 1.3, 0.2], [0.0, -0.5, 3.0]])
    actions = th.tensor([[0.0], [1.0]])
    bonus = munchausen_bonus(q_values, actions, alpha, munchausen_coef=1.0, munchausen_clip=-1.0)
    th.testing.assert_close(bonus, th.tensor([[-0.3], [-1.0]]), atol=1e-5 + 2 * alpha, rtol=0)


def _trained_parameters(**kwargs):
    model = SoftQLearning("MlpPolicy", "CartPole-v1", learning_starts=50, train_freq=1, seed=3, policy_kwargs=SMALL, **kwargs)
    model.learn(300)
    return model.policy.state_dict()


def test_munchausen_coef_zero_is_soft_q_learning_bit_for_bit():
    default = _trained_parameters()
    off = _trained_parameters(munchausen_coef=0.0, munchausen_clip=-0.3)
    assert all(th.equal(default[key], off[key]) for key in default)
    on = _trained_parameters(**PAPER)
    assert not all(th.equal(default[key], on[key]) for key in default)  # the option does change training


@pytest.mark.parametrize("ent_coef", [0.3, "auto", "auto_0.03"])
def test_save_load_is_exact_and_training_resumes(tmp_path, ent_coef):
    env = IdentityEnv(5)
    model = SoftQLearning(
        "MlpPolicy", env, learning_starts=20, train_freq=1, ent_coef=ent_coef, policy_kwargs=SMALL, seed=0, **PAPER
    )
    model.learn(60)
    model.save(tmp_path / "model.zip")
    model.save_replay_buffer(tmp_path / "buffer.pkl")
    loaded = SoftQLearning.load(tmp_path / "model.zip", env=env)
    loaded.load_replay_buffer(tmp_path / "buffer.pkl")
    assert (loaded.munchausen_coef, loaded.munchausen_clip) == (0.9, -1.0)
    for key, value in model.policy.state_dict().items():
        assert th.equal(value, loaded.policy.state_dict()[key]), key
    assert th.equal(loaded.temperature.value(), model.temperature.value())
    assert loaded.replay_buffer.size() == model.replay_buffer.size() == 60
    loaded.learn(30, reset_num_timesteps=False)
    assert (loaded.num_timesteps, loaded.replay_buffer.size()) == (90, 90)


def test_vec_envs_dict_observations_callbacks_and_evaluation(tmp_path):
    env = make_vec_env("CartPole-v1", n_envs=2)
    model = SoftQLearning("MlpPolicy", env, learning_starts=30, target_update_interval=2, policy_kwargs=SMALL, **PAPER)
    model.learn(100, callback=CheckpointCallback(save_freq=25, save_path=str(tmp_path)))
    assert model._n_updates > 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["rl_model_100_steps.zip", "rl_model_50_steps.zip"]
    episode_returns, _ = evaluate_policy(model, env, n_eval_episodes=2)
    assert np.isfinite(episode_returns)

    multi_obs_env = SimpleMultiObsEnv(random_start=False)
    model = SoftQLearning("MultiInputPolicy", multi_obs_env, learning_starts=30, policy_kwargs=SMALL, **PAPER)
    model.learn(60)
    assert model._n_updates > 0
    assert multi_obs_env.action_space.contains(int(model.predict(multi_obs_env.reset()[0])[0]))


def test_same_seed_same_parameters():
    first, second = _trained_parameters(**PAPER), _trained_parameters(**PAPER)
    assert all(th.equal(first[key], second[key]) for key in first)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"munchausen_coef": -0.1}, "munchausen_coef (alpha_m, the weight of the Munchausen bonus) must be a finite"),
        ({"munchausen_coef": float("nan")}, "munchausen_coef (alpha_m"),
        ({"munchausen_coef": float("inf")}, "munchausen_coef (alpha_m"),
        ({"munchausen_clip": 0.5}, "munchausen_clip (l0, the lower clip of alpha log pi(a|s)) must be <= 0"),
        ({"munchausen_clip": float("nan")}, "munchausen_clip (l0"),
        ({"munchausen_coef": 0.9, "ent_coef": 0.0}, "munchausen_coef=0.9 needs a temperature ent_coef > 0"),
    ],
)
def test_bad_arguments_are_refused_with_a_sentence(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SoftQLearning("MlpPolicy", "CartPole-v1", **kwargs)


@pytest.mark.parametrize("name", ["munchausen_coef", "munchausen_clip"])
def test_munchausen_on_box_actions_is_refused(name):
    env = gym.make("Pendulum-v1")
    with pytest.raises(ValueError, match=f"SoftQLearning: {name} applies to Discrete actions only"):
        SoftQLearning("MlpPolicy", env, **{name: -0.5 if name == "munchausen_clip" else 0.9})
