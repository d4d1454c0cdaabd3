"""
What makes a tuning study (``python -m sb3_maxent.train -optimize``) survive its workers: a trial that diverges is
pruned with its reason, a worker that dies (killed by SIGKILL, SIGTERM or Ctrl-C, or its machine lost) leaves no trial
RUNNING forever, a journal file torn by a kill mid-write is repaired, and a rerun of the same command completes the
study to its target without repeating parameters.

The pieces, used by :mod:`sb3_maxent.zoo.train` around rl_zoo3's ``ExperimentManager``:

- :func:`repair_journal`: the journal file keeps one JSON operation per line; a worker killed mid-write leaves a
  last line without its newline, and the next worker's first operation was appended to that line, after which Optuna
  could not read the study at all. The damaged lines are dropped (the operation appended to a torn line is kept),
  with a warning naming the file and a copy of the damaged file next to it.
- :func:`recover_interrupted_trials`: a RUNNING trial whose worker is gone is failed, and every trial failed that way
  (or by a signal) is retried once with its parameters (Optuna's ``RetryHeartbeatStaleTrialCallback``, up to
  :data:`MAX_RETRY` times, so that a trial that itself kills its worker does not loop). A worker records itself on
  its trial (:func:`record_worker`); on the same machine a dead process is seen at once, elsewhere through Optuna's
  heartbeat (database storages only: :func:`heartbeat_storage`).
- :class:`TrialSeededSampler`: each trial draws with the seed ``--seed`` + its trial number, so that a rerun, or
  a second worker started with the same ``--seed``, never repeats the draws of earlier trials, and a study is still
  reproducible trial by trial.
- :func:`optimize_to_target`: runs trials until the study holds ``target`` finished (complete or pruned) trials,
  counting those of every run and every worker; while the running trials of other workers would reach the target, it
  waits for them, and takes over their trial if their worker dies.
"""

import contextlib
import copy
import json
import math
import os
import shutil
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sb3_maxent.common.validation import DivergenceError
from sb3_maxent.zoo.extras import missing_message

try:
    import optuna
except ModuleNotFoundError as error:  # pip install sb3_maxent: the algorithms only
    raise ModuleNotFoundError(missing_message("optuna", "sb3_maxent.zoo.tuning"), name="optuna") from error
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import FrozenTrial, TrialState

# How often a worker on a database storage records that it is alive, and after how long without a record its running
# trial is failed and retried by another worker (Optuna's heartbeat; the journal file has none: there a dead worker
# is found by its process id, on the same machine). Environment variables override them (tests use seconds).
HEARTBEAT_INTERVAL_S = int(os.environ.get("SB3_MAXENT_HEARTBEAT_INTERVAL", "60"))
HEARTBEAT_GRACE_PERIOD_S = int(os.environ.get("SB3_MAXENT_HEARTBEAT_GRACE_PERIOD", "180"))
# how many times the parameters of a trial whose worker died are tried again
MAX_RETRY = 2
# a RUNNING trial on which no worker recorded itself (it was killed between creating the trial and recording
# itself, a few milliseconds) is taken as dead after this long
UNOWNED_GRACE_PERIOD_S = 60.0
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
WORKER_ATTR = "worker"
INTERRUPTED_ATTR = "interrupted"
PRUNED_REASON_ATTR = "pruned_reason"
OWN_ATTRS = (WORKER_ATTR, INTERRUPTED_ATTR, PRUNED_REASON_ATTR)  # what a retry does not inherit
# What prunes a trial instead of ending the study: rl_zoo3 prunes a ValueError or AssertionError raised while learning
# only; a constructor refusing a combination of arguments raises ValueError before, a diverging loss DivergenceError,
# an environment returning NaN EnvironmentDataError (a ValueError), a NaN in numpy FloatingPointError.
TRIAL_ERRORS: tuple[type[Exception], ...] = (ValueError, AssertionError, DivergenceError, FloatingPointError)


# ---------------------------------------------------------------------------------------------------------------------
# the journal file
# ---------------------------------------------------------------------------------------------------------------------

_OPERATION_START = b'{"op_code":'


def _salvage(line: bytes) -> bytes | None:
    """A line that does not decode: an operation appended to a torn one is kept (its own line), else nothing."""
    start = line.rfind(_OPERATION_START)
    while start > 0:
        with contextlib.suppress(ValueError):
            json.loads(line[start:])
            return line[start:]
        start = line.rfind(_OPERATION_START, 0, start)
    return None


def repair_journal(path: str) -> bool:
    """
    Make an Optuna journal file readable again after a worker was killed while writing to it.

    A last line without its newline (the write that was cut) is dropped; a line that does not decode (a torn line
    that a later run appended to) is replaced by the operation appended to it, or dropped. The file is rewritten
    under the journal's own lock, after a copy of it is kept as ``<path>.damaged-<time>``, with a warning naming both.

    :return: whether the file was repaired
    """
    if not os.path.isfile(path):
        return False
    from optuna.storages.journal import JournalFileSymlinkLock
    from optuna.storages.journal._file import get_lock_file

    with get_lock_file(JournalFileSymlinkLock(path)):
        content = open(path, "rb").read()  # noqa: SIM115 (read at once, under the lock)
        lines = content.split(b"\n")
        torn_tail = lines.pop()  # b"" when the file ends with its newline
        kept, dropped, salvaged = [], 0, 0
        for line in lines:
            try:
                json.loads(line)
                kept.append(line)
            except ValueError:
                rest = _salvage(line)
                if rest is None:
                    dropped += 1
                else:
                    kept.append(rest)
                    salvaged += 1
        if not torn_tail and not dropped and not salvaged:
            return False
        backup = f"{path}.damaged-{time.strftime('%Y%m%d-%H%M%S')}"
        shutil.copyfile(path, backup)
        repaired = f"{path}.repairing"
        with open(repaired, "wb") as file:
            file.write(b"".join(line + b"\n" for line in kept))
            file.flush()
            os.fsync(file.fileno())
        os.replace(repaired, path)
    what = [f"{len(torn_tail)} bytes of a last line cut by a killed worker"] if torn_tail else []
    what += [f"{dropped} undecodable line(s)"] if dropped else []
    what += [f"{salvaged} operation(s) written after a cut line recovered"] if salvaged else []
    message = f"Optuna journal {path} was damaged (a worker killed mid-write): dropped {', '.join(what)}; "
    warnings.warn(message + f"the damaged file is kept as {backup}", stacklevel=2)
    return True


def journal_storage(path: str) -> optuna.storages.JournalStorage:
    """The journal file at ``path``, repaired first (:func:`repair_journal`)."""
    from optuna.storages.journal import JournalFileBackend

    repair_journal(path)
    return optuna.storages.JournalStorage(JournalFileBackend(path))


def heartbeat_storage(url: str) -> optuna.storages.RDBStorage:
    """A database storage whose workers record a heartbeat, so that the trial of a dead worker is failed and retried."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url,
            heartbeat_interval=HEARTBEAT_INTERVAL_S,
            grace_period=HEARTBEAT_GRACE_PERIOD_S,
            failed_trial_callback=_retry_once,
        )


# ---------------------------------------------------------------------------------------------------------------------
# workers, and the trials of dead ones
# ---------------------------------------------------------------------------------------------------------------------


def _process_start_time(pid: int) -> str | None:
    """The start time of a process (Linux's /proc), to tell a reused process id from the worker that had it."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def _this_worker() -> dict[str, Any]:
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "started": _process_start_time(pid)}


def record_worker(trial: optuna.Trial) -> None:
    """Record on the trial the process that runs it (:func:`recover_interrupted_trials` reads it)."""
    trial.set_user_attr(WORKER_ATTR, {**_this_worker(), "trial": trial.number})


def _worker_is_gone(trial: FrozenTrial, now: float) -> bool:
    worker = trial.user_attrs.get(WORKER_ATTR)
    # a retried trial carries its predecessor's record until its own worker records itself
    if not isinstance(worker, dict) or worker.get("trial") != trial.number:
        started = trial.datetime_start.timestamp() if trial.datetime_start is not None else now
        return now - started > UNOWNED_GRACE_PERIOD_S
    if worker.get("host") != socket.gethostname():
        return False  # another machine's: its heartbeat tells (database storages)
    pid = int(worker["pid"])
    if pid == os.getpid():  # this process, or a dead one whose process id it was given
        return worker.get("started") is not None and worker["started"] != _process_start_time(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return worker.get("started") is not None and _process_start_time(pid) != worker["started"]


def _retry_once(study: optuna.Study, trial: FrozenTrial) -> None:
    """Enqueue the parameters of a failed trial again, unless a retry of it exists already."""
    for other in study.get_trials(deepcopy=False):
        if trial.number in RetryHeartbeatStaleTrialCallback.retry_history(other):
            return
    retried = copy.deepcopy(trial)
    retried.user_attrs = {name: value for name, value in trial.user_attrs.items() if name not in OWN_ATTRS}
    RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRY)(study, retried)


def recover_interrupted_trials(study: optuna.Study) -> list[int]:
    """
    Fail the RUNNING trials whose worker is gone, and retry every trial failed because its worker was interrupted or
    died (once each).

    :return: the numbers of the trials failed here
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # heartbeat storages: trials of workers gone elsewhere
    failed = []
    now = time.time()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _worker_is_gone(trial, now):
            continue
        try:
            study._storage.set_trial_user_attr(trial._trial_id, INTERRUPTED_ATTR, "its worker is gone")
            if study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                failed.append(trial.number)
        except optuna.exceptions.UpdateFinishedTrialError:
            pass  # another worker failed it first, or its worker finished it after all
    if failed:
        print(f"Trials {failed} were left RUNNING by a worker that is gone: failed, and retried with their parameters")
    for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        if INTERRUPTED_ATTR in trial.user_attrs:
            _retry_once(study, trial)
    return failed


def study_progress(study: optuna.Study) -> tuple[int, int]:
    """:return: the numbers of finished (complete or pruned) trials and of running ones, workers gone excluded"""
    recover_interrupted_trials(study)
    trials = study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING))
    finished = sum(trial.state in FINISHED for trial in trials)
    return finished, len(trials) - finished


# ---------------------------------------------------------------------------------------------------------------------
# sampling, running to the target, signals
# ---------------------------------------------------------------------------------------------------------------------


class TrialSeededSampler(optuna.samplers.BaseSampler):
    """
    rl_zoo3's ``random`` or ``tpe`` sampler (its settings: TPE multivariate, ``n_startup_trials``), one per trial,
    seeded with ``seed`` + the trial's number.

    A rerun of a study with the same ``--seed`` (rl_zoo3 seeds one sampler per process) drew the parameters of the
    first trials again; trial numbers are unique in a study, so here no two trials draw alike, whichever run or
    worker draws them, and trial ``k`` of a study draws the same whatever happened before it (TPE: given the same
    history).
    """

    METHODS = ("random", "tpe")

    def __init__(self, method: str, seed: int, n_startup_trials: int = 0):
        if method not in self.METHODS:
            raise ValueError(f"sampler {method!r}: one of {self.METHODS}")
        self.method = method
        self.seed = seed
        self.n_startup_trials = n_startup_trials
        self._samplers: dict[int, optuna.samplers.BaseSampler] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:  # rl_zoo3 pickles the study, sampler included
        return {"method": self.method, "seed": self.seed, "n_startup_trials": self.n_startup_trials}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def _make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        if self.method == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.TPESampler(n_startup_trials=self.n_startup_trials, seed=seed, multivariate=True)

    def _of(self, trial: FrozenTrial) -> optuna.samplers.BaseSampler:
        with self._lock:
            if trial.number not in self._samplers:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    self._samplers[trial.number] = self._make_sampler((self.seed + trial.number) % 2**32)
            return self._samplers[trial.number]

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, Any]:
        return self._of(trial).infer_relative_search_space(study, trial)

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, Any]) -> dict[str, Any]:
        return self._of(trial).sample_relative(study, trial, search_space)

    def sample_independent(self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: Any) -> Any:
        return self._of(trial).sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: optuna.Study, trial: FrozenTrial) -> None:
        self._of(trial).before_trial(study, trial)

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        sampler = self._of(trial)
        with self._lock:
            del self._samplers[trial.number]
        sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        pass  # each trial's sampler is seeded by the trial's number


def _wait_for_others(study: optuna.Study, target: int, poll_s: float) -> bool:
    """
    Wait while the trials running in other workers would bring the study to ``target``.

    :return: whether another trial should be started (False: the study has reached its target)
    """
    announced = False
    while True:
        _raise_if_interrupted()  # a signal received outside a trial stops here, between trials
        finished, running = study_progress(study)
        if finished >= target:
            return False
        if finished + running < target:
            return True
        if not announced:
            print(f"{finished} of {target} trials finished, {running} running in other workers: waiting for them")
            announced = True
        time.sleep(poll_s)


def optimize_to_target(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    target: int,
    n_jobs: int = 1,
    poll_s: float | None = None,
) -> None:
    """
    Run trials until ``target`` trials of the study are finished (complete or pruned), counting every run's and every
    worker's; failed trials (their worker interrupted or gone) do not count and are retried.
    """
    poll_s = poll_s if poll_s is not None else min(10.0, max(1.0, HEARTBEAT_INTERVAL_S / 2))
    if not _wait_for_others(study, target, poll_s):
        print(f"The study has its {target} finished trials: nothing to run (raise --n-trials to add trials)")
        return

    def stop_at_target(study: optuna.Study, _trial: FrozenTrial) -> None:
        if not _wait_for_others(study, target, poll_s):
            study.stop()

    # the class's method: rl_zoo3's call of study.optimize is this function (sb3_maxent.zoo.train)
    optuna.Study.optimize(study, objective, n_jobs=n_jobs, callbacks=[stop_at_target], gc_after_trial=True)


class Interrupted(KeyboardInterrupt):
    """SIGTERM (or SIGINT) while tuning: Optuna fails the running trial, rl_zoo3 writes its report."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Interruption:
    """
    The signals received while tuning. One raises :class:`Interrupted` at once only while the main thread runs a
    trial's objective (:func:`guarded_objective`), where Optuna then fails the trial and rl_zoo3 writes its report;
    elsewhere (Optuna creating a trial, writing the journal, between trials) it waits for the next safe point
    (:meth:`raise_if_pending`), so that no trial is left RUNNING by a process that is gone.
    """

    def __init__(self) -> None:
        self.received: list[int] = []
        self.armed = False

    def handle(self, signum: int, frame: Any) -> None:
        if signum != signal.SIGALRM:
            self.received.append(signum)
        if not self.received or not self.armed:
            return
        if _in_storage_code(frame):
            # an exception there could leave the journal's lock behind or a write half done: try again shortly
            signal.setitimer(signal.ITIMER_REAL, 0.05)
            return
        self.armed = False
        raise Interrupted(self.received[0])

    def raise_if_pending(self) -> None:
        if self.received:
            raise Interrupted(self.received[0])

    @contextlib.contextmanager
    def armed_in_main_thread(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        self.armed = True
        try:
            self.raise_if_pending()
            yield
        finally:
            self.armed = False


_interruption: _Interruption | None = None
_STORAGE_CODE = tuple(f"{os.sep}{package}{os.sep}" for package in (f"optuna{os.sep}storages", "sqlalchemy", "psycopg"))


def _in_storage_code(frame: Any) -> bool:
    """Whether the interrupted code is Optuna's storage (or its database driver), at any depth."""
    while frame is not None:
        if any(part in frame.f_code.co_filename for part in _STORAGE_CODE):
            return True
        frame = frame.f_back
    return False


@contextlib.contextmanager
def signals_interrupt() -> Iterator[list[int]]:
    """
    Within the block, SIGTERM and SIGINT stop tuning as Ctrl-C stops rl_zoo3 (KeyboardInterrupt: the report is
    written), the running trial marked failed and ``interrupted`` (retried on the next run) instead of left RUNNING.
    Yields the list of signals received.
    """
    global _interruption
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    interruption = _interruption = _Interruption()
    signums = (signal.SIGTERM, signal.SIGINT, signal.SIGALRM)
    previous = {signum: signal.signal(signum, interruption.handle) for signum in signums}
    try:
        yield interruption.received
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _interruption = None


def _raise_if_interrupted() -> None:
    if _interruption is not None:
        _interruption.raise_if_pending()


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    if _interruption is None:
        yield
    else:
        with _interruption.armed_in_main_thread():
            yield


def guarded_objective(objective: Callable[[optuna.Trial], float]) -> Callable[[optuna.Trial], float]:
    """
    The objective, its trial recording its worker, ending as pruned, its reason recorded in the user attribute
    ``pruned_reason``, where rl_zoo3 would end the study (a refused combination of arguments, divergence, NaN from
    the environment, a NaN result) or prune silently, and recording ``interrupted`` when a signal stops it.
    """

    def guarded(trial: optuna.Trial) -> float:
        record_worker(trial)
        try:
            with _interruptible():
                value = objective(trial)
        except optuna.TrialPruned as pruned:
            cause = pruned.__cause__
            reason = f"{type(cause).__name__}: {cause}" if cause is not None else "stopped early by the pruner"
            trial.set_user_attr(PRUNED_REASON_ATTR, reason)
            raise
        except KeyboardInterrupt as interrupt:
            trial.set_user_attr(INTERRUPTED_ATTR, str(interrupt) or "KeyboardInterrupt")
            raise
        except TRIAL_ERRORS as error:
            reason = f"{type(error).__name__}: {error}"
            print(f"Trial {trial.number} pruned: {reason}", file=sys.stderr)
            trial.set_user_attr(PRUNED_REASON_ATTR, reason)
            raise optuna.TrialPruned(reason) from error
        if value is None or not math.isfinite(value):
            trial.set_user_attr(PRUNED_REASON_ATTR, f"the mean evaluation return is {value}")
            raise optuna.TrialPruned(f"the mean evaluation return is {value}")
        return value

    return guarded
