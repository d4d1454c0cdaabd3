"""
The NumPy soft value of ``common/soft_bellman.py`` at temperatures other than 1 (docs/theory.md#soft-bellman-operator):
the closed form, and no floating-point warning where dividing by a tiny temperature overflows.
"""

import warnings

import numpy as np
import pytest

from sb3_maxent.common.soft_bellman import soft_value

# small Q-values: exp(q / alpha) stays in range for alpha in [0.5, 4], so the closed form can be evaluated directly
Q = np.array([[0.3, -1.2, 0.7], [2.0, 2.0, -0.5]])


@pytest.mark.parametrize("ent_coef", [0.5, 2.0, 4.0])
@pytest.mark.parametrize("axis", [0, 1])
def test_soft_value_at_a_temperature_other_than_one_is_the_closed_form(ent_coef, axis):
    # alpha log sum exp(q / alpha), evaluated naively; both sides are a few float64 operations on values of order 1,
    # so they agree to a few ulps (1e-12 relative is 4 orders looser)
    q_values = Q if axis == 1 else Q.T.copy()
    expected = ent_coef * np.log(np.exp(Q / ent_coef).sum(axis=1))
    np.testing.assert_allclose(soft_value(q_values, ent_coef, axis=axis), expected, rtol=1e-12, atol=0.0)
    # the scratch array changes no value
    workspace = np.empty_like(q_values)
    np.testing.assert_allclose(soft_value(q_values, ent_coef, workspace, axis), expected, rtol=1e-12, atol=0.0)


def test_a_tiny_temperature_gives_the_max_without_a_floating_point_warning():
    # (q - max) / alpha = -1e10 / 1e-300 overflows to -inf, whose exp is the exact 0 the limit alpha -> 0 asks for:
    # an expected overflow, which must not reach the user as a RuntimeWarning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = soft_value(np.array([[0.0, -1e10], [5.0, 5.0 - 1e10]]), 1e-300)
    np.testing.assert_array_equal(values, [0.0, 5.0])
