"""The campaign report's update-order ablation (benchmarks/mujoco_report.py) computes what it prints."""

import sys
from pathlib import Path

import pytest

# benchmarks/ lives in the repository only: the sdist carries the tests but not the benchmarks, so skip there
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
mujoco_report = pytest.importorskip("mujoco_report", reason="benchmarks/ is not in the sdist")


def _run(variant: str, seed: int, returns: list[float]) -> dict:
    steps = [10_000 * (i + 1) for i in range(len(returns))]
    return {"env": "Hopper-v5", "variant": variant, "seed": seed, "eval_timesteps": steps, "eval_returns": returns}


def test_window_mean_averages_the_evaluations_from_100k_on():
    run = _run("sacv1", 0, [1000.0] * 9 + [10.0, 20.0, 30.0])  # evaluations at 10k ... 120k
    assert mujoco_report.window_mean(run) == pytest.approx(20.0)


def test_ablation_splits_the_gap_on_shared_seeds_only():
    runs = {
        ("Hopper-v5", "sacv1"): [_run("sacv1", 0, [0.0] * 9 + [100.0] * 3), _run("sacv1", 7, [0.0] * 12)],
        ("Hopper-v5", "sacv1_seq"): [_run("sacv1_seq", 0, [0.0] * 9 + [175.0] * 3)],
        ("Hopper-v5", "sac"): [_run("sac", 0, [0.0] * 9 + [400.0] * 3)],
    }
    text = "\n".join(mujoco_report.ablation_section(runs))
    assert "seeds 0\n" in text  # seed 7 has no sacv1_seq or sac run
    assert "SAC - SACV1 in the window means: 300" in text
    assert "(sacv1_seq - sacv1) / (sac - sacv1): 0.25" in text
    assert (
        "target's effect, SAC - sacv1_seq" in text and "): 225 in the window means (per seed 225; SAC ahead on 1 of 1" in text
    )


def test_ablation_says_when_there_is_no_gap():
    finals = {"sacv1": 500.0, "sacv1_seq": 200.0, "sac": 400.0}
    runs = {("Hopper-v5", variant): [_run(variant, 0, [0.0] * 9 + [value] * 3)] for variant, value in finals.items()}
    text = "\n".join(mujoco_report.ablation_section(runs))
    assert "SAC - SACV1 in the window means: -100" in text
    assert "no gap to split" in text


def test_permutation_p_value_is_exact():
    # 5 against 5: 252 relabellings; the observed split is the most extreme one in either direction, so p = 2 / 252
    low, high = [1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 10.0]
    assert mujoco_report.permutation_p_value(low, high) == pytest.approx(2 / 252)
    assert mujoco_report.permutation_p_value(low, low) == pytest.approx(1.0)


def test_report_names_the_runs_that_learned_partly_on_a_lent_machine():
    here = {"cpu": "EPYC", "cores": 2, "torch": "2.13.0+cpu", "torch_threads": 1}
    lent = {"cpu": "Xeon", "cores": 16, "torch": "2.11.0", "torch_threads": 4}
    runs = {
        ("Swimmer-v5", "sql"): [
            {"env": "Swimmer-v5", "variant": "sql", "seed": 2, "machines": [lent, here]},
            {"env": "Swimmer-v5", "variant": "sql", "seed": 0, "machines": [here, here]},
        ]
    }
    sentence = mujoco_report.lent_machine_sentence(runs)
    assert "1 run learned some of their steps on another machine" in sentence
    assert "Swimmer-v5 sql seed 2" in sentence and "seed 0" not in sentence
    runs[("Swimmer-v5", "sql")].pop(0)
    assert mujoco_report.lent_machine_sentence(runs) == ""
