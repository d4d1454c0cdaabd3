"""Small torch helpers shared by the algorithms."""

from collections.abc import Iterator
from contextlib import contextmanager

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
