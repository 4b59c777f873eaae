"""Distances between generated samples and data: the diffusion solver's published metrics
(1-D histogram KL, L2 of normalised 2-D histograms; arXiv 2404.05648 code) and two that need
no binning (kernel MMD, sliced Wasserstein). All are jit-able; MMD and sliced Wasserstein
are differentiable in the samples."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray

from analogjax.internal import check_int


def _check_pair(x, y):
    x, y = jnp.asarray(x), jnp.asarray(y)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"samples and reference must be (n, d) with the same d; got "
                         f"{x.shape} and {y.shape}")
    return x, y


def histogram_kl(samples: Float[Array, "n d"], reference: Float[Array, "m d"], *,
                 bins: int = 50, value_range: tuple[float, float] = (-4.0, 4.0),
                 eps: float = 1e-10) -> Array:
    """KL(reference ‖ samples) of the 1-D histograms (``bins`` on ``value_range``), per
    dimension, averaged over dimensions; empty bins get ``eps`` probability."""
    samples, reference = _check_pair(samples, reference)
    check_int("bins", bins, lower=1)

    def one(a, b):
        p = jnp.histogram(b, bins, value_range)[0] + eps
        q = jnp.histogram(a, bins, value_range)[0] + eps
        p, q = p / p.sum(), q / q.sum()
        return jnp.sum(p * jnp.log(p / q))

    return jnp.mean(jax.vmap(one, in_axes=1)(samples, reference))


def histogram_l2(samples: Float[Array, "n 2"], reference: Float[Array, "m 2"], *,
                 bins: int = 100, value_range: tuple[float, float] = (-1.0, 1.0)) -> Array:
    """L2 distance between the 2-D histograms (``bins``² on ``value_range``², each
    normalised to unit sum) of two 2-D sample sets."""
    samples, reference = _check_pair(samples, reference)
    if samples.shape[1] != 2:
        raise ValueError(f"histogram_l2 needs 2-D samples; got dimension {samples.shape[1]}")
    check_int("bins", bins, lower=1)
    edges = [value_range, value_range]

    def hist(z):
        h = jnp.histogram2d(z[:, 0], z[:, 1], bins, edges)[0]
        return h / jnp.maximum(h.sum(), 1)

    return jnp.sqrt(jnp.sum((hist(samples) - hist(reference)) ** 2))


def mmd(samples: Float[Array, "n d"], reference: Float[Array, "m d"], *,
        bandwidths: Sequence[float] = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)) -> Array:
    """Unbiased squared maximum mean discrepancy (Gretton et al., JMLR 2012) with a sum of
    Gaussian kernels ``exp(−|x−y|²/(2ℓ²))`` over ``bandwidths`` ℓ (data units)."""
    x, y = _check_pair(samples, reference)
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise ValueError("mmd needs at least 2 samples in each set")
    scales = jnp.asarray(bandwidths, x.dtype)

    def kernel_sum(a, b, exclude_self):
        def row(p):
            d2 = jnp.sum((b - p) ** 2, -1)
            return jnp.sum(jnp.exp(-d2[:, None] / (2 * scales**2)))

        total = jnp.sum(jax.lax.map(row, a, batch_size=256))  # O(batch·m) memory
        return total - a.shape[0] * scales.shape[0] if exclude_self else total

    n, m = x.shape[0], y.shape[0]
    return (kernel_sum(x, x, True) / (n * (n - 1)) + kernel_sum(y, y, True) / (m * (m - 1))
            - 2 * kernel_sum(x, y, False) / (n * m))


def sliced_wasserstein(samples: Float[Array, "n d"], reference: Float[Array, "m d"], *,
                       key: PRNGKeyArray, n_projections: int = 256,
                       n_quantiles: int = 256) -> Array:
    """Sliced 2-Wasserstein distance (Rabin et al. 2011): the root mean square over random
    unit directions of the 1-D W2 distance, computed on ``n_quantiles`` quantiles."""
    x, y = _check_pair(samples, reference)
    check_int("n_projections", n_projections, lower=1)
    check_int("n_quantiles", n_quantiles, lower=2)
    directions = jr.normal(key, (n_projections, x.shape[1]), x.dtype)
    directions = directions / jnp.linalg.norm(directions, axis=1, keepdims=True)
    levels = (jnp.arange(n_quantiles) + 0.5) / n_quantiles
    qx = jnp.quantile(x @ directions.T, levels, axis=0)
    qy = jnp.quantile(y @ directions.T, levels, axis=0)
    return jnp.sqrt(jnp.mean((qx - qy) ** 2))


def sample_metrics(samples: Float[Array, "n d"], reference: Float[Array, "m d"], *,
                   key: PRNGKeyArray, kl_range: tuple[float, float] = (-4.0, 4.0),
                   l2_range: tuple[float, float] = (-1.0, 1.0), mmd_points: int = 2000
                   ) -> dict[str, Array]:
    """All four metrics; ``histogram_l2`` only for 2-D data; MMD on the first
    ``mmd_points`` of each set (its cost is quadratic)."""
    out = {"kl": histogram_kl(samples, reference, value_range=kl_range),
           "mmd": mmd(samples[:mmd_points], reference[:mmd_points]),
           "swd": sliced_wasserstein(samples, reference, key=key)}
    if jnp.shape(samples)[1] == 2:
        out["l2"] = histogram_l2(samples, reference, value_range=l2_range)
    return out
