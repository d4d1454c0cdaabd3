r"""
Stein variational gradient descent (Liu & Wang 2016, arXiv 1608.04471), as pure tensor functions.

Particles :math:`y_i` move along the direction that most decreases the KL divergence to a target density
:math:`p` within a unit ball of an RKHS:

.. math::

    \phi(y_i) = \frac{1}{K}\sum_{j=1}^{K}\Big[k(x_j, y_i)\,\nabla_{x_j}\log p(x_j) + \nabla_{x_j} k(x_j, y_i)\Big]

The first term pulls particles towards high density (kernel-smoothed score), the second pushes them apart
(repulsion), which keeps several modes populated. In soft Q-learning (Haarnoja et al. 2017, §3.2) the target
is the energy-based policy :math:`p(a) \propto \exp(Q(s,a)/\alpha)` and the particles are the sampler's actions.
Every function works on leading batch dimensions (one particle set per state).
"""

import math

import torch as th


def median_bandwidth(squared_distances: th.Tensor, n_particles: int, min_bandwidth: float = 1e-3) -> th.Tensor:
    r"""
    Median heuristic :math:`h = \mathrm{med}(\|x_j - y_i\|^2) / \log K`, per particle set, at least ``min_bandwidth``.

    With it, :math:`\sum_j k(x_j, y_i) \approx K \exp(-\log K) = 1`: the score and repulsion terms stay balanced.

    :param squared_distances: shape (..., K_x, K_y)
    :param n_particles: :math:`K` (the number of particles :math:`x_j`)
    :return: shape (..., 1, 1), without gradient
    """
    flat = squared_distances.detach().flatten(start_dim=-2)
    median = flat.median(dim=-1).values
    bandwidth = median / math.log(max(n_particles, 2))
    return bandwidth.clamp_min(min_bandwidth)[..., None, None]


def rbf_kernel(xs: th.Tensor, ys: th.Tensor, min_bandwidth: float = 1e-3) -> tuple[th.Tensor, th.Tensor]:
    r"""
    Gaussian kernel :math:`k(x, y) = \exp(-\|x - y\|^2 / h)` with the median bandwidth, and its gradient in :math:`x`.

    :param xs: particles :math:`x_j`, shape (..., K_x, D)
    :param ys: particles :math:`y_i`, shape (..., K_y, D)
    :return: :math:`k(x_j, y_i)` of shape (..., K_x, K_y) and :math:`\nabla_{x_j} k(x_j, y_i) = -2 (x_j - y_i) k / h`
        of shape (..., K_x, K_y, D)
    """
    differences = xs[..., :, None, :] - ys[..., None, :, :]
    squared_distances = differences.pow(2).sum(dim=-1)
    bandwidth = median_bandwidth(squared_distances, xs.shape[-2], min_bandwidth)
    kernel = th.exp(-squared_distances / bandwidth)
    kernel_gradient = -2.0 * differences / bandwidth[..., None] * kernel[..., None]
    return kernel, kernel_gradient


def stein_direction(
    fixed_particles: th.Tensor, updated_particles: th.Tensor, fixed_scores: th.Tensor, min_bandwidth: float = 1e-3
) -> th.Tensor:
    r"""
    SVGD direction :math:`\phi(y_i)` for the particles being updated, from the fixed particles and their scores.

    :param fixed_particles: :math:`x_j`, shape (..., K_fixed, D)
    :param updated_particles: :math:`y_i`, shape (..., K_updated, D)
    :param fixed_scores: :math:`\nabla_{x_j}\log p(x_j)`, shape (..., K_fixed, D)
    :return: :math:`\phi(y_i)`, shape (..., K_updated, D)
    """
    kernel, kernel_gradient = rbf_kernel(fixed_particles, updated_particles, min_bandwidth)
    attraction = kernel[..., None] * fixed_scores[..., :, None, :]
    return (attraction + kernel_gradient).mean(dim=-3)
