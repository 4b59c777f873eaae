"""Periphery: digital-to-analogue converters on the word lines, analogue-to-digital on the
bit lines. Quantisers use straight-through gradients; clipping has its true (zero) gradient.
"""

from __future__ import annotations

import abc
import math
from typing import ClassVar

import equinox as eqx
import jax
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
    """Input DAC: digital inputs to word-line voltages ``v = v_read · q((x − x_offset) / x_scale)``.

    Signed (default): ``x_offset = 0``; ``x_scale`` is ``input_range`` (fixed; inputs beyond
    it are clipped) or, when ``input_range`` is None, the per-vector maximum ``max|x|``
    (dynamic input scaling, undone digitally after the ADC). ``q`` quantises to ``bits``
    (sign + magnitude, ``2^(bits-1) - 1`` levels per sign).

    Unsigned (``unsigned=True``, offset binary): word lines see only ``0 … v_read``; ``q``
    quantises ``[0, 1]`` to ``2^bits - 1`` levels. With ``input_range`` inputs are clipped
    to ``[0, input_range]``; without it each vector is shifted by its minimum,
    ``x_offset = min x`` and ``x_scale = max x − min x`` (as the random-resistive-memory
    systems apply signed states, ESGNN, Nat. Mach. Intell. 5, 104 (2023)), and the shift's
    product ``x_offset · Σ_i W_oi`` is added digitally. ``bits=None`` is an ideal DAC.
    """

    bits: int | None = eqx.field(default=8, static=True)
    """Resolution in bits (1..24; including the sign when signed), or None for ideal."""
    v_read: float | Array = 0.2
    """Full-scale read voltage [V], > 0."""
    input_range: float | Array | None = None
    """Input value mapped to ``v_read`` (input units), or None for per-vector scaling."""
    unsigned: bool = eqx.field(default=False, static=True)
    """Offset-binary inputs (non-negative word-line voltages) instead of sign + magnitude."""

    def __check_init__(self):
        _check_bits("DAC.bits", self.bits)
        check_range("DAC.v_read", self.v_read, lower=0.0, lower_open=True, upper=10.0, unit="V")
        check_range("DAC.input_range", self.input_range, lower=0.0, lower_open=True)
        if not isinstance(self.unsigned, bool):
            raise TypeError(f"DAC.unsigned must be True or False; got {self.unsigned!r}")

    @property
    def levels(self) -> int | None:
        """Quantisation levels of the magnitude (per sign when signed)."""
        if self.bits is None:
            return None
        return 2**self.bits - 1 if self.unsigned else max(2 ** (self.bits - 1) - 1, 1)

    @property
    def magnitude_bits(self) -> int | None:
        """Bits of the magnitude (the bits a bit-serial read applies one by one)."""
        if self.bits is None:
            return None
        return self.bits if self.unsigned else self.bits - 1

    @property
    def shifts_inputs(self) -> bool:
        """True when each vector is shifted by its minimum (unsigned, per-vector range)."""
        return self.unsigned and self.input_range is None

    def affine(self, x: Float[Array, "batch n"]) -> tuple[Float[Array, "batch 1"],
                                                        Float[Array, "batch 1"]]:
        """Per vector: the input span mapped to full scale and the offset subtracted first."""
        zero = jnp.zeros((x.shape[0], 1), x.dtype)
        if self.input_range is not None:
            return jnp.full((x.shape[0], 1), self.input_range, x.dtype), zero
        if self.unsigned:
            offset = jnp.min(x, axis=-1, keepdims=True)
            span = jnp.max(x, axis=-1, keepdims=True) - offset
        else:
            offset, span = zero, jnp.max(jnp.abs(x), axis=-1, keepdims=True)
        return jnp.where(span > 0, span, jnp.ones_like(span)), offset

    def __call__(self, x_normalised: Array) -> Array:
        """Normalised input in [-1, 1] (unsigned: [0, 1]; clipped) → quantised normalised
        input."""
        if self.unsigned:
            x = jnp.where((x_normalised >= 0) & (x_normalised <= 1), x_normalised,
                          jnp.clip(x_normalised, 0.0, 1.0))
            return x if self.bits is None else round_ste(x * self.levels) / self.levels
        return _quantise_signed(clip_unit(x_normalised), self.bits)


class AbstractADCRange(eqx.Module):
    """How the ADC's full scale [A] is set when a chip is programmed.

    ``full_scale`` gets each tile's signed conductances (``(R, rows, C, cols)`` [S]), the DAC,
    the column currents of a calibration read (``(R, N, C, cols)`` [A], N inputs and bit
    slices, with ``cols`` the bit lines in use when there is one column tile; None when the
    range needs none) and the number of bit lines in use in each column tile (the rest are
    padding), and returns the full scale per tile ``(R, C, 1)`` or per column
    ``(R, C, cols)``.
    """

    needs_calibration_read: ClassVar[bool] = False

    @abc.abstractmethod
    def full_scale(self, g_eff: Array, dac: DAC, currents: Array | None,
                   columns: tuple[int, ...]) -> Array:
        """Full-scale current [A] per tile or per column."""


class WorstCaseRange(AbstractADCRange):
    """``headroom ×`` the largest column current any input within the DAC range can produce,
    ``v_read·max_o Σ_i |G_io|`` per tile: never clips a fresh chip, but a random layer's
    typical outputs use only a few of the ADC's codes (≈ 4 bits lost on a 256-row Gaussian
    layer)."""

    headroom: float | Array = 1.0
    """Full scale as a fraction of the worst case, in (0, 10]."""

    def __check_init__(self):
        check_range("WorstCaseRange.headroom", self.headroom, lower=0.0, lower_open=True,
                    upper=10.0)

    def full_scale(self, g_eff, dac, currents, columns):
        column_sum = jnp.sum(jnp.abs(g_eff), axis=1)  # (R, C, cols)
        return self.headroom * dac.v_read * jnp.max(column_sum, axis=-1, keepdims=True)


class FixedRange(AbstractADCRange):
    """A fixed full-scale current, the same for every tile (a designed TIA gain)."""

    current: float | Array
    """Full-scale current [A], > 0."""

    def __check_init__(self):
        check_range("FixedRange.current", self.current, lower=0.0, lower_open=True, unit="A")

    def full_scale(self, g_eff, dac, currents, columns):
        return jnp.full((g_eff.shape[0], g_eff.shape[2], 1), self.current, g_eff.dtype)


class CalibratedRange(AbstractADCRange):
    """Calibrated to data at programming time, as chips do: the full scale is the
    ``percentile`` of the absolute column currents of a calibration read, per tile or per
    column, so the ADC's codes cover the outputs that occur (rare larger ones clip).

    The calibration inputs are those given to ``Crossbar.program(…, calibration_inputs=…)``,
    or by default ``samples`` i.i.d. N(0, 1) vectors (a fixed pattern, the same for every
    chip, like a built-in self-test; seed ``seed``), scaled and quantised by the DAC as any
    read. The read is noise-free, at the reference time. The default (99.99th percentile per
    tile) costs ≈ 0.4 % rms clipping and ≈ 0.9 % rms quantisation error at 8 bits on
    Gaussian outputs, against ≈ 10 % for the worst-case range on a 256×256 random layer.
    Per column, the percentile is estimated from one value per calibration vector: with the
    default 256 vectors the 99.99th percentile is about the sample maximum (≈ 2.7σ), which
    clips (≈ 2.7 % error floor at 8 bits, notebook 01); give ≫ 10⁴ vectors or a lower
    percentile for per-column calibration.
    """

    percentile: float = eqx.field(default=99.99, static=True)
    """Percentile of |I| that maps to full scale, in (0, 100]."""
    per_column: bool = eqx.field(default=False, static=True)
    """Calibrate each column separately (True) or each tile (False)."""
    samples: int = eqx.field(default=256, static=True)
    """Default calibration vectors (when no calibration inputs are given)."""
    seed: int = eqx.field(default=2718281, static=True)
    """Seed of the default calibration pattern."""
    needs_calibration_read: ClassVar[bool] = True

    def __check_init__(self):
        check_range("CalibratedRange.percentile", self.percentile, lower=0.0, lower_open=True,
                    upper=100.0)
        check_int("CalibratedRange.samples", self.samples, lower=1, upper=2**20)

    def full_scale(self, g_eff, dac, currents, columns):
        magnitude = jnp.abs(currents)  # (R, N, C, cols)
        if self.per_column:
            return upper_percentile(jnp.moveaxis(magnitude, 1, -1), self.percentile)
        n_row = magnitude.shape[0]
        per_tile = [upper_percentile(magnitude[:, :, c, :used].reshape(n_row, -1),
                                     self.percentile) for c, used in enumerate(columns)]
        return jnp.stack(per_tile, axis=1)[..., None]  # padding bit lines left out


def upper_percentile(values: Array, percentile: float) -> Array:
    """``jnp.percentile(values, percentile, axis=-1)`` (linear interpolation) for a high
    percentile by a top-k of the few largest values: a sort of every calibration current
    would dominate programming time on CPU."""
    n = values.shape[-1]
    position = percentile / 100 * (n - 1)
    below = math.floor(position)
    k = n - below  # the values from sorted index `below` up
    if k > 64:
        return jnp.percentile(values, percentile, axis=-1)
    # The barrier keeps XLA's TopK kernel: it matches a sort whose result is sliced once, so
    # two reads of the top-k would otherwise fall back to a full sort (~50x slower on CPU).
    top = jax.lax.optimization_barrier(jax.lax.top_k(values, k)[0])
    lower, upper = top[..., k - 1], top[..., max(k - 2, 0)]  # top[k - 1] is sorted[below]
    return lower + (position - below) * (upper - lower)


class ADC(eqx.Module):
    """Output ADC on each tile's column currents: clip to ±full scale, quantise.

    The full scale [A] is set per tile (or column) when the chip is programmed, by
    ``range``: :class:`CalibratedRange` (default: a percentile of the currents of a
    calibration read, as chips calibrate their ADCs), :class:`WorstCaseRange` or
    :class:`FixedRange`. ``bits=None`` is an ideal (unquantised, unclipped) ADC.
    """

    bits: int | None = eqx.field(default=8, static=True)
    """Resolution in bits (1..24) including the sign, or None for ideal."""
    range: AbstractADCRange = eqx.field(default_factory=CalibratedRange)
    """How the full scale is set at programming."""

    def __check_init__(self):
        _check_bits("ADC.bits", self.bits)

    def __call__(self, current: Array, full_scale: Array) -> Array:
        """Column currents [A] → converted currents [A] (clipped to ±full_scale)."""
        if self.bits is None:
            return current
        normalised = clip_unit(current / full_scale)
        return _quantise_signed(normalised, self.bits) * full_scale
