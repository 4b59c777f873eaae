"""The closed-loop feedback integrator: ideal mode ≡ digital neural ODE, noise statistics
against the Ornstein–Uhlenbeck closed form, step-size independence, gradients, failures."""

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import analogjax as aj
from analogjax import circuits, solvers

from .helpers import loop_network

uS = 1e-6
IDEAL_IO = dict(dac=aj.DAC(bits=None), adc=aj.ADC(bits=None))


def _mlp(key, sizes):
    keys = jax.random.split(key, len(sizes) - 1)
    weights = [jax.random.normal(k, (o, i)) / jnp.sqrt(i)
               for k, i, o in zip(keys, sizes[:-1], sizes[1:], strict=True)]
    biases = [0.1 * jnp.ones(o) for o in sizes[1:]]
    return weights, biases


def test_ideal_loop_is_the_digital_neural_ode():
    """Ideal devices and op-amps, no noise: the loop solves dx/ds = f(x, u(s)) exactly."""
    with jax.enable_x64(True):
        weights, biases = _mlp(jax.random.key(0), (4, 16, 16, 3))  # state 3 + input 1
        xbar = aj.Crossbar(aj.IdealDevice(g_min=0.0, g_max=50 * uS), rows=32, cols=32,
                           **IDEAL_IO)
        u = lambda s: jnp.sin(3.0 * s)[None]  # noqa: E731
        drive = lambda s: 0.2 * jnp.cos(s)  # noqa: E731
        loop = solvers.ClosedLoopIntegrator(loop_network(xbar, weights, biases),
                                            inputs=u, drive=drive)
        x0, ts = jnp.array([0.5, -0.2, 0.1]), jnp.linspace(0.0, 2.0, 9)

        @eqx.filter_jit
        def both(loop):
            analogue = loop.solve(x0, ts, stepsize_controller=diffrax.PIDController(
                rtol=1e-10, atol=1e-12)).xs
            digital_net = aj.Network(aj.MLPArchitecture((4, 16, 16, 3), bias=True),
                                     tuple(weights), tuple(biases))
            field = lambda s, x, _: digital_net(  # noqa: E731
                jnp.concatenate([x, u(s)]), drive=drive(s))
            digital = diffrax.diffeqsolve(
                diffrax.ODETerm(field), diffrax.Tsit5(), ts[0], ts[-1], None, x0,
                saveat=diffrax.SaveAt(ts=ts),
                stepsize_controller=diffrax.PIDController(rtol=1e-10, atol=1e-12)).ys
            return analogue, digital

        analogue, digital = both(loop)
        np.testing.assert_allclose(analogue, digital, atol=1e-7)
        assert float(jnp.max(jnp.abs(digital[-1] - x0))) > 0.1  # it moved


def _ou_loop(k=1.0, noise_density=400e-9, sigma_g=0.5 * uS, **kwargs):
    """One integrator with feedback −k and a zero bias: an Ornstein–Uhlenbeck process whose
    noise is the bias cells' read noise plus the op-amps' (x stays near 0)."""
    device = aj.ResistiveDevice(g_min=1 * uS, g_max=25 * uS, read_noise=aj.AbsoluteNoise(sigma_g))
    xbar = aj.Crossbar(device, rows=4, cols=4, **IDEAL_IO)
    network = loop_network(xbar, [jnp.array([[-k]])], [jnp.zeros(1)],
                                      key=jax.random.key(0))
    return solvers.ClosedLoopIntegrator(
        network, solvers.LoopCircuit(opamp=circuits.OpAmp(gain=None, noise_density=noise_density),
                                     noise=solvers.LoopNoise(temperature=0.0)), **kwargs)


def test_loop_noise_matches_the_ornstein_uhlenbeck_variance():
    with jax.enable_x64(True):
        loop = _ou_loop()
        n, s_end = 4000, 3.0
        ts = jnp.array([0.0, s_end])
        solve = jax.jit(jax.vmap(lambda key, dt: loop.solve(jnp.zeros(1), ts, key=key, dt=dt,
                                                            brownian=solvers.GridBrownian(
                                                                tol=0.0125)).xs[-1, 0],
                                 in_axes=(0, None)), static_argnums=1)
        keys = jax.random.split(jax.random.key(1), n)
        x = np.asarray(solve(keys, 0.05))
        # expected: σ² = [t_read·Var_bias + e_n²/2·(1 + Σ)² + e_n²/2] / (v_unit²·τ), k = 1
        m = loop.network.matrices()[0]
        read = float(m.read_variance[0, -1]) * loop.noise.read_time
        e2 = loop.opamp.noise_density**2 / 2
        circuit = e2 * (1 + float(m.total_conductance[0])) ** 2 + e2
        sigma2 = (read + circuit / loop.v_unit**2) / loop.tau
        expected = sigma2 / 2 * (1 - np.exp(-2 * s_end))
        assert abs(x.mean()) < 5 * np.sqrt(expected / n)
        assert abs(x.var() - expected) < 5 * expected * np.sqrt(2 / n)
        # both sources matter here, and the step size does not change the noise sample
        assert 0.2 < read / (read + circuit / loop.v_unit**2) < 0.8
        fine = np.asarray(solve(keys[:200], 0.0125))
        np.testing.assert_allclose(fine, x[:200], atol=0.05 * np.sqrt(expected))
        # diffrax's virtual Brownian tree gives the same statistics
        tree = jax.jit(jax.vmap(lambda key: loop.solve(
            jnp.zeros(1), ts, key=key, dt=0.05,
            brownian=solvers.VirtualTreeBrownian()).xs[-1, 0]))
        x_tree = np.asarray(tree(keys[:1000]))
        assert abs(x_tree.var() - expected) < 5 * expected * np.sqrt(2 / 1000)


def test_gradients_through_the_solve_match_finite_differences():
    """d(loss)/dC and d(loss)/dW through programming and a noisy solve (fixed key)."""
    with jax.enable_x64(True):
        weights, biases = _mlp(jax.random.key(2), (2, 8, 2))
        device = aj.ResistiveDevice(g_min=1 * uS, g_max=25 * uS,
                                    read_noise=aj.AbsoluteNoise(0.5 * uS))
        xbar = aj.Crossbar(device, rows=16, cols=16, **IDEAL_IO)
        ts = jnp.linspace(0.0, 1.0, 3)

        def loss(w0, capacitance):
            net = loop_network(xbar, [w0, weights[1]], biases, key=jax.random.key(3))
            loop = solvers.ClosedLoopIntegrator(net, solvers.LoopCircuit(
                capacitance=capacitance, noise=solvers.LoopNoise()))
            xs = loop.solve(jnp.array([0.3, -0.4]), ts, key=jax.random.key(4), dt=0.05).xs
            return jnp.sum(xs[-1] ** 2)

        c = 2e-12
        grad_w, grad_c = jax.jit(jax.grad(loss, argnums=(0, 1)))(weights[0], c)
        f = jax.jit(loss)
        eps_c = 1e-16
        fd_c = (f(weights[0], c + eps_c) - f(weights[0], c - eps_c)) / (2 * eps_c)
        np.testing.assert_allclose(grad_c, fd_c, rtol=1e-4)
        direction = jax.random.normal(jax.random.key(5), weights[0].shape)
        eps = 1e-6
        fd_w = (f(weights[0] + eps * direction, c) - f(weights[0] - eps * direction, c)) / (
            2 * eps)
        np.testing.assert_allclose(jnp.sum(grad_w * direction), fd_w, rtol=1e-4)
        assert float(jnp.abs(grad_c)) > 0


def test_rails_hold_and_divergence_raises():
    with jax.enable_x64(True):
        xbar = aj.Crossbar(aj.IdealDevice(g_min=0.0, g_max=25 * uS), rows=4, cols=4, **IDEAL_IO)
        network = loop_network(xbar, [jnp.array([[1.0]])], [jnp.array([0.1])])
        ts = jnp.linspace(0.0, 30.0, 4)
        railed = solvers.ClosedLoopIntegrator(network, solvers.LoopCircuit(
            opamp=circuits.OpAmp(gain=1e5, v_rail=1.0)))
        xs = jax.jit(lambda: railed.solve(jnp.zeros(1), ts).xs)()
        assert np.all(np.isfinite(xs))
        np.testing.assert_allclose(xs[-1], [1.0 / railed.v_unit], rtol=1e-4)  # held at +rail
        free = solvers.ClosedLoopIntegrator(network)
        with pytest.raises(Exception, match="(?i)max.*steps|non-finite"):
            jax.block_until_ready(jax.jit(lambda: free.solve(jnp.zeros(1), jnp.array(
                [0.0, 1e4]), max_steps=200).xs)())
        result = jax.jit(lambda: free.solve(jnp.zeros(1), jnp.array([0.0, 1e4]), max_steps=200,
                                            throw=False).result)()
        assert result != diffrax.RESULTS.successful


@pytest.mark.parametrize("make, message", [
    (lambda loop: eqx.tree_at(lambda m: m.circuit.resistance, loop,
                              -1.0).circuit.__check_init__(), "resistance"),
    (lambda loop: solvers.LoopCircuit(capacitance=0.0), "capacitance"),
    (lambda loop: solvers.LoopCircuit(v_unit=20.0), "v_unit"),
    (lambda loop: solvers.LoopCircuit(opamp=circuits.OpAmp(gbw=1e6)), "settled"),
    (lambda loop: solvers.ClosedLoopIntegrator(loop.network, input_dac=aj.DAC()),
     "input_range"),
    (lambda loop: solvers.LoopNoise(read_time=0.0), "read_time"),
    (lambda loop: loop.solve(jnp.zeros(1), jnp.array([0.0, 1.0]), key=jax.random.key(0)),
     "dt"),
    (lambda loop: loop.solve(jnp.zeros(2), jnp.array([0.0, 1.0]), key=jax.random.key(0),
                             dt=0.1), "x0 must have shape"),
])
def test_bad_input(make, message):
    with pytest.raises(ValueError, match=message):
        make(_ou_loop())


@pytest.mark.parametrize("make, message", [
    (lambda loop: loop.solve(jnp.zeros(1), jnp.array([0.0, 1.0]), dt=0.1), "key is required"),
    (lambda loop: loop.solve(jnp.zeros(1), jnp.array([0.0, 1.0]), key=0, dt=0.1),
     "key must be a JAX PRNG key"),
    (lambda loop: loop.solve(jnp.zeros(1), jnp.array([0.0, 1.0]), key=jax.random.key(0),
                             dt=0.1, brownian="grid"), "brownian must be"),
    (lambda loop: loop.solve(jnp.zeros(1), jnp.array([0.0, 1.0]), solver="tsit5"),
     "solver must be a diffrax solver"),
    (lambda loop: solvers.ClosedLoopIntegrator(loop.network, circuit=object()),
     "circuit must be a LoopCircuit"),
])
def test_bad_option_types(make, message):
    with pytest.raises(TypeError, match=message):
        make(_ou_loop())


def test_energy_of_a_constant_state_matches_hand_count():
    """A loop at a fixed point: crossbar power is constant, Σ V²G, times the duration."""
    with jax.enable_x64(True):
        xbar = aj.Crossbar(aj.IdealDevice(g_min=1 * uS, g_max=25 * uS), rows=4, cols=4,
                           **IDEAL_IO)
        network = loop_network(xbar, [jnp.array([[-1.0]])], [jnp.array([0.5])])
        loop = solvers.ClosedLoopIntegrator(network)
        x_star = jnp.array([0.5])  # −x + 0.5 = 0
        solution = loop.solve(x_star, jnp.linspace(0.0, 3.0, 7))
        np.testing.assert_allclose(solution.xs, 0.5, atol=1e-9)
        parts = solvers.loop_energy(loop, solution)
        g = np.asarray(network.chips[0].analog().cell_conductance)[0]  # (in,) both cells
        v = loop.v_unit * np.array([0.5, 1.0])
        duration = 3.0 * loop.tau
        np.testing.assert_allclose(parts["crossbar"], np.sum(v**2 * g) * duration, rtol=1e-9)
        model = aj.energy.EnergyModel()
        # a TIA and an integrator, and an inverter per word line (state, bias) for G⁻
        np.testing.assert_allclose(parts["opamps"], 4 * model.opamp_power * duration)
        np.testing.assert_allclose(parts["adc"], 3.1e-3 / 1.2e9)  # one read-out of the state
        np.testing.assert_allclose(parts["time"], duration)
        np.testing.assert_allclose(loop.digital_energy_per_evaluation(), 2 * (4.6e-12 + 5e-12))
        np.testing.assert_allclose(model.dac(8, 10), 10 * 1.2e-15 * 256)


def test_injected_noise_alone_and_noiseless_devices_keep_gradients_finite():
    """An injected source without device/circuit noise is a plain OU process; zero read
    variance (ideal devices, circuit noise off) leaves gradients finite."""
    with jax.enable_x64(True):
        xbar = aj.Crossbar(aj.IdealDevice(g_min=0.0, g_max=25 * uS), rows=4, cols=4, **IDEAL_IO)
        network = loop_network(xbar, [jnp.array([[-1.0]])], [jnp.zeros(1)])
        ts = jnp.array([0.0, 3.0])
        injected = solvers.ClosedLoopIntegrator(network, injected_noise=lambda s: 0.5)
        keys = jax.random.split(jax.random.key(0), 2000)
        x = np.asarray(jax.jit(jax.vmap(lambda k: injected.solve(
            jnp.zeros(1), ts, key=k, dt=0.05).xs[-1, 0]))(keys))
        expected = 0.25 / 2 * (1 - np.exp(-6.0))
        assert abs(x.var() - expected) < 5 * expected * np.sqrt(2 / 2000)

        def loss(c):
            loop = solvers.ClosedLoopIntegrator(network, solvers.LoopCircuit(
                capacitance=c, noise=solvers.LoopNoise(circuit=False)))
            return jnp.sum(loop.solve(jnp.array([0.3]), ts, key=jax.random.key(1),
                                      dt=0.1).xs ** 2)

        assert np.isfinite(float(jax.jit(jax.grad(loss))(1e-11)))
