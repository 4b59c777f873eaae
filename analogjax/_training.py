"""Hardware-aware training: weight-noise injection, clipping, the literature's recipe for
converted models."""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import PRNGKeyArray, PyTree

from ._layers import map_analog_weights
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


class AbstractTrainingNoise(eqx.Module):
    """What hardware-aware training does at every step: the model of the forward pass is
    perturbed (:meth:`__call__`, fresh noise per key) and the trained model is projected
    back onto the allowed weights after each optimiser step (:meth:`project`)."""

    @abc.abstractmethod
    def __call__(self, tree: PyTree, *, key: PRNGKeyArray,
                 filter_spec=eqx.is_inexact_array) -> PyTree:
        """``tree`` as the forward pass of this step sees it."""

    def project(self, tree: PyTree) -> PyTree:
        """``tree`` after an optimiser step, constrained (default: unchanged)."""
        return tree


class WeightNoise(AbstractTrainingNoise):
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


class HardwareAwareTraining(AbstractTrainingNoise):
    """Hardware-aware training of a converted model's analogue layers (Joshi et al., "Accurate
    deep neural network inference using computational phase-change memory", Nat. Commun. 11,
    2473 (2020); Rasch et al., "Hardware-aware training for large-scale and diverse deep
    learning inference workloads using in-memory computing-based accelerators", Nat. Commun.
    14, 5282 (2023)): at each forward pass every analogue layer's weights get additive
    Gaussian noise with σ = ``noise``·max|W| of the layer (a fresh draw per step, shared by
    the batch; gradients pass to the clean weights), and after each optimiser step the
    weights are clipped to ±``clip``·σ_W of their layer, which keeps outliers from setting
    the conductance range (every layer is mapped so that its largest |W| is the largest
    conductance). Digital layers are untouched. At inference, pair it with
    ``Crossbar(drift_compensation=True)`` (global drift compensation, as both papers do).

    The form follows the papers; the defaults are assumed — the papers tune both to the
    device (the injected noise to its programming noise), so sweep them for yours."""

    noise: float = 0.03
    """σ of the injected noise relative to each layer's max |W| (assumed), >= 0."""
    clip: float | None = 2.5
    """Weights clipped to ±clip·std(W) of their layer after each step (assumed), > 0; None:
    no clipping."""

    def __check_init__(self):
        check_range("HardwareAwareTraining.noise", self.noise, lower=0.0)
        if self.clip is not None:
            check_range("HardwareAwareTraining.clip", self.clip, lower=0.0, lower_open=True)

    def __call__(self, tree: PyTree, *, key: PRNGKeyArray, filter_spec=None) -> PyTree:
        """``tree`` with every analogue layer's weights perturbed (``filter_spec`` is not
        used: the analogue layers are the ones perturbed)."""
        del filter_spec
        def perturb(n, w):
            scale = jax.lax.stop_gradient(self.noise * jnp.max(jnp.abs(w)))
            return w + scale * jr.normal(jr.fold_in(key, n), w.shape, w.dtype)

        return map_analog_weights(perturb, tree)

    def project(self, tree: PyTree) -> PyTree:
        """Every analogue layer's weights clipped to ±clip·std(W)."""
        if self.clip is None:
            return tree
        def clip(_, w):
            bound = self.clip * jnp.std(w.astype(jnp.float32)).astype(w.dtype)
            return jnp.clip(w, -bound, bound)

        return map_analog_weights(clip, tree)
