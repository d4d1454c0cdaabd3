"""
Atomic saving (``sb3_maxent.common.saving``, docs/reliability.md) beyond its faults (those are in
tests/common/test_reliability.py): the path handling, warnings and arguments of SB3's ``save`` and ``save_replay_buffer``
kept, file objects written as SB3 writes them, and the corner cases of a file system (a folder created meanwhile, a
folder that cannot be synced, long names).
"""

import errno
import io
import os
import pathlib
import re
import stat
import sys
import warnings

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.envs import IdentityEnv
from stable_baselines3.common.save_util import load_from_zip_file

from sb3_maxent import SoftQLearning
from sb3_maxent.common import saving


def small_model(**kwargs) -> SoftQLearning:
    return SoftQLearning(
        "MlpPolicy", IdentityEnv(3), learning_starts=10, buffer_size=50, policy_kwargs={"net_arch": [8]}, **kwargs
    )


def exactly(message: str) -> str:
    """A ``pytest.warns(match=...)`` pattern for the whole message."""
    return f"^{re.escape(message)}$"


def _see_past_call_wrappers(monkeypatch) -> None:
    """
    Make ``warnings.warn`` count its ``stacklevel`` without the frames of call wrappers that are not the library's
    (mutmut's trampolines, one pair per call of a mutated function): where the warning points is then checked
    under mutation testing too. Without such frames (any ordinary run) it is ``warnings.warn`` itself.
    """
    warn = warnings.warn

    def warn_past_wrappers(message, category=None, stacklevel=1, source=None):
        frame, level, skipped = sys._getframe(1), 1, 0
        while level < stacklevel and frame is not None:
            frame = frame.f_back
            if frame is not None and frame.f_globals.get("__name__", "").startswith("mutmut."):
                skipped += 1
            else:
                level += 1
        warn(message, category, stacklevel + skipped + 1, source)  # + 1: this function's own frame

    monkeypatch.setattr(warnings, "warn", warn_past_wrappers)


def _user_warnings(record) -> list[tuple[str, str, int]]:
    return [(str(w.message), w.filename, w.lineno) for w in record if issubclass(w.category, UserWarning)]


# the path handling of SB3's open_path, with its warnings ----------------------------------------------------------


def test_missing_folders_are_created_with_sb3s_warning_at_the_users_line(tmp_path, monkeypatch):
    _see_past_call_wrappers(monkeypatch)
    model = small_model()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.save(tmp_path / "runs" / "seed_0" / "model")
        model_line = sys._getframe().f_lineno - 1
        model.save_replay_buffer(tmp_path / "buffers" / "seed_0" / "buffer")
        buffer_line = sys._getframe().f_lineno - 1
    assert _user_warnings(record) == [
        (f"Path '{tmp_path / 'runs' / 'seed_0'}' does not exist. Will create it.", __file__, model_line),
        (f"Path '{tmp_path / 'buffers' / 'seed_0'}' does not exist. Will create it.", __file__, buffer_line),
    ]
    assert (tmp_path / "runs" / "seed_0" / "model.zip").is_file()
    assert (tmp_path / "buffers" / "seed_0" / "buffer.pkl").is_file()


def test_a_folder_in_the_way_is_saved_beside_with_sb3s_warning_at_the_users_line(tmp_path, monkeypatch):
    _see_past_call_wrappers(monkeypatch)
    model = small_model()
    (tmp_path / "model.zip").mkdir()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.save(tmp_path / "model")
        line = sys._getframe().f_lineno - 1
    folder = tmp_path / "model.zip"
    assert _user_warnings(record) == [(f"Path '{folder}' is a folder. Will save instead to {folder}_2", __file__, line)]
    SoftQLearning.load(tmp_path / "model.zip_2")


@pytest.mark.parametrize("verbose", [0, 1, 2])
def test_overwriting_a_replay_buffer_warns_at_verbose_2_as_sb3_does(tmp_path, monkeypatch, verbose):
    _see_past_call_wrappers(monkeypatch)
    model = small_model(verbose=verbose)
    path = tmp_path / "buffer.pkl"
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.save_replay_buffer(path)  # a new file: nothing to say
        assert _user_warnings(record) == []
        model.save_replay_buffer(path)
        line = sys._getframe().f_lineno - 1
    expected = [(f"Path '{path}' exists, will overwrite it.", __file__, line)] if verbose >= 2 else []
    assert _user_warnings(record) == expected


def test_a_folder_another_process_creates_meanwhile_is_no_error(tmp_path, monkeypatch):
    # two runs saving into the same new folder: the other one creates it between this save's check and its mkdir
    folder = tmp_path / "runs"
    exists = pathlib.Path.exists

    def exists_then_created_by_another_process(self, *args, **kwargs):
        found = exists(self, *args, **kwargs)
        if self == folder and not found:
            folder.mkdir()
        return found

    monkeypatch.setattr(pathlib.Path, "exists", exists_then_created_by_another_process)
    model = small_model()
    with pytest.warns(UserWarning, match="does not exist. Will create it."):
        model.save(folder / "model")
    assert sorted(p.name for p in folder.iterdir()) == ["model.zip"]


# SB3's arguments and file objects ------------------------------------------------------------------------------


@pytest.mark.parametrize("to", ["path", "file object"])
def test_exclude_and_include_are_passed_on_to_sb3(tmp_path, to):
    model = small_model(gamma=0.5)
    path = tmp_path / "model.zip"
    if to == "path":
        model.save(path, exclude=["gamma"], include=["_custom_logger"])
    else:
        with open(path, "wb") as file:
            model.save(file, exclude=["gamma"], include=["_custom_logger"])
    data, _, _ = load_from_zip_file(path)
    assert "gamma" not in data and data["_custom_logger"] is False
    assert "env" not in data and data["learning_starts"] == 10  # the rest as by default


def test_a_replay_buffer_saved_to_a_file_object_loads_back(tmp_path):
    model = small_model(seed=0)
    model.learn(20)
    with open(tmp_path / "buffer.pkl", "wb") as file:
        model.save_replay_buffer(file)
    other = small_model()
    other.load_replay_buffer(tmp_path / "buffer.pkl")
    assert other.replay_buffer.size() == 20
    np.testing.assert_array_equal(other.replay_buffer.observations, model.replay_buffer.observations)
    assert [p.name for p in tmp_path.iterdir()] == ["buffer.pkl"]


@pytest.mark.parametrize("to", ["path", "file object"])
def test_atomic_torch_save_writes_what_torch_save_writes(tmp_path, to):
    state = {"log_ent_coef": th.tensor([-1.5]), "step": 3}
    if to == "path":
        saving.atomic_torch_save(state, tmp_path / "state.pt")
        loaded = th.load(tmp_path / "state.pt", weights_only=True)
    else:
        buffer = io.BytesIO()
        saving.atomic_torch_save(state, buffer)
        loaded = th.load(io.BytesIO(buffer.getvalue()), weights_only=True)
    assert th.equal(loaded["log_ent_coef"], state["log_ent_coef"]) and loaded["step"] == 3


# file systems ------------------------------------------------------------------------------------------------------


def test_a_file_system_that_cannot_sync_a_folder_still_saves(tmp_path, monkeypatch):
    # some file systems refuse fsync on a folder (EINVAL); the file itself was synced before the replace
    fsync = os.fsync

    def fsync_files_only(descriptor):
        if stat.S_ISDIR(os.fstat(descriptor).st_mode):
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync_files_only)
    model = small_model()
    model.save(tmp_path / "model.zip")
    monkeypatch.undo()
    SoftQLearning.load(tmp_path / "model.zip")
    assert [p.name for p in tmp_path.iterdir()] == ["model.zip"]


# the temporary file beside the target is named ".<name>.<12 hex digits>.tmp": 18 characters more than the target's
NAME_OVERHEAD = len(".") + len(".") + 12 + len(saving.TEMPORARY_SUFFIX)


def test_a_long_file_name_saves(tmp_path):
    name = "m" * (os.pathconf(tmp_path, "PC_NAME_MAX") - NAME_OVERHEAD - len(".zip")) + ".zip"
    small_model().save(tmp_path / name)
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_a_file_name_as_long_as_the_file_system_allows_saves(tmp_path):
    name = "m" * (os.pathconf(tmp_path, "PC_NAME_MAX") - len(".zip")) + ".zip"
    small_model().save(tmp_path / name)
    assert [p.name for p in tmp_path.iterdir()] == [name]
