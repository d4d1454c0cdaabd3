"""Benchmark variants (benchmarks/compare.py) configure what their names say."""

import math
import sys
from pathlib import Path

import pytest

# benchmarks/ lives in the repository only: the sdist carries the tests but not the benchmarks, so skip there
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
compare = pytest.importorskip("compare", reason="benchmarks/ is not in the sdist")
pytest.importorskip("rl_zoo3")

from sb3_maxent import EntropyTargetCallback, epsilon_greedy_entropy  # noqa: E402


@pytest.mark.parametrize("name", ["msql_epssched", "sacv1_epssched"])
def test_epsilon_schedule_target_follows_dqn_exploration(name):
    # rl_zoo3's CartPole-v1 DQN entry: epsilon 1 -> 0.04 over the first 16% of training, 2 actions
    _, kwargs, callback = compare.build_variant(name, "CartPole-v1")
    assert isinstance(callback, EntropyTargetCallback)
    assert kwargs["ent_coef"] == 1.0 and "target_entropy" not in kwargs
    schedule = callback.target_entropy
    assert schedule(1.0) == pytest.approx(0.98 * math.log(2))  # uniform (log 2) cannot be met: capped
    halfway = 1.0 - 0.16 / 2  # epsilon halfway between 1 and 0.04
    assert schedule(halfway) == pytest.approx(epsilon_greedy_entropy(0.52, 2))
    assert schedule(0.84) == pytest.approx(epsilon_greedy_entropy(0.04, 2))
    assert schedule(0.0) == pytest.approx(epsilon_greedy_entropy(0.04, 2))
