"""The environment-data guard: which data it inspects in a replay batch, and which data can be non-finite at all."""

import re

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.type_aliases import ReplayBufferSamples

from sb3_maxent import EnvironmentDataError
from sb3_maxent.common.validation import check_finite_environment_data, check_finite_losses


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
