"""Devices and noise models against their specification. Tolerances are multiples of the
standard error of the estimate (z = 5: a false alarm about once in 3.5 million)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import analogjax as aj
from analogjax import _rng

from .helpers import uS

Z = 5.0
N = 200_000


def assert_mean_std(samples, mean, std):
    """Sample mean and std within Z standard errors of the specified ones."""
    samples = np.asarray(samples, np.float64).ravel()
    n = samples.size
    assert abs(samples.mean() - mean) <= Z * std / np.sqrt(n) + 1e-12 * abs(mean), (
        samples.mean(), mean)
    # SE of the sample std of a normal: std / sqrt(2 (n - 1))
    assert abs(samples.std(ddof=1) - std) <= Z * std / np.sqrt(2 * (n - 1)) + 1e-15, (
        samples.std(ddof=1), std)


@eqx.filter_jit
def program(device, g_target, key):
    return device.program(g_target, key=key)


NOISES = {
    "absolute": (aj.AbsoluteNoise(0.7 * uS), lambda g: 0.7 * uS * np.ones_like(g)),
    "relative": (aj.RelativeNoise(0.08), lambda g: 0.08 * g),
    "polynomial_pcm": (aj.PolynomialNoise((0.26348 * uS, 1.9650 * uS, -1.1731 * uS), 25 * uS),
                       lambda g: (0.26348 + 1.9650 * g / 25e-6 - 1.1731 * (g / 25e-6) ** 2) * uS),
}


@pytest.mark.parametrize("name", sorted(NOISES))
def test_programming_noise_moments(name):
    noise, std_of = NOISES[name]
    device = aj.ResistiveDevice(g_min=0.0, g_max=50 * uS, program_noise=noise)
    for g0 in (5 * uS, 20 * uS):
        cells = program(device, jnp.full((N,), g0), jax.random.key(1))
        assert_mean_std(cells.g, g0, std_of(np.array(g0)))


@pytest.mark.parametrize("name", sorted(NOISES))
def test_read_noise_moments_through_the_mvm(name):
    """Output variance of a read is Σ_i V_i² (σ²(G⁺_io) + σ²(G⁻_io)) (differential pair)."""
    noise, std_of = NOISES[name]
    device = aj.ResistiveDevice(g_min=1 * uS, g_max=25 * uS, read_noise=noise)
    xbar = aj.Crossbar(device, rows=8, cols=4, dac=aj.DAC(bits=None, input_range=1.0),
                       adc=aj.ADC(bits=None))
    w = jnp.array([[1.0, -0.5, 0.0, 0.25, 1.0, 0.0, -1.0, 0.5]])
    x = jnp.array([0.3, -1.0, 0.5, 0.8, -0.2, 0.9, 0.1, -0.6])
    chip = xbar.program(w, key=jax.random.key(0))
    reads = jax.jit(lambda k: chip(jnp.broadcast_to(x, (N, 8)), key=k))(jax.random.key(3))
    g_pos, g_neg = np.asarray(chip.cells.g[:, 0, :, 0, 0])
    v = np.asarray(x) * 0.2
    std_current = np.sqrt(np.sum(v**2 * (std_of(g_pos) ** 2 + std_of(g_neg) ** 2)))
    weight_per_siemens = float(chip.weight_per_siemens[0, 0, 0])
    y_ideal = float(x @ w[0])
    assert_mean_std(reads[:, 0], y_ideal, std_current * weight_per_siemens / 0.2)
    # the same numbers in weight units for continuous-time use (no converters)
    analog = chip.analog()
    np.testing.assert_allclose(analog.weights, chip.weights(), rtol=1e-6)
    np.testing.assert_allclose(analog.read_variance[0] @ np.asarray(x) ** 2,
                               (std_current * weight_per_siemens / 0.2) ** 2, rtol=1e-5)
    np.testing.assert_allclose(analog.total_conductance,
                               [np.sum(g_pos + g_neg) * weight_per_siemens], rtol=1e-6)


def test_reference_column_noise_is_shared_by_the_tile():
    """Offset mapping: outputs of one tile share the reference column's read noise."""
    sigma = 0.5 * uS
    device = aj.ResistiveDevice(g_min=1 * uS, g_max=25 * uS, read_noise=aj.AbsoluteNoise(sigma))
    xbar = aj.Crossbar(device, rows=4, cols=3, mapping=aj.OffsetMapping(),
                       dac=aj.DAC(bits=None, input_range=1.0), adc=aj.ADC(bits=None))
    w = jnp.array([[0.5, -1.0, 0.2, 0.0], [1.0, 0.3, -0.4, 0.9]])
    x = jnp.array([1.0, -0.5, 0.25, 0.75])
    chip = xbar.program(w, key=jax.random.key(0))
    reads = np.asarray(jax.jit(lambda k: chip(jnp.broadcast_to(x, (N, 4)), key=k))(
        jax.random.key(4)), np.float64)
    k = float(chip.weight_per_siemens[0, 0, 0]) / 0.2
    var_one = np.sum((np.asarray(x) * 0.2) ** 2) * sigma**2 * k**2
    cov = np.cov(reads.T)
    # each output: own column + reference column; covariance: the reference column alone
    se = var_one * np.sqrt(2 / N) * 2
    assert abs(cov[0, 0] - 2 * var_one) < Z * se
    assert abs(cov[0, 1] - var_one) < Z * se
    np.testing.assert_allclose(chip.analog().read_variance @ np.asarray(x) ** 2,
                               [2 * var_one] * 2, rtol=1e-5)


def test_levels_are_snapped_with_straight_through_gradient():
    device = aj.ResistiveDevice(g_min=1 * uS, g_max=16 * uS, levels=16)
    targets = jnp.linspace(0.0, 20 * uS, 101)
    g = program(device, targets, jax.random.key(0)).g
    levels = np.arange(1, 17) * uS
    assert np.allclose(np.min(np.abs(np.asarray(g)[:, None] - levels), axis=1), 0, atol=1e-12)
    inside = (targets > 1 * uS) & (targets < 16 * uS)
    np.testing.assert_allclose(g[inside], np.round(targets[inside] / uS) * uS, atol=1e-12)
    grad = jax.grad(lambda t: jnp.sum(device.program(t, key=jax.random.key(0)).g))(targets)
    np.testing.assert_array_equal(grad, np.where(inside, 1.0, 0.0))


def test_stuck_at_fault_rates():
    p_min, p_max = 0.03, 0.07
    device = aj.ResistiveDevice(g_min=1 * uS, g_max=25 * uS, stuck_at_min_rate=p_min,
                                stuck_at_max_rate=p_max)
    g = np.asarray(program(device, jnp.full((N,), 10 * uS), jax.random.key(5)).g)
    for rate, value in ((p_min, 1 * uS), (p_max, 25 * uS)):
        observed = np.mean(np.isclose(g, value, rtol=1e-6))
        assert abs(observed - rate) < Z * np.sqrt(rate * (1 - rate) / N)
    assert np.mean(np.isclose(g, 10 * uS)) == pytest.approx(1 - p_min - p_max, abs=0.01)


def test_window_variation():
    device = aj.ResistiveDevice(g_min=2 * uS, g_max=20 * uS, window_variation=0.1)
    g = program(device, jnp.full((N,), 100 * uS), jax.random.key(6)).g  # clipped at own g_max
    assert_mean_std(g, 20 * uS, 0.1 * 20 * uS)
    g = program(device, jnp.zeros((N,)), jax.random.key(7)).g  # clipped at own g_min
    assert_mean_std(g, 2 * uS, 0.1 * 2 * uS)


def test_zero_rates_skip_their_draws_with_the_same_result():
    """A concrete zero window variation or stuck rate skips its random draws; the cells are
    those of the same device with the zeros traced (drawn, with no effect), to rounding (the
    compiler may fuse the two programs differently: measured <= 1 ulp)."""
    device = aj.presets.pcm_like()
    assert device.window_variation == 0 and device.stuck_at_min_rate == 0
    traced = eqx.tree_at(lambda d: (d.window_variation, d.stuck_at_min_rate,
                                    d.stuck_at_max_rate), device, (jnp.zeros(()),) * 3)
    g_target = jnp.linspace(0.0, 25 * uS, 64)
    run = eqx.filter_jit(lambda d, key: d.program(g_target, key=key))
    skipped, drawn = run(device, jax.random.key(8)), run(traced, jax.random.key(8))
    np.testing.assert_allclose(skipped.g, drawn.g, rtol=1e-6)
    np.testing.assert_allclose(skipped.nu, drawn.nu, rtol=1e-6)


def test_drift_law_and_exponent_statistics():
    device = aj.ResistiveDevice(g_min=1 * uS, g_max=25 * uS,
                                drift=aj.PowerLawDrift(nu_mean=0.06, nu_std=0.01, t0=20.0))
    cells = program(device, jnp.full((N,), 10 * uS), jax.random.key(8))
    assert_mean_std(cells.nu, 0.06, 0.01)
    for t in (0.0, 20.0, 3600.0, 3.15e7):
        expected = 10 * uS * (max(t, 20.0) / 20.0) ** (-np.asarray(cells.nu, np.float64))
        np.testing.assert_allclose(device.conductance(cells, t), expected, rtol=1e-5)
    # the log-log slope of g(t) is -ν
    g1, g2 = device.conductance(cells, 100.0), device.conductance(cells, 1e4)
    np.testing.assert_allclose(np.log(g2 / g1) / np.log(100.0), -cells.nu, atol=1e-5)


def test_drift_compensation_restores_the_scale():
    device = aj.ResistiveDevice(g_min=0.0, g_max=25 * uS,
                                drift=aj.PowerLawDrift(nu_mean=0.1, t0=1.0))
    kwargs = dict(rows=8, cols=8, dac=aj.DAC(bits=None), adc=aj.ADC(bits=None))
    w = jax.random.normal(jax.random.key(0), (8, 8))
    x = jax.random.normal(jax.random.key(1), (4, 8))
    plain = aj.Crossbar(device, **kwargs).program(w, key=jax.random.key(2))
    compensated = aj.Crossbar(device, drift_compensation=True, **kwargs).program(
        w, key=jax.random.key(2))
    t = 1e6
    np.testing.assert_allclose(plain(x, t=t), (x @ w.T) * t**-0.1, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(compensated(x, t=t), x @ w.T, rtol=1e-4, atol=1e-5)


def test_formed_device():
    device = aj.presets.formed_rram_taox_40nm()
    g = np.asarray(device.form((N,), key=jax.random.key(9)))
    formed = g != device.g_pristine
    rate = device.unformed_rate
    assert abs(np.mean(~formed) - rate) < Z * np.sqrt(rate * (1 - rate) / N)
    # formed conductances: N(14.2473, 2.4624²) µS (truncation at 0 is ~6σ away)
    assert_mean_std(g[formed], device.g_formed_mean, device.g_formed_std)
    # programming SETs (keeps formed) above the mid-window target and RESETs below
    targets = jnp.where(jnp.arange(N) % 2 == 0, device.g_max, device.g_min)
    g = np.asarray(program(device, targets, jax.random.key(10)).g)
    set_, reset = g[0::2], g[1::2]
    set_, reset = set_[set_ != device.g_pristine], reset[reset != device.g_pristine]
    assert_mean_std(set_, device.g_formed_mean, device.g_formed_std)
    assert_mean_std(reset, device.g_reset_mean, device.g_reset_std)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fast_rng_extremes_are_finite(dtype):
    with jax.enable_x64(dtype == "float64"):
        bits = jnp.array([0, 1, 2**9, 2**31, 2**32 - 2**9 - 1, 2**32 - 1], jnp.uint32)
        u = _rng.uniform_from_bits(bits, jnp.dtype(dtype))
        assert np.all((np.asarray(u) > 0) & (np.asarray(u) < 1))
        z = np.sqrt(2) * jax.scipy.special.erfinv(2 * u - 1)
        assert np.all(np.isfinite(z)) and np.max(np.abs(z)) < 6


def test_fast_rng_quality():
    z = np.asarray(jax.jit(lambda k: _rng.normal(k, (1000, 1000)))(jax.random.key(0)),
                   np.float64).ravel()
    n = z.size
    assert abs(z.mean()) < Z / np.sqrt(n)
    assert abs(z.var() - 1) < Z * np.sqrt(2 / n)
    assert abs(np.mean(z**3)) < Z * np.sqrt(15 / n)  # skewness
    assert abs(np.mean(z**4) - 3) < Z * np.sqrt(96 / n)  # kurtosis
    assert abs(np.mean(z[1:] * z[:-1])) < Z / np.sqrt(n)  # lag-1 correlation
    # Kolmogorov–Smirnov distance against the normal CDF
    from math import erf, sqrt
    zs = np.sort(z[::10])
    cdf = 0.5 * (1 + np.vectorize(erf)(zs / sqrt(2)))
    ks = np.max(np.abs(cdf - np.arange(1, zs.size + 1) / zs.size))
    assert ks < 1.95 / np.sqrt(zs.size)  # 0.1 % critical value
    # different keys give independent streams
    z2 = np.asarray(_rng.normal(jax.random.key(1), (1000, 1000)), np.float64).ravel()
    assert abs(np.mean(z * z2)) < Z / np.sqrt(n)
