"""Analogue circuits against the ngspice transients (../shared/ref) and closed forms."""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analogjax import circuits

REF = Path(__file__).parent.parent.parent / "shared" / "ref"


def _reference(name):
    path = REF / f"{name}_ngspice.npz"
    if not path.exists():
        pytest.skip(f"reference data {path} not found")
    data = dict(np.load(path))
    return data, jnp.concatenate([jnp.zeros(1), jnp.asarray(data["t"])])


def test_rc_integrator_against_ngspice():
    with jax.enable_x64(True):
        ref, ts = _reference("rc_integrator")
        v = circuits.RCLowPass(1e3, 1e-6).solve(0.0, ts, inputs=circuits.ramp_step(1.0))[1:]
        np.testing.assert_allclose(v, ref["v_out"], atol=1e-6)
        np.testing.assert_allclose(v[-1], 1 - np.exp(-5.0), atol=1e-6)  # analytic at 5 τ


def test_opamp_integrator_against_ngspice():
    with jax.enable_x64(True):
        ref, ts = _reference("opamp_integrator")
        network = circuits.IntegratorNetwork(g_feedback=jnp.zeros((1, 1)),
                                             capacitance=jnp.array([100e-9]),
                                             g_input=jnp.array([[1 / 10e3]]))
        u = circuits.ramp_step(0.5)
        v = network.solve(jnp.zeros(1), ts, inputs=lambda t: jnp.atleast_1d(u(t)))[1:, 0]
        np.testing.assert_allclose(v, ref["v_out"], atol=1e-6)
        # an ideal op-amp gives the textbook ramp −0.5 t / RC; finite gain slightly less
        ideal = network.__class__(g_feedback=jnp.zeros((1, 1)), capacitance=jnp.array([100e-9]),
                                  g_input=jnp.array([[1 / 10e3]]),
                                  opamp=circuits.OpAmp(gain=None))
        v_ideal = ideal.solve(jnp.zeros(1), ts, inputs=lambda t: jnp.atleast_1d(u(t)))[-1, 0]
        assert abs(float(v_ideal) + 1.0) < 1e-6 and float(v[-1]) > float(v_ideal)


def test_closed_loop_oscillator_against_ngspice_and_expm():
    """Two integrators and an inverter realising dx/dt = A x, A = [[−500, −1000], [1000, 0]]."""
    with jax.enable_x64(True):
        ref, ts = _reference("oscillator_ideal")
        c = 100e-9
        network = circuits.IntegratorNetwork(
            g_feedback=jnp.array([[1 / 20e3, 1 / 10e3], [-1 / 10e3, 0.0]]),
            capacitance=jnp.array([c, c]))
        x = network.solve(jnp.array([0.5, 0.0]), ts)[1:]
        np.testing.assert_allclose(x[:, 0], ref["x1"], atol=1e-4)
        np.testing.assert_allclose(x[:, 1], ref["x2"], atol=1e-4)
        a = jnp.array([[-500.0, -1000.0], [1000.0, 0.0]])
        expected = jax.vmap(lambda t: jax.scipy.linalg.expm(a * t) @ jnp.array([0.5, 0.0]))(
            ts[1:])
        np.testing.assert_allclose(x, expected, atol=1e-5)


def test_linear_networks_solve_dx_dt_equals_ax_with_ideal_opamps():
    with jax.enable_x64(True):
        a = jax.random.normal(jax.random.key(0), (4, 4)) * 300.0 - 400.0 * jnp.eye(4)
        c = jnp.full(4, 10e-9)
        network = circuits.IntegratorNetwork(g_feedback=-a * c[:, None], capacitance=c,
                                             opamp=circuits.OpAmp(gain=None))
        x0 = jnp.array([0.3, -0.2, 0.1, 0.05])
        ts = jnp.linspace(0.0, 5e-3, 11)
        x = network.solve(x0, ts)
        expected = jax.vmap(lambda t: jax.scipy.linalg.expm(a * t) @ x0)(ts)
        np.testing.assert_allclose(x, expected, atol=1e-7)


def test_leakage_and_rails():
    with jax.enable_x64(True):
        # leaky integrator of a step: V(t) = −(g_in/g_leak) u (1 − exp(−t g_leak / C))
        g_in, g_leak, c = 1e-4, 1e-5, 1e-9
        network = circuits.IntegratorNetwork(g_feedback=jnp.zeros((1, 1)),
                                             capacitance=jnp.array([c]),
                                             g_input=jnp.array([[g_in]]), g_leak=g_leak,
                                             opamp=circuits.OpAmp(gain=None))
        ts = jnp.linspace(0.0, 5e-4, 6)
        v = network.solve(jnp.zeros(1), ts, inputs=lambda t: jnp.array([0.1]))[:, 0]
        np.testing.assert_allclose(v, -(g_in / g_leak) * 0.1 * (1 - jnp.exp(-ts * g_leak / c)),
                                   atol=1e-9)
        # rails: the output saturates instead of ramping on (no NaN, no overflow)
        railed = circuits.IntegratorNetwork(g_feedback=jnp.zeros((1, 1)),
                                            capacitance=jnp.array([c]),
                                            g_input=jnp.array([[g_in]]),
                                            opamp=circuits.OpAmp(v_rail=1.5))
        v = railed.solve(jnp.zeros(1), jnp.linspace(0.0, 1e-3, 11),
                         inputs=lambda t: jnp.array([0.1]))[:, 0]
        assert np.all(np.isfinite(v)) and float(v.min()) >= -1.5 - 1e-6  # step overshoot
        np.testing.assert_allclose(v[-1], -1.5, atol=1e-6)


def test_single_pole_opamp_integrator_matches_its_transfer_function():
    """Step into an integrator whose op-amp has A(s) = A0 / (1 + s τ_p): Laplace analysis of
    the SPICE macro gives V/U = −G A0 / (τ_p C s² + (C A0 + C + G τ_p) s + G)."""
    with jax.enable_x64(True):
        g, c, a0, gbw, u = 1e-4, 1e-9, 1e3, 1e6, 0.1
        opamp = circuits.OpAmp(gain=a0, gbw=gbw)
        network = circuits.IntegratorNetwork(g_feedback=jnp.zeros((1, 1)),
                                             capacitance=jnp.array([c]),
                                             g_input=jnp.array([[g]]), opamp=opamp)
        ts = jnp.linspace(0.0, 4e-6, 41)
        v = jax.jit(lambda: network.solve(jnp.zeros(1), ts,
                                          inputs=lambda t: jnp.array([u])))()[:, 0]
        tau_p = a0 / (2 * np.pi * gbw)
        p1, p2 = np.roots([tau_p * c, c * a0 + c + g * tau_p, g])
        dc = -a0 * u
        expected = dc * (1 + (p2 * np.exp(p1 * ts) - p1 * np.exp(p2 * ts)) / (p1 - p2))
        np.testing.assert_allclose(v, expected, atol=1e-7)
        # a fast pole converges to the settled finite-gain model
        fast = network.__class__(network.g_feedback, network.capacitance, network.g_input,
                                 opamp=circuits.OpAmp(gain=a0, gbw=1e10))
        settled = network.__class__(network.g_feedback, network.capacitance, network.g_input,
                                    opamp=circuits.OpAmp(gain=a0))
        v_fast, v_settled = jax.jit(lambda: [n.solve(jnp.zeros(1), ts, inputs=lambda t: jnp.array(
            [u]))[:, 0] for n in (fast, settled)])()
        np.testing.assert_allclose(v_fast, v_settled, atol=1e-6)
        assert float(jnp.max(jnp.abs(v - v_settled))) > 1e-3  # the 1 MHz pole is visible


def test_static_stages_and_activations():
    with jax.enable_x64(True):
        amp = circuits.SummingAmplifier(jnp.array([[1e-4, -2e-4]]), jnp.array([1e-4]),
                                        circuits.OpAmp(gain=None))
        np.testing.assert_allclose(amp(jnp.array([0.3, 0.1])), [-(0.3 - 0.2)])
        finite = circuits.SummingAmplifier(amp.g_input, amp.g_feedback, circuits.OpAmp(1e3))
        # finite gain: V = −ΣGv / (G_f + (G_f + Σ|G|)/A)
        np.testing.assert_allclose(finite(jnp.array([0.3, 0.1])), [-1e-5 / (1e-4 + 4e-4 / 1e3)])
        np.testing.assert_allclose(circuits.unity_inverter(circuits.OpAmp(1e4))(
            jnp.array([0.5])), [-0.5 / (1 + 2e-4)])
        tia = circuits.TransimpedanceAmplifier(1e4, circuits.OpAmp(gain=None, v_rail=1.0))
        np.testing.assert_allclose(tia(jnp.array([-2e-5, 5e-5, -5e-4])), [0.2, -0.5, 1.0])
        v = jnp.linspace(-2.0, 2.0, 9)
        np.testing.assert_allclose(circuits.Rectifier(v_clamp=1.5)(v),
                                   np.clip(np.asarray(v), 0.0, 1.5))
        np.testing.assert_allclose(circuits.TanhActivation(1.2, 0.5)(v), 1.2 * np.tanh(v / 0.5))


@pytest.mark.parametrize("make, message", [
    (lambda: circuits.OpAmp(gbw=1e6, gain=None), "gbw needs a finite"),
    (lambda: circuits.OpAmp(gbw=-1.0), "OpAmp.gbw"),
    (lambda: circuits.OpAmp(noise_density=-1e-9), "noise_density"),
    (lambda: circuits.TransimpedanceAmplifier(0.0), "r_feedback"),
    (lambda: circuits.SummingAmplifier(jnp.ones((2, 2)), jnp.zeros(2)), "g_feedback"),
    (lambda: circuits.Rectifier(v_clamp=0.0), "v_clamp"),
    (lambda: circuits.OpAmp(gain=0.5), "OpAmp.gain"),
    (lambda: circuits.OpAmp(v_rail=-1.0), "v_rail"),
    (lambda: circuits.RCLowPass(0.0, 1e-6), "resistance"),
    (lambda: circuits.IntegratorNetwork(g_feedback=jnp.zeros((2, 3)),
                                        capacitance=jnp.ones(2)), "square"),
    (lambda: circuits.IntegratorNetwork(g_feedback=jnp.zeros((2, 2)),
                                        capacitance=jnp.array([1e-9, 0.0])), "capacitance"),
    (lambda: circuits.IntegratorNetwork(g_feedback=jnp.zeros((2, 2)),
                                        capacitance=jnp.ones(3)), "capacitance must have"),
])
def test_bad_input(make, message):
    with pytest.raises(ValueError, match=message):
        make()
