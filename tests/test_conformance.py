"""Every device × crossbar configuration through the same contract: jit/vmap/grad invariance,
determinism per key, batch-size invariance, dtype kept, zero noise ⇒ ideal matmul."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import analogjax as aj

from .helpers import (
    CROSSBARS,
    DEVICES,
    IN,
    OUT,
    program_and_read,
    strip_noise,
    tree_allclose,
    weights_and_inputs,
)

T_READ = 100.0


def _xbar(device_name, crossbar_name):
    return aj.Crossbar(DEVICES[device_name](), **CROSSBARS[crossbar_name])


def _close(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return np.allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())


# Every device on one crossbar, and every crossbar with one fully non-ideal device.
COMBINATIONS = [(d, "diff_column_8bit") for d in sorted(DEVICES)] + [
    ("resistive_full", c) for c in sorted(CROSSBARS) if c != "diff_column_8bit"]


@pytest.mark.parametrize("device_name,crossbar_name", COMBINATIONS)
def test_contract(device_name, crossbar_name):
    xbar = _xbar(device_name, crossbar_name)
    w, x = weights_and_inputs(batch=5)
    key = jax.random.key(7)
    y = program_and_read(xbar, w, x, key, T_READ)
    assert y.shape == (x.shape[0], OUT) and y.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(y)))
    # determinism per key; fresh noise for another key when the device is noisy
    assert np.array_equal(y, program_and_read(xbar, w, x, key, T_READ))
    y_other = program_and_read(xbar, w, x, jax.random.key(8), T_READ)
    assert np.array_equal(y, y_other) == isinstance(xbar.device, aj.IdealDevice)
    # vmap over chips ≡ one chip at a time
    keys = jnp.stack([key, jax.random.key(8)])
    y_vmap = jax.vmap(lambda k: program_and_read(xbar, w, x, k, T_READ))(keys)
    assert _close(y_vmap[0], y) and _close(y_vmap[1], y_other)
    # gradients exist and are finite with respect to the weights and the inputs
    grads = jax.grad(lambda w, x: jnp.sum(program_and_read(xbar, w, x, key, T_READ) ** 2),
                     argnums=(0, 1))(w, x)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads)
    if not isinstance(xbar.device, aj.FormedDevice):
        assert float(jnp.abs(grads[0]).max()) > 0


@pytest.mark.parametrize("crossbar_name", ["bit_sliced", "offset_6bit", "unsigned_bit_serial"])
def test_jit_equals_eager_and_batch_size_invariance(crossbar_name):
    xbar = _xbar("resistive_full", crossbar_name)
    w, x = weights_and_inputs(batch=5)
    key = jax.random.key(7)
    y = program_and_read(xbar, w, x, key, T_READ)
    k_program, k_read = jax.random.split(key)
    assert _close(y, xbar.program(w, key=k_program)(x, key=k_read, t=T_READ))
    # the first rows of a smaller batch read exactly the same (noise keyed per row)
    assert _close(program_and_read(xbar, w, x[:2], key, T_READ), y[:2])


@pytest.mark.parametrize("mapping", [aj.DifferentialMapping(), aj.OffsetMapping(),
                                     aj.DifferentialMapping(per_column_scale=True)])
@pytest.mark.parametrize("device_name", ["ideal", "resistive_full", "rram_180nm", "pcm_like"])
def test_zero_noise_is_ideal_matmul(device_name, mapping):
    device = strip_noise(DEVICES[device_name]())
    xbar = aj.Crossbar(device, rows=4, cols=4, mapping=mapping, dac=aj.DAC(bits=None),
                       adc=aj.ADC(bits=None))
    w, x = weights_and_inputs()

    @eqx.filter_jit
    def check(xbar, w, x):
        chip = xbar.program(w, key=jax.random.key(0))
        grad = jax.grad(lambda w: jnp.sum(jnp.sin(xbar.program(w, key=jax.random.key(0))(x))))
        return chip(x), chip.weights(), grad(w)

    y, w_read, g = check(xbar, w, x)
    np.testing.assert_allclose(y, x @ w.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(w_read, w, rtol=1e-5, atol=1e-6)
    # gradients of the ideal chip are those of the matmul
    g_ref = jax.grad(lambda w: jnp.sum(jnp.sin(x @ w.T)))(w)
    np.testing.assert_allclose(g, g_ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("device_name", sorted(DEVICES))
def test_dtype_float64_kept(device_name):
    with jax.enable_x64(True):
        xbar = aj.Crossbar(DEVICES[device_name](), rows=4, cols=4)
        w, x = weights_and_inputs(jnp.float64)
        y = program_and_read(xbar, w, x, jax.random.key(0), 10.0)
        assert y.dtype == jnp.float64


def test_bit_slicing_equals_one_read_with_ideal_adc():
    w, x = weights_and_inputs(batch=5)
    whole = aj.Crossbar(aj.IdealDevice(), rows=4, cols=4, dac=aj.DAC(bits=8),
                        adc=aj.ADC(bits=None))

    @eqx.filter_jit
    def read_and_grad(xbar, x):
        f = lambda x: xbar.program(w)(x)  # noqa: E731
        return f(x), jax.grad(lambda x: jnp.sum(f(x) ** 2))(x)

    y_ref, g_ref = read_and_grad(whole, x)
    for k in (1, 3, 7):
        y, g = read_and_grad(dataclasses.replace(whole, input_slice_bits=k), x)
        np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
        # the straight-through gradient of slicing is that of the unsliced DAC
        np.testing.assert_allclose(g, g_ref, rtol=1e-4, atol=1e-5)


def test_leading_batch_dims_and_single_vector():
    xbar = aj.Crossbar(DEVICES["resistive_full"](), rows=4, cols=4)
    w, _ = weights_and_inputs()
    x = jax.random.normal(jax.random.key(3), (2, 3, IN))
    read = eqx.filter_jit(lambda x: xbar.program(w, key=jax.random.key(0))(
        x, key=jax.random.key(1)))
    y = read(x)
    assert y.shape == (2, 3, OUT)
    assert tree_allclose(y.reshape(6, OUT), read(x.reshape(6, IN)))
    assert read(x[0, 0]).shape == (OUT,)


def test_chip_is_a_pytree_that_vmaps_over_device_parameters():
    """A sweep over a device parameter is a vmap, not a Python loop."""
    w, x = weights_and_inputs()
    fractions = jnp.array([0.0, 0.05, 0.2])

    def error(fraction):
        device = aj.ResistiveDevice(g_min=1e-6, g_max=25e-6,
                                    program_noise=aj.RelativeNoise(fraction))
        chip = aj.Crossbar(device, rows=4, cols=4, dac=aj.DAC(bits=None),
                           adc=aj.ADC(bits=None)).program(w, key=jax.random.key(0))
        return jnp.linalg.norm(chip(x) - x @ w.T)

    errors = jax.jit(jax.vmap(error))(fractions)
    assert float(errors[0]) < 1e-4 and errors[1] < errors[2]
