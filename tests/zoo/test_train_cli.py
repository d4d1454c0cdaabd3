"""``python -m sb3_maxent.train``: rl_zoo3's own training loop with SACV1 registered."""

import re
import subprocess
import sys

import numpy as np
import pytest
import yaml

from sb3_maxent.zoo import ALGORITHMS, config_path, register_algorithms
from sb3_maxent.zoo.yaml_files import DataLoader

rl_zoo3 = pytest.importorskip("rl_zoo3")


def test_registration_is_idempotent():
    from rl_zoo3.utils import ALGOS

    register_algorithms()
    register_algorithms()
    for name, algorithm_class in ALGORITHMS.items():
        assert ALGOS[name] is algorithm_class


def test_bundled_config_exists_for_every_algorithm():
    for name in ALGORITHMS:
        hyperparams = yaml.load(config_path(name).read_text(), Loader=DataLoader)
        assert all("n_timesteps" in entry for entry in hyperparams.values())


OFF_POLICY_PARAMS = ["learning_starts:50", "train_freq:1", "gradient_steps:1", "policy_kwargs:dict(net_arch=[16])"]


@pytest.mark.parametrize(
    ("algo", "env_id", "params"),
    [
        ("sql", "CartPole-v1", OFF_POLICY_PARAMS),
        ("sql", "MultiGoal-v0", OFF_POLICY_PARAMS),
        ("soft_vi", "FrozenLake-v1", ["ent_coef:0.001"]),
        ("soft_vi", "Taxi-v4", ["gamma:0.95"]),
    ],
)
def test_train_other_algorithms(tmp_path, algo, env_id, params):
    command = [sys.executable, "-m", "sb3_maxent.train", "--algo", algo, "--env", env_id, "-n", "200", "-f", str(tmp_path)]
    command += ["--eval-freq", "-1", "--final-eval-episodes", "1", "-params", *params]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Deterministic evaluation of" in result.stdout


def test_train_then_evaluate(tmp_path, monkeypatch):
    command = [
        sys.executable,
        "-m",
        "sb3_maxent.train",
        "--algo",
        "sacv1",
        "--env",
        "Pendulum-v1",
        "-n",
        "300",
        "-f",
        str(tmp_path),
        "--seed",
        "0",
        "--eval-freq",
        "-1",
        "-P",
        "--final-eval-episodes",
        "2",
        "-params",
        "learning_starts:100",
        "policy_kwargs:dict(net_arch=[32])",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Deterministic evaluation of" in result.stdout
    assert "over 2 episodes" in result.stdout
    assert (tmp_path / "sacv1" / "Pendulum-v1_1" / "Pendulum-v1.zip").exists()
    # the bundled config was used (its learning rate, not rl_zoo3's SAC default)
    saved_config = yaml.load(
        (tmp_path / "sacv1" / "Pendulum-v1_1" / "Pendulum-v1" / "config.yml").read_text(), Loader=DataLoader
    )
    assert dict(saved_config)["learning_rate"] == 1e-3
    assert_plot_train_draws_the_run(tmp_path, monkeypatch)


def assert_plot_train_draws_the_run(log_folder, monkeypatch):
    """rl_zoo3's plot script (the `plots` extra) reads our logs and draws one curve per run, without a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rl_zoo3.plots.plot_train import plot_train

    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gcf()))
    monkeypatch.setattr(sys, "argv", ["plot_train", "-a", "sacv1", "-e", "Pendulum", "-f", str(log_folder), "-w", "1"])
    plot_train()
    (figure,) = shown
    (line,) = figure.axes[0].get_lines()
    assert line.get_label() == "Pendulum-v1_1"
    assert len(line.get_xdata()) >= 1  # one 200-step episode in 300 steps
    plt.close(figure)


def test_unknown_algorithm_is_refused():
    result = subprocess.run(
        [sys.executable, "-m", "sb3_maxent.train", "--algo", "sacv9", "--env", "Pendulum-v1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "invalid choice: 'sacv9'" in result.stderr


def test_enjoy_loads_what_train_saved(tmp_path):
    train = [
        sys.executable,
        "-m",
        "sb3_maxent.train",
        "--algo",
        "sacv1",
        "--env",
        "Pendulum-v1",
        "-n",
        "150",
        "-f",
        str(tmp_path),
    ]
    train += [
        "--eval-freq",
        "-1",
        "--final-eval-episodes",
        "0",
        "-params",
        "learning_starts:100",
        "policy_kwargs:dict(net_arch=[16])",
    ]
    assert subprocess.run(train, capture_output=True, text=True, timeout=300, check=False).returncode == 0
    enjoy = [sys.executable, "-m", "sb3_maxent.enjoy", "--algo", "sacv1", "--env", "Pendulum-v1", "-f", str(tmp_path)]
    enjoy += ["--no-render", "-n", "200", "--deterministic"]
    result = subprocess.run(enjoy, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Loading " in result.stdout and "Pendulum-v1.zip" in result.stdout
    assert "Episode Reward:" in result.stdout  # one full 200-step episode was played

    record = [sys.executable, "-m", "sb3_maxent.record_video", "--algo", "sacv1", "--env", "Pendulum-v1"]
    record += ["-f", str(tmp_path), "-n", "20", "-o", str(tmp_path / "video")]
    result = subprocess.run(record, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    (video,) = (tmp_path / "video").glob("*.mp4")
    assert video.stat().st_size > 0


def test_enjoy_swaps_in_a_loader_without_replay_buffer():
    from rl_zoo3.utils import ALGOS

    from sb3_maxent import SACV1
    from sb3_maxent.zoo.enjoy import LoadWithoutReplayBuffer, replay_buffers_not_allocated

    register_algorithms()
    with replay_buffers_not_allocated():
        assert isinstance(ALGOS["sacv1"], LoadWithoutReplayBuffer)
        assert ALGOS["soft_vi"] is ALGORITHMS["soft_vi"]  # not off-policy: untouched
    assert ALGOS["sacv1"] is SACV1


def test_optimize_on_a_journal_file_then_train_trial_zero(tmp_path):
    storage = str(tmp_path / "study.log")
    base = [sys.executable, "-m", "sb3_maxent.train", "--algo", "soft_vi", "--env", "FrozenLake-v1", "-f", str(tmp_path)]
    optimize = [*base, "-optimize", "--n-trials", "3", "-n", "400", "--n-evaluations", "2", "--eval-episodes", "3"]
    optimize += ["--sampler", "random", "--pruner", "median", "--storage", storage, "--study-name", "svi", "--seed", "1"]
    result = subprocess.run(optimize, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]

    import optuna

    study = optuna.load_study(
        study_name="svi", storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage))
    )
    assert len(study.trials) == 3
    assert all(np.isfinite(trial.value) for trial in study.trials if trial.value is not None)

    train = [*base, "-n", "100", "--storage", storage, "--study-name", "svi", "--trial-id", "0", "--eval-freq", "-1"]
    result = subprocess.run(train, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Loading from Optuna study" in result.stdout
    (config_file,) = (tmp_path / "soft_vi").glob("FrozenLake-v1_*/FrozenLake-v1/config.yml")  # the trained run
    saved = yaml.load(config_file.read_text(), Loader=DataLoader)
    assert dict(saved)["ent_coef"] == pytest.approx(study.trials[0].params["ent_coef"])


def test_optimize_without_storage_keeps_the_study_in_a_journal_and_resumes(tmp_path):
    import optuna

    command = [sys.executable, "-m", "sb3_maxent.train", "--algo", "soft_vi", "--env", "FrozenLake-v1", "-f", str(tmp_path)]
    command += ["-optimize", "-n", "200", "--n-evaluations", "1", "--eval-episodes", "2", "--seed", "0"]
    journal = tmp_path / "soft_vi" / "optuna" / "FrozenLake-v1.log"
    # --n-trials counts the study's trials: the same command again runs nothing, a larger count the difference
    for n_trials, ran in ((2, True), (2, False), (3, True)):
        result = subprocess.run([*command, "--n-trials", str(n_trials)], capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        assert ("nothing to run" not in result.stdout) == ran
        storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
        study = optuna.load_study(study_name="soft_vi_FrozenLake-v1", storage=storage)
        assert len(study.trials) == n_trials
    assert len({trial.params["ent_coef"] for trial in study.trials}) == 3  # the same --seed, no draw repeated


BAD_CONFIG = "Pendulum-v1:\n  policy: MlpPolicy\n"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--algo", "msql", "--env", "Pendulum-v1"], "--algo msql needs Discrete actions; Pendulum-v1 has Box("),
        (["--algo", "sacv1", "--env", "MountainCarContinuous-v0", "-conf", "{bad_config}"], "has no entry for Mountain"),
        (["--algo", "sql", "--env", "CartPol-v1"], "CartPol-v1 is not a registered environment; did you mean CartPole-v1?"),
        (["--algo", "soft_vi", "--env", "CartPole-v1"], "CartPole-v1 exposes no transition model `env.unwrapped.P`"),
        (["--algo", "sacv1", "--env", "Pendulum-v1", "-conf", "{missing}"], "-conf {missing}: no such file"),
        (["--algo", "sacv1", "--env", "Pendulum-v1", "-conf", "{bad_config}"], "has no `n_timesteps`"),
        (["--algo", "soft_vi", "--env", "MountainCar-v0", "-conf", "{mountain_car}"], "exposes no transition model"),
        (["--algo", "soft_vi", "--env", "Pendulum-v1", "-conf", "{mountain_car}"], "needs Discrete actions"),
    ],
)
def test_bad_command_lines_fail_before_training(tmp_path, capsys, arguments, message):
    from sb3_maxent.zoo.train import main

    (tmp_path / "bad.yml").write_text(BAD_CONFIG)
    (tmp_path / "mountain_car.yml").write_text("MountainCar-v0:\n  n_timesteps: 100\ndefault:\n  n_timesteps: 100\n")
    paths = {"bad_config": str(tmp_path / "bad.yml"), "mountain_car": str(tmp_path / "mountain_car.yml")}
    paths["missing"] = str(tmp_path / "missing.yml")
    arguments = [argument.format(**paths) for argument in arguments]
    message = message.format(**paths)
    with pytest.raises(SystemExit) as exit_info:
        main([*arguments, "-f", str(tmp_path / "logs")])
    assert str(exit_info.value).startswith("python -m sb3_maxent.train: error: ")
    assert message in str(exit_info.value)
    assert not (tmp_path / "logs").exists()  # nothing was built


@pytest.mark.parametrize(
    ("argv0", "program"),
    [("/x/sb3_maxent/train.py", "python -m sb3_maxent.train"), ("/bin/sb3-maxent-train", "sb3-maxent-train")],
)
def test_help_names_the_program_and_lists_our_options(capsys, monkeypatch, argv0, program):
    from sb3_maxent.zoo.train import main

    monkeypatch.setattr(sys, "argv", [argv0])
    main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith(f"usage: {program} [-h]")
    assert "--algo {" in out and "sacv1" in out  # rl_zoo3's own help, our algorithms registered
    assert "--final-eval-episodes N" in out.split("sb3_maxent options:")[1]
    assert "train.py" not in out


CALLBACK_CONFIG = """
CartPole-v1:
  n_timesteps: 300
  policy: 'MlpPolicy'
  learning_starts: 50
  train_freq: 1
  gradient_steps: 1
  ent_coef: 1.0
  policy_kwargs: "dict(net_arch=[16])"
  callback:
    - sb3_maxent.EpsilonGreedyEntropyCallback:
        exploration_fraction: 0.5
        exploration_final_eps: 0.05
        learning_rate: 0.01
"""


def test_temperature_callbacks_are_told_apart_from_the_others():
    from sb3_maxent.zoo.train import without_temperature_callbacks

    entropy = {"sb3_maxent.EpsilonGreedyEntropyCallback": {"exploration_fraction": 0.12}}
    checkpoint = {"stable_baselines3.common.callbacks.CheckpointCallback": {"save_freq": 10, "save_path": "x"}}
    specs = [entropy, "sb3_maxent.EntropyTargetCallback", checkpoint, "rl_zoo3.callbacks.RawStatisticsCallback"]
    assert without_temperature_callbacks(specs) == (
        [checkpoint, "rl_zoo3.callbacks.RawStatisticsCallback"],
        [entropy, "sb3_maxent.EntropyTargetCallback"],
    )
    assert without_temperature_callbacks("sb3_maxent.EntropyTargetCallback") == ([], ["sb3_maxent.EntropyTargetCallback"])
    assert without_temperature_callbacks(None) == ([], [])


def test_config_temperature_callback_trains_and_is_left_out_when_tuning(tmp_path):
    conf = tmp_path / "msql.yml"
    conf.write_text(CALLBACK_CONFIG)
    base = [sys.executable, "-m", "sb3_maxent.train", "--algo", "msql", "--env", "CartPole-v1", "-f", str(tmp_path)]
    base += ["-conf", str(conf), "--seed", "0"]
    # training: rl_zoo3 builds the config's callback, which drives the temperature (logged as train/target_entropy)
    result = subprocess.run([*base, "--eval-freq", "-1", "--log-interval", "1"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "target_entropy" in result.stdout
    # tuning: the sampler draws ent_coef ("auto" among them, which the callback would refuse): the callback stays out
    optimize = [*base, "-optimize", "--n-trials", "2", "-n", "200", "--n-evaluations", "1", "--eval-episodes", "2"]
    result = subprocess.run([*optimize, "--sampler", "random"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "the config's temperature callback" in result.stdout and "left out of the trials" in result.stdout
    assert re.search(r"Number of finished trials:\s+2\b", result.stdout)
