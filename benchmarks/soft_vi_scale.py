"""
SoftValueIteration at scale: random sparse MDPs of 10^4, 10^5 and 10^6 states x 4 actions.

    python benchmarks/soft_vi_scale.py

Each (size, solver) runs in its own process (so its peak memory is its own), solving at gamma = 0.99
to a Bellman residual of 1e-6. In the same run: one bare sparse mat-vec (the lower bound of a sweep),
and a dense NumPy soft value iteration (P as an S x A x S array, as imitation's mce_irl and msdm store
it) at the sizes where the dense array fits. Writes ``benchmarks/results/soft_vi_scale.md``.
"""

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
GAMMA, ALPHA, TOL, N_ACTIONS, N_SUCCESSORS = 0.99, 0.5, 1e-6, 4, 4
DENSE_MEMORY_LIMIT_GB = 8.0


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median_seconds(function, repetitions: int) -> float:
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def run_single(n_states: int, solver: str) -> dict:
    from sb3_maxent.tabular import TabularMDP

    baseline_mb = peak_memory_mb()  # interpreter and imports: subtracted from the peaks reported
    mdp = TabularMDP.random(n_states, N_ACTIONS, N_SUCCESSORS, seed=0)
    result = _solve(mdp, n_states, solver)
    result["peak_mb"] = peak_memory_mb() - baseline_mb
    return result


def _solve(mdp, n_states: int, solver: str) -> dict:
    from sb3_maxent.tabular import soft_policy_iteration, soft_value_iteration

    if solver == "matvec":
        values = np.random.default_rng(0).standard_normal(n_states)
        seconds = median_seconds(lambda: mdp.action_major_transitions @ values, 20)
        return {"seconds": seconds, "sweeps": 1}
    if solver == "dense_sweep":
        return run_dense(mdp)
    start = time.perf_counter()
    if solver == "value_iteration":
        result = soft_value_iteration(mdp, GAMMA, ALPHA, tol=TOL)
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


def child(n_states: int, solver: str) -> dict:
    output = subprocess.run(
        [sys.executable, __file__, "--single", str(n_states), solver], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10**4, 10**5, 10**6])
    parser.add_argument("--single", nargs=2, metavar=("N_STATES", "SOLVER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.single:
        print(json.dumps(run_single(int(args.single[0]), args.single[1])))
        return

    lines = [
        f"### SoftValueIteration on random sparse MDPs ({N_ACTIONS} actions, {N_SUCCESSORS} successors per (s, a), "
        f"gamma {GAMMA}, alpha {ALPHA}, residual {TOL:g})",
        "",
        "| states | solver | time (s) | iterations | sweeps (mat-vecs) | time per sweep (ms) | sweep / bare mat-vec "
        "| extra peak memory (MB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n_states in args.sizes:
        matvec = child(n_states, "matvec")
        lines.append(
            f"| {n_states:,} | bare sparse mat-vec | {matvec['seconds']:.4f} | | 1 | {1e3 * matvec['seconds']:.2f} | 1.00 | "
            f"{matvec['peak_mb']:.0f} |"
        )
        for solver in ["value_iteration", "policy_iteration"]:
            result = child(n_states, solver)
            per_sweep = result["seconds"] / result["sweeps"]
            # sparse LU solves are not sweeps: no per-sweep figure for them
            sweep_cells = (
                "n/a (LU solves) | n/a"
                if "direct" in result["solver"]
                else f"{1e3 * per_sweep:.2f} | {per_sweep / matvec['seconds']:.2f}"
            )
            lines.append(
                f"| {n_states:,} | {result['solver']} | {result['seconds']:.2f} | {result['iterations']} | "
                f"{result['sweeps']} | {sweep_cells} | {result['peak_mb']:.0f} |"
            )
            print(lines[-1], flush=True)
        dense_gb = n_states * N_ACTIONS * n_states * 8 / 1e9
        if dense_gb <= DENSE_MEMORY_LIMIT_GB:
            dense = child(n_states, "dense_sweep")
            per_sweep = dense["seconds_per_sweep"]
            lines.append(
                f"| {n_states:,} | dense NumPy soft VI (median of 5 sweeps) | | | | {1e3 * per_sweep:.2f} | "
                f"{per_sweep / matvec['seconds']:.2f} | {dense['peak_mb']:.0f} |"
            )
        else:
            lines.append(
                f"| {n_states:,} | dense NumPy soft VI | not run: P would take {dense_gb:,.0f} GB "
                f"(limit {DENSE_MEMORY_LIMIT_GB:g} GB) | | | | | |"
            )
        print(lines[-1], flush=True)
    table = "\n".join(lines) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soft_vi_scale.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
