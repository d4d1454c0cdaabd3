r"""
A finite MDP in the sparse form the tabular solvers use, built from arrays or from a toy-text environment.

Transitions are stored as *continuation* probabilities: a CSR matrix of shape (S·A, S) whose row
``s * A + a`` holds :math:`P(s'|s,a)` for the transitions that do not end the episode. The mass of
terminating transitions is dropped (a terminal state has value 0), so a row sums to
:math:`1 - P(\text{done}|s,a)`.
"""

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp
from gymnasium import spaces
from numpy.typing import ArrayLike, NDArray
from scipy.sparse.csgraph import breadth_first_order
from stable_baselines3.common.vec_env import VecEnv

DEFAULT_ATOL = 1e-8


@dataclass(frozen=True, eq=False)
class TabularMDP:
    """
    Every way of building one (this constructor, :meth:`from_arrays`, :meth:`from_env`, :meth:`gridworld`,
    :meth:`random`) ends in the same checks (:func:`check_mdp`): at least one state and one action, finite rewards,
    transitions of shape (S·A, S) that are finite, non-negative, and whose rows sum to at most 1 + ``atol``.

    :param transitions: continuation probabilities, CSR of shape (n_states * n_actions, n_states)
    :param rewards: expected immediate rewards :math:`r(s,a)`, shape (n_states, n_actions)
    :param atol: tolerance on the row sums, a finite number >= 0
    :raises ValueError: naming what is malformed
    """

    transitions: sp.csr_matrix
    rewards: NDArray[np.float64]
    atol: float = field(default=DEFAULT_ATOL, repr=False)

    def __post_init__(self) -> None:
        transitions, rewards = check_mdp(self.transitions, self.rewards, self.atol)
        # normalised forms (the dataclass is frozen): float64 rewards, a float64 CSR matrix
        object.__setattr__(self, "transitions", transitions)
        object.__setattr__(self, "rewards", rewards)

    @property
    def n_states(self) -> int:
        return int(self.rewards.shape[0])

    @property
    def n_actions(self) -> int:
        return int(self.rewards.shape[1])

    @cached_property
    def action_major_transitions(self) -> sp.csr_matrix:
        """The transitions with rows reordered to ``a * S + s``: solvers then keep :math:`Q` as (A, S), whose
        reductions over actions run on contiguous rows (about 20x faster than over the last axis of (S, A))."""
        order = (np.arange(self.n_states)[None, :] * self.n_actions + np.arange(self.n_actions)[:, None]).ravel()
        return self.transitions[order].tocsr()

    @cached_property
    def action_major_rewards(self) -> NDArray[np.float64]:
        """:math:`r(s,a)` as an (A, S) contiguous array."""
        return np.ascontiguousarray(self.rewards.T)

    @property
    def termination_probabilities(self) -> NDArray[np.float64]:
        r""":math:`P(\text{done}|s,a)`, shape (n_states, n_actions)."""
        row_sums = np.asarray(self.transitions.sum(axis=1)).ravel()
        return np.clip(1.0 - row_sums, 0.0, 1.0).reshape(self.n_states, self.n_actions)

    @classmethod
    def from_arrays(
        cls,
        transitions: ArrayLike | sp.spmatrix | sp.sparray,
        rewards: ArrayLike,
        terminal_states: ArrayLike | None = None,
        atol: float = DEFAULT_ATOL,
    ) -> "TabularMDP":
        r"""
        Build and validate an MDP from a transition tensor and rewards.

        :param transitions: :math:`P[s, a, s']` as a dense array of shape (S, A, S), or a ``scipy.sparse``
            matrix of shape (S·A, S) (row ``s * A + a``); each row must be a probability distribution
        :param rewards: :math:`R[s, a]` of shape (S, A), or :math:`R[s, a, s']` of shape (S, A, S)
            (then :math:`r(s,a) = \sum_{s'} P(s'|s,a) R(s,a,s')`)
        :param terminal_states: states where the episode ends on arrival (their value is 0): a boolean mask
            of shape (S,) or state indices
        :param atol: tolerance on the row sums
        :raises ValueError: naming what is malformed
        """
        check_atol(atol)
        rewards_array = np.asarray(rewards, dtype=np.float64)
        if sp.issparse(transitions):
            matrix = sp.csr_matrix(transitions, dtype=np.float64)
            n_states = matrix.shape[1]
            if matrix.shape[0] % max(n_states, 1) != 0 or n_states == 0:
                raise ValueError(f"sparse transitions must have shape (S*A, S), got {matrix.shape}")
            n_actions = matrix.shape[0] // n_states
        else:
            dense = np.asarray(transitions, dtype=np.float64)
            if dense.ndim != 3 or dense.shape[0] != dense.shape[2] or dense.shape[0] == 0:
                raise ValueError(f"dense transitions must have shape (S, A, S), got {dense.shape}")
            n_states, n_actions = dense.shape[0], dense.shape[1]
            matrix = sp.csr_matrix(dense.reshape(n_states * n_actions, n_states))
        if n_actions == 0:
            raise ValueError(f"the MDP has {n_states} states but no actions: transitions of shape {matrix.shape} (S*A, S)")
        _check_probabilities(matrix, atol)
        expected_rewards = _expected_rewards(rewards_array, matrix, n_states, n_actions, transitions)
        matrix = _drop_terminal_columns(matrix, terminal_states, n_states)
        return cls(matrix, expected_rewards, atol)

    @classmethod
    def from_env(cls, env: Any, atol: float = DEFAULT_ATOL) -> "TabularMDP":
        """
        Convert a toy-text environment's model ``env.unwrapped.P[s][a] = [(p, s', r, done), ...]``
        (FrozenLake, Taxi, CliffWalking) directly to the sparse form, without a dense S x A x S array.

        :param env: a gymnasium environment (or a vectorised one with a single sub-environment type)
        :raises ValueError: if the environment exposes no model or has non-Discrete spaces
        """
        model, n_states, n_actions = known_model(env)
        return cls._from_model(model, n_states, n_actions, atol)

    @classmethod
    def _from_model(cls, model: dict, n_states: int, n_actions: int, atol: float) -> "TabularMDP":
        rows: list[int] = []
        columns: list[int] = []
        probabilities: list[float] = []
        rewards = np.zeros((n_states, n_actions))
        total_mass = np.zeros(n_states * n_actions)
        for state in range(n_states):
            outcomes_by_action = model.get(state) if isinstance(model, dict) else None
            if not isinstance(outcomes_by_action, dict):
                raise ValueError(
                    f"env.unwrapped.P has no entry for state {state}: P must map every state in [0, {n_states}) to "
                    "{action: [(probability, next_state, reward, done), ...]}"
                )
            for action in range(n_actions):
                row = state * n_actions + action
                if action not in outcomes_by_action:
                    raise ValueError(
                        f"env.unwrapped.P[{state}] has no entry for action {action}: it must map every action in "
                        f"[0, {n_actions}) to [(probability, next_state, reward, done), ...]"
                    )
                for outcome in outcomes_by_action[action]:
                    if not (isinstance(outcome, (tuple, list)) and len(outcome) == 4):
                        raise ValueError(
                            f"env.unwrapped.P[{state}][{action}] holds {outcome!r}: each outcome must be a "
                            "(probability, next_state, reward, done) tuple"
                        )
                    probability, next_state, reward, done = outcome
                    if not (isinstance(next_state, (int, np.integer)) and 0 <= next_state < n_states):
                        raise ValueError(
                            f"env.unwrapped.P[{state}][{action}] leads to next state {next_state!r}: next states must "
                            f"be integer state indices in [0, {n_states})"
                        )
                    total_mass[row] += probability
                    rewards[state, action] += probability * reward
                    if not done:
                        rows.append(row)
                        columns.append(int(next_state))
                        probabilities.append(float(probability))
        if np.any(np.abs(total_mass - 1.0) > atol):
            bad = int(np.argmax(np.abs(total_mass - 1.0)))
            raise ValueError(f"P[{bad // n_actions}][{bad % n_actions}] sums to {total_mass[bad]}, not 1 (tolerance {atol})")
        matrix = sp.coo_matrix((probabilities, (rows, columns)), shape=(n_states * n_actions, n_states)).tocsr()
        matrix.sum_duplicates()
        return cls(matrix, rewards, atol)

    @classmethod
    def gridworld(
        cls,
        height: int,
        width: int,
        slip: float = 0.1,
        walls: ArrayLike | None = None,
        goal: tuple[int, int] | None = None,
        step_reward: float = -1.0,
    ) -> "TabularMDP":
        """
        A gridworld: state ``row * width + column``, actions up, right, down, left. The intended move happens with
        probability ``1 - slip``; with probability ``slip`` the move is drawn uniformly from the four (the intended
        one included). A move into a wall or off the grid stays in place. Each step gives ``step_reward``; arriving
        at the goal ends the episode. Built without a Python loop over states (10^6 states in seconds).

        :param walls: boolean mask of shape (height, width), ``True`` for walls (their states are never entered)
        :param goal: (row, column) of the goal, the bottom-right corner by default
        """
        if height < 1 or width < 1 or height * width < 2:
            raise ValueError(f"a gridworld needs at least 2 cells, got {height} x {width}")
        if not 0.0 <= slip <= 1.0:
            raise ValueError(f"slip must be a probability in [0, 1], got {slip}")
        if not np.isfinite(step_reward):
            raise ValueError(f"step_reward must be a finite number, got {step_reward}")
        wall_mask = np.zeros((height, width), dtype=bool) if walls is None else np.asarray(walls, dtype=bool)
        if wall_mask.shape != (height, width):
            raise ValueError(f"walls must have shape ({height}, {width}), got {wall_mask.shape}")
        goal_row, goal_column = (height - 1, width - 1) if goal is None else goal
        if not (0 <= goal_row < height and 0 <= goal_column < width) or wall_mask[goal_row, goal_column]:
            raise ValueError(f"goal {(goal_row, goal_column)} must be a free cell of the {height} x {width} grid")
        n_states, n_actions = height * width, 4
        rows, columns = np.divmod(np.arange(n_states), width)
        # where each of the 4 moves leads from every state: (4, S)
        destinations = np.empty((n_actions, n_states), dtype=np.int64)
        for action, (d_row, d_column) in enumerate([(-1, 0), (0, 1), (1, 0), (0, -1)]):
            next_rows, next_columns = rows + d_row, columns + d_column
            inside = (next_rows >= 0) & (next_rows < height) & (next_columns >= 0) & (next_columns < width)
            target = np.where(inside, next_rows * width + next_columns, np.arange(n_states))
            blocked = wall_mask.ravel()[np.where(inside, target, 0)] & inside
            destinations[action] = np.where(blocked, np.arange(n_states), target)
        # row s * 4 + a: the intended move (1 - slip) plus every move (slip / 4); duplicates are summed
        state_action = np.arange(n_states * n_actions)
        intended = destinations.T.ravel()  # (S * A,): destination of action a from s
        every_move = np.repeat(destinations.T, n_actions, axis=0)  # (S * A, 4)
        matrix = sp.csr_matrix(
            (
                np.concatenate([np.full(state_action.size, 1.0 - slip), np.full(every_move.size, slip / n_actions)]),
                (
                    np.concatenate([state_action, np.repeat(state_action, n_actions)]),
                    np.concatenate([intended, every_move.ravel()]),
                ),
            ),
            shape=(n_states * n_actions, n_states),
        )
        matrix.sum_duplicates()
        matrix.eliminate_zeros()
        terminal = np.zeros(n_states, dtype=bool)
        terminal[goal_row * width + goal_column] = True
        matrix = _drop_terminal_columns(matrix, terminal, n_states)
        return cls(matrix, np.full((n_states, n_actions), float(step_reward)))

    @classmethod
    def random(
        cls, n_states: int, n_actions: int, n_successors: int = 4, seed: int | None = None, reward_scale: float = 1.0
    ) -> "TabularMDP":
        """
        A random sparse MDP: each (s, a) moves to ``n_successors`` distinct uniformly drawn states with
        Dirichlet(1) probabilities; rewards are standard normal times ``reward_scale``.

        Built directly in CSR form (O(S·A·k) memory), for tests and benchmarks at 10^6 states.
        """
        if n_successors < 1 or n_successors > n_states:
            raise ValueError(f"n_successors must be in [1, n_states={n_states}], got {n_successors}")
        rng = np.random.default_rng(seed)
        n_rows = n_states * n_actions
        columns = _distinct_random_columns(rng, n_rows, n_states, n_successors)
        weights = rng.exponential(size=(n_rows, n_successors))  # normalised exponentials are Dirichlet(1)
        weights /= weights.sum(axis=1, keepdims=True)
        indptr = np.arange(0, n_rows * n_successors + 1, n_successors)
        matrix = sp.csr_matrix((weights.ravel(), columns.ravel(), indptr), shape=(n_rows, n_states))
        matrix.sort_indices()
        rewards = reward_scale * rng.standard_normal((n_states, n_actions))
        return cls(matrix, rewards)

    def check_proper(self) -> None:
        r"""
        Check that every state can reach termination (needed for :math:`\gamma = 1`).

        Under any policy with full support (every soft policy at :math:`\alpha > 0`) the episode then ends with
        probability one, so the undiscounted soft values are finite.

        :raises ValueError: naming a state from which the episode can never end
        """
        n_states = self.n_states
        exits = np.flatnonzero(self.termination_probabilities.max(axis=1) > DEFAULT_ATOL)
        # Reverse state graph (s' -> s when some action moves s to s'), plus sink -> each exit state;
        # the states found from the sink are those that can end the episode
        graph = _state_graph(self.transitions, n_states).tocoo()
        sources = np.concatenate([graph.col, np.full(exits.size, n_states)])
        targets = np.concatenate([graph.row, exits])
        reverse = sp.csr_matrix((np.ones(sources.size), (sources, targets)), shape=(n_states + 1, n_states + 1))
        reached = breadth_first_order(reverse, n_states, directed=True, return_predecessors=False)
        trapped = np.setdiff1d(np.arange(n_states), reached)
        if trapped.size:
            raise ValueError(
                f"gamma = 1 needs every episode to end, but from state {int(trapped[0])} ({trapped.size} states in all) "
                "no terminal transition can be reached; use gamma < 1 or mark terminal states"
            )


def _state_graph(transitions: sp.csr_matrix, n_states: int) -> sp.csr_matrix:
    r"""(S, S) support of :math:`\sum_a P(s'|s,a)`."""
    n_actions = transitions.shape[0] // n_states
    state_of_row = np.repeat(np.arange(n_states), n_actions)
    aggregate = sp.csr_matrix((np.ones(len(state_of_row)), (state_of_row, np.arange(len(state_of_row)))))
    return (aggregate @ transitions).tocsr()


# below this chance of a row without a repeated state, _distinct_random_columns stops redrawing rows
MIN_DISTINCT_PROBABILITY = 0.01


def _distinct_random_columns(rng: np.random.Generator, n_rows: int, n_states: int, k: int) -> NDArray[np.int64]:
    """``k`` distinct states per row, without materialising anything of size S x S."""
    # a row of k draws has no repeat with probability prod_i (1 - i / S); redrawing rows with a repeat then takes
    # 1 / p rounds, which never ends for k near S (40 of 40: p = 1e-16): there, k smallest of S random keys per row,
    # in blocks of rows (memory of about 2^22 keys)
    if float(np.prod(1.0 - np.arange(k) / n_states)) < MIN_DISTINCT_PROBABILITY:
        columns = np.empty((n_rows, k), dtype=np.int64)
        block = max(1, (1 << 22) // n_states)
        for start in range(0, n_rows, block):
            keys = rng.random((min(block, n_rows - start), n_states))
            columns[start : start + block] = np.sort(np.argpartition(keys, k - 1, axis=1)[:, :k], axis=1)
        return columns
    columns = rng.integers(0, n_states, size=(n_rows, k))
    columns.sort(axis=1)
    duplicated = np.zeros(n_rows, dtype=bool)
    duplicated |= np.any(columns[:, 1:] == columns[:, :-1], axis=1)
    while np.any(duplicated):  # redraw the few rows with a repeated state
        rows = np.flatnonzero(duplicated)
        redraw = rng.integers(0, n_states, size=(rows.size, k))
        redraw.sort(axis=1)
        columns[rows] = redraw
        duplicated[:] = False
        duplicated[rows] = np.any(redraw[:, 1:] == redraw[:, :-1], axis=1)
    return columns


def known_model(env: Any) -> tuple[dict, int, int]:
    """
    The transition model a toy-text environment exposes, checked before any conversion.

    :param env: a gymnasium environment (or a vectorised one with a single sub-environment type)
    :return: ``env.unwrapped.P``, the number of states and the number of actions
    :raises ValueError: if the environment exposes no model or has non-Discrete spaces
    """
    model, observation_space, action_space = _model_and_spaces(env)
    if not isinstance(model, dict):
        raise ValueError(
            f"{_env_name(env)} exposes no transition model `env.unwrapped.P`: SoftValueIteration needs a known "
            "MDP (toy-text environments such as FrozenLake, Taxi, CliffWalking) or explicit arrays"
        )
    if not isinstance(observation_space, spaces.Discrete) or not isinstance(action_space, spaces.Discrete):
        raise ValueError(
            f"a tabular MDP needs Discrete observation and action spaces, got {observation_space} and {action_space}"
        )
    return model, int(observation_space.n), int(action_space.n)


def _model_and_spaces(env: Any) -> tuple[Any, spaces.Space, spaces.Space]:
    """The toy-text model ``P`` and the spaces of an environment, a wrapped one or a VecEnv."""
    if isinstance(env, VecEnv):
        try:
            model = env.get_attr("P", indices=[0])[0]
        except AttributeError:
            model = None
        return model, env.observation_space, env.action_space
    base = getattr(env, "unwrapped", env)
    return getattr(base, "P", None), base.observation_space, base.action_space


def _env_name(env: Any) -> str:
    """The environment's id (``CartPole-v1``) or class name, seen through wrappers and VecEnvs."""
    if isinstance(env, VecEnv):
        # the user named the environment, not the DummyVecEnv SB3 wrapped it in
        spec = env.get_attr("spec", indices=[0])[0]
        if spec is not None:
            return spec.id
        return env.get_attr("unwrapped", indices=[0])[0].__class__.__name__
    spec = getattr(env, "spec", None) or getattr(getattr(env, "unwrapped", None), "spec", None)
    return spec.id if spec is not None else type(getattr(env, "unwrapped", env)).__name__


def check_atol(atol: float) -> None:
    """:raises ValueError: unless ``atol`` (the tolerance on transition row sums) is a finite number >= 0"""
    if not (isinstance(atol, (int, float, np.integer, np.floating)) and np.isfinite(atol) and atol >= 0):
        raise ValueError(f"atol (the tolerance on the transition rows' sums) must be a finite number >= 0, got {atol!r}")


def check_mdp(transitions: Any, rewards: Any, atol: float) -> tuple[sp.csr_matrix, NDArray[np.float64]]:
    """
    The checks every :class:`TabularMDP` passes, however it is built.

    :param transitions: continuation probabilities, a ``scipy.sparse`` matrix of shape (S·A, S)
    :param rewards: :math:`r(s,a)`, shape (S, A)
    :param atol: tolerance on the row sums (a row may sum to less than 1: the rest is termination)
    :return: the transitions as float64 CSR and the rewards as float64 array
    :raises ValueError: naming what is malformed
    """
    check_atol(atol)
    rewards_array = np.asarray(rewards, dtype=np.float64)
    if rewards_array.ndim != 2 or 0 in rewards_array.shape:
        raise ValueError(
            f"a TabularMDP needs at least one state and one action: rewards have shape {rewards_array.shape}, "
            "expected (n_states, n_actions)"
        )
    n_states, n_actions = rewards_array.shape
    if not sp.issparse(transitions):
        raise ValueError(
            f"transitions must be a scipy.sparse matrix of shape (S*A, S) = {(n_states * n_actions, n_states)}, got "
            f"{type(transitions).__name__}; TabularMDP.from_arrays takes dense (S, A, S) arrays"
        )
    if transitions.shape != (n_states * n_actions, n_states):
        raise ValueError(
            f"transitions must have shape (S*A, S) = {(n_states * n_actions, n_states)} for rewards of shape "
            f"(S, A) = {rewards_array.shape}, got {transitions.shape}"
        )
    matrix = transitions if isinstance(transitions, sp.csr_matrix) and transitions.dtype == np.float64 else None
    if matrix is None:
        matrix = sp.csr_matrix(transitions, dtype=np.float64)
    _check_probabilities(matrix, atol, allow_termination=True)
    _check_finite_rewards(rewards_array)
    return matrix, rewards_array


def _check_probabilities(matrix: sp.csr_matrix, atol: float, allow_termination: bool = False) -> None:
    check_atol(atol)
    n_actions = max(matrix.shape[0] // max(matrix.shape[1], 1), 1)
    if not np.all(np.isfinite(matrix.data)):
        raise ValueError("transition probabilities contain NaN or inf")
    if matrix.data.size and matrix.data.min() < 0.0:
        raise ValueError(f"transition probabilities must be >= 0, found {matrix.data.min()}")
    row_sums = np.asarray(matrix.sum(axis=1)).ravel()
    too_big = row_sums > 1.0 + atol
    too_small = row_sums < 1.0 - atol
    bad_rows = too_big | (too_small & (not allow_termination))
    if np.any(bad_rows):
        row = int(np.flatnonzero(bad_rows)[0])
        relation = "more than 1" if too_big[row] else "not 1"
        raise ValueError(
            f"transition row {row} (state {row // n_actions}, action {row % n_actions}) sums to {row_sums[row]}, "
            f"{relation} (tolerance {atol})"
        )


def _expected_rewards(
    rewards: NDArray[np.float64], matrix: sp.csr_matrix, n_states: int, n_actions: int, transitions: Any
) -> NDArray[np.float64]:
    if rewards.shape == (n_states, n_actions):
        expected = rewards.copy()
    elif rewards.shape == (n_states, n_actions, n_states):
        # r(s,a) = sum_s' P(s'|s,a) R(s,a,s'), on the stored entries only
        flat = rewards.reshape(n_states * n_actions, n_states)
        coo = matrix.tocoo()
        per_entry = coo.data * flat[coo.row, coo.col]
        weighted_counts = np.bincount(coo.row, weights=per_entry, minlength=n_states * n_actions)  # float64 with weights
        expected = weighted_counts.astype(np.float64, copy=False).reshape(n_states, n_actions)
    else:
        raise ValueError(
            f"rewards must have shape (S, A) = {(n_states, n_actions)} or (S, A, S) = {(n_states, n_actions, n_states)}, "
            f"got {rewards.shape}"
        )
    _check_finite_rewards(expected if rewards.ndim == 2 else rewards)
    return expected


def _check_finite_rewards(rewards: NDArray[np.float64]) -> None:
    if not np.all(np.isfinite(rewards)):
        index = np.unravel_index(int(np.argmin(np.isfinite(rewards))), rewards.shape)
        raise ValueError(f"rewards must be finite, found {rewards[index]} at {tuple(int(i) for i in index)}")


def _drop_terminal_columns(matrix: sp.csr_matrix, terminal_states: ArrayLike | None, n_states: int) -> sp.csr_matrix:
    if terminal_states is None:
        return matrix
    mask = np.zeros(n_states, dtype=bool)
    terminal = np.asarray(terminal_states)
    if terminal.dtype == bool:
        if terminal.shape != (n_states,):
            raise ValueError(f"terminal_states mask must have shape ({n_states},), got {terminal.shape}")
        mask = terminal
    else:
        numeric = np.issubdtype(terminal.dtype, np.integer) or np.issubdtype(terminal.dtype, np.floating)
        if terminal.size and not (
            np.issubdtype(terminal.dtype, np.integer)
            or (numeric and np.all(np.isfinite(terminal) & (np.mod(terminal, 1) == 0)))
        ):
            raise ValueError(
                f"terminal_states must be integer state indices in [0, {n_states}) or a boolean mask of shape "
                f"({n_states},), got {terminal_states!r}"
            )
        if terminal.size and (terminal.min() < 0 or terminal.max() >= n_states):
            raise ValueError(f"terminal_states indices must be in [0, {n_states}), got {terminal}")
        mask[terminal.astype(int)] = True
    # arriving in a terminal state ends the episode: its continuation mass is dropped
    keep = sp.diags((~mask).astype(np.float64))
    result: sp.csr_matrix = (matrix @ keep).tocsr()
    result.eliminate_zeros()
    return result
