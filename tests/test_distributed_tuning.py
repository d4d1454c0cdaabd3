"""Several tuning workers on one Optuna study in a real PostgreSQL server, as on several machines."""

import os
import re
import subprocess
import sys

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


def tuning_worker(folder, storage: str, seed: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "sb3_maxent.train", "--algo", "soft_vi", "--env", "Taxi-v4", "-f", str(folder)]
    command += ["-optimize", "--max-total-trials", "4", "-n", "3000", "--n-evaluations", "2", "--eval-episodes", "2"]
    command += ["--sampler", "random", "--pruner", "none", "--storage", storage, "--study-name", "two_workers"]
    command += ["--seed", str(seed)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


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
