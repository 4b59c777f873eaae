"""Continuous-time analogue circuits on diffrax: op-amp integrator networks and RC stages.

Voltages in volts, conductances in siemens, capacitances in farads, times in seconds.
"""

from __future__ import annotations

import abc
from collections.abc import Callable

import diffrax
import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._ode import integrate
from ._validation import check_range


class OpAmp(eqx.Module):
    """Operational amplifier: finite open-loop gain with one pole, output rails and white
    input-referred voltage noise — the single-pole macro-model of SPICE (a VCCS into an RC
    pole, buffered and clamped).

    ``τ_p dV/dt = A·(v₊ − v₋) − V`` with ``τ_p = A / (2π·gbw)``; ``gbw=None`` makes the
    pole instantaneous (``V = A·(v₊ − v₋)``), ``gain=None`` an ideal op-amp (virtual ground).
    """

    gain: float | Array | None = 1e6
    """Open-loop DC gain A (dimensionless, >= 1), or None for an ideal op-amp."""
    v_rail: float | Array | None = None
    """Output saturation ±v_rail [V], or None for no rails."""
    gbw: float | Array | None = None
    """Gain-bandwidth product [Hz] (unity-gain frequency of the single pole), or None for
    infinite bandwidth. Needs a finite ``gain``."""
    noise_density: float | Array = 0.0
    """Input-referred white voltage-noise density e_n [V/√Hz] (one-sided), >= 0; used by the
    closed-loop integrator (``analogjax.solvers``)."""

    def __check_init__(self):
        check_range("OpAmp.gain", self.gain, lower=1.0)
        check_range("OpAmp.v_rail", self.v_rail, lower=0.0, lower_open=True, unit="V")
        check_range("OpAmp.gbw", self.gbw, lower=0.0, lower_open=True, unit="Hz")
        check_range("OpAmp.noise_density", self.noise_density, lower=0.0, upper=1e-3,
                    unit="V/sqrt(Hz)")
        if self.gbw is not None and self.gain is None:
            raise ValueError("OpAmp.gbw needs a finite OpAmp.gain (the pole is at gbw/gain)")

    @property
    def inverse_gain(self):
        return 0.0 if self.gain is None else 1.0 / self.gain

    @property
    def pole_time_constant(self):
        """τ_p = A / (2π·gbw) [s] (0 for infinite bandwidth)."""
        return 0.0 if self.gbw is None else self.gain / (2 * jnp.pi * self.gbw)

    def clip(self, v: Array) -> Array:
        """Output held within the rails."""
        return v if self.v_rail is None else jnp.clip(v, -self.v_rail, self.v_rail)


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

    def _input_current(self, t, v: Array, inputs) -> tuple[Array, Array]:
        """Σ_j G_kj s_j [A] and Σ_j |G_kj| [S] into each inverting input."""
        current = self.g_feedback @ v
        total_g = jnp.sum(jnp.abs(self.g_feedback), axis=1)
        if self.g_input is not None:
            if inputs is None:
                raise ValueError("this network has g_input: pass inputs=lambda t: u(t)")
            current = current + self.g_input @ inputs(t)
            total_g = total_g + jnp.sum(jnp.abs(self.g_input), axis=1)
        return current, total_g

    def vector_field(self, t, v: Array, inputs: Callable[[Array], Array] | None) -> Array:
        """dV/dt [V/s] at time ``t`` for outputs ``v`` (op-amps without a pole);
        ``inputs(t)`` gives u [V]."""
        inverse_gain = self.opamp.inverse_gain
        current, total_g = self._input_current(t, v, inputs)
        current = current + total_g * v * inverse_gain + self.g_leak * v * (1 + inverse_gain)
        dv = -current / (self.capacitance * (1 + inverse_gain))
        return _saturate(v, dv, self.opamp.v_rail)

    def single_pole_vector_field(self, t, state: Array, inputs) -> Array:
        """d/dt of ``(q, V)`` — capacitor voltages ``q = V − v₋`` and op-amp outputs ``V`` —
        with single-pole op-amps (``τ_p dV/dt = −A·v₋ − V``) and KCL at each inverting input
        ``Σ_j G_kj (s_j − v₋) + g_leak·q + C dq/dt = 0``."""
        q, v = jnp.split(state, 2)
        v_minus = v - q
        current, total_g = self._input_current(t, v, inputs)
        dq = -(current - total_g * v_minus + self.g_leak * q) / self.capacitance
        dv = (-self.opamp.gain * v_minus - v) / self.opamp.pole_time_constant
        return jnp.concatenate([dq, _saturate(v, dv, self.opamp.v_rail)])

    def solve(self, v0: Float[ArrayLike, " n"], ts: Float[ArrayLike, " T"], *,
              inputs: Callable[[Array], Array] | None = None,
              solver: diffrax.AbstractSolver | None = None,
              stepsize_controller: diffrax.AbstractStepSizeController | None = None,
              max_steps: int = 100_000) -> Float[Array, "T n"]:
        """Output voltages at ``ts`` [s] from ``v0`` at ``ts[0]``. ``solver`` defaults to
        Tsit5, or Kvaerno5 for the stiff single-pole model (which starts with every op-amp
        settled, ``v₋ = −V/A``); ``stepsize_controller`` to ``PIDController(rtol=1e-8,
        atol=1e-10)``. Diverging or too stiff dynamics end with diffrax's error, not NaN."""
        options = dict(stepsize_controller=stepsize_controller, max_steps=max_steps)
        if self.opamp.gbw is None:
            return integrate(lambda t, v: self.vector_field(t, v, inputs), v0, ts,
                             solver=solver, **options)
        v0 = jnp.asarray(v0, jnp.asarray(ts).dtype)
        state0 = jnp.concatenate([v0 * (1 + self.opamp.inverse_gain), v0])
        states = integrate(lambda t, y: self.single_pole_vector_field(t, y, inputs), state0, ts,
                           solver=diffrax.Kvaerno5() if solver is None else solver, **options)
        return states[:, v0.shape[0]:]


class SummingAmplifier(eqx.Module):
    """Inverting summing amplifier: ``V_k = −Σ_j G_kj v_j / G_f,k`` for an ideal op-amp.

    With gain A (no pole: the stage is settled), KCL at the inverting input gives
    ``V = −Σ_j G_kj v_j / (G_f + (G_f + Σ_j |G_kj|) / A)``; the output is held within the
    rails. Negative conductances take the inverted input (a unity inverter)."""

    g_input: Float[Array, "n m"]
    """Input conductances [S] (signed)."""
    g_feedback: Float[Array, " n"]
    """Feedback conductances [S], > 0."""
    opamp: OpAmp = eqx.field(default_factory=OpAmp)

    def __check_init__(self):
        if jnp.ndim(self.g_input) != 2 or jnp.shape(self.g_feedback) != jnp.shape(
                self.g_input)[:1]:
            raise ValueError("SummingAmplifier needs g_input (n, m) and g_feedback (n,); got "
                             f"{jnp.shape(self.g_input)} and {jnp.shape(self.g_feedback)}")
        check_range("SummingAmplifier.g_feedback", self.g_feedback, lower=0.0, lower_open=True,
                    unit="S")

    def __call__(self, v: Float[ArrayLike, "... m"]) -> Float[Array, "... n"]:
        """Output voltages [V] for input voltages ``v`` [V]."""
        total_g = self.g_feedback + jnp.sum(jnp.abs(self.g_input), axis=1)
        denominator = self.g_feedback + total_g * self.opamp.inverse_gain
        return self.opamp.clip(-(jnp.asarray(v) @ self.g_input.T) / denominator)


def unity_inverter(opamp: OpAmp | None = None, conductance: float = 1e-4) -> SummingAmplifier:
    """Unity-gain inverter ``V = −v`` (two equal resistors, 1/``conductance`` Ω); with gain A
    its gain is ``−1 / (1 + 2/A)``."""
    return SummingAmplifier(jnp.full((1, 1), conductance), jnp.full((1,), conductance),
                            OpAmp() if opamp is None else opamp)


class TransimpedanceAmplifier(eqx.Module):
    """Transimpedance amplifier (current → voltage) holding a bit line at virtual ground:
    ``V = −I·R_f·A / (1 + A)`` (``−I·R_f`` for an ideal op-amp), within the rails."""

    r_feedback: float | Array
    """Feedback resistance [Ω], > 0."""
    opamp: OpAmp = eqx.field(default_factory=OpAmp)

    def __check_init__(self):
        check_range("TransimpedanceAmplifier.r_feedback", self.r_feedback, lower=0.0,
                    lower_open=True, unit="ohm")

    def __call__(self, current: ArrayLike) -> Array:
        """Output voltage [V] for input current ``current`` [A]."""
        gain = self.r_feedback / (1 + self.opamp.inverse_gain)
        return self.opamp.clip(-jnp.asarray(current) * gain)


class AbstractActivation(eqx.Module):
    """An activation circuit: a memoryless voltage transfer function (volts in, volts out)."""

    @abc.abstractmethod
    def __call__(self, v: Array) -> Array:
        """Output voltage [V] for input voltage ``v`` [V]."""


class Rectifier(AbstractActivation):
    """ReLU as a precision rectifier (ideal diode inside an op-amp loop), optionally
    followed by a diode clamp at ``v_clamp``: ``min(max(v, 0), v_clamp)``."""

    v_clamp: float | Array | None = None
    """Clamp voltage [V], > 0, or None for no clamp."""

    def __check_init__(self):
        check_range("Rectifier.v_clamp", self.v_clamp, lower=0.0, lower_open=True, unit="V")

    def __call__(self, v):
        v = jnp.maximum(v, 0.0)
        return v if self.v_clamp is None else jnp.minimum(v, self.v_clamp)


class TanhActivation(AbstractActivation):
    """tanh from a differential pair: ``v_max·tanh(v / v_scale)`` (for a bipolar pair with
    load R and tail current I: ``v_max = I·R``, ``v_scale = 2·V_T / attenuation``)."""

    v_max: float | Array = 1.0
    """Output swing [V], > 0."""
    v_scale: float | Array = 1.0
    """Input voltage of unit slope [V], > 0 (slope at 0 is v_max / v_scale)."""

    def __check_init__(self):
        check_range("TanhActivation.v_max", self.v_max, lower=0.0, lower_open=True, unit="V")
        check_range("TanhActivation.v_scale", self.v_scale, lower=0.0, lower_open=True,
                    unit="V")

    def __call__(self, v):
        return self.v_max * jnp.tanh(v / self.v_scale)


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
              inputs: Callable[[Array], Array],
              solver: diffrax.AbstractSolver | None = None,
              stepsize_controller: diffrax.AbstractStepSizeController | None = None
              ) -> Float[Array, " T"]:
        tau = self.resistance * self.capacitance
        return integrate(lambda t, v: (inputs(t) - v) / tau, v0, ts, solver=solver,
                         stepsize_controller=stepsize_controller)


def ramp_step(amplitude: float, rise_time: float = 1e-9) -> Callable[[Array], Array]:
    """A step of ``amplitude`` [V] rising linearly over ``rise_time`` [s] (SPICE's PWL)."""
    return lambda t: amplitude * jnp.clip(t / rise_time, 0.0, 1.0)
