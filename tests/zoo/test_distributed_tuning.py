"""Several tuning workers on one Optuna study in a real PostgreSQL server, as on several machines."""

import contextlib
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from postgres_server import PostgresUnavailable, throwaway_cluster

pytest.importorskip("rl_zoo3")
pytest.importorskip("psycopg")

# .ci/run sets this: there the server must start, and a skip would hide a broken set-up
REQUIRE_POSTGRES = os.environ.get("SB3_MAXENT_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="module")
def postgres_url():
    try:
        with throwaway_cluster() as url:
            yield url
    except PostgresUnavailable as error:
        if REQUIRE_POSTGRES:
            pytest.fail(f"SB3_MAXENT_REQUIRE_POSTGRES=1 but no PostgreSQL server could be started: {error}")
        pytest.skip(f"no PostgreSQL server could be started here: {error}")


def tuning_worker(folder, storage: str, seed: int, study_name: str = "two_workers") -> subprocess.Popen:
    command = [sys.executable, "-m", "sb3_maxent.train", "--algo", "soft_vi", "--env", "Taxi-v4", "-f", str(folder)]
    command += ["-optimize", "--max-total-trials", "4", "-n", "3000", "--n-evaluations", "2", "--eval-episodes", "2"]
    command += ["--sampler", "random", "--pruner", "none", "--storage", storage, "--study-name", study_name]
    command += ["--seed", str(seed)]
    # a heartbeat every second: a worker that dies is noticed within seconds (defaults: 60 s, grace 180 s)
    env = {**os.environ, "SB3_MAXENT_HEARTBEAT_INTERVAL": "1", "SB3_MAXENT_HEARTBEAT_GRACE_PERIOD": "3"}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def trials_run_by(log: str) -> set[int]:
    """Trial numbers this worker finished, read from Optuna's own log lines."""
    return {int(number) for number in re.findall(r"Trial (\d+) (?:finished|pruned)", log)}


def test_two_workers_share_one_study_and_respect_max_total_trials(tmp_path, postgres_url):
    import optuna

    workers = [tuning_worker(tmp_path / f"worker{seed}", postgres_url, seed) for seed in (1, 2)]
    logs = []
    for worker in workers:
        stdout, stderr = worker.communicate(timeout=900)
        assert worker.returncode == 0, stderr[-3000:]
        logs.append(stdout + stderr)

    study = optuna.load_study(study_name="two_workers", storage=postgres_url)
    assert len(study.trials) == 4  # --max-total-trials, counted across workers
    finished = {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}
    assert all(trial.state in finished for trial in study.trials), [trial.state for trial in study.trials]
    assert all(np.isfinite(trial.value) for trial in study.trials if trial.state == optuna.trial.TrialState.COMPLETE)

    per_worker = [trials_run_by(log) for log in logs]
    assert all(per_worker), f"a worker ran no trial: {per_worker}"
    assert per_worker[0].isdisjoint(per_worker[1])
    assert per_worker[0] | per_worker[1] == {trial.number for trial in study.trials}  # nothing lost


def test_a_worker_killed_mid_trial_leaves_the_other_to_finish_the_study(tmp_path, postgres_url):
    """
    Two workers with the same command (same --seed); one is killed (SIGKILL) in the middle of a trial: the other
    fails that trial, runs it again with its parameters, and finishes the study: 4 finished trials, none RUNNING,
    none lost, no parameters drawn twice.
    """
    import optuna
    import sqlalchemy.exc
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    victim, survivor = (tuning_worker(tmp_path / f"worker{i}", postgres_url, 1, "one_killed") for i in range(2))
    # one storage (one connection pool) for all the polling: a new one per poll leaked connections until the
    # server's max_connections refused the workers; the workers create the tables, this one only reads
    storage = optuna.storages.RDBStorage(postgres_url, skip_table_creation=True, skip_compatibility_check=True)
    deadline = time.monotonic() + 300
    killed = None
    while killed is None and time.monotonic() < deadline:
        assert victim.poll() is None and survivor.poll() is None, "a worker ended before the kill"
        # the tables or the study are not created yet
        with contextlib.suppress(KeyError, sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.StorageInternalError):
            study = optuna.load_study(study_name="one_killed", storage=storage)
            for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                if trial.user_attrs.get("worker", {}).get("pid") == victim.pid:
                    victim.kill()
                    killed = trial.number
                    break
        time.sleep(0.05)
    assert killed is not None, "the victim ran no trial"
    victim.wait(timeout=60)
    finished_before = {t.number: t.params for t in study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))}
    _, stderr = survivor.communicate(timeout=900)
    assert survivor.returncode == 0, stderr[-3000:]

    study = optuna.load_study(study_name="one_killed", storage=storage)
    states = [trial.state for trial in study.trials]
    assert states.count(TrialState.COMPLETE) + states.count(TrialState.PRUNED) == 4, states
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states
    assert study.trials[killed].state == TrialState.FAIL
    for number, params in finished_before.items():
        assert study.trials[number].params == params
    (retry,) = [t for t in study.trials if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) == killed]
    assert retry.state == TrialState.COMPLETE and study.trials[killed].params.items() <= retry.params.items()
    drawn = [
        repr(sorted(t.params.items()))
        for t in study.trials
        if RetryHeartbeatStaleTrialCallback.retried_trial_number(t) is None
    ]
    assert len(drawn) == len(set(drawn))  # the same --seed on both workers, yet no draw repeated
