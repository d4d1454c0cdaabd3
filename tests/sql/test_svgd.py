"""SVGD as pure functions: the kernel, the bandwidth and the Stein direction move particles to a target."""

import math

import numpy as np
import pytest
import torch as th

from sb3_maxent.sql.svgd import median_bandwidth, rbf_kernel, stein_direction


def test_kernel_and_its_gradient_against_autograd():
    th.manual_seed(0)
    xs = th.randn(3, 5, 2, dtype=th.float64, requires_grad=True)
    ys = th.randn(3, 4, 2, dtype=th.float64)
    kernel, gradient = rbf_kernel(xs, ys)
    assert kernel.shape == (3, 5, 4) and gradient.shape == (3, 5, 4, 2)
    assert th.all(kernel > 0) and th.all(kernel <= 1)
    # bandwidth held fixed (it carries no gradient): d/dx_j of sum_i k(x_j, y_i) must match
    (autograd,) = th.autograd.grad(kernel.sum(), xs)
    th.testing.assert_close(gradient.sum(dim=-2), autograd)


def test_median_bandwidth():
    squared = th.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    h = median_bandwidth(squared, n_particles=2)
    # torch's median of [1, 2, 3, 4] is the lower middle value, 2
    assert h.item() == pytest.approx(2.0 / math.log(2))
    assert median_bandwidth(th.zeros(1, 3, 3), 3).item() == pytest.approx(1e-3)


def gaussian_mixture_score(centres: th.Tensor, std: float):
    """Score of an equal-weight mixture of isotropic Gaussians, by autograd of its log density."""

    def score(x: th.Tensor) -> th.Tensor:
        x = x.detach().requires_grad_(True)
        squared = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
        log_density = th.logsumexp(-squared / (2 * std**2), dim=1).sum()
        return th.autograd.grad(log_density, x)[0]

    return score


def run_svgd(direction_fn, centres, std=0.5, n_particles=200, steps=600, step_size=0.05, seed=0):
    generator = th.Generator().manual_seed(seed)
    particles = th.randn(n_particles, centres.shape[1], generator=generator, dtype=th.float64)
    score = gaussian_mixture_score(centres, std)
    for _ in range(steps):
        # plain SVGD: every particle is both fixed (scores) and updated
        particles = particles + step_size * direction_fn(particles, particles, score(particles))
    return particles


def mixture_checks(particles, centres, std):
    distances = th.cdist(particles, centres)
    nearest = distances.argmin(dim=1)
    fractions = th.bincount(nearest, minlength=len(centres)).double() / len(particles)
    mean_error = (particles.mean(0) - centres.mean(0)).abs().max().item()
    # spread within each mode (per dimension) against the components' std^2: what repulsion maintains
    within = th.stack([particles[nearest == k].var(dim=0, unbiased=False) for k in range(len(centres))])
    variance_ratio = (within / std**2).numpy().ravel()
    return fractions.numpy(), mean_error, variance_ratio


@pytest.mark.parametrize(
    "centres",
    [th.tensor([[-2.0], [2.0]], dtype=th.float64), th.tensor([[-2.0, -2.0], [2.0, 2.0]], dtype=th.float64)],
    ids=["1d", "2d"],
)
def test_svgd_reaches_a_two_mode_mixture(centres):
    particles = run_svgd(stein_direction, centres)
    fractions, mean_error, variance_ratio = mixture_checks(particles, centres, 0.5)
    assert np.all(fractions > 0.35), fractions  # both modes covered, roughly evenly
    assert mean_error < 0.5  # finite particles keep some of the initial imbalance between modes
    assert np.all((variance_ratio > 0.7) & (variance_ratio < 1.3)), variance_ratio


def test_a_wrong_sign_on_the_repulsion_collapses_the_particles():
    centres = th.tensor([[-2.0], [2.0]], dtype=th.float64)

    def attracting_kernel_direction(fixed, updated, scores):
        kernel, kernel_gradient = rbf_kernel(fixed, updated)
        return (kernel[..., None] * scores[..., :, None, :] - kernel_gradient).mean(dim=-3)

    particles = run_svgd(attracting_kernel_direction, centres)
    _, _, variance_ratio = mixture_checks(particles, centres, 0.5)
    # the moment check of the test above fails: the spread within each mode is lost
    assert not np.all((variance_ratio > 0.7) & (variance_ratio < 1.3)), variance_ratio


def test_split_fixed_and_updated_particles_on_a_batch_of_states():
    """As in soft Q-learning: one particle set per state, scores on the fixed half, updates on the other half."""
    th.manual_seed(0)
    targets = th.tensor([[-1.0], [1.5]], dtype=th.float64)  # one Gaussian target per state
    particles = th.randn(2, 64, 1, dtype=th.float64)
    for _ in range(400):
        fixed, updated = particles[:, :32], particles[:, 32:]
        scores = -(fixed - targets[:, None, :]) / 0.3**2
        updated = updated + 0.02 * stein_direction(fixed, updated, scores)
        particles = th.cat([fixed + 0.02 * stein_direction(fixed, fixed, scores), updated], dim=1)
    np.testing.assert_allclose(particles.mean(dim=1).numpy(), targets.numpy(), atol=0.15)


def test_one_particle_moves_by_the_score():
    # K = 1 with x = y: k = 1 and grad k = 0, so phi(y) = grad log p(y) = -y for p = N(0, 1): a step of size eps
    # moves the particle from 2 to 2 - 2 eps, towards the mode, by exactly eps times the score
    particle = th.tensor([[2.0]])
    direction = stein_direction(particle, particle, -particle)
    assert direction.item() == pytest.approx(-2.0)
    assert (particle + 0.1 * direction).item() == pytest.approx(1.8)


def test_stein_direction_of_a_1d_gaussian_against_a_hand_computation():
    # target p = N(0, 1): score -x; fixed particles x = (-1, 0.5, 2), updated y = (1, -2)
    x = np.array([-1.0, 0.5, 2.0])
    y = np.array([1.0, -2.0])
    squared = (x[:, None] - y[None, :]) ** 2  # [[4, 1], [0.25, 6.25], [1, 16]]
    bandwidth = 1.0 / np.log(3)  # lower median of the six squared distances is 1
    kernel = np.exp(-squared / bandwidth)
    expected = ((kernel * -x[:, None]) + (-2 * (x[:, None] - y[None, :]) / bandwidth * kernel)).mean(axis=0)
    direction = stein_direction(th.tensor(x).reshape(3, 1), th.tensor(y).reshape(2, 1), th.tensor(-x).reshape(3, 1)).flatten()
    np.testing.assert_allclose(direction.numpy(), expected, rtol=1e-12)
    # y = 1 is pulled towards the mode; y = -2 is pushed away from it: its nearest fixed particle, x = -1, pulls
    # with k * score = 1/3 but repels with 2 (x - y) k / h = 2 log(3) / 3 ~ 0.73 (repulsion keeps particles spread)
    assert direction[0] < 0 and direction[1] < 0
    # (the two other fixed particles are 2.5 and 4 away: their terms are below 0.01)
    assert direction[1].item() == pytest.approx((1 / 3 - 2 * np.log(3) / 3) / 3, abs=0.01)


def test_the_kernel_bandwidth_is_at_least_1e_3_by_default():
    # three particles 0.01 apart: the median squared distance over log 3 is below 1e-3, so the documented floor of
    # median_bandwidth, 1e-3, is the bandwidth, as passing it explicitly gives: k(x, y) = exp(-|x - y|^2 / 1e-3)
    xs = th.tensor([[0.0], [0.01], [0.02]], dtype=th.float64)
    kernel, gradient = rbf_kernel(xs, xs)
    squared = (xs - xs.T) ** 2
    # a few float64 operations on values of order 1: equal to 1e-12
    th.testing.assert_close(kernel, th.exp(-squared / 1e-3), rtol=1e-12, atol=0.0)
    explicit_kernel, explicit_gradient = rbf_kernel(xs, xs, min_bandwidth=1e-3)
    assert th.equal(kernel, explicit_kernel) and th.equal(gradient, explicit_gradient)
