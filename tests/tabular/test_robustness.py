"""Tabular solvers and models at the edges: any finite scale, bad observations, malformed MDPs, unclear arguments."""

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from sb3_maxent import SoftValueIteration
from sb3_maxent.tabular import ConvergenceWarning, TabularMDP
from sb3_maxent.tabular.solvers import relative_resolution

SOLVERS = ("newton", "value_iteration", "policy_iteration")


def three_state_mdp(reward_scale=1.0):
    rng = np.random.default_rng(0)
    transitions = rng.dirichlet(np.ones(3), size=(3, 2))
    return TabularMDP.from_arrays(transitions, reward_scale * rng.standard_normal((3, 2)))


# Case 1: a stopping rule relative to the values' scale ------------------------------------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
def test_huge_temperature_is_solved_in_few_iterations_with_the_closed_form_answer(solver):
    # at alpha = 1e300 the values are near 1e302, whose ulp is 1e286: tol = 1e-8 can never be met, and Newton's
    # BiCGSTAB squared them into inf; each solver used to run to max_iter (Newton for an hour at the default 1e5)
    mdp, gamma, alpha = three_state_mdp(), 0.9, 1e300
    model = SoftValueIteration(mdp=mdp, gamma=gamma, ent_coef=alpha, solver=solver, max_iter=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning, no overflow RuntimeWarning
        model.learn()
    # value iteration contracts by gamma per sweep: from 1e302 to the resolution rho = 1e-15 (relative) in
    # log(rho) / log(gamma) = 330 sweeps; Newton and policy iteration need a few steps
    assert model.converged and model.iterations <= (400 if solver == "value_iteration" else 10)
    # for alpha >> |r| the policy is uniform and V = (alpha log|A| + O(|r|)) / (1 - gamma): the rewards (|r| < 3) are
    # 1e-300 of it, far below float64's resolution. The stopping rule leaves |V - V*| <= rho s / (1 - gamma)
    # (residual at most 2 rho s, with s ~ |V|: relative_resolution), so rtol = 2 rho / (1 - gamma) = 2e-14 here
    expected = alpha * np.log(2) / (1 - gamma)
    rho = relative_resolution(mdp.transitions, mdp.n_actions)
    np.testing.assert_allclose(model.values, expected, rtol=2 * rho / (1 - gamma))
    np.testing.assert_allclose(model.action_probabilities, 0.5, rtol=0, atol=1e-15)


@pytest.mark.parametrize("solver", SOLVERS)
def test_reward_scale_1e6_converges_without_a_false_warning(solver):
    # values near 1e6 / (1 - 0.99) = 1e8, whose ulp is 1.5e-8 > tol = 1e-8: policy iteration warned after 1e5
    # steps (40 s) that it had not converged; every solver now stops at float64's resolution of the residual
    gamma, alpha = 0.99, 1.0
    unit, scaled = three_state_mdp(), three_state_mdp(1e6)
    model = SoftValueIteration(mdp=scaled, gamma=gamma, ent_coef=1e6 * alpha, solver=solver, max_iter=5000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.learn()
    assert model.converged and model.solver_result is not None
    assert model.residual <= model.solver_result.tolerance
    # Q(c r, c alpha) = c Q(r, alpha), and both sides (the reference at tol=1e-300, which means float64's resolution) are
    # within 2 rho s / (1 - gamma) of the exact Q: the stopping bound rho s and each backup's rounding rho s, both
    # contracted by gamma per step (relative_resolution); s = max|V| + max|r| + alpha, relative to the smallest |Q|
    reference = SoftValueIteration(mdp=unit, gamma=gamma, ent_coef=alpha, solver=solver, tol=1e-300).learn()
    rho = relative_resolution(unit.transitions, unit.n_actions)
    s_over_q = (np.max(np.abs(reference.values)) + np.max(np.abs(unit.rewards)) + alpha) / np.min(np.abs(reference.q_values))
    np.testing.assert_allclose(model.q_values / 1e6, reference.q_values, rtol=2 * 2 * rho * s_over_q / (1 - gamma))


def test_an_ordinary_problem_stops_where_it_did():
    # tol above the resolution (|V| ~ 10 here: rho s ~ 1e-14): the absolute tol decides, as before
    mdp = TabularMDP.random(30, 3, seed=2)
    for solver in SOLVERS:
        result = SoftValueIteration(mdp=mdp, gamma=0.9, ent_coef=0.5, solver=solver).solve()
        assert result.tolerance == 1e-8 and result.residual <= 1e-8


def test_random_mdp_with_every_state_a_successor_is_built():
    # n_successors = n_states: drawing distinct states by redrawing rows with a repeat never ended
    mdp = TabularMDP.random(40, 2, n_successors=40, seed=0)
    assert np.all(np.diff(mdp.transitions.indptr) == 40)
    np.testing.assert_allclose(mdp.transitions.sum(axis=1), 1.0, rtol=1e-14)


# Case 2: observations outside the table ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frozen_lake_model():
    import gymnasium as gym

    return SoftValueIteration(env=gym.make("FrozenLake-v1")).learn()


@pytest.mark.parametrize(
    ("observation", "shown"),
    [
        (np.array([-1]), "-1 in [-1]"),  # used to wrap to state 15
        (16, "16"),  # used to raise a bare IndexError
        (np.array([0, 16]), "16 in [0, 16]"),
        (np.array([1.5]), "1.5 in [1.5]"),
        (np.array([np.nan]), "nan in [nan]"),
        ("a", "'a'"),
    ],
)
def test_predict_refuses_observations_that_are_not_state_indices(frozen_lake_model, observation, shown):
    message = f"observation must be integer state indices in [0, 16) (the Discrete(16) observation space), got {shown}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        frozen_lake_model.predict(observation)


def test_predict_accepts_every_state_index(frozen_lake_model):
    actions, _ = frozen_lake_model.predict(np.arange(16), deterministic=True)
    np.testing.assert_array_equal(actions, frozen_lake_model.q_values.argmax(axis=1))
    assert frozen_lake_model.predict(np.float64(15.0), deterministic=True)[0] == actions[15]


# Case 3: one validation path for every way an MDP is built ---------------------------------------------------------


def test_gridworld_refuses_a_non_finite_step_reward():
    # it used to solve to a NaN Q with only a RuntimeWarning
    with pytest.raises(ValueError, match=r"^step_reward must be a finite number, got nan$"):
        TabularMDP.gridworld(3, 3, step_reward=float("nan"))


@pytest.mark.parametrize("atol", [float("nan"), -1.0, float("inf")])
def test_from_arrays_refuses_an_atol_that_is_not_a_finite_non_negative_number(atol):
    # atol = nan accepted a row summing to 0.5 (every comparison with nan is false); -1 gave "tolerance -1"
    transitions = np.zeros((2, 1, 2))
    transitions[0, 0, 0], transitions[1, 0, 1] = 0.5, 1.0
    message = f"atol (the tolerance on the transition rows' sums) must be a finite number >= 0, got {atol!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        TabularMDP.from_arrays(transitions, np.zeros((2, 1)), atol=atol)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        TabularMDP(sp.csr_matrix(transitions.reshape(2, 2)), np.zeros((2, 1)), atol=atol)


def test_the_constructor_checks_what_from_arrays_checks():
    with pytest.raises(
        ValueError, match=r"^transition row 0 \(state 0, action 0\) sums to 2\.0, more than 1 \(tolerance 1e-08\)$"
    ):
        TabularMDP(sp.csr_matrix(np.full((2, 1), 2.0)), np.zeros((1, 2)))
    with pytest.raises(
        ValueError, match=r"^a TabularMDP needs at least one state and one action: rewards have shape \(0, 2\)"
    ):
        TabularMDP(sp.csr_matrix((0, 0)), np.zeros((0, 2)))
    with pytest.raises(ValueError, match=r"^rewards must be finite, found nan at \(0, 1\)$"):
        TabularMDP(sp.csr_matrix(np.full((2, 1), 0.5)), np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match=r"^transition probabilities must be >= 0, found -0\.5$"):
        TabularMDP(sp.csr_matrix(np.array([[-0.5], [0.5]])), np.zeros((1, 2)))
    with pytest.raises(
        ValueError,
        match=r"^transitions must have shape \(S\*A, S\) = \(2, 1\) for rewards of shape \(S, A\) = \(1, 2\), got \(3, 1\)$",
    ):
        TabularMDP(sp.csr_matrix(np.zeros((3, 1))), np.zeros((1, 2)))


# Case 4: messages that name the argument and what is allowed -------------------------------------------------------


@pytest.mark.parametrize("ent_coef", ["auto", "auto_0.1"])
def test_soft_value_iteration_refuses_a_learned_temperature_and_says_what_to_pass(ent_coef):
    message = (
        f"SoftValueIteration needs a fixed temperature: ent_coef must be a float >= 0, got {ent_coef!r} (the MDP is "
        "solved exactly at one temperature, so there is no entropy target to tune it against); pass a number such as "
        "ent_coef=0.1, or 0 for hard value iteration"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        SoftValueIteration(mdp=three_state_mdp(), ent_coef=ent_coef)


def test_soft_value_iteration_names_ent_coef_for_other_non_numbers():
    message = "ent_coef (the temperature alpha) must be a finite number >= 0, got 'hot'"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        SoftValueIteration(mdp=three_state_mdp(), ent_coef="hot")


@pytest.mark.parametrize("terminal", [["0"], ["a"], [np.nan]])
def test_non_integer_terminal_states_are_named(terminal):
    message = f"terminal_states must be integer state indices in [0, 3) or a boolean mask of shape (3,), got {terminal!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        TabularMDP.from_arrays(np.full((3, 2, 3), 1 / 3), np.zeros((3, 2)), terminal_states=terminal)


def frozen_lake_model_with(change):
    import gymnasium as gym

    model = {state: dict(actions) for state, actions in gym.make("FrozenLake-v1").unwrapped.P.items()}
    change(model)
    return model


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda model: model.pop(15),
            "env.unwrapped.P has no entry for state 15: P must map every state in [0, 16) to "
            "{action: [(probability, next_state, reward, done), ...]}",
        ),
        (
            lambda model: model[3].pop(1),
            "env.unwrapped.P[3] has no entry for action 1: it must map every action in [0, 4) to "
            "[(probability, next_state, reward, done), ...]",
        ),
        (
            lambda model: model[2].update({1: [(1.0, 16, 0.0, False)]}),
            "env.unwrapped.P[2][1] leads to next state 16: next states must be integer state indices in [0, 16)",
        ),
        (
            lambda model: model[2].update({1: [(1.0, -1, 0.0, False)]}),
            "env.unwrapped.P[2][1] leads to next state -1: next states must be integer state indices in [0, 16)",
        ),
        (
            lambda model: model[2].update({1: [(1.0, 3)]}),
            "env.unwrapped.P[2][1] holds (1.0, 3): each outcome must be a (probability, next_state, reward, done) tuple",
        ),
    ],
)
def test_a_malformed_toy_text_model_is_named(change, message):
    # a missing state raised KeyError 15, an out-of-range next state scipy's "axis 1 index 16 exceeds matrix dimension"
    model = frozen_lake_model_with(change)
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        TabularMDP._from_model(model, n_states=16, n_actions=4, atol=1e-8)
