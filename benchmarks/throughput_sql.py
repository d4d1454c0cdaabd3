"""
Training throughput of the discrete algorithms (SoftQLearning, Munchausen SoftQLearning, discrete SACV1) against
SB3's DQN, apart from learning.

    python benchmarks/throughput_sql.py

The learning benchmarks (``compare.py``) time whole runs, two at a time on a shared machine, where a run's
speed also depends on what it learns. This one times the algorithms alone: each variant gets its bundled
config (DQN: rl_zoo3's ``dqn.yml``; SQL: ``zoo_configs/sql.yml``, learned temperature, Huber loss; SQL with
the paper's MSE loss; MSQL: ``zoo_configs/msql.yml``; SACV1: ``zoo_configs/sacv1.yml``), a warm-up that fills
the replay buffer and starts training, then a timed stretch in the steady state of the run: DQN at its final
epsilon (from the start, DQN's epsilon-greedy exploration skips the network for most steps; that phase is 12-16%
of the configured runs). Variants are interleaved over repetitions, one torch thread. Writes
``benchmarks/results/throughput_sql.md``.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch as th

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS
from variants import build_variant

VARIANTS = ("sql", "sql_mse", "msql", "sacv1", "dqn")


def steps_per_second(variant: str, env_id: str, warmup: int, steps: int, seed: int) -> float:
    algo_class, kwargs, callback = build_variant(variant, env_id)  # an entry's temperature callback is timed too
    policy = kwargs.pop("policy", "MlpPolicy")
    kwargs["learning_starts"] = min(kwargs.get("learning_starts", 0), warmup // 2)
    model = algo_class(policy, env_id, seed=seed, device="cpu", **kwargs)  # CPU timings, also beside a GPU
    model.learn(warmup, callback=callback)
    if hasattr(model, "exploration_schedule"):
        final_eps = float(kwargs.get("exploration_final_eps", 0.05))
        model.exploration_schedule = lambda _progress: final_eps
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False, callback=callback)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", nargs="+", default=["CartPole-v1", "LunarLander-v3", "Acrobot-v1"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), help="dqn last: the reference")
    parser.add_argument("--warmup", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--output", default="throughput_sql.md", help="file name in benchmarks/results/")
    args = parser.parse_args()
    th.set_num_threads(1)

    lines = [
        "### Training throughput: discrete algorithms vs SB3 DQN (bundled configs, one torch thread)",
        "",
        f"{args.repetitions} interleaved repetitions of {args.steps} steps after a {args.warmup}-step warm-up "
        "(DQN at its final epsilon).",
        "",
        "| environment | variant | steps/s: median | ratio to DQN (median of paired repetitions) |",
        "|---|---|---|---|",
    ]
    for env_id in args.envs:
        speeds: dict[str, list[float]] = {variant: [] for variant in args.variants}
        for repetition in range(args.repetitions):
            for variant in args.variants:
                speeds[variant].append(steps_per_second(variant, env_id, args.warmup, args.steps, seed=repetition))
                print(f"{env_id} repetition {repetition}: {variant}: {speeds[variant][-1]:.1f} steps/s", flush=True)
        baseline = np.array(speeds["dqn"])
        for variant, values in speeds.items():
            ratio = np.median(np.array(values) / baseline)
            lines.append(f"| {env_id} | {variant.upper()} | {np.median(values):.1f} | {ratio:.2f} |")
    table = "\n".join(lines) + "\n"
    (RESULTS / args.output).write_text(table)
    print(table)


if __name__ == "__main__":
    main()
