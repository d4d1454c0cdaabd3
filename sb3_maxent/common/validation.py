"""Argument checks and training guards shared by the algorithms: bad input fails loudly and early."""

import math
from collections.abc import Mapping


class DivergenceError(RuntimeError):
    """Raised when a training loss becomes NaN or infinite, instead of training on garbage."""


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
) -> None:
    """
    Validate the hyperparameters that SB3 itself accepts without checking.

    :raises ValueError: naming the first invalid argument
    """
    if not 0.0 < tau <= 1.0:
        raise ValueError(f"tau must be in (0, 1], got {tau}")
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if buffer_size < 1:
        raise ValueError(f"buffer_size must be >= 1, got {buffer_size}")
    if learning_starts < 0:
        raise ValueError(f"learning_starts must be >= 0, got {learning_starts}")
    if gradient_steps == 0 or gradient_steps < -1:
        raise ValueError(f"gradient_steps must be >= 1, or -1 (as many as environment steps), got {gradient_steps}")
    if target_update_interval < 1:
        raise ValueError(f"target_update_interval must be >= 1, got {target_update_interval}")
    if isinstance(learning_rate, (int, float)) and not (math.isfinite(learning_rate) and learning_rate > 0):
        raise ValueError(f"learning_rate must be a finite number > 0 or a schedule, got {learning_rate}")


def check_finite_losses(losses: Mapping[str, float], *, n_updates: int, num_timesteps: int) -> None:
    """
    Stop training when a loss is NaN or infinite.

    :param losses: loss name -> value of the current gradient step
    :param n_updates: index of the gradient step, for the message
    :param num_timesteps: environment steps so far, for the message
    :raises DivergenceError: naming the loss and the step
    """
    for name, value in losses.items():
        if not math.isfinite(value):
            raise DivergenceError(
                f"{name} is {value} at gradient step {n_updates} (environment step {num_timesteps}): training "
                "diverged. Lower the learning rate, rescale rewards or lower ent_coef; the model was not updated "
                "with this step."
            )
