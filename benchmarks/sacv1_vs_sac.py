"""
SACV1 against SB3's SAC, same hyperparameters, same run: learning curves, final returns and throughput.

    python benchmarks/sacv1_vs_sac.py --env Pendulum-v1 --steps 20000 --seeds 5

Runs are interleaved (seed 0 SACV1, seed 0 SAC, seed 1 SACV1, ...) over ``--workers`` processes with one
torch thread each, so the two algorithms share the machine's conditions; every finished run is stored in
``benchmarks/results/raw/`` and skipped when the command is run again (resume after an interruption).
Writes ``benchmarks/results/<env>.md`` (table) and ``benchmarks/results/<env>.png`` (median and IQR
of the evaluation return over seeds).
"""

import argparse
import json
import multiprocessing
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class RunResult:
    algo: str
    env: str
    seed: int
    steps: int
    eval_timesteps: list[int]
    eval_returns: list[float]
    train_seconds: float

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.train_seconds

    @property
    def final_return(self) -> float:
        return self.eval_returns[-1]


def sacv1_hyperparameters(env_id: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The bundled rl-zoo entry of ``env_id``; SAC gets exactly the same keyword arguments."""
    from sb3_maxent.zoo import config_path

    configs = yaml.load(config_path("sacv1").read_text(), Loader=yaml.UnsafeLoader)
    entry = dict(configs.get(env_id, configs["default"]))
    entry.pop("n_timesteps")
    if "policy_kwargs" in entry:
        entry["policy_kwargs"] = eval(entry["policy_kwargs"])  # rl-zoo stores them as Python source
    entry.update(overrides)
    return entry


def run_one(job: dict[str, Any]) -> RunResult:
    import torch as th
    from stable_baselines3 import SAC
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    from sb3_maxent import SACV1

    th.set_num_threads(1)
    algo_class = {"sacv1": SACV1, "sac": SAC}[job["algo"]]
    hyperparams = sacv1_hyperparameters(job["env"], job["overrides"])
    policy = hyperparams.pop("policy")
    env = make_vec_env(job["env"], n_envs=1, seed=job["seed"])
    eval_env = make_vec_env(job["env"], n_envs=1, seed=10_000 + job["seed"])

    class TimedEvaluation(BaseCallback):
        """Evaluates every ``eval_every`` steps; evaluation time is excluded from the training time."""

        def __init__(self) -> None:
            super().__init__()
            self.timesteps: list[int] = []
            self.returns: list[float] = []
            self.eval_seconds = 0.0

        def _on_step(self) -> bool:
            if self.num_timesteps % job["eval_every"] == 0:
                start = time.perf_counter()
                mean_return, _ = evaluate_policy(self.model, eval_env, n_eval_episodes=job["eval_episodes"])
                self.eval_seconds += time.perf_counter() - start
                self.timesteps.append(self.num_timesteps)
                self.returns.append(float(mean_return))
            return True

    model = algo_class(policy, env, seed=job["seed"], verbose=0, **hyperparams)
    evaluation = TimedEvaluation()
    start = time.perf_counter()
    model.learn(job["steps"], callback=evaluation)
    train_seconds = time.perf_counter() - start - evaluation.eval_seconds
    result = RunResult(
        job["algo"], job["env"], job["seed"], job["steps"], evaluation.timesteps, evaluation.returns, train_seconds
    )
    raw_path(job).write_text(json.dumps(asdict(result)))
    speed = result.steps_per_second
    print(f"{job['algo']} {job['env']} seed {job['seed']}: final {result.final_return:.1f}, {speed:.1f} steps/s")
    return result


def raw_path(job: dict[str, Any]) -> Path:
    return RESULTS / "raw" / f"{job['env']}_{job['algo']}_seed{job['seed']}_{job['steps']}.json"


def load_result(path: Path) -> RunResult:
    return RunResult(**json.loads(path.read_text()))


def iqr(values: np.ndarray) -> tuple[float, float]:
    low, high = np.percentile(values, [25, 75])
    return float(low), float(high)


def write_table(env_id: str, results: dict[str, list[RunResult]], note: str) -> str:
    lines = [
        f"### {env_id}: SACV1 vs SB3 SAC, same hyperparameters, same run",
        "",
        note,
        "",
        "| algorithm | seeds | final return: median [IQR] | steps/s: median | steps/s ratio to SAC (median of paired seeds) |",
        "|---|---|---|---|---|",
    ]
    sac_speed = {r.seed: r.steps_per_second for r in results.get("sac", [])}
    for algo, runs in results.items():
        finals = np.array([r.final_return for r in runs])
        speeds = np.array([r.steps_per_second for r in runs])
        paired = [r.steps_per_second / sac_speed[r.seed] for r in runs if r.seed in sac_speed]
        low, high = iqr(finals)
        ratio = f"{np.median(paired):.2f}" if paired else "n/a"
        final_cell = f"{np.median(finals):.1f} [{low:.1f}, {high:.1f}]"
        lines.append(f"| {algo.upper()} | {len(runs)} | {final_cell} | {np.median(speeds):.1f} | {ratio} |")
    table = "\n".join(lines) + "\n"
    (RESULTS / f"{env_id}.md").write_text(table)
    return table


def plot_curves(env_id: str, results: dict[str, list[RunResult]], title_note: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for algo, runs in results.items():
        timesteps = np.array(runs[0].eval_timesteps)
        returns = np.array([r.eval_returns for r in runs])
        median = np.median(returns, axis=0)
        low, high = np.percentile(returns, [25, 75], axis=0)
        axis.plot(timesteps, median, label=f"{algo.upper()} (median, {len(runs)} seeds)")
        axis.fill_between(timesteps, low, high, alpha=0.25)
    axis.set_xlabel("environment steps")
    axis.set_ylabel("evaluation return")
    axis.set_title(f"{env_id} {title_note}")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(RESULTS / f"{env_id}.png", dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--eval-every", type=int, default=2_000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--algos", nargs="+", default=["sacv1", "sac"], choices=["sacv1", "sac"])
    parser.add_argument("--learning-starts", type=int, default=None, help="override the config (short MuJoCo budgets)")
    args = parser.parse_args()

    overrides = {} if args.learning_starts is None else {"learning_starts": args.learning_starts}
    jobs = [
        dict(
            algo=algo,
            env=args.env,
            seed=seed,
            steps=args.steps,
            eval_every=args.eval_every,
            eval_episodes=args.eval_episodes,
            overrides=overrides,
        )
        for seed in range(args.seeds)
        for algo in args.algos
    ]
    (RESULTS / "raw").mkdir(parents=True, exist_ok=True)
    pending = [job for job in jobs if not raw_path(job).exists()]
    if pending:
        # spawn: each worker starts clean, with its own single torch thread
        with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
            pool.map(run_one, pending, chunksize=1)

    results = {algo: [load_result(raw_path(job)) for job in jobs if job["algo"] == algo] for algo in args.algos}
    budget = f"{args.steps} steps, {args.seeds} seeds, {args.workers} runs in parallel with one torch thread each"
    note = (
        f"Budget: {budget}; evaluation every {args.eval_every} steps, {args.eval_episodes} episodes "
        f"(deterministic policy). Hyperparameters: "
        f"`zoo_configs/sacv1.yml` entry for {args.env}{', overrides ' + str(overrides) if overrides else ''}."
    )
    print(write_table(args.env, results, note))
    plot_curves(args.env, results, f"({args.steps} steps)")


if __name__ == "__main__":
    main()
