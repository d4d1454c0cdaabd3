"""The throughput benchmark against SBX (benchmarks/throughput_sbx.py): its plan, its summary, and one real run."""

import sys
from pathlib import Path

import pytest

# benchmarks/ lives in the repository only: the sdist carries the tests but not the benchmarks, so skip there
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
throughput_sbx = pytest.importorskip("throughput_sbx", reason="benchmarks/ is not in the sdist")


def test_interleaved_rotates_the_order_and_runs_every_variant_once_per_repetition():
    order = throughput_sbx.interleaved(("a", "b", "c"), 4)
    assert order == [
        (0, "a"), (0, "b"), (0, "c"),
        (1, "b"), (1, "c"), (1, "a"),
        (2, "c"), (2, "a"), (2, "b"),
        (3, "a"), (3, "b"), (3, "c"),
    ]  # fmt: skip


def test_summarise_takes_medians_of_speeds_and_of_paired_ratios():
    speeds = {
        "ours": {0: 100.0, 1: 300.0, 2: 90.0},
        "ref": {0: 200.0, 1: 200.0, 2: 100.0},
        "absent": {},
    }
    summary = throughput_sbx.summarise(speeds, "ref")
    assert summary["ours"] == (100.0, 0.9)  # ratios 0.5, 1.5, 0.9: the median of the ratios, not a ratio of medians
    assert summary["ref"] == (200.0, 1.0)
    assert summary["absent"] == (None, None)


def test_summarise_pairs_only_repetitions_the_reference_has_and_none_without_reference():
    summary = throughput_sbx.summarise({"ours": {0: 10.0, 1: 30.0}, "ref": {1: 15.0}}, "ref")
    assert summary["ours"] == (20.0, 2.0)
    assert throughput_sbx.summarise({"ours": {0: 10.0}}, "sbx_dqn")["ours"] == (10.0, None)


def test_tasks_name_known_algorithms_and_a_reference_among_their_variants():
    for task in throughput_sbx.TASKS.values():
        assert set(task.variants) <= set(throughput_sbx.ALGORITHMS)
        assert task.reference in task.variants


def test_table_reports_missing_sbx_rows_instead_of_numbers():
    args = throughput_sbx.parse_args(["--tasks", "CartPole-v1", "--cores", "0"])
    results = {"CartPole-v1": {"sql": {0: 50.0}, "msql": {0: 40.0}, "sbx_dqn": {}, "sb3_dqn": {0: 100.0}}}
    text = throughput_sbx.table(results, {"sbx_dqn": "sbx-rl is not installed"}, args)
    assert "| CartPole-v1 | SBX DQN | missing: sbx-rl is not installed |" in text
    assert "| CartPole-v1 | SQL | 50.0 | n/a (reference missing) | SBX DQN |" in text


def test_msql_takes_only_the_munchausen_settings_of_its_entry():
    pytest.importorskip("rl_zoo3")
    assert throughput_sbx.algorithm_kwargs("msql", "CartPole-v1") == {"munchausen_coef": 0.9, "munchausen_clip": -1.0}
    assert throughput_sbx.algorithm_kwargs("sql", "CartPole-v1") == {}


def test_a_tiny_real_run_of_sb3_dqn_measures_steps_per_second():
    speed = throughput_sbx.measure("sb3_dqn", "CartPole-v1", steps=50, warmup=20, seed=0, learning_starts=10)
    assert speed > 0


def test_a_baseline_adds_our_algorithms_at_the_commit_and_only_ours():
    variants = throughput_sbx.TASKS["CartPole-v1"].variants
    assert throughput_sbx.with_baseline(variants, None) == variants
    assert throughput_sbx.with_baseline(variants, "abc123") == (*variants, "sql@abc123")  # not MSQL, SBX or SB3
    assert throughput_sbx.split_variant("sacv1@abc123") == ("sacv1", "abc123")
    assert throughput_sbx.split_variant("sacv1") == ("sacv1", None)
    assert throughput_sbx.label("sql@abc123") == "SQL @ abc123"


def test_speedups_are_medians_of_ratios_paired_with_the_same_algorithm_at_the_baseline():
    speeds = {"sql": {0: 120.0, 1: 90.0, 2: 200.0}, "sql@ref": {0: 100.0, 1: 100.0, 2: 100.0}, "sb3_dqn": {0: 50.0}}
    assert throughput_sbx.speedups(speeds, "ref") == {"sql": 1.2}  # ratios 1.2, 0.9, 2.0
    args = throughput_sbx.parse_args(["--tasks", "CartPole-v1", "--cores", "0", "1", "--baseline", "ref"])
    text = throughput_sbx.table({"CartPole-v1": speeds}, {}, args)
    assert "| CartPole-v1 | SQL | 1.20 (0.90-2.00) |" in text
    assert "| CartPole-v1 | SQL @ ref | 100.0 | n/a (reference missing) | SBX DQN |" in text
    assert "2 runs at a time, one per core" in text


def test_run_on_cores_runs_every_job_in_its_own_process_on_a_core_of_the_list():
    jobs = [{"index": index} for index in range(5)]
    finished = [future.result() for _, future in throughput_sbx.run_on_cores(dict, jobs, [0, 1])]
    assert sorted(job["index"] for job in finished) == list(range(5))
    assert {job["core"] for job in finished} <= {0, 1}
