"""Benchmark variants (benchmarks/compare.py) configure what their names say."""

import sys
from pathlib import Path

import pytest

# benchmarks/ lives in the repository only: the sdist carries the tests but not the benchmarks, so skip there
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
compare = pytest.importorskip("compare", reason="benchmarks/ is not in the sdist")
pytest.importorskip("rl_zoo3")

from sb3_maxent import EpsilonGreedyEntropyCallback  # noqa: E402


@pytest.mark.parametrize("name", ["msql_epssched", "sacv1_epssched"])
def test_epsilon_schedule_variant_takes_dqn_entry_exploration(name):
    # rl_zoo3's CartPole-v1 DQN entry: epsilon 1 -> 0.04 over the first 16% of training
    _, kwargs, callback = compare.build_variant(name, "CartPole-v1")
    assert isinstance(callback, EpsilonGreedyEntropyCallback)
    assert kwargs["ent_coef"] == 1.0 and "target_entropy" not in kwargs
    assert (callback.exploration_fraction, callback.exploration_initial_eps, callback.exploration_final_eps) == (
        0.16,
        1.0,
        0.04,
    )
    assert callback.learning_rate == kwargs["learning_rate"]
