"""Score diffusion: the VP-SDE closed forms, the samplers against an exact score, the ideal
analogue loop against the digital sampler, guidance, training, save/load, metrics against
closed forms, gradients through the noisy analogue sampler, validation."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import analogjax as aj
from analogjax import models, solvers

uS = 1e-6
IDEAL_XBAR = aj.Crossbar(aj.IdealDevice(g_min=0.0, g_max=50 * uS), rows=32, cols=32,
                         dac=aj.DAC(bits=None), adc=aj.ADC(bits=None))


def test_vpsde_closed_forms():
    """m(t) = exp(−½∫β), std² = 1 − m² (the variance ODE dv/dt = β(1 − v), v(0) = 0)."""
    sde = solvers.VPSDE()
    t = jnp.linspace(0.0, 1.0, 2001)
    integral = jnp.concatenate([jnp.zeros(1), jnp.cumsum(
        0.5 * (sde.beta(t[1:]) + sde.beta(t[:-1])) * jnp.diff(t))])
    np.testing.assert_allclose(sde.mean(t), jnp.exp(-0.5 * integral), rtol=1e-6)
    v = sde.std(t) ** 2
    dv = jnp.gradient(v, t)
    np.testing.assert_allclose(dv[1:-1], (sde.beta(t) * (1 - v))[1:-1], rtol=1e-3, atol=1e-5)
    x = sde.perturb(jnp.ones((3, 2)), jnp.array([0.0, 0.5, 1.0]), jnp.zeros((3, 2)))
    np.testing.assert_allclose(x[:, 0], sde.mean(jnp.array([0.0, 0.5, 1.0])), rtol=1e-6)


@pytest.mark.parametrize("probability_flow", [False, True])
def test_digital_sampler_recovers_gaussian_data_from_the_exact_score(probability_flow):
    """Data N(μ, s²I): the exact score −(x − mμ)/(m²s² + std²) must give back μ and s
    (β1 = 20 so that the prior N(0, I) is the marginal at t = 1)."""
    mu, s = jnp.array([0.5, -0.3]), 0.3
    reverse = solvers.ReverseDiffusion(solvers.VPSDE(0.1, 20.0), t_end=1e-3,
                                       probability_flow=probability_flow, score_scale=1.0)
    sde = reverse.sde

    def exact(x, t):
        m = sde.mean(t)
        return -(x - m * mu) / (m**2 * s**2 + sde.std(t) ** 2)

    n = 4000
    x = jax.jit(lambda k: solvers.DigitalSampler(reverse, exact, 2).sample(
        n, key=k, steps=1000).final)(jr.key(0))
    std_t = jnp.sqrt(s**2 * sde.mean(reverse.t_end) ** 2 + sde.std(reverse.t_end) ** 2)
    np.testing.assert_allclose(x.mean(0), mu * sde.mean(reverse.t_end),
                               atol=5 * std_t / np.sqrt(n))
    # sample variance: standard error √(2/n)·σ²
    np.testing.assert_allclose(x.var(0), std_t**2, atol=5 * np.sqrt(2 / n) * std_t**2 + 2e-3)


@pytest.fixture(scope="module")
def conditional_net():
    return models.ScoreNet(n_classes=3, key=jr.key(3))


def test_guided_network_is_the_classifier_free_combination(conditional_net):
    net, w = conditional_net, 1.5
    network, drive = net.guided(label=2, guidance=w)
    x, t = jnp.array([0.3, -0.2]), 0.4
    combined = network(x, drive=drive(t))
    expected = (1 + w) * net(x, t, 2) - w * net(x, t, models.NULL_LABEL)
    np.testing.assert_allclose(combined, expected, rtol=1e-5, atol=1e-6)
    assert network.weights[1].shape == (2 * net.hidden, 2 * net.hidden)


def test_ideal_analog_sampler_is_the_digital_probability_flow(conditional_net):
    """Ideal devices and op-amps, no noise, probability-flow ODE, guidance on (two network
    copies on the crossbars): the loop's samples are the digital sampler's (Euler, fine
    steps)."""
    net = conditional_net
    reverse = net.reverse(probability_flow=True, t_end=1e-2)
    analog = net.analog_sampler(IDEAL_XBAR, key=jr.key(0), reverse=reverse, label=1,
                                guidance=1.0)
    digital = net.digital_sampler(reverse, label=1, guidance=1.0)
    key = jr.key(5)
    xa = eqx.filter_jit(lambda a: a.sample(16, key=key, steps=100, n_save=5))(analog)
    xd = jax.jit(lambda: digital.sample(16, key=key, steps=4000, n_save=5))()
    np.testing.assert_allclose(xa.ts, xd.ts, rtol=1e-6)
    np.testing.assert_allclose(xa.xs, xd.xs, atol=3e-3)
    energy = analog.energy(key=jr.key(6), steps=50)
    assert float(energy["time"]) == pytest.approx(reverse.duration * float(analog.tau))
    assert all(float(v) > 0 for v in energy.values())


def test_training_lowers_the_loss_and_keeps_the_frequencies_fixed(tmp_path):
    data = models.ring_samples(512, key=jr.key(0))
    net = models.ScoreNet(key=jr.key(1))
    trained, losses = models.train_score_net(net, data, key=jr.key(2), steps=400,
                                             batch_size=128,
                                             optimiser=models.score_optimiser(3e-3,
                                                                              clip_norm=1.0))
    assert float(losses[-50:].mean()) < 0.9 * float(losses[:50].mean())
    np.testing.assert_array_equal(trained.frequencies, net.frequencies)
    trained.save(tmp_path / "ring.eqx")
    loaded = models.ScoreNet.load(tmp_path / "ring.eqx")
    for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(trained), strict=True):
        np.testing.assert_array_equal(a, b)


def test_metrics_against_closed_forms():
    """Gaussian MMD: E k(x, y) = (ℓ²/(ℓ² + 2s²))^{d/2}·exp(−|δ|²/(2(ℓ² + 2s²))); sliced W2
    of a shift δ: |δ|/√d; histogram distances of a set to itself are 0."""
    n, s, shift = 2000, 0.3, jnp.array([0.2, 0.1])
    x = s * jr.normal(jr.key(0), (n, 2))
    y = s * jr.normal(jr.key(1), (n, 2)) + shift
    ell = 0.5
    base = ell**2 / (ell**2 + 2 * s**2)
    expected = 2 * base - 2 * base * jnp.exp(-jnp.sum(shift**2) / (2 * (ell**2 + 2 * s**2)))
    value = models.mmd(x, y, bandwidths=(ell,))
    # the unbiased estimate's standard error is O(1/n) here; 5e-3 is > 5 s.e.
    assert abs(float(value) - float(expected)) < 5e-3
    swd = models.sliced_wasserstein(x, x + shift, key=jr.key(2), n_projections=2048)
    assert float(swd) == pytest.approx(float(jnp.linalg.norm(shift)) / np.sqrt(2), rel=0.03)
    assert float(models.histogram_kl(x, x)) == pytest.approx(0.0, abs=1e-6)
    assert float(models.histogram_l2(x, x)) == pytest.approx(0.0, abs=1e-7)
    assert float(models.histogram_kl(x, y)) > 0.01


def test_gradient_through_the_noisy_analog_sampler_matches_finite_differences():
    """d/d(noise gain) of a sample statistic through programming, read/circuit noise and the
    Heun solve, with the Brownian path fixed by the key (co-design)."""
    with jax.enable_x64(True):
        net = models.ScoreNet(key=jr.key(4))
        xbar = aj.Crossbar(aj.presets.rram_180nm(), rows=32, cols=32)
        noise = solvers.LoopNoise()

        @jax.jit
        def statistic(gain):
            sampler = net.analog_sampler(xbar, key=jr.key(0), circuit=solvers.LoopCircuit(
                capacitance=100e-12, noise=noise), noise_gain=gain)
            return jnp.mean(sampler.sample(8, key=jr.key(1), steps=20).final ** 2)

        gain, eps = 0.8, 1e-4
        grad = jax.grad(statistic)(gain)
        fd = (statistic(gain + eps) - statistic(gain - eps)) / (2 * eps)
        np.testing.assert_allclose(grad, fd, rtol=1e-4)
        assert abs(float(grad)) > 1e-3


def test_one_cell_brownian_steps_match_the_general_path():
    key, tol = jr.key(7), 0.01
    one = solvers.GridBrownianPath(0.0, 1.0, tol, (3,), key, max_step=tol)
    general = solvers.GridBrownianPath(0.0, 1.0, tol, (3,), key, max_step=2 * tol)
    for k in (0, 5, 37):
        t0 = k * tol
        np.testing.assert_allclose(one.evaluate(t0, t0 + tol), general.evaluate(t0, t0 + tol),
                                   rtol=1e-5, atol=1e-7)


def test_vae_learns_and_uses_the_published_prior_means():
    x, y = models.load_digit_classes((0, 1, 4))
    assert set(np.unique(y)) == {0, 1, 2} and x.shape[1] == 64
    vae = models.DigitVAE(3, key=jr.key(0))
    np.testing.assert_allclose(vae.prior_means, [[2 * np.sqrt(3), 2], [-2 * np.sqrt(3), 2],
                                                 [0, -4]], atol=1e-5)
    trained, losses = models.train_vae(vae, x, y, key=jr.key(1), steps=300)
    assert float(losses[-30:].mean()) < 0.8 * float(losses[:30].mean())


@pytest.mark.parametrize("make, message", [
    (lambda: solvers.VPSDE(0.5, 0.1), "beta_max"),
    (lambda: solvers.ReverseDiffusion(t_end=1.0), "t_end"),
    (lambda: solvers.ReverseDiffusion(beta_scale=0.0), "beta_scale"),
    (lambda: models.ScoreNet(hidden=13, key=jr.key(0)), "hidden must be even"),
    (lambda: models.ScoreNet(key=jr.key(0)).guided(label=1), "unconditional"),
    (lambda: models.ScoreNet(n_classes=2, key=jr.key(0)).guided(0, guidance=-1.0),
     "guidance"),
    (lambda: models.ScoreNet(key=jr.key(0)).digital_sampler().sample(
        4, key=jr.key(0), steps=10, n_save=4), "multiple of n_save"),
    (lambda: models.ScoreNet(key=jr.key(0)).analog_sampler(
        IDEAL_XBAR, key=jr.key(0), noise_gain=-1.0), "noise_gain"),
    (lambda: models.train_score_net(models.ScoreNet(key=jr.key(0)), jnp.zeros((8, 2)),
                                    jnp.zeros(8, int), key=jr.key(0), steps=1, batch_size=4),
     "labels"),
    (lambda: models.load_digit_classes((1, 1, 2)), "distinct"),
    (lambda: models.mmd(jnp.zeros((4, 2)), jnp.zeros((4, 3))), "same d"),
])
def test_bad_input(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_schedule_dac_holds_and_quantises():
    net = models.ScoreNet(key=jr.key(0))
    sampler = net.analog_sampler(IDEAL_XBAR, key=jr.key(0), schedule_updates=4,
                                 schedule_dac=aj.DAC(bits=4, input_range=2.0))
    duration = sampler.reverse.duration
    held = jnp.stack([sampler._drive(s) for s in (0.0, 0.2 * duration, 0.24 * duration)])
    np.testing.assert_array_equal(held[0], held[1])
    np.testing.assert_array_equal(held[1], held[2])
    levels = held[0] / 2.0 * 7
    np.testing.assert_allclose(levels, jnp.round(levels), atol=1e-5)
    assert dataclasses.replace(sampler, schedule_updates=None)._drive(0.2).shape == (14,)
    assert isinstance(sampler.loop, solvers.ClosedLoopIntegrator)
