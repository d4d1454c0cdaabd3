"""The campaign's scheduling (benchmarks/mujoco_campaign.py): runs that cannot finish before the deadline wait."""

import json
import sys
import time
from pathlib import Path

import pytest

# benchmarks/ lives in the repository only: the sdist carries the tests but not the benchmarks, so skip there
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
campaign = pytest.importorskip("mujoco_campaign", reason="benchmarks/ is not in the sdist")


@pytest.fixture
def campaign_dirs(tmp_path, monkeypatch):
    raw, cache = tmp_path / "raw", tmp_path / "cache"
    raw.mkdir()
    cache.mkdir()
    monkeypatch.setattr(campaign, "RAW", raw)
    monkeypatch.setattr(campaign, "CACHE", cache)
    monkeypatch.setattr(campaign, "STOP_FILE", cache / "STOP")
    monkeypatch.setattr(campaign, "SPEED_LOG", cache / "speed.jsonl")
    return raw, cache


def _finished(raw: Path, variant: str, seed: int, rate: float) -> None:
    run = {"env": "Hopper-v5", "variant": variant, "seed": seed, "timesteps": 200_000, "train_seconds": 200_000 / rate}
    (raw / f"Hopper-v5_{variant}_seed{seed}_200000.json").write_text(json.dumps(run))


def test_historical_rate_is_the_median_of_the_finished_runs(campaign_dirs):
    raw, _ = campaign_dirs
    for seed, rate in enumerate([40.0, 50.0, 80.0]):
        _finished(raw, "sac", seed, rate)
    assert campaign.historical_rates() == {("Hopper-v5", "sac"): pytest.approx(50.0)}


def test_estimate_scales_with_this_machines_recent_speed(campaign_dirs):
    raw, _ = campaign_dirs
    _finished(raw, "sac", 0, 50.0)
    _finished(raw, "sacv1", 0, 100.0)
    job = campaign.Job("Hopper-v5", "sac", 1)
    # nothing learned here yet: the historical rate, plus 10% for evaluations
    assert campaign.estimated_seconds(job, 100_000) == pytest.approx(1.1 * 100_000 / 50.0)
    # this machine runs SACV1 at half its historical rate: SAC is expected at half its own too
    campaign.log_speed(campaign.Job("Hopper-v5", "sacv1", 5), 5_000, 100.0)
    assert campaign.estimated_seconds(job, 100_000) == pytest.approx(1.1 * 100_000 / 25.0)
    # chunks older than the window no longer count
    assert campaign.speed_factor(campaign.historical_rates(), window_seconds=-1.0) == 1.0
    # an environment never finished with this variant: the variant's rate elsewhere; a variant never finished: none
    assert campaign.estimated_seconds(campaign.Job("Swimmer-v5", "sac", 0), 100_000) == pytest.approx(1.1 * 100_000 / 25.0)
    assert campaign.estimated_seconds(campaign.Job("Swimmer-v5", "sql", 0), 0) is None


def test_a_run_that_cannot_finish_in_time_is_not_started(campaign_dirs):
    raw, cache = campaign_dirs
    _finished(raw, "sac", 0, 50.0)  # 200k steps: over an hour at this rate
    job = campaign.Job("Hopper-v5", "sac", 1)
    account = campaign.run_job(job, deadline=time.time() + 600, finishable_only=True)
    assert account.startswith("not started Hopper-v5_sac_seed1_200000: needs about 73 min here, 10 left")
    assert not (cache / job.name).exists()


def _machine(cpu: str, threads: int = 1) -> dict:
    return {"cpu": cpu, "cores": 2, "torch": "2.13.0+cpu", "torch_threads": threads}


def test_speed_counts_only_the_slices_on_the_machine_that_finished_the_run():
    run = {
        "timesteps": 200_000,
        "train_seconds": 500.0 + 1_500.0 + 400.0,
        "machines": [_machine("lent Xeon", threads=4), _machine("EPYC"), _machine("EPYC")],
        "slice_timesteps": [50_000, 100_000, 50_000],
        "slice_train_seconds": [500.0, 1_500.0, 400.0],
    }
    assert campaign.steps_per_second(run) == pytest.approx(150_000 / 1_900.0)
    # the same processor with other torch threads is another machine too
    run["machines"][0] = _machine("EPYC", threads=4)
    assert campaign.steps_per_second(run) == pytest.approx(150_000 / 1_900.0)
    run["machines"][0] = _machine("EPYC")
    assert campaign.steps_per_second(run) == pytest.approx(200_000 / 2_400.0)


def test_speed_of_a_run_without_slice_records_is_its_total():
    # runs finished before the slices were recorded, or whose records do not line up with their machines
    run = {"timesteps": 200_000, "train_seconds": 2_000.0, "machines": [_machine("EPYC")] * 2}
    assert campaign.steps_per_second(run) == pytest.approx(100.0)
    run.update(slice_timesteps=[50_000], slice_train_seconds=[100.0])
    assert campaign.steps_per_second(run) == pytest.approx(100.0)


def test_a_resumed_run_records_each_slice_beside_its_machine(campaign_dirs, monkeypatch):
    from stable_baselines3 import SAC

    _, cache = campaign_dirs
    tiny = {"learning_starts": 50, "batch_size": 16, "buffer_size": 1_000, "policy_kwargs": {"net_arch": [8]}}
    monkeypatch.setattr(campaign, "build_variant", lambda variant, env: (SAC, dict(tiny)))
    for name, value in (("CHUNK", 100), ("EVAL_EVERY", 200), ("CHECKPOINT_EVERY", 200), ("EVAL_EPISODES", 1)):
        monkeypatch.setattr(campaign, name, value)
    evaluate = campaign.evaluate

    def evaluate_then_stop(*args):
        evaluate(*args)
        campaign.STOP_FILE.touch()  # as if the slice's time ran out at its first evaluation

    monkeypatch.setattr(campaign, "evaluate", evaluate_then_stop)
    job = campaign.Job("Pendulum-v1", "sac", 0, steps=400)
    assert campaign.run_job(job, deadline=None) == "paused Pendulum-v1_sac_seed0_400 at 200 steps"
    campaign.STOP_FILE.unlink()
    monkeypatch.setattr(campaign, "evaluate", evaluate)
    assert campaign.run_job(job, deadline=None).startswith("done Pendulum-v1_sac_seed0_400")

    run = json.loads(job.raw_path.read_text())
    assert run["slices"] == len(run["machines"]) == 2
    assert run["slice_timesteps"] == [200, 200]
    assert sum(run["slice_train_seconds"]) == pytest.approx(run["train_seconds"])
    assert run["eval_timesteps"] == [200, 400]
    assert not (cache / job.name).exists()


def test_the_temperature_ablation_changes_only_the_temperature_of_the_gamma_ablation():
    _, warm = campaign.build_variant("sql_zoo_gamma", "Swimmer-v5")
    _, cold = campaign.build_variant("sql_zoo_gamma_cold", "Swimmer-v5")
    assert cold["ent_coef"] == pytest.approx(warm["ent_coef"] / 10) == pytest.approx(1 / 300)
    assert {key: value for key, value in cold.items() if key != "ent_coef"} == {
        key: value for key, value in warm.items() if key != "ent_coef"
    }


def test_the_target_ablation_changes_only_the_target_update_of_the_gamma_ablation():
    from stable_baselines3 import SAC

    _, hard = campaign.build_variant("sql_zoo_gamma", "Swimmer-v5")
    _, polyak = campaign.build_variant("sql_zoo_gamma_polyak", "Swimmer-v5")
    assert (hard["tau"], hard["target_update_interval"]) == (1.0, 1000)  # the authors' hard copy
    sac = SAC("MlpPolicy", "Pendulum-v1", learning_starts=0, buffer_size=100, device="cpu")
    assert (polyak["tau"], polyak["target_update_interval"]) == (sac.tau, sac.target_update_interval)
    assert {key: value for key, value in polyak.items() if key not in ("tau", "target_update_interval")} == {
        key: value for key, value in hard.items() if key not in ("tau", "target_update_interval")
    }


def test_every_queued_variant_builds_and_the_gamma_ablation_changes_only_gamma():
    for variant, env in sorted({(job.variant, job.env) for job in campaign.jobs()}):
        algo_class, kwargs = campaign.build_variant(variant, env)
        assert isinstance(algo_class, type) and kwargs
    _, sql = campaign.build_variant("sql", "Swimmer-v5")
    _, ablation = campaign.build_variant("sql_zoo_gamma", "Swimmer-v5")
    assert sql["gamma"] == 0.99 and ablation["gamma"] == 0.999  # the paper's discount, then rl_zoo3's SAC entry's
    assert {key: value for key, value in ablation.items() if key != "gamma"} == {
        key: value for key, value in sql.items() if key != "gamma"
    }


def test_the_sampled_evaluation_leaves_training_as_it_was(campaign_dirs, monkeypatch):
    """Issue 39's campaign evaluates SAC and SoftQLearning by sampling too: inside a forked torch random state, so
    training, seen through its deterministic evaluations, is that of a run evaluated deterministically only."""
    from stable_baselines3 import SAC

    tiny = {"learning_starts": 50, "batch_size": 16, "buffer_size": 1_000, "policy_kwargs": {"net_arch": [8]}}
    monkeypatch.setattr(campaign, "build_variant", lambda variant, env: (SAC, dict(tiny)))
    for name, value in (("CHUNK", 100), ("EVAL_EVERY", 100), ("CHECKPOINT_EVERY", 1_000), ("EVAL_EPISODES", 1)):
        monkeypatch.setattr(campaign, name, value)
    histories = {}
    save = campaign.atomic_write_json

    for sampled in (False, True):
        monkeypatch.setattr(campaign, "SAMPLED_EVALUATION", {"sac_zoo_g099"} if sampled else set())
        job = campaign.Job("Pendulum-v1", "sac_zoo_g099", 0, steps=300, campaign="sql_paper")

        def keep_history(path, data, job=job, sampled=sampled):
            save(path, data)
            histories[sampled] = data

        monkeypatch.setattr(campaign, "atomic_write_json", keep_history)
        assert campaign.run_job(job, deadline=None).startswith("done")
        job.raw_path.unlink()
    assert histories[True]["eval_returns"] == histories[False]["eval_returns"]
    assert len(histories[True]["eval_sampled_returns"]) == 3 and histories[False]["eval_sampled_returns"] == []


def test_the_paper_campaign_writes_apart_and_builds_every_variant():
    pytest.importorskip("mujoco", reason="DDPG's and TD3's action noise is sized from the MuJoCo environment")
    jobs = campaign.jobs(campaign="sql_paper")
    assert len(jobs) == 35 and {job.raw_path.parent.name for job in jobs} == {"sql_paper"}
    assert all(job.cache_dir.parent.name == "sql_paper" for job in jobs)
    for variant, env in sorted({(job.variant, job.env) for job in jobs}):
        _, kwargs = campaign.build_variant(variant, env)
        assert kwargs["gamma"] == 0.99, (variant, env)
    noise = campaign.build_variant("td3_g099", "HalfCheetah-v5")[1]["action_noise"]
    assert noise._sigma.tolist() == [0.1] * 6


def test_holm_adjusts_step_down_and_stays_monotone():
    from sql_paper_report import holm

    # sorted 0.01, 0.02, 0.04: 3 x 0.01, max(0.03, 2 x 0.02), max(0.04, 1 x 0.04)
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])


def test_the_late_mean_starts_at_100k_steps():
    from sql_paper_report import scores

    steps = list(range(10_000, 210_000, 10_000))
    run = {"eval_timesteps": steps, "eval_returns": [float(s) for s in steps], "eval_sampled_returns": [1.0] * 20}
    assert scores(run, "deterministic") == (150_000.0, 200_000.0)
    assert scores(run, "sampled") == (1.0, 1.0)
