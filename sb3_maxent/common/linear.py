r"""
Fully connected layers computed by oneDNN on x86 CPUs.

On a CPU, ``nn.Linear`` hands its matrix products to the BLAS that PyTorch was built with (MKL on x86). oneDNN,
which PyTorch also ships, computes the large ones up to twice as fast on some processors (measurements:
:doc:`/guide/benchmarks`), and an off-policy update is mostly such products.
:class:`OneDNNLinear` is ``nn.Linear`` with its forward pass and both products of its backward pass,

.. math::

    y = x W^\top + b, \qquad \frac{\partial L}{\partial x} = \frac{\partial L}{\partial y} W, \qquad
    \frac{\partial L}{\partial W} = \Big(\frac{\partial L}{\partial y}\Big)^{\!\top} x, \qquad
    \frac{\partial L}{\partial b} = \sum_{\text{batch}} \frac{\partial L}{\partial y},

given to oneDNN (``torch.ops.mkldnn._linear_pointwise``, the kernel that ``torch.compile`` uses for linear layers
on CPU) where it applies: products of at least :data:`ONEDNN_MIN_MULTIPLY_ADDS` multiply-adds (rows x in_features x
out_features, every leading dimension of the input counting as rows) in float32 on an x86 CPU with PyTorch's oneDNN
build. Anywhere else (a single observation while acting, small layers, GPU, float64, another processor, a PyTorch
without the kernel, or ``OneDNNLinear.enabled = False``) it is ``nn.Linear``. The parameters, their names and the
saved state dicts are ``nn.Linear``'s. The products are the same sums in another order, so results differ from MKL's
by float32 rounding (a relative :math:`O(K\epsilon)` for an inner dimension :math:`K`), as MKL's own results differ
between processors.
"""

from __future__ import annotations

import functools
import platform
from typing import Any, ClassVar

import torch as th
from torch import nn
from torch.nn import functional as F

_X86 = ("x86_64", "amd64", "i386", "i686")
#: Smaller products go to ``nn.Linear``: oneDNN's fixed cost per product (about 10 us) outweighs its speed below
#: about a million multiply-adds (a 256x256 layer at batch 16; DQN's 64x64 layers at batch 256)
ONEDNN_MIN_MULTIPLY_ADDS = 2**20


def _onednn_linear(inputs: th.Tensor, weight: th.Tensor, bias: th.Tensor | None) -> th.Tensor:
    # inputs @ weight.T + bias, no post-op ("none"), default algorithm
    return th.ops.mkldnn._linear_pointwise(inputs, weight, bias, "none", [], "")


@functools.cache
def onednn_linear_available() -> bool:
    """
    Whether :class:`OneDNNLinear` computes with oneDNN here: an x86 processor, PyTorch built with oneDNN, and its
    linear kernel present and agreeing with ``F.linear`` on a small product (it is a private operator of PyTorch,
    so a release could change it; then the layer is ``nn.Linear``).
    """
    if platform.machine().lower() not in _X86 or not th.backends.mkldnn.is_available():
        return False
    try:
        inputs = th.arange(6.0).reshape(2, 3)
        weight = th.arange(12.0).reshape(4, 3) / 7
        bias = th.arange(4.0)
        return bool(th.allclose(_onednn_linear(inputs, weight, bias), F.linear(inputs, weight, bias)))
    except (AttributeError, RuntimeError, NotImplementedError):
        return False


class _OneDNNLinearFunction(th.autograd.Function):
    """The product of a linear layer and its backward pass, each computed as a oneDNN linear product."""

    @staticmethod
    def forward(ctx: Any, inputs: th.Tensor, weight: th.Tensor, bias: th.Tensor | None) -> th.Tensor:
        ctx.save_for_backward(inputs, weight)
        ctx.has_bias = bias is not None
        return _onednn_linear(inputs, weight, bias)

    @staticmethod
    def backward(ctx: Any, grad_output: th.Tensor) -> tuple[th.Tensor | None, ...]:
        inputs, weight = ctx.saved_tensors
        grad_inputs = grad_weight = grad_bias = None
        # only what autograd asks for: a frozen critic on the policy's path needs dL/dx, not dL/dW
        if ctx.needs_input_grad[0]:
            # dL/dx = dL/dy W, as the linear product of dL/dy with W^T's rows
            grad_inputs = _onednn_linear(grad_output, weight.t(), None)
        if ctx.needs_input_grad[1]:
            # dL/dW = (dL/dy)^T x
            grad_weight = _onednn_linear(grad_output.t(), inputs.t(), None)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum(dim=0)
        return grad_inputs, grad_weight, grad_bias


class OneDNNLinear(nn.Linear):
    """
    ``nn.Linear`` whose products are computed by oneDNN on x86 CPUs for float32 batches of any number of leading
    dimensions (module docstring); elsewhere, and for a single unbatched vector, exactly ``nn.Linear``.

    Set ``OneDNNLinear.enabled = False`` (before building a model or at any time) to compute every layer with
    ``nn.Linear``, for example to reproduce numbers of sb3_maxent 0.3.
    """

    enabled: ClassVar[bool] = True

    def forward(self, inputs: th.Tensor) -> th.Tensor:
        rows = inputs.numel() // self.in_features if inputs.dim() >= 2 else 0
        if (
            self.enabled
            and rows * self.in_features * self.out_features >= ONEDNN_MIN_MULTIPLY_ADDS
            and inputs.device.type == "cpu"
            and inputs.dtype == th.float32
            and self.weight.dtype == th.float32
            and onednn_linear_available()
        ):
            # leading dimensions (batch, particles, ...) flattened into rows, as F.linear does
            outputs = _OneDNNLinearFunction.apply(inputs.reshape(rows, self.in_features), self.weight, self.bias)
            return outputs.reshape(*inputs.shape[:-1], self.out_features)
        return F.linear(inputs, self.weight, self.bias)


def use_onednn_linear_layers(module: nn.Module) -> None:
    """
    Replace every ``nn.Linear`` (the class itself, not subclasses, which may compute something else) inside
    ``module`` by an :class:`OneDNNLinear` holding the same parameter objects: optimisers that hold them, the
    state dict's names and the values are unchanged, and nothing is initialised (no random numbers are drawn).

    :param module: a network, changed in place
    """
    for parent in module.modules():
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear:
                replacement = OneDNNLinear(child.in_features, child.out_features, bias=child.bias is not None, device="meta")
                replacement.weight = child.weight
                replacement.bias = child.bias
                replacement.train(child.training)
                setattr(parent, name, replacement)
