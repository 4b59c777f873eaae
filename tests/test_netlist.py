"""General circuits: the shared ngspice netlists read from their .cir files, closed forms
(RC, LC, single-pole op-amp), the 16×16 crossbar operating point, gradients, vmap, errors."""

from pathlib import Path

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import analogjax as aj
from analogjax import circuits

REF = Path(__file__).parent.parent.parent / "shared" / "ref"


@pytest.fixture(autouse=True)
def float64():
    with jax.enable_x64(True):
        yield


def _reference(name):
    """A shared ngspice reference file, or a skip where ../shared is not checked out."""
    path = REF / name
    if not path.exists():
        pytest.skip(f"reference data {path} not found")
    return path


@pytest.mark.parametrize("name, nodes", [("rc_integrator", {"out": "v_out"}),
                                         ("opamp_integrator", {"out": "v_out"}),
                                         ("oscillator_ideal", {"x1": "x1", "x2": "x2"})])
def test_shared_netlists_match_ngspice(name, nodes):
    circuit = circuits.read_spice(_reference(f"{name}.cir").read_text())
    ref = np.load(_reference(f"{name}_ngspice.npz"))
    assert circuit.tran.uic and circuit.tran.stop == pytest.approx(ref["t"][-1])
    solution = circuit.transient(ref["t"])  # .ic and UIC from the netlist
    for node, key in nodes.items():
        np.testing.assert_allclose(solution[node], ref[key], rtol=0, atol=1e-5)


def _rc(r=1e3, c=1e-6):
    return circuits.Circuit([circuits.VoltageSource("V1", ("in", "0"), 1.0),
                             circuits.Resistor("R1", ("in", "out"), r),
                             circuits.Capacitor("C1", ("out", "0"), c, initial_voltage=0.0)])


def test_closed_forms_rc_lc_and_single_pole_opamp():
    ts = jnp.linspace(0, 5e-3, 51)
    v = _rc().transient(ts, uic=True)["out"]
    np.testing.assert_allclose(v, 1 - jnp.exp(-ts / 1e-3), atol=1e-6)
    # without UIC the operating point starts the capacitor charged: nothing moves
    np.testing.assert_allclose(_rc().transient(ts)["out"], 1.0, atol=1e-9)
    # LC tank from 1 V: v = cos(t/√(LC)), i = −√(C/L) sin(t/√(LC))
    lc = circuits.Circuit([circuits.Inductor("L1", ("a", "0"), 1e-3),
                           circuits.Capacitor("C1", ("a", "0"), 1e-6)], {"a": 1.0})
    ts = jnp.linspace(0, 2e-4, 41)
    w = 1 / np.sqrt(1e-3 * 1e-6)
    solution = lc.transient(ts, uic=True)
    np.testing.assert_allclose(solution["a"], np.cos(w * ts), atol=1e-6)
    np.testing.assert_allclose(solution.current("L1"), np.sqrt(1e-6 / 1e-3) * np.sin(w * ts),
                               atol=1e-7)
    # a unity-gain buffer of a finite-gain single-pole op-amp (A = 1e4, 1 MHz): step response
    # A/(1+A) (1 − exp(−(1+A) t / τ)), τ = A / (2π gbw)
    amp = aj.circuits.OpAmp(gain=1e4, gbw=1e6)
    buffer = circuits.Circuit([circuits.VoltageSource("V1", ("in", "0"), 1.0),
                               circuits.OpAmpElement("U1", ("in", "out", "out"), amp),
                               circuits.Resistor("RL", ("out", "0"), 1e4)])
    ts = jnp.linspace(0, 1e-6, 51)
    tau = 1e4 / (2 * np.pi * 1e6)
    expected = 1e4 / (1 + 1e4) * (1 - np.exp(-(1 + 1e4) * ts / tau))
    np.testing.assert_allclose(buffer.transient(ts, uic=True)["out"], expected, atol=1e-6)


def test_crossbar_operating_point_matches_ngspice():
    ref = np.load(_reference("crossbar_16x16.npz"))
    m, n = ref["R"].shape
    elements = [circuits.VoltageSource(f"V{i}", (f"in{i}", "0"), float(ref["V"][i]))
                for i in range(m)]
    elements += [circuits.VoltageSource(f"S{j}", (f"out{j}", "0"), 0.0) for j in range(n)]
    elements += circuits.crossbar_elements("X", [f"in{i}" for i in range(m)],
                                           [f"out{j}" for j in range(n)], 1 / ref["R"],
                                           r_wire=float(ref["r_wire"]))
    op = circuits.Circuit(elements).operating_point()
    currents = np.array([op.current(f"S{j}") for j in range(n)])
    np.testing.assert_allclose(currents, ref["I_ngspice"], rtol=1e-9)
    np.testing.assert_allclose([[op[f"X.w{i}_{j}"] for j in range(n)] for i in range(m)],
                               ref["V_word_ngspice"], rtol=0, atol=1e-9)


def test_gradients_and_vmap_over_element_values():
    t = 1e-3

    ts = jnp.asarray([0.0, t])
    explicit = diffrax.Tsit5()  # the RC stage is not stiff; cheaper to differentiate

    @jax.jit
    def v_at(r):
        return _rc().with_value("R1", r).transient(ts, uic=True, solver=explicit)["out"][-1]

    r = 1e3
    grad = jax.grad(v_at)(r)
    analytic = -np.exp(-t / (r * 1e-6)) * t / (r**2 * 1e-6)
    np.testing.assert_allclose(grad, analytic, rtol=1e-5)
    fd = (v_at(r * (1 + 1e-5)) - v_at(r * (1 - 1e-5))) / (2e-5 * r)
    np.testing.assert_allclose(grad, fd, rtol=1e-4)
    # gradient with respect to every element value at once (eqx.filter_grad on the circuit)
    grads = eqx.filter_grad(lambda c: c.transient(ts, uic=True, solver=explicit)["out"][-1])(
        _rc(jnp.asarray(1e3), jnp.asarray(1e-6)))  # array values: differentiable leaves
    np.testing.assert_allclose(grads.element("R1").resistance, analytic, rtol=1e-5)
    assert float(grads.element("C1").capacitance) < 0
    # vmap over resistances: a Monte Carlo over circuits
    rs = jnp.asarray([500.0, 1e3, 2e3])
    np.testing.assert_allclose(jax.vmap(v_at)(rs), 1 - np.exp(-t / (rs * 1e-6)), atol=1e-7)


def test_memristor_element_follows_its_own_simulation():
    model = aj.memristor.HPMemristor()
    drive = circuits.Sine(0.0, 1.0, 1.0)
    circuit = circuits.Circuit([circuits.VoltageSource("V1", ("a", "0"), drive),
                                circuits.MemristorElement("M1", ("a", "0"), model,
                                                          initial_state=0.1)])
    ts = jnp.linspace(0, 1.0, 21)
    solution = circuit.transient(ts, uic=True, solver=diffrax.Tsit5())
    reference = aj.memristor.simulate_memristor(
        model, aj.memristor.SineVoltage(amplitude=1.0, frequency=1.0), 0.1, ts)
    np.testing.assert_allclose(solution.states[:, 0], reference.x, atol=1e-6)


def test_reader_errors_name_the_line():
    with pytest.raises(ValueError, match="line 2: unsupported element X1"):
        circuits.read_spice("title\nX1 a b sub\n")
    with pytest.raises(ValueError, match="line 3: unsupported directive .param"):
        circuits.read_spice("title\nR1 a 0 1k\n.param r=1k\n")
    with pytest.raises(ValueError, match="line 2: cannot read the number"):
        circuits.read_spice("title\nR1 a 0 abc\n")
    with pytest.raises(ValueError, match="unique"):
        circuits.Circuit([circuits.Resistor("R1", ("a", "0"), 1.0),
                          circuits.Resistor("R1", ("a", "0"), 2.0)])
    with pytest.raises(ValueError, match="R1.resistance"):
        circuits.Resistor("R1", ("a", "0"), -1.0)
    floating = circuits.Circuit([circuits.VoltageSource("V1", ("a", "0"), 1.0),
                                 circuits.Resistor("R1", ("b", "c"), 1.0)])
    with pytest.raises(Exception, match="singular"):
        floating.operating_point()


def test_activation_stage_is_a_pole_after_the_activation():
    """A rectifier stage with one pole at 1 MHz driven by ±1 V steps: 1 − exp(−2π·bw·t) for
    +1 V, 0 for −1 V; no linear operating point."""
    bw = 1e6
    for level, expected in [(1.0, lambda t: 1 - np.exp(-2 * np.pi * bw * t)),
                            (-1.0, lambda t: 0 * t)]:
        circuit = circuits.Circuit([
            circuits.VoltageSource("V1", ("in", "0"), level),
            circuits.ActivationElement("A1", ("in", "0", "out"), circuits.Rectifier(), bw),
            circuits.Resistor("RL", ("out", "0"), 1e3)])
        ts = jnp.linspace(0.0, 1e-6, 21)
        out = circuit.transient(ts, uic=True)["out"]
        np.testing.assert_allclose(out, expected(np.asarray(ts)), atol=1e-6)  # rtol 1e-8 steps
    with pytest.raises(ValueError, match="uic=True"):
        circuit.operating_point()
    with pytest.raises(ValueError, match="bandwidth"):
        circuits.ActivationElement("A2", ("in", "0", "out"), circuits.Rectifier(), 0.0)


def test_closed_loop_integrator_as_a_full_netlist():
    """solvers.ClosedLoopIntegrator.netlist: the full circuit (differential crossbars,
    inverters, transimpedance amplifiers, rectifier stages, integrators) reproduces the
    settled-stage model — with ideal op-amps, and with finite-gain op-amps against the model
    with the same gain (whose gain errors, inverters' included, it then checks); the op-amps
    are the ones ``opamp_count`` counts."""
    from analogjax import solvers

    from .helpers import loop_network

    k1, k2 = jax.random.split(jax.random.key(0))
    weights = [jax.random.normal(k1, (4, 2)) / np.sqrt(2), jax.random.normal(k2, (2, 4)) / 2]
    biases = [0.1 * jnp.ones(4), jnp.zeros(2)]
    xbar = aj.Crossbar(aj.IdealDevice(g_min=0.0, g_max=50e-6), rows=8, cols=8,
                       dac=aj.DAC(bits=None), adc=aj.ADC(bits=None))
    network = loop_network(xbar, weights, biases, key=jax.random.key(1))
    x0, s = jnp.array([0.5, -0.3]), jnp.linspace(0.0, 3.0, 7)
    controller = diffrax.PIDController(rtol=1e-10, atol=1e-12)
    for opamp in [circuits.OpAmp(gain=None), circuits.OpAmp(gain=1e3)]:
        loop = solvers.ClosedLoopIntegrator(network, solvers.LoopCircuit(opamp=opamp))
        model = loop.solve(x0, s, stepsize_controller=controller).xs
        circuit = loop.netlist(x0, activation_bandwidth=1e11)
        assert sum(isinstance(e, circuits.OpAmpElement) for e in circuit.elements) == \
            loop.opamp_count
        solution = circuit.transient(s * loop.tau, uic=True)
        xs = jnp.stack([solution["x0"], solution["x1"]], axis=-1) / loop.v_unit
        np.testing.assert_allclose(xs, model, atol=2e-6)
        assert float(jnp.max(jnp.abs(xs - x0))) > 0.1  # it moved
    ideal = solvers.ClosedLoopIntegrator(network).solve(x0, s, stepsize_controller=controller)
    assert float(jnp.max(jnp.abs(xs - ideal.xs))) > 1e-3  # the gain errors are resolved
    with pytest.raises(ValueError, match="drive"):
        solvers.ClosedLoopIntegrator(network, drive=lambda s: 0.0).netlist(x0)
