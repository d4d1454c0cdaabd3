"""
Fault injection on the tuning path (``python -m sb3_maxent.train -optimize``): refused combinations, diverging trials,
workers killed mid-trial (SIGKILL, SIGTERM, SIGINT), a journal torn mid-write. Each fault ends as a pruned or retried
trial, and rerunning the same command completes the study: nothing lost, nothing RUNNING forever, nothing repeated.
"""

import argparse
import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import warnings

import gymnasium as gym
import numpy as np
import optuna
import pytest
import yaml
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from sb3_maxent.common.validation import DivergenceError, EnvironmentDataError
from sb3_maxent.zoo.register import config_path, register_algorithms
from sb3_maxent.zoo.tuning import PRUNED_REASON_ATTR, TrialSeededSampler, guarded_objective, repair_journal

pytest.importorskip("rl_zoo3")
optuna.logging.set_verbosity(optuna.logging.WARNING)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def journal_study(path, study_name: str) -> optuna.Study:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    return optuna.load_study(study_name=study_name, storage=storage)


# ---------------------------------------------------------------------------------------------------------------------
# 1. every combination a sampler draws, on every entry of every bundled config, builds its model
# ---------------------------------------------------------------------------------------------------------------------

ENTRIES = [
    (algo, env_id) for algo in ("sacv1", "sql", "msql", "soft_vi") for env_id in yaml.safe_load(config_path(algo).read_text())
]
N_DRAWS = 200


def tuning_manager(algo: str, env_id: str, log_folder: str):
    """rl_zoo3's ExperimentManager (ours) set up for tuning: the config entry read and preprocessed as for a study."""
    import rl_zoo3.train

    from sb3_maxent.zoo.train import zoo_experiment_manager_patched

    register_algorithms()
    with zoo_experiment_manager_patched():
        manager = rl_zoo3.train.ExperimentManager(
            argparse.Namespace(),
            algo,
            env_id,
            log_folder,
            optimize_hyperparameters=True,
            config=str(config_path(algo)),
            n_timesteps=100,
            verbose=0,
            device="cpu",
        )
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            manager.setup_experiment()
    return manager


# The spaces of the bundled entries' environments whose simulator is an optional extra (``mujoco``; Box2D in
# ``benchmark``): a constructor needs only an environment's spaces, so where the simulator is missing (the ``test``
# extra alone, as in CI) the draws are built on a stand-in with these spaces. Observation bounds are left open (no
# constructor check reads them); test_the_recorded_spaces_are_those_of_the_environments checks the table wherever
# the simulators are installed.
UNIT_BOX = {"low": -1.0, "high": 1.0, "dtype": np.float32}
LANDER_OBSERVATION = (8,), np.float32
RECORDED_SPACES: dict[str, tuple[tuple[tuple[int, ...], type], gym.Space]] = {
    "Ant-v5": (((105,), np.float64), gym.spaces.Box(shape=(8,), **UNIT_BOX)),
    "BipedalWalker-v3": (((24,), np.float32), gym.spaces.Box(shape=(4,), **UNIT_BOX)),
    "HalfCheetah-v5": (((17,), np.float64), gym.spaces.Box(shape=(6,), **UNIT_BOX)),
    "Hopper-v5": (((11,), np.float64), gym.spaces.Box(shape=(3,), **UNIT_BOX)),
    "Humanoid-v5": (((348,), np.float64), gym.spaces.Box(-0.4, 0.4, shape=(17,), dtype=np.float32)),
    "LunarLander-v3": (LANDER_OBSERVATION, gym.spaces.Discrete(4)),
    "LunarLanderContinuous-v3": (LANDER_OBSERVATION, gym.spaces.Box(shape=(2,), **UNIT_BOX)),
    "Swimmer-v5": (((8,), np.float64), gym.spaces.Box(shape=(2,), **UNIT_BOX)),
    "Walker2d-v5": (((17,), np.float64), gym.spaces.Box(shape=(6,), **UNIT_BOX)),
}


class SpacesOnlyEnv(gym.Env):
    """An environment with given spaces and nothing behind them (zeros, reward 0): enough to build a model."""

    def __init__(self, observation: tuple[tuple[int, ...], type], action_space: gym.Space):
        shape, dtype = observation
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape, dtype)
        self.action_space = action_space

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(self.observation_space.shape, self.observation_space.dtype), {}

    def step(self, action):
        return np.zeros(self.observation_space.shape, self.observation_space.dtype), 0.0, False, False, {}


@pytest.fixture
def simulated_where_missing(monkeypatch):
    """Registers a stand-in with the recorded spaces for an environment whose simulator is not installed."""
    import dataclasses

    def simulate(env_id: str) -> None:
        try:
            gym.make(env_id).close()
        except (ImportError, gym.error.DependencyNotInstalled):
            spec = gym.envs.registration.registry[env_id]
            stand_in = dataclasses.replace(
                spec,
                entry_point=SpacesOnlyEnv,
                kwargs=dict(zip(("observation", "action_space"), RECORDED_SPACES[env_id], strict=True)),
            )
            monkeypatch.setitem(gym.envs.registration.registry, env_id, stand_in)

    return simulate


@pytest.mark.parametrize("env_id", sorted(RECORDED_SPACES))
def test_the_recorded_spaces_are_those_of_the_environments(env_id):
    try:
        env = gym.make(env_id)
    except (ImportError, gym.error.DependencyNotInstalled) as error:
        pytest.skip(f"{env_id} needs a simulator that is not installed: {error}")
    stand_in = SpacesOnlyEnv(*RECORDED_SPACES[env_id])
    assert env.observation_space.shape == stand_in.observation_space.shape
    assert env.observation_space.dtype == stand_in.observation_space.dtype
    assert env.action_space == stand_in.action_space
    env.close()


@pytest.mark.parametrize(("algo", "env_id"), ENTRIES)
def test_every_sampled_combination_builds_on_every_bundled_entry(tmp_path, algo, env_id, simulated_where_missing):
    """
    N_DRAWS random draws of the search space (optuna's RandomSampler, fixed seed), each merged into the entry as
    rl_zoo3's objective merges it, and the model built (``_init_setup_model``, no learning). Networks are shrunk and
    the replay buffer capped, for time and memory only: no constructor check reads their sizes.
    """
    from rl_zoo3.hyperparams_opt import HYPERPARAMS_SAMPLER
    from rl_zoo3.utils import ALGOS

    from sb3_maxent.zoo.samplers import with_config_entry

    if env_id in RECORDED_SPACES:
        simulated_where_missing(env_id)
    manager = tuning_manager(algo, "Pendulum-v1" if env_id == "default" else env_id, str(tmp_path))
    sample = with_config_entry(HYPERPARAMS_SAMPLER[algo], manager._hyperparams)  # as run_study_to_target does
    env = manager.create_envs(1, no_log=True)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    refused = {}
    for _ in range(N_DRAWS):
        trial = study.ask()
        kwargs = {**manager._hyperparams, **sample(trial, manager.n_actions, 1, {"using_her_replay_buffer": False})}
        if isinstance(kwargs.get("policy_kwargs"), dict) and "net_arch" in kwargs["policy_kwargs"]:
            kwargs["policy_kwargs"] = {**kwargs["policy_kwargs"], "net_arch": [4]}
        if "buffer_size" in kwargs or algo != "soft_vi":
            kwargs["buffer_size"] = min(int(kwargs.get("buffer_size", 1000)), 1000)
        try:
            ALGOS[algo](env=env, seed=None, verbose=0, device="cpu", **kwargs)
        except Exception as error:  # any refusal is a failure here
            refused[f"{type(error).__name__}: {error}"] = trial.params
        study.tell(trial, 0.0)
    env.close()
    assert not refused, f"{len(refused)} refused draws, for example {next(iter(refused.items()))}"


def test_the_config_entry_decides_what_is_not_drawn():
    """An entry with target_entropy: DQN's exploration arguments, which set a target too, are not drawn."""
    from sb3_maxent.zoo.samplers import sample_sql_params, with_config_entry

    with_target = with_config_entry(sample_sql_params, {"target_entropy": 0.1})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(50):
        trial = study.ask()
        assert "exploration_fraction" not in with_target(trial, 0, 1, {"using_her_replay_buffer": False})
        study.tell(trial, 0.0)
    drawn = set()
    for _ in range(20):  # without it, a learned temperature draws them
        trial = study.ask()
        drawn |= set(sample_sql_params(trial, 0, 1, {"using_her_replay_buffer": False}))
        study.tell(trial, 0.0)
    assert "exploration_fraction" in drawn


# ---------------------------------------------------------------------------------------------------------------------
# 2. a refused combination, a diverging trial, NaN: pruned with the reason, the study goes on
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        ValueError("pass target_entropy or exploration_fraction (which schedules it), not both"),
        DivergenceError("critic loss is nan at step 12"),
        EnvironmentDataError("the environment returned a NaN reward"),
        AssertionError("bad"),
        float("nan"),
        float("inf"),
    ],
    ids=repr,
)
def test_a_faulty_trial_is_pruned_with_its_reason_and_the_study_goes_on(fault):
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        if trial.number == 1:
            if isinstance(fault, float):
                return fault
            raise fault
        return x

    study = optuna.create_study(direction="maximize")
    study.optimize(guarded_objective(objective), n_trials=3)
    assert [trial.state for trial in study.trials] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE]
    reason = study.trials[1].user_attrs[PRUNED_REASON_ATTR]
    assert (str(fault) if isinstance(fault, float) else type(fault).__name__) in reason


def soft_vi_command(folder, n_trials: int, *extra: str) -> list[str]:
    command = [sys.executable, "-m", "sb3_maxent.train", "--algo", "soft_vi", "--env", "FrozenLake-v1"]
    command += ["-f", str(folder), "-optimize", "--n-trials", str(n_trials), "-n", "3000", "--n-evaluations", "3"]
    return [*command, "--eval-episodes", "5", "--sampler", "random", "--seed", "1", *extra]


@pytest.mark.parametrize("error", [DivergenceError, EnvironmentDataError, ValueError])
def test_a_diverging_trial_is_pruned_and_the_study_reaches_its_count_and_report(tmp_path, monkeypatch, error):
    """The learning of trial 1 raises (rl_zoo3 prunes only ValueError and AssertionError): the study goes on."""
    from sb3_maxent import SoftValueIteration
    from sb3_maxent.zoo.train import main

    learn = SoftValueIteration.learn
    calls = []

    def diverging(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise error("the soft Bellman residual is nan (injected)")
        return learn(self, *args, **kwargs)

    monkeypatch.setattr(SoftValueIteration, "learn", diverging)
    main(soft_vi_command(tmp_path, 3, "--n-evaluations", "1", "-n", "500")[3:])
    study = journal_study(tmp_path / "soft_vi" / "optuna" / "FrozenLake-v1.log", "soft_vi_FrozenLake-v1")
    assert [trial.state for trial in study.trials] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.COMPLETE]
    assert error.__name__ in study.trials[1].user_attrs[PRUNED_REASON_ATTR]
    assert list((tmp_path / "soft_vi").glob("report_FrozenLake-v1_*.csv"))


def test_a_study_whose_trials_are_all_pruned_still_writes_its_report(tmp_path, monkeypatch):
    from sb3_maxent import SoftValueIteration
    from sb3_maxent.zoo.train import main

    def diverging(self, *args, **kwargs):
        raise DivergenceError("injected")

    monkeypatch.setattr(SoftValueIteration, "learn", diverging)
    main(soft_vi_command(tmp_path, 2, "--n-evaluations", "1", "-n", "500")[3:])
    study = journal_study(tmp_path / "soft_vi" / "optuna" / "FrozenLake-v1.log", "soft_vi_FrozenLake-v1")
    assert [trial.state for trial in study.trials] == [TrialState.PRUNED, TrialState.PRUNED]
    assert list((tmp_path / "soft_vi").glob("report_FrozenLake-v1_*.csv"))


# ---------------------------------------------------------------------------------------------------------------------
# 3. a worker killed mid-trial; the rerun of the same command completes the study
# ---------------------------------------------------------------------------------------------------------------------


def wait_for_running_trial(journal, study_name: str, worker: subprocess.Popen, after: int = 1) -> optuna.Study:
    """Poll the journal until a trial is RUNNING, ``after`` trials being finished already."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        assert worker.poll() is None, worker.communicate()[1][-3000:]
        if journal.exists():
            with contextlib.suppress(KeyError, ValueError):  # the study is not created yet
                study = journal_study(journal, study_name)
                trials = study.get_trials(deepcopy=False)
                running = [trial for trial in trials if trial.state == TrialState.RUNNING]
                if running and sum(trial.state in FINISHED for trial in trials) >= after:
                    return study
        time.sleep(0.05)
    raise AssertionError("no trial ran")


def assert_study_complete(study: optuna.Study, target: int, finished_before: dict[int, dict]) -> None:
    trials = study.get_trials(deepcopy=False)
    assert not [trial.number for trial in trials if trial.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert sum(trial.state in FINISHED for trial in trials) == target, [trial.state for trial in trials]
    for number, params in finished_before.items():  # no finished trial lost
        assert study.trials[number].state in FINISHED and study.trials[number].params == params
    # no parameter set drawn twice: only a retry of an interrupted trial repeats that trial's parameters
    drawn = [
        json.dumps(t.params, sort_keys=True)
        for t in trials
        if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) is None
    ]
    assert len(drawn) == len(set(drawn)), drawn


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGKILL, -9), (signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_killed_worker_is_resumed_by_the_same_command(tmp_path, signum, status):
    journal = tmp_path / "soft_vi" / "optuna" / "FrozenLake-v1.log"
    command = soft_vi_command(tmp_path, 3)
    worker = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    study = wait_for_running_trial(journal, "soft_vi_FrozenLake-v1", worker)
    worker.send_signal(signum)
    _, stderr = worker.communicate(timeout=120)
    assert worker.returncode == status, stderr[-3000:]
    study = journal_study(journal, "soft_vi_FrozenLake-v1")
    finished_before = {trial.number: trial.params for trial in study.trials if trial.state in FINISHED}
    interrupted = [
        trial for trial in study.trials if trial.state != TrialState.COMPLETE and trial.number not in finished_before
    ]
    if signum != signal.SIGKILL:  # the worker failed its trial on the way out, and wrote its report
        assert [trial.state for trial in interrupted] == [TrialState.FAIL]
        assert interrupted[0].user_attrs["interrupted"] == signal.Signals(signum).name
        assert list((tmp_path / "soft_vi").glob("report_FrozenLake-v1_*.csv"))

    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    study = journal_study(journal, "soft_vi_FrozenLake-v1")
    assert_study_complete(study, 3, finished_before)
    (lost,) = interrupted
    assert study.trials[lost.number].state == TrialState.FAIL
    retries = [trial for trial in study.trials if RetryHeartbeatStaleTrialCallback.retried_trial_number(trial) == lost.number]
    # retried once, with the parameters it had drawn when it was stopped (and draws the rest)
    assert len(retries) == 1 and lost.params.items() <= retries[0].params.items()

    if signum != signal.SIGKILL:
        return
    # and once complete, the same command runs nothing more
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0 and "nothing to run" in result.stdout, result.stderr[-3000:]
    assert len(journal_study(journal, "soft_vi_FrozenLake-v1").trials) == len(study.trials)


def test_only_the_trials_of_dead_workers_are_failed_and_retried_once(tmp_path):
    from sb3_maxent.zoo import tuning

    dead = subprocess.Popen(["true"])
    dead.wait()
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "s.log")))
    study = optuna.create_study(storage=storage)
    owners = {
        "dead": {"host": socket.gethostname(), "pid": dead.pid, "started": "1"},
        "alive": {"host": socket.gethostname(), "pid": os.getppid(), "started": tuning._process_start_time(os.getppid())},
        "elsewhere": {"host": "another-machine", "pid": dead.pid, "started": "1"},
    }
    for owner in owners.values():
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        trial.set_user_attr("worker", {**owner, "trial": trial.number})
    assert tuning.recover_interrupted_trials(study) == [0]
    assert tuning.recover_interrupted_trials(study) == []  # once
    states = [trial.state for trial in study.trials]
    assert states == [TrialState.FAIL, TrialState.RUNNING, TrialState.RUNNING, TrialState.WAITING]
    assert study.trials[3].params == study.trials[0].params and "worker" not in study.trials[3].user_attrs
    assert tuning.study_progress(study) == (0, 2)


def test_trial_seeded_sampler_never_repeats_a_draw_across_runs_and_workers():
    storage = optuna.storages.InMemoryStorage()
    for _run in range(3):  # three runs (or workers) with the same --seed on one study
        study = optuna.create_study(
            study_name="s", storage=storage, load_if_exists=True, sampler=TrialSeededSampler("random", 7)
        )
        study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=4)
    xs = [trial.params["x"] for trial in study.trials]
    assert len(set(xs)) == 12
    # trial k draws the same, whichever run draws it
    again = optuna.create_study(sampler=TrialSeededSampler("random", 7))
    again.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=4)
    assert [trial.params["x"] for trial in again.trials] == xs[:4]
    tpe = optuna.create_study(sampler=TrialSeededSampler("tpe", 7, n_startup_trials=2))
    tpe.optimize(lambda trial: trial.suggest_float("x", 0, 1) ** 2, n_trials=6)
    assert len({trial.params["x"] for trial in tpe.trials}) == 6


# ---------------------------------------------------------------------------------------------------------------------
# 4. a journal torn by a kill mid-write
# ---------------------------------------------------------------------------------------------------------------------


def small_journal_study(path, n_trials: int) -> optuna.Study:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    study = optuna.create_study(study_name="s", storage=storage, load_if_exists=True)
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=n_trials)
    return study


def test_a_torn_last_line_is_dropped_with_a_warning_naming_the_file(tmp_path):
    path = tmp_path / "study.log"
    small_journal_study(path, 2)
    with open(path, "ab") as journal:
        journal.write(b'{"op_code":5,"worker_id":"dead","trial_id":')  # a write cut by SIGKILL
    with pytest.raises(ValueError):  # Optuna alone: the next run appends to the torn line, and cannot read it back
        small_journal_study(path, 1)
    with pytest.raises(ValueError):
        journal_study(path, "s")
    with pytest.warns(UserWarning, match=str(path)):
        assert repair_journal(str(path))
    study = journal_study(path, "s")
    # the operation appended to the torn line is kept: the next run's trial, which it could not finish
    assert [trial.state for trial in study.trials] == [TrialState.COMPLETE] * 2 + [TrialState.RUNNING]
    small_journal_study(path, 1)
    assert list(tmp_path.glob("study.log.damaged-*"))
    assert not repair_journal(str(path))  # a sound file is left alone


def test_the_command_repairs_a_torn_journal(tmp_path):
    journal = tmp_path / "soft_vi" / "optuna" / "FrozenLake-v1.log"
    command = soft_vi_command(tmp_path, 2, "-n", "500", "--n-evaluations", "1")
    assert subprocess.run(command, capture_output=True, timeout=600, check=False).returncode == 0
    with open(journal, "ab") as file:
        file.write(b'{"op_code":8,"worker_id":"de')
    result = subprocess.run(
        soft_vi_command(tmp_path, 3, "-n", "500", "--n-evaluations", "1"),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Optuna journal {journal} was damaged" in result.stderr
    assert sum(trial.state in FINISHED for trial in journal_study(journal, "soft_vi_FrozenLake-v1").trials) == 3


# ---------------------------------------------------------------------------------------------------------------------
# 5. YAML files are read as data
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".yml", ".yaml"])
def test_a_python_tag_in_a_config_is_refused_naming_the_file_and_never_run(tmp_path, suffix):
    from sb3_maxent.zoo.train import main

    marker = tmp_path / "ran"
    config = tmp_path / f"evil{suffix}"
    config.write_text(f"FrozenLake-v1:\n  n_timesteps: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(SystemExit, match=rf"{config}, line 2: the tag !!python/object/apply:os.system builds a Python"):
        main(["--algo", "soft_vi", "--env", "FrozenLake-v1", "-conf", str(config), "-f", str(tmp_path), "-optimize"])
    assert not marker.exists()


@pytest.mark.parametrize("suffix", [".yml", ".yaml"])
def test_yml_and_yaml_configs_both_work(tmp_path, suffix):
    from sb3_maxent.zoo.train import main

    config = tmp_path / f"soft_vi{suffix}"
    config.write_text(config_path("soft_vi").read_text())
    main(["--algo", "soft_vi", "--env", "FrozenLake-v1", "-conf", str(config), "-f", str(tmp_path), "-n", "200"])
    (saved,) = (tmp_path / "soft_vi").glob("FrozenLake-v1_*/FrozenLake-v1/config.yml")
    from sb3_maxent.zoo.yaml_files import load_yaml

    assert dict(load_yaml(saved))["ent_coef"] == pytest.approx(1e-3)  # rl_zoo3's OrderedDict, read as data


def test_rl_zoo3s_saved_files_are_read_as_data():
    from collections import OrderedDict

    from sb3_maxent.zoo.yaml_files import DataLoader, UnsafeYamlError, rl_zoo3_reads_yaml_as_data

    saved = yaml.dump(OrderedDict([("env", "Pendulum-v1"), ("train_freq", (1, "step")), ("gamma", 0.99)]))
    assert yaml.load(saved, Loader=DataLoader) == OrderedDict(
        [("env", "Pendulum-v1"), ("train_freq", (1, "step")), ("gamma", 0.99)]
    )
    with rl_zoo3_reads_yaml_as_data(), pytest.raises(UnsafeYamlError):  # rl_zoo3's own call, inside our commands
        yaml.load("!!python/object/apply:os.getcwd []", Loader=yaml.UnsafeLoader)
    assert yaml.UnsafeLoader is not DataLoader
