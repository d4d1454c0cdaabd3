import math

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from hypothesis import given, settings
from hypothesis import strategies as st

from sb3_maxent.common.ent_coef import (
    EntCoefSpec,
    Temperature,
    epsilon_greedy_entropy,
    parse_ent_coef,
    parse_target_entropy,
)


@given(st.floats(min_value=0.0, max_value=1e6, allow_nan=False))
def test_fixed_ent_coef_is_kept_or_refused_when_float32_would_zero_it(value):
    if 0.0 < value < float(np.finfo(np.float32).smallest_subnormal) / 2:
        with pytest.raises(ValueError, match="float32"):
            parse_ent_coef(value)
    else:
        assert parse_ent_coef(value) == EntCoefSpec(learnable=False, initial_value=value)


@given(st.floats(min_value=1e-8, max_value=1e3, allow_nan=False))
def test_auto_with_initial_value(value):
    spec = parse_ent_coef(f"auto_{value!r}")
    assert spec.learnable
    assert math.isclose(spec.initial_value, value)


def test_auto_defaults_to_one():
    assert parse_ent_coef("auto") == EntCoefSpec(learnable=True, initial_value=1.0)


def test_numeric_string_is_a_fixed_value():
    assert parse_ent_coef("0.3") == EntCoefSpec(learnable=False, initial_value=0.3)


@pytest.mark.parametrize(
    "bad", [-0.1, float("nan"), float("inf"), "auto_0", "auto_-1", "auto_x", "autox", "foo", "auto_", 1e-300, "auto_1e-300"]
)
def test_bad_ent_coef_is_refused(bad):
    with pytest.raises(ValueError, match="ent_coef"):
        parse_ent_coef(bad)


def test_target_entropy_auto_is_minus_action_dim():
    assert parse_target_entropy("auto", spaces.Box(-1, 1, (3, 2), dtype=np.float32)) == -6.0
    assert parse_target_entropy(-0.5, spaces.Box(-1, 1, (3,), dtype=np.float32)) == -0.5
    with pytest.raises(ValueError, match="target_entropy"):
        parse_target_entropy("maximal", spaces.Box(-1, 1, (3,), dtype=np.float32))


def test_discrete_target_entropy_is_dqns_final_exploration():
    # SB3 DQN's exploration_final_eps = 0.05 over 4 actions: p = 0.9625 greedy, 0.0125 each of the 3 others
    expected = -(0.9625 * np.log(0.9625) + 3 * 0.0125 * np.log(0.0125))
    assert parse_target_entropy("auto", spaces.Discrete(4)) == pytest.approx(expected)
    with pytest.raises(ValueError, match="No default target entropy"):
        parse_target_entropy("auto", spaces.MultiBinary(3))


@given(st.floats(min_value=0.0, max_value=1.0), st.integers(min_value=1, max_value=50))
def test_epsilon_greedy_entropy_is_the_entropy_of_that_distribution(epsilon, n_actions):
    probs = th.full((n_actions,), epsilon / n_actions, dtype=th.float64)
    probs[0] += 1.0 - epsilon
    expected = float(th.distributions.Categorical(probs=probs).entropy())
    assert epsilon_greedy_entropy(epsilon, n_actions) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("n_actions", [1, 2, 4, 18])
def test_epsilon_greedy_entropy_ends_greedy_and_uniform(n_actions):
    assert epsilon_greedy_entropy(0.0, n_actions) == 0.0
    assert epsilon_greedy_entropy(1.0, n_actions) == pytest.approx(math.log(n_actions))


def test_epsilon_greedy_entropy_by_hand():
    # 4 actions, epsilon 0.1: probabilities 0.925, 0.025, 0.025, 0.025
    assert epsilon_greedy_entropy(0.1, 4) == pytest.approx(-(0.925 * math.log(0.925) + 3 * 0.025 * math.log(0.025)))


@given(st.floats(min_value=0.0, max_value=0.99), st.integers(min_value=2, max_value=20))
def test_epsilon_greedy_entropy_grows_with_epsilon(epsilon, n_actions):
    assert epsilon_greedy_entropy(epsilon, n_actions) < epsilon_greedy_entropy(epsilon + 0.01, n_actions)


@pytest.mark.parametrize(("epsilon", "n_actions"), [(-0.1, 2), (1.1, 2), (0.5, 0)])
def test_epsilon_greedy_entropy_refuses_bad_input(epsilon, n_actions):
    with pytest.raises(ValueError, match=r"epsilon|n_actions"):
        epsilon_greedy_entropy(epsilon, n_actions)


@pytest.mark.parametrize("target", [-0.1, math.log(3), 2.0])
def test_discrete_target_entropy_out_of_reach_is_refused(target):
    with pytest.raises(ValueError, match="out of reach"):
        parse_target_entropy(target, spaces.Discrete(3))


def test_discrete_target_entropy_in_range_is_kept():
    assert parse_target_entropy(0.0, spaces.Discrete(3)) == 0.0
    assert parse_target_entropy(1.0, spaces.Discrete(3)) == 1.0


@settings(deadline=None)  # the first Adam step compiles kernels
@given(st.floats(min_value=-5.0, max_value=5.0), st.floats(min_value=-2.0, max_value=2.0), st.integers(1, 64))
def test_dual_gradient_step_is_the_autograd_step_on_the_dual_loss(log_alpha, target, batch_size):
    entropy = th.rand(batch_size) * 2.0
    by_backward = Temperature(f"auto_{math.exp(log_alpha)!r}", target, spaces.Box(-1, 1, (2,)), "cpu", 0.1)
    set_directly = Temperature(f"auto_{math.exp(log_alpha)!r}", target, spaces.Box(-1, 1, (2,)), "cpu", 0.1)
    by_backward.minimise_dual_loss(entropy, target)
    set_directly.dual_gradient_step(entropy)
    assert th.allclose(by_backward.log_ent_coef.grad, set_directly.log_ent_coef.grad, atol=1e-6)
    assert th.allclose(by_backward.log_ent_coef, set_directly.log_ent_coef, atol=1e-6)


def test_temperature_fixed_and_learned():
    box = spaces.Box(-1, 1, (3,))
    fixed = Temperature(0.2, "auto", box, "cpu", 1e-3)
    assert not fixed.learnable and fixed.item() == pytest.approx(0.2) and fixed.target_entropy == -3.0
    assert fixed.torch_save_params() == ([], ["ent_coef_tensor"]) and fixed.optimizers() == []
    fixed.assign(th.tensor([0.5]))
    assert fixed.item() == pytest.approx(0.5)
    learned = Temperature("auto_0.3", -1.0, box, "cpu", 1e-3)
    assert learned.learnable and learned.item() == pytest.approx(0.3)
    assert learned.torch_save_params() == (["ent_coef_optimizer"], ["log_ent_coef"])
    with pytest.raises(ValueError, match="learned"):
        learned.assign(th.tensor(0.5))
    # entropy below the target: the step raises alpha; above: lowers it
    before = learned.item()
    learned.dual_gradient_step(th.full((8,), -2.0))
    assert learned.item() > before
    learned.dual_gradient_step(th.full((8,), 5.0))
    learned.dual_gradient_step(th.full((8,), 5.0))
    assert learned.item() < before
    assert learned.dual_loss_value(1.0, 0.0) == 0.0
    assert learned.dual_loss_value(math.e, 0.0) == pytest.approx(1.0)


def test_callbacks_temperature_starts_from_the_float64_log():
    temperature = Temperature.learned_from(0.3, spaces.Box(-1, 1, (1,)), "cpu", 1e-3)
    assert th.equal(temperature.log_ent_coef.detach(), th.tensor([math.log(0.3)]))


@pytest.mark.parametrize("value", [1e-300, "auto_1e-300"])
def test_ent_coef_below_float32_is_refused_not_zeroed(value):
    with pytest.raises(ValueError, match="below float32's smallest positive number"):
        parse_ent_coef(value)


def test_tiny_ent_coef_that_float32_holds_is_accepted():
    assert parse_ent_coef(1e-40).initial_value == 1e-40
    assert parse_ent_coef(0.0).initial_value == 0.0


def test_logged_dual_loss_value():
    temperature = Temperature("auto_0.5", 1.0, spaces.Discrete(3), "cpu", 1e-3)
    # log(alpha) (H - H_target), from numbers on the host
    assert temperature.dual_loss_value(0.5, 2.0) == pytest.approx(math.log(0.5) * (2.0 - 1.0))
    assert temperature.dual_loss_value(0.5, 0.5) == pytest.approx(math.log(0.5) * (0.5 - 1.0))
    # alpha underflowed to 0: log alpha is -inf, which the divergence check then names
    assert temperature.dual_loss_value(0.0, 2.0) == -math.inf
    assert temperature.dual_loss_value(0.0, 0.5) == math.inf
