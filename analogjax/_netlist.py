"""General analogue circuits: elements as data, modified nodal analysis, transient and
operating-point analysis on diffrax, and a SPICE-subset netlist reader.

Formulation. The unknowns of the resistive (algebraic) part are the node voltages and one
branch current per voltage-defined element (voltage sources, VCVS, op-amp outputs,
capacitors, inductors). The dynamic state is integrated by diffrax: capacitor voltages
(each capacitor is a voltage source of its state in the algebraic solve, its branch current
gives ``dv/dt = i / C``), inductor currents (a current source of the state, ``di/dt = v / L``),
op-amp poles (``τ dz/dt = A (v₊ − v₋) − z``, the output a source of ``clip(z)``),
activation stages (``dz/dt = 2π·bandwidth·(act(v₊ − v₋) − z)``) and memristor states. A
circuit whose high-gain op-amps are VCVSs then stays a non-stiff ODE in the capacitor
voltages; poles at the gain-bandwidth product make it stiff (the default solver
is the L-stable Kvaerno5). Operating point: capacitors open, inductors shorted, op-amps at
their DC gain (SPICE's ``.op``).
"""

from __future__ import annotations

import abc
import math
import re
from pathlib import Path
from typing import ClassVar

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from ._circuits import AbstractActivation, OpAmp, _saturate
from ._memristor import AbstractMemristor
from ._ode import check_ode_options, default_controller
from ._validation import check_range, is_concrete

GROUND_NAMES = ("0", "gnd")


# ----------------------------------------------------------------------------- waveforms


class AbstractWaveform(eqx.Module):
    """A source value [V or A] as a function of time [s]."""

    @abc.abstractmethod
    def __call__(self, t: Array) -> Array:
        ...

    def breakpoints(self, t_stop: float) -> list[float]:
        """Times in ``(0, t_stop)`` where the waveform has a kink (steps stop there)."""
        return []


class DC(AbstractWaveform):
    """A constant."""

    value: float | Array

    def __call__(self, t):
        return jnp.asarray(self.value) + 0.0 * t


class PWL(AbstractWaveform):
    """Piecewise linear through ``(times[k], values[k])`` (SPICE ``PWL``); constant before the
    first and after the last point."""

    times: Float[ArrayLike, " K"]
    values: Float[ArrayLike, " K"]

    def __check_init__(self):
        times = np.asarray(self.times) if is_concrete(self.times) else None
        if times is not None and (times.ndim != 1 or times.size < 1
                                  or np.any(np.diff(times) < 0)):
            raise ValueError("PWL.times must be a non-empty, non-decreasing 1-D sequence [s]")

    def __call__(self, t):
        return jnp.interp(t, jnp.asarray(self.times), jnp.asarray(self.values))

    def breakpoints(self, t_stop):
        return [float(t) for t in np.asarray(self.times) if 0 < t < t_stop]


class Pulse(AbstractWaveform):
    """SPICE ``PULSE(v1 v2 delay rise fall width period)``: ``v1`` until ``delay``, a linear
    rise to ``v2``, ``width`` at ``v2``, a linear fall, repeating every ``period``."""

    v1: float | Array
    v2: float | Array
    delay: float | Array = 0.0
    rise: float | Array = 1e-9
    fall: float | Array = 1e-9
    width: float | Array = math.inf
    period: float | Array = math.inf

    def __call__(self, t):
        local = t - self.delay
        local = jnp.where(jnp.isfinite(self.period) & (local > 0),
                          jnp.mod(local, jnp.where(jnp.isfinite(self.period), self.period, 1.0)),
                          local)
        up = jnp.clip(local / self.rise, 0.0, 1.0)
        down = jnp.clip((local - self.rise - self.width) / self.fall, 0.0, 1.0)
        fraction = jnp.where(local < 0, 0.0, up - down)
        return self.v1 + (self.v2 - self.v1) * fraction

    def breakpoints(self, t_stop):
        edges = [0.0, float(self.rise), float(self.rise) + float(self.width),
                 float(self.rise) + float(self.width) + float(self.fall)]
        period = float(self.period)
        out, start = [], float(self.delay)
        while start < t_stop and len(out) < 4000:
            out += [start + e for e in edges if math.isfinite(e) and 0 < start + e < t_stop]
            if not math.isfinite(period):
                break
            start += period
        return out


class Sine(AbstractWaveform):
    """SPICE ``SIN(offset amplitude frequency delay damping)``:
    ``offset + amplitude·exp(−damping (t − delay))·sin(2π frequency (t − delay))`` after
    ``delay``."""

    offset: float | Array
    amplitude: float | Array
    frequency: float | Array
    delay: float | Array = 0.0
    damping: float | Array = 0.0

    def __call__(self, t):
        local = t - self.delay
        wave = (self.amplitude * jnp.exp(-self.damping * local)
                * jnp.sin(2 * jnp.pi * self.frequency * local))
        return self.offset + jnp.where(local > 0, wave, 0.0)

    def breakpoints(self, t_stop):
        return [float(self.delay)] if 0 < float(self.delay) < t_stop else []


def _as_waveform(value) -> AbstractWaveform:
    return value if isinstance(value, AbstractWaveform) else DC(value)


# ----------------------------------------------------------------------------- elements


class AbstractElement(eqx.Module):
    """A circuit element: a unique ``name`` and the names of the nodes it connects
    (``"0"`` or ``"gnd"`` is ground)."""

    name: eqx.AbstractVar[str]
    nodes: eqx.AbstractVar[tuple[str, ...]]
    value_field: ClassVar[str]
    """The field :meth:`Circuit.with_value` sets."""
    branches: ClassVar[int] = 0
    """Branch currents the element adds to the unknowns."""
    states: ClassVar[int] = 0
    """Dynamic states the element adds."""


class Resistor(AbstractElement):
    name: str = eqx.field(static=True)
    nodes: tuple[str, str] = eqx.field(static=True)
    resistance: float | Array
    """[Ω], > 0."""
    value_field: ClassVar[str] = "resistance"

    def __check_init__(self):
        check_range(f"{self.name}.resistance", self.resistance, lower=0.0, lower_open=True,
                    unit="ohm")


class Capacitor(AbstractElement):
    name: str = eqx.field(static=True)
    nodes: tuple[str, str] = eqx.field(static=True)
    capacitance: float | Array
    """[F], > 0."""
    initial_voltage: float | Array | None = None
    """``IC=`` [V] (v(first node) − v(second node)) used by a transient with UIC."""
    value_field: ClassVar[str] = "capacitance"
    branches: ClassVar[int] = 1
    states: ClassVar[int] = 1

    def __check_init__(self):
        check_range(f"{self.name}.capacitance", self.capacitance, lower=0.0, lower_open=True,
                    unit="F")


class Inductor(AbstractElement):
    name: str = eqx.field(static=True)
    nodes: tuple[str, str] = eqx.field(static=True)
    inductance: float | Array
    """[H], > 0."""
    initial_current: float | Array | None = None
    """``IC=`` [A] (from the first node through the inductor to the second) for UIC."""
    value_field: ClassVar[str] = "inductance"
    branches: ClassVar[int] = 1
    states: ClassVar[int] = 1

    def __check_init__(self):
        check_range(f"{self.name}.inductance", self.inductance, lower=0.0, lower_open=True,
                    unit="H")


class VoltageSource(AbstractElement):
    """``v(nodes[0]) − v(nodes[1]) = waveform(t)``; its branch current flows into the first
    node's terminal and through the source (SPICE's convention)."""

    name: str = eqx.field(static=True)
    nodes: tuple[str, str] = eqx.field(static=True)
    waveform: AbstractWaveform = eqx.field(converter=_as_waveform)
    value_field: ClassVar[str] = "waveform"
    branches: ClassVar[int] = 1


class CurrentSource(AbstractElement):
    """A current ``waveform(t)`` [A] from ``nodes[0]`` through the source to ``nodes[1]``."""

    name: str = eqx.field(static=True)
    nodes: tuple[str, str] = eqx.field(static=True)
    waveform: AbstractWaveform = eqx.field(converter=_as_waveform)
    value_field: ClassVar[str] = "waveform"


class VCVS(AbstractElement):
    """SPICE ``E``: ``v(nodes[0]) − v(nodes[1]) = gain·(v(control[0]) − v(control[1]))``."""

    name: str = eqx.field(static=True)
    nodes: tuple[str, str] = eqx.field(static=True)
    control: tuple[str, str] = eqx.field(static=True)
    gain: float | Array
    value_field: ClassVar[str] = "gain"
    branches: ClassVar[int] = 1


class VCCS(AbstractElement):
    """SPICE ``G``: a current ``transconductance·(v(control[0]) − v(control[1]))`` [A] from
    ``nodes[0]`` through the element to ``nodes[1]``."""

    name: str = eqx.field(static=True)
    nodes: tuple[str, str] = eqx.field(static=True)
    control: tuple[str, str] = eqx.field(static=True)
    transconductance: float | Array
    """[S]."""
    value_field: ClassVar[str] = "transconductance"


class OpAmpElement(AbstractElement):
    """An op-amp between ``nodes = (plus, minus, out)``, output referred to ground, with the
    macro-model of :class:`analogjax.circuits.OpAmp`: ideal (``gain=None``: v₊ = v₋),
    finite gain (a VCVS), or finite gain with one pole at ``gbw / gain`` and optional output
    rails (a state ``τ dz/dt = A (v₊ − v₋) − z``, output ``clip(z)``)."""

    name: str = eqx.field(static=True)
    nodes: tuple[str, str, str] = eqx.field(static=True)
    opamp: OpAmp = eqx.field(default_factory=OpAmp)
    value_field: ClassVar[str] = "opamp"
    branches: ClassVar[int] = 1

    def __check_init__(self):
        if self.opamp.v_rail is not None and self.opamp.gbw is None:
            raise ValueError(f"{self.name}: output rails need a pole (OpAmp.gbw) in a "
                             "netlist (an instantaneous clipped output is not linear)")

    @property
    def has_pole(self) -> bool:
        return self.opamp.gbw is not None


class ActivationElement(AbstractElement):
    """An activation circuit (e.g. :class:`analogjax.circuits.Rectifier`, a precision
    rectifier) between ``nodes = (plus, minus, out)``, output referred to ground: the output
    follows ``activation(v₊ − v₋)`` through one pole at ``bandwidth`` [Hz] (a state
    ``dz/dt = 2π·bandwidth·(activation(v₊ − v₋) − z)``, output ``z``) — the finite speed of
    the op-amp circuit that realises it, and what keeps the circuit equations linear in the
    node voltages. A circuit with one has no linear operating point: start its transient
    with ``uic=True``."""

    name: str = eqx.field(static=True)
    nodes: tuple[str, str, str] = eqx.field(static=True)
    activation: AbstractActivation
    bandwidth: float | Array
    """Bandwidth [Hz] of the stage, > 0."""
    value_field: ClassVar[str] = "bandwidth"
    branches: ClassVar[int] = 1
    states: ClassVar[int] = 1

    def __check_init__(self):
        if not isinstance(self.activation, AbstractActivation):
            raise TypeError(f"{self.name}: activation must be an AbstractActivation; got "
                            f"{type(self.activation).__name__}")
        check_range(f"{self.name}.bandwidth", self.bandwidth, lower=0.0, lower_open=True,
                    unit="Hz")


class MemristorElement(AbstractElement):
    """A memristor of :mod:`analogjax.memristor` between ``nodes`` (x = 1 ON), its state
    integrated with the circuit. Ohmic models (``HPMemristor``, ``VTEAM``)."""

    name: str = eqx.field(static=True)
    nodes: tuple[str, str] = eqx.field(static=True)
    model: AbstractMemristor
    initial_state: float | Array = 0.5
    value_field: ClassVar[str] = "initial_state"
    states: ClassVar[int] = 1

    def __check_init__(self):
        if not hasattr(self.model, "resistance"):
            raise TypeError(f"{self.name}: only ohmic memristor models (a resistance at each "
                            f"state: HPMemristor, VTEAM) are circuit elements; got "
                            f"{type(self.model).__name__}")
        check_range(f"{self.name}.initial_state", self.initial_state, lower=0.0, upper=1.0)


def crossbar_elements(name: str, word_nodes, bit_nodes, conductances,
                      r_wire: float | None = None) -> list[AbstractElement]:
    """A crossbar as elements: cell ``(i, j)`` of ``conductances`` [S] ``(m, n)`` between
    word line ``i`` and bit line ``j``. Without ``r_wire`` every cell joins ``word_nodes[i]``
    to ``bit_nodes[j]``; with ``r_wire`` [Ω] per segment, word line ``i`` runs from
    ``word_nodes[i]`` (its driven left end) through ``n`` segments, bit line ``j`` from its
    open top through ``m`` segments to ``bit_nodes[j]`` (its bottom end) — the topology of
    :func:`analogjax.ir_drop.solve` and of the shipped SPICE references."""
    g = np.asarray(conductances) if not isinstance(conductances, jax.Array) else conductances
    m, n = g.shape
    if len(word_nodes) != m or len(bit_nodes) != n:
        raise ValueError(f"{name}: {m}x{n} conductances need {m} word and {n} bit nodes; got "
                         f"{len(word_nodes)} and {len(bit_nodes)}")
    elements = []
    if r_wire is None:
        w = [[word_nodes[i]] * n for i in range(m)]
        b = [[bit_nodes[j] for j in range(n)] for _ in range(m)]
    else:
        check_range(f"{name}.r_wire", r_wire, lower=0.0, lower_open=True, unit="ohm")
        w = [[f"{name}.w{i}_{j}" for j in range(n)] for i in range(m)]
        b = [[f"{name}.b{i}_{j}" for j in range(n)] for i in range(m)]
        for i in range(m):
            chain = [word_nodes[i]] + w[i]
            elements += [Resistor(f"{name}.rw{i}_{j}", (chain[j], chain[j + 1]), r_wire)
                         for j in range(n)]
        for j in range(n):
            chain = [b[i][j] for i in range(m)] + [bit_nodes[j]]
            elements += [Resistor(f"{name}.rb{i}_{j}", (chain[i], chain[i + 1]), r_wire)
                         for i in range(m)]
    elements += [Resistor(f"{name}.g{i}_{j}", (w[i][j], b[i][j]), 1 / g[i, j])
                 for i in range(m) for j in range(n)]
    return elements


# ----------------------------------------------------------------------------- circuit


class TransientSettings(eqx.Module):
    """A SPICE ``.tran step stop [start] [UIC]`` line."""

    step: float = eqx.field(static=True)
    stop: float = eqx.field(static=True)
    start: float = eqx.field(static=True, default=0.0)
    uic: bool = eqx.field(static=True, default=False)

    def times(self) -> np.ndarray:
        """The output grid ``start, start + step, …, stop``."""
        n = int(round((self.stop - self.start) / self.step))
        return self.start + self.step * np.arange(n + 1)


class CircuitSolution(eqx.Module):
    """Node voltages [V] and branch currents [A] at ``ts`` (``ts`` is None for an operating
    point): ``solution["out"]`` is node ``out``'s voltage, ``solution.current("V1")`` the
    branch current of a voltage source, capacitor, inductor, VCVS or op-amp output."""

    ts: Array | None
    voltages: Float[Array, "... N"]
    currents: Float[Array, "... B"]
    states: Float[Array, "... S"]
    node_names: tuple[str, ...] = eqx.field(static=True)
    branch_names: tuple[str, ...] = eqx.field(static=True)

    def __getitem__(self, node: str) -> Array:
        if node.lower() in GROUND_NAMES:
            return jnp.zeros_like(self.voltages[..., 0])
        if node not in self.node_names:
            raise KeyError(f"no node {node!r}; nodes: {', '.join(self.node_names)}")
        return self.voltages[..., self.node_names.index(node)]

    def current(self, element: str) -> Array:
        if element not in self.branch_names:
            raise KeyError(f"no branch current of {element!r}; elements with one: "
                           f"{', '.join(self.branch_names)}")
        return self.currents[..., self.branch_names.index(element)]


class Circuit(eqx.Module):
    """A circuit: elements joined at named nodes (``"0"``/``"gnd"`` is ground), initial node
    voltages (SPICE ``.ic``) and optionally the netlist's ``.tran`` settings. A pytree whose
    leaves are the element values: ``jax.grad`` differentiates a result with respect to every
    element, ``jax.vmap`` over values (e.g. via :meth:`with_value`) is a Monte Carlo over
    circuits."""

    elements: tuple[AbstractElement, ...]
    initial_conditions: dict[str, float | Array]
    tran: TransientSettings | None = None
    node_names: tuple[str, ...] = eqx.field(static=True, init=False)

    def __init__(self, elements, initial_conditions=None, tran=None):
        self.elements = tuple(elements)
        names = [e.name for e in self.elements]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"element names must be unique; repeated: {duplicates}")
        nodes = []
        for e in self.elements:
            if not isinstance(e, AbstractElement):
                raise TypeError(f"elements must be circuit elements; got {type(e).__name__}")
            for node in list(e.nodes) + list(getattr(e, "control", ())):
                if node.lower() not in GROUND_NAMES and node not in nodes:
                    nodes.append(node)
        if not nodes:
            raise ValueError("a circuit needs at least one node besides ground")
        self.node_names = tuple(nodes)
        ic = dict(initial_conditions or {})
        unknown = sorted(set(ic) - set(nodes))
        if unknown:
            raise ValueError(f"initial conditions name unknown nodes {unknown}")
        self.initial_conditions = ic
        self.tran = tran

    # --- bookkeeping (static, from the element types) ------------------------------------
    def _index(self, node: str) -> int:
        """Row of a node's voltage; ground gets the dropped row ``size``."""
        return self.size if node.lower() in GROUND_NAMES else self.node_names.index(node)

    @property
    def branch_elements(self) -> tuple[AbstractElement, ...]:
        return tuple(e for e in self.elements if e.branches)

    @property
    def state_elements(self) -> tuple[AbstractElement, ...]:
        return tuple(e for e in self.elements if e.states or _pole(e))

    @property
    def size(self) -> int:
        """Unknowns of the algebraic system: node voltages and branch currents."""
        return len(self.node_names) + len(self.branch_elements)

    def element(self, name: str) -> AbstractElement:
        for e in self.elements:
            if e.name == name:
                return e
        raise KeyError(f"no element {name!r}")

    def with_value(self, name: str, value) -> Circuit:
        """The circuit with element ``name``'s main value (resistance, capacitance, …,
        waveform, gain, op-amp) replaced; traced values make this vmappable."""
        return self.with_values({name: value})

    def with_values(self, values: dict[str, object]) -> Circuit:
        """:meth:`with_value` for many elements at once (one tree update)."""
        position = {e.name: i for i, e in enumerate(self.elements)}
        unknown = sorted(set(values) - set(position))
        if unknown:
            raise KeyError(f"no elements {unknown}")
        names = list(values)
        fields = [self.elements[position[n]].value_field for n in names]
        new = tuple(_as_waveform(values[n]) if f == "waveform" else values[n]
                    for n, f in zip(names, fields, strict=True))
        return eqx.tree_at(
            lambda c: tuple(getattr(c.elements[position[n]], f)
                            for n, f in zip(names, fields, strict=True)), self, new)

    # --- assembly ------------------------------------------------------------------------
    def _layout(self) -> dict:
        """Static index bookkeeping: node rows, branch rows, state positions, and the
        vectorised groups (resistors, capacitors) as index arrays."""
        node = {name: i for i, name in enumerate(self.node_names)}
        node.update({g: self.size for g in GROUND_NAMES})
        index = lambda name: node.get(name, node.get(name.lower()))  # noqa: E731
        branch = {e.name: len(self.node_names) + i for i, e in enumerate(self.branch_elements)}
        state = {e.name: i for i, e in enumerate(self.state_elements)}
        resistors = [e for e in self.elements if isinstance(e, Resistor)]
        capacitors = [e for e in self.elements if isinstance(e, Capacitor)]

        def ends(group):
            return (np.array([index(e.nodes[0]) for e in group], np.int64),
                    np.array([index(e.nodes[1]) for e in group], np.int64))

        return dict(index=index, branch=branch, state=state, resistors=resistors,
                    resistor_ends=ends(resistors), capacitors=capacitors,
                    capacitor_ends=ends(capacitors),
                    capacitor_branch=np.array([branch[e.name] for e in capacitors], np.int64),
                    capacitor_state=np.array([state[e.name] for e in capacitors], np.int64))

    def _system(self, t, states: Array, dc: bool, matrix: bool = True
                ) -> tuple[Array | None, Array]:
        """The algebraic system ``A u = b`` (``u``: node voltages then branch currents) at
        time ``t`` for dynamic ``states``; ``dc``: operating point (capacitors open,
        inductors shorted, op-amp poles settled). Resistors and capacitors are stamped as
        vectorised groups, the other elements one by one."""
        size, dtype = self.size, states.dtype
        layout = self._layout()
        index, branch, state = layout["index"], layout["branch"], layout["state"]
        rows, cols, vals = [], [], []  # lists of index arrays / value arrays
        rhs_rows, rhs_vals = [], []

        def stamp(r, c, v):
            rows.append(np.atleast_1d(np.asarray(r, np.int64)))
            cols.append(np.atleast_1d(np.asarray(c, np.int64)))
            vals.append(jnp.atleast_1d(jnp.asarray(v, dtype)))

        def source(k, value):
            rhs_rows.append(np.atleast_1d(np.asarray(k, np.int64)))
            rhs_vals.append(jnp.atleast_1d(jnp.asarray(value, dtype)))

        if layout["resistors"]:
            p, n = layout["resistor_ends"]
            g = 1 / jnp.stack([jnp.asarray(e.resistance, dtype) for e in layout["resistors"]])
            stamp(np.concatenate([p, n, p, n]), np.concatenate([p, n, n, p]),
                  jnp.concatenate([g, g, -g, -g]))
        if layout["capacitors"]:
            p, n = layout["capacitor_ends"]
            k = layout["capacitor_branch"]
            one = jnp.ones(k.shape, dtype)
            stamp(np.concatenate([p, n]), np.concatenate([k, k]), jnp.concatenate([one, -one]))
            if dc:  # open: no current
                stamp(k, k, one)
            else:  # a source of its voltage
                stamp(np.concatenate([k, k]), np.concatenate([p, n]),
                      jnp.concatenate([one, -one]))
                source(k, states[layout["capacitor_state"]])

        def conductance(p, n, g):
            stamp([p, n, p, n], [p, n, n, p], jnp.stack([g, g, -g, -g]))

        def branch_incidence(p, n, k):
            stamp([p, n], [k, k], [1.0, -1.0])

        for e in self.elements:
            if isinstance(e, Resistor | Capacitor):
                continue
            idx = [index(node) for node in e.nodes]
            if isinstance(e, MemristorElement):
                conductance(idx[0], idx[1], 1 / e.model.resistance(states[state[e.name]]))
            elif isinstance(e, CurrentSource):
                value = e.waveform(t)
                source([idx[0], idx[1]], jnp.stack([-value, value]))
            elif isinstance(e, VCCS):
                cp, cn = (index(node) for node in e.control)
                gm = jnp.asarray(e.transconductance, dtype)
                stamp([idx[0], idx[0], idx[1], idx[1]], [cp, cn, cp, cn],
                      jnp.stack([gm, -gm, -gm, gm]))
            elif isinstance(e, VoltageSource | VCVS):
                k = branch[e.name]
                branch_incidence(idx[0], idx[1], k)
                stamp([k, k], [idx[0], idx[1]], [1.0, -1.0])
                if isinstance(e, VCVS):
                    cp, cn = (index(node) for node in e.control)
                    gain = jnp.asarray(e.gain, dtype)
                    stamp([k, k], [cp, cn], jnp.stack([-gain, gain]))
                else:
                    source(k, e.waveform(t))
            elif isinstance(e, Inductor):
                k = branch[e.name]
                branch_incidence(idx[0], idx[1], k)
                if dc:  # shorted
                    stamp([k, k], [idx[0], idx[1]], [1.0, -1.0])
                else:  # a source of its current
                    stamp(k, k, 1.0)
                    source(k, states[state[e.name]])
            elif isinstance(e, ActivationElement):
                k = branch[e.name]
                out = idx[2]
                stamp([out, k], [k, out], [1.0, 1.0])  # output a source of the state
                source(k, states[state[e.name]])
            elif isinstance(e, OpAmpElement):
                k = branch[e.name]
                plus, minus, out = idx
                stamp(out, k, 1.0)  # the output drives whatever current the node needs
                if e.opamp.gain is None:  # ideal: v+ = v-
                    stamp([k, k], [plus, minus], [1.0, -1.0])
                elif e.has_pole and not dc:
                    stamp(k, out, 1.0)
                    source(k, e.opamp.clip(states[state[e.name]]))
                else:  # v_out = A (v+ - v-)
                    gain = jnp.asarray(e.opamp.gain, dtype)
                    stamp([k, k, k], [out, plus, minus], jnp.stack([jnp.ones((), dtype),
                                                                    -gain, gain]))
            else:
                raise TypeError(f"unsupported element {type(e).__name__}")
        a = None
        if matrix:
            a = jnp.zeros((size + 1, size + 1), dtype)
            a = a.at[np.concatenate(rows), np.concatenate(cols)].add(jnp.concatenate(vals))
            a = a[:size, :size]
        b = jnp.zeros((size + 1,), dtype)
        if rhs_rows:
            b = b.at[np.concatenate(rhs_rows)].add(jnp.concatenate(rhs_vals))
        return a, b[:size]

    @property
    def matrix_is_constant(self) -> bool:
        """True when the transient's algebraic matrix does not depend on the state (no
        memristors): it is factorised once per solve."""
        return not any(isinstance(e, MemristorElement) for e in self.elements)

    @property
    def is_linear(self) -> bool:
        """True when the transient is a linear ODE in its states (no memristors, no op-amp
        rails)."""
        return self.matrix_is_constant and not any(
            isinstance(e, ActivationElement)
            or (isinstance(e, OpAmpElement) and e.opamp.v_rail is not None)
            for e in self.elements)

    def _solve(self, t, states: Array, dc: bool, lu=None) -> Array:
        """The algebraic solution at ``t``; ``lu``: a factorisation of the (constant)
        matrix to reuse."""
        if lu is None:
            a, b = self._system(t, states, dc)
            u = jnp.linalg.solve(a, b)
        else:
            u = jax.scipy.linalg.lu_solve(lu, self._system(t, states, dc, matrix=False)[1])
        return eqx.error_if(u, ~jnp.all(jnp.isfinite(u)),
                            "singular circuit equations: a node without a DC path to ground, "
                            "a loop of voltage sources/capacitors, or a cut set of current "
                            "sources/inductors")

    def _rates(self, t, states: Array, lu=None) -> Array:
        """dx/dt of every dynamic state."""
        u = self._solve(t, states, dc=False, lu=lu)
        layout = self._layout()
        index = layout["index"]
        v = jnp.zeros((self.size + 1,), u.dtype).at[: len(self.node_names)].set(
            u[: len(self.node_names)])  # ground (row ``size``) reads 0 V
        rates = jnp.zeros_like(states)
        if layout["capacitors"]:
            c = jnp.stack([jnp.asarray(e.capacitance, u.dtype) for e in layout["capacitors"]])
            rates = rates.at[layout["capacitor_state"]].set(u[layout["capacitor_branch"]] / c)
        for i, e in enumerate(self.state_elements):
            if isinstance(e, Capacitor):
                continue
            across = v[index(e.nodes[0])] - v[index(e.nodes[1])]
            if isinstance(e, Inductor):
                rate = across / e.inductance
            elif isinstance(e, MemristorElement):
                rate = e.model.rate(states[i], across)
            elif isinstance(e, ActivationElement):
                rate = 2 * jnp.pi * e.bandwidth * (e.activation(across) - states[i])
            else:  # op-amp pole
                z = states[i]
                rate = _saturate(z, (e.opamp.gain * across - z) / e.opamp.pole_time_constant,
                                 e.opamp.v_rail)
            rates = rates.at[i].set(rate)
        return rates

    def _solution(self, ts, states, u) -> CircuitSolution:
        n = len(self.node_names)
        return CircuitSolution(ts, u[..., :n], u[..., n:], states, self.node_names,
                               tuple(e.name for e in self.branch_elements))

    def _states_from(self, u: Array, dtype) -> Array:
        """Dynamic states consistent with an algebraic solution ``u`` (an operating
        point)."""
        layout = self._layout()
        index, branch = layout["index"], layout["branch"]
        v = jnp.zeros((self.size + 1,), u.dtype).at[: len(self.node_names)].set(
            u[: len(self.node_names)])  # ground (row ``size``) reads 0 V
        out = []
        for e in self.state_elements:
            if isinstance(e, Inductor):
                out.append(u[branch[e.name]])
            elif isinstance(e, MemristorElement):
                out.append(e.initial_state)
            else:
                across = v[index(e.nodes[0])] - v[index(e.nodes[1])]
                out.append(across if isinstance(e, Capacitor) else e.opamp.gain * across)
        return (jnp.stack([jnp.asarray(x, dtype) for x in out]) if out
                else jnp.zeros((0,), dtype))

    def _initial_memristor_states(self, dtype) -> Array:
        return jnp.stack([jnp.asarray(e.initial_state if isinstance(e, MemristorElement)
                                      else 0.0, dtype) for e in self.state_elements]) \
            if self.state_elements else jnp.zeros((0,), dtype)

    def operating_point(self, t: float = 0.0) -> CircuitSolution:
        """The DC operating point (SPICE ``.op``) with the sources at time ``t``; memristors
        at their initial states."""
        return _operating_point(self, t)

    def _operating_point(self, t) -> CircuitSolution:
        stages = [e.name for e in self.elements if isinstance(e, ActivationElement)]
        if stages:
            raise ValueError(f"no linear operating point with activation stages ({stages}): "
                             "start the transient from initial conditions (uic=True)")
        dtype = jnp.result_type(float)
        states = self._initial_memristor_states(dtype)
        u = self._solve(jnp.asarray(t, dtype), states, dc=True)
        return self._solution(None, self._states_from(u, dtype), u)

    def initial_states(self, *, uic: bool) -> Array:
        """Dynamic states at the start of a transient: with ``uic`` (SPICE's ``UIC``) from
        the elements' ``IC=`` and the ``.ic`` node voltages (unlisted nodes at 0 V),
        otherwise from the operating point."""
        dtype = jnp.result_type(float)
        if not uic:
            return self._operating_point(0.0).states
        out = []
        for e in self.state_elements:
            if isinstance(e, Capacitor):
                if e.initial_voltage is not None:
                    out.append(e.initial_voltage)
                else:
                    out.append(self._ic(e.nodes[0]) - self._ic(e.nodes[1]))
            elif isinstance(e, Inductor):
                out.append(0.0 if e.initial_current is None else e.initial_current)
            elif isinstance(e, MemristorElement):
                out.append(e.initial_state)
            else:  # op-amp pole or activation stage: its output node's initial voltage
                out.append(self._ic(e.nodes[2]))
        return jnp.stack([jnp.asarray(x, dtype) for x in out]) if out else jnp.zeros((0,), dtype)

    def _ic(self, node: str):
        return 0.0 if node.lower() in GROUND_NAMES else self.initial_conditions.get(node, 0.0)

    def transient(
        self,
        ts: Float[ArrayLike, " T"] | None = None,
        *,
        uic: bool | None = None,
        solver: diffrax.AbstractSolver | None = None,
        stepsize_controller: diffrax.AbstractStepSizeController | None = None,
        max_steps: int = 100_000,
    ) -> CircuitSolution:
        """Transient analysis from ``ts[0]``, saved at ``ts`` (default: the netlist's
        ``.tran`` grid). ``uic`` (default: the ``.tran`` line's, else False) starts from the
        initial conditions instead of the operating point. ``solver`` defaults to
        ``diffrax.Kvaerno5()`` (stiff), ``stepsize_controller`` to
        :func:`analogjax.internal.default_controller` with steps stopping at every source
        breakpoint."""
        check_ode_options(solver, stepsize_controller, max_steps)
        if ts is None:
            if self.tran is None:
                raise ValueError("ts is required (the circuit has no .tran settings)")
            ts = self.tran.times()
        if uic is None:
            uic = False if self.tran is None else self.tran.uic
        ts = jnp.asarray(ts, jnp.result_type(float))
        if ts.ndim != 1 or ts.shape[0] < 2:
            raise ValueError(f"ts must be a 1-D array of >= 2 times; got shape {ts.shape}")
        if stepsize_controller is None:
            try:  # breakpoints need concrete source parameters (not traced ones)
                t_stop = float(ts[-1])
                jumps = sorted({b for e in self.elements if hasattr(e, "waveform")
                                for b in e.waveform.breakpoints(t_stop)})
            except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
                jumps = []
            stepsize_controller = (diffrax.ClipStepSizeController(default_controller(),
                                                                   jump_ts=jnp.asarray(jumps))
                                   if jumps else default_controller())
        return _transient(self, ts, uic, solver, stepsize_controller, max_steps)

    def _transient(self, ts, uic, solver, stepsize_controller, max_steps) -> CircuitSolution:
        y0 = self.initial_states(uic=uic)
        lu = None
        if self.matrix_is_constant:
            lu = jax.scipy.linalg.lu_factor(self._system(ts[0], y0, dc=False)[0])
        if y0.shape[0] == 0:  # purely resistive: no dynamics
            states = jnp.zeros((ts.shape[0], 0), ts.dtype)
        else:
            if self.is_linear:
                # dy/dt = M y + c(t) exactly: M once (one solve per state), then a matvec and
                # one solve for the sources per evaluation; the implicit solver's Jacobian is M
                m = jax.jacfwd(lambda y: self._rates(ts[0], y, lu))(jnp.zeros_like(y0))
                zero = jnp.zeros_like(y0)

                def rates(t, y, args):
                    return m @ y + self._rates(t, zero, lu)
            else:
                def rates(t, y, args):
                    return self._rates(t, y, lu)
            solution = diffrax.diffeqsolve(
                diffrax.ODETerm(rates),
                diffrax.Kvaerno5() if solver is None else solver, t0=ts[0], t1=ts[-1],
                dt0=None, y0=y0, saveat=diffrax.SaveAt(ts=ts),
                stepsize_controller=stepsize_controller, max_steps=max_steps)
            states = solution.ys
        u = jax.vmap(lambda t, y: self._solve(t, y, dc=False, lu=lu))(ts, states)
        return self._solution(ts, states, u)


@eqx.filter_jit
def _operating_point(circuit: Circuit, t) -> CircuitSolution:
    return circuit._operating_point(t)


@eqx.filter_jit
def _transient(circuit: Circuit, ts, uic, solver, stepsize_controller, max_steps
               ) -> CircuitSolution:
    return circuit._transient(ts, uic, solver, stepsize_controller, max_steps)


def _pole(e: AbstractElement) -> bool:
    return isinstance(e, OpAmpElement) and e.has_pole


# ----------------------------------------------------------------------------- SPICE reader

_SUFFIX = {"t": 1e12, "g": 1e9, "meg": 1e6, "k": 1e3, "m": 1e-3, "mil": 25.4e-6, "u": 1e-6,
           "n": 1e-9, "p": 1e-12, "f": 1e-15}
_NUMBER = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(meg|mil|[tgkmunpf])?[a-z]*$")


def _value(token: str, line_no: int, line: str) -> float:
    match = _NUMBER.match(token.lower())
    if not match:
        raise ValueError(f"line {line_no}: cannot read the number {token!r} in: {line}")
    number, suffix = match.groups()
    return float(number) * (_SUFFIX[suffix] if suffix else 1.0)


def _source(tokens: list[str], line_no: int, line: str) -> AbstractWaveform:
    """The waveform of a V/I source line's value tokens."""
    text = " ".join(tokens)
    match = re.match(r"^(pwl|pulse|sin)\s*\((.*)\)\s*$", text, re.IGNORECASE)
    if match:
        kind = match.group(1).lower()
        args = [_value(a, line_no, line) for a in re.split(r"[\s,]+", match.group(2).strip())
                if a]
        if kind == "pwl":
            if len(args) < 2 or len(args) % 2:
                raise ValueError(f"line {line_no}: PWL needs time-value pairs: {line}")
            return PWL(np.asarray(args[0::2]), np.asarray(args[1::2]))
        if kind == "pulse":
            if not 2 <= len(args) <= 7:
                raise ValueError(f"line {line_no}: PULSE takes 2 to 7 values: {line}")
            defaults = [0.0, 0.0, 0.0, 1e-9, 1e-9, math.inf, math.inf]
            return Pulse(*(args + defaults[len(args):]))
        if not 3 <= len(args) <= 5:
            raise ValueError(f"line {line_no}: SIN takes 3 to 5 values: {line}")
        return Sine(*args)
    if tokens and tokens[0].lower() == "dc":
        tokens = tokens[1:]
    if len(tokens) != 1:
        raise ValueError(f"line {line_no}: unsupported source specification {text!r} "
                         "(supported: a value, DC v, PWL(…), PULSE(…), SIN(…)): " + line)
    return DC(_value(tokens[0], line_no, line))


EXAMPLE_NETLISTS = ("oscillator",)


def example_netlist(name: str) -> Path:
    """Path of a SPICE netlist shipped with the package: ``"oscillator"``, the three-op-amp
    closed-loop oscillator dx/dt = A x, A = [[−500, −1000], [1000, 0]] s⁻¹ (the reference
    ``oscillator_ideal.cir`` checked against ngspice, without its control block). For
    ``read_spice(example_netlist(name).read_text())`` or ``analogjax circuit PATH``."""
    if name not in EXAMPLE_NETLISTS:
        raise ValueError(f"name must be one of {EXAMPLE_NETLISTS}; got {name!r}")
    return Path(__file__).parent / "data" / f"{name}.cir"


def read_spice(text: str) -> Circuit:
    """A :class:`Circuit` from a SPICE netlist of the supported subset: ``R``, ``C`` (with
    ``IC=``), ``L`` (with ``IC=``), ``V`` and ``I`` (a value, ``DC``, ``PWL``, ``PULSE``,
    ``SIN``), ``E`` (VCVS) and ``G`` (VCCS) elements, ``.ic v(node)=value``,
    ``.tran step stop [start [max]] [UIC]``, ``.end``; the first line is the title,
    ``*`` starts a comment, ``+`` continues a line, ``.control … .endc`` blocks are skipped.
    Anything else is an error naming its line."""
    raw = text.splitlines()
    lines: list[tuple[int, str]] = []
    for number, line in enumerate(raw[1:], start=2):  # line 1 is the title
        stripped = line.split(";")[0].strip()
        if not stripped or stripped.startswith("*"):
            continue
        if stripped.startswith("+") and lines:
            lines[-1] = (lines[-1][0], lines[-1][1] + " " + stripped[1:].strip())
        else:
            lines.append((number, stripped))
    elements, ic, tran = [], {}, None
    in_control = False
    for number, line in lines:
        low = line.lower()
        if in_control:
            in_control = not low.startswith(".endc")
            continue
        if low.startswith(".control"):
            in_control = True
            continue
        tokens = line.replace("(", " ( ").replace(")", " ) ").split()
        tokens = _rejoin(tokens)
        kind = tokens[0][0].lower()
        if kind == ".":
            directive = tokens[0].lower()
            if directive == ".end":
                break
            if directive == ".ic":
                for item in re.findall(r"v\(\s*([^)\s]+)\s*\)\s*=\s*(\S+)", line,
                                       re.IGNORECASE):
                    ic[item[0]] = _value(item[1], number, line)
                continue
            if directive == ".tran":
                args = [t for t in tokens[1:] if t.lower() != "uic"]
                if len(args) < 2:
                    raise ValueError(f"line {number}: .tran needs a step and a stop time: "
                                     f"{line}")
                values = [_value(a, number, line) for a in args]
                tran = TransientSettings(step=values[0], stop=values[1],
                                         start=values[2] if len(values) > 2 else 0.0,
                                         uic=any(t.lower() == "uic" for t in tokens))
                continue
            raise ValueError(f"line {number}: unsupported directive {tokens[0]} (supported: "
                             f".ic, .tran, .control/.endc, .end): {line}")
        name = tokens[0]
        params = {k.lower(): v for k, v in (t.split("=", 1) for t in tokens if "=" in t)}
        positional = [t for t in tokens[1:] if "=" not in t]
        try:
            if kind in "rcl":
                nodes, value = positional[:2], _value(positional[2], number, line)
                if kind == "r":
                    elements.append(Resistor(name, tuple(nodes), value))
                elif kind == "c":
                    ic_value = params.get("ic")
                    elements.append(Capacitor(name, tuple(nodes), value, None if ic_value is None
                                              else _value(ic_value, number, line)))
                else:
                    ic_value = params.get("ic")
                    elements.append(Inductor(name, tuple(nodes), value, None if ic_value is None
                                             else _value(ic_value, number, line)))
            elif kind in "vi":
                cls = VoltageSource if kind == "v" else CurrentSource
                elements.append(cls(name, tuple(positional[:2]),
                                    _source(positional[2:], number, line)))
            elif kind in "eg":
                nodes, control = tuple(positional[:2]), tuple(positional[2:4])
                value = _value(positional[4], number, line)
                elements.append(VCVS(name, nodes, control, value) if kind == "e"
                                else VCCS(name, nodes, control, value))
            else:
                raise ValueError(f"line {number}: unsupported element {name} (supported: R, C, "
                                 f"L, V, I, E, G): {line}")
        except IndexError:
            raise ValueError(f"line {number}: too few fields for {name}: {line}") from None
    if not elements:
        raise ValueError("the netlist has no elements")
    return Circuit(elements, ic, tran)


def _rejoin(tokens: list[str]) -> list[str]:
    """Undo the spacing around parentheses inside ``v( node )=value`` and source
    specifications: groups ``KIND ( … )`` into one token."""
    out: list[str] = []
    depth = 0
    for t in tokens:
        if depth:
            out[-1] += (" " if t not in (")",) and not out[-1].endswith("(") else "") + t
            depth += t.count("(") - t.count(")")
        elif t == "(" and out:
            out[-1] += "("
            depth = 1
        else:
            out.append(t)
    return out
