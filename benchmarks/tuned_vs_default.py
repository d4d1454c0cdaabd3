"""
Tuning with RL Baselines3 Zoo, end to end: an Optuna study through ``python -m sb3_maxent.train -optimize``, then
the best trial against the bundled config on fresh seeds.

    python benchmarks/tuned_vs_default.py study --algo sacv1 --env Pendulum-v1 --n-trials 24 --trial-timesteps 10000
    python benchmarks/tuned_vs_default.py compare --algo sacv1 --env Pendulum-v1
    python benchmarks/tuned_vs_default.py report --algo sacv1 --env Pendulum-v1

``study`` runs the documented command (TPE sampler, median pruner, ``--seed 0``) in ``--workers`` processes against
one journal file, ``benchmarks/results/tuning/<algo>_<env>.log`` (committed): rerun it after a crash and it completes
the study. ``compare`` trains the bundled entry and the best trial (``--trial-id``) at the bundled entry's budget on
seeds the study never used (``EVAL_SEEDS``; trial k of the study is seeded 0 + k), each followed by the CLI's
deterministic evaluation, and writes one JSON per run. ``report`` gives rliable's IQM with stratified-bootstrap 95%
CIs, the probability of improvement and an exact permutation test, and Optuna's history and parameter-importance
plots (PNG).
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TUNING = RESULTS / "tuning"
IMAGES = HERE.parent / "docs" / "images"
EVAL_SEEDS = (100, 101, 102, 103, 104)
EVALUATION = re.compile(r"mean return (-?[\d.]+) \+/- ([\d.]+) over (\d+) episodes")


def train(arguments: list[str]) -> str:
    command = [sys.executable, "-m", "sb3_maxent.train", *arguments]
    print("$", " ".join(command[1:]), flush=True)
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    return result.stdout


def final_evaluation(stdout: str) -> tuple[float, float, int]:
    match = EVALUATION.search(stdout)
    if match is None:
        raise RuntimeError("no final evaluation in the output")
    return float(match[1]), float(match[2]), int(match[3])


def journal(args: argparse.Namespace) -> Path:
    return TUNING / f"{args.algo}_{args.env}.log"


def study_name(args: argparse.Namespace) -> str:
    return f"{args.algo}_{args.env}"


def load_study(args: argparse.Namespace):
    import optuna

    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal(args))))
    return optuna.load_study(study_name=study_name(args), storage=storage)


def command_study(args: argparse.Namespace) -> None:
    TUNING.mkdir(parents=True, exist_ok=True)
    logs = HERE / "cache" / "tuning" / study_name(args)
    command = ["--algo", args.algo, "--env", args.env, "-f", str(logs), "--seed", "0", "-optimize",
               "--n-trials", str(args.n_trials), "-n", str(args.trial_timesteps), "--n-evaluations",
               str(args.n_evaluations), "--eval-episodes", str(args.trial_eval_episodes), "--sampler", "tpe",
               "--pruner", "median", "--storage", str(journal(args)), "--study-name", study_name(args)]  # fmt: skip
    with ThreadPoolExecutor(args.workers) as pool:  # workers are processes; the threads only wait for them
        list(pool.map(lambda _: train(command), range(args.workers)))


def run_path(args: argparse.Namespace, config: str, seed: int) -> Path:
    return TUNING / study_name(args) / f"{config}_seed{seed}.json"


def evaluate_one(args: argparse.Namespace, config: str, seed: int, best_number: int) -> None:
    path = run_path(args, config, seed)
    if path.exists():
        return
    with tempfile.TemporaryDirectory() as folder:
        base = ["--algo", args.algo, "--env", args.env, "-f", folder, "--seed", str(seed), "--eval-freq", "-1",
                "--final-eval-episodes", str(args.final_eval_episodes)]  # fmt: skip
        if config == "tuned":
            base += ["--storage", str(journal(args)), "--study-name", study_name(args), "--trial-id", str(best_number)]
        mean, std, episodes = final_evaluation(train(base))
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"config": config, "seed": seed, "trial": best_number if config == "tuned" else None}
    path.write_text(json.dumps({**record, "mean_return": mean, "std_return": std, "episodes": episodes}))


def command_compare(args: argparse.Namespace) -> None:
    best = load_study(args).best_trial
    jobs = [(config, seed) for seed in EVAL_SEEDS for config in ("bundled", "tuned")]
    with ThreadPoolExecutor(args.workers) as pool:
        list(pool.map(lambda job: evaluate_one(args, *job, best.number), jobs))


def command_report(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from mujoco_report import iqm_with_ci, permutation_p_value, probability_of_improvement
    from optuna.visualization.matplotlib import plot_optimization_history, plot_param_importances

    study = load_study(args)
    best = study.best_trial
    states = [trial.state.name for trial in study.trials]
    scores = {}
    for config in ("bundled", "tuned"):
        runs = [json.loads(path.read_text()) for path in sorted((TUNING / study_name(args)).glob(f"{config}_seed*.json"))]
        scores[config] = np.array([run["mean_return"] for run in runs])
    params = ", ".join(
        f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}" for key, value in best.params.items()
    )
    lines = [
        f"# {args.algo} on {args.env}: the bundled entry against the best of an Optuna study",
        "",
        f"Generated by `python benchmarks/tuned_vs_default.py report --algo {args.algo} --env {args.env}`. Study "
        f"`{journal(args).relative_to(HERE.parent)}`: TPE sampler, median pruner, {len(states)} trials "
        f"({states.count('COMPLETE')} complete, {states.count('PRUNED')} pruned, {states.count('FAIL')} failed), "
        f"{args.trial_timesteps} steps per trial. Best trial #{best.number} ({params}), trial score {best.value:.2f}. "
        f"Each config then trained at the bundled entry's budget on the fresh seeds {list(EVAL_SEEDS)} and evaluated "
        f"deterministically over {args.final_eval_episodes} episodes; IQM across seeds with stratified-bootstrap 95% CIs.",
        "",
        "| config | seeds | IQM of the mean return [95% CI] | per seed |",
        "| --- | --- | --- | --- |",
    ]
    for config, values in scores.items():
        if len(values):
            point, interval = iqm_with_ci(values[:, None])
            per_seed = ", ".join(f"{value:.1f}" for value in values)
            lines.append(
                f"| {config} | {len(values)} | {point[0]:.1f} [{interval[0][0]:.1f}, {interval[1][0]:.1f}] | {per_seed} |"
            )
    missing = {config: len(EVAL_SEEDS) - len(values) for config, values in scores.items() if len(values) < len(EVAL_SEEDS)}
    if missing:  # a comparison still running: no verdict yet
        lines += ["", "Partial: " + ", ".join(f"{n} {config} run(s) missing" for config, n in missing.items()) + "."]
    if len(scores["bundled"]) >= 2 and len(scores["tuned"]) >= 2:
        p_improvement, low, high = probability_of_improvement(scores["tuned"], scores["bundled"])
        p_value = permutation_p_value(scores["tuned"], scores["bundled"])
        lines += [
            "",
            f"P(tuned > bundled) = {p_improvement:.2f} [{low:.2f}, {high:.2f}]; exact permutation p = {p_value:.3g}.",
        ]
    (RESULTS / f"tuned_{args.algo}_{args.env}.md").write_text("\n".join(lines) + "\n")
    for name, plot in (("history", plot_optimization_history), ("importances", plot_param_importances)):
        plot(study)
        plt.gcf().set_size_inches(7, 4.5)
        plt.tight_layout()
        plt.savefig(IMAGES / f"tuning_{args.algo}_{args.env}_{name}.png", dpi=100)
        plt.close("all")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("study", "compare", "report"))
    parser.add_argument("--algo", default="sacv1")
    parser.add_argument("--env", default="Pendulum-v1")
    parser.add_argument("--n-trials", type=int, default=24)
    parser.add_argument("--trial-timesteps", type=int, default=10_000)
    parser.add_argument("--n-evaluations", type=int, default=2)
    parser.add_argument("--trial-eval-episodes", type=int, default=10)
    parser.add_argument("--final-eval-episodes", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    {"study": command_study, "compare": command_compare, "report": command_report}[args.command](args)


if __name__ == "__main__":
    sys.path[:0] = [str(HERE.parent), str(HERE)]
    main()
