"""
SoftValueIteration at scale: random sparse MDPs and gridworlds of 10^4, 10^5 and 10^6 states x 4 actions.

    python benchmarks/soft_vi_scale.py [--sizes 10000 100000 1000000] [--skip-vi-above 100000]

Each (MDP, size, solver) runs in its own process (so its peak memory is its own), solving at gamma = 0.99
to a Bellman residual of 1e-6. In the same run: one bare sparse mat-vec (the unit of work: the targets are
stated in mat-vec times), and a dense NumPy soft value iteration (P as an S x A x S array, as imitation's
mce_irl and msdm store it) at the sizes where the dense array fits. Extra peak memory is measured from after
the MDP is built (after a warm-up solve of a 400-state MDP of the same kind) and compared with the transition
matrix's own size. Writes ``benchmarks/results/soft_vi_scale.md``.
"""

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
GAMMA, ALPHA, TOL, N_ACTIONS, N_SUCCESSORS = 0.99, 0.5, 1e-6, 4, 4
DENSE_MEMORY_LIMIT_GB = 8.0
WARM_UP_STATES = 400


def peak_memory_mb() -> float:
    """The process's peak resident memory (VmHWM) since the last :func:`reset_peak_memory`."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_memory() -> None:
    """Reset VmHWM to the current resident size (Linux >= 4.0: ``echo 5 > /proc/self/clear_refs``)."""
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def median_seconds(function, repetitions: int) -> float:
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def build_mdp(kind: str, n_states: int):
    from sb3_maxent.tabular import TabularMDP

    if kind == "random":
        return TabularMDP.random(n_states, N_ACTIONS, N_SUCCESSORS, seed=0)
    side = round(n_states**0.5)
    walls = np.random.default_rng(0).random((side, side)) < 0.1  # 10% walls, the goal in the bottom-right corner
    walls[-1, -1] = False
    return TabularMDP.gridworld(side, side, slip=0.1, walls=walls)


def matrix_mb(mdp) -> float:
    matrix = mdp.transitions
    return (matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes) / 1e6


def run_single(kind: str, n_states: int, solver: str) -> dict:
    # a small solve first, so that what the first call of a code path costs once (code pages, lazily imported modules,
    # allocator arenas: about 1 MB, half the matrix at 10^4 states) is not counted as the solver's extra memory
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _solve(build_mdp(kind, WARM_UP_STATES), WARM_UP_STATES, solver)
    mdp = build_mdp(kind, n_states)
    # the high-water mark of resident memory is reset after the build (which may peak above what stays: the
    # gridworld's construction does), so that the solver's extra peak is its own
    reset_peak_memory()
    baseline_mb = current_memory_mb()
    # the unit of work, timed in this process just before and after the solve: on a shared machine the load
    # drifts, and a bare mat-vec timed in another process (or minutes apart) can differ by 2x
    before = bare_matvec_seconds(mdp)
    result = _solve(mdp, mdp.n_states, solver)
    result["bare_seconds"] = float(np.median([before, bare_matvec_seconds(mdp)]))
    result["peak_mb"] = max(peak_memory_mb() - baseline_mb, 0.0)
    result["matrix_mb"] = matrix_mb(mdp)
    result["n_states"] = mdp.n_states
    return result


def bare_matvec_seconds(mdp, repetitions: int = 10) -> float:
    """Median time of one product of the (S·A, S) transition matrix with a vector."""
    values = np.random.default_rng(0).standard_normal(mdp.n_states)
    return median_seconds(lambda: mdp.transitions @ values, repetitions)


def current_memory_mb() -> float:
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * resource.getpagesize() / 2**20


def _solve(mdp, n_states: int, solver: str) -> dict:
    from sb3_maxent.tabular import soft_newton_iteration, soft_policy_iteration, soft_value_iteration

    if solver == "matvec":
        return {"seconds": bare_matvec_seconds(mdp, 20), "sweeps": 1}
    if solver == "dense_sweep":
        return run_dense(mdp)
    start = time.perf_counter()
    if solver == "value_iteration":
        result = soft_value_iteration(mdp, GAMMA, ALPHA, tol=TOL)
    elif solver == "newton":
        result = soft_newton_iteration(mdp, GAMMA, ALPHA, tol=TOL)
        solver = "newton (inexact, matrix-free; the default)"
    else:
        evaluation = "gmres"  # a sparse LU of a random graph fills in: O(S^2) memory beyond ~10^4 states
        result = soft_policy_iteration(mdp, GAMMA, ALPHA, tol=TOL, evaluation=evaluation)
        solver = f"policy_iteration ({evaluation})"
    seconds = time.perf_counter() - start
    return {
        "solver": solver,
        "seconds": seconds,
        "iterations": result.iterations,
        "sweeps": result.sweeps,
        "residual": result.residual,
    }


def run_dense(mdp) -> dict:
    """Dense soft value iteration: Q = R + gamma * P @ V with P of shape (S, A, S)."""
    dense = mdp.transitions.toarray().reshape(mdp.n_states, mdp.n_actions, mdp.n_states)
    q_values = np.zeros_like(mdp.rewards)

    def sweep() -> None:
        nonlocal q_values
        max_q = q_values.max(axis=1, keepdims=True)
        values = (max_q + ALPHA * np.log(np.exp((q_values - max_q) / ALPHA).sum(axis=1, keepdims=True)))[:, 0]
        q_values = mdp.rewards + GAMMA * dense @ values

    seconds_per_sweep = median_seconds(sweep, 5)
    return {"seconds_per_sweep": seconds_per_sweep}


def child(kind: str, n_states: int, solver: str) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--single", kind, str(n_states), solver], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10**4, 10**5, 10**6])
    parser.add_argument("--kinds", nargs="+", default=["random", "gridworld"])
    parser.add_argument("--skip-vi-above", type=int, default=10**6, help="leave value iteration out above this size")
    parser.add_argument("--output", type=Path, default=RESULTS / "soft_vi_scale.md")
    parser.add_argument("--solvers", nargs="+", default=["newton", "policy_iteration", "value_iteration"])
    parser.add_argument("--single", nargs=3, metavar=("KIND", "N_STATES", "SOLVER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:
        print(json.dumps(run_single(args.single[0], int(args.single[1]), args.single[2])))
        return

    lines = [
        f"### SoftValueIteration at scale ({N_ACTIONS} actions, gamma {GAMMA}, alpha {ALPHA}, residual {TOL:g}): random "
        f"sparse MDPs ({N_SUCCESSORS} successors per (s, a)) and gridworlds (slip 0.1, 10% walls)",
        "",
        "| MDP | states | solver | time (s) | iterations | mat-vecs | time / bare mat-vec | time per mat-vec / bare "
        "| extra peak memory (MB) | / transition matrix |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    # the table grows size by size, so that a run stopped early still leaves what it measured
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    for kind in args.kinds:
        for n_states in args.sizes:
            for row in rows_for(kind, n_states, args.skip_vi_above, args.solvers):
                with args.output.open("a") as table:
                    table.write(row + "\n")
    print(args.output.read_text())


def rows_for(kind: str, n_states: int, skip_vi_above: int, solvers: list[str]):
    matvec = child(kind, n_states, "matvec")
    bare = matvec["seconds"]
    size, matrix = f"{matvec['n_states']:,}", matvec["matrix_mb"]
    rows = [f"| {kind} | {size} | bare sparse mat-vec | {bare:.4f} | | 1 | 1.0 | 1.00 | | ({matrix:.0f} MB) |"]
    print(rows[-1], flush=True)
    skipped = "value_iteration" in solvers and n_states > skip_vi_above
    for solver in [name for name in solvers if not (skipped and name == "value_iteration")]:
        result = child(kind, n_states, solver)
        unit = result["bare_seconds"]  # timed in the solver's process, around the solve
        rows.append(
            f"| {kind} | {size} | {result['solver']} | {result['seconds']:.2f} | {result['iterations']} | "
            f"{result['sweeps']} | {result['seconds'] / unit:.1f} | {result['seconds'] / result['sweeps'] / unit:.2f} | "
            f"{result['peak_mb']:.0f} | {result['peak_mb'] / matrix:.2f} |"
        )
        print(rows[-1], flush=True)
    if skipped:
        rows.append(f"| {kind} | {size} | value_iteration | not run (above --skip-vi-above) | | | | | | |")
    dense_gb = n_states * N_ACTIONS * n_states * 8 / 1e9
    if kind == "random" and dense_gb <= DENSE_MEMORY_LIMIT_GB:
        dense = child(kind, n_states, "dense_sweep")
        per_sweep = dense["seconds_per_sweep"]
        rows.append(
            f"| {kind} | {size} | dense NumPy soft VI (one sweep, median of 5) | {per_sweep:.3f} | | 1 | "
            f"{per_sweep / dense['bare_seconds']:.0f} | | | |"
        )
        print(rows[-1], flush=True)
    return rows


if __name__ == "__main__":
    main()
