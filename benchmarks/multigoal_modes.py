"""
Issue 39, experiment B (``benchmarks/preregistration.md``): does a maximum-entropy agent keep several of
MultiGoal-v0's four equally good goals? SoftQLearning (SVGD sampler), SACV1 and SB3's SAC (tanh-Gaussian policies)
at the same fixed temperature and settings, 10 seeds each.

    python benchmarks/multigoal_modes.py run       # trains what is missing (one process per core), raw JSON per run
    python benchmarks/multigoal_modes.py report    # tables and the trajectory plot from the raw JSON

Each run trains for the ``zoo_configs/sql.yml`` MultiGoal-v0 budget, then plays 100 episodes of the sampled policy
from the origin and records which goal each reached (or none) and the path of each. Scores per run: the entropy of
the distribution of reached goals (nats, at most log 4), how many goals get at least 5% of the episodes, the share
of episodes that reach a goal.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    atomic_write_json,
    iqm_with_ci,
    machine,
    permutation_p_value,
    probability_of_improvement,
    run_in_pool,
    run_report_cli,
)

HERE = Path(__file__).resolve().parent
RAW = HERE / "results" / "raw" / "multigoal"
RESULTS = HERE / "results"
IMAGES = HERE.parent / "docs" / "images"
VARIANTS = ("sql", "sacv1", "sac")
SEEDS = tuple(range(10))
EPISODES = 100
VISITED_SHARE = 0.05  # a goal counts as visited with at least this share of the episodes
# the arguments SACV1 and SAC take from SoftQLearning's entry (the rest are SoftQLearning's own or the same default)
SHARED_ARGUMENTS = (
    "learning_rate",
    "batch_size",
    "tau",
    "train_freq",
    "learning_starts",
    "gamma",
    "ent_coef",
    "policy_kwargs",
)


def sql_entry() -> dict[str, Any]:
    import yaml

    from sb3_maxent.zoo import config_path

    entry = dict(yaml.safe_load(config_path("sql").read_text())["MultiGoal-v0"])
    entry["policy_kwargs"] = eval(entry["policy_kwargs"])  # rl-zoo stores them as Python source (our own file)
    return entry


def build(variant: str, seed: int) -> tuple[Any, int]:
    """The model of ``variant`` on a fresh MultiGoal environment, and its training budget."""
    from stable_baselines3 import SAC

    from sb3_maxent import SACV1, SoftQLearning
    from sb3_maxent.envs.multigoal import MultiGoalEnv

    entry = sql_entry()
    budget, policy = int(entry.pop("n_timesteps")), entry.pop("policy")
    if variant == "sql":
        return SoftQLearning(policy, MultiGoalEnv(), seed=seed, device="cpu", **entry), budget
    shared = {name: entry[name] for name in SHARED_ARGUMENTS}
    algo_class = {"sacv1": SACV1, "sac": SAC}[variant]
    return algo_class(policy, MultiGoalEnv(), seed=seed, device="cpu", **shared), budget


def goal_scores(goals_reached: list[int | None]) -> dict[str, float]:
    """Entropy (nats) of the reached goals' distribution, goals with at least 5% of the episodes, success rate."""
    counts = np.bincount([goal for goal in goals_reached if goal is not None], minlength=4).astype(float)
    successes = counts.sum()
    shares = counts / successes if successes else counts
    nonzero = shares[shares > 0]
    return {
        "goal_entropy": float(-(nonzero * np.log(nonzero)).sum()),
        "goals_visited": int((counts / len(goals_reached) >= VISITED_SHARE).sum()),
        "success_rate": float(successes / len(goals_reached)),
    }


def play(model: Any, seed: int) -> tuple[list[int | None], list[list[list[float]]]]:
    """``EPISODES`` sampled episodes from the origin: the goal each reached (None if none) and its path."""
    from sb3_maxent.envs.multigoal import MultiGoalEnv

    env = MultiGoalEnv()
    env.action_space.seed(10_000 + seed)
    goals: list[int | None] = []
    paths = []
    obs, _ = env.reset(seed=10_000 + seed)
    for _ in range(EPISODES):
        path, done, terminated = [obs.tolist()], False, False
        while not done:
            action, _ = model.predict(obs, deterministic=False)
            obs, _, terminated, truncated, _ = env.step(action)
            path.append(obs.tolist())
            done = terminated or truncated
        final = np.array(path[-1])
        goals.append(int(np.argmin(np.linalg.norm(env.goals - final, axis=1))) if terminated else None)
        paths.append(path)
        obs, _ = env.reset()
    return goals, paths


def raw_path(variant: str, seed: int) -> Path:
    return RAW / f"MultiGoal-v0_{variant}_seed{seed}.json"


def run_one(job: tuple[str, int]) -> str:
    import torch as th

    variant, seed = job
    th.set_num_threads(1)
    model, budget = build(variant, seed)
    model.learn(budget)
    goals, paths = play(model, seed)
    record = {"variant": variant, "seed": seed, "timesteps": budget, "goals": goals, "paths": paths}
    record.update(goal_scores(goals), machines=[machine()])
    RAW.mkdir(parents=True, exist_ok=True)
    atomic_write_json(raw_path(variant, seed), record)
    return f"done {variant} seed {seed}: goal entropy {record['goal_entropy']:.3f}, visited {record['goals_visited']}"


def command_run(args: argparse.Namespace) -> None:
    queue = [(variant, seed) for seed in SEEDS for variant in VARIANTS if not raw_path(variant, seed).exists()]
    for line in run_in_pool(run_one, queue, args.workers):
        print(line, flush=True)


def load() -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {variant: [] for variant in VARIANTS}
    for path in sorted(RAW.glob("*.json")):
        run = json.loads(path.read_text())
        runs[run["variant"]].append(run)
    return runs


def report_lines(runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    lines = [
        "# MultiGoal-v0: how many goals does each algorithm keep? (issue 39, experiment B)",
        "",
        "Generated by `python benchmarks/multigoal_modes.py report` from `benchmarks/results/raw/multigoal/`; the "
        "metrics, seeds and budget were fixed beforehand in `benchmarks/preregistration.md`. Per run: 100 sampled "
        "episodes from the origin after training. IQM across seeds with stratified-bootstrap 95% CIs.",
        "",
        "| algorithm | runs | goal entropy (nats, max 1.386) | goals with >= 5% of episodes | success rate |",
        "| --- | --- | --- | --- | --- |",
    ]
    scores = {}
    for variant, variant_runs in runs.items():
        if not variant_runs:
            continue
        table = np.array([[run["goal_entropy"], run["goals_visited"], run["success_rate"]] for run in variant_runs])
        points, intervals = iqm_with_ci(table)
        cells = [f"{points[i]:.3g} [{intervals[0][i]:.3g}, {intervals[1][i]:.3g}]" for i in range(3)]
        lines.append(f"| {variant} | {len(variant_runs)} | {' | '.join(cells)} |")
        scores[variant] = table[:, 0]
    lines += ["", "Pre-registered comparisons (goal entropy; unadjusted two-sided exact permutation p):", ""]
    for reference in ("sacv1", "sac"):
        if "sql" in scores and reference in scores:
            p_improvement, low, high = probability_of_improvement(scores["sql"], scores[reference])
            p_value = permutation_p_value(scores["sql"], scores[reference])
            lines.append(
                f"- sql against {reference}: P(sql > {reference}) = {p_improvement:.2f} [{low:.2f}, {high:.2f}], "
                f"permutation p = {p_value:.3g} ({len(scores['sql'])} against {len(scores[reference])} runs)"
            )
    return lines


def plot(runs: dict[str, list[dict[str, Any]]], path: Path, seed: int = 0, n_paths: int = 30) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sb3_maxent.envs.multigoal import MultiGoalEnv

    goals = MultiGoalEnv().goals
    figure, axes = plt.subplots(1, len(VARIANTS), figsize=(4 * len(VARIANTS), 4.2), sharex=True, sharey=True)
    for axis, variant in zip(axes, VARIANTS, strict=True):
        run = next((run for run in runs[variant] if run["seed"] == seed), None)
        if run is None:
            continue
        for trajectory in run["paths"][:n_paths]:
            xy = np.array(trajectory)
            axis.plot(xy[:, 0], xy[:, 1], lw=0.8, alpha=0.7)
        axis.scatter(goals[:, 0], goals[:, 1], marker="*", s=150, c="k")
        axis.set_title(f"{variant} (seed {seed}): goal entropy {run['goal_entropy']:.2f}")
        axis.set_aspect("equal")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def command_report(args: argparse.Namespace) -> None:
    runs = load()
    (RESULTS / "multigoal.md").write_text("\n".join(report_lines(runs)) + "\n")
    plot(runs, IMAGES / "multigoal_modes.png")
    print((RESULTS / "multigoal.md").read_text())


def main(argv: list[str] | None = None) -> None:
    run_report_cli(__doc__, command_run, command_report, argv)


if __name__ == "__main__":
    sys.path[:0] = [str(HERE.parent), str(HERE)]
    main()
