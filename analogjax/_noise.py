"""Conductance noise models: the standard deviation of a conductance as a function of itself
(programming noise, sampled once at programming time), and read-noise models with their time
scale (white: per read; frozen: per read time). All conductances in siemens, times in seconds.
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
    acts_on_weight: ClassVar[bool] = False
    """True when the noise acts on a pair's effective conductance, not on each cell."""

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


class WeightRelativeNoise(AbstractNoise):
    """Noise proportional to the *weight* a pair holds, ``std = fraction·|G⁺ − G⁻|``.

    The convention of the published random-resistive-memory code (ESGNN, PRIME, DEPLM), which
    multiplies each weight by ``1 + 0.02·z``. As a device's read noise it acts on the effective
    conductance of a differential pair, not on each cell: for formed pairs of ~14 µS cells
    holding ~3 µS differences it is several times (5.9× for N(14.2, 2.5²) µS) less noise than
    the same fraction on each cell (:class:`RelativeNoise`). Needs a mapping without reference
    columns.
    """

    fraction: float | Array
    """Relative standard deviation of the weight (dimensionless), in [0, 10]."""
    acts_on_weight: ClassVar[bool] = True

    def __check_init__(self):
        check_range("WeightRelativeNoise.fraction", self.fraction, lower=0.0, upper=10.0)

    def std(self, g):
        return self.fraction * jnp.abs(g)


class AbstractReadNoise(eqx.Module):
    """Read noise with its time scale: what a read at ``t`` seconds after programming adds.

    *White* noise (thermal, shot, fast fluctuations) is independent at every read: every input
    vector, every bit slice and every instant of a continuous-time solve sees a fresh draw.
    *Frozen* noise (1/f, random telegraph) is slow: within one read time it is a fixed
    perturbation of each cell, shared by everything read then (all vectors of a batch, all bit
    slices, a whole closed-loop solve), and redrawn for another read time.

    Both parts are Gaussian with standard deviations given by :meth:`white_std` and
    :meth:`frozen_std` (``None``: the part is absent; known when tracing).
    """

    @abc.abstractmethod
    def white_std(self, g0: Array, g: Array, t: Array) -> Array | None:
        """Per-read standard deviation [S] of cells programmed to ``g0`` [S] (read at the
        reference time), reading ``g`` [S] at time ``t`` [s]; or None."""

    @abc.abstractmethod
    def frozen_std(self, g0: Array, g: Array, t: Array) -> Array | None:
        """Standard deviation [S] of the frozen perturbation at time ``t``; or None."""

    @property
    def acts_on_weight(self) -> bool:
        """True when the noise acts on a pair's effective conductance (see
        :class:`WeightRelativeNoise`), not on each cell."""
        return False

    @property
    def white_conductance_independent(self) -> bool:
        """True when the white part's σ does not depend on g (a read then needs no matmul
        with the cell variances)."""
        return False


class NoReadNoise(AbstractReadNoise):
    """No read noise."""

    def white_std(self, g0, g, t):
        return None

    def frozen_std(self, g0, g, t):
        return None


class WhiteReadNoise(AbstractReadNoise):
    """White noise: ``noise.std(g)`` drawn independently at every read."""

    noise: AbstractNoise
    """Standard deviation as a function of the conductance read."""

    def white_std(self, g0, g, t):
        return self.noise.std(g)

    def frozen_std(self, g0, g, t):
        return None

    @property
    def acts_on_weight(self):
        return self.noise.acts_on_weight

    @property
    def white_conductance_independent(self):
        return self.noise.conductance_independent


class FrozenReadNoise(AbstractReadNoise):
    """Slow noise (random telegraph, 1/f) of a fixed size: ``noise.std(g)`` drawn once per
    read time and shared by every read then."""

    noise: AbstractNoise
    """Standard deviation as a function of the conductance read."""

    def white_std(self, g0, g, t):
        return None

    def frozen_std(self, g0, g, t):
        return self.noise.std(g)

    @property
    def acts_on_weight(self):
        return self.noise.acts_on_weight


class PCMReadNoise(AbstractReadNoise):
    """Accumulated 1/f read noise of phase-change memory (Nandakumar et al., ICECS 2019;
    the model of IBM aihwkit's ``PCMLikeNoiseModel``; Joshi et al., Nat. Commun. 11, 2473
    (2020)): frozen per read time, growing with the time since programming,

        σ(t) = |g(t)|·Q_s·sqrt(ln((t + t_read) / (2·t_read))),
        Q_s = min(q_scale·max(g0/g_max, 10⁻³)^(−q_exponent), q_max),

    with ``g0`` the programmed conductance and ``g(t)`` the drifted one. At one year
    σ/g ≈ 5 % at g_max, 7.8 % at g_max/2 and 22 % at g_max/10.
    """

    g_max: float | Array = 25e-6
    """Conductance [S] the fit is normalised to (25 µS in the source)."""
    q_scale: float | Array = 0.0088
    """Q_s at g = g_max (dimensionless)."""
    q_exponent: float | Array = 0.65
    """Exponent of Q_s's growth towards low conductance."""
    q_max: float | Array = 0.2
    """Largest Q_s (dimensionless)."""
    t_read: float | Array = 250e-9
    """Read duration of the 1/f fit [s]."""

    def __check_init__(self):
        check_range("PCMReadNoise.g_max", self.g_max, lower=0.0, lower_open=True, unit="S")
        check_range("PCMReadNoise.q_scale", self.q_scale, lower=0.0)
        check_range("PCMReadNoise.q_exponent", self.q_exponent, lower=0.0)
        check_range("PCMReadNoise.q_max", self.q_max, lower=0.0)
        check_range("PCMReadNoise.t_read", self.t_read, lower=0.0, lower_open=True, unit="s")

    def q_s(self, g0: Array) -> Array:
        """The conductance-dependent 1/f amplitude Q_s of cells programmed to ``g0`` [S]."""
        ratio = jnp.maximum(jnp.abs(g0) / self.g_max, 1e-3)
        return jnp.minimum(self.q_scale * ratio ** (-self.q_exponent), self.q_max)

    def white_std(self, g0, g, t):
        return None

    def frozen_std(self, g0, g, t):
        log_term = jnp.log((t + self.t_read) / (2 * self.t_read))
        return jnp.abs(g) * self.q_s(g0) * jnp.sqrt(jnp.maximum(log_term, 0.0))


class CombinedReadNoise(AbstractReadNoise):
    """White and frozen noise together (independent): e.g. per-read thermal noise on top of
    1/f noise."""

    white: AbstractReadNoise
    frozen: AbstractReadNoise

    def __check_init__(self):
        if self.white.acts_on_weight != self.frozen.acts_on_weight:
            raise ValueError("CombinedReadNoise: white and frozen must both act on cells or "
                             "both on weights")

    def white_std(self, g0, g, t):
        a, b = self.white.white_std(g0, g, t), self.frozen.white_std(g0, g, t)
        return _add_std(a, b)

    def frozen_std(self, g0, g, t):
        a, b = self.white.frozen_std(g0, g, t), self.frozen.frozen_std(g0, g, t)
        return _add_std(a, b)

    @property
    def acts_on_weight(self):
        return self.white.acts_on_weight


def _add_std(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return jnp.sqrt(a * a + b * b)


def as_read_noise(noise: AbstractNoise | AbstractReadNoise) -> AbstractReadNoise:
    """A read-noise model from a noise model: an :class:`AbstractNoise` is white (per read)."""
    if isinstance(noise, AbstractReadNoise):
        return noise
    if isinstance(noise, NoNoise):
        return NoReadNoise()
    if isinstance(noise, AbstractNoise):
        return WhiteReadNoise(noise)
    raise TypeError(f"read_noise must be an AbstractReadNoise or AbstractNoise; got "
                    f"{type(noise).__name__}")
