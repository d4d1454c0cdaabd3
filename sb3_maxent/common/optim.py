"""Optimizer defaults."""

from typing import Any

import torch as th

# Optimizers whose ``fused`` implementation computes the same update as the default loop, faster
_FUSABLE_OPTIMIZERS = (th.optim.Adam, th.optim.AdamW)


def with_fused_optimizer(optimizer_class: type[th.optim.Optimizer], optimizer_kwargs: dict[str, Any] | None) -> dict[str, Any]:
    """
    Ask Adam/AdamW for their fused kernel unless the user chose an implementation.

    The update is the same as the default per-tensor loop, in fewer kernels (timings: :doc:`/modules/sacv1`).
    ``fused``/``foreach`` given by the user are kept as they are.

    :param optimizer_class: the policy's optimizer class
    :param optimizer_kwargs: the user's optimizer keyword arguments
    :return: keyword arguments to build the optimizer with
    """
    kwargs = dict(optimizer_kwargs or {})
    if optimizer_class in _FUSABLE_OPTIMIZERS and "fused" not in kwargs and "foreach" not in kwargs:
        kwargs["fused"] = True
    return kwargs
