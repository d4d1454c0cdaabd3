"""The shared formulas of sb3_maxent.common.losses and the one-sync statistics helper, which every train() uses."""

import pytest
import torch as th
from torch.nn import functional as F

from sb3_maxent.common.losses import critic_loss_fn, soft_q_target
from sb3_maxent.common.torch_utils import host_values


def test_soft_q_target_takes_a_discount_per_sample():
    rewards = th.tensor([[1.0], [1.0]])
    dones = th.tensor([[0.0], [0.0]])
    discounts = th.tensor([[0.5], [0.25]])  # gamma ** n of n-step returns
    next_values = th.tensor([[4.0], [4.0]])
    assert th.equal(soft_q_target(rewards, dones, discounts, next_values), th.tensor([[3.0], [2.0]]))


@pytest.mark.parametrize(("loss", "mse_factor", "torch_loss"), [("huber", 0.5, F.smooth_l1_loss), ("mse", 1.0, F.mse_loss)])
def test_one_network_is_torch_s_loss_bit_for_bit(loss, mse_factor, torch_loss):
    # discrete SoftQLearning's loss before the formula moved to common/: same value and same gradient, to the bit
    generator = th.Generator().manual_seed(0)
    q_values = (3 * th.randn(64, 1, generator=generator)).requires_grad_(True)
    target = 3 * th.randn(64, 1, generator=generator)
    shared = critic_loss_fn((q_values,), target, loss, mse_factor=mse_factor)
    (shared_grad,) = th.autograd.grad(shared, q_values)
    reference = torch_loss(q_values, target)
    (reference_grad,) = th.autograd.grad(reference, q_values)
    assert th.equal(shared, reference)
    assert th.equal(shared_grad, reference_grad)


def test_the_mse_factor_scales_the_squared_error_only():
    q_values, target = (th.tensor([[3.0]]), th.tensor([[3.0]])), th.tensor([[0.0]])
    assert critic_loss_fn(q_values, target, "mse").item() == 9.0  # 1/2 (9 + 9)
    assert critic_loss_fn(q_values, target, "mse", mse_factor=1.0).item() == 18.0
    assert critic_loss_fn(q_values, target, "huber", mse_factor=1.0).item() == 5.0  # (3 - 1/2) twice


def test_host_values_detaches_and_keeps_names_and_order():
    weight = th.tensor(2.0, requires_grad=True)
    values = host_values({"loss": weight * 3, "mean": th.tensor([[0.25]]), "count": th.tensor(7)})
    assert values == {"loss": 6.0, "mean": 0.25, "count": 7.0}
    assert list(values) == ["loss", "mean", "count"]
    assert all(isinstance(value, float) for value in values.values())
