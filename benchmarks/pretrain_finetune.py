"""
Issue 39, experiment C (``benchmarks/preregistration.md``): does a policy pretrained on an undirected reward
fine-tune faster on a specific goal? SoftQLearning and SB3's SAC, pretrained or from scratch, on a 2-D point mass.

    python benchmarks/pretrain_finetune.py run       # trains what is missing (one process per core), raw JSON per run
    python benchmarks/pretrain_finetune.py report    # the table from the raw JSON

Pretraining: MultiGoal-v0's point mass with the reward ``|x'| - |x| - 0.3 |a|^2`` (moving away from the origin, in
any direction). Fine-tuning: MultiGoal-v0's reward for one of its four goals only. A pretrained model keeps its
networks and optimisers (saved, then loaded), starts with an empty replay buffer and no random warm-up; from scratch
uses the entry's 500 random steps. Score: the first evaluation step (10 sampled episodes every 250 steps) whose mean
return reaches the threshold, 6250 when none does.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
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
RAW = HERE / "results" / "raw" / "pretraining"
RESULTS = HERE / "results"
VARIANTS = ("sql_pretrained", "sql_scratch", "sac_pretrained", "sac_scratch")
SEEDS = tuple(range(5))
GOALS = (0, 1, 2, 3)
PRETRAIN_STEPS = 6000
FINETUNE_STEPS = 6000
EVAL_EVERY = 250
EVAL_EPISODES = 10
NEVER = FINETUNE_STEPS + EVAL_EVERY  # the censored score of a run that never reaches the threshold
THRESHOLD_SHARE = 0.9


def radial_env() -> Any:
    """Pretraining: the point mass rewarded for moving away from the origin, whichever way; no goal ends it."""
    from sb3_maxent.envs.multigoal import MultiGoalEnv

    class RadialPointEnv(MultiGoalEnv):
        def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
            action = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
            before = float(np.linalg.norm(self.position))
            bound = 1.5 * np.abs(self.goals).max()
            self.position = np.clip(self.position + action, -bound, bound)
            self.steps += 1
            reward = float(np.linalg.norm(self.position)) - before - self.action_cost * float(action @ action)
            return self.position.astype(np.float32), reward, False, self.steps >= self.max_episode_steps, {}

    return RadialPointEnv()


def goal_env(goal: int) -> Any:
    """Fine-tuning: MultiGoal-v0 with one of its four goals."""
    from sb3_maxent.envs.multigoal import MultiGoalEnv

    env = MultiGoalEnv()
    env.goals = env.goals[[goal]]
    return env


def episode_return(env: Any, policy: Any) -> float:
    obs, _ = env.reset()
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(policy(obs))
        total += reward
        done = terminated or truncated
    return total


def threshold(goal: int) -> float:
    """
    90% of the way from standing still to the straight path at full speed, in return: the straight path's return
    is near the optimum (its action cost is the price of reaching the goal soonest), standing still's is the floor.
    """
    env = goal_env(goal)
    target = env.goals[0]

    def straight(obs: np.ndarray) -> np.ndarray:
        offset = target - obs
        return offset / max(1.0, float(np.abs(offset).max()))

    best = episode_return(env, straight)
    idle = episode_return(goal_env(goal), lambda obs: np.zeros(2))
    return idle + THRESHOLD_SHARE * (best - idle)


def entry() -> tuple[dict[str, Any], str]:
    from multigoal_modes import sql_entry

    kwargs = sql_entry()
    kwargs.pop("n_timesteps")
    return kwargs, kwargs.pop("policy")


def new_model(algo: str, env: Any, seed: int) -> Any:
    from multigoal_modes import SHARED_ARGUMENTS
    from stable_baselines3 import SAC

    from sb3_maxent import SoftQLearning

    kwargs, policy = entry()
    if algo == "sql":
        return SoftQLearning(policy, env, seed=seed, device="cpu", **kwargs)
    return SAC(policy, env, seed=seed, device="cpu", **{name: kwargs[name] for name in SHARED_ARGUMENTS})


def algo_class(algo: str) -> type:
    from stable_baselines3 import SAC

    from sb3_maxent import SoftQLearning

    return SoftQLearning if algo == "sql" else SAC


def evaluate(model: Any, goal: int, seed: int, evaluation: int) -> float:
    env = goal_env(goal)
    env.reset(seed=20_000 + 1_000 * seed + evaluation)
    returns = [episode_return(env, lambda obs: model.predict(obs, deterministic=False)[0]) for _ in range(EVAL_EPISODES)]
    return float(np.mean(returns))


def finetune(model: Any, goal: int, seed: int) -> dict[str, Any]:
    """Learns in chunks of ``EVAL_EVERY`` steps, evaluating after each, until the budget is spent."""
    level = threshold(goal)
    steps, returns = [], []
    while not steps or model.num_timesteps < FINETUNE_STEPS:
        # the first call restarts the step counter (a pretrained model's counts its pretraining)
        model.learn(EVAL_EVERY, reset_num_timesteps=not steps)
        steps.append(int(model.num_timesteps))
        returns.append(evaluate(model, goal, seed, len(steps)))
    reached = [step for step, value in zip(steps, returns, strict=True) if value >= level]
    return {
        "eval_timesteps": steps,
        "eval_returns": returns,
        "threshold": level,
        "steps_to_threshold": reached[0] if reached else NEVER,
    }


def raw_path(variant: str, goal: int, seed: int) -> Path:
    return RAW / f"PointMass_{variant}_goal{goal}_seed{seed}.json"


def run_seed(job: tuple[str, int]) -> str:
    """All four goals of one (algorithm, seed): pretrained (one pretraining, loaded afresh for each goal) or scratch."""
    import torch as th

    variant, seed = job
    algo, start = variant.split("_")
    th.set_num_threads(1)
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        if start == "pretrained":
            pretrained = new_model(algo, radial_env(), seed)
            pretrained.learn(PRETRAIN_STEPS)
            pretrained.save(Path(tmp) / "pretrained.zip")
        for goal in GOALS:
            if raw_path(variant, goal, seed).exists():
                continue
            if start == "pretrained":
                # the pretrained networks and optimisers; SB3's load gives an empty replay buffer
                model = algo_class(algo).load(
                    Path(tmp) / "pretrained.zip", env=goal_env(goal), device="cpu", custom_objects={"learning_starts": 0}
                )
                model.set_random_seed(seed)
            else:
                model = new_model(algo, goal_env(goal), seed)
            record = {"variant": variant, "goal": goal, "seed": seed, **finetune(model, goal, seed), "machines": [machine()]}
            RAW.mkdir(parents=True, exist_ok=True)
            atomic_write_json(raw_path(variant, goal, seed), record)
            lines.append(f"done {variant} goal {goal} seed {seed}: {record['steps_to_threshold']} steps")
    return "\n".join(lines)


def command_run(args: argparse.Namespace) -> None:
    queue = [
        (variant, seed)
        for seed in SEEDS
        for variant in VARIANTS
        if not all(raw_path(variant, goal, seed).exists() for goal in GOALS)
    ]
    for lines in run_in_pool(run_seed, queue, args.workers):
        print(lines, flush=True)


def command_report(args: argparse.Namespace) -> None:
    scores: dict[str, np.ndarray] = {}
    for variant in VARIANTS:
        runs = [json.loads(path.read_text()) for path in sorted(RAW.glob(f"PointMass_{variant}_goal*_seed*.json"))]
        if runs:
            scores[variant] = np.array([run["steps_to_threshold"] for run in runs], dtype=float)
    lines = [
        "# Pretraining on an undirected reward, fine-tuning on one goal (issue 39, experiment C)",
        "",
        "Generated by `python benchmarks/pretrain_finetune.py report` from `benchmarks/results/raw/pretraining/`; "
        "metrics, seeds and budgets fixed beforehand in `benchmarks/preregistration.md`. Steps to threshold over "
        f"4 goals x 5 seeds per variant ({NEVER} = never within {FINETUNE_STEPS} steps); lower is better.",
        "",
        "| variant | runs | IQM steps to threshold [95% CI] | never reached |",
        "| --- | --- | --- | --- |",
    ]
    for variant, values in scores.items():
        point, interval = iqm_with_ci(values[:, None])
        lines.append(
            f"| {variant} | {len(values)} | {point[0]:.0f} [{interval[0][0]:.0f}, {interval[1][0]:.0f}] "
            f"| {int((values >= NEVER).sum())} |"
        )
    lines += [
        "",
        "Pre-registered comparisons (lower is better; P(X < Y); two-sided permutation p over 200,000 random splits, "
        "unadjusted):",
        "",
    ]
    for ours, reference in (("sql_pretrained", "sql_scratch"), ("sql_pretrained", "sac_pretrained")):
        if ours in scores and reference in scores:
            p_improvement, low, high = probability_of_improvement(-scores[ours], -scores[reference])
            p_value = permutation_p_value(scores[ours], scores[reference])
            lines.append(
                f"- {ours} against {reference}: P(faster) = {p_improvement:.2f} [{low:.2f}, {high:.2f}], p = {p_value:.3g}"
            )
    (RESULTS / "pretraining.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    run_report_cli(__doc__, command_run, command_report, argv)


if __name__ == "__main__":
    sys.path[:0] = [str(HERE.parent), str(HERE)]
    main()
