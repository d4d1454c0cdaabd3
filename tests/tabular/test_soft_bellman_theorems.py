"""The theorems of docs/theory.md, checked exactly on random MDPs (property-based) and on hand-solved ones."""

from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sb3_maxent.common.soft_bellman import policy_entropy, soft_greedy_log_policy, soft_greedy_policy, soft_value
from sb3_maxent.tabular import (
    TabularMDP,
    soft_bellman_backup,
    soft_policy_evaluation,
    soft_policy_iteration,
    soft_value_iteration,
)

ALPHAS = st.floats(min_value=0.05, max_value=5.0)
GAMMAS = st.floats(min_value=0.0, max_value=0.95)
SEEDS = st.integers(min_value=0, max_value=2**31 - 1)


def random_dense_mdp(seed, n_states=5, n_actions=3):
    rng = np.random.default_rng(seed)
    transitions = rng.dirichlet(np.ones(n_states), size=(n_states, n_actions))
    rewards = rng.normal(size=(n_states, n_actions))
    return TabularMDP.from_arrays(transitions, rewards), transitions, rewards


def hard_value_iteration_dense(transitions, rewards, gamma, sweeps=3000):
    """Textbook value iteration (max instead of log-sum-exp), independent of the package."""
    q_values = np.zeros_like(rewards)
    for _ in range(sweeps):
        q_values = rewards + gamma * np.einsum("sat,t->sa", transitions, q_values.max(axis=1))
    return q_values


# Energy form (docs/theory.md#soft-value-and-the-boltzmann-policy) --------------------------------------


def entropy_regularised_objective(x, q, alpha):
    return float(x @ q + alpha * policy_entropy(x[None, :])[0])


@settings(max_examples=30, deadline=None)
@given(q=st.lists(st.floats(-5, 5), min_size=2, max_size=6), alpha=ALPHAS)
def test_softmax_maximises_entropy_regularised_objective(q, alpha):
    q = np.array(q)
    x_star = soft_greedy_policy(q[None, :], alpha)[0]
    optimum = entropy_regularised_objective(x_star, q, alpha)
    # closed form of the optimal value: alpha log sum exp(q / alpha)
    assert optimum == pytest.approx(soft_value(q[None, :], alpha)[0], abs=1e-9)

    # The Gibbs variational identity, exact for every point y of the simplex:
    #   F(y) = F(x*) - alpha KL(y || x*),
    # so F(y) <= F(x*) with equality only at y = x*: x* is the unique maximiser, without a numerical optimiser
    rng = np.random.default_rng(0)
    for y in rng.dirichlet(np.ones(len(q)), size=200):
        kl = float(np.sum(y * (np.log(y) - np.log(x_star))))
        assert entropy_regularised_objective(y, q, alpha) == pytest.approx(optimum - alpha * kl, abs=1e-9)
        assert entropy_regularised_objective(y, q, alpha) <= optimum + 1e-12

    # and x* is stationary on the simplex: dF/dx_a = q_a - alpha (log x_a + 1) is the same for every action
    gradient = q - alpha * (np.log(x_star) + 1.0)
    np.testing.assert_allclose(gradient, gradient.mean(), atol=1e-9)


def test_soft_value_is_stable_for_tiny_and_zero_temperature():
    q = np.array([[1e3, -1e3, 999.0], [0.0, 0.0, 0.0]])
    for alpha in [1e-8, 1e-100, 1e-300, 5e-324]:
        values = soft_value(q, alpha)
        assert np.all(np.isfinite(values))
        np.testing.assert_allclose(values, q.max(axis=1) + np.array([0.0, alpha * np.log(3)]), atol=1e-12)
        assert np.all(np.isfinite(soft_greedy_policy(q, alpha)))
    np.testing.assert_array_equal(soft_value(q, 0.0), q.max(axis=1))
    # alpha = 0: uniform over tied maximisers (the alpha -> 0 limit), zero elsewhere
    np.testing.assert_array_equal(soft_greedy_policy(q, 0.0), [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    big = np.array([[1e300, -1e300]])
    assert np.all(np.isfinite(soft_greedy_log_policy(big, 1.0)[:, :1]))


# Contraction and fixed point (docs/theory.md#soft-bellman-operator) ---------------------------------


@settings(max_examples=40, deadline=None)
@given(seed=SEEDS, gamma=GAMMAS, alpha=st.floats(0.0, 5.0))
def test_soft_bellman_operator_is_a_gamma_contraction(seed, gamma, alpha):
    mdp, _, _ = random_dense_mdp(seed)
    rng = np.random.default_rng(seed + 1)
    q1, q2 = rng.normal(scale=10, size=(2, mdp.n_states, mdp.n_actions))
    lhs = np.abs(soft_bellman_backup(mdp, q1, gamma, alpha) - soft_bellman_backup(mdp, q2, gamma, alpha)).max()
    assert lhs <= gamma * np.abs(q1 - q2).max() + 1e-10


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, gamma=st.floats(0.5, 0.95), alpha=ALPHAS)
def test_fixed_point_is_unique_and_all_solvers_agree(seed, gamma, alpha):
    mdp, _, _ = random_dense_mdp(seed)
    tol = 1e-11
    from_zero = soft_value_iteration(mdp, gamma, alpha, tol=tol)
    from_far = soft_value_iteration(mdp, gamma, alpha, tol=tol, q_init=np.full(mdp.rewards.shape, 1e3))
    # Q* = T Q*
    assert np.abs(soft_bellman_backup(mdp, from_zero.q_values, gamma, alpha) - from_zero.q_values).max() <= 1e-10
    bound = 2 * gamma * tol / (1 - gamma)
    np.testing.assert_allclose(from_zero.q_values, from_far.q_values, atol=bound + 1e-12)

    iteration = soft_policy_iteration(mdp, gamma, alpha, tol=1e-11)
    np.testing.assert_allclose(iteration.q_values, from_zero.q_values, atol=1e-9)

    optimal_policy = soft_greedy_policy(from_zero.q_values, alpha)
    for method in ["direct", "gmres", "iterative"]:
        evaluated = soft_policy_evaluation(mdp, optimal_policy, gamma, alpha, method=method, tol=1e-12)
        np.testing.assert_allclose(evaluated.q_values, from_zero.q_values, atol=1e-8)


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, gamma=st.floats(0.5, 0.95), alpha=ALPHAS)
def test_optimal_policy_is_boltzmann_and_values_are_consistent(seed, gamma, alpha):
    mdp, _, _ = random_dense_mdp(seed)
    result = soft_value_iteration(mdp, gamma, alpha, tol=1e-12)
    q_star, v_star = result.q_values, result.values
    pi_star = np.exp((q_star - v_star[:, None]) / alpha)
    # q - v carries a few ulps of |Q| (up to (|r| + alpha log|A|) / (1 - gamma), about 60 here), divided by alpha
    # (down to 0.05) in the exponent: each probability is off by at most ~8 eps |Q| / alpha relative, 2e-12 at worst
    # (3.5e-14 seen over 300 random cases); a fixed 1e-12 was within 2x of that bound
    rounding = 8 * np.finfo(float).eps * max(1.0, np.abs(q_star).max()) / alpha
    np.testing.assert_allclose(pi_star.sum(axis=1), 1.0, atol=rounding)
    np.testing.assert_allclose(pi_star, soft_greedy_policy(q_star, alpha), atol=rounding)
    # V* = E_pi*[Q* - alpha log pi*]
    np.testing.assert_allclose((pi_star * (q_star - alpha * np.log(pi_star))).sum(axis=1), v_star, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(seed=SEEDS, gamma=st.floats(0.5, 0.95), alpha=ALPHAS)
def test_soft_policy_iteration_improves_monotonically(seed, gamma, alpha):
    mdp, _, _ = random_dense_mdp(seed, n_states=6, n_actions=4)
    # start from a poor deterministic-ish policy so that there is something to improve
    rng = np.random.default_rng(seed)
    start = rng.dirichlet(0.1 * np.ones(mdp.n_actions), size=mdp.n_states)
    result = soft_policy_iteration(mdp, gamma, alpha, tol=1e-12, policy_init=start, keep_history=True)
    assert len(result.history) >= 2
    for before, after in zip(result.history, result.history[1:], strict=False):
        assert np.all(after >= before - 1e-9)


def test_policy_iteration_needs_far_fewer_sweeps_than_value_iteration():
    mdp = TabularMDP.random(300, 4, 5, seed=0)
    vi = soft_value_iteration(mdp, 0.99, 0.5, tol=1e-8)
    pi = soft_policy_iteration(mdp, 0.99, 0.5, tol=1e-8)
    assert pi.iterations < 15 < vi.iterations
    np.testing.assert_allclose(pi.q_values, vi.q_values, atol=1e-5)


# Limits (docs/theory.md#temperature-limits) --------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_zero_temperature_is_exactly_hard_value_iteration(seed):
    mdp, transitions, rewards = random_dense_mdp(seed)
    hard = hard_value_iteration_dense(transitions, rewards, 0.9)
    soft = soft_value_iteration(mdp, 0.9, 0.0, tol=1e-13)
    np.testing.assert_allclose(soft.q_values, hard, atol=1e-11)


@pytest.mark.parametrize("seed", range(5))
def test_small_temperature_converges_to_hard_solution(seed):
    mdp, transitions, rewards = random_dense_mdp(seed)
    gamma = 0.9
    hard = hard_value_iteration_dense(transitions, rewards, gamma)
    previous_error = np.inf
    for alpha in [1e-1, 1e-2, 1e-4, 1e-8]:
        soft = soft_value_iteration(mdp, gamma, alpha, tol=1e-13)
        error = np.abs(soft.q_values - hard).max()
        # 0 <= Q*_alpha - Q*_0 <= gamma alpha log|A| / (1 - gamma)
        assert error <= gamma * alpha * np.log(mdp.n_actions) / (1 - gamma) + 1e-9
        assert error <= previous_error + 1e-12
        previous_error = error
    np.testing.assert_array_equal(soft_greedy_policy(soft.q_values, 1e-8).argmax(axis=1), hard.argmax(axis=1))


def test_large_temperature_gives_the_uniform_policy():
    mdp, _, _ = random_dense_mdp(3)
    result = soft_value_iteration(mdp, 0.9, 1e6, tol=1e-6)
    np.testing.assert_allclose(soft_greedy_policy(result.q_values, 1e6), 1 / mdp.n_actions, atol=1e-5)


# Hand-solved MDP ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("reward", "alpha"), [(1.0, 0.5), (-2.0, 1.0), (3.0, 0.1)])
def test_two_state_two_action_mdp_against_its_closed_form(reward, alpha):
    """
    State 1 loops on itself under both actions with reward 0: V1 = alpha log 2 / (1 - gamma).
    State 0: action 0 earns ``reward`` and moves to state 1; action 1 earns 0 and stays. With gamma = 1/2,
    V0 = alpha log(exp(Q00 / alpha) + exp(V0 / (2 alpha))) is a quadratic in y = exp(V0 / (2 alpha)):
    y^2 - y - exp(Q00 / alpha) = 0.
    """
    gamma = 0.5
    transitions = np.zeros((2, 2, 2))
    transitions[0, 0, 1] = transitions[0, 1, 0] = 1.0
    transitions[1, :, 1] = 1.0
    rewards = np.array([[reward, 0.0], [0.0, 0.0]])
    mdp = TabularMDP.from_arrays(transitions, rewards)

    v1 = alpha * np.log(2) / (1 - gamma)
    q00 = reward + gamma * v1
    y = (1 + np.sqrt(1 + 4 * np.exp(q00 / alpha))) / 2
    v0 = 2 * alpha * np.log(y)
    expected_q = np.array([[q00, gamma * v0], [gamma * v1, gamma * v1]])

    result = soft_value_iteration(mdp, gamma, alpha, tol=1e-13)
    np.testing.assert_allclose(result.values, [v0, v1], atol=1e-11)
    np.testing.assert_allclose(result.q_values, expected_q, atol=1e-11)


def test_policy_entropy_closed_forms():
    policy = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.25, 0.25, 0.5]])
    # 0 log 0 = 0: a deterministic policy has entropy 0, and zeros add nothing
    # about 1.04 nats: three terms p log p and two sums, with a float64 log that is not correctly rounded on
    # every platform (NumPy's SIMD paths, libms: a few ulps), against 1.5 log 2: under 16 ulps of 1.04, 3.6e-15
    # (1e-15, 4.5 ulps, assumed logs exact to the last bit)
    np.testing.assert_allclose(policy_entropy(policy), [0.0, np.log(2), 1.5 * np.log(2)], atol=16 * np.finfo(float).eps)
    assert np.all(np.isfinite(policy_entropy(np.eye(4))))


# Soft policy iteration as an inexact Newton method (matrix-free) (docs/theory.md#soft-policy-improvement-and-iteration) ---


@settings(max_examples=15, deadline=None)
@given(seed=SEEDS, alpha=ALPHAS, gamma=st.floats(min_value=0.0, max_value=0.99))
def test_newton_reaches_the_fixed_point_of_value_iteration(seed, alpha, gamma):
    from sb3_maxent.tabular import soft_bellman_backup, soft_newton_iteration

    mdp, _, _ = random_dense_mdp(seed, n_states=8, n_actions=3)
    newton = soft_newton_iteration(mdp, gamma, alpha, tol=1e-10)
    reference = soft_value_iteration(mdp, gamma, alpha, tol=1e-12)
    np.testing.assert_allclose(newton.q_values, reference.q_values, atol=1e-8 / (1 - gamma))
    # the reported residual is the exact optimality residual of the returned Q, at most tol
    exact = np.max(np.abs(soft_bellman_backup(mdp, newton.q_values, gamma, alpha) - newton.q_values))
    # the same max |T Q - Q| computed again: equal up to a few ulps of |Q| (up to about 300 at gamma = 0.99, whose ulp,
    # 5.7e-14, is above the 1e-14 this compared with: that held only while both were the very same computation)
    ulps_of_q = 4 * np.finfo(float).eps * max(1.0, np.abs(newton.q_values).max())
    assert newton.converged and newton.residual == pytest.approx(exact, abs=ulps_of_q) and newton.residual <= 1e-10
    np.testing.assert_allclose(newton.values, soft_value(newton.q_values, alpha), atol=1e-12)


@settings(max_examples=20, deadline=None)
@given(seed=SEEDS, block_rows=st.sampled_from([1, 7, 1 << 16]))
def test_policy_matrix_sharing_the_transitions_indices_equals_the_formed_matrix(seed, block_rows):
    from sb3_maxent.tabular import solvers

    rng = np.random.default_rng(seed)
    # rows with different numbers of entries: a random MDP and a gridworld with walls and a terminal goal
    walls = rng.random((6, 7)) < 0.2
    walls[-1, -1] = False
    for mdp in (TabularMDP.random(40, 3, n_successors=5, seed=seed), TabularMDP.gridworld(6, 7, slip=0.2, walls=walls)):
        policy = rng.dirichlet(np.ones(mdp.n_actions), size=mdp.n_states)
        vector = rng.normal(size=mdp.n_states)
        formed = solvers._policy_transition_matrix(mdp, policy)
        with patch.object(solvers, "WEIGHTING_BLOCK_ROWS", block_rows):
            shared = solvers.policy_transition_matrix(mdp.transitions, policy)
        assert shared.shape == formed.shape and np.shares_memory(shared.indices, mdp.transitions.indices)  # no copy
        np.testing.assert_allclose(shared @ vector, formed @ vector, atol=1e-12)
        np.testing.assert_allclose(shared.toarray(), formed.toarray(), atol=1e-12)
        # written into a given array, which later calls reuse
        out = np.full_like(mdp.transitions.data, np.nan)
        assert np.shares_memory(solvers.policy_transition_matrix(mdp.transitions, policy, out).data, out)
        np.testing.assert_allclose(out, shared.data)


def test_newton_at_zero_temperature_is_hard_policy_iteration():
    from sb3_maxent.tabular import soft_newton_iteration

    mdp, transitions, rewards = random_dense_mdp(11, n_states=10, n_actions=4)
    newton = soft_newton_iteration(mdp, 0.9, 0.0, tol=1e-10)
    np.testing.assert_allclose(newton.q_values, hard_value_iteration_dense(transitions, rewards, 0.9), atol=1e-8)
    assert newton.iterations <= 10  # policy iteration: a few improvement steps


def test_inexact_newton_needs_fewer_mat_vecs_than_exact_evaluations():
    from sb3_maxent.tabular import soft_newton_iteration, soft_policy_iteration

    mdp = TabularMDP.random(2000, 4, seed=0)
    newton = soft_newton_iteration(mdp, 0.99, 0.5, tol=1e-6)
    exact = soft_policy_iteration(mdp, 0.99, 0.5, tol=1e-6, evaluation="gmres")
    value_iteration = soft_value_iteration(mdp, 0.99, 0.5, tol=1e-6)
    np.testing.assert_allclose(newton.q_values, exact.q_values, atol=1e-4)
    assert newton.sweeps < exact.sweeps < value_iteration.sweeps
    # value iteration stops on gamma |V' - V| <= tol, a bound on the residual it then reports exactly
    assert value_iteration.residual <= 1e-6 and value_iteration.sweeps == value_iteration.iterations + 1


def test_newton_refuses_gamma_one():
    from sb3_maxent.tabular import soft_newton_iteration

    mdp, _, _ = random_dense_mdp(0)
    with pytest.raises(ValueError, match=r"^soft_newton_iteration needs gamma in \[0, 1\), got 1\.0"):
        soft_newton_iteration(mdp, 1.0, 0.1)
