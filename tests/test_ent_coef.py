import math

import numpy as np
import pytest
from gymnasium import spaces
from hypothesis import given
from hypothesis import strategies as st

from sb3_maxent.common.ent_coef import EntCoefSpec, parse_ent_coef, parse_target_entropy


@given(st.floats(min_value=0.0, max_value=1e6, allow_nan=False))
def test_fixed_ent_coef_is_kept(value):
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


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "auto_0", "auto_-1", "auto_x", "autox", "foo", "auto_"])
def test_bad_ent_coef_is_refused(bad):
    with pytest.raises(ValueError, match="ent_coef"):
        parse_ent_coef(bad)


def test_target_entropy_auto_is_minus_action_dim():
    assert parse_target_entropy("auto", spaces.Box(-1, 1, (3, 2), dtype=np.float32)) == -6.0
    assert parse_target_entropy(-0.5, spaces.Box(-1, 1, (3,), dtype=np.float32)) == -0.5
    with pytest.raises(ValueError, match="target_entropy"):
        parse_target_entropy("maximal", spaces.Box(-1, 1, (3,), dtype=np.float32))


def test_discrete_target_entropy_is_a_fraction_of_the_maximum():
    assert parse_target_entropy("auto", spaces.Discrete(4)) == pytest.approx(0.98 * np.log(4))
    with pytest.raises(ValueError, match="No default target entropy"):
        parse_target_entropy("auto", spaces.MultiBinary(3))
