"""Bad input raises a clear error naming the argument and its allowed range."""

import equinox as eqx
import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings

import analogjax as aj

uS = 1e-6


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: aj.ResistiveDevice(g_min=30 * uS, g_max=20 * uS), "g_min must be smaller"),
        (lambda: aj.ResistiveDevice(g_min=-1.0, g_max=20 * uS), "g_min must be in"),
        (lambda: aj.ResistiveDevice(g_min=0.0, g_max=float("nan")), "g_max must be finite"),
        (lambda: aj.ResistiveDevice(g_min=0.0, g_max=1e-5, levels=1), "levels must be"),
        (lambda: aj.ResistiveDevice(g_min=0.0, g_max=1e-5, levels=2.5), "levels must be"),
        (lambda: aj.ResistiveDevice(g_min=0.0, g_max=1e-5, stuck_at_min_rate=1.5),
         r"stuck_at_min_rate must be in \[0, 1\]"),
        (lambda: aj.ResistiveDevice(g_min=0.0, g_max=1e-5, stuck_at_min_rate=0.6,
                                    stuck_at_max_rate=0.6), "stuck_at_max_rate"),
        (lambda: aj.PowerLawDrift(t0=0.0), "PowerLawDrift.t0"),
        (lambda: aj.ResistiveDevice(g_min=0.0, g_max=1e-5, window_variation=-0.1),
         "window_variation"),
        (lambda: aj.IdealDevice(g_min=1e-5, g_max=1e-5), "g_min must be smaller"),
        (lambda: aj.RelativeNoise(-0.1), "fraction must be in"),
        (lambda: aj.AbsoluteNoise(-1e-6), "sigma must be in"),
        (lambda: aj.PolynomialNoise((1e-6,), g_ref=0.0), "g_ref"),
        (lambda: aj.FormedDevice(g_formed_mean=1e-6, g_formed_std=0.0, g_reset_mean=2e-6),
         "g_reset_mean must be smaller"),
        (lambda: aj.DAC(bits=0), r"DAC.bits must be an integer in \[1, 24\]"),
        (lambda: aj.ADC(bits=-3), "ADC.bits"),
        (lambda: aj.DAC(v_read=-0.2), "v_read"),
        (lambda: aj.FixedRange(0.0), "FixedRange.current"),
        (lambda: aj.DifferentialMapping(per_column_scale="row"), "per_column_scale must be"),
        (lambda: aj.Crossbar(aj.IdealDevice(), rows=0), "rows"),
        (lambda: aj.Crossbar(aj.IdealDevice(), cols=1, mapping=aj.OffsetMapping()), "cols"),
        (lambda: aj.Crossbar(aj.IdealDevice(), dac=aj.DAC(bits=4), input_slice_bits=4),
         "input_slice_bits"),
        (lambda: aj.Crossbar(aj.IdealDevice(), dac=aj.DAC(bits=None), input_slice_bits=1),
         "input_slice_bits needs a DAC"),
    ],
)
def test_invalid_parameters(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


def test_invalid_weights_inputs_keys_and_times():
    xbar = aj.Crossbar(aj.presets.rram_taox_40nm(), rows=4, cols=4)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="weights must be a non-empty 2-D"):
        xbar.program(jnp.ones(3), key=key)
    with pytest.raises(ValueError, match="weights contains NaN"):
        xbar.program(jnp.array([[1.0, jnp.nan]]), key=key)
    with pytest.raises(ValueError, match="key is required"):
        xbar.program(jnp.ones((2, 3)))
    chip = xbar.program(jnp.ones((2, 3)), key=key)
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., 3\)"):
        chip(jnp.ones((5, 4)), key=key)
    with pytest.raises(ValueError, match="key is required: the device has read noise"):
        chip(jnp.ones((5, 3)))
    with pytest.raises(ValueError, match="x contains NaN"):
        chip(jnp.array([1.0, jnp.inf, 0.0]), key=key)
    with pytest.raises(ValueError, match=r"t must be in \[0, inf\]"):
        chip(jnp.ones(3), key=key, t=-1.0)


def test_value_errors_under_jit():
    xbar = aj.Crossbar(aj.presets.rram_taox_40nm(), rows=4, cols=4)

    @eqx.filter_jit
    def run(w, x, t):
        return xbar.program(w, key=jax.random.key(0))(x, key=jax.random.key(1), t=t)

    w, x = jnp.ones((2, 3)), jnp.ones((1, 3))
    assert np.all(np.isfinite(run(w, x, 5.0)))
    with pytest.raises(Exception, match="weights contains NaN"):
        run(w.at[0, 0].set(jnp.nan), x, 5.0)
    with pytest.raises(Exception, match="x contains NaN"):
        run(w, x.at[0, 0].set(jnp.nan), 5.0)
    with pytest.raises(Exception, match=r"t \(time since programming, s\) must be in"):
        run(w, x, jnp.asarray(-5.0))  # traced: eqx.error_if
    with pytest.raises(ValueError, match=r"t must be in \[0, inf\] s; got -5"):
        run(w, x, -5.0)  # a Python float is static under filter_jit: checked as it is traced


@settings(max_examples=15, deadline=None)
@given(out=st.integers(1, 9), inp=st.integers(1, 9), rows=st.integers(1, 5),
       cols=st.integers(2, 5), offset=st.booleans())
def test_any_shape_and_tiling_is_the_ideal_matmul(out, inp, rows, cols, offset):
    mapping = aj.OffsetMapping() if offset else aj.DifferentialMapping()
    xbar = aj.Crossbar(aj.IdealDevice(), rows=rows, cols=cols, mapping=mapping,
                       dac=aj.DAC(bits=None), adc=aj.ADC(bits=None))
    w = jax.random.normal(jax.random.key(out * 10 + inp), (out, inp))
    x = jax.random.normal(jax.random.key(rows), (2, inp))
    chip = xbar.program(w)
    n_row, n_col = xbar.tiles(out, inp)
    assert chip.cells.g.shape == (mapping.arrays, n_row, rows, n_col, cols)
    np.testing.assert_allclose(chip(x), x @ w.T, rtol=1e-5, atol=1e-5)
