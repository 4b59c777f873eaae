"""Periphery: digital-to-analogue converters on the word lines, analogue-to-digital on the
bit lines. Quantisers use straight-through gradients; clipping has its true (zero) gradient.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._devices import round_ste
from ._validation import check_int, check_range


def _check_bits(name: str, bits: int | None):
    if bits is not None:
        check_int(name, bits, lower=1, upper=24)


def clip_unit(x: Array) -> Array:
    """Clip to [-1, 1]; gradient 1 inside the range (boundary included), 0 outside."""
    return jnp.where(jnp.abs(x) <= 1, x, jnp.sign(x))


def _quantise_signed(x: Array, bits: int | None) -> Array:
    """Quantise ``x`` in [-1, 1] to ``2^(bits-1) - 1`` levels per sign (symmetric, with 0)."""
    if bits is None:
        return x
    levels = max(2 ** (bits - 1) - 1, 1)
    return round_ste(x * levels) / levels


class DAC(eqx.Module):
    """Input DAC: digital inputs to word-line voltages ``v = v_read · q(x / x_scale)``.

    ``x_scale`` is ``input_range`` (fixed; inputs beyond it are clipped) or, when
    ``input_range`` is None, the per-vector maximum ``max|x|`` (dynamic input scaling,
    undone digitally after the ADC). ``q`` quantises to ``bits`` (sign + magnitude,
    ``2^(bits-1) - 1`` levels per sign); ``bits=None`` is an ideal DAC.
    """

    bits: int | None = eqx.field(default=8, static=True)
    """Resolution in bits (1..24) including the sign, or None for ideal."""
    v_read: float | Array = 0.2
    """Full-scale read voltage [V], > 0."""
    input_range: float | Array | None = None
    """Input value mapped to ``v_read`` (input units), or None for per-vector scaling."""

    def __check_init__(self):
        _check_bits("DAC.bits", self.bits)
        check_range("DAC.v_read", self.v_read, lower=0.0, lower_open=True, upper=10.0, unit="V")
        check_range("DAC.input_range", self.input_range, lower=0.0, lower_open=True)

    @property
    def levels(self) -> int | None:
        return None if self.bits is None else max(2 ** (self.bits - 1) - 1, 1)

    def scale(self, x: Float[Array, "batch n"]) -> Float[Array, "batch 1"]:
        """Input value that maps to full scale, per vector."""
        if self.input_range is not None:
            return jnp.full((x.shape[0], 1), self.input_range, x.dtype)
        amax = jnp.max(jnp.abs(x), axis=-1, keepdims=True)
        return jnp.where(amax > 0, amax, jnp.ones_like(amax))

    def __call__(self, x_normalised: Array) -> Array:
        """Normalised input in [-1, 1] (clipped) → quantised normalised input."""
        return _quantise_signed(clip_unit(x_normalised), self.bits)


class ADC(eqx.Module):
    """Output ADC on each tile's column currents: clip to ±full scale, quantise.

    The full scale [A] is ``full_scale`` when given, otherwise calibrated per tile at
    programming time to ``headroom ×`` the largest column current any input within the DAC
    range can produce (so ``headroom=1`` never clips a fresh chip). ``bits=None`` is ideal.
    """

    bits: int | None = eqx.field(default=8, static=True)
    """Resolution in bits (1..24) including the sign, or None for ideal."""
    full_scale: float | Array | None = None
    """Fixed full-scale current [A], or None to calibrate per tile."""
    headroom: float | Array = 1.0
    """Calibrated full scale as a fraction of the worst-case current, in (0, 10]."""

    def __check_init__(self):
        _check_bits("ADC.bits", self.bits)
        check_range("ADC.full_scale", self.full_scale, lower=0.0, lower_open=True, unit="A")
        check_range("ADC.headroom", self.headroom, lower=0.0, lower_open=True, upper=10.0)

    def __call__(self, current: Array, full_scale: Array) -> Array:
        """Column currents [A] → converted currents [A] (clipped to ±full_scale)."""
        normalised = clip_unit(current / full_scale)
        return _quantise_signed(normalised, self.bits) * full_scale
