"""The step profile (benchmarks/profile_step.py): exclusive timing, and one real profiled run."""

import sys
import time
from pathlib import Path

import pytest
import torch as th

# benchmarks/ lives in the repository only: the sdist carries the tests but not the benchmarks, so skip there
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
profile_step = pytest.importorskip("profile_step", reason="benchmarks/ is not in the sdist")


def test_a_wrapped_callee_is_subtracted_from_its_caller():
    timer = profile_step.ExclusiveTimer()

    def inner() -> None:
        time.sleep(0.05)

    wrapped_inner = timer.wrap(inner, "inner")

    def outer() -> None:
        time.sleep(0.01)
        wrapped_inner()

    timer.wrap(outer, "outer")()
    # sleeps last at least what they ask for; outer's own time is its 10 ms sleep (plus any oversleep), without
    # inner's 50 ms: the bound 50 ms leaves 40 ms for a loaded machine's oversleep
    assert timer.seconds["inner"] >= 0.05
    assert 0.01 <= timer.seconds["outer"] < 0.05
    assert timer.calls == {"inner": 1, "outer": 1}


@pytest.mark.parametrize("algo", ["sacv1", "sql"])
def test_a_profiled_run_times_every_part_and_the_table_adds_up(algo, monkeypatch):
    monkeypatch.setattr(th.Tensor, "backward", th.Tensor.backward)  # the profile wraps it process-wide: restore after
    env_id = "Pendulum-v1" if algo == "sacv1" else "CartPole-v1"
    seconds, total = profile_step.profile(algo, env_id, warmup=150, steps=60, seed=0)
    expected = {"collect: policy action", "collect: environment step", "train: replay sample", "train: backward"}
    assert expected <= set(seconds)
    assert all(value >= 0 for value in seconds.values()) and sum(seconds.values()) <= total
    table = profile_step.table(algo, env_id, seconds, total, 60, 150)
    shares = [float(line.rsplit("|", 2)[1].strip().rstrip("%")) for line in table.splitlines() if line.endswith("% |")]
    assert sum(shares) == pytest.approx(100, abs=0.1 * len(shares))  # each share is rounded to 0.1%
