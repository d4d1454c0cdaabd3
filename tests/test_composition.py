r"""
Composition of soft Q-functions (``sb3_maxent.sql.composition``; Haarnoja et al. 2018, "Composable Deep
Reinforcement Learning for Robotic Manipulation"): the bound :math:`Q_\Sigma - C^* \le Q^*_C \le Q_\Sigma` on
random tabular MDPs against exact solutions, its exact cases, and the policy acting with the composition.
"""

import numpy as np
import pytest
import torch as th
from hypothesis import given, settings
from hypothesis import strategies as st
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_maxent import SoftQLearning, TabularMDP
from sb3_maxent.common.soft_bellman import soft_value
from sb3_maxent.sql.composition import ComposedSoftQPolicy, compose_q_values, composition_weights
from sb3_maxent.tabular import soft_value_iteration

TOL = 1e-11  # value iteration's stopping residual


def solve(transitions, rewards, gamma, ent_coef):
    return soft_value_iteration(TabularMDP.from_arrays(transitions, rewards), gamma, ent_coef, tol=TOL).q_values


def solver_error(gamma):
    """|Q - Q*| of value iteration stopped at residual TOL is at most gamma TOL / (1 - gamma) (the contraction)."""
    return gamma * TOL / (1 - gamma)


def composition_gap(transitions, q_values, weights, gamma, ent_coef):
    r""":math:`C^*`: the hard Q-function of the reward :math:`\gamma\,\mathbb{E}_{s'}[D(s')]`, :math:`D \ge 0`."""
    composed = compose_q_values(q_values, weights)
    disagreement = sum(w * soft_value(q, ent_coef) for w, q in zip(weights, q_values, strict=True)) - soft_value(
        composed, ent_coef
    )
    assert np.all(disagreement >= -1e-9)  # Hölder's inequality
    return solve(transitions, gamma * transitions @ disagreement, gamma, 0.0)


def random_mdp(seed, n_states, n_actions):
    rng = np.random.default_rng(seed)
    transitions = rng.dirichlet(np.full(n_states, 0.3), size=(n_states, n_actions))
    return transitions, rng.normal(size=(n_states, n_actions)), rng.normal(size=(n_states, n_actions))


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_states=st.integers(1, 6),
    n_actions=st.integers(1, 4),
    gamma=st.sampled_from([0.0, 0.5, 0.9]),
    ent_coef=st.sampled_from([0.1, 1.0, 3.0]),
    w1=st.floats(0.0, 1.0),
)
def test_the_composed_q_function_bounds_the_optimal_one_from_both_sides(seed, n_states, n_actions, gamma, ent_coef, w1):
    transitions, reward_1, reward_2 = random_mdp(seed, n_states, n_actions)
    weights = [w1, 1.0 - w1]
    q_1, q_2 = (solve(transitions, reward, gamma, ent_coef) for reward in (reward_1, reward_2))
    q_mixed = solve(transitions, w1 * reward_1 + (1 - w1) * reward_2, gamma, ent_coef)
    composed = compose_q_values([q_1, q_2], weights)
    gap = composition_gap(transitions, [q_1, q_2], weights, gamma, ent_coef)
    # four value-iteration solutions enter each side: each within solver_error of its fixed point
    slack = 4 * solver_error(gamma) + 1e-12 * max(1.0, np.abs(composed).max())
    assert np.all(q_mixed <= composed + slack)
    assert np.all(q_mixed >= composed - gap - slack)


def test_composition_is_exact_without_a_future():
    # gamma = 0: Q*_i = r_i, so Q*_C = sum_i w_i r_i = Q_Sigma
    transitions, reward_1, reward_2 = random_mdp(0, 4, 3)
    q_1, q_2 = solve(transitions, reward_1, 0.0, 1.0), solve(transitions, reward_2, 0.0, 1.0)
    # two products and a sum: within 2 ulps of the larger term, an absolute bound (a relative one is unbounded where
    # 0.25 r_1 + 0.75 r_2 cancels; rtol=1e-15 held only while both sides were the very same elementwise operations)
    scale = np.abs(reward_1).max() + np.abs(reward_2).max()
    np.testing.assert_allclose(
        compose_q_values([q_1, q_2], [0.25, 0.75]),
        0.25 * reward_1 + 0.75 * reward_2,
        rtol=0,
        atol=4 * np.finfo(float).eps * scale,
    )


def test_composition_of_identical_tasks_is_the_task_and_its_gap_is_zero():
    transitions, reward, _ = random_mdp(1, 5, 3)
    q_star = solve(transitions, reward, 0.9, 0.5)
    np.testing.assert_allclose(compose_q_values([q_star, q_star, q_star]), q_star, rtol=1e-14)
    assert np.abs(composition_gap(transitions, [q_star, q_star], [0.5, 0.5], 0.9, 0.5)).max() <= 1e-12


def test_the_bound_is_strict_where_the_tasks_disagree():
    # two tasks that want opposite actions: the composition's gap is positive, and Q*_C lies strictly inside
    transitions = np.zeros((2, 2, 2))
    transitions[:, 0, 0] = transitions[:, 1, 1] = 1.0
    reward_1, reward_2 = np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([[0.0, 1.0], [0.0, 1.0]])
    gamma, ent_coef = 0.9, 0.5
    q_1, q_2 = solve(transitions, reward_1, gamma, ent_coef), solve(transitions, reward_2, gamma, ent_coef)
    q_mixed = solve(transitions, 0.5 * (reward_1 + reward_2), gamma, ent_coef)
    composed = compose_q_values([q_1, q_2])
    assert np.all(composition_gap(transitions, [q_1, q_2], [0.5, 0.5], gamma, ent_coef) > 0.1)
    assert np.all(q_mixed < composed - 0.1)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([0.5], r"weights must have one entry per soft Q-function \(2\), got shape \(1,\)"),
        ([0.7, 0.7], r"weights must be finite, non-negative and sum to 1"),
        ([1.5, -0.5], r"weights must be finite, non-negative and sum to 1"),
        ([float("nan"), 1.0], r"weights must be finite, non-negative and sum to 1"),
    ],
)
def test_weights_off_the_simplex_are_refused(weights, message):
    with pytest.raises(ValueError, match=message):
        composition_weights(weights, 2)


def discrete_model(bias, ent_coef=0.5):
    """A SoftQLearning model on CartPole whose Q-network outputs ``bias`` whatever the state."""
    model = SoftQLearning("MlpPolicy", "CartPole-v1", ent_coef=ent_coef, seed=0, policy_kwargs={"net_arch": [8]})
    last = model.policy.q_net.q_net[-1]
    with th.no_grad():
        last.weight.zero_()
        last.bias.copy_(th.tensor(bias))
    return model


def test_the_composed_discrete_policy_samples_the_boltzmann_policy_of_the_weighted_sum():
    th.manual_seed(0)
    models = [discrete_model([1.0, 0.0]), discrete_model([0.0, 0.6])]
    policy = ComposedSoftQPolicy(models, weights=[0.25, 0.75])
    # Q_Sigma = (0.25, 0.45): pi(1) = sigmoid((0.45 - 0.25) / 0.5)
    p_right = 1.0 / (1.0 + np.exp(-0.4))
    observations = np.zeros((20_000, 4), dtype=np.float32)
    actions, _ = policy.predict(observations)
    # binomial standard deviation sqrt(p (1 - p) / n) = 0.0035: 5 of them
    assert abs(actions.mean() - p_right) < 5 * np.sqrt(p_right * (1 - p_right) / len(actions))
    assert np.all(policy.predict(observations[:10], deterministic=True)[0] == 1)
    action, _ = policy.predict(observations[0], deterministic=True)
    assert np.shape(action) == () and action == 1


def test_composed_models_must_share_one_temperature_and_their_spaces():
    with pytest.raises(ValueError, match=r"models must share one positive temperature \(ent_coef\), got \[0\.5, 0\.25\]"):
        ComposedSoftQPolicy([discrete_model([0.0, 0.0]), discrete_model([0.0, 0.0], ent_coef=0.25)])
    acrobot = SoftQLearning("MlpPolicy", "Acrobot-v1", ent_coef=0.5, policy_kwargs={"net_arch": [8]})
    with pytest.raises(ValueError, match="models must share their observation and action spaces"):
        ComposedSoftQPolicy([discrete_model([0.0, 0.0]), acrobot])
    with pytest.raises(TypeError, match="models must be a non-empty sequence of SoftQLearning models"):
        ComposedSoftQPolicy([])
    with pytest.raises(ValueError, match=r"n_particles must be a positive integer, got 0"):
        ComposedSoftQPolicy([discrete_model([0.0, 0.0])], n_particles=0)


def test_the_composed_continuous_policy_acts_in_the_box_and_evaluates():
    models = [
        SoftQLearning("MlpPolicy", "Pendulum-v1", ent_coef=0.1, seed=seed, policy_kwargs={"net_arch": [8]}) for seed in (0, 1)
    ]
    policy = ComposedSoftQPolicy(models, n_particles=64)
    observations = np.zeros((5, 3), dtype=np.float32)
    for deterministic in (False, True):
        actions, _ = policy.predict(observations, deterministic=deterministic)
        assert actions.shape == (5, 1) and np.all(np.abs(actions) <= 2.0)
    # the mode among the particles is the particle of largest Q_Sigma
    th.manual_seed(3)
    obs = th.zeros(1, 3)
    particles = 2.0 * th.rand(1, 64, 1) - 1.0
    best = particles[0, policy.q_values(obs, particles).argmax(dim=1)].item()
    th.manual_seed(3)
    action, _ = policy.predict(np.zeros(3, dtype=np.float32), deterministic=True)
    assert action.shape == (1,) and action[0] == pytest.approx(2.0 * best, rel=1e-6)
    mean_return, _ = evaluate_policy(policy, models[0].get_env(), n_eval_episodes=1)
    assert np.isfinite(mean_return)
