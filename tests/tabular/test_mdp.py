"""TabularMDP's constructors on their own: shapes, dtypes, terminal states, random MDPs, toy-text models."""

import gymnasium as gym
import numpy as np
import pytest
import scipy.sparse as sp
from stable_baselines3.common.env_util import make_vec_env

from sb3_maxent import TabularMDP
from sb3_maxent.tabular.mdp import known_model


def line_mdp():
    """3 states, 2 actions: action 0 stays, action 1 moves right (the last state loops)."""
    transitions = np.zeros((3, 2, 3))
    for s in range(3):
        transitions[s, 0, s] = 1.0
        transitions[s, 1, min(s + 1, 2)] = 1.0
    return transitions


def test_dense_and_sparse_inputs_give_the_same_float64_mdp():
    transitions = line_mdp()
    rewards = np.array([[0, 1], [2, 3], [4, 5]])  # integers are converted
    dense = TabularMDP.from_arrays(transitions.astype(int), rewards)
    sparse = TabularMDP.from_arrays(sp.csr_matrix(transitions.reshape(6, 3).astype(int)), rewards)
    for mdp in (dense, sparse):
        assert (mdp.n_states, mdp.n_actions) == (3, 2)
        assert mdp.transitions.dtype == np.float64 and mdp.rewards.dtype == np.float64
        np.testing.assert_array_equal(mdp.transitions.toarray(), transitions.reshape(6, 3))
        np.testing.assert_array_equal(mdp.rewards, rewards)


@pytest.mark.parametrize(
    ("transitions", "message"),
    [
        (np.full((3, 2), 0.5), r"^dense transitions must have shape \(S, A, S\), got \(3, 2\)$"),
        (np.full((3, 2, 2), 0.5), r"^dense transitions must have shape \(S, A, S\), got \(3, 2, 2\)$"),
        (np.zeros((0, 2, 0)), r"^dense transitions must have shape \(S, A, S\), got \(0, 2, 0\)$"),
        (sp.csr_matrix(np.full((5, 3), 1 / 3)), r"^sparse transitions must have shape \(S\*A, S\), got \(5, 3\)$"),
        (sp.csr_matrix((6, 0)), r"^sparse transitions must have shape \(S\*A, S\), got \(6, 0\)$"),
        (np.zeros((3, 0, 3)), r"^the MDP has 3 states but no actions"),
    ],
)
def test_malformed_shapes_are_named(transitions, message):
    with pytest.raises(ValueError, match=message):
        TabularMDP.from_arrays(transitions, np.zeros((3, 2)))


def test_rewards_per_successor_are_averaged_and_checked():
    transitions = np.zeros((2, 1, 2))
    transitions[0, 0] = [0.25, 0.75]
    transitions[1, 0] = [1.0, 0.0]
    rewards = np.array([[[4.0, 8.0]], [[2.0, np.nan]]])  # refused even where P = 0
    with pytest.raises(ValueError, match=r"^rewards must be finite, found nan at \(1, 0, 1\)$"):
        TabularMDP.from_arrays(transitions, rewards)
    rewards[1, 0, 1] = 100.0
    mdp = TabularMDP.from_arrays(transitions, rewards)
    np.testing.assert_allclose(mdp.rewards, [[0.25 * 4 + 0.75 * 8], [2.0]])
    with pytest.raises(ValueError, match=r"^rewards must be finite, found inf at \(1, 0\)$"):
        TabularMDP.from_arrays(transitions, np.array([[0.0], [np.inf]]))
    with pytest.raises(
        ValueError, match=r"^rewards must have shape \(S, A\) = \(2, 1\) or \(S, A, S\) = \(2, 1, 2\), got \(2,\)$"
    ):
        TabularMDP.from_arrays(transitions, np.zeros(2))


@pytest.mark.parametrize("terminal", [[2], np.array([False, False, True]), [2.0]])
def test_terminal_states_end_the_episode_on_arrival(terminal):
    mdp = TabularMDP.from_arrays(line_mdp(), np.zeros((3, 2)), terminal_states=terminal)
    # moving into state 2 (from 1 or 2) ends the episode: that mass leaves the continuation matrix
    np.testing.assert_allclose(mdp.termination_probabilities, [[0, 0], [0, 1], [1, 1]])
    assert mdp.transitions.nnz == 3  # the zeros are dropped, not stored
    # state 0 as a terminal state is allowed too
    first = TabularMDP.from_arrays(line_mdp(), np.zeros((3, 2)), terminal_states=[0])
    np.testing.assert_allclose(first.termination_probabilities, [[1, 0], [0, 0], [0, 0]])


@pytest.mark.parametrize(
    ("terminal", "message"),
    [
        (np.array([True, False]), r"^terminal_states mask must have shape \(3,\), got \(2,\)$"),
        ([3], r"^terminal_states indices must be in \[0, 3\), got \[3\]$"),
        ([-1], r"^terminal_states indices must be in \[0, 3\), got \[-1\]$"),
        (
            [0.5],
            r"^terminal_states must be integer state indices in \[0, 3\) or a boolean mask of shape \(3,\), got \[0\.5\]$",
        ),
    ],
)
def test_malformed_terminal_states_are_named(terminal, message):
    with pytest.raises(ValueError, match=message):
        TabularMDP.from_arrays(line_mdp(), np.zeros((3, 2)), terminal_states=terminal)


def test_random_mdps():
    mdp = TabularMDP.random(50, 3, seed=0)
    # 4 distinct successors per (s, a) by default, Dirichlet weights summing to 1, standard normal rewards
    assert mdp.transitions.shape == (150, 50)
    np.testing.assert_array_equal(np.diff(mdp.transitions.indptr), 4)
    for row in range(150):
        columns = mdp.transitions.indices[mdp.transitions.indptr[row] : mdp.transitions.indptr[row + 1]]
        assert len(set(columns)) == 4
    np.testing.assert_allclose(mdp.transitions.sum(axis=1), 1.0)
    assert abs(mdp.rewards.std() - 1.0) < 0.2
    # every state can be drawn as a successor, the first and the last included
    assert {0, 49} <= set(mdp.transitions.indices)
    # a seed fixes the MDP; reward_scale scales the same rewards
    again = TabularMDP.random(50, 3, seed=0, reward_scale=2.0)
    assert (again.transitions != mdp.transitions).nnz == 0
    np.testing.assert_allclose(again.rewards, 2.0 * mdp.rewards)
    assert (TabularMDP.random(50, 3, seed=1).transitions != mdp.transitions).nnz > 0
    # as many successors as states: every row is full, with no repeated column
    full = TabularMDP.random(6, 2, n_successors=6, seed=0)
    np.testing.assert_array_equal(full.transitions.toarray() > 0, True)
    one = TabularMDP.random(6, 2, n_successors=1, seed=0)
    np.testing.assert_array_equal(one.transitions.toarray().max(axis=1), 1.0)
    for n_successors in (0, 7):
        with pytest.raises(ValueError, match=rf"^n_successors must be in \[1, n_states=6\], got {n_successors}$"):
            TabularMDP.random(6, 2, n_successors=n_successors)


def test_toy_text_models_through_wrappers_and_vec_envs():
    env = gym.make("FrozenLake-v1")
    plain = TabularMDP.from_env(env)
    vectorised = TabularMDP.from_env(make_vec_env("FrozenLake-v1", n_envs=2))
    assert (vectorised.transitions != plain.transitions).nnz == 0
    np.testing.assert_array_equal(vectorised.rewards, plain.rewards)
    model, n_states, n_actions = known_model(env)
    assert model is env.unwrapped.P and (n_states, n_actions) == (16, 4)

    class ContinuousWithModel(gym.Env):
        observation_space = gym.spaces.Box(0, 1, (1,))
        action_space = gym.spaces.Discrete(2)
        P = {}

    with pytest.raises(ValueError, match=r"^a tabular MDP needs Discrete observation and action spaces, got Box"):
        known_model(ContinuousWithModel())
    ContinuousWithModel.observation_space = gym.spaces.Discrete(2)
    ContinuousWithModel.action_space = gym.spaces.Box(0, 1, (1,))
    with pytest.raises(ValueError, match=r"got Discrete\(2\) and Box"):
        known_model(ContinuousWithModel())


def test_a_toy_text_row_that_does_not_sum_to_one_is_located():
    model = {s: {a: [(1.0, 0, 0.0, False)] for a in range(4)} for s in range(3)}
    model[2][1] = [(0.5, 0, 0.0, False)]
    with pytest.raises(ValueError, match=r"^P\[2\]\[1\] sums to 0\.5, not 1 \(tolerance 1e-08\)$"):
        TabularMDP._from_model(model, n_states=3, n_actions=4, atol=1e-8)


def gridworld_by_loops(height, width, slip, walls, goal):
    """The same gridworld, one state at a time (the reference)."""
    moves = [(-1, 0), (0, 1), (1, 0), (0, -1)]
    n_states = height * width
    transitions = np.zeros((n_states, 4, n_states))
    for row in range(height):
        for column in range(width):
            state = row * width + column
            destinations = []
            for d_row, d_column in moves:
                r, c = row + d_row, column + d_column
                blocked = not (0 <= r < height and 0 <= c < width) or walls[r, c]
                destinations.append(state if blocked else r * width + c)
            for action in range(4):
                transitions[state, action, destinations[action]] += 1 - slip
                for destination in destinations:
                    transitions[state, action, destination] += slip / 4
    transitions[:, :, goal[0] * width + goal[1]] = 0.0  # arriving at the goal ends the episode
    return transitions


def test_gridworld_against_a_loop_reference():
    walls = np.zeros((4, 5), dtype=bool)
    walls[1, 1:4] = True
    mdp = TabularMDP.gridworld(4, 5, slip=0.2, walls=walls, goal=(3, 2), step_reward=-0.5)
    expected = gridworld_by_loops(4, 5, 0.2, walls, (3, 2))
    np.testing.assert_allclose(mdp.transitions.toarray(), expected.reshape(20 * 4, 20), atol=1e-15)
    np.testing.assert_array_equal(mdp.rewards, -0.5)


def test_gridworld_values_are_shortest_paths():
    from sb3_maxent.tabular import soft_value_iteration

    walls = np.zeros((3, 4), dtype=bool)
    walls[0:2, 2] = True  # a wall in column 2, open at the bottom row
    mdp = TabularMDP.gridworld(3, 4, slip=0.0, walls=walls, goal=(0, 3))
    values = soft_value_iteration(mdp, 1.0, 0.0, tol=1e-12).values.reshape(3, 4)
    # -1 a step, the step into the goal included: minus the number of moves around the wall
    np.testing.assert_allclose(values[:, :2], [[-7, -6], [-6, -5], [-5, -4]])
    np.testing.assert_allclose(values[:, 3], [-1, -1, -2])
    assert values[2, 2] == -3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"height": 1, "width": 1}, r"^a gridworld needs at least 2 cells, got 1 x 1$"),
        ({"height": 2, "width": 2, "slip": 1.5}, r"^slip must be a probability in \[0, 1\], got 1\.5$"),
        ({"height": 2, "width": 2, "walls": np.zeros((3, 2))}, r"^walls must have shape \(2, 2\), got \(3, 2\)$"),
        ({"height": 2, "width": 2, "goal": (2, 0)}, r"^goal \(2, 0\) must be a free cell of the 2 x 2 grid$"),
        ({"height": 2, "width": 2, "walls": np.eye(2, dtype=bool)}, r"^goal \(1, 1\) must be a free cell"),
    ],
)
def test_malformed_gridworlds_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TabularMDP.gridworld(**kwargs)
