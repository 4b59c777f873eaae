"""Convolutions on crossbars: ideal hardware reproduces ``jax.lax`` convolutions for every
geometry; noisy chips are pytrees with gradients."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import analogjax as aj

# Small arrays so that the unrolled kernels span several tiles.
IDEAL = aj.Crossbar(aj.IdealDevice(), rows=8, cols=4, dac=aj.DAC(bits=None),
                    adc=aj.ADC(bits=None))

CASES = {
    "1d stride same": (aj.Convolution((3,), stride=2, padding="SAME"), 4, 6, (11,)),
    "1d dilated valid": (aj.Convolution(3, dims=1, dilation=2), 3, 5, (12,)),
    "2d explicit padding, groups": (
        aj.Convolution((3, 2), stride=(2, 1), padding=((1, 0), (2, 1)), dilation=(1, 2),
                       groups=2), 4, 6, (7, 6)),
    "2d depthwise": (aj.Convolution((3, 3), padding="SAME", groups=4), 4, 8, (5, 5)),
}


@pytest.mark.parametrize("name", CASES)
def test_ideal_hardware_is_the_digital_convolution(name):
    conv, c_in, c_out, spatial = CASES[name]
    k_x, k_w = jax.random.split(jax.random.key(0))
    x = jax.random.normal(k_x, (2, c_in, *spatial))
    kernel = jax.random.normal(k_w, (c_out, c_in // conv.groups, *conv.kernel_size))
    chip = conv.program(IDEAL, kernel)
    y = jax.jit(lambda chip, x: chip(x))(chip, x)
    expected = conv.digital(x, kernel)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4 * float(jnp.abs(expected).max()))


def test_noisy_chip_is_a_pytree_with_gradients():
    conv, c_in, c_out, spatial = CASES["2d explicit padding, groups"]
    xbar = aj.Crossbar(aj.presets.rram_taox_40nm(), rows=16, cols=8)
    x = jax.random.normal(jax.random.key(1), (2, c_in, *spatial))
    kernel = jax.random.normal(jax.random.key(2), (c_out, c_in // 2, *conv.kernel_size))
    chips = eqx.filter_jit(jax.vmap(lambda k: conv.program(xbar, kernel, key=k)))(
        jax.random.split(jax.random.key(3), 3))  # three chips
    read = eqx.filter_jit(jax.vmap(lambda chip, k: chip(x, key=k, t=60.0)))
    keys = jax.random.split(jax.random.key(4), 3)
    y = read(chips, keys)
    np.testing.assert_array_equal(y, read(chips, keys))  # deterministic per key
    expected = conv.digital(x, kernel)
    error = jnp.linalg.norm(y - expected) / jnp.linalg.norm(expected) / np.sqrt(3)
    assert 0.01 < float(error) < 0.3  # noisy, but the convolution
    assert float(jnp.std(y[0] - y[1])) > 0  # chips differ
    with pytest.raises(ValueError, match="key is required"):
        conv.program(xbar, kernel)

    # hardware-aware training: gradients through programming and the read, close to the
    # digital ones
    def loss(kernel, hardware):
        if hardware:
            return jnp.sum(conv.program(xbar, kernel, key=jax.random.key(5))(
                x, key=jax.random.key(6)) ** 2)
        return jnp.sum(conv.digital(x, kernel) ** 2)

    gradient = jax.jit(jax.grad(loss), static_argnums=1)
    g_analogue, g_digital = gradient(kernel, True), gradient(kernel, False)
    assert bool(jnp.all(jnp.isfinite(g_analogue)))
    cosine = jnp.sum(g_analogue * g_digital) / (jnp.linalg.norm(g_analogue)
                                                * jnp.linalg.norm(g_digital))
    assert float(cosine) > 0.9


def test_bad_geometry():
    with pytest.raises(ValueError, match="padding"):
        aj.Convolution((3, 3), padding="FULL")
    with pytest.raises(ValueError, match="stride"):
        aj.Convolution((3, 3), stride=(1, 0))
    with pytest.raises(ValueError, match="dims"):
        aj.Convolution(3)
    conv = aj.Convolution((3,), groups=2)
    with pytest.raises(ValueError, match="divisible"):
        conv.program(IDEAL, jnp.ones((3, 1, 3)))
    with pytest.raises(ValueError, match="kernel must have shape"):
        conv.program(IDEAL, jnp.ones((4, 1, 2)))
    chip = conv.program(IDEAL, jnp.ones((4, 1, 3)))
    with pytest.raises(ValueError, match="x must have shape"):
        chip(jnp.ones((8,)))
    with pytest.raises(ValueError, match="x must have 2 channels"):
        chip(jnp.ones((3, 8)))
