"""Conductance noise models: the standard deviation of a conductance as a function of itself.

Used for programming noise (sampled once, at programming time) and read noise (sampled at
every read). All conductances in siemens.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from . import _rng
from ._validation import check_range


class AbstractNoise(eqx.Module):
    """Gaussian conductance noise with a conductance-dependent standard deviation."""

    conductance_independent: ClassVar[bool] = False
    """True when ``std(g)`` does not depend on ``g`` (lets reads skip a matmul)."""

    @abc.abstractmethod
    def std(self, g: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
        """Standard deviation [S] of the noise on a conductance ``g`` [S]."""

    def sample(self, g: Float[Array, "..."], *, key: PRNGKeyArray) -> Float[Array, "..."]:
        """``g + std(g)·z`` with ``z ~ N(0, 1)`` (reparameterised: gradients flow through)."""
        z = _rng.normal(key, jnp.shape(g), jnp.result_type(g))
        return g + self.std(g) * z


class NoNoise(AbstractNoise):
    """No noise: ``std(g) = 0``."""

    conductance_independent: ClassVar[bool] = True

    def std(self, g):
        return jnp.zeros_like(jnp.asarray(g))


class AbsoluteNoise(AbstractNoise):
    """Conductance-independent noise, ``std(g) = sigma``."""

    conductance_independent: ClassVar[bool] = True

    sigma: float | Array
    """Standard deviation [S], >= 0."""

    def __check_init__(self):
        check_range("AbsoluteNoise.sigma", self.sigma, lower=0.0, unit="S")

    def std(self, g):
        return jnp.broadcast_to(jnp.asarray(self.sigma, jnp.result_type(g)), jnp.shape(g))


class RelativeNoise(AbstractNoise):
    """Noise proportional to the conductance, ``std(g) = fraction·|g|``."""

    fraction: float | Array
    """Relative standard deviation (dimensionless), in [0, 10]."""

    def __check_init__(self):
        check_range("RelativeNoise.fraction", self.fraction, lower=0.0, upper=10.0)

    def std(self, g):
        return self.fraction * jnp.abs(g)


class PolynomialNoise(AbstractNoise):
    """Polynomial in the normalised conductance, ``std(g) = max(Σ_i c_i (g/g_ref)^i, 0)``.

    The form fitted to PCM programming noise by Nandakumar et al., ICECS 2019 (and used in
    IBM aihwkit's ``PCMLikeNoiseModel``).
    """

    coefficients: tuple[float, ...] | Array
    """Polynomial coefficients c_0, c_1, … [S], lowest order first."""
    g_ref: float | Array
    """Normalising conductance [S], > 0."""

    def __check_init__(self):
        check_range("PolynomialNoise.coefficients", jnp.asarray(self.coefficients), unit="S")
        check_range("PolynomialNoise.g_ref", self.g_ref, lower=0.0, lower_open=True, unit="S")
        if jnp.ndim(jnp.asarray(self.coefficients)) != 1:
            raise ValueError("PolynomialNoise.coefficients must be a 1-D sequence of floats")

    def std(self, g):
        x = jnp.asarray(g) / self.g_ref
        coefficients = jnp.asarray(self.coefficients, jnp.result_type(x))
        return jnp.maximum(jnp.polyval(coefficients[::-1], x), 0.0)
