"""
Reliability: load validates what it is given as the constructor does, saves are atomic, the temperature callback
belongs to one model, and unclear errors name the argument and what is allowed (docs/reliability.md).
"""

import errno
import os
import pathlib
import pickle
import re
import signal
import subprocess
import sys
import textwrap
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.envs import IdentityEnv, IdentityEnvBox

from sb3_maxent import SACV1, EntropyTargetCallback, SoftQLearning
from sb3_maxent.common import saving


def small() -> dict:
    """Small networks (a new dict each time: SB3 adds its own keys to the one it is given)."""
    return dict(net_arch=[8])


def exactly(message: str) -> str:
    """A ``pytest.raises(match=...)`` pattern for the whole message."""
    return f"^{re.escape(message)}$"


def make_env(kind: str) -> gym.Env:
    return IdentityEnvBox(-1, 1) if kind == "box" else IdentityEnv(3)


def _temporary_files(directory: pathlib.Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name.endswith(saving.TEMPORARY_SUFFIX))


# 1. EntropyTargetCallback binds to one model ------------------------------------------------------------------


def test_an_entropy_callback_refuses_a_second_model_and_leaves_its_temperature_alone():
    first = SACV1("MlpPolicy", IdentityEnvBox(-1, 1), ent_coef=0.5, learning_starts=10, policy_kwargs=small(), seed=0)
    callback = EntropyTargetCallback(target_entropy=-0.5, learning_rate=0.1)
    first.learn(40, callback=callback)
    assert callback.ent_coef != pytest.approx(0.5)
    second = SACV1("MlpPolicy", IdentityEnvBox(-1, 1), ent_coef=0.2, learning_starts=10, policy_kwargs=small(), seed=0)
    message = (
        "this EntropyTargetCallback already drives the temperature of another model (a ContinuousSACV1): create one "
        "callback per model; to carry alpha and its optimiser over to a reloaded model, save() this callback and load() it "
        "into a new one"
    )
    with pytest.raises(ValueError, match=exactly(message)):
        second.learn(20, callback=callback)
    # before: the second model silently trained with the first one's alpha
    assert second.temperature.item() == pytest.approx(0.2)
    # the model it belongs to goes on with it
    first.learn(20, callback=callback, reset_num_timesteps=False)


def test_an_epsilon_greedy_callback_names_the_second_model_before_its_action_space():
    from sb3_maxent import EpsilonGreedyEntropyCallback

    callback = EpsilonGreedyEntropyCallback()
    callback.init_callback(SoftQLearning("MlpPolicy", IdentityEnv(3), ent_coef=0.1, policy_kwargs=small()))
    with pytest.raises(ValueError, match=r"^this EpsilonGreedyEntropyCallback already drives the temperature of another"):
        callback.init_callback(SACV1("MlpPolicy", IdentityEnvBox(-1, 1), ent_coef=0.1, policy_kwargs=small()))


def test_an_entropy_callback_refused_by_a_model_binds_to_none():
    callback = EntropyTargetCallback()
    with pytest.raises(ValueError, match="already learns its ent_coef"):
        callback.init_callback(SACV1("MlpPolicy", IdentityEnvBox(-1, 1), ent_coef="auto", policy_kwargs=small()))
    model = SACV1("MlpPolicy", IdentityEnvBox(-1, 1), ent_coef=0.3, policy_kwargs=small())
    callback.init_callback(model)
    assert callback.ent_coef == pytest.approx(0.3)


def test_saving_an_entropy_callback_before_learn_is_a_clear_error(tmp_path):
    callback = EntropyTargetCallback()
    message = (
        "EntropyTargetCallback.save(): the callback has no temperature yet; it is created when learn() starts with it "
        "(model.learn(..., callback=callback)) or by callback.init_callback(model)"
    )
    with pytest.raises(RuntimeError, match=exactly(message)):
        callback.save(tmp_path / "callback.pt")
    with pytest.raises(RuntimeError, match=exactly(message.replace("save()", "state_dict()"))):
        callback.state_dict()
    with pytest.raises(RuntimeError, match=exactly(message.replace("save()", "ent_coef"))):
        _ = callback.ent_coef
    assert list(tmp_path.iterdir()) == []


def test_an_entropy_callback_state_loaded_before_learn_can_be_saved_again(tmp_path):
    model = SACV1("MlpPolicy", IdentityEnvBox(-1, 1), ent_coef=0.5, learning_starts=10, policy_kwargs=small(), seed=0)
    trained = EntropyTargetCallback(target_entropy=-0.5, learning_rate=0.1)
    model.learn(40, callback=trained)
    trained.save(tmp_path / "callback.pt")
    carried = EntropyTargetCallback()
    carried.load(tmp_path / "callback.pt")
    carried.save(tmp_path / "again.pt")
    again = th.load(tmp_path / "again.pt", weights_only=True)
    assert th.equal(again["log_ent_coef"], trained.log_ent_coef.detach())
    assert _temporary_files(tmp_path) == []


# 2. load validates what it is given ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    directory = tmp_path_factory.mktemp("models")
    paths = {}
    for algorithm in (SACV1, SoftQLearning):
        for kind in ("box", "discrete"):
            path = directory / f"{algorithm.__name__}_{kind}.zip"
            algorithm("MlpPolicy", make_env(kind), learning_starts=10, policy_kwargs=small()).save(path)
            paths[algorithm.__name__, kind] = path
    return paths


COMMON_LOAD_ERRORS = [
    ({"gamma": 7}, "gamma must be in [0, 1], got 7"),
    ({"batch_size": 0}, "batch_size must be >= 1, got 0"),
    ({"tau": float("nan")}, "tau must be in [0, 1] (0 freezes the target network, 1 copies it), got nan"),
    ({"target_update_interval": 0}, "target_update_interval must be >= 1, got 0"),
    ({"ent_coef": 1e39}, "ent_coef must be finite in float32 (<= 3.4e38), got 1e+39"),
]
LOAD_CASES = [
    pytest.param(algorithm, kind, values, message, id=f"{algorithm.__name__}-{kind}-{next(iter(values))}")
    for algorithm in (SACV1, SoftQLearning)
    for kind in ("box", "discrete")
    for values, message in COMMON_LOAD_ERRORS
] + [
    pytest.param(SACV1, "box", {"loss": "l1"}, "loss must be 'mse' or 'huber', got 'l1'", id="SACV1-loss"),
    pytest.param(
        SACV1,
        "discrete",
        {"use_sde": True},
        "use_sde: gSDE explores in a continuous action space; with Discrete actions pass use_sde=False",
        id="DiscreteSACV1-use_sde",
    ),
    pytest.param(
        SoftQLearning,
        "box",
        {"svgd_update_ratio": float("nan")},
        "svgd_update_ratio (the fraction of the particles moved by the Stein direction) must be a finite number in (0, 1), "
        "got nan",
        id="SoftQLearning-svgd_update_ratio",
    ),
    pytest.param(
        SoftQLearning,
        "discrete",
        {"max_grad_norm": 0},
        "max_grad_norm must be a finite number > 0, got 0",
        id="SoftQLearning-max_grad_norm",
    ),
]


@pytest.mark.parametrize("given_as", ["custom_objects", "kwargs"])
@pytest.mark.parametrize(("algorithm", "kind", "values", "message"), LOAD_CASES)
def test_values_given_at_load_are_validated_as_by_the_constructor(saved_models, algorithm, kind, values, message, given_as):
    path = saved_models[algorithm.__name__, kind]
    arguments = {"custom_objects": values} if given_as == "custom_objects" else values
    with pytest.raises(ValueError, match=exactly(message)):
        algorithm.load(path, env=make_env(kind), **arguments)
    # the constructor says the same
    with pytest.raises(ValueError, match=exactly(message)):
        algorithm("MlpPolicy", make_env(kind), policy_kwargs=small(), **values)


@pytest.mark.parametrize("kind", ["box", "discrete"])
@pytest.mark.parametrize("algorithm", [SACV1, SoftQLearning])
def test_values_sb3_accepts_keep_their_meaning_at_load(saved_models, algorithm, kind):
    # tau=0 freezes the target network, gradient_steps=0 collects without training, gamma=1 does not discount
    values = {"tau": 0.0, "gradient_steps": 0, "gamma": 1.0, "learning_starts": 0, "batch_size": 4}
    model = algorithm.load(saved_models[algorithm.__name__, kind], env=make_env(kind), custom_objects=values)
    assert {name: getattr(model, name) for name in values} == values
    model.learn(8)
    assert model._n_updates == 0


@pytest.mark.parametrize("kind", ["box", "discrete"])
@pytest.mark.parametrize("algorithm", [SACV1, SoftQLearning])
def test_a_model_loads_to_act_with_learning_rate_0_as_rl_zoo_loads_it(saved_models, algorithm, kind):
    # rl_zoo3.enjoy loads with custom_objects={"learning_rate": 0.0, "lr_schedule": lambda _: 0.0}: SB3 accepts it,
    # and the optimisers then leave the model as saved
    path = saved_models[algorithm.__name__, kind]
    model = algorithm.load(path, custom_objects={"learning_rate": 0.0, "lr_schedule": lambda _: 0.0})
    assert model.lr_schedule(1.0) == 0.0
    message = "learning_rate must be a finite number >= 0 (0: loaded to act, not to train) or a schedule, got -1.0"
    with pytest.raises(ValueError, match=exactly(message)):
        algorithm.load(path, custom_objects={"learning_rate": -1.0})
    with pytest.raises(ValueError, match=exactly(message.replace("-1.0", "nan"))):
        algorithm.load(path, learning_rate=float("nan"))
    # a new model that would never train is refused, as before
    with pytest.raises(ValueError, match=exactly("learning_rate must be a finite number > 0 or a schedule, got 0.0")):
        algorithm("MlpPolicy", make_env(kind), learning_rate=0.0, policy_kwargs=small())


# 3. atomic saves -----------------------------------------------------------------------------------------------


def _write_then_fail(*_args, **_kwargs):
    """A serializer that writes part of its output and then finds the disk full."""
    file = _args[1] if len(_args) > 1 else _kwargs["f"]
    file.write(b"\0" * 50_000)
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.fixture
def saved_model(tmp_path):
    model = SACV1("MlpPolicy", IdentityEnvBox(-1, 1), learning_starts=10, buffer_size=200, policy_kwargs=small(), seed=0)
    model.learn(30)
    path = tmp_path / "model.zip"
    model.save(path)
    return model, path


def _assert_loads_as(path, model):
    loaded = SACV1.load(path, device="cpu")
    for (name, expected), (_, actual) in zip(
        model.policy.state_dict().items(), loaded.policy.state_dict().items(), strict=True
    ):
        assert th.equal(expected, actual), name


def test_a_save_that_fails_midway_leaves_the_previous_file_intact(saved_model, monkeypatch):
    model, path = saved_model
    good = path.read_bytes()
    monkeypatch.setattr(th, "save", _write_then_fail)
    with pytest.raises(OSError, match="No space left on device") as raised:
        model.save(path)
    assert raised.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert path.read_bytes() == good
    _assert_loads_as(path, model)
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.zip"]


def test_a_save_whose_flush_to_disk_fails_leaves_the_previous_file_intact(saved_model, monkeypatch):
    model, path = saved_model
    good = path.read_bytes()
    with th.no_grad():
        next(model.policy.parameters()).add_(1.0)  # the new file would differ

    def disk_full(_descriptor):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left on device"):
        model.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.zip"]


def test_a_replay_buffer_save_that_fails_midway_leaves_the_previous_file_intact(saved_model, monkeypatch):
    model, path = saved_model
    buffer_path = path.parent / "buffer.pkl"
    model.save_replay_buffer(buffer_path)
    good = buffer_path.read_bytes()
    monkeypatch.setattr(pickle, "dump", _write_then_fail)
    with pytest.raises(OSError, match="No space left on device"):
        model.save_replay_buffer(buffer_path)
    monkeypatch.undo()
    assert buffer_path.read_bytes() == good
    model.load_replay_buffer(buffer_path)
    assert model.replay_buffer.size() == 30
    assert sorted(p.name for p in path.parent.iterdir()) == ["buffer.pkl", "model.zip"]


def test_save_paths_are_handled_as_by_sb3(tmp_path):
    model = SoftQLearning("MlpPolicy", IdentityEnv(3), learning_starts=10, buffer_size=50, policy_kwargs=small())
    # no suffix: .zip (.pkl for the replay buffer) is added; a missing folder is created
    model.save(tmp_path / "new" / "model")
    model.save_replay_buffer(str(tmp_path / "new" / "buffer"))
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["buffer.pkl", "model.zip"]
    # a folder: saved beside it as <folder>_2
    (tmp_path / "folder.zip").mkdir()
    with pytest.warns(UserWarning, match="is a folder"):
        model.save(tmp_path / "folder.zip")
    assert (tmp_path / "folder.zip_2").is_file()
    # a file object is written as SB3 writes it
    with open(tmp_path / "object.zip", "wb") as file:
        model.save(file)
        assert not file.closed
    SoftQLearning.load(tmp_path / "object.zip")
    assert _temporary_files(tmp_path) == [] and _temporary_files(tmp_path / "new") == []


def test_a_save_keeps_the_permissions_and_writes_through_a_link(tmp_path):
    model = SACV1("MlpPolicy", IdentityEnvBox(-1, 1), policy_kwargs=small())
    path = tmp_path / "model.zip"
    model.save(path)
    path.chmod(0o640)
    link = tmp_path / "latest.zip"
    link.symlink_to(path)
    model.save(link)
    assert link.is_symlink() and path.stat().st_mode & 0o777 == 0o640
    SACV1.load(link)


KILLED_CHILD = textwrap.dedent(
    """
    import pickle, sys, time
    import torch as th
    from stable_baselines3.common.envs import IdentityEnvBox
    from sb3_maxent import SACV1

    what, path = sys.argv[1], sys.argv[2]
    model = SACV1("MlpPolicy", IdentityEnvBox(-1, 1), learning_starts=10, buffer_size=200, policy_kwargs=dict(net_arch=[8]))
    model.learn(20)

    def stalled_write(obj, file, *args, **kwargs):
        # part of the bytes reach the disk, then the process is killed while writing
        file.write(b"\\0" * 50_000)
        file.flush()
        print("writing", flush=True)
        time.sleep(600)

    if what == "model":
        th.save = stalled_write
        model.save(path)
    else:
        pickle.dump = stalled_write
        model.save_replay_buffer(path)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("what", ["model", "replay_buffer"])
def test_a_process_killed_while_saving_leaves_the_previous_file_loadable(saved_model, what):
    model, path = saved_model
    if what == "replay_buffer":
        path = path.parent / "buffer.pkl"
        model.save_replay_buffer(path)
    good = path.read_bytes()
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD, what, str(path)],
        stdout=subprocess.PIPE,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == b"writing\n"
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=60)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert path.read_bytes() == good
    if what == "model":
        _assert_loads_as(path, model)
    else:
        model.load_replay_buffer(path)
    # the killed save's partial temporary file, hidden beside the target (safe to delete)
    (leftover,) = _temporary_files(path.parent)
    assert leftover.startswith(f".{path.name}.")


# 4. clear messages ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "kind", "ent_coef", "message"),
    [
        (SACV1, "box", 1e39, "ent_coef must be finite in float32 (<= 3.4e38), got 1e+39"),
        (SACV1, "discrete", 1e39, "ent_coef must be finite in float32 (<= 3.4e38), got 1e+39"),
        (SoftQLearning, "box", 1e39, "ent_coef must be finite in float32 (<= 3.4e38), got 1e+39"),
        (SoftQLearning, "discrete", 1e39, "ent_coef must be finite in float32 (<= 3.4e38), got 1e+39"),
        (
            SACV1,
            "box",
            "auto_1e39",
            "ent_coef='auto_1e39': the initial value must be finite in float32 (<= 3.4e38), got 1e+39",
        ),
        (
            SACV1,
            "box",
            "auto_1e-50",
            "ent_coef='auto_1e-50': the initial value=1e-50 is below float32's smallest positive number (1.4e-45) and "
            "would become 0: pass a value of at least 1e-38",
        ),
    ],
)
def test_an_ent_coef_beyond_float32_is_named(algorithm, kind, ent_coef, message):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning on the way
        with pytest.raises(ValueError, match=exactly(message)):
            algorithm("MlpPolicy", make_env(kind), ent_coef=ent_coef, policy_kwargs=small())
    # the largest float32 is allowed
    algorithm("MlpPolicy", make_env(kind), ent_coef=float(np.finfo(np.float32).max), policy_kwargs=small())


class ConstantDimensionEnv(gym.Env):
    """An action space whose second dimension has low == high."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def __init__(self, low=(-1.0, 0.0), high=(1.0, 0.0)):
        self.action_space = gym.spaces.Box(np.array(low, np.float32), np.array(high, np.float32))

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, False, False, {}


@pytest.mark.parametrize("algorithm", [SACV1, SoftQLearning])
def test_an_action_dimension_with_low_equal_to_high_is_named(algorithm):
    env = ConstantDimensionEnv()
    message = (
        f"the action space must have low < high in every dimension, got low=0.0, high=0.0 in dimension 1 of "
        f"{env.action_space}: remove that dimension from the environment's action space (its action is constant), "
        "or widen its bounds"
    )
    with pytest.raises(ValueError, match=exactly(message)):
        algorithm("MlpPolicy", env, policy_kwargs=small())


@pytest.mark.parametrize("ratio", [float("nan"), float("inf")])
def test_a_svgd_update_ratio_that_is_not_finite_is_named(ratio):
    message = (
        "svgd_update_ratio (the fraction of the particles moved by the Stein direction) must be a finite number in "
        f"(0, 1), got {ratio}"
    )
    with pytest.raises(ValueError, match=exactly(message)):
        SoftQLearning("MlpPolicy", IdentityEnvBox(-1, 1), svgd_update_ratio=ratio, policy_kwargs=small())


@pytest.mark.parametrize(
    ("initial_ent_coef", "message"),
    [
        (
            1e-300,
            "initial_ent_coef=1e-300 is below float32's smallest positive number (1.4e-45) and would become 0: "
            "pass a value of at least 1e-38",
        ),
        (1e39, "initial_ent_coef must be finite in float32 (<= 3.4e38), got 1e+39"),
        (0.0, "initial_ent_coef must be a finite number > 0, got 0.0"),
    ],
)
def test_entropy_callback_initial_ent_coef_is_named(initial_ent_coef, message):
    with pytest.raises(ValueError, match=exactly(message)):
        EntropyTargetCallback(initial_ent_coef=initial_ent_coef)
