r"""
Exact solvers of the soft Bellman equations of a known finite MDP (NumPy / SciPy, sparse).

Soft Bellman backup (a :math:`\gamma`-contraction in the sup norm):

.. math::

    (\mathcal{T} Q)(s,a) = r(s,a) + \gamma \sum_{s'} P(s'|s,a)\, \alpha \log \sum_{a'} \exp(Q(s',a')/\alpha)

Soft policy evaluation of a policy :math:`\pi`: the linear system

.. math::

    V^\pi = \sum_a \pi(a|s) [r(s,a) - \alpha \log \pi(a|s)] + \gamma P_\pi V^\pi,
    \qquad Q^\pi(s,a) = r(s,a) + \gamma \sum_{s'} P(s'|s,a) V^\pi(s')

Soft policy iteration alternates evaluation with the soft-greedy improvement
:math:`\pi'(a|s) \propto \exp(Q^\pi(s,a)/\alpha)`, which never decreases :math:`Q` (soft policy improvement).
"""

import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import NDArray

from sb3_maxent.common.soft_bellman import FloatArray, policy_entropy, soft_greedy_policy, soft_value
from sb3_maxent.common.validation import user_stacklevel
from sb3_maxent.tabular.mdp import TabularMDP

EvaluationMethod = Literal["direct", "gmres", "iterative"]


# a Newton step may raise the residual's sup norm a lot on its way (policy iteration is monotone in V, not in the
# residual: on a 100 x 100 gridworld a safeguard at 10x turned 35 Newton steps into 186); one that multiplies it
# by more than this, or leaves it non-finite, is replaced by a value-iteration step
SAFEGUARD_GROWTH = 1e6


# float64's unit roundoff u = 2^-53
UNIT_ROUNDOFF = float(np.finfo(np.float64).eps) / 2


def relative_resolution(transitions: sp.csr_matrix, n_actions: int) -> float:
    r"""
    :math:`\rho`: the relative accuracy to which float64 can evaluate a soft Bellman residual, so that no stopping
    rule below :math:`\rho\,(\max|V| + \max|r| + \alpha)` is ever sure to fire.

    Error analysis of one backup :math:`\mathcal{T}Q = r + \gamma P V(Q)` (to first order in :math:`u = 2^{-53}`;
    Higham, *Accuracy and Stability of Numerical Algorithms*, 2002, sections 2.2 and 3.1), with :math:`k` the most
    stored entries of a row of :math:`P` (rows sum to at most 1) and :math:`A` the number of actions:

    * :math:`V(Q) = \max_a Q + \alpha\log\sum_a e^{(Q - \max_a Q)/\alpha}`: the sum of :math:`A` terms in
      (0, 1], each with a rounded exponential, and its logarithm are off by at most :math:`(A + 2)u` (times
      :math:`\alpha`); adding :math:`\max_a Q` rounds by :math:`u|V|`;
    * :math:`PV`: a recursive sum of :math:`k` products, off by at most :math:`k u \max|V|`;
    * :math:`\gamma\,\cdot` and :math:`+\,r`: :math:`2u(\max|r| + \max|V|)`.

    So :math:`|\mathrm{fl}(\mathcal{T}Q) - \mathcal{T}Q| \le (k + A + 5)\,u\,(\max|V| + \max|r| + \alpha)`,
    and even the float nearest :math:`Q^*` has a computed residual up to that size (plus :math:`(1 + \gamma)u|Q^*|`,
    within the bound's slack): below it the residual is rounding noise, and an absolute ``tol`` under it may never
    be reached (values of 1e8 have an ulp of 1.5e-8: ``tol=1e-8`` at a reward scale of 1e6, or any ``tol`` at
    :math:`\alpha = 10^{300}`). The solvers therefore stop at :math:`\max(\text{tol}, \rho\,s)` with
    :math:`s = \max|V| + \max|r| + \alpha` (:func:`attainable_tolerance`); where ``tol`` is above it (for
    :math:`|V| \sim 100`, :math:`\rho\,s \sim 10^{-13}`) nothing changes, bit for bit.

    :param transitions: the (S·A, S) transition matrix (or any CSR matrix whose rows are averaged), CSR
    :param n_actions: the number of actions :math:`A`
    """
    max_successors = int(np.max(np.diff(transitions.indptr), initial=0))
    return (max_successors + n_actions + 5) * UNIT_ROUNDOFF


def attainable_tolerance(tol: float, resolution: float, max_abs_value: float, offset: float) -> float:
    r"""
    :math:`\max(\text{tol}, \rho\,(\max|V| + \text{offset}))`: the smallest residual float64 can certify (see
    :func:`relative_resolution`); ``offset`` is :math:`\max|r| + \alpha`.
    """
    # two products, not one of the sum: values near float64's largest must not overflow the tolerance itself
    return max(tol, resolution * max_abs_value + resolution * offset)


def _max_abs(values: FloatArray) -> float:
    # no temporary of the size of values (max|V| is taken once per sweep only when the residual is below tol's reach)
    return max(float(np.max(values, initial=0.0)), -float(np.min(values, initial=0.0)))


class ConvergenceWarning(UserWarning):
    """A solver stopped at ``max_iter`` before reaching its tolerance."""


@dataclass
class SolverResult:
    r"""
    :param q_values: :math:`Q`, shape (n_states, n_actions)
    :param values: :math:`V`, shape (n_states,)
    :param iterations: sweeps (value iteration, iterative evaluation) or improvement steps (policy iteration)
    :param residual: final Bellman residual :math:`\|\mathcal{T} Q - Q\|_\infty` of the equation solved
    :param converged: whether ``residual <= tolerance`` was reached before ``max_iter``
    :param sweeps: matrix-vector products with the transition matrix (the unit of work)
    :param history: policy iteration with ``keep_history=True``: :math:`Q^{\pi_k}` of every policy, in order
        (empty otherwise)
    :param tolerance: the residual ``converged`` was judged against: ``tol``, or float64's resolution of the
        residual at the values' scale where that is larger (see :func:`relative_resolution`)
    """

    q_values: FloatArray
    values: FloatArray
    iterations: int
    residual: float
    converged: bool
    sweeps: int = 0
    history: list[FloatArray] = field(default_factory=list)
    tolerance: float = 0.0


def check_gamma(gamma: float, mdp: TabularMDP) -> float:
    r"""
    :raises ValueError: if :math:`\gamma \notin [0, 1]`, or :math:`\gamma = 1` on an MDP whose episodes may not end
    """
    gamma = float(gamma)
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1) (or 1 for an MDP whose episodes always end), got {gamma}")
    if gamma == 1.0:
        mdp.check_proper()
    return gamma


def soft_bellman_backup(mdp: TabularMDP, q_values: FloatArray, gamma: float, ent_coef: float) -> FloatArray:
    r"""One application of the soft Bellman optimality operator :math:`\mathcal{T}`; shape (n_states, n_actions)."""
    next_values = mdp.transitions @ soft_value(q_values, ent_coef)
    return mdp.rewards + gamma * next_values.reshape(mdp.rewards.shape)


def soft_value_iteration(
    mdp: TabularMDP,
    gamma: float,
    ent_coef: float,
    tol: float = 1e-8,
    max_iter: int = 100_000,
    q_init: FloatArray | None = None,
) -> SolverResult:
    r"""
    Iterate :math:`Q \leftarrow \mathcal{T} Q` until :math:`\|\mathcal{T} Q - Q\|_\infty \leq` ``tol``.

    Then :math:`\|Q - Q^*\|_\infty \leq \gamma\,` ``tol`` :math:`/ (1 - \gamma)`. With :math:`\alpha = 0`
    it is exactly (hard) value iteration. A ``tol`` below float64's resolution of the residual at the values' scale
    (:func:`relative_resolution`) is replaced by that resolution, so the sweeps end at any scale.

    :param q_init: starting point (zeros by default)
    """
    # Action-major layout (A, S): see TabularMDP.action_major_transitions
    transitions, rewards = mdp.action_major_transitions, mdp.action_major_rewards
    shape = rewards.shape
    q_values = np.zeros(shape) if q_init is None else np.array(np.asarray(q_init, dtype=np.float64).T, order="C")
    if q_values.shape != shape:
        raise ValueError(f"q_init must have shape (n_states, n_actions) = {mdp.rewards.shape}, got {q_values.T.shape}")
    resolution = relative_resolution(transitions, shape[0])
    offset = float(np.max(np.abs(rewards), initial=0.0)) + ent_coef  # max|r| + alpha, see relative_resolution
    sweeps = 0
    if _scaled_sweeps_are_safe(rewards, ent_coef):
        q_values, sweeps = _scaled_value_iteration(
            transitions, rewards, q_values, gamma, ent_coef, tol, max_iter, resolution, offset
        )
    # from the scaled sweeps' end, usually one plain sweep: it returns Q = T Q' and V(Q) in the arithmetic of the
    # exact residual below, which a tol near float64's rounding of Q needs
    q_values, values, plain_sweeps = _plain_value_iteration(
        transitions, rewards, q_values, gamma, ent_coef, tol, max_iter - sweeps, resolution, offset
    )
    iteration = sweeps + plain_sweeps
    # the exact residual of the returned Q, once: one more mat-vec
    backup = (transitions @ values).reshape(shape)
    backup *= gamma
    backup += rewards
    np.subtract(backup, q_values, out=backup)
    residual = float(np.max(np.abs(backup, out=backup), initial=0.0))
    # the sweeps stop at a bound of at most rho s; the residual computed here adds one backup's rounding, rho s more
    tolerance = attainable_tolerance(tol, 2 * resolution, _max_abs(values), offset)
    converged = residual <= tolerance
    _warn_unless_converged(converged, "soft value iteration", max_iter, residual, tolerance)
    return SolverResult(
        np.ascontiguousarray(q_values.T), values, iteration, residual, converged, sweeps=iteration + 1, tolerance=tolerance
    )


# The scaled sweeps keep Q / alpha and V / alpha: with |r| / alpha and alpha below this the scaled values and their
# product with alpha stay far inside float64's range (values are at most a horizon of rewards, and _check_bounded
# catches the rest); outside it (alpha -> 0, or absurdly large) the plain sweeps are used, which overflow visibly
SCALED_SWEEP_LIMIT = 1e150


def _scaled_sweeps_are_safe(rewards: FloatArray, ent_coef: float) -> bool:
    max_reward = float(np.max(np.abs(rewards), initial=0.0))
    return 0.0 < ent_coef < SCALED_SWEEP_LIMIT and max_reward < SCALED_SWEEP_LIMIT * ent_coef


def _scaled_value_iteration(
    transitions: sp.csr_matrix,
    rewards: FloatArray,
    q_values: FloatArray,
    gamma: float,
    ent_coef: float,
    tol: float,
    max_iter: int,
    resolution: float,
    offset: float,
) -> tuple[FloatArray, int]:
    r"""
    Value iteration on :math:`U = Q/\alpha` in the action-major layout (A, S):

    .. math::

        U \leftarrow r/\alpha + P\,(\gamma L(U)), \qquad L(U)(s) = \log \sum_a \exp U(s,a) = V(s)/\alpha

    It is the same iteration as on :math:`Q` with the division by :math:`\alpha` and the multiplication by
    :math:`\gamma` moved out of the (A, S) arrays (onto the rewards once and onto S numbers per sweep): two passes
    over S x A numbers fewer per sweep, which is most of the sweep's cost beyond the mat-vec on a cheap (banded)
    matrix. Returns :math:`Q` and the sweeps made.
    """
    scaled_rewards = rewards / ent_coef
    scaled_q = q_values / ent_coef
    workspace = np.empty_like(scaled_q)
    log_partition = soft_value(scaled_q, 1.0, workspace, axis=0)
    discounted = gamma * log_partition
    change = np.empty_like(log_partition)
    iteration = 0
    while iteration < max_iter:
        scaled_q = (transitions @ discounted).reshape(scaled_q.shape)
        scaled_q += scaled_rewards
        next_log_partition = soft_value(scaled_q, 1.0, workspace, axis=0)
        # the same bound as the plain sweeps: gamma |V(Q') - V(Q)|, here alpha gamma |L(U') - L(U)|
        np.subtract(next_log_partition, log_partition, out=change)
        bound = gamma * ent_coef * float(np.max(np.abs(change, out=change), initial=0.0))
        log_partition = next_log_partition
        np.multiply(log_partition, gamma, out=discounted)
        iteration += 1
        _check_bounded(bound, iteration, gamma)
        if bound <= tol:
            break
        # below tol's reach only when below float64's resolution at the values' scale (see relative_resolution)
        if bound <= attainable_tolerance(tol, resolution, ent_coef * _max_abs(log_partition), offset):
            break
    scaled_q *= ent_coef
    return scaled_q, iteration


def _plain_value_iteration(
    transitions: sp.csr_matrix,
    rewards: FloatArray,
    q_values: FloatArray,
    gamma: float,
    ent_coef: float,
    tol: float,
    max_iter: int,
    resolution: float,
    offset: float,
) -> tuple[FloatArray, FloatArray, int]:
    """
    Value iteration on :math:`Q` itself (A, S): hard value iteration, temperatures outside the scaled sweeps' range,
    and the last sweep after scaled ones. Returns :math:`Q`, :math:`V(Q)` and the sweeps made.
    """
    shape = q_values.shape
    workspace = np.empty(shape)
    values = soft_value(q_values, ent_coef, workspace, axis=0)
    change = np.empty_like(values)
    iteration = 0
    while iteration < max_iter:
        # T Q = r + gamma P V(Q): one sparse mat-vec and one log-sum-exp per sweep
        q_values = (transitions @ values).reshape(shape)
        q_values *= gamma
        q_values += rewards
        next_values = soft_value(q_values, ent_coef, workspace, axis=0)
        # T Q' - Q' = gamma P (V(Q') - V(Q)) for Q' = T Q, and P's rows sum to at most 1: gamma |dV| bounds the
        # residual of the new Q with S numbers instead of S x A
        np.subtract(next_values, values, out=change)
        bound = gamma * float(np.max(np.abs(change, out=change), initial=0.0))
        values = next_values
        iteration += 1
        _check_bounded(bound, iteration, gamma)
        if bound <= tol or bound <= attainable_tolerance(tol, resolution, _max_abs(values), offset):
            break
    return q_values, values, iteration


def soft_policy_evaluation(
    mdp: TabularMDP,
    policy: FloatArray,
    gamma: float,
    ent_coef: float,
    method: EvaluationMethod = "direct",
    tol: float = 1e-10,
    max_iter: int = 100_000,
) -> SolverResult:
    r"""
    Soft values :math:`Q^\pi, V^\pi` of a fixed policy.

    :param policy: action probabilities, shape (n_states, n_actions)
    :param method: ``"direct"``: sparse LU solve of :math:`(I - \gamma P_\pi) V = r_\pi + \alpha \mathcal{H}_\pi`
        (exact to rounding; small and medium MDPs); ``"gmres"``: the same system by restarted GMRES to
        ``tol`` (large MDPs); ``"iterative"``: the fixed-point sweeps :math:`V \leftarrow r_\pi + \alpha\mathcal{H}_\pi
        + \gamma P_\pi V`
    :return: the residual is :math:`\|\mathcal{T}^\pi Q - Q\|_\infty` of the soft evaluation operator
    """
    policy = _check_policy(policy, mdp)
    # r_pi(s) + alpha H(pi(.|s)): the soft reward of following pi for one step
    soft_rewards = (policy * mdp.rewards).sum(axis=1) + ent_coef * policy_entropy(policy)
    sweeps = 0
    if method == "direct":
        # the LU needs P_pi with its duplicate columns merged
        policy_transitions = _policy_transition_matrix(mdp, policy)
        system = (sp.identity(mdp.n_states, format="csc") - gamma * policy_transitions).tocsc()
        values = np.asarray(spla.spsolve(system, soft_rewards), dtype=np.float64)
        iterations = 1
    elif method == "gmres":
        # products only: P_pi shares the transition matrix's indices, and I - gamma P_pi is never formed
        policy_transitions = policy_transition_matrix(mdp.transitions, policy)
        operator = spla.LinearOperator(
            policy_transitions.shape,
            matvec=lambda vector: vector - gamma * (policy_transitions @ vector),
            dtype=np.float64,
        )
        counter = _IterationCounter()
        values, info = spla.gmres(
            operator, soft_rewards, rtol=tol, atol=tol, restart=50, maxiter=max_iter, callback=counter, callback_type="pr_norm"
        )
        iterations = sweeps = counter.count
        if info != 0:
            warnings.warn(
                f"GMRES policy evaluation stopped after {iterations} iterations (info={info})",
                ConvergenceWarning,
                stacklevel=user_stacklevel(),
            )
    elif method == "iterative":
        policy_transitions = policy_transition_matrix(mdp.transitions, policy)
        # the sweeps' rounding (see relative_resolution: P_pi's rows, plus the soft rewards in place of max|r| + alpha)
        resolution, offset = relative_resolution(policy_transitions, mdp.n_actions), _max_abs(soft_rewards)
        values = np.zeros(mdp.n_states)
        iterations = 0
        while iterations < max_iter:
            new_values = soft_rewards + gamma * (policy_transitions @ values)
            change = float(np.max(np.abs(new_values - values)))
            values = new_values
            iterations += 1
            _check_bounded(change, iterations, gamma)
            if change <= tol or change <= attainable_tolerance(tol, resolution, _max_abs(values), offset):
                break
        sweeps = iterations
    else:
        raise ValueError(f"method must be 'direct', 'gmres' or 'iterative', got {method!r}")
    q_values = mdp.rewards + gamma * (mdp.transitions @ values).reshape(mdp.rewards.shape)
    residual = _evaluation_residual(mdp, policy, q_values, values, gamma, ent_coef)
    converged = residual <= max(tol, 1e-9 * max(1.0, float(np.max(np.abs(values)))))
    return SolverResult(q_values, values, iterations, residual, converged, sweeps=sweeps)


def soft_policy_iteration(
    mdp: TabularMDP,
    gamma: float,
    ent_coef: float,
    tol: float = 1e-8,
    max_iter: int = 1_000,
    evaluation: EvaluationMethod = "direct",
    policy_init: FloatArray | None = None,
    keep_history: bool = False,
) -> SolverResult:
    r"""
    Soft policy iteration: :math:`\pi_{k+1} \propto \exp(Q^{\pi_k}/\alpha)` with exact evaluation, from the
    uniform policy, until the soft Bellman *optimality* residual of :math:`Q^{\pi_k}` is at most ``tol``.

    Each step satisfies :math:`Q^{\pi_{k+1}} \geq Q^{\pi_k}` (soft policy improvement); the iteration is Newton's
    method on the soft Bellman equation and needs few steps.

    :param keep_history: also return every :math:`Q^{\pi_k}` (to check monotonic improvement)
    """
    uniform = np.full(mdp.rewards.shape, 1.0 / mdp.n_actions)
    policy = uniform if policy_init is None else _check_policy(policy_init, mdp)
    resolution = relative_resolution(mdp.transitions, mdp.n_actions)
    offset = float(np.max(np.abs(mdp.rewards), initial=0.0)) + ent_coef  # max|r| + alpha, see relative_resolution
    tolerance = tol
    history: list[FloatArray] = []
    sweeps = 0
    residual = np.inf
    iteration = 0
    stable = False
    q_values = np.zeros(mdp.rewards.shape)
    while iteration < max_iter:
        evaluated = soft_policy_evaluation(mdp, policy, gamma, ent_coef, method=evaluation, tol=tol * 1e-2)
        q_values = evaluated.q_values
        sweeps += evaluated.sweeps
        if keep_history:
            history.append(q_values)
        iteration += 1
        residual = float(np.max(np.abs(soft_bellman_backup(mdp, q_values, gamma, ent_coef) - q_values)))
        sweeps += 1
        # an overflowed evaluation is named as the other solvers name it (not as the non-finite policy it makes)
        _check_bounded(residual, iteration, gamma)
        # the residual of an evaluated Q: its computation's rounding (rho s) and the evaluation's (a backward-stable
        # solve leaves a residual of the same order), 2 rho s; see relative_resolution
        tolerance = attainable_tolerance(tol, 2 * resolution, _max_abs(evaluated.values), offset)
        if residual <= tolerance:
            break
        new_policy = soft_greedy_policy(q_values, ent_coef)
        if ent_coef == 0.0 and np.array_equal(new_policy > 0, policy > 0):
            stable = True  # hard policy iteration: the greedy policy is stable
            break
        if np.array_equal(new_policy, policy):
            stable = True  # the same policy again, bit for bit: every further step would repeat this one
            break
        policy = new_policy
    converged = residual <= tolerance
    if stable and not converged:
        kind = "hard policy iteration (ent_coef=0)" if ent_coef == 0.0 else "soft policy iteration"
        warnings.warn(
            f"{kind} stopped after {iteration} steps on a stable greedy policy with residual {residual:.3g} > "
            f"tol={tolerance:.3g}: more steps would not change the policy, so the residual is the accuracy of its "
            f"evaluation ({evaluation!r})",
            ConvergenceWarning,
            stacklevel=user_stacklevel(),
        )
    else:
        _warn_unless_converged(converged, "soft policy iteration", max_iter, residual, tolerance)
    values = soft_value(q_values, ent_coef)
    return SolverResult(q_values, values, iteration, residual, converged, sweeps=sweeps, history=history, tolerance=tolerance)


def soft_newton_iteration(
    mdp: TabularMDP,
    gamma: float,
    ent_coef: float,
    tol: float = 1e-8,
    max_iter: int = 1_000,
) -> SolverResult:
    r"""
    Soft policy iteration as an inexact Newton method, matrix-free.

    Newton's method on :math:`F(V) = \mathcal{T}V - V`, whose Jacobian is :math:`\gamma P_\pi - I` at the
    soft-greedy policy :math:`\pi` of :math:`Q = r + \gamma P V`: each step solves
    :math:`(I - \gamma P_\pi)\,\delta = F(V)` (the soft evaluation of :math:`\pi`, as a correction) by BiCGSTAB,
    only as accurately as the current residual warrants (Eisenstat and Walker's forcing terms, choice 2:
    :math:`\eta_k = 0.9\,(\|F_k\| / \|F_{k-1}\|)^2`, safeguarded and capped at 0.5), and never beyond what
    ``tol`` needs. :math:`P_\pi` is the transition matrix's own entries weighted by :math:`\pi`
    (:func:`policy_transition_matrix`: no sparse matrix product, no copy of the column indices), so a product
    with it costs what one with the transition matrix does, or less.

    A step that multiplies :math:`\|F\|_\infty` by more than ``SAFEGUARD_GROWTH`` is replaced by a
    value-iteration step :math:`V \leftarrow \mathcal{T}V` (a :math:`\gamma`-contraction). Needs :math:`\gamma < 1`.
    Stops when :math:`\gamma\|F(V)\|_\infty \le` ``tol`` (or float64's resolution of it at the values' scale,
    where that is larger: :func:`relative_resolution`), which bounds the optimality residual of
    :math:`Q = r + \gamma P V`: :math:`\mathcal{T}Q - Q = \gamma P F(V)`; the returned residual is that exact
    :math:`\|\mathcal{T}Q - Q\|_\infty`.

    :return: ``iterations`` are Newton steps, ``sweeps`` every product with the transition matrix
    """
    if not 0.0 <= gamma < 1.0:
        raise ValueError(
            f"soft_newton_iteration needs gamma in [0, 1), got {gamma}: at gamma = 1 an intermediate policy can "
            "almost never terminate; use soft_value_iteration or soft_policy_iteration"
        )
    # (1 - gamma) |V| is at most max|r| + alpha log|A|: the larger term sets the scale of the values (alpha = 1e300
    # with unit rewards has values of 1e302, whose squares overflow BiCGSTAB's dot products)
    with np.errstate(over="ignore"):
        scale = max(float(np.max(np.abs(mdp.rewards), initial=0.0)), ent_coef * float(np.log(mdp.n_actions)))
    _check_bounded(scale, 0, gamma)  # alpha log|A| beyond float64's range: so are the values
    if not (scale == 0.0 or RESCALED_REWARDS[0] <= scale <= RESCALED_REWARDS[1]):
        # Q(c r, c alpha) = c Q(r, alpha): solved at unit scale, where the norms and BiCGSTAB's dot products
        # (which square the entries) neither overflow nor underflow
        unit = _soft_newton_iteration(
            TabularMDP(mdp.transitions, mdp.rewards / scale), gamma, ent_coef / scale, tol / scale, max_iter, warn=False
        )
        with np.errstate(over="ignore"):
            q_values, values = unit.q_values * scale, unit.values * scale
        _check_bounded(float(np.max(np.abs(q_values))), unit.iterations, gamma)
        # the warning in the user's units, not the unit problem's
        residual, tolerance = unit.residual * scale, unit.tolerance * scale
        _warn_unless_converged(unit.converged, "soft Newton iteration", max_iter, residual, tolerance)
        return SolverResult(
            q_values,
            values,
            unit.iterations,
            residual,
            unit.converged,
            sweeps=unit.sweeps,
            tolerance=tolerance,
        )
    return _soft_newton_iteration(mdp, gamma, ent_coef, tol, max_iter)


def _soft_newton_iteration(
    mdp: TabularMDP, gamma: float, ent_coef: float, tol: float, max_iter: int, warn: bool = True
) -> SolverResult:
    # the state-major transitions only (no action-major copy): P_pi shares their column indices
    transitions, rewards = mdp.transitions, mdp.action_major_rewards
    n_actions, n_states = rewards.shape
    counter = _IterationCounter()
    policy_weights = np.empty_like(transitions.data)  # P_pi's entries, rewritten at each Newton step

    def backup(values: FloatArray) -> FloatArray:
        # Q = r + gamma P V, as (A, S): the (S, A) product transposed once, for fast reductions over actions
        counter(0.0)
        q_values = np.ascontiguousarray((transitions @ values).reshape(n_states, n_actions).T)
        q_values *= gamma
        q_values += rewards
        return q_values

    values = np.zeros(n_states)
    q_values = backup(values)
    residual_values = soft_value(q_values, ent_coef, axis=0) - values  # F(V) = T V - V
    norm, previous_norm, eta = float(np.linalg.norm(residual_values)), 0.0, 0.5
    iteration = 0
    resolution = relative_resolution(transitions, n_actions)
    offset = float(np.max(np.abs(rewards), initial=0.0)) + ent_coef  # max|r| + alpha, see relative_resolution
    # F(V) is computed to within rho s (relative_resolution): tol below that is replaced by it, so the loop ends
    stop_tol = attainable_tolerance(tol, resolution, _max_abs(values), offset)
    while gamma * float(np.max(np.abs(residual_values), initial=0.0)) > stop_tol and iteration < max_iter:
        floor = 0.5 * stop_tol / max(gamma, 1e-12)  # a linear residual below this is below stop_tol after the step
        if iteration > 0:
            eta = _eisenstat_walker(eta, norm, previous_norm)
        policy_matrix = policy_transition_matrix(transitions, soft_greedy_policy(q_values.T, ent_coef), policy_weights)

        def newton_operator(vector: FloatArray, policy_matrix: sp.csr_matrix = policy_matrix) -> FloatArray:
            # (I - gamma P_pi) v: one sparse product with the transition matrix's entries, weighted by pi
            counter(0.0)
            return vector - gamma * (policy_matrix @ vector)

        operator = spla.LinearOperator((n_states, n_states), matvec=newton_operator, dtype=np.float64)
        tolerance = max(eta * norm, floor)
        # BiCGSTAB: two products per iteration but short recurrences; with P_pi's cheap products it reached 1e-6 in
        # fewer products and less time than GMRES(15) and GMRES(20) (random MDP of 3x10^5 states: 71 products
        # against 95; 548 x 548 gridworld: 282 against 319), and keeps 7 vectors instead of 16
        step, _ = spla.bicgstab(operator, residual_values, rtol=0.0, atol=tolerance, maxiter=max_iter)
        iteration += 1
        sup_norm = float(np.max(np.abs(residual_values), initial=0.0))
        candidate = values + step
        candidate_q = backup(candidate)
        candidate_residual = soft_value(candidate_q, ent_coef, axis=0) - candidate
        if not float(np.max(np.abs(candidate_residual), initial=0.0)) <= SAFEGUARD_GROWTH * sup_norm:
            # safeguard against a blow-up (see SAFEGUARD_GROWTH): the step is replaced by V <- T V
            candidate = values + residual_values
            candidate_q = backup(candidate)
            candidate_residual = soft_value(candidate_q, ent_coef, axis=0) - candidate
        values, q_values, residual_values = candidate, candidate_q, candidate_residual
        _check_bounded(float(np.max(np.abs(residual_values), initial=0.0)), iteration, gamma)
        previous_norm, norm = norm, float(np.linalg.norm(residual_values))
        stop_tol = attainable_tolerance(tol, resolution, _max_abs(values), offset)
    # the exact optimality residual of Q = r + gamma P V, once: T Q - Q (= gamma P F(V)), one more mat-vec
    residual = float(np.max(np.abs(backup(soft_value(q_values, ent_coef, axis=0)) - q_values), initial=0.0))
    # the loop's bound (at most rho s) plus this residual's own rounding (rho s more)
    tolerance = attainable_tolerance(tol, 2 * resolution, _max_abs(values), offset)
    converged = residual <= tolerance
    if warn:
        _warn_unless_converged(converged, "soft Newton iteration", max_iter, residual, tolerance)
    q_final = np.ascontiguousarray(q_values.T)
    return SolverResult(
        q_final, soft_value(q_final, ent_coef), iteration, residual, converged, sweeps=counter.count, tolerance=tolerance
    )


# value scales (the larger of max |r| and alpha log|A|) that soft_newton_iteration solves as they are; outside, it
# solves the problem at unit scale and scales the answer back (which overflows, and says so, only where the values
# themselves are beyond float64's range). Not below 1: scipy's BiCGSTAB stops on a breakdown test with absolute
# thresholds (eps^2 = 4.9e-32 on dot products of residuals), so residuals of 1e-16 and less come back as a zero step
# and Newton would stall; at unit scale or more the residuals tol needs stay above that
RESCALED_REWARDS = (1.0, 1e100)

# rows of the transition matrix weighted at a time by policy_transition_matrix (bounds its temporary memory)
WEIGHTING_BLOCK_ROWS = 1 << 16


def policy_transition_matrix(transitions: sp.csr_matrix, policy: FloatArray, out: FloatArray | None = None) -> sp.csr_matrix:
    r"""
    :math:`P_\pi(s'|s) = \sum_a \pi(a|s) P(s'|s,a)` as an (S, S) CSR matrix that shares the column indices of
    the (S·A, S) transition matrix: its rows :math:`sA, \dots, sA + A - 1` become row :math:`s`, each entry
    weighted by :math:`\pi(a|s)`. Columns that several actions reach appear once per action, and the product
    sums them, so nothing is sorted or merged: forming it costs one pass over the entries, and a product with it
    costs what a product with the transition matrix does.

    :param transitions: :attr:`TabularMDP.transitions` (row ``s * A + a``), CSR
    :param policy: :math:`\pi`, shape (n_states, n_actions)
    :param out: an array like ``transitions.data`` to hold the weighted entries (reused across calls)
    """
    n_states, n_actions = policy.shape
    policy_per_row = np.ascontiguousarray(policy).reshape(-1)  # pi(a|s) of row s * A + a
    if out is None:
        out = np.empty_like(transitions.data)
    indptr = transitions.indptr
    # row by row blocks: the per-entry weights exist for one block at a time, not for the whole matrix
    for start in range(0, len(policy_per_row), WEIGHTING_BLOCK_ROWS):
        stop = min(start + WEIGHTING_BLOCK_ROWS, len(policy_per_row))
        low, high = indptr[start], indptr[stop]
        weights = np.repeat(policy_per_row[start:stop], np.diff(indptr[start : stop + 1]))
        np.multiply(transitions.data[low:high], weights, out=out[low:high])
    indptr = np.ascontiguousarray(transitions.indptr[::n_actions])
    return sp.csr_matrix((out, transitions.indices, indptr), shape=(n_states, n_states), copy=False)


def _eisenstat_walker(previous_eta: float, norm: float, previous_norm: float, gamma_ew: float = 0.9) -> float:
    """Forcing term of inexact Newton (Eisenstat and Walker 1996, choice 2), safeguarded, in (0, 0.5]."""
    eta = gamma_ew * (norm / previous_norm) ** 2 if previous_norm > 0 else 0.5
    safeguard = gamma_ew * previous_eta**2
    if safeguard > 0.1:
        eta = max(eta, safeguard)
    # capped at 0.5, not the usual 0.9: looser first solves cost more Newton steps than they save in Krylov
    # iterations (100 x 100 gridworld: 323 mat-vecs at 0.9, 299 at 0.5; random MDPs: 84 either way)
    return min(eta, 0.5)


class _IterationCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, _residual_norm: float) -> None:
        self.count += 1


def _policy_transition_matrix(mdp: TabularMDP, policy: FloatArray) -> sp.csr_matrix:
    r""":math:`P_\pi(s'|s) = \sum_a \pi(a|s) P(s'|s,a)`, shape (S, S)."""
    n_states, n_actions = policy.shape
    rows = np.repeat(np.arange(n_states), n_actions)
    weights = sp.csr_matrix((policy.ravel(), (rows, np.arange(n_states * n_actions))), shape=(n_states, n_states * n_actions))
    return (weights @ mdp.transitions).tocsr()


def _evaluation_residual(
    mdp: TabularMDP, policy: FloatArray, q_values: FloatArray, values: FloatArray, gamma: float, ent_coef: float
) -> float:
    # V = sum_a pi (Q - alpha log pi) must hold together with Q = r + gamma P V
    with np.errstate(divide="ignore"):
        log_policy = np.where(policy > 0.0, np.log(policy), 0.0)
    implied_values = (policy * (q_values - ent_coef * log_policy)).sum(axis=1)
    return float(np.max(np.abs(implied_values - values))) if values.size else 0.0


def _check_policy(policy: FloatArray, mdp: TabularMDP) -> NDArray[np.float64]:
    policy = np.asarray(policy, dtype=np.float64)
    if policy.shape != mdp.rewards.shape:
        raise ValueError(f"policy must have shape (n_states, n_actions) = {mdp.rewards.shape}, got {policy.shape}")
    if not np.all(np.isfinite(policy)) or policy.min() < 0.0:
        raise ValueError("policy probabilities must be finite and >= 0")
    if np.any(np.abs(policy.sum(axis=1) - 1.0) > 1e-8):
        raise ValueError("each row of the policy must sum to 1")
    return policy


def _check_bounded(residual: float, iteration: int, gamma: float) -> None:
    if np.isfinite(residual):
        return
    if gamma < 1.0:
        # with gamma < 1 the values are bounded by (max|r| + alpha log|A|) / (1 - gamma): only that bound (or
        # Q / alpha in the log-sum-exp) can leave float64's range
        raise FloatingPointError(
            f"the soft Bellman iteration overflowed float64 at sweep {iteration} (residual {residual}) with "
            f"gamma = {gamma}: the rewards, or the values (up to (max|r| + alpha log|A|) / (1 - gamma)), are too "
            "large to represent; rescale the rewards"
        )
    raise FloatingPointError(
        f"the soft Bellman iteration diverged at sweep {iteration} (residual {residual}); with gamma = 1 the MDP "
        "probably has a cycle of positive soft reward that never ends"
    )


def _warn_unless_converged(converged: bool, solver: str, max_iter: int, residual: float, tol: float) -> None:
    if not converged:
        warnings.warn(
            f"{solver} stopped at max_iter={max_iter} with residual {residual:.3g} > tol={tol:.3g}",
            ConvergenceWarning,
            stacklevel=user_stacklevel(),
        )
