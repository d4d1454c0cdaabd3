"""Argument checks and training guards shared by the algorithms: bad input fails loudly and early."""

import math
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Literal

import numpy as np
import torch as th
from gymnasium import spaces

# sb3_maxent/ (this file is sb3_maxent/common/validation.py)
_PACKAGE_DIRECTORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def user_stacklevel(library_directories: tuple[str, ...] | None = None) -> int:
    """
    The ``stacklevel`` that makes ``warnings.warn``, called by the caller of this function, name the user's line:
    the first frame outside this package and stable-baselines3 (whose ``__init__``/``_setup_model`` chain sits
    between the user's call and the warning, a depth that differs between construction and ``load``).
    """
    if library_directories is None:
        import stable_baselines3

        library_directories = (_PACKAGE_DIRECTORY, os.path.dirname(os.path.abspath(stable_baselines3.__file__)) + os.sep)
    frame = sys._getframe(1)  # the function that warns: stacklevel 1
    level = 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(library_directories):
        frame = frame.f_back
        level += 1
    return level


# The critics' regression loss: the squared error of the papers, or SB3 DQN's Huber loss (smooth L1, beta 1)
LossName = Literal["mse", "huber"]


def check_loss_name(loss: str) -> None:
    if loss not in ("mse", "huber"):
        raise ValueError(f"loss must be 'mse' or 'huber', got {loss!r}")


class DivergenceError(RuntimeError):
    """Raised when a training loss becomes NaN or infinite on finite data, instead of training on garbage."""


class EnvironmentDataError(ValueError):
    """Raised when the environment produced NaN or infinite rewards or observations (not a training problem)."""


def _non_finite_count(value: Any) -> int:
    if isinstance(value, Mapping):
        return sum(_non_finite_count(item) for item in value.values())
    if isinstance(value, th.Tensor):
        return int((~th.isfinite(value)).sum().item()) if value.is_floating_point() else 0
    array = np.asarray(value)
    return int((~np.isfinite(array)).sum()) if np.issubdtype(array.dtype, np.floating) else 0


def check_finite_environment_data(where: str, **data: Any) -> None:
    """
    Name the non-finite rewards or observations the environment produced.

    :param where: where they were found, for the message (``"the replay batch"``, ...)
    :param data: name -> array, tensor or dict of them (``None`` values are skipped)
    :raises EnvironmentDataError: if any value is NaN or infinite
    """
    bad = {name: count for name, value in data.items() if value is not None and (count := _non_finite_count(value))}
    if bad:
        found = ", ".join(f"{count} in {name}" for name, count in bad.items())
        raise EnvironmentDataError(
            f"{where} holds non-finite values ({found}): they come from the environment, not from training. "
            "Find the step that produced them with stable_baselines3.common.vec_env.VecCheckNan(env, raise_exception=True)."
        )


def check_finite_replay_batch(replay_data: Any) -> None:
    """:func:`check_finite_environment_data` on a replay batch (observations, next observations, rewards)."""
    check_finite_environment_data(
        "the replay batch",
        observations=replay_data.observations,
        next_observations=replay_data.next_observations,
        rewards=replay_data.rewards,
    )


def check_off_policy_hyperparameters(
    *,
    tau: float,
    gamma: float,
    batch_size: int,
    buffer_size: int,
    learning_starts: int,
    gradient_steps: int,
    target_update_interval: int,
    learning_rate: object,
    loading: bool = False,
) -> None:
    """
    Validate the hyperparameters that SB3 itself accepts without checking, accepting every value SB3 gives a
    meaning: ``tau=0`` freezes the target network, ``gradient_steps=0`` collects experience without training.

    :param loading: the values a loaded model ends up with (saved, then ``custom_objects`` and keyword arguments of
        ``load``), where ``learning_rate=0`` is also accepted: SB3's and rl-zoo's way to load a model to act
        (``custom_objects={"learning_rate": 0.0}``, as ``rl_zoo3.enjoy`` does), whose optimisers then leave it as saved
    :raises ValueError: naming the first invalid argument
    """
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"tau must be in [0, 1] (0 freezes the target network, 1 copies it), got {tau}")
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if buffer_size < 1:
        raise ValueError(f"buffer_size must be >= 1, got {buffer_size}")
    if learning_starts < 0:
        raise ValueError(f"learning_starts must be >= 0, got {learning_starts}")
    if gradient_steps < -1:
        raise ValueError(
            f"gradient_steps must be >= 0 (0: collect without training), or -1 (as many as environment steps), "
            f"got {gradient_steps}"
        )
    if target_update_interval < 1:
        raise ValueError(f"target_update_interval must be >= 1, got {target_update_interval}")
    if isinstance(learning_rate, (int, float)):
        if loading and not (math.isfinite(learning_rate) and learning_rate >= 0):
            raise ValueError(
                "learning_rate must be a finite number >= 0 (0: loaded to act, not to train) or a schedule, "
                f"got {learning_rate}"
            )
        if not loading and not (math.isfinite(learning_rate) and learning_rate > 0):
            raise ValueError(f"learning_rate must be a finite number > 0 or a schedule, got {learning_rate}")


def check_loaded_off_policy_hyperparameters(model: Any) -> None:
    """
    :func:`check_off_policy_hyperparameters` on a model's attributes, with ``loading=True``: the values SB3's
    ``load`` ends up with (saved, then ``custom_objects``, then its keyword arguments), which no constructor checked.
    """
    check_off_policy_hyperparameters(
        tau=model.tau,
        gamma=model.gamma,
        batch_size=model.batch_size,
        buffer_size=model.buffer_size,
        learning_starts=model.learning_starts,
        gradient_steps=model.gradient_steps,
        target_update_interval=model.target_update_interval,
        learning_rate=model.learning_rate,
        loading=True,
    )


def check_action_space_bounds(action_space: Any) -> None:
    """
    Refuse a ``Box`` action space with low == high in a dimension: the policies squash their actions into [-1, 1] and
    rescale them to [low, high], and the replay buffer stores them scaled back by ``high - low``: a zero there made
    NaN actions, which reached training as a divergence. (SB3 itself refuses infinite bounds.) Other spaces pass.

    :raises ValueError: naming the first dimension at fault and its bounds
    """
    if not isinstance(action_space, spaces.Box):
        return
    low, high = np.asarray(action_space.low), np.asarray(action_space.high)
    empty = ~(low < high)
    if empty.any():
        index = _first_index(empty)
        raise ValueError(
            f"the action space must have low < high in every dimension, got low={low[index]}, high={high[index]} in "
            f"dimension {_dimension_name(index)} of {action_space}: remove that dimension from the environment's "
            "action space (its action is constant), or widen its bounds"
        )


def _first_index(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _dimension_name(index: tuple[int, ...]) -> str:
    return str(index[0]) if len(index) == 1 else str(index)


@contextmanager
def environment_data_blamed_for_errors(where: str, **data: Any) -> Iterator[None]:
    """
    Turn an error raised on non-finite input (torch's ``Normal(loc: nan)`` validation, ...) into an
    :class:`EnvironmentDataError` naming the environment's data; errors on finite data pass through unchanged.
    """
    try:
        yield
    except ValueError as error:
        try:
            check_finite_environment_data(where, **data)
        except EnvironmentDataError as data_error:
            raise data_error from error
        raise


@contextmanager
def diverged_network_blamed_for_errors(name: str, *, n_updates: int, num_timesteps: int) -> Iterator[None]:
    """
    Turn torch's refusal of a non-finite distribution parameter (``Normal(loc: nan)``: "found invalid values")
    into a :class:`DivergenceError` naming the network. Nest it outside :func:`environment_data_blamed_for_errors`:
    when the input is finite too, the network itself diverged (weights at inf/NaN, or so large that its activations
    overflow). Other errors pass through.

    :param name: the network, for the message (``"the actor"``)
    """
    try:
        yield
    except EnvironmentDataError:
        raise
    except ValueError as error:
        if "invalid values" not in str(error):
            raise
        raise DivergenceError(
            f"{name}'s output is not finite at gradient step {n_updates} (environment step {num_timesteps}) although "
            "its input is: training diverged. Lower the learning rate, rescale rewards or lower ent_coef."
        ) from error


def check_finite_losses(losses: Mapping[str, float], *, n_updates: int, num_timesteps: int, replay_data: Any = None) -> None:
    """
    Stop training when a loss is NaN or infinite, saying whether the environment's data or the training is to blame.

    :param losses: loss name -> value of the current gradient step
    :param n_updates: index of the gradient step, for the message
    :param num_timesteps: environment steps so far, for the message
    :param replay_data: the batch the losses were computed on; inspected only when a loss is not finite
    :raises EnvironmentDataError: when the batch itself holds non-finite rewards or observations
    :raises DivergenceError: naming the loss and the step, when the batch is finite
    """
    for name, value in losses.items():
        if not math.isfinite(value):
            if replay_data is not None:
                check_finite_replay_batch(replay_data)
            raise DivergenceError(
                f"{name} is {value} at gradient step {n_updates} (environment step {num_timesteps}): training "
                "diverged. Lower the learning rate, rescale rewards or lower ent_coef; the model was not updated "
                "with this step."
            )


# the algorithm that owns a policy module, to tell the user which class loads a file saved by another one
_ALGORITHM_OF_POLICY_MODULE = {
    "stable_baselines3.sac.policies": "stable_baselines3.SAC",
    "stable_baselines3.td3.policies": "stable_baselines3.TD3",
    "stable_baselines3.dqn.policies": "stable_baselines3.DQN",
    "stable_baselines3.common.policies": "stable_baselines3.PPO or A2C",
    "stable_baselines3.ppo.policies": "stable_baselines3.PPO",
    "stable_baselines3.a2c.policies": "stable_baselines3.A2C",
    "sb3_contrib.tqc.policies": "sb3_contrib.TQC",
    "sb3_contrib.crossq.policies": "sb3_contrib.CrossQ",
    "sb3_contrib.qrdqn.policies": "sb3_contrib.QRDQN",
    "sb3_maxent.sacv1.policies": "sb3_maxent.SACV1",
    "sb3_maxent.sql.policies": "sb3_maxent.SoftQLearning",
    "sb3_maxent.tabular.policies": "sb3_maxent.SoftValueIteration",
}


def check_policy_class(algorithm: type, policy_class: type, expected: tuple[type, ...]) -> None:
    """
    Refuse a policy class the algorithm cannot train, in one sentence naming the class it belongs to: this is what
    loading a file saved by another algorithm (``SACV1.load("a_sac_model.zip")``) runs into.

    :raises TypeError: if ``policy_class`` is not a subclass of one of ``expected``
    """
    if isinstance(policy_class, type) and issubclass(policy_class, expected):
        return
    module = getattr(policy_class, "__module__", "")
    name = f"{module}.{getattr(policy_class, '__qualname__', policy_class)}"
    if module.rpartition(".")[0] == algorithm.__module__.rpartition(".")[0]:
        # a policy of the same package: made for the other action type (SoftQLearning's two implementations)
        raise TypeError(
            f"{algorithm.__name__} cannot use the policy {name}, which is made for another action space: "
            "pass 'MlpPolicy', 'CnnPolicy' or 'MultiInputPolicy' and the right one is chosen"
        )
    owner = _ALGORITHM_OF_POLICY_MODULE.get(module)
    hint = f": it belongs to {owner}, so a model saved by {owner} loads with {owner}.load()" if owner else ""
    raise TypeError(f"{algorithm.__name__} cannot use the policy {name}{hint}")
