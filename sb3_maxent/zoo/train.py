"""
Train with RL Baselines3 Zoo's own training loop, our algorithms registered.

``python -m sb3_maxent.train --algo sacv1 --env Pendulum-v1`` takes every flag of
``python -m rl_zoo3.train``. Differences: ``-conf`` defaults to our bundled config for our algorithms,
``--trial-id 0`` works (rl_zoo3 2.9 ignores trial 0), ``-optimize`` without ``--storage`` keeps its study in a
journal file under the log folder (``<log folder>/<algo>/optuna/<env>.log``, study ``<algo>_<env>``, so that a crashed
tuning run resumes with the same command and ``optuna-dashboard`` can read it), and after training the saved model
is evaluated deterministically (``--final-eval-episodes``, 0 to skip).
"""

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from sb3_maxent.zoo.extras import require_or_exit
from sb3_maxent.zoo.register import ALGORITHMS, config_path, register_algorithms


def _own_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group(
        "sb3_maxent options",
        f"-conf defaults to sb3_maxent's bundled zoo_configs/<algo>.yml for {', '.join(ALGORITHMS)}; -optimize without "
        "--storage keeps its study in <log folder>/<algo>/optuna/<env>.log",
    )
    group.add_argument(
        "--final-eval-episodes",
        type=int,
        default=10,
        metavar="N",
        help="after training, evaluate the saved model deterministically over N episodes (0: skip; default: 10)",
    )
    return parser


def _program_name(argv0: str) -> str:
    """What the user typed: the console script's name, else ``python -m sb3_maxent.train`` (not ``train.py``)."""
    script = os.path.basename(argv0)
    return script if script.startswith("sb3-maxent") else "python -m sb3_maxent.train"


def _print_help(program: str) -> None:
    """rl_zoo3's help under our program name, with our own options after it."""
    import io
    from contextlib import redirect_stdout

    import rl_zoo3.train

    zoo_help = io.StringIO()
    original_argv = sys.argv
    sys.argv = [program, "--help"]
    try:
        with redirect_stdout(zoo_help), contextlib.suppress(SystemExit):
            rl_zoo3.train.train()
    finally:
        sys.argv = original_argv
    own_help = _own_parser().format_help()
    print(zoo_help.getvalue().rstrip() + "\n\n" + own_help[own_help.index("sb3_maxent options") :].rstrip())


def _split_own_arguments(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Take our own flags out of ``argv``; the rest goes to rl_zoo3 untouched."""
    parser = _own_parser()
    own, rest = parser.parse_known_args(argv)
    if own.final_eval_episodes < 0:
        parser.error("--final-eval-episodes must be >= 0")
    return own, rest


def _peek_zoo_arguments(argv: Sequence[str]) -> argparse.Namespace:
    """Read the few rl_zoo3 flags we need to know, without consuming any."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--algo", default="ppo")
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("-f", "--log-folder", default="logs")
    parser.add_argument("-conf", "--conf-file", default=None)
    parser.add_argument("-optimize", "--optimize-hyperparameters", action="store_true")
    parser.add_argument("--seed", type=int, default=-1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--storage", default=None)
    parser.add_argument("--study-name", default=None)
    parser.add_argument("-n", "--n-timesteps", type=int, default=-1)
    parser.add_argument("--gym-packages", nargs="+", default=[])
    parser.add_argument("-h", "--help", action="store_true")
    return parser.parse_known_args(argv)[0]


def _with_default_config(argv: list[str], zoo_args: argparse.Namespace) -> list[str]:
    if zoo_args.conf_file is None and zoo_args.algo in ALGORITHMS:
        return [*argv, "--conf-file", str(config_path(zoo_args.algo))]
    return argv


def _check_before_training(zoo_argv: list[str], zoo_args: argparse.Namespace) -> None:
    """Fail on a config or environment our algorithm cannot use, before rl_zoo3 builds anything."""
    import importlib

    from sb3_maxent.zoo.preflight import check_config_entry, check_environment, check_registered

    for package in zoo_args.gym_packages:
        importlib.import_module(package)  # as rl_zoo3 does, so that their environments are registered
    # the environment first: a misspelt or unusable environment is the problem, not the config's missing entry
    check_registered(zoo_args.env)
    check_environment(zoo_args.algo, zoo_args.env)
    conf_file = _peek_zoo_arguments(zoo_argv).conf_file
    check_config_entry(zoo_args.algo, zoo_args.env, conf_file, zoo_args.n_timesteps)


def default_study_storage(log_folder: str, algo: str, env_id: str) -> str:
    """The journal file that holds a tuning study when the user names no ``--storage``."""
    return os.path.join(log_folder, algo, "optuna", f"{env_id}.log")


def _with_default_storage(argv: list[str], zoo_args: argparse.Namespace) -> list[str]:
    """
    rl_zoo3 keeps a study without ``--storage`` in memory, so a crash loses every trial: store it in a journal file.

    Why the journal and not SQLite (measured, README "Storage"): 43 ms of Optuna overhead per trial against 240 ms,
    several workers on one machine through its file lock (Optuna advises against SQLite for parallel workers), and
    what a kill can do to it is repaired (:func:`sb3_maxent.zoo.tuning.repair_journal`), while a dead worker's trial
    is found by its process id (:func:`sb3_maxent.zoo.tuning.recover_interrupted_trials`). PostgreSQL (``--storage
    postgresql+psycopg://...``) is the path for several machines, with Optuna's heartbeat.
    """
    if not zoo_args.optimize_hyperparameters or zoo_args.storage is not None:
        return argv
    storage = default_study_storage(zoo_args.log_folder, zoo_args.algo, zoo_args.env)
    argv = [*argv, "--storage", storage]
    if zoo_args.study_name is None:
        argv += ["--study-name", f"{zoo_args.algo}_{zoo_args.env}"]
    print(f"Optuna study stored in {storage} (resume with the same command; view with `optuna-dashboard {storage}`)")
    return argv


def create_rdb_schema(storage_url: str, attempts: int = 10) -> None:
    """
    Create Optuna's tables in an empty database, tolerating other workers doing the same at the same moment.

    Several workers started together on a fresh PostgreSQL database race to create Optuna's schema, and all but
    one fail with a duplicate-type or duplicate-table error (seen with Optuna 5, SQLAlchemy 2.1, PostgreSQL 15).
    Once one worker has created it, the others find it: retry after a short, growing pause.
    """
    import optuna
    import sqlalchemy.exc

    for attempt in range(attempts):
        try:
            optuna.storages.RDBStorage(storage_url)
            return
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


class TrialIndex(int):
    """A trial index that is truthy even when 0: rl_zoo3 2.9 tests ``if self.trial_id`` and so ignores trial 0."""

    def __bool__(self) -> bool:
        return True


def _is_temperature_callback(spec: Any) -> bool:
    """Whether a config's ``callback`` item (a class name, or a one-key dict of name and arguments) drives alpha."""
    from rl_zoo3.utils import get_class_by_name

    from sb3_maxent.common.callbacks import EntropyTargetCallback

    name = next(iter(spec)) if isinstance(spec, dict) else spec
    if not isinstance(name, str):
        return isinstance(name, EntropyTargetCallback)
    callback_class = get_class_by_name(name)
    return isinstance(callback_class, type) and issubclass(callback_class, EntropyTargetCallback)


def without_temperature_callbacks(specs: Any) -> tuple[list[Any], list[Any]]:
    """Split a config's ``callback`` entry into the callbacks to keep and those that drive the temperature."""
    specs = [] if specs is None else specs if isinstance(specs, list) else [specs]
    dropped = [spec for spec in specs if _is_temperature_callback(spec)]
    return [spec for spec in specs if spec not in dropped], dropped


@contextmanager
def zoo_experiment_manager_patched() -> Iterator[None]:
    """
    Within the block, rl_zoo3's ExperimentManager honours ``--trial-id 0`` (loads trial 0 of the study, as any other
    trial id), and when tuning leaves the temperature to the search space: each sampler draws ``ent_coef`` (learned or
    fixed), which a config's temperature callback (``EntropyTargetCallback``, ``EpsilonGreedyEntropyCallback``)
    would refuse or overwrite, so those callbacks are left out of the trials (with a note).

    When tuning (:mod:`sb3_maxent.zoo.tuning`): each trial draws with the seed ``--seed`` + its number
    (:func:`trial_seeded_sampler`); a trial that a constructor refuses, that diverges or meets NaN is pruned with
    its reason; and the study runs to its target, resuming after a crash (:func:`run_study_to_target`).
    """
    import rl_zoo3.train
    from rl_zoo3.exp_manager import ExperimentManager

    from sb3_maxent.zoo.tuning import guarded_objective

    class MaxEntExperimentManager(ExperimentManager):
        def __init__(self, *args: Any, **kwargs: Any):
            if kwargs.get("trial_id") == 0:
                kwargs["trial_id"] = TrialIndex(0)
            super().__init__(*args, **kwargs)

        def _create_sampler(self, sampler_method: str) -> Any:
            return trial_seeded_sampler(self, sampler_method) or super()._create_sampler(sampler_method)

        def objective(self, trial: Any) -> float:
            return guarded_objective(super().objective)(trial)

        def hyperparameters_optimization(self) -> None:
            run_study_to_target(self, super().hyperparameters_optimization)

        def _preprocess_hyperparams(self, hyperparams: dict[str, Any]) -> Any:
            if self.optimize_hyperparameters and "callback" in hyperparams:
                kept, dropped = without_temperature_callbacks(hyperparams["callback"])
                if dropped:
                    print(
                        f"Tuning: the search space draws ent_coef, so the config's temperature callback "
                        f"{dropped} is left out of the trials"
                    )
                    hyperparams = {**hyperparams, "callback": kept}
            return super()._preprocess_hyperparams(hyperparams)

    rl_zoo3.train.ExperimentManager = MaxEntExperimentManager  # type: ignore[misc]
    try:
        yield
    finally:
        rl_zoo3.train.ExperimentManager = ExperimentManager  # type: ignore[misc]


def trial_seeded_sampler(manager: Any, sampler_method: str) -> Any:
    """
    rl_zoo3's ``random`` and ``tpe`` samplers (its settings), one per trial, seeded with ``--seed`` + the trial's
    number (:class:`~sb3_maxent.zoo.tuning.TrialSeededSampler`); None for other samplers (left to rl_zoo3).
    """
    from sb3_maxent.zoo.tuning import TrialSeededSampler

    if sampler_method not in TrialSeededSampler.METHODS:
        return None
    return TrialSeededSampler(sampler_method, manager.seed, manager.n_startup_trials)


def run_study_to_target(manager: Any, zoo_optimization: Callable[[], None]) -> None:
    """
    Run rl_zoo3's ``hyperparameters_optimization`` (study, report) with the study made resumable:

    - the target is ``--max-total-trials`` when given (rl_zoo3's meaning: trials of the study across all workers),
      else ``--n-trials``, also counted over the whole study: a rerun after a crash runs the remainder only;
      finished trials (complete or pruned) count, failed ones (their worker gone or interrupted) are retried;
    - a journal file damaged by a kill is repaired; a database storage records heartbeats;
    - the trials of dead workers are failed and retried; SIGTERM and SIGINT fail the running trial (retried on the
      next run), rl_zoo3 writes its report, and the process exits with 128 + the signal's number;
    - the sampler is told the config entry, so that it draws nothing the entry refuses;
    - when no trial completed (all pruned), the report is the CSV of the trials (rl_zoo3 would fail on best_trial).
    """
    import optuna
    from rl_zoo3.hyperparams_opt import HYPERPARAMS_SAMPLER

    from sb3_maxent.zoo.samplers import SAMPLERS, with_config_entry
    from sb3_maxent.zoo.tuning import (
        heartbeat_storage,
        optimize_to_target,
        recover_interrupted_trials,
        repair_journal,
        signals_interrupt,
    )

    target = manager.max_total_trials if manager.max_total_trials is not None else manager.n_trials
    if manager.storage is not None and manager.storage.endswith(".log"):
        repair_journal(manager.storage)
    studies: list[optuna.Study] = []
    create_study = optuna.create_study

    def create_resumable_study(*args: Any, storage: Any = None, **kwargs: Any) -> optuna.Study:
        if isinstance(storage, str):
            storage = heartbeat_storage(storage)
        study = create_study(*args, storage=storage, **kwargs)
        recover_interrupted_trials(study)

        # rl_zoo3 calls study.optimize with its own stopping rule (n_trials more, or MaxTrialsCallback)
        def optimize(objective: Callable[[optuna.Trial], float], *_: Any, **__: Any) -> None:
            try:
                optimize_to_target(study, objective, target, manager.n_jobs)
            finally:
                del study.optimize  # type: ignore[method-assign]  # rl_zoo3 pickles the study afterwards

        study.optimize = optimize  # type: ignore[method-assign,assignment]
        studies.append(study)
        return study

    sampler = HYPERPARAMS_SAMPLER[manager.algo]
    if manager.algo in SAMPLERS:
        HYPERPARAMS_SAMPLER[manager.algo] = with_config_entry(sampler, manager._hyperparams)  # type: ignore[assignment]
    optuna.create_study = create_resumable_study  # type: ignore[assignment]
    try:
        with signals_interrupt() as received:
            try:
                zoo_optimization()
            except ValueError:
                complete = studies and studies[0].get_trials(states=(optuna.trial.TrialState.COMPLETE,))
                if not studies or complete:
                    raise
                report = os.path.join(manager.log_folder, manager.algo, f"report_{manager.env_name}_{int(time.time())}.csv")
                os.makedirs(os.path.dirname(report), exist_ok=True)
                studies[0].trials_dataframe().to_csv(report)
                print(f"No trial completed (see the pruned_reason of each): no best trial. Trials written to {report}")
    finally:
        optuna.create_study = create_study
        HYPERPARAMS_SAMPLER[manager.algo] = sampler
    if received:
        sys.exit(128 + received[0])


def evaluate_latest_run(zoo_args: argparse.Namespace, n_eval_episodes: int) -> tuple[float, float]:
    """
    Evaluate the model that the last run saved, deterministically, as ``rl_zoo3.enjoy`` would load it.

    :return: mean and standard deviation of the episode returns
    """
    from huggingface_sb3 import EnvironmentName
    from rl_zoo3.utils import ALGOS, create_test_env, get_model_path, get_saved_hyperparams
    from stable_baselines3.common.evaluation import evaluate_policy

    # rl_zoo3 names folders after huggingface_sb3's EnvironmentName (a str with a .gym_id)
    env_name = EnvironmentName(zoo_args.env)
    _, model_path, log_path = get_model_path(0, zoo_args.log_folder, zoo_args.algo, env_name)
    from sb3_maxent.zoo.yaml_files import rl_zoo3_reads_yaml_as_data

    with rl_zoo3_reads_yaml_as_data():
        hyperparams, maybe_stats_path = get_saved_hyperparams(os.path.join(log_path, env_name), test_mode=True)
    env = create_test_env(
        env_name.gym_id,
        n_envs=1,
        stats_path=maybe_stats_path,
        seed=max(zoo_args.seed, 0),
        should_render=False,
        hyperparams=hyperparams,
    )
    # The replay buffer is not needed to act: do not allocate a large one
    model = ALGOS[zoo_args.algo].load(model_path, env=env, device=zoo_args.device, custom_objects={"buffer_size": 1})
    episode_returns, _ = evaluate_policy(
        model, env, n_eval_episodes=n_eval_episodes, deterministic=True, return_episode_rewards=True
    )
    env.close()
    returns = np.asarray(episode_returns, dtype=np.float64)
    mean_return, std_return = float(returns.mean()), float(returns.std())
    print(
        f"Deterministic evaluation of {model_path}: mean return {mean_return:.2f} +/- {std_return:.2f} "
        f"over {n_eval_episodes} episodes"
    )
    return mean_return, std_return


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of ``python -m sb3_maxent.train`` and ``sb3-maxent-train``."""
    program = _program_name(sys.argv[0])
    require_or_exit("rl_zoo3", "sb3_contrib", "optuna", program=program)  # the zoo extra
    register_algorithms()
    import rl_zoo3.train

    own_args, zoo_argv = _split_own_arguments(sys.argv[1:] if argv is None else argv)
    zoo_args = _peek_zoo_arguments(zoo_argv)
    if zoo_args.help:
        _print_help(program)
        return
    zoo_argv = _with_default_config(zoo_argv, zoo_args)
    zoo_argv = _with_default_storage(zoo_argv, zoo_args)
    if zoo_args.algo in ALGORITHMS:
        try:
            _check_before_training(zoo_argv, zoo_args)
        except ValueError as error:
            sys.exit(f"{program}: error: {error}")
    storage = _peek_zoo_arguments(zoo_argv).storage
    if storage is not None and storage.split("://")[0] == "postgresql+psycopg":
        require_or_exit("psycopg", program=program)  # the postgres extra
    if storage is not None and storage.endswith(".log"):
        from sb3_maxent.zoo.tuning import repair_journal

        repair_journal(storage)  # a worker killed mid-write left it unreadable (also for --trial-id)
    elif zoo_args.optimize_hyperparameters and storage is not None:
        create_rdb_schema(storage)

    # rl_zoo3.train.train() parses sys.argv itself
    original_argv = sys.argv
    sys.argv = [program, *zoo_argv]  # rl_zoo3's usage and error lines name the program the user ran
    try:
        with zoo_experiment_manager_patched():
            rl_zoo3.train.train()
    finally:
        sys.argv = original_argv

    if own_args.final_eval_episodes > 0 and not zoo_args.optimize_hyperparameters:
        evaluate_latest_run(zoo_args, own_args.final_eval_episodes)


if __name__ == "__main__":
    main()
