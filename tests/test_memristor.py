"""Memristor dynamics: the HP model against its closed form, window functions, pinched
hysteresis, vmap over devices, bad input."""

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analogjax import memristor as mem


@eqx.filter_jit
def _simulate(device, voltage, x0, ts):
    return mem.simulate_memristor(device, voltage, x0, ts)


def test_hp_without_window_matches_the_charge_flux_closed_form():
    with jax.enable_x64(True):
        device = mem.HPMemristor()
        voltage = mem.SineVoltage(amplitude=1.0, frequency=1.0)
        ts = jnp.linspace(0.0, 2.0, 201)
        trajectory = _simulate(device, voltage, 0.1, ts)
        expected = device.closed_form_state(voltage.flux(ts), 0.1)
        assert float(jnp.max(trajectory.x)) > 0.3  # the state really moves
        np.testing.assert_allclose(trajectory.x, expected, atol=1e-7)
        np.testing.assert_allclose(trajectory.i, voltage(ts) / device.resistance(expected),
                                   rtol=1e-6, atol=1e-12)


def test_pinched_hysteresis_shrinks_with_frequency():
    """I = 0 whenever V = 0 (the loop is pinched at the origin), and the loop closes up as
    the frequency grows (a memristor fingerprint, Chua 2014)."""
    with jax.enable_x64(True):
        device = mem.HPMemristor(window=mem.JoglekarWindow(p=2))
        areas = []
        for frequency in (1.0, 10.0):
            voltage = mem.SineVoltage(1.0, frequency)
            ts = jnp.linspace(0.0, 1.0 / frequency, 2001)
            tr = _simulate(device, voltage, 0.1, ts)
            zero = np.isclose(np.asarray(tr.v), 0.0, atol=1e-12)
            assert np.all(np.abs(np.asarray(tr.i)[zero]) < 1e-12)
            # enclosed area of the I–V loop (shoelace), in W
            v, i = np.asarray(tr.v), np.asarray(tr.i)
            areas.append(0.5 * abs(np.sum(v[:-1] * i[1:] - v[1:] * i[:-1])))
        assert areas[0] > 0 and areas[1] < 0.5 * areas[0]


def test_hp_current_driven_state_is_the_charge():
    """Current drive: x = x0 + k·q(t) exactly (no window), v = R(x)·i."""
    with jax.enable_x64(True):
        device = mem.HPMemristor()
        i0, omega = 5e-5, 2 * np.pi
        ts = jnp.linspace(0.0, 1.0, 101)
        tr = eqx.filter_jit(lambda d: mem.simulate_memristor(
            d, None, 0.2, ts, current=lambda t: i0 * jnp.sin(omega * t)))(device)
        charge = i0 / omega * (1 - np.cos(omega * np.asarray(ts)))
        np.testing.assert_allclose(tr.x, 0.2 + device.charge_rate * charge, atol=1e-8)
        np.testing.assert_allclose(tr.v, device.resistance(tr.x) * tr.i, rtol=1e-12)
        assert float(tr.x.max() - tr.x.min()) > 0.1


def test_vteam_and_yakopcic_thresholds_and_linear_regimes():
    """Below threshold the state holds; at a constant supra-threshold voltage (and, for
    Yakopcic, x < x_p) the state moves at the model's constant rate."""
    with jax.enable_x64(True):
        ts = jnp.linspace(0.0, 1e-7, 5)
        vteam = mem.VTEAM()
        run = eqx.filter_jit(lambda d, v, x0, ts: mem.simulate_memristor(
            d, lambda t: v + 0 * t, x0, ts).x)
        np.testing.assert_allclose(run(vteam, 0.01, 0.3, ts), 0.3)  # v_on < v < v_off
        rate = vteam.k_off / vteam.thickness * (0.1 / vteam.v_off - 1) ** vteam.alpha_off
        # above v_off the device moves towards OFF: x (1 = ON) falls at the constant rate
        np.testing.assert_allclose(run(vteam, 0.1, 0.7, ts), 0.7 - rate * ts, rtol=1e-9)
        np.testing.assert_allclose(vteam.resistance(jnp.array([0.0, 1.0])),
                                   [vteam.r_off, vteam.r_on])
        yak = mem.Yakopcic()
        ts = jnp.linspace(0.0, 2e-5, 5)
        np.testing.assert_allclose(run(yak, 0.1, 0.11, ts), 0.11)  # |v| below both thresholds
        rate = yak.a_p * (np.exp(0.5) - np.exp(yak.v_p))
        np.testing.assert_allclose(run(yak, 0.5, 0.11, ts), 0.11 + rate * ts, rtol=1e-9)
        assert 0.11 + rate * float(ts[-1]) < yak.x_p


@pytest.mark.parametrize("device", [mem.VTEAM(), mem.Yakopcic()], ids=["vteam", "yakopcic"])
def test_pinched_hysteresis_and_current_drive_round_trip(device):
    """A sine drive gives a pinched loop with a non-zero area; driving the device with the
    current it drew reproduces the state trajectory (voltage ↔ current drive agree)."""
    with jax.enable_x64(True):
        if isinstance(device, mem.VTEAM):
            voltage, x0 = mem.SineVoltage(1.0, 50e6), 0.5
        else:
            voltage, x0 = mem.SineVoltage(1.2, 10e3), 0.11  # x stays off 0 (open circuit)
        period = 1 / voltage.frequency
        ts = jnp.linspace(0.0, period, 2001)
        tr = eqx.filter_jit(lambda d: mem.simulate_memristor(d, voltage, x0, ts))(device)
        v, i = np.asarray(tr.v), np.asarray(tr.i)
        area = 0.5 * abs(np.sum(v[:-1] * i[1:] - v[1:] * i[:-1]))
        assert area > 1e-3 * np.max(np.abs(v)) * np.max(np.abs(i))
        assert float(tr.x.max() - tr.x.min()) > 0.05
        # the inverse I–V relation is exact
        np.testing.assert_allclose(device.current(tr.x, device.voltage(tr.x, tr.i)), tr.i,
                                   rtol=1e-9, atol=1e-15)
        # current drive with the drawn current (interpolated) follows the same states
        interpolation = diffrax.LinearInterpolation(ts, tr.i)
        back = eqx.filter_jit(lambda d: mem.simulate_memristor(
            d, None, x0, ts, current=interpolation.evaluate,
            stepsize_controller=diffrax.PIDController(rtol=1e-10, atol=1e-12)))(device)
        np.testing.assert_allclose(back.x, tr.x, atol=2e-3)


def test_windows():
    x = jnp.array([0.0, 0.25, 0.5, 1.0])
    positive, negative = jnp.ones(4), -jnp.ones(4)
    np.testing.assert_allclose(mem.JoglekarWindow(1)(x, positive), [0.0, 0.75, 1.0, 0.0])
    # Biolek: blocks only the edge the current pushes towards
    np.testing.assert_allclose(mem.BiolekWindow(1)(x, positive), [1.0, 0.9375, 0.75, 0.0])
    np.testing.assert_allclose(mem.BiolekWindow(1)(x, negative), [0.0, 0.4375, 0.75, 1.0])
    prod = mem.ProdromakisWindow(p=1.0, j=0.8)(x, positive)
    np.testing.assert_allclose(prod, 0.8 * (1 - ((x - 0.5) ** 2 + 0.75)))
    assert float(jnp.argmax(prod)) == 2.0
    np.testing.assert_array_equal(mem.NoWindow()(x, positive), jnp.ones(4))


def test_windows_keep_the_state_inside_and_vmap_over_devices():
    with jax.enable_x64(True):
        voltage = mem.SineVoltage(3.0, 0.5)  # strong drive: reaches the edges
        ts = jnp.linspace(0.0, 2.0, 101)
        r_off = jnp.array([8e3, 16e3, 32e3])
        devices = jax.vmap(lambda r: mem.HPMemristor(r_off=r, window=mem.BiolekWindow(2)))(r_off)
        x = jax.jit(jax.vmap(lambda d: mem.simulate_memristor(d, voltage, 0.5, ts).x))(devices)
        assert x.shape == (3, 101)
        assert float(x.min()) >= -1e-6 and float(x.max()) <= 1 + 1e-6  # to integration error
        assert not np.allclose(x[0], x[2])
        # without a window the hard edges hold the state too
        x = _simulate(mem.HPMemristor(), voltage, 0.5, ts).x
        assert float(x.min()) >= -1e-6 and float(x.max()) <= 1 + 1e-6


@pytest.mark.parametrize("make, message", [
    (lambda: mem.HPMemristor(r_on=20e3, r_off=16e3), "r_on must be smaller"),
    (lambda: mem.HPMemristor(thickness=0.0), "thickness"),
    (lambda: mem.JoglekarWindow(p=0), "JoglekarWindow.p"),
    (lambda: mem.ProdromakisWindow(j=1.5), "ProdromakisWindow.j"),
    (lambda: mem.SineVoltage(1.0, 0.0), "frequency"),
    (lambda: mem.simulate_memristor(mem.HPMemristor(), mem.SineVoltage(1.0, 1.0), 1.5,
                                    jnp.linspace(0, 1, 3)), "x0 must be in"),
    (lambda: mem.simulate_memristor(mem.HPMemristor(), None, 0.5, jnp.linspace(0, 1, 3)),
     "exactly one drive"),
    (lambda: mem.VTEAM(k_on=1.0), "VTEAM.k_on"),
    (lambda: mem.VTEAM(v_off=-0.1), "VTEAM.v_off"),
    (lambda: mem.Yakopcic(x_p=1.0), "Yakopcic.x_p"),
    (lambda: mem.Yakopcic(eta=0.5), "eta must be"),
])
def test_bad_input(make, message):
    with pytest.raises(ValueError, match=message):
        make()
