"""
Tuning with RL Baselines3 Zoo, end to end: an Optuna study through ``python -m sb3_maxent.train -optimize``,
then the best trial retrained with ``--trial-id`` and compared with the bundled default config.

    python benchmarks/tuned_vs_default.py --algo soft_vi --env FrozenLake8x8-v1 --n-trials 30

Every step is the user's own command line (run as subprocesses); the study lives in the default journal file
under the log folder. Both final models get the same deterministic evaluation (``--final-eval-episodes``).
Writes ``benchmarks/results/tuned_<algo>_<env>.md``.
"""

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algo", default="soft_vi")
    parser.add_argument("--env", default="FrozenLake8x8-v1")
    parser.add_argument("--n-trials", type=int, default=30)
    parser.add_argument("--trial-timesteps", type=int, default=2000)
    parser.add_argument("--trial-eval-episodes", type=int, default=200)
    parser.add_argument("--final-eval-episodes", type=int, default=1000)
    args = parser.parse_args()
    import optuna

    with tempfile.TemporaryDirectory() as folder:
        base = ["--algo", args.algo, "--env", args.env, "-f", folder, "--seed", "0"]
        train([*base, "-optimize", "--n-trials", str(args.n_trials), "-n", str(args.trial_timesteps),
               "--n-evaluations", "2", "--eval-episodes", str(args.trial_eval_episodes), "--sampler", "tpe",
               "--pruner", "median"])  # fmt: skip
        study_name = f"{args.algo}_{args.env}"
        journal = Path(folder) / args.algo / "optuna" / f"{args.env}.log"
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
        best = optuna.load_study(study_name=study_name, storage=storage).best_trial
        final = ["--final-eval-episodes", str(args.final_eval_episodes), "--eval-freq", "-1"]
        default = final_evaluation(train([*base, *final]))
        tuned = final_evaluation(
            train([*base, *final, "--storage", str(journal), "--study-name", study_name, "--trial-id", str(best.number)])
        )

    params = ", ".join(
        f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}" for key, value in best.params.items()
    )
    lines = [
        f"### {args.algo} on {args.env}: bundled config vs the best of {args.n_trials} Optuna trials",
        "",
        f"Study: TPE sampler, median pruner, {args.trial_timesteps} steps and {args.trial_eval_episodes} evaluation "
        f"episodes per trial. Best trial: #{best.number} ({params}), trial score {best.value:.3f}. "
        f"Final models: deterministic evaluation over {args.final_eval_episodes} episodes.",
        "",
        "| config | mean return | std |",
        "|---|---|---|",
        f"| bundled `zoo_configs/{args.algo}.yml` | {default[0]:.3f} | {default[1]:.3f} |",
        f"| tuned (trial #{best.number}) | {tuned[0]:.3f} | {tuned[1]:.3f} |",
    ]
    table = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"tuned_{args.algo}_{args.env}.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
