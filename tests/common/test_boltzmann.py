r"""
The Boltzmann policy in torch (``sb3_maxent.common.boltzmann``) where :math:`Q/\alpha` leaves the float range: the
logits of a row that overflows are shifted by its maximum, every other row is the plain division, and actions of
probability 0 add nothing to the entropy.
"""

import math

import numpy as np
import pytest
import torch as th
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sb3_maxent.common import boltzmann

ALPHA = 1e-30  # Q / alpha overflows float32 (3.4e38) for |Q| above 3.4e8
INF = float("inf")


def test_only_the_rows_that_overflow_are_shifted_by_their_maximum():
    # row 0: 1e9 / alpha overflows; row 1: 3 / alpha = 3e30 does not
    q_values = th.tensor([[1e9, 9.5e8, -1e9], [1.0, 2.0, 3.0]])
    logits = boltzmann.logits(q_values, ALPHA)
    # the ordinary row is the plain division, bit for bit
    assert th.equal(logits[1], q_values[1] / ALPHA)
    # the other: the best action at 0, the next 5e7 / alpha below it (exact differences of float32 values, then two
    # float32 roundings: alpha and the quotient, 2 * 2^-24 relative), the last beyond the range: probability 0
    assert logits[0, 0].item() == 0.0
    assert logits[0, 1].item() == pytest.approx(-5e7 / ALPHA, rel=2 * 2**-24)
    assert logits[0, 2].item() == -INF
    probabilities = boltzmann.log_probs(q_values, ALPHA).exp()
    assert th.equal(probabilities[0], th.tensor([1.0, 0.0, 0.0]))


def test_logits_treat_every_row_of_any_leading_shape_on_its_own():
    # (2, 2, 3): the action axis is the last one, as for soft_value; one of the four rows overflows
    q_values = th.tensor([[[1e9, 9.5e8, -1e9], [1.0, 2.0, 3.0]], [[-4.0, 0.5, 0.0], [2.0, -1.0, 7.0]]])
    rows = boltzmann.logits(q_values.reshape(4, 3), ALPHA)
    assert th.equal(boltzmann.logits(q_values, ALPHA), rows.reshape(2, 2, 3))
    assert th.equal(rows[1:], q_values.reshape(4, 3)[1:] / ALPHA)


def test_actions_of_probability_zero_add_nothing_to_the_entropy():
    log_probabilities = th.tensor([[0.0, -INF, -INF], [math.log(0.5), math.log(0.5), -INF]])
    entropy = boltzmann.entropy_of_log_probs(log_probabilities)
    # a one-hot policy has entropy 0 exactly; two equal actions log 2 (float32: a few roundings of 2^-24 each)
    assert entropy[0].item() == 0.0
    assert entropy[1].item() == pytest.approx(math.log(2.0), rel=8 * 2**-24)


def test_the_entropy_at_a_temperature_so_small_that_q_over_alpha_overflows_is_the_greedy_policys():
    q_values = th.tensor([[1e9, -1e9], [1e9, 1e9]])
    entropy = boltzmann.entropy(q_values, ALPHA)
    assert entropy[0].item() == 0.0  # one action: no entropy
    assert entropy[1].item() == pytest.approx(math.log(2.0), rel=8 * 2**-24)  # a tie: two equal actions


# The fast paths: the same bits as the general formulas they stand for ------------------------------------------

finite_q_rows = arrays(
    np.float32,
    st.tuples(st.integers(1, 6), st.integers(1, 5)),
    elements=st.floats(-1e6, 1e6, width=32),
)


@given(q_values=finite_q_rows, alpha=st.floats(1e-3, 1e3))
@settings(max_examples=200, deadline=None)
def test_the_soft_value_is_torchs_logsumexp_bit_for_bit(q_values, alpha):
    # soft_value sums exp over rows already shifted to a maximum of 0, where logsumexp's own shift changes no bit
    q_values = th.from_numpy(q_values)
    max_q = q_values.max(dim=-1, keepdim=True).values
    general = max_q + alpha * th.logsumexp((q_values - max_q) / alpha, dim=-1, keepdim=True)
    assert th.equal(boltzmann.soft_value(q_values, alpha), general)


@given(q_values=finite_q_rows, alpha=st.floats(1e-3, 1e3))
@settings(max_examples=200, deadline=None)
def test_logits_that_do_not_overflow_are_the_plain_division_bit_for_bit(q_values, alpha):
    q_values = th.from_numpy(q_values)
    assert th.equal(boltzmann.logits(q_values, alpha), q_values / alpha)


@pytest.mark.parametrize("bad", [INF, -INF, float("nan")])
def test_logits_of_a_batch_with_one_non_finite_q_value_take_the_general_path_for_its_row_only(bad):
    # the other rows keep the plain division; the row holding the infinity or NaN is what th.where gives it
    q_values = th.tensor([[1.0, 2.0], [bad, 0.5], [-3.0, 4.0]])
    logits = boltzmann.logits(q_values, 0.5)
    assert th.equal(logits[[0, 2]], q_values[[0, 2]] / 0.5)
    shifted = (q_values[1] - q_values[1].max()) / 0.5
    th.testing.assert_close(logits[1], shifted, rtol=0, atol=0, equal_nan=True)


def test_logits_whose_sum_overflows_but_not_any_entry_are_still_the_plain_division():
    # every entry 3e38 / 1 is finite, their sum is not: the check answers "unknown" and the general path agrees
    q_values = th.full((2, 3), 3e38)
    assert th.equal(boltzmann.logits(q_values, 1.0), q_values)
