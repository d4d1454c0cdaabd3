"""The exact solvers' contracts, pinned where a result can be computed by hand or by an independent reference.

Small hand-solvable MDPs (a one-state loop whose values are dyadic, a two-state trap for Newton's safeguard), the
stopping and convergence rules at their boundaries, the work accounting (``iterations``, ``sweeps``), the
warnings and errors matched whole, and restarted GMRES / inexact Newton (BiCGSTAB) against dense transcriptions of the
documented algorithms.
"""

import inspect
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from sb3_maxent import SoftValueIteration
from sb3_maxent.common.soft_bellman import soft_greedy_policy, soft_value
from sb3_maxent.tabular import (
    ConvergenceWarning,
    TabularMDP,
    soft_bellman_backup,
    soft_newton_iteration,
    soft_policy_evaluation,
    soft_policy_iteration,
    soft_value_iteration,
    solvers,
)
from sb3_maxent.tabular.solvers import _eisenstat_walker, attainable_tolerance, relative_resolution


def one_state_loop(reward):
    """One state, one action, looping on itself: V^pi = V* = r / (1 - gamma), and every sweep is exact in dyadics."""
    return TabularMDP.from_arrays(np.ones((1, 1, 1)), np.full((1, 1), float(reward)))


def ring(n_states):
    """Action 0 moves one state clockwise, action 1 one state anticlockwise: a slowly mixing chain for GMRES."""
    transitions = np.zeros((n_states, 2, n_states))
    states = np.arange(n_states)
    transitions[states, 0, (states + 1) % n_states] = 1.0
    transitions[states, 1, (states - 1) % n_states] = 1.0
    rewards = np.zeros((n_states, 2))
    rewards[0] = 1.0
    return transitions, rewards


def dense_arrays(mdp):
    """P[s, a, s'] and r(s, a) of an MDP, dense."""
    return mdp.transitions.toarray().reshape(mdp.n_states, mdp.n_actions, mdp.n_states), mdp.rewards


# Defaults and gamma -------------------------------------------------------------------------------------


def test_solver_defaults_are_the_documented_ones():
    # the keyword defaults are part of the API (SoftValueIteration passes its own, so only direct calls see these)
    def defaults(function):
        return {name: p.default for name, p in inspect.signature(function).parameters.items() if p.default is not p.empty}

    assert defaults(soft_policy_evaluation) == {"method": "direct", "tol": 1e-10, "max_iter": 100_000}
    assert defaults(soft_policy_iteration) == {
        "tol": 1e-8,
        "max_iter": 1_000,
        "evaluation": "direct",
        "policy_init": None,
        "keep_history": False,
    }
    assert defaults(soft_newton_iteration) == {"tol": 1e-8, "max_iter": 1_000}
    # and the default tolerance is the one reached
    mdp = TabularMDP.random(30, 3, seed=4)
    assert soft_newton_iteration(mdp, 0.9, 0.3).residual <= 1e-8


def test_value_iteration_default_tolerance_is_1e_8_and_reached():
    mdp = TabularMDP.random(30, 3, seed=4)
    default = soft_value_iteration(mdp, 0.9, 0.3)
    explicit = soft_value_iteration(mdp, 0.9, 0.3, tol=1e-8)
    assert default.residual <= 1e-8 and default.converged
    assert default.iterations == explicit.iterations > 100  # 0.9^k * (initial residual) <= 1e-8 takes ~200 sweeps
    np.testing.assert_array_equal(default.q_values, explicit.q_values)


@pytest.mark.parametrize("ent_coef", [0.05, 0.5, 3.0])
@pytest.mark.parametrize("seed", range(3))
def test_scaled_value_iteration_sweeps_are_the_plain_ones(monkeypatch, seed, ent_coef):
    # the sweeps on Q / alpha are the sweeps on Q with alpha and gamma moved onto fewer numbers: the same iterates up
    # to rounding, so the same stopping sweep (or one more: the plain sweep that finishes a scaled run)
    mdp = TabularMDP.random(200, 4, 3, seed=seed)
    scaled = soft_value_iteration(mdp, 0.95, ent_coef, tol=1e-9)
    monkeypatch.setattr(solvers, "SCALED_SWEEP_LIMIT", 0.0)
    plain = soft_value_iteration(mdp, 0.95, ent_coef, tol=1e-9)
    assert plain.converged and scaled.converged
    assert plain.sweeps <= scaled.sweeps <= plain.sweeps + 1
    np.testing.assert_allclose(scaled.q_values, plain.q_values, rtol=0, atol=1e-9)
    np.testing.assert_allclose(scaled.values, plain.values, rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    ("ent_coef", "max_reward", "scaled"),
    [
        (0.0, 1.0, False),
        (1e-3, 1.0, True),
        (1e-160, 1.0, False),
        (1e-160, 0.0, True),
        (1e140, 1.0, True),
        (1e160, 1.0, False),
        (1.0, 1e149, True),
        (1.0, 1e151, False),
    ],
)
def test_scaled_sweeps_only_where_q_over_alpha_stays_representable(ent_coef, max_reward, scaled):
    rewards = np.array([[0.0, -max_reward], [max_reward / 2, 0.0]])
    assert solvers._scaled_sweeps_are_safe(rewards, ent_coef) is scaled


def test_value_iteration_reaches_a_tolerance_near_rounding_after_scaled_sweeps():
    # tol = 1e-13 on values of about 12 is a few ulps: the finishing plain sweep returns Q = T Q' and V(Q) in the
    # arithmetic of the exact residual, so it is met (scaled sweeps alone miss it by rounding Q = alpha U)
    mdp = TabularMDP.random(8, 3, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = soft_value_iteration(mdp, 0.9, 0.1, tol=1e-13)
    assert result.converged and result.residual <= 1e-13


def test_gamma_zero_is_accepted_and_gives_the_rewards():
    # gamma = 0 is inside [0, 1]: Q* = r exactly, whatever the solver
    mdp = TabularMDP.random(6, 3, seed=1)
    model = SoftValueIteration(mdp=mdp, gamma=0.0, ent_coef=0.5, solver="newton").learn()
    assert model.gamma == 0.0
    np.testing.assert_array_equal(model.q_values, mdp.rewards)
    np.testing.assert_array_equal(soft_newton_iteration(mdp, 0.0, 0.5).q_values, mdp.rewards)
    np.testing.assert_array_equal(soft_policy_iteration(mdp, 0.0, 0.5).q_values, mdp.rewards)


# Soft policy evaluation ---------------------------------------------------------------------------------


def test_iterative_evaluation_stops_at_the_first_change_within_tol():
    # V_k = 2 - 2^(1-k) on the loop with r = 1, gamma = 1/2: the changes are 1, 1/2, 1/4, ... exactly, so the
    # sweeps stop at the third, whose change 1/4 equals tol (the rule is change <= tol)
    result = soft_policy_evaluation(one_state_loop(1.0), np.ones((1, 1)), 0.5, 0.3, method="iterative", tol=0.25)
    assert (result.iterations, result.sweeps) == (3, 3)
    assert result.values.tolist() == [1.75] and result.q_values.tolist() == [[1.875]]
    # the residual is |Q - V| = 1/8 (one action: the implied value is Q itself)
    assert result.residual == 0.125 and result.converged is True


@pytest.mark.parametrize(
    ("reward", "max_iter", "tol", "residual", "converged"),
    [
        # residual exactly tol: converged (residual <= tol)
        (1.0, 3, 0.125, 0.125, True),
        # values near 2^31: a residual of 1 is within 1e-9 of them (float64 precision of a solve), not within tol
        (2.0**30, 30, 1e-12, 1.0, True),
        # values below 1: the relative allowance is 1e-9 absolute, and 2^-29 = 1.9e-9 exceeds it
        (0.5, 28, 1e-12, 2.0**-29, False),
    ],
)
def test_evaluation_converged_allows_tol_or_1e_9_relative_to_the_values(reward, max_iter, tol, residual, converged):
    # the sweeps on the loop (gamma = 1/2) are exact: after k of them V = 2 r (1 - 2^-k) and the residual is r 2^-k
    result = soft_policy_evaluation(one_state_loop(reward), np.ones((1, 1)), 0.5, 0.0, "iterative", tol, max_iter)
    assert result.iterations == max_iter and result.values.tolist() == [2 * reward * (1 - 2.0**-max_iter)]
    assert result.residual == residual and result.converged is converged


def test_iterative_evaluation_overflow_names_the_sweep():
    # V_1 = 1e308, V_2 = 1e308 + 0.99e308 = inf
    with (
        np.errstate(over="ignore"),
        pytest.raises(
            FloatingPointError,
            match=r"^the soft Bellman iteration overflowed float64 at sweep 2 \(residual inf\) with gamma = 0\.99: the "
            r"rewards, or the values \(up to \(max\|r\| \+ alpha log\|A\|\) / \(1 - gamma\)\), are too large to represent; "
            r"rescale the rewards$",
        ),
    ):
        soft_policy_evaluation(one_state_loop(1e308), np.ones((1, 1)), 0.99, 0.0, method="iterative")


def gmres_reference(mdp, policy, gamma, alpha, tol, max_iter):
    """
    V^pi by scipy's restarted GMRES(50) on the dense-built system, to rtol = atol = tol; its residual norms (one per
    iteration, relative to |b|), the system and b.
    """
    transitions, rewards = dense_arrays(mdp)
    log_policy = np.log(policy, out=np.zeros_like(policy), where=policy > 0)
    soft_rewards = (policy * (rewards - alpha * log_policy)).sum(axis=1)
    system = sp.csr_matrix(np.eye(mdp.n_states) - gamma * np.einsum("sa,sat->st", policy, transitions))
    count = []
    values, info = spla.gmres(
        system, soft_rewards, rtol=tol, atol=tol, restart=50, maxiter=max_iter, callback=count.append, callback_type="pr_norm"
    )
    return values, count, info, system, soft_rewards


@pytest.mark.parametrize(
    ("reward_scale", "max_iter"),
    [
        (1.0, 100_000),  # about 150 iterations: restarted three times
        (1e-6, 100_000),  # |b| << 1: the absolute tolerance decides
        (1.0, 2),  # max_iter bounds the restarts: 2 cycles of 50
    ],
)
def test_gmres_evaluation_is_restarted_gmres_50_to_tol(reward_scale, max_iter):
    transitions, rewards = ring(100)
    mdp = TabularMDP.from_arrays(transitions, reward_scale * rewards)
    policy = np.full((100, 2), 0.5)
    gamma, alpha, tol = 0.99, 0.1 * reward_scale, 1e-10
    expected_values, norms, info, system, soft_rewards = gmres_reference(mdp, policy, gamma, alpha, tol, max_iter)
    expected_count = len(norms)
    with warnings.catch_warnings():
        # converging, it warns about nothing (in particular not about scipy's callback_type)
        warnings.simplefilter("error")
        if info == 0:
            result = soft_policy_evaluation(mdp, policy, gamma, alpha, method="gmres", tol=tol, max_iter=max_iter)
        else:
            assert max_iter == 2 and expected_count == 100
            with pytest.warns(
                ConvergenceWarning, match=rf"^GMRES policy evaluation stopped after {expected_count} iterations \(info=2\)$"
            ):
                result = soft_policy_evaluation(mdp, policy, gamma, alpha, method="gmres", tol=tol, max_iter=max_iter)
    # the matrix-free operator (v - gamma (P_pi v)) and the soft rewards round differently from the reference's
    # formed I - gamma P_pi: the runs agree only to rounding. GMRES stops once |b - A x| <= max(tol, tol |b|); a
    # perturbation of A and b by about n u kappa (n = 100, kappa = (1 + gamma) / (1 - gamma) = 199: 2e-12) moves the
    # residual norms by about as much relatively, so the count is exact unless a norm lies within that of the
    # threshold: asserted with a 1e-6 margin (at max_iter = 2 the count is 2 cycles of 50 whatever the rounding)
    threshold = max(tol / np.linalg.norm(soft_rewards), tol)
    if info == 0:
        assert norms[-1] < threshold * (1 - 1e-6) and norms[-2] > threshold * (1 + 1e-6)
    assert result.iterations == result.sweeps == expected_count
    # values: P_pi is symmetric and stochastic here, so |A^-1|_2 <= 1 / (1 - gamma) and each run is within its true
    # residual over (1 - gamma) of V^pi. The solver's residual in the exact system is checked against the stopping
    # rule (converged) or the reference's (the same Krylov minimisation after 100 iterations, to rounding: 1e-3 is
    # ample); a wrong system (no entropy, another gamma) leaves a residual of O(alpha log 2 + |r|), far above either
    reference_residual = np.linalg.norm(soft_rewards - system @ expected_values)
    residual = np.linalg.norm(soft_rewards - system @ result.values)
    allowed = threshold * np.linalg.norm(soft_rewards) if info == 0 else reference_residual
    assert reference_residual <= allowed * (1 + 1e-3) and residual <= allowed * (1 + 1e-3)
    np.testing.assert_allclose(result.values, expected_values, rtol=0, atol=(residual + reference_residual) / (1 - gamma))
    if info == 0:
        assert expected_count > 100 if reward_scale == 1.0 else expected_count > 0


def test_gmres_evaluation_warning_points_at_the_caller():
    mdp = TabularMDP.random(30, 3, seed=2)
    uniform = np.full((30, 3), 1 / 3)
    with pytest.warns(ConvergenceWarning, match=r"^GMRES policy evaluation stopped") as record:
        soft_policy_evaluation(mdp, uniform, 0.99, 0.5, method="gmres", tol=1e-30, max_iter=1)
    # attributed to the user's line (the first frame outside the library), also under mutmut's trampolines
    assert len(record) == 1 and record[0].filename == __file__


def test_a_solver_that_stops_at_max_iter_warns_at_the_users_line():
    mdp = TabularMDP.random(30, 3, seed=2)
    with pytest.warns(ConvergenceWarning, match=r"^soft value iteration stopped at max_iter=2") as record:
        soft_value_iteration(mdp, 0.99, 0.5, max_iter=2)
    with pytest.warns(ConvergenceWarning, match=r"^soft value iteration stopped at max_iter=2") as through_the_model:
        SoftValueIteration(mdp=mdp, gamma=0.99, ent_coef=0.5, solver="value_iteration", max_iter=2).learn()
    assert [warning.filename for warning in [*record, *through_the_model]] == [__file__, __file__]


def test_evaluating_a_deterministic_policy_is_silent_and_a_float32_policy_is_read_as_float64():
    mdp = TabularMDP.random(12, 3, seed=5)
    rng = np.random.default_rng(5)
    deterministic = np.eye(3)[rng.integers(3, size=12)]
    with warnings.catch_warnings():
        # the zero probabilities' log(0) is masked, without a divide-by-zero RuntimeWarning
        warnings.simplefilter("error")
        result = soft_policy_evaluation(mdp, deterministic, 0.9, 0.4)
    assert result.converged and result.residual <= 1e-12
    # a float32 policy is converted once, then evaluated in float64: exactly as its float64 copy
    dyadic_rows = np.array([[0.5, 0.25, 0.25], [0.125, 0.375, 0.5], [0.0, 0.625, 0.375]], dtype=np.float32)
    policy32 = dyadic_rows[rng.integers(3, size=12)]  # exact in float32: only the arithmetic may differ
    for method in ["direct", "iterative"]:
        from32 = soft_policy_evaluation(mdp, policy32, 0.9, 0.4, method=method)
        from64 = soft_policy_evaluation(mdp, policy32.astype(np.float64), 0.9, 0.4, method=method)
        assert from32.values.dtype == np.float64
        np.testing.assert_array_equal(from32.values, from64.values)
        np.testing.assert_array_equal(from32.q_values, from64.q_values)
        assert from32.residual == from64.residual


# Soft policy iteration ----------------------------------------------------------------------------------


def test_policy_iteration_tolerance_is_inclusive_and_values_are_the_soft_values():
    mdp, gamma, alpha = TabularMDP.random(20, 3, seed=6), 0.9, 0.3
    with pytest.warns(ConvergenceWarning):
        first = soft_policy_iteration(mdp, gamma, alpha, tol=1e-12, max_iter=1)
    # the direct evaluation does not depend on tol: asking for exactly the residual of the first Q stops there
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stopped = soft_policy_iteration(mdp, gamma, alpha, tol=first.residual)
    assert stopped.iterations == 1 and stopped.converged and stopped.residual == first.residual
    np.testing.assert_array_equal(stopped.q_values, first.q_values)
    np.testing.assert_array_equal(stopped.values, soft_value(stopped.q_values, alpha))
    # and a converged solve warns about nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        solved = soft_policy_iteration(mdp, gamma, alpha)
    assert solved.converged and solved.iterations > 1
    np.testing.assert_array_equal(solved.values, soft_value(solved.q_values, alpha))


def test_policy_iteration_stopped_at_max_iter_says_so_whole():
    mdp, gamma, alpha = TabularMDP.random(20, 3, seed=6), 0.9, 0.3
    with pytest.warns(ConvergenceWarning) as record:
        result = soft_policy_iteration(mdp, gamma, alpha, tol=1e-12, max_iter=2)
    assert not result.converged and result.iterations == 2
    assert [str(w.message) for w in record] == [
        f"soft policy iteration stopped at max_iter=2 with residual {result.residual:.3g} > tol=1e-12"
    ]
    np.testing.assert_array_equal(result.values, soft_value(result.q_values, alpha))


def test_policy_iteration_with_max_iter_zero_returns_the_unsolved_start():
    # no policy evaluated: Q = 0 (so V = alpha log |A|), no residual measured (inf), and a warning
    mdp = TabularMDP.random(4, 3, seed=0)
    with pytest.warns(
        ConvergenceWarning, match=r"^soft policy iteration stopped at max_iter=0 with residual inf > tol=1e-08$"
    ):
        result = soft_policy_iteration(mdp, 0.9, 0.5, max_iter=0)
    assert (result.iterations, result.sweeps, result.residual, result.converged) == (0, 0, np.inf, False)
    np.testing.assert_array_equal(result.q_values, np.zeros((4, 3)))
    # V(0) = 0 + alpha log(1 + 1 + 1): the sum is exact, log within an ulp or two, times 0.5 exact: a few u, 1e-15 = 9 u
    np.testing.assert_allclose(result.values, np.full(4, 0.5 * np.log(3)), rtol=1e-15)


def test_policy_iteration_evaluates_each_policy_to_a_hundredth_of_tol():
    # iterative evaluation: the first step's sweeps are those of evaluating the uniform policy to tol / 100, plus
    # the one backup of the optimality residual
    mdp, gamma, alpha, tol = TabularMDP.random(20, 3, seed=7), 0.9, 0.3, 1e-3
    uniform = np.full((20, 3), 1 / 3)
    expected = soft_policy_evaluation(mdp, uniform, gamma, alpha, method="iterative", tol=tol / 100)
    with pytest.warns(ConvergenceWarning):
        with_tol = soft_policy_iteration(mdp, gamma, alpha, tol=tol, max_iter=1, evaluation="iterative")
    with pytest.warns(ConvergenceWarning):
        result = soft_policy_iteration(mdp, gamma, alpha, tol=1e-12, max_iter=1, evaluation="iterative")
    assert with_tol.sweeps == expected.sweeps + 1
    np.testing.assert_array_equal(with_tol.q_values, expected.q_values)
    assert result.sweeps > with_tol.sweeps  # a smaller tol evaluates longer


def test_hard_policy_iteration_stops_when_the_greedy_policy_repeats():
    # rewards of order 1e9 at gamma = 0.99: values near 1e11, whose rounding (ulp 1.5e-5) keeps the residual above
    # tol = 1e-8 for ever; the iteration stops at float64's resolution of the residual instead (relative_resolution),
    # when the greedy policy has become stable
    mdp, gamma = TabularMDP.random(20, 3, seed=0, reward_scale=1e9), 0.99
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = soft_policy_iteration(mdp, gamma, 0.0, max_iter=50, keep_history=True)
    assert result.iterations == len(result.history) == 3 and result.converged
    assert 1e-8 < result.residual <= result.tolerance
    resolution = relative_resolution(mdp.transitions, mdp.n_actions)
    offset = float(np.max(np.abs(mdp.rewards)))
    assert result.tolerance == 2 * resolution * float(np.max(np.abs(result.values))) + 2 * resolution * offset
    greedy = [soft_greedy_policy(q_values, 0.0) > 0 for q_values in result.history]
    assert not np.array_equal(greedy[0], greedy[1]) and np.array_equal(greedy[1], greedy[2])
    # the policy evaluated last is optimal: Q is hard value iteration's Q* to rounding
    reference = soft_value_iteration(mdp, gamma, 0.0, tol=1e-4)
    # both stop at a computed residual within their tolerance (~2e-4 at |Q| ~ 1e11); the true residual is within
    # another tolerance of it (the tolerance covers the residual's rounding), and |Q - Q*| <= |T Q - Q| / (1 - gamma):
    # together 4 tolerance / (1 - gamma) ~ 0.09, a relative 1e-12 (the 1e-12 this used was 2x tighter than this
    # bound: the runs only happened to agree better); a suboptimal policy is off by O(|r|) = O(1e9)
    np.testing.assert_allclose(
        result.q_values, reference.q_values, rtol=0, atol=2 * (result.tolerance + reference.tolerance) / (1 - gamma)
    )
    np.testing.assert_array_equal(result.values, result.q_values.max(axis=1))


# Soft Newton iteration ----------------------------------------------------------------------------------


def test_newton_refuses_gamma_one_with_the_whole_message():
    with pytest.raises(
        ValueError,
        match=r"^soft_newton_iteration needs gamma in \[0, 1\), got 1\.0: at gamma = 1 an intermediate policy can "
        r"almost never terminate; use soft_value_iteration or soft_policy_iteration$",
    ):
        soft_newton_iteration(one_state_loop(1.0), 1.0, 0.1)


def test_newton_solves_a_linear_equation_in_one_step_and_counts_its_mat_vecs():
    # one action: T is affine, Newton's first BiCGSTAB solve (1 x 1, forcing 0.5) is exact, V = r / (1 - gamma)
    result = soft_newton_iteration(one_state_loop(3.0), 0.9, 0.7)
    assert result.iterations == 1 and result.converged
    # a backward-stable 1 x 1 solve of (1 - gamma) v = r: n u kappa with kappa = (1 + gamma) / (1 - gamma) = 19 (the
    # 4.3 u seen is over the 1e-15 = 9 u this used to allow in half of the 19 u bound); a wrong step is off by O(1)
    n_states, unit_roundoff, gamma = 1, np.finfo(float).eps / 2, 0.9
    np.testing.assert_allclose(result.q_values, [[30.0]], rtol=4 * n_states * unit_roundoff * (1 + gamma) / (1 - gamma))
    # sweeps: the first backup, BiCGSTAB's one product (its half step already solves a 1 x 1 system), the step's
    # backup, the reported residual
    assert result.sweeps == 4


def test_newton_stopping_rule_is_inclusive():
    # r = 1, gamma = 1/2 from V = 0: F(V) = 1, so gamma |F| = 1/2 = tol: no step at all, Q = r, and the reported
    # residual |T Q - Q| = 1/2 also meets tol
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = soft_newton_iteration(one_state_loop(1.0), 0.5, 0.3, tol=0.5)
    assert (result.iterations, result.sweeps, result.residual, result.converged) == (0, 2, 0.5, True)
    assert result.q_values.tolist() == [[1.0]] and result.values.tolist() == [1.0]


def safeguard_trap(scale, gamma):
    """
    State 1 pays ``scale`` for ever; from state 0, staying pays 0 and moving to 1 costs ``scale`` once. The
    greedy policy of V = 0 stays: its exact evaluation multiplies the residual by about 1 / (1 - gamma).
    """
    transitions = np.zeros((2, 2, 2))
    transitions[0, 0, 0] = transitions[0, 1, 1] = 1.0
    transitions[1, :, 1] = 1.0
    return TabularMDP.from_arrays(transitions, np.array([[0.0, -scale], [scale, scale]]))


def test_newton_replaces_a_blowing_up_step_by_a_value_iteration_step():
    scale, gamma = 0.01, 1 - 1e-7
    mdp = safeguard_trap(scale, gamma)
    # the first two Newton steps would grow |F| ~ 1e7-fold (over SAFEGUARD_GROWTH = 1e6, though below 1e6 in
    # absolute terms): both are value-iteration steps, Q_k = T^k r
    q_values = mdp.rewards.copy()
    for max_iter in (1, 2):
        values = q_values.max(axis=1)
        q_values = mdp.rewards + gamma * np.array([[values[0], values[1]], [values[1], values[1]]])
        with pytest.warns(ConvergenceWarning) as record:
            result = soft_newton_iteration(mdp, gamma, 0.0, max_iter=max_iter)
        # two backups r + gamma P V, P's rows one entry of 1 (k = 1, A = 2 actions): each rounds by at most
        # (k + A + 5) u (max|V| + max|r|) (relative_resolution), and the solver's unit rescaling adds 2 u |Q|: under
        # 2 max_iter (k + A + 5) u (max|Q| + max|r|) ~ 1e-16; a Newton step instead would reach |Q| ~ 1e5
        unit_roundoff = np.finfo(float).eps / 2
        rounding = 2 * max_iter * (1 + 2 + 5) * unit_roundoff * (np.max(np.abs(q_values)) + scale)
        np.testing.assert_allclose(result.q_values, q_values, rtol=0, atol=rounding)
        assert result.iterations == max_iter and not result.converged
        assert [str(w.message) for w in record] == [
            f"soft Newton iteration stopped at max_iter={max_iter} with residual {result.residual:.3g} > tol=1e-08"
        ]
    # then moving to state 1 is greedy, and the third (Newton) step is exact: Q*(1, .) = scale / (1 - gamma)
    solved = soft_newton_iteration(mdp, gamma, 0.0)
    v_1 = scale / (1 - gamma)
    expected = np.array([[gamma * (gamma * v_1 - scale), gamma * v_1 - scale], [v_1, v_1]])
    assert solved.iterations == 3 and solved.converged
    # the Newton step solves (I - gamma P_pi) v = r_pi, whose condition number is (1 + gamma) / (1 - gamma) ~ 2e7: a
    # backward-stable solve of an n-state system is accurate to about n u kappa (Higham, Accuracy and Stability,
    # thm 9.4; u = 2^-53), 4.4e-9 here; a wrong step would be off by O(1)
    n_states, unit_roundoff = 2, np.finfo(float).eps / 2
    kappa = (1 + gamma) / (1 - gamma)
    np.testing.assert_allclose(solved.q_values, expected, rtol=4 * n_states * unit_roundoff * kappa)


def test_newton_reports_an_overflow_like_value_iteration():
    # alpha log 2 + r overflows from the start: every solver names the sweep and gamma
    mdp = TabularMDP.from_arrays(np.ones((1, 2, 1)), np.full((1, 2), 1.5e308))
    # (Newton solves at unit scale and overflows scaling the values back: its residual is inf, not nan)
    message = (
        r"^the soft Bellman iteration overflowed float64 at sweep 1 \(residual (nan|inf)\) with gamma = 0\.5: the "
        r"rewards, or "
        r"the values \(up to \(max\|r\| \+ alpha log\|A\|\) / \(1 - gamma\)\), are too large to represent; rescale the "
        r"rewards$"
    )
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for solver in (soft_newton_iteration, soft_value_iteration, soft_policy_iteration):
            with pytest.raises(FloatingPointError, match=message):
                solver(mdp, 0.5, 1e308)


def newton_reference(mdp, gamma, alpha, tol, max_iter=1_000):
    """
    A dense transcription of soft_newton_iteration's documented algorithm: Newton on F(V) = T V - V from V = 0,
    each step (I - gamma P_pi) delta = F(V) solved by BiCGSTAB to max(eta ||F||, tol / (2 gamma)), with
    Eisenstat-Walker forcing (choice 2, safeguarded, capped at 0.5, eta_0 = 0.5), a step that multiplies |F| by over
    1e6 replaced by V <- T V; until gamma |F|_inf <= tol. Returns Q, the steps, and the products with P.
    """
    transitions, rewards = dense_arrays(mdp)
    products = 0

    def backup(values):
        nonlocal products
        products += 1
        q_values = rewards + gamma * transitions @ values
        return q_values, soft_value(q_values, alpha) - values

    values = np.zeros(mdp.n_states)
    q_values, residual = backup(values)
    norm, eta, steps = np.linalg.norm(residual), 0.5, 0
    previous_norm = previous_eta = 0.0  # (read from the second step on)
    while gamma * np.max(np.abs(residual)) > tol and steps < max_iter:
        if steps > 0:
            eta = 0.9 * (norm / previous_norm) ** 2
            if 0.9 * previous_eta**2 > 0.1:
                eta = max(eta, 0.9 * previous_eta**2)
            eta = min(eta, 0.5)
        system = np.eye(mdp.n_states) - gamma * np.einsum("sa,sat->st", soft_greedy_policy(q_values, alpha), transitions)

        def matvec(vector, system=system):
            nonlocal products
            products += 1
            return system @ vector

        operator = spla.LinearOperator(system.shape, matvec=matvec, dtype=np.float64)
        atol = max(eta * norm, 0.5 * tol / gamma)
        step, _ = spla.bicgstab(operator, residual, rtol=0.0, atol=atol, maxiter=max_iter)
        steps += 1
        candidate = values + step
        candidate_q, candidate_residual = backup(candidate)
        if not np.max(np.abs(candidate_residual)) <= 1e6 * np.max(np.abs(residual)):
            candidate = values + residual
            candidate_q, candidate_residual = backup(candidate)
        values, q_values, residual = candidate, candidate_q, candidate_residual
        previous_norm, previous_eta, norm = norm, eta, np.linalg.norm(residual)
    return q_values, steps, products + 1  # + the reported residual's backup


@pytest.mark.parametrize(
    ("n_states", "gamma", "alpha", "tol", "kwargs"),
    [
        (40, 0.99, 0.3, 1e-12, {}),  # quadratic convergence: small forcing terms at the end
        (40, 0.99, 0.3, 1e-5, {}),  # the tolerance floor decides the last solves
        (40, 0.99, 0.05, 1e-9, {}),  # a low temperature: a nearly greedy policy
        (40, 0.99, 0.05, 1e-9, {"max_iter": 3}),  # max_iter also caps each solve's iterations
        (40, 0.9, 3.0, 1e-13, {}),  # |F| under 1e-6 before the last step
    ],
)
def test_newton_takes_exactly_the_documented_inexact_newton_steps(n_states, gamma, alpha, tol, kwargs):
    mdp = TabularMDP.random(n_states, 3, n_successors=3, seed=8)
    expected_q, expected_steps, expected_products = newton_reference(mdp, gamma, alpha, tol, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = soft_newton_iteration(mdp, gamma, alpha, tol, **kwargs)
    assert (result.iterations, result.sweeps) == (expected_steps, expected_products)
    np.testing.assert_allclose(result.q_values, expected_q, rtol=1e-10, atol=1e-10)
    assert result.residual == pytest.approx(
        np.max(np.abs(soft_bellman_backup(mdp, result.q_values, gamma, alpha) - result.q_values)), abs=1e-13
    )


def test_newton_safeguard_against_the_reference():
    mdp = safeguard_trap(0.01, 1 - 1e-7)
    expected_q, expected_steps, expected_products = newton_reference(mdp, 1 - 1e-7, 0.0, 1e-8)
    result = soft_newton_iteration(mdp, 1 - 1e-7, 0.0)
    assert (result.iterations, result.sweeps) == (expected_steps, expected_products) == (3, 12)
    # the same steps, not the same arithmetic (the solver works at unit scale): each exact Newton step is a
    # backward-stable solve accurate to n u kappa, kappa = (1 + gamma) / (1 - gamma) ~ 2e7 (see the test above), so
    # the two agree to twice that
    n_states, unit_roundoff, gamma = 2, np.finfo(float).eps / 2, 1 - 1e-7
    np.testing.assert_allclose(result.q_values, expected_q, rtol=2 * n_states * unit_roundoff * (1 + gamma) / (1 - gamma))


# Eisenstat-Walker forcing terms (the numeric kernel behind Newton's BiCGSTAB tolerances) ---------------------


@pytest.mark.parametrize(
    ("previous_eta", "norm", "previous_norm", "expected"),
    [
        (0.2, 1.0, 2.0, 0.9 * 0.25),  # 0.9 (|F_k| / |F_k-1|)^2; safeguard 0.9 * 0.04 = 0.036 below 0.1: unused
        (0.4, 1.0, 4.0, 0.9 * 0.16),  # 0.9 / 16 = 0.056 raised to the safeguard 0.9 * 0.4^2 = 0.144 (> 0.1)
        (0.3, 1.0, 4.0, 0.9 / 16),  # safeguard 0.081 <= 0.1: not applied
        (0.5, 3.0, 4.0, 0.5),  # 0.9 * 9 / 16 = 0.506: capped at 0.5
        (0.5, 1.0, 0.0, 0.5),  # no previous residual norm (it underflowed): 0.5
    ],
)
def test_eisenstat_walker_forcing_term_choice_2(previous_eta, norm, previous_norm, expected):
    assert _eisenstat_walker(previous_eta, norm, previous_norm) == pytest.approx(expected, rel=1e-15)


def test_policy_iteration_stops_at_the_default_max_iter_of_1000():
    assert inspect.signature(soft_policy_iteration).parameters["max_iter"].default == 1000


def test_policy_iteration_with_tol_zero_stops_at_float64_resolution():
    # tol = 0 is never met (the residual stays at rounding level, 4e-16): it used to run the 1000 steps and warn;
    # it now stops once the residual is within float64's resolution of it (relative_resolution)
    mdp = TabularMDP.random(3, 2, n_successors=2, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = soft_policy_iteration(mdp, 0.9, 0.5, tol=0.0)
    assert result.converged and result.iterations < 10 and 0.0 < result.residual <= result.tolerance < 1e-13


def test_hard_policy_iteration_says_it_stopped_on_a_stable_policy_not_at_max_iter(monkeypatch):
    # ent_coef = 0 with an evaluation off by 1e-3 in one state: after 4 steps the greedy policy is stable but the
    # residual stays near 1e-3 > tol, so the solver stops and says why
    mdp = TabularMDP.random(20, 3, seed=0)
    exact_evaluation = solvers.soft_policy_evaluation

    def inexact_evaluation(*args, **kwargs):
        evaluated = exact_evaluation(*args, **kwargs)
        evaluated.q_values[0] += 1e-3
        return evaluated

    monkeypatch.setattr(solvers, "soft_policy_evaluation", inexact_evaluation)
    with pytest.warns(ConvergenceWarning) as record:
        result = soft_policy_iteration(mdp, 0.9, 0.0, tol=1e-8)
    assert [str(warning.message) for warning in record] == [
        f"hard policy iteration (ent_coef=0) stopped after {result.iterations} steps on a stable greedy policy with "
        f"residual {result.residual:.3g} > tol=1e-08: more steps would not change the policy, so the residual is the "
        "accuracy of its evaluation ('direct')"
    ]
    assert record[0].filename == __file__ and result.iterations == 4 and not result.converged


@pytest.mark.parametrize("scale", [1e155, 1e-200, 1e250])
def test_newton_solves_extreme_reward_scales_at_unit_scale(scale):
    # Q(c r, c alpha) = c Q(r, alpha): at 1e155 the norms and dot products of the plain iteration overflowed (it made
    # no progress), at 1e-200 they underflowed (it fell back to value iteration steps)
    mdp = TabularMDP.random(30, 3, seed=1)
    unit = soft_newton_iteration(mdp, 0.9, 0.5, tol=1e-8)
    scaled = soft_newton_iteration(TabularMDP(mdp.transitions, mdp.rewards * scale), 0.9, 0.5 * scale, tol=1e-8 * scale)
    assert scaled.converged and (scaled.iterations, scaled.sweeps) == (unit.iterations, unit.sweeps)
    # r / max|c r| and alpha / max|c r| are within 2 u of the unit run's: Q* moves by 2 u max|Q*| (Q* is linear
    # and 1 / (1 - gamma)-Lipschitz in r, alpha), and each run is within residual / (1 - gamma) of its own Q*;
    # so |Q_c / c - Q_1| <= (residual_1 + residual_c / c) / (1 - gamma) + 4 u max|Q| (~7e-9 here, the
    # iterations only happen to agree to 1e-15); a missed or doubled rescaling is off by O(|Q|)
    unit_roundoff = np.finfo(float).eps / 2
    bound = (unit.residual + scaled.residual / scale) / (1 - 0.9) + 4 * unit_roundoff * np.max(np.abs(unit.q_values))
    np.testing.assert_allclose(scaled.q_values / scale, unit.q_values, rtol=0, atol=bound)
    np.testing.assert_allclose(scaled.values / scale, unit.values, rtol=0, atol=bound)
    assert scaled.residual / scale == pytest.approx(unit.residual, abs=1e-13)  # a rounding-sized number itself


# Pinned where the mutation tests found them loose -------------------------------------------------------


def small_reward_mdp(n_states=7, n_actions=3, seed=0):
    """A random MDP with S != A and rewards in [-0.4, 0.4]: max|r| < 1, so neither max(max|r|, 1) nor a dropped
    alpha in the tolerance's offset max|r| + alpha goes unseen."""
    mdp = TabularMDP.random(n_states, n_actions, n_successors=3, seed=seed)
    rewards = np.random.default_rng(seed).uniform(-0.4, 0.4, size=(n_states, n_actions))
    return TabularMDP(mdp.transitions, rewards)


def resolution_tolerance(mdp, values, ent_coef):
    """attainable_tolerance(0, 2 rho, max|V|, max|r| + alpha): the documented tolerance of a solver run at tol=0."""
    resolution = relative_resolution(mdp.transitions, mdp.n_actions)  # k + A + 5 with A the number of actions
    offset = float(np.max(np.abs(mdp.rewards))) + ent_coef
    return attainable_tolerance(0.0, 2 * resolution, float(np.max(np.abs(values))), offset)


def test_value_iteration_at_tol_zero_judges_against_float64s_resolution():
    # SolverResult.tolerance: tol, or float64's resolution of the residual at the values' scale, 2 rho (max|V| +
    # max|r| + alpha) (relative_resolution); value iteration computes it from the very values it returns: exact
    mdp, alpha = small_reward_mdp(), 0.25
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        result = soft_value_iteration(mdp, 0.9, alpha, tol=0.0)
    assert result.converged and 0.0 < result.residual <= result.tolerance
    assert result.tolerance == resolution_tolerance(mdp, result.values, alpha)


def test_newton_and_policy_iteration_at_tol_zero_judge_against_float64s_resolution():
    # as value iteration, but their tolerance is taken at the last iterate's V, and the returned values are
    # V(Q) of the returned Q: the two differ by the residual (<= the tolerance, ~1e-14 here), which moves the
    # tolerance by rho times that, a relative 1e-15; a wrong rho (3 instead of 2) or offset (max|r| - alpha,
    # max(max|r|, 1)) moves it by 7% or more
    mdp, alpha = small_reward_mdp(), 0.25
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        newton = soft_newton_iteration(mdp, 0.9, alpha, tol=0.0)
        policy_iteration = soft_policy_iteration(mdp, 0.9, alpha, tol=0.0)
    for result in (newton, policy_iteration):
        assert result.converged and result.residual <= result.tolerance
        assert result.tolerance == pytest.approx(resolution_tolerance(mdp, result.values, alpha), rel=1e-12, abs=0)


def test_a_zero_problem_is_solved_exactly_and_converged_even_at_tol_zero():
    # r = 0 and alpha = 0: Q* = 0 exactly, a residual of exactly 0 and a tolerance of exactly 0 (no values, no
    # rewards, no temperature to resolve): residual <= tolerance holds, with no warning, for every solver
    mdp = TabularMDP(TabularMDP.random(5, 2, seed=3).transitions, np.zeros((5, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        results = [
            soft_value_iteration(mdp, 0.9, 0.0, tol=0.0),
            soft_newton_iteration(mdp, 0.9, 0.0, tol=0.0),
            soft_policy_iteration(mdp, 0.9, 0.0, tol=0.0),
        ]
    for result in results:
        assert result.converged and result.residual == 0.0 == result.tolerance
        assert not np.any(result.q_values) and not np.any(result.values)


def test_value_iteration_starts_from_q_init():
    # from Q* (to 1e-12) the first sweep's bound gamma |V(T Q) - V(Q)| <= gamma |T Q - Q| ~ 1e-12 is within
    # tol = 1e-8: one scaled sweep and the finishing plain one (from zeros it takes ~170 sweeps)
    mdp, gamma, alpha = TabularMDP.random(10, 3, seed=2), 0.9, 0.5
    optimum = soft_value_iteration(mdp, gamma, alpha, tol=1e-12)
    assert soft_value_iteration(mdp, gamma, alpha).iterations > 100
    assert soft_value_iteration(mdp, gamma, alpha, q_init=optimum.q_values).iterations == 2
    # hard value iteration (plain sweeps only) from its own optimum: one sweep
    hard_optimum = soft_value_iteration(mdp, gamma, 0.0, tol=1e-12)
    assert soft_value_iteration(mdp, gamma, 0.0, q_init=hard_optimum.q_values).iterations == 1


def test_hard_value_iteration_counts_its_sweeps_from_the_first():
    # one-state loop, r = 1, gamma = 1/2, alpha = 0: V_k = 2 (1 - 2^-k) exactly and the bound gamma |V_k - V_k-1|
    # is 2^-k, first within tol = 1e-8 at k = 27 (2^-26 = 1.5e-8, 2^-27 = 7.5e-9); one more mat-vec for the residual
    result = soft_value_iteration(one_state_loop(1.0), 0.5, 0.0)
    assert (result.iterations, result.sweeps) == (27, 28)
    assert result.values.tolist() == [2 * (1 - 2.0**-27)]


def test_hard_value_iteration_reads_an_integer_q_init_as_float64():
    mdp = TabularMDP.random(4, 2, seed=0)
    from_integers = soft_value_iteration(mdp, 0.9, 0.0, q_init=np.zeros((4, 2), dtype=np.int64))
    from_floats = soft_value_iteration(mdp, 0.9, 0.0, q_init=np.zeros((4, 2)))
    assert from_integers.q_values.dtype == np.float64 and from_integers.iterations == from_floats.iterations
    np.testing.assert_array_equal(from_integers.q_values, from_floats.q_values)


def test_value_iteration_refuses_a_misshapen_q_init_naming_both_shapes():
    mdp = TabularMDP.random(3, 2, n_successors=2, seed=0)
    message = r"^q_init must have shape \(n_states, n_actions\) = \(3, 2\), got \(2, 3\)$"
    with pytest.raises(ValueError, match=message):
        soft_value_iteration(mdp, 0.9, 0.5, q_init=np.zeros((2, 3)))


def test_value_iteration_stops_at_the_default_max_iter_of_100_000():
    # gamma = 1 on a loop of reward 1 never converges (each sweep adds 1; 1e5 stays far from overflow): the sweeps
    # end at the default max_iter, with a warning (about a second)
    with pytest.warns(ConvergenceWarning) as record:
        result = soft_value_iteration(one_state_loop(1.0), 1.0, 0.0)
    assert result.iterations == 100_000 and not result.converged
    assert [str(warning.message) for warning in record] == [
        "soft value iteration stopped at max_iter=100000 with residual 1 > tol=1e-08"
    ]


def test_iterative_evaluation_stops_at_the_default_max_iter_of_100_000():
    # as above: the change is 1 at every sweep (about a second)
    result = soft_policy_evaluation(one_state_loop(1.0), np.ones((1, 1)), 1.0, 0.0, method="iterative")
    assert result.iterations == result.sweeps == 100_000 and not result.converged


def test_iterative_evaluation_at_tol_zero_stops_at_float64s_resolution():
    # V_k = 2 - 2^(1-k) exactly (r = 1, gamma = 1/2); rho = (1 + 1 + 5) u (one successor, one action) and the
    # offset is max|r_pi| = 1, so the sweeps stop at the first change 2^(1-k) <= 7 u (V_k + 1) ~ 21 u: k = 50
    # (2^-48 = 32 u, 2^-49 = 16 u), before the iterates reach 2 exactly (k = 54) and stop changing (k = 55)
    result = soft_policy_evaluation(one_state_loop(1.0), np.ones((1, 1)), 0.5, 0.0, method="iterative", tol=0.0)
    assert result.iterations == 50 and result.values.tolist() == [2 - 2.0**-49]


def test_value_iteration_names_an_overflow_of_its_first_scaled_sweep():
    # a q_init at float64's limit on a two-state swap: V(s0) - V(s1) = 2 x 1.7e308 is beyond float64, so is the
    # first sweep's bound (gamma |V_1 - V_0|)
    mdp = TabularMDP.from_arrays(np.array([[[0.0, 1.0]], [[1.0, 0.0]]]), np.zeros((2, 1)))
    message = (
        r"^the soft Bellman iteration overflowed float64 at sweep 1 \(residual inf\) with gamma = 0\.9: the rewards, "
        r"or the values \(up to \(max\|r\| \+ alpha log\|A\|\) / \(1 - gamma\)\), are too large to represent; "
        r"rescale the rewards$"
    )
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match=message):
        soft_value_iteration(mdp, 0.9, 1.0, q_init=np.array([[1.7e308], [-1.7e308]]))


def test_newton_names_a_temperature_beyond_float64_before_any_sweep():
    # alpha log|A| = 1.7e308 log 8 overflows: the values' scale itself is not representable, found at sweep 0
    # (a NumPy temperature: the scale's overflow is expected, so it is no RuntimeWarning)
    mdp = TabularMDP.from_arrays(np.ones((1, 8, 1)), np.zeros((1, 8)))
    message = r"^the soft Bellman iteration overflowed float64 at sweep 0 \(residual inf\) with gamma = 0\.5: "
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(FloatingPointError, match=message):
            soft_newton_iteration(mdp, 0.5, np.float64(1.7e308))


def test_newton_scaling_back_an_overflowing_answer_raises_no_runtime_warning():
    # rewards of 1e307 at gamma = 0.99: solved at unit scale, the values 1e309 overflow when scaled back; that is
    # the FloatingPointError, not a NumPy RuntimeWarning on the way
    mdp = TabularMDP.from_arrays(np.ones((1, 2, 1)), np.full((1, 2), 1e307))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(FloatingPointError, match=r"^the soft Bellman iteration overflowed float64 at sweep "):
            soft_newton_iteration(mdp, 0.99, 1.0)


@pytest.mark.parametrize("scale", [1e-200, 1e250])
def test_newton_at_an_extreme_scale_reports_the_tolerance_at_that_scale(scale):
    # solved at unit scale with tol / scale, and everything scaled back: tolerance included (the unit run's is its
    # tol, 1e-8, far above rho s ~ 1e-14 there), to the rounding of one product
    mdp = TabularMDP.random(10, 3, seed=1)
    unit = soft_newton_iteration(mdp, 0.9, 0.5, tol=1e-8)
    scaled = soft_newton_iteration(TabularMDP(mdp.transitions, mdp.rewards * scale), 0.9, 0.5 * scale, tol=1e-8 * scale)
    assert unit.tolerance == 1e-8
    assert scaled.tolerance == pytest.approx(1e-8 * scale, rel=1e-15, abs=0)


def identical_actions_mdp(rewards):
    """One state looping on itself whatever the action, with the given rewards per action."""
    rewards = np.asarray(rewards, dtype=float)[None, :]
    return TabularMDP.from_arrays(np.ones((1, rewards.shape[1], 1)), rewards)


@pytest.fixture
def evaluation_off_by_1e_3(monkeypatch):
    """Soft policy evaluation whose Q is 1e-3 too high in state 0 (all actions alike: the greedy policy is kept)."""
    exact_evaluation = solvers.soft_policy_evaluation

    def inexact_evaluation(*args, **kwargs):
        evaluated = exact_evaluation(*args, **kwargs)
        evaluated.q_values[0] += 1e-3
        return evaluated

    monkeypatch.setattr(solvers, "soft_policy_evaluation", inexact_evaluation)


def stable_policy_message(kind, result):
    return (
        f"{kind} stopped after {result.iterations} steps on a stable greedy policy with residual {result.residual:.3g} "
        "> tol=1e-08: more steps would not change the policy, so the residual is the accuracy of its evaluation "
        "('direct')"
    )


def test_hard_policy_iteration_is_stable_once_the_greedy_support_repeats(evaluation_off_by_1e_3):
    # actions 0 and 1 tie and beat action 2: from pi_0 = (3/4, 1/4, 0) the greedy policy (1/2, 1/2, 0) has the same
    # support, so hard policy iteration is stable after one step, though the probabilities differ; the evaluation's
    # error (1e-3 (1 - gamma) = 5e-4 of residual) keeps it from converging
    mdp = identical_actions_mdp([1.0, 1.0, 0.0])
    with pytest.warns(ConvergenceWarning) as record:
        result = soft_policy_iteration(mdp, 0.5, 0.0, policy_init=np.array([[0.75, 0.25, 0.0]]))
    assert result.iterations == 1 and not result.converged
    assert [str(warning.message) for warning in record] == [
        stable_policy_message("hard policy iteration (ent_coef=0)", result)
    ]


def test_soft_policy_iteration_is_stable_once_the_policy_repeats_bit_for_bit(evaluation_off_by_1e_3):
    # two identical actions: the soft-greedy policy of any evaluation is (1/2, 1/2), the uniform start, exactly
    mdp = identical_actions_mdp([0.0, 0.0])
    with pytest.warns(ConvergenceWarning) as record:
        result = soft_policy_iteration(mdp, 0.5, 1.0)
    assert result.iterations == 1 and not result.converged
    assert [str(warning.message) for warning in record] == [stable_policy_message("soft policy iteration", result)]


def test_policy_iteration_stops_at_the_default_max_iter_of_1000_steps(monkeypatch):
    # an evaluation alternating between two answers never converges and never repeats a policy: the steps end at
    # the default max_iter = 1000, with its warning
    mdp = identical_actions_mdp([0.0, 0.0])
    calls = []

    def alternating_evaluation(mdp, policy, gamma, ent_coef, **kwargs):
        calls.append(None)
        q_values = np.array([[0.0, 1.0]]) if len(calls) % 2 else np.array([[1.0, 0.0]])
        return solvers.SolverResult(q_values, soft_value(q_values, ent_coef), 1, 0.0, True)

    monkeypatch.setattr(solvers, "soft_policy_evaluation", alternating_evaluation)
    with pytest.warns(ConvergenceWarning) as record:
        result = soft_policy_iteration(mdp, 0.5, 1.0)
    assert result.iterations == len(calls) == 1000 and not result.converged
    assert [str(warning.message) for warning in record] == [
        f"soft policy iteration stopped at max_iter=1000 with residual {result.residual:.3g} > tol=1e-08"
    ]


def test_scaled_sweeps_at_tol_zero_stop_at_float64s_resolution_of_alpha_times_l():
    # one state, one action, r = 1, alpha = 1/2, gamma = 1/2: the scaled iterates U_k = Q_k / alpha = 4 (1 - 2^-k)
    # are exact (L(U) = U with one action), and their bound gamma alpha |U_k - U_k-1| is 2^-k; with rho = 7 u
    # (one successor, one action) the sweeps stop at the first 2^-k <= rho (alpha max|L| + max|r| + alpha)
    # = 7 u (2 + 1.5) = 24.5 u: k = 49 (2^-48 = 32 u); one plain sweep finishes (its bound 2^-50 = 8 u is within
    # rho (max|V| + 1.5)), so 50 sweeps and V = 2 (1 - 2^-50)
    result = soft_value_iteration(one_state_loop(1.0), 0.5, 0.5, tol=0.0)
    assert result.iterations == 50 and result.values.tolist() == [2 * (1 - 2.0**-50)] and result.converged


def test_value_iteration_does_not_depend_on_q_inits_memory_layout():
    # q_init is copied into the solver's own (A, S) C-ordered layout: a Fortran-ordered q_init gives the same
    # sweeps bit for bit (with 16 actions a sum over a strided or a contiguous axis would round differently)
    mdp = TabularMDP.random(20, 16, seed=0)
    q_init = np.random.default_rng(0).normal(size=(20, 16)) * 3
    for ent_coef in (0.3, 0.0):
        from_c = soft_value_iteration(mdp, 0.9, ent_coef, q_init=np.ascontiguousarray(q_init), tol=1e-6)
        from_fortran = soft_value_iteration(mdp, 0.9, ent_coef, q_init=np.asfortranarray(q_init), tol=1e-6)
        assert from_c.iterations == from_fortran.iterations
        np.testing.assert_array_equal(from_c.q_values, from_fortran.q_values)
        np.testing.assert_array_equal(from_c.values, from_fortran.values)


def test_newton_whose_linear_solves_make_no_progress_stops_at_the_default_max_iter_of_1000(monkeypatch):
    # BiCGSTAB returning a zero correction: every Newton step keeps V (its residual does not grow, so the safeguard
    # keeps the step), and the iteration ends at the default max_iter with its warning; V stays 0, so Q = r = 1 and
    # the residual T Q - Q is gamma r = 0.5
    def no_progress(operator, right_hand_side, **kwargs):
        return np.zeros_like(right_hand_side), 0

    monkeypatch.setattr(solvers.spla, "bicgstab", no_progress)
    with pytest.warns(ConvergenceWarning) as record:
        result = soft_newton_iteration(one_state_loop(1.0), 0.5, 0.0)
    assert result.iterations == 1000 and not result.converged
    assert [str(warning.message) for warning in record] == [
        "soft Newton iteration stopped at max_iter=1000 with residual 0.5 > tol=1e-08"
    ]


def test_relative_resolution_is_k_plus_a_plus_5_unit_roundoffs():
    # (k + A + 5) u with k the most stored entries of a row (relative_resolution's error analysis)
    unit_roundoff = 2.0**-53
    rows = sp.csr_matrix(np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [1.0, 0.0, 0.0]]))
    assert relative_resolution(rows, 4) == (3 + 4 + 5) * unit_roundoff
    # rows with no stored entry (every transition ends the episode), or no rows at all: k = 0
    assert relative_resolution(sp.csr_matrix((3, 3)), 2) == (0 + 2 + 5) * unit_roundoff
    assert relative_resolution(sp.csr_matrix((0, 3)), 2) == (0 + 2 + 5) * unit_roundoff


def test_value_iteration_at_gamma_one_names_a_divergence_not_an_overflow():
    # gamma = 1 on a loop of reward 1e308: V_1 = 1e308, V_2 = inf; at gamma = 1 the values are unbounded, so the
    # error says the MDP has a never-ending cycle of positive reward (at gamma < 1 it would blame float64's range)
    message = (
        r"^the soft Bellman iteration diverged at sweep 2 \(residual inf\); with gamma = 1 the MDP probably has a "
        r"cycle of positive soft reward that never ends$"
    )
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match=message):
        soft_value_iteration(one_state_loop(1e308), 1.0, 0.0)


@pytest.mark.parametrize(("ent_coef", "max_reward"), [(1e150, 0.0), (1.0, 1e150)])
def test_scaled_sweeps_limits_are_exclusive(ent_coef, max_reward):
    # alpha < SCALED_SWEEP_LIMIT and max|r| < SCALED_SWEEP_LIMIT alpha, both strict: at the limit, plain sweeps
    rewards = np.array([[max_reward, 0.0]])
    assert solvers._scaled_sweeps_are_safe(rewards, ent_coef) is False


def test_hard_value_iteration_at_tol_zero_stops_at_float64s_resolution():
    # plain sweeps (alpha = 0) on the loop r = 1, gamma = 1/2: the bound 2^-k first falls within rho (max|V| + max|r|)
    # = 7 u (2 + 1) ~ 21 u at k = 49 (2^-48 = 32 u), before the iterates reach 2 exactly (k = 54)
    result = soft_value_iteration(one_state_loop(1.0), 0.5, 0.0, tol=0.0)
    assert result.iterations == 49 and result.values.tolist() == [2 * (1 - 2.0**-49)] and result.converged


def test_tolerance_at_tol_zero_measures_negative_values_by_their_magnitude():
    # rewards in [-0.4, -0.1] at gamma = 1/2 and alpha = 0.05: every value is negative (V <= 2 (-0.1 + 0.05 log 3)),
    # and |V| < 1; the tolerance is 2 rho (max|V| + max|r| + alpha) with max|V| the largest magnitude
    mdp = TabularMDP.random(7, 3, n_successors=3, seed=0)
    rewards = np.random.default_rng(0).uniform(-0.4, -0.1, size=(7, 3))
    mdp = TabularMDP(mdp.transitions, rewards)
    result = soft_value_iteration(mdp, 0.5, 0.05, tol=0.0)
    assert np.all(result.values < 0.0) and np.all(result.values > -1.0)
    assert result.tolerance == resolution_tolerance(mdp, result.values, 0.05)


@pytest.mark.parametrize("scale", [1e-10, 1e-50, 1e-100, 0.5])
def test_newton_converges_at_small_reward_scales_as_at_unit_scale(scale):
    # Q(c r, c alpha) = c Q(r, alpha): a small scale is the unit problem with every tolerance scaled; scipy's BiCGSTAB
    # tests breakdown with absolute thresholds (eps^2 on dot products), so solved as given it returned zero steps
    # and Newton stalled until max_iter (1e-10: 1000 steps and a ConvergenceWarning)
    base = TabularMDP.random(20, 3, seed=1)
    unit = soft_newton_iteration(base, 0.9, 0.5, tol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        scaled = soft_newton_iteration(TabularMDP(base.transitions, base.rewards * scale), 0.9, 0.5 * scale, tol=1e-10 * scale)
    assert scaled.converged and scaled.iterations <= unit.iterations + 1
    # each is within residual / (1 - gamma) of its problem's fixed point (T is a gamma-contraction), and the fixed
    # points are c Q*(r, alpha) and Q*(r, alpha)
    bound = (scaled.residual / scale + unit.residual) / (1 - 0.9)
    assert np.max(np.abs(scaled.q_values / scale - unit.q_values)) <= bound
