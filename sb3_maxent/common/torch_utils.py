"""Small torch helpers shared by the algorithms."""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch as th
from torch import nn


@contextmanager
def frozen_parameters(module: nn.Module) -> Iterator[None]:
    """
    Stop autograd from recording gradients for ``module``'s parameters (inputs still get gradients).

    Cheaper than back-propagating into the weights and discarding the result.
    """
    trainable = [param for param in module.parameters() if param.requires_grad]
    for param in trainable:
        param.requires_grad_(False)
    try:
        yield
    finally:
        for param in trainable:
            param.requires_grad_(True)


def host_values(tensors: Mapping[str, th.Tensor]) -> dict[str, float]:
    """
    The logged statistics of a gradient step as Python floats, with one host synchronisation for all of them (an
    ``.item()`` each costs one synchronisation per value on a GPU).

    :param tensors: scalar tensors (any shape with one element), by name; they are detached
    :return: the same names, with floats
    """
    stacked = th.stack([tensor.detach().reshape(()) for tensor in tensors.values()])
    return dict(zip(tensors, stacked.tolist(), strict=True))
