"""Hardware-aware training: weight-noise injection and an analogue equinox layer."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, PRNGKeyArray, PyTree

from ._crossbar import Crossbar
from ._validation import check_range


def inject_weight_noise(
    tree: PyTree,
    *,
    key: PRNGKeyArray,
    std: float = 0.1,
    clip: float = 0.2,
    filter_spec=eqx.is_inexact_array,
) -> PyTree:
    """Multiply every selected array by ``(1 + n)``, ``n ~ N(0, std²)`` drawn per element.

    Draws with ``|n| >= clip`` are replaced by ``U(-clip, clip)`` (the noise-aware recipe of
    the analogue score-diffusion work, arXiv 2404.05648: std 0.1, clip 0.2). Gradients flow
    to the clean arrays (the noise is a fixed multiplier). Call it inside the loss so that
    each forward pass sees fresh noise.
    """
    check_range("std", std, lower=0.0)
    check_range("clip", clip, lower=0.0, lower_open=True)
    arrays, static = eqx.partition(tree, filter_spec)
    leaves, treedef = jax.tree_util.tree_flatten(arrays)
    keys = jr.split(key, max(len(leaves), 1))

    def perturb(leaf, k):
        k_normal, k_uniform = jr.split(k)
        n = std * jr.normal(k_normal, leaf.shape, leaf.dtype)
        u = jr.uniform(k_uniform, leaf.shape, leaf.dtype, -clip, clip)
        return leaf * (1 + jnp.where(jnp.abs(n) >= clip, u, n))

    noisy = [perturb(leaf, k) for leaf, k in zip(leaves, keys, strict=False)]
    return eqx.combine(jax.tree_util.tree_unflatten(treedef, noisy), static)


class WeightNoise(eqx.Module):
    """Multiplicative weight noise for hardware-aware training (the ``weight_noise=`` option
    of every training recipe): :func:`inject_weight_noise` with ``std`` and ``clip``."""

    std: float = 0.1
    """σ of the relative perturbation n, >= 0."""
    clip: float = 0.2
    """Draws with ``|n| >= clip`` are replaced by ``U(−clip, clip)``, > 0."""

    def __check_init__(self):
        check_range("WeightNoise.std", self.std, lower=0.0)
        check_range("WeightNoise.clip", self.clip, lower=0.0, lower_open=True)

    def __call__(self, tree: PyTree, *, key: PRNGKeyArray,
                 filter_spec=eqx.is_inexact_array) -> PyTree:
        """``tree`` with its selected arrays perturbed (fresh noise per ``key``)."""
        return inject_weight_noise(tree, key=key, std=self.std, clip=self.clip,
                                   filter_spec=filter_spec)


class AnalogLinear(eqx.Module):
    """A linear layer whose matrix–vector product runs on a programmed crossbar.

    ``layer(x, key=k)`` programs the weights (programming noise, variation, faults) and reads
    them once (read noise), both differentiably, so training through it is hardware-aware.
    For deployment, program once with :meth:`program` and call the chip many times.
    The bias is added digitally.
    """

    weight: Float[Array, "out in"]
    bias: Float[Array, " out"] | None
    crossbar: Crossbar
    in_features: int = eqx.field(static=True)
    out_features: int = eqx.field(static=True)

    def __init__(self, in_features: int, out_features: int, crossbar: Crossbar, *,
                 use_bias: bool = True, key: PRNGKeyArray):
        lim = 1 / jnp.sqrt(in_features)
        k_w, k_b = jr.split(key)
        self.weight = jr.uniform(k_w, (out_features, in_features), minval=-lim, maxval=lim)
        self.bias = jr.uniform(k_b, (out_features,), minval=-lim, maxval=lim) if use_bias else None
        self.crossbar = crossbar
        self.in_features, self.out_features = in_features, out_features

    def program(self, *, key: PRNGKeyArray | None):
        """Program the weights: the chip instance to reuse across reads."""
        return self.crossbar.program(self.weight, key=key)

    def __call__(self, x: Float[Array, "... in"], *, key: PRNGKeyArray | None = None,
                 t: float | None = None) -> Float[Array, "... out"]:
        k_program, k_read = (None, None) if key is None else jr.split(key)
        y = self.program(key=k_program)(x, key=k_read, t=t)
        return y if self.bias is None else y + self.bias
