"""Registries of components through the same contracts (as diffrax's tests and optax's common
tests do): every memristor × window, activation circuit, diffusion sampler, Brownian path and
programmed layer is checked for jit ≡ eager, vmap ≡ a loop, determinism per key, dtype kept
and finite gradients. A new component joins by a line in its registry."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import analogjax as aj
from analogjax import circuits, memristor as mem, models, solvers

from .helpers import uS


def _close(a, b, rtol=1e-5):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol,
                                   atol=rtol * (np.abs(np.asarray(y)).max() + 1e-30))


def _finite(tree):
    return all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree_util.tree_leaves(tree))


# --- memristors × windows ------------------------------------------------------------------

WINDOWS = {"none": mem.NoWindow(), "joglekar": mem.JoglekarWindow(p=2),
           "biolek": mem.BiolekWindow(p=2), "prodromakis": mem.ProdromakisWindow()}
MEMRISTORS = {
    **{f"hp_{name}": (lambda w=w: mem.HPMemristor(window=w), mem.SineVoltage(1.0, 1.0))
       for name, w in WINDOWS.items()},
    **{f"vteam_{name}": (lambda w=w: mem.VTEAM(window=w), mem.SineVoltage(1.0, 50e6))
       for name, w in WINDOWS.items()},
    "yakopcic": (mem.Yakopcic, mem.SineVoltage(1.2, 10e3)),
}


@pytest.mark.parametrize("name", sorted(MEMRISTORS))
def test_memristor_contract(name):
    make, drive = MEMRISTORS[name]
    device = make()
    ts = jnp.linspace(0.0, 0.25 / drive.frequency, 5)

    def final_state(device, x0, ts=ts):
        return mem.simulate_memristor(device, drive, x0, ts).x[-1]

    x0s = jnp.array([0.3, 0.6])
    jitted = eqx.filter_jit(final_state)
    eager = final_state(device, x0s[0])
    _close(jitted(device, x0s[0]), eager)
    batched = eqx.filter_vmap(jitted, in_axes=(None, 0))(device, x0s)
    _close(batched, jnp.stack([jitted(device, x) for x in x0s]))
    assert 0.0 <= float(eager) <= 1.0
    # the convention: x = 1 is ON (more current than x = 0 at the same voltage)
    assert float(device.current(1.0, 0.5)) > float(device.current(0.0, 0.5))
    with jax.enable_x64(True):
        ts64 = jnp.asarray(ts, jnp.float64)  # the time grid sets the dtype
        assert jitted(device, jnp.float64(0.3), ts64).dtype == jnp.float64
    grad = jax.grad(lambda x0: jitted(device, x0))(0.3)
    assert np.isfinite(float(grad))


# --- activation circuits -------------------------------------------------------------------

ACTIVATIONS = {
    "rectifier": circuits.Rectifier(),
    "rectifier_clamped": circuits.Rectifier(v_clamp=0.5),
    "tanh": circuits.TanhActivation(v_max=0.8, v_scale=0.3),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_contract(name):
    activation = ACTIVATIONS[name]
    v = jnp.linspace(-1.0, 1.0, 7)
    _close(jax.jit(activation)(v), activation(v))
    _close(jax.vmap(activation)(v), jnp.stack([activation(x) for x in v]))
    with jax.enable_x64(True):
        assert activation(jnp.asarray(v, jnp.float64)).dtype == jnp.float64
    assert _finite(jax.vmap(jax.grad(activation))(v))


# --- Brownian paths ------------------------------------------------------------------------

BROWNIANS = {"grid": solvers.GridBrownian(), "grid_fine": solvers.GridBrownian(tol=0.025),
             "virtual_tree": solvers.VirtualTreeBrownian()}


@pytest.mark.parametrize("name", sorted(BROWNIANS))
def test_brownian_contract(name):
    option = BROWNIANS[name]

    def increment(key, dtype=jnp.float32):
        path = option.path(0.0, 1.0, (3,), key, dt=0.05, dtype=dtype)
        return path.evaluate(0.1, 0.15)

    key = jr.key(0)
    _close(jax.jit(increment)(key), increment(key))
    assert np.array_equal(increment(key), increment(key))
    assert not np.array_equal(increment(key), increment(jr.key(1)))
    keys = jr.split(key, 3)
    _close(jax.vmap(increment)(keys), jnp.stack([increment(k) for k in keys]))
    with jax.enable_x64(True):
        assert increment(key, jnp.float64).dtype == jnp.float64
    assert increment(key).shape == (3,)


# --- diffusion samplers --------------------------------------------------------------------

_NET = models.ScoreNet(hidden=4, key=jr.key(0))
_XBAR = aj.Crossbar(aj.presets.rram_180nm(), rows=8, cols=8)
SAMPLERS = {
    "digital": lambda: _NET.digital_sampler(),
    "analog_ideal": lambda: _NET.analog_sampler(
        aj.Crossbar(aj.IdealDevice(), rows=8, cols=8), key=jr.key(1)),
    "analog_noisy": lambda: _NET.analog_sampler(
        _XBAR, key=jr.key(1), circuit=solvers.LoopCircuit(noise=solvers.LoopNoise())),
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_sampler_contract(name):
    sampler = SAMPLERS[name]()
    sample = eqx.filter_jit(lambda s, key: s.sample(3, key=key, steps=4).final)
    a = sample(sampler, jr.key(2))
    assert a.shape == (3, 2) and a.dtype == jnp.float32 and _finite(a)
    assert np.array_equal(a, sample(sampler, jr.key(2)))
    assert not np.array_equal(a, sample(sampler, jr.key(3)))
    keys = jr.split(jr.key(4), 2)
    _close(jax.vmap(lambda k: sample(sampler, k))(keys),
           jnp.stack([sample(sampler, k) for k in keys]), rtol=1e-4)
    grad = eqx.filter_grad(lambda s: jnp.sum(sample(s, jr.key(2)) ** 2))(sampler)
    assert _finite(grad)


# --- programmed layers ---------------------------------------------------------------------

_DEVICE = aj.ResistiveDevice(g_min=1 * uS, g_max=25 * uS, program_noise=aj.RelativeNoise(0.05),
                             read_noise=aj.AbsoluteNoise(0.2 * uS))
_LAYER_XBAR = aj.Crossbar(_DEVICE, rows=8, cols=8)


def _mlp():
    return aj.Network.init(aj.MLPArchitecture((6, 5, 3), bias=True), key=jr.key(5))


def _conv():
    return aj.Network.init(aj.ConvArchitecture((4, 4, 1), channels=(2, 2), classes=3),
                           key=jr.key(6))


def _formed(w, key):
    layer = aj.pruning.FormedLayer.form(
        aj.Crossbar(aj.presets.formed_rram_taox_40nm(), rows=8, cols=8), *w.shape, key=key)
    return lambda x, key, t=None: layer(x, key=key, scores=w)


# name → (parameters, build(parameters, program key) → read(x, key=…, t=…), inputs)
LAYERS = {
    "crossbar": (jr.normal(jr.key(7), (3, 6)),
                 lambda w, k: _LAYER_XBAR.program(w, key=k), (4, 6)),
    "network_mlp": (_mlp(), lambda n, k: n.program(_LAYER_XBAR, key=k), (4, 6)),
    "network_mlp_bias_on_chip": (
        _mlp(), lambda n, k: n.program(_LAYER_XBAR, key=k, bias_on_chip=True), (4, 6)),
    "network_conv": (_conv(), lambda n, k: n.program(_LAYER_XBAR, key=k), (4, 16)),
    "analog_linear": (aj.AnalogLinear.init(6, 3, _LAYER_XBAR, key=jr.key(8)),
                      lambda m, k: m.program(key=k), (4, 6)),
    "analog_conv": (aj.convert(eqx.nn.Conv1d(2, 3, 3, padding=1, key=jr.key(8)), _LAYER_XBAR),
                    lambda m, k: m.program(key=k), (4, 2, 3)),
    "formed_layer": (jr.normal(jr.key(9), (3, 6)), _formed, (4, 6)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_programmed_layer_contract(name):
    params, build, shape = LAYERS[name]
    x = jr.uniform(jr.key(10), shape)

    def read(params, x, key, t=100.0):
        k_program, k_read = jr.split(key)
        return build(params, k_program)(x, key=k_read, t=t)

    jitted = eqx.filter_jit(read)
    key = jr.key(11)
    y = jitted(params, x, key)
    assert y.shape[0] == shape[0] and y.dtype == jnp.float32 and _finite(y)
    _close(y, read(params, x, key), rtol=1e-4)
    assert np.array_equal(y, jitted(params, x, key))
    assert not np.array_equal(y, jitted(params, x, jr.key(12)))
    keys = jr.split(key, 2)
    _close(eqx.filter_vmap(jitted, in_axes=(None, None, 0))(params, x, keys),
           jnp.stack([jitted(params, x, k) for k in keys]), rtol=1e-4)
    grads = eqx.filter_grad(lambda p, x: jnp.sum(jitted(p, x, key) ** 2))(params, x)
    assert _finite(grads)
