"""A small variational auto-encoder with a 2-D latent on scikit-learn's 8×8 digits, the latent
space of the conditional diffusion task (latent diffusion, as the resistive-memory diffusion
solver does on EMNIST letters with a class-conditional Gaussian prior; RESEARCH.md §1)."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from jaxtyping import Array, Float, Int, PRNGKeyArray

import analogjax as aj
from analogjax.internal import check_int

from ._data import load_digits
from ._fit import fit

LATENT_SCALE = 8.0
"""Latents are divided by this for the diffusion model (the published ``latents / 8``)."""


def load_digit_classes(classes: Sequence[int] = (0, 1, 4)) -> tuple[np.ndarray, np.ndarray]:
    """The 8×8 digits of ``classes`` (pixels in [0, 1], float32) and their labels
    ``0..K−1`` in the order of ``classes``."""
    if len(classes) < 2 or len(set(classes)) != len(classes) or not all(
            0 <= c <= 9 for c in classes):
        raise ValueError(f"classes must be >= 2 distinct digits 0..9; got {classes}")
    images, labels = load_digits()
    keep = np.isin(labels, classes)
    x = (images[keep] / 16.0).astype(np.float32)
    lookup = np.full(10, -1)
    lookup[list(classes)] = np.arange(len(classes))
    y = lookup[labels[keep]]
    return x, y.astype(np.int32)


class DigitVAE(eqx.Module):
    """MLP encoder ``64 → 128 → 128 → (μ, log σ²)`` and decoder ``2 → 128 → 128 → 64``
    (pixel probabilities); prior of class ``k`` is ``N(μ_k, I)`` with ``μ_k`` on a circle of
    radius 4 (for three classes the published ``(2√3, 2), (−2√3, 2), (0, −4)``)."""

    encoder: aj.Network
    decoder: aj.Network
    prior_means: Float[Array, "K 2"]

    def __init__(self, n_classes: int = 3, *, key: PRNGKeyArray, pixels: int = 64,
                 width: int = 128):
        check_int("n_classes", n_classes, lower=2)
        k_enc, k_dec = jr.split(key)
        self.encoder = aj.Network.init(aj.MLPArchitecture((pixels, width, width, 4), bias=True),
                                       key=k_enc, initialiser=aj.FanInUniform())
        self.decoder = aj.Network.init(aj.MLPArchitecture((2, width, width, pixels), bias=True),
                                       key=k_dec, initialiser=aj.FanInUniform())
        angles = jnp.pi / 6 + 2 * jnp.pi * jnp.arange(n_classes) / n_classes
        self.prior_means = 4.0 * jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=-1)

    def encode(self, x: Float[Array, " pixels"]) -> tuple[Array, Array]:
        """Posterior mean and log-variance of the latent."""
        out = self.encoder(x)
        return out[:2], out[2:]

    def decode(self, z: Float[Array, " 2"]) -> Float[Array, " pixels"]:
        """Pixel probabilities."""
        return jax.nn.sigmoid(self.decoder(z))

    def loss(self, x: Float[Array, " pixels"], label: Int[Array, ""], key: PRNGKeyArray):
        """Negative ELBO: Bernoulli reconstruction + KL(q(z|x) ‖ N(μ_label, I))."""
        mu, log_var = self.encode(x)
        z = mu + jnp.exp(0.5 * log_var) * jr.normal(key, mu.shape)
        logits = self.decoder(z)
        reconstruction = jnp.sum(optax.sigmoid_binary_cross_entropy(logits, x))
        m = self.prior_means[label]
        kl = 0.5 * jnp.sum(jnp.exp(log_var) + (mu - m) ** 2 - 1 - log_var)
        return reconstruction + kl


def train_vae(vae: DigitVAE, x: Float[Array, "n pixels"], y: Int[Array, " n"], *,
              key: PRNGKeyArray, steps: int = 4000, batch_size: int = 128,
              learning_rate: float = 1e-3) -> tuple[DigitVAE, Array]:
    """Adam on the negative ELBO (one ``lax.scan``); returns the VAE and the loss per step."""
    check_int("steps", steps, lower=1)
    check_int("batch_size", batch_size, lower=1, upper=len(x))
    x, y = jnp.asarray(x), jnp.asarray(y)
    params, static = eqx.partition(vae, eqx.is_inexact_array)

    def loss_fn(params, key):
        k_batch, k_z = jr.split(key)
        idx = jr.choice(k_batch, x.shape[0], (batch_size,), replace=False)
        model = eqx.combine(params, static)
        return jnp.mean(jax.vmap(model.loss)(x[idx], y[idx], jr.split(k_z, batch_size)))

    params, losses = fit(loss_fn, params, optax.adam(learning_rate), key=key, steps=steps)
    return eqx.combine(params, static), losses
