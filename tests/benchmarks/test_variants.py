"""Benchmark variants (the table in benchmarks/variants.py) configure what their rows say."""

import sys
from pathlib import Path

import pytest

# benchmarks/ lives in the repository only: the sdist carries the tests but not the benchmarks, so skip there
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
variants = pytest.importorskip("variants", reason="benchmarks/ is not in the sdist")
pytest.importorskip("rl_zoo3")

from sb3_maxent import EpsilonGreedyEntropyCallback  # noqa: E402


@pytest.mark.parametrize("name", ["msql_lr6.3e-4_epssched", "sacv1_epssched"])
def test_epsilon_schedule_variant_takes_dqn_entry_exploration(name):
    # rl_zoo3's CartPole-v1 DQN entry: epsilon 1 -> 0.04 over the first 16% of training
    _, kwargs, callback = variants.build_variant(name, "CartPole-v1")
    assert isinstance(callback, EpsilonGreedyEntropyCallback)
    assert kwargs["ent_coef"] == 1.0 and "target_entropy" not in kwargs
    assert (callback.exploration_fraction, callback.exploration_initial_eps, callback.exploration_final_eps) == (
        0.16,
        1.0,
        0.04,
    )
    assert callback.learning_rate == kwargs["learning_rate"]


@pytest.mark.parametrize(
    ("name", "changed"),
    [
        ("msql_lr6.3e-4", {"learning_rate": 6.3e-4}),
        ("msql_lr6.3e-4_tui1000", {"learning_rate": 6.3e-4, "target_update_interval": 1000}),
        ("msql_lr6.3e-4_alpha0.03", {"learning_rate": 6.3e-4, "ent_coef": 0.03}),
    ],
)
def test_soft_q_probe_changes_only_its_setting(name, changed):
    _, entry, entry_callback = variants.build_variant("msql", "LunarLander-v3")
    _, kwargs, callback = variants.build_variant(name, "LunarLander-v3")
    assert kwargs == {**entry, **changed}
    assert entry != kwargs
    assert (callback is None) == (entry_callback is None)


def test_sacv1_learning_rate_probe_changes_only_the_learning_rate():
    _, entry, _ = variants.build_variant("sacv1", "LunarLander-v3")
    _, kwargs, _ = variants.build_variant("sacv1_lr2e-4", "LunarLander-v3")
    assert kwargs == {**entry, "learning_rate": 2e-4}
    assert entry["learning_rate"] != 2e-4


def test_sacv1_update_ratio_probe_changes_only_the_gradient_steps():
    _, entry, _ = variants.build_variant("sacv1", "LunarLander-v3")
    _, kwargs, _ = variants.build_variant("sacv1_utd2", "LunarLander-v3")
    assert kwargs == {**entry, "gradient_steps": 2 * entry["train_freq"]}
    assert entry["gradient_steps"] == -1  # as many gradient steps as environment steps: one per step


def test_sacv1_warm_up_probe_changes_only_the_warm_up():
    _, entry, _ = variants.build_variant("sacv1", "LunarLander-v3")
    _, kwargs, _ = variants.build_variant("sacv1_ls10000", "LunarLander-v3")
    assert kwargs == {**entry, "learning_starts": 10_000}
    assert entry["learning_starts"] == 0  # DQN's entry: updates from the first step


def test_a_name_outside_the_table_is_refused():
    # names are looked up, never parsed: a modifier that the old string language knew is no variant
    with pytest.raises(ValueError, match="unknown variant 'msql_m0'"):
        variants.build_variant("msql_m0", "LunarLander-v3")
