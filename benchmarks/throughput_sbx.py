"""
Training throughput (environment steps per second, training included) against SBX, SB3's algorithms in JAX.

    python benchmarks/throughput_sbx.py [--tasks ...] [--repetitions 3] [--steps 3000] [--cores 0 1] [--baseline REF]

The tasks, every algorithm at its class defaults (``"MlpPolicy"``, ``device="cpu"``):

- Pendulum-v1, HalfCheetah-v5: SACV1, SBX's SAC and SB3's SAC; reference SBX SAC;
- CartPole-v1, LunarLander-v3: SoftQLearning, MSQL (SoftQLearning with the Munchausen settings of
  ``zoo_configs/msql.yml``), SBX's DQN and SB3's DQN; reference SBX DQN;
- Pendulum-v1-sql: the continuous SoftQLearning and SB3's SAC on Pendulum-v1; reference SB3 SAC.

The class defaults differ in updates per environment step: SAC and SACV1 update every step, DQN and
SoftQLearning (the continuous one too: ``train_freq=4``) every 4 steps.

Method: every measurement runs in its own fresh process, pinned to one core, with one thread for torch and for
JAX/XLA (set before either is imported); with several ``--cores``, that many measurements run at once, one per
core. A warm-up of ``learning_starts`` plus ``--warmup`` steps
(replay buffer, JIT compilation, allocator) is not timed; then ``model.learn(steps, reset_num_timesteps=False)``
is, DQN at its final epsilon (as ``throughput_sql.py``: from the start, epsilon-greedy exploration skips the
network for most steps). Repetitions are interleaved: each runs every variant of a task once, the order rotated
from one repetition to the next. Per task: the median steps/s of each variant and the median over repetitions
of its ratio to the reference in the same repetition. ``--baseline REF`` adds our algorithms as they were at the
git commit ``REF`` (extracted to ``benchmarks/cache/baseline/REF``, imported in place of the installed package in
their processes) and a second table: each algorithm's speed-up over itself at ``REF``, the median of paired
ratios. Writes ``benchmarks/results/throughput_sbx.md`` and the
raw runs to ``benchmarks/results/raw/throughput_sbx.jsonl`` (``--output`` elsewhere: ``<dir>/raw/<name>.jsonl``).

Tasks whose environment cannot be built here (MuJoCo, Box2D missing) are skipped, and without ``sbx-rl``
(``pip install sbx-rl``, or the ``benchmark`` extra) the SBX rows are reported missing; both with a message.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, is_installed, machine

ROOT = Path(__file__).resolve().parent.parent
BASELINES = Path(__file__).resolve().parent / "cache" / "baseline"

# One thread everywhere, set in this process's environment so that every spawned worker starts with it, before
# torch, numpy's BLAS or jax is imported there; XLA's CPU client reads XLA_FLAGS when jax initialises it.
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "JAX_PLATFORMS": "cpu",
}


@dataclass(frozen=True)
class Algorithm:
    label: str
    spec: str  # "module:Class"
    munchausen: bool = False  # MSQL: the Munchausen settings of zoo_configs/msql.yml for the environment


ALGORITHMS: dict[str, Algorithm] = {
    "sacv1": Algorithm("SACV1", "sb3_maxent:SACV1"),
    "sbx_sac": Algorithm("SBX SAC", "sbx:SAC"),
    "sb3_sac": Algorithm("SB3 SAC", "stable_baselines3:SAC"),
    "sql": Algorithm("SQL", "sb3_maxent:SoftQLearning"),
    "msql": Algorithm("MSQL", "sb3_maxent:SoftQLearning", munchausen=True),
    "sbx_dqn": Algorithm("SBX DQN", "sbx:DQN"),
    "sb3_dqn": Algorithm("SB3 DQN", "stable_baselines3:DQN"),
}


@dataclass(frozen=True)
class Task:
    env_id: str
    variants: tuple[str, ...]  # keys of ALGORITHMS
    reference: str  # one of them: the denominator of the ratios


SAC_VARIANTS = ("sacv1", "sbx_sac", "sb3_sac")
DQN_VARIANTS = ("sql", "msql", "sbx_dqn", "sb3_dqn")
TASKS: dict[str, Task] = {
    "Pendulum-v1": Task("Pendulum-v1", SAC_VARIANTS, "sbx_sac"),
    "HalfCheetah-v5": Task("HalfCheetah-v5", SAC_VARIANTS, "sbx_sac"),
    "CartPole-v1": Task("CartPole-v1", DQN_VARIANTS, "sbx_dqn"),
    "LunarLander-v3": Task("LunarLander-v3", DQN_VARIANTS, "sbx_dqn"),
    "Pendulum-v1-sql": Task("Pendulum-v1", ("sql", "sb3_sac"), "sb3_sac"),
}


#: Our algorithms, which ``--baseline`` measures as they were at an earlier commit too
OURS = ("sacv1", "sql")


def split_variant(variant: str) -> tuple[str, str | None]:
    """'sql@b0a9bd0' -> ('sql', 'b0a9bd0'); 'sql' -> ('sql', None)."""
    algorithm, _, ref = variant.partition("@")
    return algorithm, ref or None


def label(variant: str) -> str:
    algorithm, ref = split_variant(variant)
    return ALGORITHMS[algorithm].label + (f" @ {ref}" if ref else "")


def with_baseline(variants: tuple[str, ...], ref: str | None) -> tuple[str, ...]:
    """The task's variants, and after them ours at ``ref`` (none without a ref)."""
    if ref is None:
        return variants
    return (*variants, *(f"{variant}@{ref}" for variant in variants if variant in OURS))


def baseline_source(ref: str) -> Path:
    """The folder holding ``sb3_maxent`` as it was at commit ``ref`` (extracted with ``git archive`` once)."""
    folder = BASELINES / ref
    if not (folder / "sb3_maxent" / "__init__.py").exists():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", ref, "sb3_maxent"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def is_sbx(variant: str) -> bool:
    return ALGORITHMS[split_variant(variant)[0]].spec.startswith("sbx:")


# --- one measurement -------------------------------------------------------------------------------------------


def algorithm_kwargs(variant: str, env_id: str) -> dict[str, Any]:
    """The keyword arguments over the class defaults: none, but MSQL's Munchausen settings for ``env_id``."""
    if not ALGORITHMS[variant].munchausen:
        return {}
    from variants import entry_kwargs

    entry = entry_kwargs("msql", env_id)
    return {key: entry[key] for key in ("munchausen_coef", "munchausen_clip") if key in entry}


def measure(variant: str, env_id: str, steps: int, warmup: int, seed: int, **overrides: Any) -> float:
    """
    Steps/s of ``model.learn(steps, reset_num_timesteps=False)`` after an untimed ``learning_starts + warmup``
    steps, in this process as it is (``run_job`` pins it first); ``overrides`` for the tests only.
    """
    algorithm = split_variant(variant)[0]
    module, name = ALGORITHMS[algorithm].spec.split(":")
    algo_class = getattr(importlib.import_module(module), name)
    kwargs = {**algorithm_kwargs(algorithm, env_id), **overrides}
    model = algo_class("MlpPolicy", env_id, seed=seed, device="cpu", **kwargs)  # CPU timings, also beside a GPU
    model.learn(model.learning_starts + warmup)
    if getattr(model, "exploration_final_eps", None) is not None and hasattr(model, "exploration_schedule"):
        final_eps = float(model.exploration_final_eps)
        model.exploration_schedule = lambda _progress: final_eps  # DQN's steady state, as throughput_sql.py
    start = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - start)


def pin(core: int) -> None:
    """This process on ``core``, one thread: first thing in a job, before it imports torch or jax."""
    os.environ.update(THREAD_ENV)
    os.sched_setaffinity(0, [core])


def versions() -> dict[str, str]:
    """The versions of the JAX side, beside those ``machine()`` records."""
    from importlib.metadata import version

    return {package: version(package) for package in ("sbx-rl", "jax", "jaxlib", "flax") if is_installed(package)}


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """
    One measurement, in a fresh process, pinned to ``job["core"]``: the raw record of the run. A ``source`` folder
    (a baseline's) is imported in place of the installed ``sb3_maxent``.
    """
    pin(job["core"])
    if job.get("source"):
        sys.path.insert(0, job["source"])
    import torch as th

    th.set_num_threads(1)
    th.set_num_interop_threads(1)
    speed = measure(job["variant"], job["env_id"], job["steps"], job["warmup"], seed=job["repetition"])
    ours = sys.modules.get("sb3_maxent")
    return {
        **job,
        "steps_per_second": speed,
        "sb3_maxent_from": str(Path(ours.__file__).parent) if ours is not None and ours.__file__ else None,
        "affinity": sorted(os.sched_getaffinity(0)),
        "machine": {**machine(), **versions()},
    }


def run_on_cores(
    function: Callable[[dict[str, Any]], Any], jobs: list[dict[str, Any]], cores: list[int]
) -> Iterator[tuple[dict[str, Any], Future]]:
    """
    ``function(job)`` for every job (``run_job``), each in a fresh spawned process (nothing of one run, torch's
    thread settings included, leaks into the next), in the order given, as many at once as there are ``cores``;
    each job gets a ``core`` that no other running job has (``run_job`` pins itself to it). Yields (job with its
    core, finished future) as they end.
    """
    context = multiprocessing.get_context("spawn")
    pending, free = list(jobs), list(cores)
    running: dict[Future, tuple[dict[str, Any], ProcessPoolExecutor]] = {}
    while pending or running:
        while pending and free:
            job = {**pending.pop(0), "core": free.pop(0)}
            executor = ProcessPoolExecutor(1, mp_context=context)
            running[executor.submit(function, job)] = (job, executor)
        done, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in done:
            job, executor = running.pop(future)
            executor.shutdown()
            free.append(job["core"])
            yield job, future


# --- the plan and the summary ------------------------------------------------------------------------------------


def interleaved(variants: tuple[str, ...] | list[str], repetitions: int) -> list[tuple[int, str]]:
    """(repetition, variant) in running order: every variant once per repetition, the order rotated by one each time."""
    variants = list(variants)
    order: list[tuple[int, str]] = []
    for repetition in range(repetitions):
        shift = repetition % len(variants)
        order.extend((repetition, variant) for variant in variants[shift:] + variants[:shift])
    return order


def summarise(speeds: dict[str, dict[int, float]], reference: str) -> dict[str, tuple[float | None, float | None]]:
    """
    Per variant, from its steps/s by repetition: the median steps/s and the median over repetitions of the ratio
    to the reference's steps/s in the same repetition (None where there are none, or no reference to pair with).
    """
    summary = {}
    for variant, by_repetition in speeds.items():
        median = float(np.median(list(by_repetition.values()))) if by_repetition else None
        ratios = paired_ratios(speeds, variant, reference)
        summary[variant] = (median, float(np.median(ratios)) if ratios else None)
    return summary


def paired_ratios(speeds: dict[str, dict[int, float]], variant: str, reference: str) -> list[float]:
    """The variant's steps/s over the reference's, per repetition both have, in repetition order."""
    base = speeds.get(reference, {})
    return [speed / base[rep] for rep, speed in sorted(speeds[variant].items()) if rep in base]


def ratio_text(median: float, ratios: list[float]) -> str:
    """'0.95' for one ratio, '0.95 (0.90-1.02)': the median and the range of several."""
    if len(ratios) < 2:
        return f"{median:.2f}"
    return f"{median:.2f} ({min(ratios):.2f}-{max(ratios):.2f})"


def buildable(env_id: str) -> str | None:
    """None where ``env_id`` can be built here, else why not."""
    import gymnasium as gym

    try:
        gym.make(env_id).close()
    except Exception as error:  # DependencyNotInstalled (mujoco, box2d), a missing registration, ...
        return f"{type(error).__name__}: {error}"
    return None


#: task -> variant -> repetition -> steps/s
Results = dict[str, dict[str, dict[int, float]]]


def speedups(speeds: dict[str, dict[int, float]], ref: str) -> dict[str, float]:
    """Per algorithm of ours measured at ``ref`` too: the median over repetitions of its steps/s over ref's."""
    summary = {}
    for variant in speeds:
        algorithm, variant_ref = split_variant(variant)
        if variant_ref is None and f"{algorithm}@{ref}" in speeds:
            ratio = summarise({variant: speeds[variant], "base": speeds[f"{algorithm}@{ref}"]}, "base")[variant][1]
            if ratio is not None:
                summary[variant] = ratio
    return summary


def table(results: Results, missing: dict[str, str], args: argparse.Namespace) -> str:
    cores = ", ".join(str(core) for core in args.cores)
    at_once = "one run at a time" if len(args.cores) == 1 else f"{len(args.cores)} runs at a time, one per core"
    lines = [
        "### Training throughput against SBX (class defaults, CPU, one core, one thread)",
        "",
        f"{args.repetitions} interleaved repetitions of {args.steps} timed steps after learning_starts + "
        f"{args.warmup} untimed steps, each run in a fresh process pinned to one core (cores {cores}; {at_once}; "
        "`benchmarks/throughput_sbx.py`; raw runs, with the machine and versions, in the .jsonl).",
        "",
        "| task | variant | steps/s: median | ratio to reference: median of paired repetitions (range) | reference |",
        "|---|---|---|---|---|",
    ]
    for task_name, speeds in results.items():
        reference = label(TASKS[task_name].reference)
        for variant, (median, ratio) in summarise(speeds, TASKS[task_name].reference).items():
            if median is None:
                why = missing.get(variant, "no successful run")
                lines.append(f"| {task_name} | {label(variant)} | missing: {why} | | {reference} |")
                continue
            reference_key = TASKS[task_name].reference
            shown = ratio_text(ratio, paired_ratios(speeds, variant, reference_key)) if ratio is not None else None
            lines.append(
                f"| {task_name} | {label(variant)} | {median:.1f} | {shown or 'n/a (reference missing)'} | {reference} |"
            )
    if args.baseline:
        lines += [
            "",
            f"Speed-up over the same algorithm at commit {args.baseline} (median of paired repetitions, range):",
            "",
            "| task | variant | speed-up |",
            "|---|---|---|",
        ]
        for task_name, speeds in results.items():
            for variant, ratio in speedups(speeds, args.baseline).items():
                shown = ratio_text(ratio, paired_ratios(speeds, variant, f"{split_variant(variant)[0]}@{args.baseline}"))
                lines.append(f"| {task_name} | {label(variant)} | {shown} |")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3000, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=1000, help="untimed steps after learning_starts")
    parser.add_argument(
        "--cores",
        nargs="+",
        type=int,
        default=[max(os.sched_getaffinity(0))],
        help="one run per core at a time, each pinned to its core; default: the last core, one run at a time",
    )
    parser.add_argument("--baseline", default=None, metavar="REF", help="also measure our algorithms at this commit")
    parser.add_argument("--output", type=Path, default=RESULTS / "throughput_sbx.md", help="markdown table")
    return parser.parse_args(argv)


def plan(args: argparse.Namespace, missing: dict[str, str]) -> tuple[list[dict[str, Any]], Results]:
    """Every run in running order (task by task, each task's repetitions interleaved) and an empty result table."""
    source = str(baseline_source(args.baseline)) if args.baseline else None
    jobs: list[dict[str, Any]] = []
    results: Results = {}
    for task_name in args.tasks:
        task = TASKS[task_name]
        why = buildable(task.env_id)
        if why is not None:
            print(f"{task_name}: skipped, {task.env_id} cannot be built here ({why})", flush=True)
            continue
        variants = with_baseline(task.variants, args.baseline)
        results[task_name] = {variant: {} for variant in variants}
        runnable = [variant for variant in variants if split_variant(variant)[0] not in missing]
        for repetition, variant in interleaved(runnable, args.repetitions):
            job = {"task": task_name, "env_id": task.env_id, "variant": variant, "repetition": repetition,
                   "steps": args.steps, "warmup": args.warmup}  # fmt: skip
            if split_variant(variant)[1] is not None:
                job["source"] = source
            jobs.append(job)
    return jobs, results


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    os.environ.update(THREAD_ENV)  # inherited by every worker, before it imports anything
    raw_path = args.output.parent / "raw" / f"{args.output.stem}.jsonl"
    missing: dict[str, str] = {}
    if importlib.util.find_spec("sbx") is None:
        missing.update({v: "sbx-rl is not installed" for v in ALGORITHMS if is_sbx(v)})
        print("sbx-rl is not installed (pip install sbx-rl): the SBX rows are missing, the others run.", flush=True)

    jobs, results = plan(args, missing)
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    with raw_path.open("w") as raw:
        for job, future in run_on_cores(run_job, jobs, args.cores):
            where = f"{job['task']} repetition {job['repetition']}: {job['variant']}"
            try:
                record = future.result()
            except Exception as error:  # one failed run is reported, the campaign goes on
                print(f"{where} failed: {error!r}", flush=True)
                continue
            results[job["task"]][job["variant"]][job["repetition"]] = record["steps_per_second"]
            raw.write(json.dumps(record) + "\n")
            raw.flush()
            print(f"{where}: {record['steps_per_second']:.1f} steps/s (core {job['core']})", flush=True)

    text = table(results, missing, args)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)
    print(f"written: {args.output}, {raw_path}")


if __name__ == "__main__":
    main()
