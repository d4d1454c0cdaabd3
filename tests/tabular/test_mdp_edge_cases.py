"""TabularMDP's documented edge cases: the smallest MDPs and grids, exact tolerances, seeded MDPs, proper MDPs,
and how a refusal names an environment that is not a plain gymnasium one."""

import re
from fractions import Fraction

import gymnasium as gym
import numpy as np
import pytest
import scipy.sparse as sp
from gymnasium.wrappers import TimeLimit

from sb3_maxent import TabularMDP
from sb3_maxent.tabular.mdp import known_model

NO_MODEL = (
    " exposes no transition model `env.unwrapped.P`: SoftValueIteration needs a known MDP (toy-text environments such "
    "as FrozenLake, Taxi, CliffWalking) or explicit arrays"
)


def no_model_message(name):
    return "^" + re.escape(name + NO_MODEL) + "$"


def toy_text(model, n_states, n_actions):
    """A duck-typed toy-text environment: the model ``P`` and Discrete spaces, nothing of gymnasium."""
    return type(
        "ToyText",
        (),
        {"P": model, "observation_space": gym.spaces.Discrete(n_states), "action_space": gym.spaces.Discrete(n_actions)},
    )()


def test_a_single_state_mdp_is_accepted_in_sparse_form():
    # S = 1: every row count is a multiple of S, so (1, 1) and (3, 1) are (S*A, S) with A = 1 and A = 3
    one = TabularMDP.from_arrays(sp.csr_matrix([[1.0]]), [[2.0]])
    assert (one.n_states, one.n_actions) == (1, 1)
    three = TabularMDP.from_arrays(sp.csr_matrix(np.ones((3, 1))), [[1.0, 2.0, 3.0]])
    assert (three.n_states, three.n_actions) == (1, 3)
    np.testing.assert_array_equal(three.transitions.toarray(), np.ones((3, 1)))
    np.testing.assert_array_equal(three.rewards, [[1.0, 2.0, 3.0]])


def test_toy_text_rows_that_sum_exactly_to_one_pass_a_zero_tolerance():
    # FrozenLake's slippery rows are three 1/3, which add up to exactly 1.0: "more than atol away" is strict
    env = gym.make("FrozenLake-v1")
    exact = TabularMDP.from_env(env, atol=0.0)
    default = TabularMDP.from_env(env)
    assert (exact.transitions != default.transitions).nnz == 0
    np.testing.assert_array_equal(exact.rewards, default.rewards)
    short = toy_text({s: {0: [(1.0, 0, 0.0, False)]} for s in range(2)}, 2, 1)
    short.P[1][0] = [(0.5, 0, 0.0, False), (0.25, 1, 0.0, True)]
    with pytest.raises(ValueError, match=r"^P\[1\]\[0\] sums to 0\.75, not 1 \(tolerance 0\.0\)$"):
        TabularMDP.from_env(short, atol=0.0)


# Gridworlds: by hand, state ``row * width + column``, actions up, right, down, left -------------------------------


def test_one_row_and_one_column_gridworlds_are_corridors():
    # 1 x 2, goal (0, 1), slip 0.2: the intended move with 0.8, each of the 4 moves with 0.05. From state 0 only
    # "right" reaches the goal; from state 1 (the goal) only "left" leaves it. Mass into the goal is dropped.
    expected = [[0.95, 0], [0.15, 0], [0.95, 0], [0.95, 0], [0.05, 0], [0.05, 0], [0.05, 0], [0.85, 0]]
    row = TabularMDP.gridworld(1, 2, slip=0.2)
    assert row.transitions.shape == (8, 2)
    np.testing.assert_allclose(row.transitions.toarray(), expected, atol=1e-15)
    np.testing.assert_array_equal(row.rewards, -1.0)
    # 2 x 1: the same corridor standing up, "down" and "up" in place of "right" and "left"
    expected = [[0.95, 0], [0.95, 0], [0.15, 0], [0.95, 0], [0.85, 0], [0.05, 0], [0.05, 0], [0.05, 0]]
    column = TabularMDP.gridworld(2, 1, slip=0.2)
    np.testing.assert_allclose(column.transitions.toarray(), expected, atol=1e-15)
    # a goal in the first column: from state 1 the move "left" enters it
    expected = [[0, 0.05], [0, 0.85], [0, 0.05], [0, 0.05], [0, 0.95], [0, 0.95], [0, 0.95], [0, 0.15]]
    first_column = TabularMDP.gridworld(1, 2, slip=0.2, goal=(0, 0))
    np.testing.assert_allclose(first_column.transitions.toarray(), expected, atol=1e-15)


def test_gridworld_slip_one_moves_uniformly_at_random():
    # slip = 1 is a probability too: every action is then a uniform draw of the 4 moves (3 of which stay in state 0)
    mdp = TabularMDP.gridworld(1, 2, slip=1.0)
    np.testing.assert_allclose(mdp.termination_probabilities, [[0.25] * 4, [0.75] * 4], atol=1e-15)
    np.testing.assert_allclose(mdp.transitions.toarray(), [[0.75, 0]] * 4 + [[0.25, 0]] * 4, atol=1e-15)


def test_gridworld_walls_given_as_numbers_are_a_mask():
    walls = np.zeros((3, 4), dtype=bool)
    walls[0:2, 2] = True
    as_mask = TabularMDP.gridworld(3, 4, slip=0.1, walls=walls, goal=(0, 3))
    for numbers in (walls.astype(np.float64), walls.astype(np.int64).tolist()):
        same = TabularMDP.gridworld(3, 4, slip=0.1, walls=numbers, goal=(0, 3))
        np.testing.assert_array_equal(same.transitions.toarray(), as_mask.transitions.toarray())


def test_gridworld_goal_outside_the_columns_is_refused():
    with pytest.raises(ValueError, match=r"^goal \(0, 2\) must be a free cell of the 2 x 2 grid$"):
        TabularMDP.gridworld(2, 2, goal=(0, 2))
    with pytest.raises(ValueError, match=r"^goal \(0, -1\) must be a free cell of the 2 x 2 grid$"):
        TabularMDP.gridworld(2, 2, goal=(0, -1))


# Random MDPs -------------------------------------------------------------------------------------------------------


def test_random_mdp_has_every_state_as_a_column_even_when_never_drawn():
    mdp = TabularMDP.random(10, 1, n_successors=1, seed=0)
    assert 9 not in mdp.transitions.indices  # state 9 is no successor of anyone with this seed
    assert mdp.transitions.shape == (10, 10)
    np.testing.assert_array_equal(mdp.transitions.sum(axis=1), 1.0)


def test_random_mdp_successors_are_distinct_even_with_two_states():
    # with 2 states and 2 successors, about half the first draws repeat a state: every row must end up as {0, 1}
    mdp = TabularMDP.random(2, 40, n_successors=2, seed=0)
    np.testing.assert_array_equal(mdp.transitions.indices.reshape(80, 2), [[0, 1]] * 80)
    assert np.all(mdp.transitions.data > 0)


def test_random_mdp_is_reproducible_across_versions():
    # benchmarks/results/soft_vi_scale.md reports solver work on TabularMDP.random(..., seed=0): a seed must keep
    # giving the same MDP. Only the rows whose draw repeats a state (rows 3 and 6 here) are drawn again.
    mdp = TabularMDP.random(4, 2, n_successors=2, seed=0)
    successors = mdp.transitions.indices.reshape(8, 2).tolist()
    assert successors == [[2, 3], [1, 2], [0, 1], [1, 3], [0, 3], [2, 3], [2, 3], [2, 3]]


# Proper MDPs (gamma = 1) -------------------------------------------------------------------------------------------


def test_a_state_reached_from_an_exit_is_not_saved_by_it():
    # state 0 ends the episode half of the time and otherwise moves to state 1, which loops forever: from state 1 the
    # episode never ends, although state 1 is connected to an exit (edges count in their direction only)
    transitions = np.zeros((3, 1, 3))
    transitions[0, 0] = [0.0, 0.5, 0.5]
    transitions[1, 0, 1] = 1.0
    transitions[2, 0, 2] = 1.0
    mdp = TabularMDP.from_arrays(transitions, np.zeros((3, 1)), terminal_states=[2])
    with pytest.raises(
        ValueError,
        match=r"^gamma = 1 needs every episode to end, but from state 1 \(1 states in all\) no terminal transition can be "
        r"reached; use gamma < 1 or mark terminal states$",
    ):
        mdp.check_proper()


# Environments that expose no model: the refusal names them ---------------------------------------------------------


def test_refusal_names_a_registered_environment_in_full():
    with pytest.raises(ValueError, match=no_model_message("CartPole-v1")):
        known_model(gym.make("CartPole-v1"))


def test_refusal_names_environments_seen_through_wrappers_and_duck_types():
    discrete = gym.spaces.Discrete(2)

    class Bare:
        """Neither gymnasium's ``unwrapped`` nor a ``spec``: the environment is its own base."""

        observation_space = discrete
        action_space = discrete

    class WithSpec(Bare):
        spec = gym.envs.registration.EnvSpec("Shim-v0")

    class Adapter:
        """Its own spec unknown, but the environment behind it is a registered one."""

        spec = None
        unwrapped = gym.make("CartPole-v1").unwrapped

    class NoModel(gym.Env):
        observation_space = discrete
        action_space = discrete

    with pytest.raises(ValueError, match=no_model_message("Bare")):
        known_model(Bare())
    with pytest.raises(ValueError, match=no_model_message("Shim-v0")):
        known_model(WithSpec())
    with pytest.raises(ValueError, match=no_model_message("CartPole-v1")):
        known_model(Adapter())
    # an unregistered environment in a wrapper is named after the environment, not the wrapper
    with pytest.raises(ValueError, match=no_model_message("NoModel")):
        known_model(TimeLimit(NoModel(), max_episode_steps=5))


def test_a_duck_typed_environment_with_a_model_is_read_directly():
    # no ``unwrapped`` attribute: the object itself holds the model and the spaces
    model = {s: {a: [(1.0, 1 - s, float(a), False)] for a in range(2)} for s in range(2)}
    found, n_states, n_actions = known_model(toy_text(model, 2, 2))
    assert found is model and (n_states, n_actions) == (2, 2)
    mdp = TabularMDP.from_env(toy_text(model, 2, 2))
    np.testing.assert_array_equal(mdp.transitions.toarray(), [[0, 1], [0, 1], [1, 0], [1, 0]])
    np.testing.assert_array_equal(mdp.rewards, [[0, 1], [0, 1]])


@pytest.mark.parametrize("shape", [(0, 2), (3, 0), (3,)])
def test_the_raw_constructor_refuses_an_mdp_without_states_or_actions(shape):
    with pytest.raises(ValueError, match=r"^a TabularMDP needs at least one state and one action: rewards have shape"):
        TabularMDP(sp.csr_matrix((0, 0)), np.zeros(shape))


def k_smallest_keys_reference(n_states, n_actions, n_successors, seed):
    """TabularMDP.random where repeats are likely (k near S): per row, the k smallest of S uniform keys drawn row
    after row from the seed's stream, then Dirichlet(1) weights (normalised exponentials) and normal rewards."""
    rng = np.random.default_rng(seed)
    n_rows = n_states * n_actions
    keys = rng.random((n_rows, n_states))
    kth_smallest = np.partition(keys, n_successors - 1, axis=1)[:, n_successors - 1 : n_successors]
    rows, columns = np.nonzero(keys <= kth_smallest)  # row-major: each row's states in increasing order
    assert np.array_equal(np.bincount(rows, minlength=n_rows), np.full(n_rows, n_successors))  # keys are distinct
    weights = rng.exponential(size=(n_rows, n_successors))
    weights /= weights.sum(axis=1, keepdims=True)
    return columns, weights.ravel(), rng.standard_normal((n_states, n_actions))


@pytest.mark.parametrize(
    ("n_states", "n_actions", "n_successors"),
    [
        (40, 2, 30),  # one block of rows: P(no repeat in 30 draws of 40) = 1e-9, far below 1%
        (2100, 1, 150),  # 2^22 // 2100 = 1997 rows per block: two blocks, the second of 103 rows (P = 0.5%)
    ],
)
def test_random_mdp_with_successors_near_all_states_takes_the_k_smallest_keys(n_states, n_actions, n_successors):
    # as test_random_mdp_is_reproducible_across_versions, for the other way of drawing distinct successors: a seed
    # gives the same MDP whatever the blocks the keys are drawn in
    columns, weights, rewards = k_smallest_keys_reference(n_states, n_actions, n_successors, seed=3)
    mdp = TabularMDP.random(n_states, n_actions, n_successors=n_successors, seed=3)
    np.testing.assert_array_equal(mdp.transitions.indices, columns)
    np.testing.assert_array_equal(mdp.transitions.data, weights)
    np.testing.assert_array_equal(mdp.rewards, rewards)


def test_the_row_sum_tolerance_given_is_kept_by_every_constructor():
    # rows summing to 1 + 5e-4 pass atol = 1e-3 (not the default 1e-8), and the MDP keeps that atol
    transitions = np.array([[[1.0005, 0.0]], [[0.0, 1.0]]])
    from_arrays = TabularMDP.from_arrays(transitions, np.zeros((2, 1)), atol=1e-3)
    model = {0: {0: [(1.0005, 0, 0.0, False)]}, 1: {0: [(1.0, 1, 0.0, False)]}}
    from_env = TabularMDP.from_env(toy_text(model, 2, 1), atol=1e-3)
    for mdp in (from_arrays, from_env):
        assert mdp.atol == 1e-3
        np.testing.assert_array_equal(mdp.transitions.toarray(), [[1.0005, 0.0], [0.0, 1.0]])


def test_rewards_per_successor_of_a_last_row_that_always_ends():
    # r(s, a) = sum_s' P(s'|s, a) R(s, a, s'): the last (state, action) row has no stored successor (a row sum
    # of 0, within atol = 1 of 1: any finite atol >= 0 is allowed), so its expected reward is 0 and the rewards
    # still have shape (S, A)
    transitions = np.array([[[0.5, 0.5], [1.0, 0.0]], [[0.0, 1.0], [0.0, 0.0]]])
    rewards = np.arange(8.0).reshape(2, 2, 2)
    mdp = TabularMDP.from_arrays(transitions, rewards, atol=1.0)
    np.testing.assert_array_equal(mdp.rewards, [[0.5, 2.0], [5.0, 0.0]])


def test_terminal_states_as_whole_float32_numbers_are_indices():
    # any floating dtype holding whole numbers is read as indices, as integers are
    transitions = np.array([[[0.5, 0.5]], [[0.0, 1.0]]])
    mdp = TabularMDP.from_arrays(transitions, np.zeros((2, 1)), terminal_states=np.array([1.0], dtype=np.float32))
    np.testing.assert_array_equal(mdp.transitions.toarray(), [[0.5, 0.0], [0.0, 0.0]])


def test_float32_transitions_are_checked_at_their_float64_values():
    # these float32 probabilities sum to 1 - 7.5e-9 exactly (within the default atol = 1e-8), but to 1 - 6e-8 when
    # summed in float32: dense or sparse, they are read as float64 and accepted
    row = np.array([0.02767070382833481, 0.9123513102531433, 0.059977978467941284], dtype=np.float32)
    dense = np.tile(row, (3, 1, 1)).reshape(3, 1, 3)
    for transitions in (dense, sp.csr_matrix(dense.reshape(3, 3))):
        mdp = TabularMDP.from_arrays(transitions, np.zeros((3, 1)))
        assert mdp.transitions.dtype == np.float64
        np.testing.assert_array_equal(mdp.transitions.toarray(), np.tile(row.astype(np.float64), (3, 1)))


def test_rewards_of_exact_fractions_are_read_as_float64():
    # any array-like of numbers NumPy converts to float64 is accepted, per (state, action) or per successor
    transitions = np.array([[[0.5, 0.5]], [[0.0, 1.0]]])
    per_action = TabularMDP.from_arrays(transitions, [[Fraction(1, 3)], [Fraction(-1, 2)]])
    np.testing.assert_array_equal(per_action.rewards, [[1 / 3], [-0.5]])
    per_successor = TabularMDP.from_arrays(transitions, [[[Fraction(1, 2), Fraction(3, 2)]], [[0, Fraction(1, 4)]]])
    np.testing.assert_array_equal(per_successor.rewards, [[1.0], [0.25]])


# The checks every constructor ends in (check_mdp), with their messages whole ----------------------------------------


def test_an_mdp_without_states_is_refused_with_the_whole_message():
    message = (
        r"^a TabularMDP needs at least one state and one action: rewards have shape \(0, 2\), expected "
        r"\(n_states, n_actions\)$"
    )
    with pytest.raises(ValueError, match=message):
        TabularMDP(sp.csr_matrix((0, 0)), np.zeros((0, 2)))


def test_dense_transitions_are_refused_by_the_raw_constructor_with_the_whole_message():
    message = (
        r"^transitions must be a scipy\.sparse matrix of shape \(S\*A, S\) = \(2, 2\), got ndarray; "
        r"TabularMDP\.from_arrays takes dense \(S, A, S\) arrays$"
    )
    with pytest.raises(ValueError, match=message):
        TabularMDP(np.eye(2), np.zeros((2, 1)))


def test_the_raw_constructor_normalises_to_float64_csr_and_keeps_a_float64_csr_matrix_as_given():
    # any sparse format and dtype becomes a float64 CSR matrix, and rewards a float64 array; a float64 CSR matrix
    # (TabularMDP.random's, a million states) is used as it is, not converted into a new matrix
    coo = sp.coo_matrix(np.array([[0.5, 0.5], [0.0, 1.0]], dtype=np.float32))
    mdp = TabularMDP(coo, [[1], [2]])
    assert isinstance(mdp.transitions, sp.csr_matrix) and mdp.transitions.dtype == np.float64
    assert isinstance(mdp.rewards, np.ndarray) and mdp.rewards.dtype == np.float64
    np.testing.assert_array_equal(mdp.transitions.toarray(), [[0.5, 0.5], [0.0, 1.0]])
    np.testing.assert_array_equal(mdp.rewards, [[1.0], [2.0]])
    float32_csr = sp.csr_matrix(coo)
    assert TabularMDP(float32_csr, np.zeros((2, 1))).transitions.dtype == np.float64
    float64_csr = sp.csr_matrix(coo, dtype=np.float64)
    assert TabularMDP(float64_csr, np.zeros((2, 1))).transitions is float64_csr


@pytest.mark.parametrize(
    ("transitions", "message"),
    [
        # one state, four actions: row 3 is action 3 of state 0
        (np.array([[[1.0], [1.0], [1.0], [0.5]]]), r"transition row 3 \(state 0, action 3\) sums to 0\.5, not 1"),
        # one action: row 1 is state 1
        (np.array([[[1.0, 0.0]], [[0.25, 0.5]]]), r"transition row 1 \(state 1, action 0\) sums to 0\.75, not 1"),
        # two states, two actions: row 3 is action 1 of state 1
        (
            np.array([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.75, 0.75]]]),
            r"transition row 3 \(state 1, action 1\) sums to 1\.5, more than 1",
        ),
    ],
)
def test_a_bad_row_sum_is_named_by_its_state_and_action(transitions, message):
    with pytest.raises(ValueError, match="^" + message + r" \(tolerance 1e-08\)$"):
        TabularMDP.from_arrays(transitions, np.zeros(transitions.shape[:2]))


def test_non_finite_probabilities_are_refused_with_the_whole_message():
    with pytest.raises(ValueError, match=r"^transition probabilities contain NaN or inf$"):
        TabularMDP.from_arrays(np.array([[[np.nan]]]), np.zeros((1, 1)))


def test_a_stored_zero_probability_and_a_row_sum_at_one_minus_atol_are_accepted():
    # a zero probability is a probability (>= 0), stored or not; and a row may sum to exactly 1 - atol (0.5 here,
    # exact in binary), the bound included
    stored_zero = sp.csr_matrix((np.array([1.0, 0.0]), np.array([0, 1]), np.array([0, 2])), shape=(1, 2))
    mdp = TabularMDP.from_arrays(sp.vstack([stored_zero, sp.csr_matrix([[0.0, 1.0]])]), np.zeros((2, 1)))
    np.testing.assert_array_equal(mdp.transitions.toarray(), [[1.0, 0.0], [0.0, 1.0]])
    half = TabularMDP.from_arrays(np.array([[[0.5, 0.0]], [[0.0, 1.0]]]), np.zeros((2, 1)), atol=0.5)
    np.testing.assert_array_equal(half.transitions.toarray(), [[0.5, 0.0], [0.0, 1.0]])
