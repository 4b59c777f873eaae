"""The closed-loop feedback integrator: a crossbar network closed through op-amp integrators
solves ``dx/ds = f_θ(x, u(s))`` in continuous time, with noise as an SDE on diffrax."""

from __future__ import annotations

import math
from collections.abc import Callable

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

import analogjax as aj
from analogjax.circuits import AbstractActivation, OpAmp, Rectifier
from analogjax.internal import check_int, check_key, check_ode_options, check_range, safe_sqrt

from ._brownian import AbstractBrownian, GridBrownian

BOLTZMANN = 1.380649e-23
"""Boltzmann constant [J/K] (SI, exact)."""

Schedule = Callable[[Array], Array]


def _constant_or(schedule: Schedule | None, s, default):
    return default if schedule is None else schedule(s)


class LoopNoise(eqx.Module):
    """Noise sources of the loop.

    * device read noise, by its time scale (the device's ``read_noise``): the *white* part —
      a read of duration ``read_time`` has the device's per-read σ, so the current noise has
      two-sided density ``σ²·read_time``, averaged by the integrators (the optimistic bound);
      the *frozen* part (1/f, random telegraph) — one perturbation of every weight drawn per
      solve and held for the whole solve (the pessimistic bound for slow noise). Give the
      device a :class:`~analogjax.WhiteReadNoise` or :class:`~analogjax.FrozenReadNoise` to
      choose the bound;
    * op-amp input-referred voltage noise ``e_n`` (``OpAmp.noise_density``), amplified by
      each stage's noise gain ``1 + Σ|G|·R_f``, and the integrators' ``e_n`` and input
      resistors' Johnson noise integrated with ``1/RC``;
    * Johnson noise of the crossbar cells, ``4kT·ΣG`` (one-sided).

    All but the frozen part are white over the loop's bandwidth and enter as a Stratonovich
    SDE driven by a diffrax Brownian path.
    """

    read: bool = eqx.field(default=True, static=True)
    """Include device read noise."""
    circuit: bool = eqx.field(default=True, static=True)
    """Include op-amp and Johnson noise."""
    read_time: float | Array = 100e-9
    """Duration of the read in which the device's read-noise σ is specified [s] (assumed
    100 ns, a typical RRAM read pulse, when the source gives none)."""
    temperature: float | Array = 300.0
    """Temperature [K] of the Johnson noise."""

    def __check_init__(self):
        check_range("LoopNoise.read_time", self.read_time, lower=0.0, lower_open=True, unit="s")
        check_range("LoopNoise.temperature", self.temperature, lower=0.0, unit="K")


class LoopCircuit(eqx.Module):
    """The analogue circuit that closes a loop around a crossbar network: inverting
    integrators (input resistor ``R``, capacitor ``C``, ``τ = RC``), the op-amp of every
    integrator and transimpedance stage, the signal scale and the noise sources. Shared by
    :class:`ClosedLoopIntegrator` and the analogue diffusion sampler. R and C are assumed
    (the papers give none): 100 kΩ·10 pF = 1 µs."""

    resistance: float | Array = 100e3
    """Integrator input resistance R [Ω], > 0."""
    capacitance: float | Array = 10e-12
    """Integrator capacitance C [F], > 0."""
    v_unit: float | Array = 0.1
    """Volts per unit of the state and activations, in (0, 10] (bounded by the read voltage
    the devices tolerate)."""
    opamp: OpAmp = eqx.field(default_factory=lambda: OpAmp(gain=None))
    """The op-amp of every integrator and transimpedance stage (gain, rails, noise; the
    stages are taken as settled, i.e. gbw ≫ 1/τ: measured against the full circuit
    (:meth:`ClosedLoopIntegrator.netlist`, notebook 11) for a 2-4-2 ReLU loop oscillating at
    2/τ, the error is ≈ 30/(gbw·τ) of the signal — 3 % at gbw·τ = 10³)."""
    noise: LoopNoise | None = None
    """Noise sources, or None for a noise-free (deterministic) loop."""
    activation: AbstractActivation = eqx.field(default_factory=Rectifier)
    """The activation circuit after every hidden layer's transimpedance stage (volts in,
    volts out; default an ideal rectifier, the network's ReLU)."""

    def __check_init__(self):
        check_range("LoopCircuit.resistance", self.resistance, lower=0.0, lower_open=True,
                    unit="ohm")
        check_range("LoopCircuit.capacitance", self.capacitance, lower=0.0, lower_open=True,
                    unit="F")
        check_range("LoopCircuit.v_unit", self.v_unit, lower=0.0, lower_open=True, upper=10.0,
                    unit="V")
        if self.opamp.gbw is not None:
            raise ValueError("LoopCircuit takes settled op-amps (gbw=None); model a finite "
                             "bandwidth with circuits.IntegratorNetwork")

    @property
    def tau(self):
        """Integration time constant τ = R·C [s]."""
        return self.resistance * self.capacitance


_FROZEN_STREAM = 0x51_0E
"""Stream of the solve's key that draws the frozen read noise (the Brownian path uses the key
itself)."""


def _with_frozen_noise(matrices, key) -> tuple:
    """The layers with one draw of their frozen read noise added to the weights (each weight
    ``N(0, frozen_variance)``; a reference column's noise is drawn per weight, not shared)."""
    perturbed = []
    for i, m in enumerate(matrices):
        if m.frozen_variance is None:
            perturbed.append(m)
            continue
        z = jax.random.normal(jax.random.fold_in(key, i), m.weights.shape, m.weights.dtype)
        perturbed.append(eqx.tree_at(lambda m: m.weights, m,
                                     m.weights + safe_sqrt(m.frozen_variance) * z))
    return tuple(perturbed)


class LoopSolution(eqx.Module):
    ts: Float[Array, " T"]
    """Model times s (dimensionless; physical time is ``τ·s``)."""
    xs: Float[Array, "T n"]
    """States (integrator outputs in units) at ``ts``."""
    physical_ts: Float[Array, " T"]
    """Physical times [s]."""
    result: diffrax.RESULTS
    """diffrax's result code (successful unless ``throw=False`` and the solve failed)."""
    stats: dict


class _LoopTerm(diffrax.AbstractTerm):
    """``dx = drift(s, x) ds + J(s, x)·σ(s, x) dW``: the drift and the noise in one forward
    pass through the network (the noise is propagated through each layer's local Jacobian,
    the small-noise limit of white noise behind a non-linear activation)."""

    field: Callable
    path: diffrax.AbstractBrownianPath | None

    def vf(self, t, y, args):
        return self.field(t, y, None)[0]

    def contr(self, t0, t1, **kwargs):
        dw = None if self.path is None else self.path.evaluate(t0, t1, **kwargs)
        return t1 - t0, dw

    def prod(self, vf, control):
        return vf * control[0]

    def vf_prod(self, t, y, args, control):
        dt, dw = control
        drift, noise = self.field(t, y, dw)
        return drift * dt if noise is None else drift * dt + noise

    def is_vf_expensive(self, t0, t1, y, args):
        return self.path is not None


class ClosedLoopIntegrator(eqx.Module):
    """A crossbar network closed in a loop through op-amp integrators (Strukov-style analogue
    neural ODE solver; the closed-loop feedback integrator of the resistive-memory
    diffusion and digital-twin papers, ../shared/RESEARCH.md §1–2).

    The network's output currents go through transimpedance amplifiers into inverting
    integrators (input resistor ``R``, capacitor ``C``) whose outputs drive the network's
    first word lines; external inputs ``u(s)`` come from DACs. In model time ``s = t/τ``
    (``τ = R·C``) the integrator outputs ``x`` (in units of ``v_unit`` volts) follow

        dx = [a(s)·x + b(s)·f_θ(x, u(s)) − x/A] / (1 + 1/A) ds + noise + c(s) dW,

    with ``a`` an optional linear feedback, ``b`` a multiplying-DAC gain on the network
    output, ``c`` an injected noise source (all schedules of ``s``), ``A`` the op-amp gain,
    output rails at ``±v_rail`` and optional ``state_limits`` (held, as in the hardware) and
    the noise of ``LoopNoise``; R, C, the op-amp, the signal scale and the noise are the
    :class:`LoopCircuit`.
    Transimpedance stages and the word-line inverters of differential pairs have the
    closed-loop gain error of a finite-gain op-amp, and stages clip at the rails; every stage
    is settled (instantaneous). With ideal devices and op-amps and no noise it is exactly the
    digital neural ODE ``dx/ds = f_θ(x, u)``. :meth:`netlist` builds the full circuit
    (finite gain-bandwidth everywhere) to check the settled model against.
    """

    network: aj.ProgrammedNetwork
    """A fully connected network programmed with its biases on the chips
    (``Network.program(crossbar, key=…, bias_on_chip=True)``); layer ``l`` computes
    ``z_l = W_l·[h_{l−1}; 1]`` with ``h_0 = [x; u]`` (the state and the external inputs)."""
    circuit: LoopCircuit = eqx.field(default_factory=LoopCircuit)
    """Integrators, op-amps, signal scale and noise."""
    inputs: Schedule | None = None
    """``u(s)``: external inputs (units) appended to the state at the first layer."""
    input_dac: aj.DAC | None = None
    """Quantises ``u`` (``input_range`` in units must be set), or None for ideal."""
    drive: Schedule | None = None
    """``d(s)``: added to every hidden pre-activation (units)."""
    feedback: Schedule | None = None
    """``a(s)``: linear feedback of the state onto itself, scalar or (n,)."""
    output_gain: Schedule | None = None
    """``b(s)``: gain on the network output, scalar or (n,) (default 1)."""
    injected_noise: Schedule | None = None
    """``c(s)``: intensity of an injected noise source (units per √s), scalar or (n,)."""
    state_limits: tuple[float, float] | None = eqx.field(default=None, static=True)
    """Lower and upper limits of the integrator outputs (units), or None: diode limiters in
    the integrators' feedback that hold a state which lives in a known range (e.g. a
    memristor's x in [0, 1]) at its bounds, as the op-amp rails hold it at ±v_rail."""

    def __check_init__(self):
        if not isinstance(self.network, aj.ProgrammedNetwork):
            raise TypeError(f"ClosedLoopIntegrator.network must be a ProgrammedNetwork; got "
                            f"{type(self.network).__name__}")
        if not (isinstance(self.network.architecture, aj.MLPArchitecture)
                and self.network.bias_on_chip):
            raise ValueError("ClosedLoopIntegrator.network must be a fully connected network "
                             "programmed with bias_on_chip=True")
        if not isinstance(self.circuit, LoopCircuit):
            raise TypeError(f"ClosedLoopIntegrator.circuit must be a LoopCircuit; got "
                            f"{type(self.circuit).__name__}")
        if self.input_dac is not None and self.input_dac.input_range is None:
            raise ValueError("ClosedLoopIntegrator.input_dac needs a fixed input_range")
        if self.state_limits is not None:
            lower, upper = self.state_limits
            if not lower < upper:
                raise ValueError(f"ClosedLoopIntegrator.state_limits must be (lower, upper) "
                                 f"with lower < upper; got {self.state_limits}")

    @property
    def tau(self):
        """Integration time constant τ = R·C [s]."""
        return self.circuit.tau

    @property
    def noise(self) -> LoopNoise | None:
        return self.circuit.noise

    @property
    def opamp(self) -> OpAmp:
        return self.circuit.opamp

    @property
    def v_unit(self):
        return self.circuit.v_unit

    @property
    def state_size(self) -> int:
        return self.network.out_features

    @property
    def noise_size(self) -> int:
        """Brownian dimensions: with ``noise``, one per hidden unit and one per state (the
        loop's own sources); with ``injected_noise``, one more per state."""
        n = self.state_size
        loop = sum(self.network.hidden_sizes) + n if self.noise is not None else 0
        return loop + (n if self.injected_noise is not None else 0)

    def _matrices(self, t) -> tuple:
        """The layers at ``t`` as the loop applies them: with a finite op-amp gain A, a
        unity inverter (equal resistors) drives the G⁻ array with ``−V/(1 + 2/A)``, so the
        inverted part of each weight is scaled by that gain error."""
        matrices = self.network.matrices(t)
        if self.opamp.gain is None:
            return matrices
        a = self.opamp.inverse_gain
        shortfall = 2 * a / (1 + 2 * a)  # 1 − 1/(1 + 2/A)
        return tuple(m if m.inverted_weights is None else
                     eqx.tree_at(lambda m: m.weights, m,
                                 m.weights + shortfall * m.inverted_weights)
                     for m in matrices)

    def _noise_densities(self, matrices) -> tuple[list, Array]:
        """Per layer: (read-noise density per unit input², input-independent density) in
        units²·s, and the integrator's own density [units²·s]. Computed once per solve."""
        noise, opamp = self.noise, self.opamp
        kt2 = 2 * BOLTZMANN * noise.temperature
        e_n2 = opamp.noise_density**2 / 2  # two-sided
        layers = []
        for m in matrices:
            read = m.read_variance * noise.read_time if noise.read else None
            if noise.circuit:
                # TIA: e_n × noise gain (1 + Σ|G|R_f); cells' Johnson current × R_f
                r_f_per_unit = m.total_conductance / jnp.maximum(m.total_siemens, 1e-30)
                fixed = (e_n2 * (1 + m.total_conductance) ** 2
                         + kt2 * m.total_siemens * r_f_per_unit**2) / self.v_unit**2
            else:
                fixed = jnp.zeros_like(m.total_conductance)
            layers.append((read, fixed))
        integrator = ((e_n2 + kt2 * self.circuit.resistance) / self.v_unit**2 if noise.circuit
                      else jnp.zeros(()))
        return layers, integrator

    def _forward(self, matrices, densities, s, x, perturbations):
        """The network output ``f`` (units) with ``perturbations[l]`` added to layer ``l``'s
        output; aux: every layer's input and its noise variance density [units²·s] (None
        without ``densities``)."""
        network, opamp = self.network, self.opamp
        h = x
        if self.inputs is not None:
            u = self.inputs(s)
            if self.input_dac is not None:
                scale = self.input_dac.input_range
                u = scale * self.input_dac(u / scale)
            h = jnp.concatenate([x, jnp.atleast_1d(u).astype(x.dtype)])
        if h.shape != (network.in_features,):
            raise ValueError(f"state plus inputs must have {network.in_features} entries; "
                             f"got {h.shape[0]}")
        drive = _constant_or(self.drive, s, 0.0)
        last = len(matrices) - 1
        layer_inputs, variances = [], []
        for i, m in enumerate(matrices):
            inp = jnp.concatenate([h, jnp.ones((1,), h.dtype)])
            layer_inputs.append(inp)
            tia_gain = 1 / (1 + (1 + m.total_conductance) * opamp.inverse_gain)
            z = (m.weights @ inp) * tia_gain + perturbations[i]
            if densities is not None:
                layer_densities, integrator_density = densities
                read, fixed = layer_densities[i]
                variance = fixed if read is None else fixed + read @ (inp * inp)
                variances.append(variance + integrator_density if i == last else variance)
            if i < last:
                h = opamp.clip(self.circuit.activation((z + drive) * self.v_unit)) / self.v_unit
        return z, (layer_inputs, variances if densities is not None else None)

    def _field(self, matrices, densities, s, x, dw):
        """Drift and (when ``dw`` is given) noise increment at model time ``s``; ``densities``
        from ``_noise_densities`` (None: no device or circuit noise). Each layer's white noise
        (``dw`` slices) is propagated to the output through the layers' local Jacobians (one
        forward-mode pass: the small-noise limit of white noise behind a non-linear
        activation)."""
        inverse_gain = self.opamp.inverse_gain
        zeros = tuple(jnp.zeros(m.weights.shape[0], x.dtype) for m in matrices)
        loop_noise = dw is not None and densities is not None
        forward = lambda p: self._forward(matrices, densities, s, x, p)  # noqa: E731
        gain = _constant_or(self.output_gain, s, 1.0)
        n = self.state_size
        noise = None
        if not loop_noise:
            f, _ = forward(zeros)
        else:
            sqrt_tau = jnp.sqrt(self.tau)
            f, linear, (_, variances) = jax.linearize(forward, zeros, has_aux=True)
            offsets = np.cumsum([0] + [v.shape[0] for v in variances])
            tangents = tuple(safe_sqrt(v) / sqrt_tau * dw[a:b] for v, a, b in
                             zip(variances, offsets[:-1], offsets[1:], strict=True))
            noise = gain * linear(tangents) / (1 + inverse_gain)
        drift = gain * f + _constant_or(self.feedback, s, 0.0) * x - x * inverse_gain
        drift = drift / (1 + inverse_gain)
        if dw is not None and self.injected_noise is not None:
            injected = self.injected_noise(s) * dw[-n:]
            noise = injected if noise is None else noise + injected
        if self.opamp.v_rail is None and self.state_limits is None:
            return drift, noise
        lower, upper = -jnp.inf, jnp.inf
        if self.opamp.v_rail is not None:
            lower, upper = -self.opamp.v_rail / self.v_unit, self.opamp.v_rail / self.v_unit
        if self.state_limits is not None:
            lower = jnp.maximum(lower, self.state_limits[0])
            upper = jnp.minimum(upper, self.state_limits[1])

        def held(d):  # an output at its limit does not move further out
            return jnp.where(((x >= upper) & (d > 0)) | ((x <= lower) & (d < 0)), 0.0, d)

        return held(drift), None if noise is None else held(noise)

    @property
    def opamp_count(self) -> int:
        """Op-amps of the loop: a transimpedance amplifier per output of every layer, an
        integrator per state, and — for mappings with two arrays per weight (differential
        pairs) — an inverter per word line of every layer, which drives the G⁻ array with −V
        so that one bit line sums G⁺V − G⁻V (a reference-column mapping needs none)."""
        count = sum(self.network.hidden_sizes) + 2 * self.state_size
        for chip in self.network.chips:
            if chip.crossbar.mapping.arrays == 2:
                count += chip.in_features
        return count

    def digital_energy_per_evaluation(self, model: aj.energy.EnergyModel | None = None
                                      ) -> Array:
        """Energy [J] of one digital evaluation of f_θ: one MAC and one weight fetch per
        weight (biases included)."""
        model = aj.energy.EnergyModel() if model is None else model
        macs = sum(chip.out_features * chip.in_features for chip in self.network.chips)
        return model.digital(macs, macs)

    def netlist(
        self,
        x0: Float[ArrayLike, " n"],
        *,
        opamp: OpAmp | None = None,
        activation_bandwidth: float | ArrayLike | None = None,
        inverter_resistance: float | ArrayLike = 10e3,
        t: float | ArrayLike | None = None,
    ) -> aj.circuits.Circuit:
        """The loop as a full circuit (:class:`analogjax.circuits.Circuit`), to check the
        settled-stage model of :meth:`solve` against: every cell a resistor between its word
        line and the bit line of its output (the conductances at ``t`` s after programming),
        an inverter (two ``inverter_resistance`` resistors around an op-amp) per word line
        driving the G⁻ array, a transimpedance amplifier (feedback resistance: the weight per
        siemens of its column) per output of every layer, an activation stage
        (:class:`~analogjax.circuits.ActivationElement` with ``self.circuit.activation``,
        one pole at ``activation_bandwidth`` [Hz], default the op-amp's gbw, else 1 GHz) per
        hidden unit, and an inverting integrator (R, C of the :class:`LoopCircuit`) per
        state; the bias word line is a DC source of ``v_unit``. Every op-amp is ``opamp``
        (default the loop's). Nodes ``x0, x1, …`` carry ``v_unit·x`` [V] in physical time
        ``τ·s``. Initial conditions (``.ic``, for ``transient(…, uic=True)``): the states at
        ``x0`` and every stage at its settled output for ``x0`` (by the loop's model).

        Needs a noise-free loop without inputs, drive, feedback, output gain or state
        limits, and a differential-pair mapping with each layer on one row of tiles (one
        bit line and one feedback resistor per output)."""
        from analogjax import circuits

        extras = [name for name in ("inputs", "drive", "feedback", "output_gain",
                                    "injected_noise", "noise", "state_limits")
                  if getattr(self, name) is not None]
        if extras:
            raise ValueError(f"netlist() needs a loop without {', '.join(extras)}")
        for i, chip in enumerate(self.network.chips):
            if chip.crossbar.mapping.arrays != 2 or chip.weight_per_siemens.shape[0] != 1:
                raise ValueError(f"netlist() needs each layer on one row of tiles of a "
                                 f"differential-pair mapping; layer {i} is not")
        opamp = self.opamp if opamp is None else opamp
        if activation_bandwidth is None:
            activation_bandwidth = 1e9 if opamp.gbw is None else opamp.gbw
        x0 = jnp.asarray(x0)
        v_unit = self.v_unit
        matrices = self.network.matrices(t)
        zeros = tuple(jnp.zeros(m.weights.shape[0], x0.dtype) for m in matrices)
        settled = self._forward(self._matrices(t), None, 0.0, x0, zeros)[1][0]  # layer inputs
        elements = [circuits.VoltageSource("Vbias", ("bias", "0"), v_unit)]
        ic = {f"x{j}": v_unit * x0[j] for j in range(self.state_size)}
        rows = [f"x{j}" for j in range(self.state_size)]
        last = len(matrices) - 1
        for layer, m in enumerate(matrices):
            n_out, n_in = m.weights.shape
            words = rows + ["bias"]
            inverted = [f"L{layer}.n{i}" for i in range(n_in)]
            for i in range(n_in):  # inverters: −V for the G⁻ array
                minus = f"L{layer}.inv{i}-"
                elements += [
                    circuits.Resistor(f"L{layer}.Ri{i}", (words[i], minus), inverter_resistance),
                    circuits.Resistor(f"L{layer}.Rf{i}", (minus, inverted[i]),
                                      inverter_resistance),
                    circuits.OpAmpElement(f"L{layer}.INV{i}", ("0", minus, inverted[i]), opamp)]
                ic[inverted[i]] = -v_unit * settled[layer][i]
            r_f = m.total_conductance / m.total_siemens  # Ω per weight unit, per output
            floor = 1e-18  # an empty cell: 1e18 Ω, an open circuit
            g_plus = jnp.maximum((m.weights + m.inverted_weights) / r_f[:, None], floor)
            g_minus = jnp.maximum(m.inverted_weights / r_f[:, None], floor)
            bits = [f"L{layer}.b{o}" for o in range(n_out)]
            elements += circuits.crossbar_elements(f"L{layer}.P", words, bits, g_plus.T)
            elements += circuits.crossbar_elements(f"L{layer}.M", inverted, bits, g_minus.T)
            z = (m.weights @ settled[layer]) / (1 + (1 + m.total_conductance)
                                                * opamp.inverse_gain)
            outs = [f"L{layer}.z{o}" for o in range(n_out)]
            for o in range(n_out):  # transimpedance amplifiers: −v_unit·z
                elements += [circuits.Resistor(f"L{layer}.RT{o}", (bits[o], outs[o]), r_f[o]),
                             circuits.OpAmpElement(f"L{layer}.TIA{o}", ("0", bits[o], outs[o]),
                                                   opamp)]
                ic[outs[o]] = -v_unit * z[o]
            if layer < last:
                rows = [f"L{layer}.h{o}" for o in range(n_out)]
                for o in range(n_out):
                    elements.append(circuits.ActivationElement(
                        f"L{layer}.ACT{o}", ("0", outs[o], rows[o]), self.circuit.activation,
                        activation_bandwidth))
                    ic[rows[o]] = v_unit * settled[layer + 1][o]
            else:
                for j in range(n_out):  # inverting integrators: x' = f / τ
                    node = f"I{j}-"
                    elements += [
                        circuits.Resistor(f"RI{j}", (outs[j], node), self.circuit.resistance),
                        circuits.Capacitor(f"CI{j}", (node, f"x{j}"), self.circuit.capacitance,
                                           initial_voltage=-(1 + opamp.inverse_gain)
                                           * v_unit * x0[j]),  # v₋ = −v_x / A
                        circuits.OpAmpElement(f"INT{j}", ("0", node, f"x{j}"), opamp)]
        return circuits.Circuit(elements, ic)

    def solve(
        self,
        x0: Float[ArrayLike, " n"],
        ts: Float[ArrayLike, " T"],
        *,
        key: PRNGKeyArray | None = None,
        t: float | ArrayLike | None = None,
        dt: float | None = None,
        solver: diffrax.AbstractSolver | None = None,
        stepsize_controller: diffrax.AbstractStepSizeController | None = None,
        brownian: AbstractBrownian | None = None,
        adjoint: diffrax.AbstractAdjoint | None = None,
        max_steps: int = 100_000,
        throw: bool = True,
    ) -> LoopSolution:
        """Integrate from ``x0`` at model time ``ts[0]`` and save at ``ts`` (model time),
        with the conductances ``t`` seconds after programming (drift; None: the drift
        reference time).

        Without noise: ``solver`` (default Tsit5) with ``stepsize_controller`` (default
        ``PIDController(rtol=1e-6, atol=1e-8)``, or ``ConstantStepSize`` when ``dt`` is
        given). With noise: ``solver`` (default Heun, Stratonovich) with fixed steps ``dt``
        over the Brownian path ``brownian`` (default :class:`GridBrownian`: the fast
        step-independent grid; :class:`VirtualTreeBrownian` for diffrax's tree) drawn from
        ``key``. Gradients flow with ``adjoint`` (default diffrax's recursive
        checkpointing). A failed solve (divergent or too stiff dynamics: max steps) raises
        diffrax's error, or with ``throw=False`` is flagged in ``result``.
        """
        ts = jnp.asarray(ts)
        if not jnp.issubdtype(ts.dtype, jnp.floating):
            ts = ts.astype(float)
        if ts.ndim != 1 or ts.shape[0] < 2:
            raise ValueError(f"ts must be 1-D with >= 2 times; got shape {ts.shape}")
        x0 = jnp.asarray(x0, ts.dtype)
        if x0.shape != (self.state_size,):
            raise ValueError(f"x0 must have shape ({self.state_size},); got {x0.shape}")
        check_ode_options(solver, stepsize_controller, max_steps)
        if brownian is not None and not isinstance(brownian, AbstractBrownian):
            raise TypeError(f"brownian must be a GridBrownian or VirtualTreeBrownian; got "
                            f"{type(brownian).__name__}")
        noisy = self.noise is not None or self.injected_noise is not None
        if noisy:
            check_key("key", key)
            if dt is None:
                raise ValueError("dt (model-time step) is required for a noisy (SDE) solve")
        if dt is not None:
            check_range("dt", dt, lower=0.0, lower_open=True)
        matrices = self._matrices(t)
        if self.noise is not None and self.noise.read:
            matrices = _with_frozen_noise(matrices, jax.random.fold_in(key, _FROZEN_STREAM))
        densities = None if self.noise is None else self._noise_densities(matrices)
        path = None
        if noisy:
            brownian = GridBrownian() if brownian is None else brownian
            path = brownian.path(ts[0], ts[-1], (self.noise_size,), key, dt=dt, dtype=ts.dtype)
            solver = diffrax.Heun() if solver is None else solver
        elif solver is None:
            solver = diffrax.Tsit5()
        field = lambda s, x, dw: self._field(matrices, densities, s, x, dw)  # noqa: E731
        if stepsize_controller is None:
            stepsize_controller = (diffrax.PIDController(rtol=1e-6, atol=1e-8) if dt is None
                                   else diffrax.ConstantStepSize())
        solution = diffrax.diffeqsolve(
            _LoopTerm(field, path), solver, t0=ts[0], t1=ts[-1], dt0=dt, y0=x0,
            saveat=diffrax.SaveAt(ts=ts), stepsize_controller=stepsize_controller,
            adjoint=diffrax.RecursiveCheckpointAdjoint() if adjoint is None else adjoint,
            max_steps=max_steps, throw=throw)
        return LoopSolution(ts=ts, xs=solution.ys, physical_ts=ts * self.tau,
                            result=solution.result, stats=solution.stats)


def loop_energy(
    loop: ClosedLoopIntegrator,
    solution: LoopSolution,
    *,
    model: aj.energy.EnergyModel | None = None,
    dac_bits: int = 8,
    dac_update_rate: float = 10e6,
    adc_bits: int = 8,
    readouts: int = 1,
    t: float | ArrayLike | None = None,
) -> dict[str, Array]:
    """Projected energy [J] and time [s] of the analogue solve of ``loop`` in ``solution``.

    Crossbar Joule heating ∫ΣV²G dt along the saved trajectory (noise-free inputs,
    trapezoidal rule over ``solution.ts``: save densely) with the conductances ``t`` seconds
    after programming; every op-amp powered for the solve
    (:attr:`ClosedLoopIntegrator.opamp_count`); DAC conversions for the initial state and for
    each input/drive/schedule channel updated at ``dac_update_rate`` [Hz]; ``readouts`` ADC
    conversions per state (hardware read-outs of the result; default one, the final state —
    not the simulation's saved times). ``model`` defaults to ``energy.EnergyModel()``."""
    check_int("readouts", readouts, lower=0)
    check_range("dac_update_rate", dac_update_rate, lower=0.0, unit="Hz")
    model = aj.energy.EnergyModel() if model is None else model
    matrices = loop._matrices(t)
    duration = solution.physical_ts[-1] - solution.physical_ts[0]

    def inputs_at(s, x):
        zeros = tuple(jnp.zeros(m.weights.shape[0], x.dtype) for m in matrices)
        return loop._forward(matrices, None, s, x, zeros)[1][0]

    per_time = jax.vmap(inputs_at)(solution.ts, solution.xs)
    crossbar = sum(aj.energy.crossbar_read_energy(m.cell_conductance.T,
                                                  loop.v_unit * inp, solution.physical_ts)
                   for m, inp in zip(matrices, per_time, strict=True))
    n = loop.state_size
    s0 = solution.ts[0]
    channels = 0
    for schedule in (loop.inputs, loop.drive, loop.feedback, loop.output_gain,
                     loop.injected_noise):
        if schedule is not None:
            channels += math.prod(jax.eval_shape(schedule, s0).shape)
    conversions = n + channels * jnp.ceil(duration * dac_update_rate)
    parts = {
        "crossbar": crossbar,
        "opamps": model.opamps(loop.opamp_count, duration),
        "dac": model.dac(dac_bits, conversions),
        "adc": model.adc(adc_bits, n * readouts),
    }
    parts["total"] = sum(parts.values())
    parts["time"] = duration
    return parts
