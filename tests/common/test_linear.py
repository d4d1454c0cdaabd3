r"""
OneDNNLinear computes nn.Linear's function and gradients, and the algorithms' networks use it.

Tolerance. Both backends sum the same K products in float32, in different orders; each result is within
:math:`\gamma_K\,(|x|\,|W|^\top)` of the exact value, :math:`\gamma_K = K\epsilon/(1 - K\epsilon)`,
:math:`\epsilon = 2^{-24}` (Higham, *Accuracy and Stability of Numerical Algorithms*, eq. 3.5), so the two differ
by at most :math:`2\gamma_K\,(|x|\,|W|^\top)` elementwise, plus one rounding of the bias sum. The checks use that
bound computed in float64, a bound that any correct summation order meets and that a wrong product (a transposed
weight, a missing bias, a gradient for the wrong input) exceeds by orders of magnitude.
"""

import platform

import numpy as np
import pytest
import torch as th
from torch import nn
from torch.nn import functional as F

from sb3_maxent import SACV1, SoftQLearning
from sb3_maxent.common import linear
from sb3_maxent.common.linear import ONEDNN_MIN_MULTIPLY_ADDS, OneDNNLinear, onednn_linear_available, use_onednn_linear_layers

EPS32 = 2.0**-24
X86 = platform.machine().lower() in ("x86_64", "amd64")
needs_onednn = pytest.mark.skipif(not onednn_linear_available(), reason="oneDNN's linear kernel is not available here")


def error_bound(inputs: th.Tensor, weight: th.Tensor, inner: int) -> th.Tensor:
    """2 gamma_K |x| |W|^T + a rounding of the result, in float64."""
    gamma = inner * EPS32 / (1 - inner * EPS32)
    magnitude = inputs.double().abs() @ weight.double().abs().T
    return 2 * gamma * magnitude + EPS32 * (magnitude + 1.0)


def layer_pair(in_features: int = 256, out_features: int = 256, seed: int = 0) -> tuple[nn.Linear, OneDNNLinear]:
    th.manual_seed(seed)
    reference = nn.Linear(in_features, out_features)
    fast = OneDNNLinear(in_features, out_features)
    fast.load_state_dict(reference.state_dict())
    return reference, fast


@needs_onednn
def test_forward_and_every_gradient_agree_with_nn_linear_within_the_summation_bound():
    reference, fast = layer_pair(256, 128)
    inputs = th.randn(256, 256, generator=th.Generator().manual_seed(1))
    grad_output = th.randn(256, 128, generator=th.Generator().manual_seed(2))
    results = []
    for layer in (reference, fast):
        x = inputs.clone().requires_grad_(True)
        output = layer(x)
        output.backward(grad_output)
        results.append((output.detach(), x.grad, layer.weight.grad, layer.bias.grad))
    (y_ref, gx_ref, gw_ref, gb_ref), (y, gx, gw, gb) = results

    assert th.all((y - y_ref).abs() <= error_bound(inputs, reference.weight.detach(), 256))
    # dL/dx = g W: inner dimension out_features
    assert th.all((gx - gx_ref).abs() <= error_bound(grad_output, reference.weight.detach().T, 128))
    # dL/dW = g^T x: inner dimension batch
    assert th.all((gw - gw_ref).abs() <= error_bound(grad_output.T, inputs.T, 256))
    th.testing.assert_close(gb, gb_ref, rtol=0, atol=0)  # the same reduction (torch's sum) on both paths
    # the bound is tight enough to see a wrong product: the weight's rows in another order miss it by far
    wrong = F.linear(inputs, reference.weight.detach().flip(0), reference.bias.detach())
    assert (wrong - y_ref).abs().mean() > 1e3 * error_bound(inputs, reference.weight.detach(), 256).mean()


@needs_onednn
def test_the_onednn_path_runs_for_large_products_and_not_for_small_ones(monkeypatch):
    calls = []
    original = linear._onednn_linear
    monkeypatch.setattr(linear, "_onednn_linear", lambda *args: calls.append(args[0].shape) or original(*args))
    layer = OneDNNLinear(256, 256)
    layer(th.randn(256, 256))
    assert calls == [(256, 256)]
    calls.clear()
    layer(th.randn(1, 256))  # acting: one observation
    assert ONEDNN_MIN_MULTIPLY_ADDS > 1 * 256 * 256 and calls == []


@needs_onednn
def test_only_the_gradients_autograd_asks_for_are_computed():
    _, fast = layer_pair()
    fast.requires_grad_(False)  # a critic frozen on the policy's path
    inputs = th.randn(256, 256, requires_grad=True)
    fast(inputs).sum().backward()
    assert inputs.grad is not None and fast.weight.grad is None and fast.bias.grad is None

    fast.requires_grad_(True)
    fast(th.randn(256, 256)).sum().backward()  # observations: no gradient wanted
    assert fast.weight.grad is not None and fast.bias.grad is not None


@pytest.mark.parametrize(
    "inputs",
    [
        th.randn(256, 256, dtype=th.float64),  # float64: nn.Linear
        th.randn(4, 256),  # a small product
        th.randn(256),  # one unbatched vector
    ],
    ids=["float64", "small", "vector"],
)
def test_elsewhere_it_is_nn_linear_exactly(inputs):
    reference, fast = layer_pair()
    reference.to(inputs.dtype)
    fast.to(inputs.dtype)
    th.testing.assert_close(fast(inputs), reference(inputs), rtol=0, atol=0)


@needs_onednn
def test_leading_dimensions_are_rows_of_one_product(monkeypatch):
    # continuous SoftQLearning evaluates its networks on (batch, particles, features)
    calls = []
    original = linear._onednn_linear
    monkeypatch.setattr(linear, "_onednn_linear", lambda *args: calls.append(args[0].shape) or original(*args))
    reference, fast = layer_pair()
    inputs = th.randn(8, 32, 256)
    output = fast(inputs)
    assert calls == [(256, 256)] and output.shape == (8, 32, 256)
    bound = error_bound(inputs.reshape(256, 256), reference.weight.detach(), 256).reshape(8, 32, 256)
    assert th.all((output - reference(inputs)).abs() <= bound)


def test_disabled_it_is_nn_linear_exactly(monkeypatch):
    monkeypatch.setattr(OneDNNLinear, "enabled", False)
    reference, fast = layer_pair()
    inputs = th.randn(256, 256)
    th.testing.assert_close(fast(inputs), reference(inputs), rtol=0, atol=0)


def test_a_missing_kernel_falls_back_to_nn_linear(monkeypatch):
    monkeypatch.setattr(linear, "_onednn_linear", lambda *args: (_ for _ in ()).throw(RuntimeError("no kernel")))
    linear.onednn_linear_available.cache_clear()
    try:
        assert not onednn_linear_available()
        reference, fast = layer_pair()
        inputs = th.randn(256, 256)
        th.testing.assert_close(fast(inputs), reference(inputs), rtol=0, atol=0)
    finally:
        linear.onednn_linear_available.cache_clear()


@pytest.mark.skipif(not X86 or not th.backends.mkldnn.is_available(), reason="oneDNN runs on x86 builds of PyTorch")
def test_the_kernel_is_there_on_x86():
    # a PyTorch release without the private kernel would silently lose the speed: say so here
    assert onednn_linear_available()


def test_replacing_keeps_the_parameter_objects_names_and_random_state():
    network = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Sequential(nn.Linear(8, 2, bias=False)))

    class Scaled(nn.Linear):  # a subclass computes something else: left alone
        pass

    network.append(Scaled(2, 2))
    parameters = list(network.parameters())
    names = list(network.state_dict())
    network[2][0].eval()
    rng = th.random.get_rng_state()
    use_onednn_linear_layers(network)
    assert th.equal(rng, th.random.get_rng_state())  # nothing initialised
    assert [type(module) for module in (network[0], network[2][0], network[3])] == [OneDNNLinear, OneDNNLinear, Scaled]
    assert all(new is old for new, old in zip(network.parameters(), parameters, strict=True))
    assert list(network.state_dict()) == names
    assert network[2][0].bias is None and not network[2][0].training


@pytest.mark.parametrize(
    ("algo", "env_id"),
    [(SACV1, "Pendulum-v1"), (SACV1, "CartPole-v1"), (SoftQLearning, "CartPole-v1"), (SoftQLearning, "Pendulum-v1")],
)
def test_every_linear_layer_of_the_algorithms_is_replaced_and_saves_as_before(algo, env_id, tmp_path):
    model = algo("MlpPolicy", env_id, seed=0, device="cpu")
    layers = [module for module in model.policy.modules() if isinstance(module, nn.Linear)]
    assert layers and all(type(module) is OneDNNLinear for module in layers)
    model.save(tmp_path / "model")
    loaded = algo.load(tmp_path / "model", device="cpu")
    assert all(type(module) is OneDNNLinear for module in loaded.policy.modules() if isinstance(module, nn.Linear))
    for (name, value), (loaded_name, loaded_value) in zip(
        model.policy.state_dict().items(), loaded.policy.state_dict().items(), strict=True
    ):
        assert name == loaded_name and np.array_equal(value.numpy(), loaded_value.numpy())
