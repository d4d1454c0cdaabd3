"""
What the benchmark scripts share: the machine a run learned on, how fast it learned there, atomic writes of raw
JSON, zoo entries, the worker pool and the ``run`` / ``report`` command line, and the statistics of the reports.

Statistics with rliable (Agarwal et al. 2021) where it has them: interquartile mean (IQM) across seeds with
stratified-bootstrap 95% confidence intervals and the probability of improvement; scipy's permutation test for the
p-values. Imports of torch, rliable and scipy stay inside the functions: a report or a test that needs none of them
does not pay for them.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

# --- provenance: the machine a run learned on -------------------------------------------------------------------

PROVENANCE_PACKAGES = ("torch", "stable_baselines3", "sb3_maxent", "gymnasium", "mujoco")


def machine() -> dict[str, Any]:
    """Processor, cores, torch threads, Python, platform and the versions of the packages that learn."""
    from importlib.metadata import version

    import torch

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        **{package: version(package) for package in PROVENANCE_PACKAGES if is_installed(package)},
    }


def is_installed(package: str) -> bool:
    from importlib.metadata import PackageNotFoundError, version

    try:
        version(package)
    except PackageNotFoundError:
        return False
    return True


def machine_fingerprint(machine: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two slices' speeds comparable: processor, cores, torch and its threads."""
    return machine.get("cpu"), machine.get("cores"), machine.get("torch"), machine.get("torch_threads")


def steps_per_second(run: dict[str, Any]) -> float:
    """
    Steps/s of a run on the machine that finished it: where some slices ran elsewhere (a bigger machine lent for
    a slice), only the slices on a machine like the last one count, so that paired seeds compare one machine.
    """
    slice_steps, slice_seconds = run.get("slice_timesteps", []), run.get("slice_train_seconds", [])
    machines = run.get("machines", [])
    if slice_steps and len(slice_steps) == len(slice_seconds) == len(machines):
        last = machine_fingerprint(machines[-1])
        on_last = [i for i, machine in enumerate(machines) if machine_fingerprint(machine) == last]
        seconds = sum(slice_seconds[i] for i in on_last)
        if seconds > 0:
            return sum(slice_steps[i] for i in on_last) / seconds
    return run["timesteps"] / run["train_seconds"]


# --- files -------------------------------------------------------------------------------------------------------


def atomic_write_json(path: Path, data: Any) -> None:
    """Writes ``data`` beside ``path`` and renames it there: a reader sees the old file or the whole new one."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def rl_zoo_config(algo: str) -> Path:
    """rl_zoo3's own tuned hyperparameters of ``algo`` (``hyperparams/<algo>.yml``)."""
    import rl_zoo3

    return Path(rl_zoo3.__file__).parent / "hyperparams" / f"{algo}.yml"


def zoo_entry(config_file: Path, env_id: str, fallback: str | None = None) -> dict[str, Any]:
    """
    The entry of ``env_id`` in an rl-zoo config file (``fallback``'s where it has none, if given), without its
    ``n_timesteps``, with ``policy_kwargs`` evaluated (rl-zoo stores them as Python source).
    """
    import yaml

    from sb3_maxent.zoo.yaml_files import DataLoader

    configs = yaml.load(config_file.read_text(), Loader=DataLoader)
    entry = dict(configs[env_id] if env_id in configs or fallback is None else configs[fallback])
    entry.pop("n_timesteps", None)
    if isinstance(entry.get("policy_kwargs"), str):
        entry["policy_kwargs"] = eval(entry["policy_kwargs"])  # rl-zoo stores them as Python source
    return entry


# --- running -----------------------------------------------------------------------------------------------------


def run_in_pool(function: Callable[[Any], Any], jobs: Iterable[Any], workers: int, initializer=None) -> Iterator[Any]:
    """
    ``function(job)`` for every job, ``workers`` at a time, each in a fresh spawned process (one run per process:
    nothing of one run, torch's thread settings included, leaks into the next); results as they finish.
    """
    with multiprocessing.get_context("spawn").Pool(workers, initializer=initializer, maxtasksperchild=1) as pool:
        yield from pool.imap_unordered(function, list(jobs))


def run_report_cli(
    doc: str,
    run: Callable[[argparse.Namespace], None],
    report: Callable[[argparse.Namespace], None],
    argv: list[str] | None = None,
) -> None:
    """The command line of an experiment script: ``run [--workers N]`` trains what is missing, ``report`` tabulates."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run").add_argument("--workers", type=int, default=2)
    sub.add_parser("report")
    args = parser.parse_args(argv)
    {"run": run, "report": report}[args.command](args)


# --- statistics --------------------------------------------------------------------------------------------------

REPS = 2000  # bootstrap replications (rliable's default for profiles; enough for 95% CIs of 5 runs)
EXACT_PERMUTATIONS = 10**6  # above this many splits of the pooled runs, a Monte Carlo permutation test
MONTE_CARLO_PERMUTATIONS = 200_000  # standard error of p at most 0.5 / sqrt(200k) = 0.0011


@contextmanager
def seeded_bootstrap(seed: int = 0) -> Iterator[np.random.RandomState]:
    """
    A fixed seed for rliable's bootstrap, restoring numpy's global state afterwards.

    rliable 1.2's stratified bootstrap draws its indices from numpy's global generator and ignores the
    ``random_state`` it is given, so without this the CIs changed with whatever ran before in the process.
    """
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield np.random.RandomState(seed)
    finally:
        np.random.set_state(state)


def iqm(values: Iterable[float]) -> float:
    """The interquartile mean as rliable computes it (``aggregate_iqm``: scipy's 25% trimmed mean), without the CI."""
    from scipy.stats import trim_mean

    return float(trim_mean(np.asarray(list(values), dtype=float), proportiontocut=0.25, axis=None))


def iqm_with_ci(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """IQM over runs at each column, and its 95% CI, shape (2, n_columns): scores (n_runs, n_columns)."""
    from rliable import library as rly
    from rliable import metrics

    def per_column(matrix: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_iqm(matrix[:, [column]]) for column in range(matrix.shape[1])])

    with seeded_bootstrap() as random_state:
        points, intervals = rly.get_interval_estimates({"x": scores}, per_column, reps=REPS, random_state=random_state)
    return points["x"], intervals["x"]


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """P(X > Y) of final returns, with its 95% CI."""
    from rliable import library as rly
    from rliable import metrics

    with seeded_bootstrap() as random_state:
        points, intervals = rly.get_interval_estimates(
            {"pair": (x[:, None], y[:, None])}, metrics.probability_of_improvement, reps=REPS, random_state=random_state
        )
    low, high = np.ravel(intervals["pair"])
    return float(np.ravel(points["pair"])[0]), float(low), float(high)


def permutation_p_value(x: np.ndarray, y: np.ndarray) -> float:
    """
    Two-sided p-value of the difference of means over the relabellings of the runs: every one where there are at
    most ``EXACT_PERMUTATIONS`` (5 against 5 seeds: 252; 10 against 10: 184,756), else ``MONTE_CARLO_PERMUTATIONS``
    random ones with a fixed seed (20 against 20 has 1.4e11, beyond any enumeration).
    """
    from math import comb

    from scipy.stats import permutation_test

    def mean_difference(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.mean(a) - np.mean(b))

    exact = comb(len(x) + len(y), len(x)) <= EXACT_PERMUTATIONS
    result = permutation_test(
        (x, y),
        mean_difference,
        permutation_type="independent",
        n_resamples=np.inf if exact else MONTE_CARLO_PERMUTATIONS,
        rng=np.random.default_rng(0),
    )
    return float(result.pvalue)
