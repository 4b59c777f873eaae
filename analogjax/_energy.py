"""Energy and latency of analogue hardware and of a digital baseline. Joules, seconds, watts.

Every default is either taken from a cited measurement or marked *assumed*.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._validation import check_int, check_range


class EnergyModel(eqx.Module):
    """Energy constants of the periphery and of a digital processor.

    Sources:
    * ADC: 8-bit asynchronous SAR ADC, 3.1 mW at 1.2 GS/s (Kull et al., ISSCC 2013, 32 nm
      SOI; the ADC of ISAAC, Shafiee et al., ISCA 2016) → 2.58 pJ per conversion, scaled by
      2 per bit (Walden figure of merit).
    * DAC: *assumed* 1.2 fJ per conversion step, i.e. ``1.2 fJ · 2^bits`` per conversion
      (0.3 pJ at 8 bits; the order of the capacitive/relaxation DACs tabulated in crossbar
      energy studies, but no single measured design is behind this number).
    * Digital: 45 nm, 0.9 V (Horowitz, "Computing's energy problem", ISSCC 2014): 32-bit
      float multiply 3.7 pJ + add 0.9 pJ per MAC; 64-bit read of an 8 kB SRAM 10 pJ, so
      5 pJ per 32-bit operand fetched from on-chip memory.
    * Op-amp: *assumed* 100 µW quiescent power per op-amp (an on-chip OTA with ~10 MHz
      gain-bandwidth; the papers give no figure).
    """

    adc_energy_8bit: float | Array = 3.1e-3 / 1.2e9
    """Energy of one 8-bit ADC conversion [J]."""
    dac_energy_per_step: float | Array = 1.2e-15
    """DAC energy per conversion step [J] (× 2^bits per conversion; assumed)."""
    opamp_power: float | Array = 100e-6
    """Quiescent power per op-amp [W] (assumed)."""
    mac_energy: float | Array = 3.7e-12 + 0.9e-12
    """Digital multiply-accumulate (FP32) [J]."""
    operand_fetch_energy: float | Array = 10e-12 / 2
    """Fetching one 32-bit operand from on-chip SRAM [J]."""

    def __check_init__(self):
        for name in ("adc_energy_8bit", "dac_energy_per_step", "opamp_power", "mac_energy",
                     "operand_fetch_energy"):
            check_range(f"EnergyModel.{name}", getattr(self, name), lower=0.0)

    def adc(self, bits: int, conversions: ArrayLike = 1) -> Array:
        """Energy [J] of ``conversions`` ADC conversions at ``bits`` resolution."""
        check_int("bits", bits, lower=1, upper=24)
        return jnp.asarray(conversions) * self.adc_energy_8bit * 2.0 ** (bits - 8)

    def dac(self, bits: int, conversions: ArrayLike = 1) -> Array:
        """Energy [J] of ``conversions`` DAC conversions at ``bits`` resolution."""
        check_int("bits", bits, lower=1, upper=24)
        return jnp.asarray(conversions) * self.dac_energy_per_step * 2.0**bits

    def opamps(self, count: ArrayLike, duration: ArrayLike) -> Array:
        """Energy [J] of ``count`` op-amps powered for ``duration`` [s]."""
        return jnp.asarray(count) * self.opamp_power * jnp.asarray(duration)

    def digital(self, macs: ArrayLike, operand_fetches: ArrayLike) -> Array:
        """Energy [J] of a digital computation of ``macs`` MACs that fetches
        ``operand_fetches`` 32-bit operands from on-chip memory."""
        return (jnp.asarray(macs) * self.mac_energy
                + jnp.asarray(operand_fetches) * self.operand_fetch_energy)


def crossbar_read_energy(
    conductance: Float[ArrayLike, "in out"],
    voltages: Float[ArrayLike, "T in"],
    ts: Float[ArrayLike, " T"],
) -> Array:
    """∫ Σ_ij V_i(t)² G_ij dt [J]: Joule heating of a crossbar whose word lines carry
    ``voltages`` [V] at times ``ts`` [s] (bit lines at virtual ground; trapezoidal rule).
    For differential pairs pass ``G⁺ + G⁻``."""
    power = jnp.asarray(voltages) ** 2 @ jnp.sum(jnp.asarray(conductance), axis=1)
    return jnp.trapezoid(power, jnp.asarray(ts))
