"""Continuous-time analogue circuits on diffrax: op-amp integrator networks and RC stages.

Voltages in volts, conductances in siemens, capacitances in farads, times in seconds.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._ode import integrate
from ._validation import check_range


class OpAmp(eqx.Module):
    """Operational amplifier as a voltage-controlled voltage source with finite gain and
    output rails (the op-amp model of the SPICE references)."""

    gain: float | Array | None = 1e6
    """Open-loop DC gain A (dimensionless, >= 1), or None for an ideal op-amp."""
    v_rail: float | Array | None = None
    """Output saturation ±v_rail [V], or None for no rails."""

    def __check_init__(self):
        check_range("OpAmp.gain", self.gain, lower=1.0)
        check_range("OpAmp.v_rail", self.v_rail, lower=0.0, lower_open=True, unit="V")

    @property
    def inverse_gain(self):
        return 0.0 if self.gain is None else 1.0 / self.gain


def _saturate(v: Array, dv: Array, v_rail) -> Array:
    """Hold an output at its rail while the drive pushes it further out."""
    if v_rail is None:
        return dv
    outward = ((v >= v_rail) & (dv > 0)) | ((v <= -v_rail) & (dv < 0))
    return jnp.where(outward, 0.0, dv)


class IntegratorNetwork(eqx.Module):
    """``n`` inverting op-amp integrators whose outputs feed back through conductances.

    Integrator ``k`` has capacitor ``C_k`` (and leakage ``g_leak_k`` across it) from its
    output ``V_k`` to its inverting input, and conductances from the sources into that input:
    ``g_feedback[k, j]`` from output ``V_j`` and ``g_input[k, j]`` from input ``u_j(t)``. A
    negative conductance is fed from the inverted source (a unity inverter, taken as ideal).
    With an op-amp of gain A (``v_- = −V_k / A``), Kirchhoff's current law at the inverting
    input gives exactly

        C_k (1 + 1/A) dV_k/dt = −Σ_j G_kj s_j − (Σ_j |G_kj|) V_k / A − g_leak_k V_k (1 + 1/A),

    so an ideal op-amp computes ``dV/dt = −(G_fb V + G_in u) / C``: with τ = RC scaling, the
    network solves the linear ODE ``dx/dt = A x + B u``. Output rails hold a saturated output
    (to within one integration step).
    """

    g_feedback: Float[Array, "n n"]
    """Conductances from the integrator outputs [S] (signed)."""
    capacitance: Float[Array, " n"]
    """Integration capacitors [F], > 0."""
    g_input: Float[Array, "n m"] | None = None
    """Conductances from the external inputs [S] (signed), or None."""
    g_leak: Float[Array, " n"] | float = 0.0
    """Leakage conductance across each capacitor [S], >= 0."""
    opamp: OpAmp = eqx.field(default_factory=OpAmp)

    def __check_init__(self):
        g = jnp.asarray(self.g_feedback)
        if g.ndim != 2 or g.shape[0] != g.shape[1]:
            raise ValueError(f"g_feedback must be square (n, n); got shape {g.shape}")
        if jnp.shape(self.capacitance) != (g.shape[0],):
            raise ValueError(f"capacitance must have shape ({g.shape[0]},); got "
                             f"{jnp.shape(self.capacitance)}")
        if self.g_input is not None and (jnp.ndim(self.g_input) != 2
                                         or jnp.shape(self.g_input)[0] != g.shape[0]):
            raise ValueError(f"g_input must have shape ({g.shape[0]}, m); got "
                             f"{jnp.shape(self.g_input)}")
        check_range("IntegratorNetwork.capacitance", self.capacitance, lower=0.0,
                    lower_open=True, unit="F")
        check_range("IntegratorNetwork.g_leak", self.g_leak, lower=0.0, unit="S")
        check_range("IntegratorNetwork.g_feedback", self.g_feedback, unit="S")

    def vector_field(self, t, v: Array, inputs: Callable[[Array], Array] | None) -> Array:
        """dV/dt [V/s] at time ``t`` for outputs ``v``; ``inputs(t)`` gives u [V]."""
        inverse_gain = self.opamp.inverse_gain
        current = self.g_feedback @ v
        total_g = jnp.sum(jnp.abs(self.g_feedback), axis=1)
        if self.g_input is not None:
            if inputs is None:
                raise ValueError("this network has g_input: pass inputs=lambda t: u(t)")
            current = current + self.g_input @ inputs(t)
            total_g = total_g + jnp.sum(jnp.abs(self.g_input), axis=1)
        current = current + total_g * v * inverse_gain + self.g_leak * v * (1 + inverse_gain)
        dv = -current / (self.capacitance * (1 + inverse_gain))
        return _saturate(v, dv, self.opamp.v_rail)

    def solve(self, v0: Float[ArrayLike, " n"], ts: Float[ArrayLike, " T"], *,
              inputs: Callable[[Array], Array] | None = None, rtol: float = 1e-8,
              atol: float = 1e-10, max_steps: int = 100_000) -> Float[Array, "T n"]:
        """Output voltages at ``ts`` [s] from ``v0`` at ``ts[0]`` (Tsit5, adaptive steps).
        Diverging or too stiff dynamics end with diffrax's error, not NaN."""
        return integrate(lambda t, v: self.vector_field(t, v, inputs), v0, ts, rtol=rtol,
                         atol=atol, max_steps=max_steps)


class RCLowPass(eqx.Module):
    """Passive RC integrator (low-pass): ``RC dV/dt = u(t) − V``."""

    resistance: float | Array
    """Series resistance [Ω], > 0."""
    capacitance: float | Array
    """Shunt capacitance [F], > 0."""

    def __check_init__(self):
        check_range("RCLowPass.resistance", self.resistance, lower=0.0, lower_open=True,
                    unit="ohm")
        check_range("RCLowPass.capacitance", self.capacitance, lower=0.0, lower_open=True,
                    unit="F")

    def solve(self, v0: float | ArrayLike, ts: Float[ArrayLike, " T"], *,
              inputs: Callable[[Array], Array], rtol: float = 1e-8,
              atol: float = 1e-10) -> Float[Array, " T"]:
        tau = self.resistance * self.capacitance
        return integrate(lambda t, v: (inputs(t) - v) / tau, v0, ts, rtol=rtol, atol=atol)


def ramp_step(amplitude: float, rise_time: float = 1e-9) -> Callable[[Array], Array]:
    """A step of ``amplitude`` [V] rising linearly over ``rise_time`` [s] (SPICE's PWL)."""
    return lambda t: amplitude * jnp.clip(t / rise_time, 0.0, 1.0)
