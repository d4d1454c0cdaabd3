"""
Training throughput of SACV1 and SB3's SAC on Pendulum-v1, and where the difference comes from.

    python benchmarks/throughput.py

SACV1 asks Adam for its fused kernel by default (``sb3_maxent.common.optim``); SB3's SAC does not. To
separate the algorithm from that engineering choice this measures four variants in the same run, with
SB3 SAC's default hyperparameters and networks (256x256), interleaved over repetitions, one torch thread:
SAC, SAC with fused Adam, SACV1 and SACV1 with the default (unfused) Adam. Writes
``benchmarks/results/throughput.md``.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch as th
from stable_baselines3 import SAC

from sb3_maxent import SACV1

RESULTS = Path(__file__).resolve().parent / "results"

VARIANTS = {
    "SAC": (SAC, {}),
    "SAC + fused Adam": (SAC, {"optimizer_kwargs": {"fused": True}}),
    "SACV1": (SACV1, {}),
    "SACV1, unfused Adam": (SACV1, {"optimizer_kwargs": {"fused": False}}),
}


def steps_per_second(algo_class: type, policy_kwargs: dict, steps: int, seed: int) -> float:
    model = algo_class(
        "MlpPolicy", "Pendulum-v1", learning_starts=200, policy_kwargs=policy_kwargs, seed=seed, device="cpu"
    )  # CPU timings, also beside a GPU
    model.learn(400)  # warm-up: buffer, first updates, allocator
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()
    th.set_num_threads(1)

    speeds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for repetition in range(args.repetitions):
        for name, (algo_class, policy_kwargs) in VARIANTS.items():
            speeds[name].append(steps_per_second(algo_class, policy_kwargs, args.steps, seed=repetition))
            print(f"repetition {repetition}: {name}: {speeds[name][-1]:.1f} steps/s", flush=True)

    baseline = np.array(speeds["SAC"])
    lines = [
        "### Training throughput on Pendulum-v1 (SB3 SAC defaults, 256x256, one torch thread)",
        "",
        f"{args.repetitions} interleaved repetitions of {args.steps} steps after a 400-step warm-up.",
        "",
        "| variant | steps/s: median | ratio to SAC (median of paired repetitions) |",
        "|---|---|---|",
    ]
    for name, values in speeds.items():
        ratio = np.median(np.array(values) / baseline)
        lines.append(f"| {name} | {np.median(values):.1f} | {ratio:.2f} |")
    table = "\n".join(lines) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "throughput.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
