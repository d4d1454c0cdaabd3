"""
Side-by-side learning benchmarks: our algorithms against SB3's, same environment, same run, several seeds.

    python benchmarks/compare.py --env CartPole-v1 --variants sql dqn --steps 50000 --seeds 5
    python benchmarks/compare.py --env Pendulum-v1 --variants sacv1_callback sacv1_alpha0.2 sac --seeds 5
    python benchmarks/compare.py --env Acrobot-v1 --variants msql sql sacv1 dqn --steps 100000 --iqm

Variants are the names in ``benchmarks/variants.py`` (``VARIANTS``): each a zoo entry (``zoo_configs/<algo>.yml``,
or rl_zoo3's own tuned ``dqn.yml`` for ``dqn``) and what the variant changes there, so that every variant of one
algorithm family shares the entry's hyperparameters; ``sac`` is SB3's SAC with exactly ``sacv1``'s arguments. A
probe is a new row of that table.

Runs are interleaved over ``--workers`` processes with one torch thread each; finished runs are stored in
``<out>/raw/`` and skipped when the command is run again. ``--out`` is ``benchmarks/results/`` (the reference
results) by default; a probe writes to ``benchmarks/results/probes/`` and reuses the reference runs it shares with
them (``benchmarks/probes.sh``). Writes ``<out>/<env>_<variants>.md`` (final return median and IQR, steps/s, ratio
to the reference variant, the last one listed; ``--iqm``: rliable's IQM with stratified-bootstrap 95% CIs instead of
median and IQR) and, as ``--plots`` asks, a PNG of the learning curves (``curves``, the default) and one of the
temperature and entropy traces (``traces``) when a variant has them.
"""

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from common import RESULTS, atomic_write_json, iqm_with_ci, machine, run_in_pool
from variants import build_variant

PROBES = RESULTS / "probes"


@dataclass
class RunResult:
    algo: str
    env: str
    seed: int
    steps: int
    eval_timesteps: list[int]
    eval_returns: list[float]
    train_seconds: float
    ent_coefs: list[float] = field(default_factory=list)
    entropies: list[float] = field(default_factory=list)
    batch: str = ""  # which invocation of this script produced the run (steps/s compare only within one)
    machine: dict[str, Any] = field(default_factory=dict)  # CPU, cores, threads, versions (empty in older files)

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.train_seconds

    @property
    def final_return(self) -> float:
        return self.eval_returns[-1]


def temperature_and_entropy(model: Any) -> tuple[float, float] | None:
    """The current alpha and the policy's entropy on a replay batch (SAC-like models and discrete SQL)."""
    import torch as th

    boltzmann = hasattr(model.policy, "boltzmann_log_probs")
    softmax = hasattr(getattr(model, "actor", None), "action_log_probs")  # discrete SACV1
    gaussian = hasattr(getattr(model, "actor", None), "action_log_prob")
    if (
        not (boltzmann or softmax or gaussian)
        or getattr(model, "replay_buffer", None) is None
        or model.replay_buffer.size() == 0
    ):
        return None
    log_alpha = getattr(model, "log_ent_coef", None)
    alpha = float(log_alpha.exp().item()) if log_alpha is not None else float(model.ent_coef_tensor.item())
    observations = model.replay_buffer.sample(256).observations
    with th.no_grad():
        if boltzmann or softmax:
            # the exact entropy of pi = softmax(Q / alpha), or of the softmax actor
            log_probs = (
                model.policy.boltzmann_log_probs(observations) if boltzmann else model.actor.action_log_probs(observations)
            )
            return alpha, float(-(log_probs.exp() * log_probs).sum(dim=1).mean().item())
        _, log_prob = model.actor.action_log_prob(observations)
    return alpha, float(-log_prob.mean().item())


def run_one(job: dict[str, Any]) -> RunResult:
    import torch as th
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    from sb3_maxent.envs.multigoal import register_multigoal

    th.set_num_threads(1)
    register_multigoal()
    algo_class, kwargs, extra_callback = build_variant(job["algo"], job["env"])
    policy = kwargs.pop("policy", "MlpPolicy")
    kwargs.update(job["overrides"])
    if job.get("net_arch"):
        kwargs["policy_kwargs"] = {**(kwargs.get("policy_kwargs") or {}), "net_arch": job["net_arch"]}
    env = make_vec_env(job["env"], n_envs=1, seed=job["seed"])
    eval_env = make_vec_env(job["env"], n_envs=1, seed=10_000 + job["seed"])

    class TimedEvaluation(BaseCallback):
        """Evaluates every ``eval_every`` steps; evaluation time is excluded from the training time."""

        def __init__(self) -> None:
            super().__init__()
            self.timesteps: list[int] = []
            self.returns: list[float] = []
            self.ent_coefs: list[float] = []
            self.entropies: list[float] = []
            self.eval_seconds = 0.0

        def _on_step(self) -> bool:
            if self.num_timesteps % job["eval_every"] == 0:
                start = time.perf_counter()
                mean_return, _ = evaluate_policy(self.model, eval_env, n_eval_episodes=job["eval_episodes"])
                self.timesteps.append(self.num_timesteps)
                self.returns.append(float(mean_return))
                traces = temperature_and_entropy(self.model)
                if traces is not None:
                    self.ent_coefs.append(traces[0])
                    self.entropies.append(traces[1])
                self.eval_seconds += time.perf_counter() - start
            return True

    # the CPU with one torch thread, also where a GPU is present: SB3's device="auto" would put 16 parallel runs of
    # these small networks on one GPU, which made LunarLander-v3 runs on the 16-core device machine slower than here
    model = algo_class(policy, env, seed=job["seed"], verbose=0, device="cpu", **kwargs)
    evaluation = TimedEvaluation()
    callbacks = [evaluation] if extra_callback is None else [extra_callback, evaluation]
    start = time.perf_counter()
    model.learn(job["steps"], callback=callbacks)
    train_seconds = time.perf_counter() - start - evaluation.eval_seconds
    result = RunResult(
        job["algo"],
        job["env"],
        job["seed"],
        job["steps"],
        evaluation.timesteps,
        evaluation.returns,
        train_seconds,
        evaluation.ent_coefs,
        evaluation.entropies,
        job.get("batch", ""),
        machine(),
    )
    atomic_write_json(raw_path(job), asdict(result))
    speed = result.steps_per_second
    print(f"{job['algo']} {job['env']} seed {job['seed']}: final {result.final_return:.1f}, {speed:.1f} steps/s")
    return result


def raw_path(job: dict[str, Any]) -> Path:
    """Where ``job``'s run is written: ``<out>/raw/<env>_<variant>_seed<n>_<steps>[_net<layers>].json``."""
    net = f"_net{'x'.join(map(str, job['net_arch']))}" if job.get("net_arch") else ""
    return Path(job.get("out", RESULTS)) / "raw" / f"{job['env']}_{job['algo']}_seed{job['seed']}_{job['steps']}{net}.json"


def find_run(job: dict[str, Any]) -> Path:
    """The raw file ``job`` reads: its own, or the reference run it shares (a probe's reference seeds)."""
    own = raw_path(job)
    reference = raw_path({**job, "out": RESULTS})
    return reference if not own.exists() and reference.exists() else own


def load_result(path: Path) -> RunResult:
    return RunResult(**json.loads(path.read_text()))


def provenance(results: dict[str, list[RunResult]]) -> str:
    """'same run', or which variants were run apart (their steps/s then come from different machine loads)."""
    batches: dict[str, list[str]] = {}
    for algo, runs in results.items():
        for batch in sorted({r.batch for r in runs}):
            batches.setdefault(batch, []).append(algo.upper())
    if len(batches) == 1:
        return "same run"
    return "; ".join(f"{', '.join(algos)} run together" for algos in batches.values())


def median_and_iqr(values: np.ndarray) -> str:
    low, high = np.percentile(values, [25, 75])
    return f"{np.median(values):.1f} [{low:.1f}, {high:.1f}]"


def iqm_and_ci(values: np.ndarray) -> str:
    """rliable's interquartile mean across seeds with its stratified-bootstrap 95% CI."""
    points, intervals = iqm_with_ci(values[:, None])
    return f"{points[0]:.1f} [{intervals[0, 0]:.1f}, {intervals[1, 0]:.1f}]"


def write_table(path: Path, env_id: str, results: dict[str, list[RunResult]], note: str, iqm: bool = False) -> str:
    reference = list(results)[-1]
    # steps/s are paired only within one invocation (same batch): runs made at other times ran under other loads
    reference_speed = {(r.seed, r.batch): r.steps_per_second for r in results[reference]}
    statistic, summary = ("IQM [95% CI]", iqm_and_ci) if iqm else ("median [IQR]", median_and_iqr)
    lines = [
        f"### {env_id}: {', '.join(v.upper() for v in results)} ({provenance(results)})",
        "",
        note,
        "",
        f"| variant | seeds | final return: {statistic} | mean of the last 3 evaluations: {statistic} | "
        f"steps/s: median | steps/s ratio to {reference.upper()} (paired seeds) |",
        "|---|---|---|---|---|---|",
    ]
    for algo, runs in results.items():
        finals = np.array([r.final_return for r in runs])
        # one evaluation is noisy on unstable tasks (CartPole): the mean of the last three is steadier
        last_three = np.array([np.mean(r.eval_returns[-3:]) for r in runs])
        speeds = np.array([r.steps_per_second for r in runs])
        paired = [r.steps_per_second / reference_speed[key] for r in runs if (key := (r.seed, r.batch)) in reference_speed]
        ratio = f"{np.median(paired):.2f}" if paired else "n/a (run apart)"
        cells = f"{summary(finals)} | {summary(last_three)} | {np.median(speeds):.1f} | {ratio}"
        lines.append(f"| {algo.upper()} | {len(runs)} | {cells} |")
    table = "\n".join(lines) + "\n"
    path.write_text(table)
    return table


def plot(
    path: Path, env_id: str, results: dict[str, list[RunResult]], steps: int, plots: list[str], iqm: bool = False
) -> None:
    """``<path>.png``, the learning curves (``"curves"`` in ``plots``); ``<path>_traces.png``, alpha and entropy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def band(axis, runs, attribute, label, with_iqm=False):
        values = np.array([getattr(r, attribute) for r in runs])
        timesteps = np.array(runs[0].eval_timesteps[: values.shape[1]])
        if with_iqm:
            center, (low, high) = iqm_with_ci(values)
        else:
            center = np.median(values, axis=0)
            low, high = np.percentile(values, [25, 75], axis=0)
        axis.plot(timesteps, center, label=label)
        axis.fill_between(timesteps, low, high, alpha=0.25)

    if "curves" in plots:
        figure, axis = plt.subplots(figsize=(6, 4))
        statistic = "IQM, 95% CI" if iqm else "median, IQR"
        for algo, runs in results.items():
            band(axis, runs, "eval_returns", f"{algo.upper()} ({statistic}, {len(runs)} seeds)", with_iqm=iqm)
        axis.set(xlabel="environment steps", ylabel="evaluation return", title=f"{env_id} ({steps} steps)")
        axis.legend()
        axis.grid(alpha=0.3)
        figure.tight_layout()
        figure.savefig(path.with_name(path.name + ".png"), dpi=120)

    traced = {algo: runs for algo, runs in results.items() if all(r.ent_coefs for r in runs)}
    if traced and "traces" in plots:
        figure, (alpha_axis, entropy_axis) = plt.subplots(1, 2, figsize=(11, 4))
        for algo, runs in traced.items():
            band(alpha_axis, runs, "ent_coefs", algo.upper())
            band(entropy_axis, runs, "entropies", algo.upper())
        alpha_axis.set(xlabel="environment steps", ylabel="alpha (ent_coef)", yscale="log", title="temperature")
        entropy_axis.set(xlabel="environment steps", ylabel="-E[log pi] on replay states", title="policy entropy")
        for axis in (alpha_axis, entropy_axis):
            axis.legend()
            axis.grid(alpha=0.3)
        figure.tight_layout()
        figure.savefig(path.with_name(path.name + "_traces.png"), dpi=120)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--variants", nargs="+", default=["sacv1", "sac"])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--eval-every", type=int, default=2_000)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--learning-starts", type=int, default=None, help="override the configs (short budgets)")
    parser.add_argument("--net-arch", type=int, nargs="+", default=None, help="hidden layers of every network")
    parser.add_argument("--name", default=None, help="output file name (default: <env>_<variants>)")
    parser.add_argument("--iqm", action="store_true", help="rliable's IQM with 95%% bootstrap CIs instead of median/IQR")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder (probes: benchmarks/results/probes)")
    parser.add_argument(
        "--plots", nargs="*", choices=("curves", "traces"), default=["curves"], help="PNGs to write (none: no PNG)"
    )
    return parser


def jobs(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The runs of a command line, seed by seed, the variants interleaved."""
    overrides = {} if args.learning_starts is None else {"learning_starts": args.learning_starts}
    return [
        dict(algo=algo, env=args.env, seed=seed, steps=args.steps, eval_every=args.eval_every,
             eval_episodes=args.eval_episodes, overrides=overrides, net_arch=args.net_arch, out=str(args.out))
        for seed in range(args.seeds)
        for algo in args.variants
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    for variant in args.variants:
        build_variant(variant, args.env)  # unknown names fail before any run
    planned = jobs(args)
    (args.out / "raw").mkdir(parents=True, exist_ok=True)
    batch = time.strftime("%Y-%m-%dT%H:%M:%S")
    pending = [{**job, "batch": batch} for job in planned if not find_run(job).exists()]
    if pending:
        for _ in run_in_pool(run_one, pending, args.workers):
            pass  # each run prints its own line

    results = {algo: [load_result(find_run(job)) for job in planned if job["algo"] == algo] for algo in args.variants}
    name = args.name or f"{args.env}_{'_'.join(args.variants)}"
    budget = f"{args.steps} steps, {args.seeds} seeds, {args.workers} runs in parallel with one torch thread each"
    if args.net_arch:
        budget += f"; every network {args.net_arch} instead of the config's"
    overrides = planned[0]["overrides"]
    note = (
        f"Budget: {budget}; evaluation every {args.eval_every} steps, {args.eval_episodes} episodes (deterministic "
        f"policy); final return = the last evaluation.{' Overrides: ' + str(overrides) if overrides else ''}"
    )
    print(write_table(args.out / f"{name}.md", args.env, results, note, iqm=args.iqm))
    plot(args.out / name, args.env, results, args.steps, args.plots, iqm=args.iqm)


if __name__ == "__main__":
    main()
