"""Hardware-aware training: noise injection, the equinox layer and the flax nnx adapter,
each trained with optax."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

import analogjax as aj
from analogjax.nnx import AnalogDotGeneral


def test_inject_weight_noise_distribution():
    tree = {"w": jnp.ones((400, 500)), "b": jnp.ones(7), "n": 3}
    noisy = inject_weight_noise_jit(tree, jax.random.key(0))
    assert noisy["n"] == 3
    n = np.asarray(noisy["w"], np.float64).ravel() - 1
    assert np.max(np.abs(n)) <= 0.2
    # N(0, 0.1²) inside ±0.2 (probability 0.9545) mixed with U(-0.2, 0.2) (probability 0.0455)
    p_out = 0.04550026
    var_inside = 0.01 * (1 - 2 * 2.0 * 0.05399097 / 0.95449974)  # truncated-normal variance
    var = (1 - p_out) * var_inside + p_out * 0.04 / 3
    assert abs(n.mean()) < 5 * np.sqrt(var / n.size)
    assert abs(n.var() - var) < 5 * var * np.sqrt(2 / n.size) * 1.5
    # gradients flow to the clean weights
    g = jax.grad(lambda t: jnp.sum(aj.inject_weight_noise(t, key=jax.random.key(1))["w"]))(
        {"w": jnp.ones(3)})
    assert np.all(np.abs(g["w"] - 1) <= 0.2)


@eqx.filter_jit
def inject_weight_noise_jit(tree, key):
    return aj.inject_weight_noise(tree, key=key)


def _blobs(key, n=256):
    """Two Gaussian blobs in 8-D: a linearly separable task."""
    k_label, k_x = jax.random.split(key)
    labels = jax.random.bernoulli(k_label, 0.5, (n,))
    centre = jnp.where(labels[:, None], 1.0, -1.0) * jnp.linspace(0.5, 1.0, 8)
    return centre + 0.5 * jax.random.normal(k_x, (n, 8)), labels.astype(jnp.int32)


def test_analog_linear_trains_with_optax_through_noisy_hardware():
    xbar = aj.Crossbar(aj.presets.rram_taox_40nm(), rows=4, cols=4)
    model = aj.AnalogLinear.init(8, 2, xbar, key=jax.random.key(0))
    x, y = _blobs(jax.random.key(1))
    optimiser = optax.adam(0.05)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    # only the weights and the bias train; the device's float parameters are not arrays
    assert {id(p) for p in jax.tree_util.tree_leaves(params)} == {id(model.weight),
                                                                  id(model.bias)}
    state = optimiser.init(params)

    def loss(params, key):
        m = eqx.combine(params, static)
        m = aj.inject_weight_noise(m, key=jax.random.fold_in(key, 1))
        k_program, k_read = jax.random.split(key)  # hardware in the loop: program and read
        logits = m.program(key=k_program)(x, key=k_read)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    @jax.jit
    def step(params, state, key):
        value, grads = jax.value_and_grad(loss)(params, key)
        updates, state = optimiser.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value

    losses = []
    for i in range(40):
        params, state, value = step(params, state, jax.random.key(100 + i))
        losses.append(float(value))
    assert losses[-1] < 0.5 * losses[0]
    trained = eqx.combine(params, static)
    chip = trained.program(key=jax.random.key(7))
    logits = jax.jit(lambda x: chip(x, key=jax.random.key(8)))(x)  # bias added digitally
    assert float(jnp.mean(jnp.argmax(logits, -1) == y)) > 0.9


def test_flax_nnx_linear_with_analog_dot_general_trains():
    xbar = aj.Crossbar(aj.presets.rram_180nm(), rows=4, cols=4)
    model = nnx.Linear(8, 2, dot_general=AnalogDotGeneral(xbar, rngs=nnx.Rngs(noise=1)),
                       rngs=nnx.Rngs(params=0))
    x, y = _blobs(jax.random.key(2))
    optimizer = nnx.Optimizer(model, optax.adam(0.05), wrt=nnx.Param)

    @nnx.jit
    def step(model, optimizer):
        def loss(model):
            return optax.softmax_cross_entropy_with_integer_labels(model(x), y).mean()

        value, grads = nnx.value_and_grad(loss)(model)
        optimizer.update(model, grads)
        return value

    losses = [float(step(model, optimizer)) for _ in range(40)]
    assert losses[-1] < 0.5 * losses[0]
    accuracy = float(jnp.mean(jnp.argmax(nnx.jit(lambda m: m(x))(model), -1) == y))
    assert accuracy > 0.9
    # noise is fresh at every call
    assert not np.array_equal(model(x[:4]), model(x[:4]))


def test_analog_dot_general_rejects_other_contractions():
    xbar = aj.Crossbar(aj.IdealDevice())
    dot = AnalogDotGeneral(xbar, rngs=nnx.Rngs(noise=0))
    import pytest

    with pytest.raises(ValueError, match="inputs @ kernel only"):
        dot(jnp.ones((2, 3)), jnp.ones((2, 4)), (((0,), (0,)), ((), ())))
