"""The environment-data guard: which data it inspects in a replay batch, and which data can be non-finite at all."""

import os
import re
import sys

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.type_aliases import ReplayBufferSamples

from sb3_maxent import EnvironmentDataError
from sb3_maxent.common import validation
from sb3_maxent.common.validation import check_action_space_bounds, check_finite_environment_data, check_finite_losses


def finite_batch() -> ReplayBufferSamples:
    return ReplayBufferSamples(th.zeros(3, 2), th.zeros(3, 1), th.zeros(3, 2), th.zeros(3, 1), th.zeros(3, 1))


def environment_message(found: str) -> str:
    return re.escape(
        f"the replay batch holds non-finite values ({found}): they come from the environment, not from training. "
        "Find the step that produced them with stable_baselines3.common.vec_env.VecCheckNan(env, raise_exception=True)."
    )


@pytest.mark.parametrize(
    ("field", "found"),
    [("observations", "1 in observations"), ("next_observations", "1 in next_observations"), ("rewards", "1 in rewards")],
)
def test_a_non_finite_loss_on_a_non_finite_batch_blames_each_environment_field(field, found):
    values = getattr(finite_batch(), field).clone()
    values[1, 0] = float("nan") if field == "rewards" else float("-inf")
    batch = finite_batch()._replace(**{field: values})
    with pytest.raises(EnvironmentDataError, match=f"^{environment_message(found)}$"):
        check_finite_losses({"critic_loss": float("nan")}, n_updates=2, num_timesteps=50, replay_data=batch)


def test_all_non_finite_batch_fields_are_counted_in_order():
    batch = finite_batch()._replace(
        observations=th.full((3, 2), float("nan")), next_observations=th.tensor([[0.0, np.inf]] * 3), rewards=th.zeros(3, 1)
    )
    with pytest.raises(EnvironmentDataError, match=f"^{environment_message('6 in observations, 3 in next_observations')}$"):
        check_finite_losses({"critic_loss": float("inf")}, n_updates=0, num_timesteps=0, replay_data=batch)


def test_data_that_cannot_be_nan_is_skipped():
    # only floating-point data is inspected: integers, booleans and strings (Text observations, labels in infos)
    # hold no NaN, and asking numpy whether a string is finite would be an error, not a finding
    check_finite_environment_data(
        "the replay batch",
        labels=np.array(["left", "right"]),
        names=["a", "b"],
        counts=np.array([1, 2]),
        flags=th.tensor([True, False]),
        steps=th.tensor([3, 4]),
        nested={"text": np.array(["x"]), "value": np.zeros(2)},
    )
    with pytest.raises(EnvironmentDataError, match=f"^{environment_message('1 in nested')}$"):
        check_finite_environment_data(
            "the replay batch", labels=np.array(["left"]), nested={"text": np.array(["x"]), "value": np.array([np.nan])}
        )


def test_a_constant_dimension_of_a_matrix_shaped_box_is_named_by_its_index():
    low = np.zeros((2, 2), np.float32)
    high = np.ones((2, 2), np.float32)
    high[1, 0] = 0.0
    with pytest.raises(ValueError, match=r"got low=0\.0, high=0\.0 in dimension \(1, 0\) of Box"):
        check_action_space_bounds(spaces.Box(low, high))
    with pytest.raises(ValueError, match=r"got low=0\.0, high=0\.0 in dimension 1 of Box"):
        check_action_space_bounds(spaces.Box(np.zeros(2, np.float32), np.array([1.0, 0.0], np.float32)))


# frames of a made-up library: code compiled under a file name in its directory
LIBRARY = os.sep + "made-up-library" + os.sep
LIBRARY_CODE = """
def outer():
    return inner()

def inner():
    return user_stacklevel(library)
"""


def stacklevel_and_its_callers_frame(call) -> tuple[int, object]:
    """What ``call`` returns, and the frame that called the code calling ``sys._getframe`` (user_stacklevel's caller)."""
    real_getframe, frames = sys._getframe, []

    def spying_getframe(depth=0):
        frames.append(real_getframe(1))
        return real_getframe(depth + 1)

    sys._getframe = spying_getframe
    try:
        level = call()
    finally:
        sys._getframe = real_getframe
    assert len(frames) == 1
    return level, frames[0].f_back


def test_user_stacklevel_names_the_first_frame_outside_the_library():
    # The library: LIBRARY and the directory of the code that runs as user_stacklevel (the package's own, or that of
    # a wrapper such as mutmut's trampoline, whose frames then sit between the caller and the function). With the
    # level it returns, warnings.warn called by user_stacklevel's caller names the first frame outside the library:
    # here the first frame of this file, counted from that caller as 1
    library = (LIBRARY, os.path.dirname(validation.user_stacklevel.__code__.co_filename) + os.sep)
    namespace = {"user_stacklevel": validation.user_stacklevel, "library": library}
    exec(compile(LIBRARY_CODE, LIBRARY + "chain.py", "exec"), namespace)
    for call, n_library_frames in ((namespace["outer"], 2), (lambda: validation.user_stacklevel(library), 0)):
        level, caller = stacklevel_and_its_callers_frame(call)
        expected, frame = 1, caller
        while frame.f_code.co_filename != __file__:
            frame, expected = frame.f_back, expected + 1
        assert level == expected >= 1 + n_library_frames
