"""Property tests (hypothesis): the public API fed bad inputs — wrong shapes and dtypes,
non-finite values, empty batches, wrong key types, out-of-range options — raises a
ValueError or TypeError that names the argument; never a crash deep inside, never NaN."""

import math

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import analogjax as aj
from analogjax import models, solvers

from .helpers import loop_network

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

OUT, IN = 3, 4
XBAR = aj.Crossbar(aj.presets.rram_180nm(), rows=8, cols=8)
CHIP = XBAR.program(jnp.ones((OUT, IN)), key=jax.random.key(0))
KEY = jax.random.key(1)


def _raises_naming(name, call, value):
    with pytest.raises((ValueError, TypeError)) as info:
        out = call(value)
        jax.block_until_ready(out)
    message = str(info.value)
    assert name in message, f"{name!r} not named in: {message}"
    assert "Traceback" not in message


# --- strategies of bad values --------------------------------------------------------------

def bad_shapes(good: tuple[int, ...]):
    """Shapes that are not ``(..., *good)`` with non-empty leading batch axes: another
    trailing shape, too few axes, or an empty axis."""
    shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)
    k = len(good)
    return shapes.filter(lambda s: len(s) < k or s[len(s) - k:] != good or 0 in s)


def arrays_with_non_finite(shape):
    """Float arrays of ``shape`` with at least one NaN or ±inf."""
    size = math.prod(shape)

    def build(values, index, bad):
        a = np.asarray(values, np.float32).reshape(shape)
        a.reshape(-1)[index % size] = bad
        return a

    return st.builds(build, st.lists(st.floats(-2, 2, width=32), min_size=size, max_size=size),
                     st.integers(0, size - 1), st.sampled_from([np.nan, np.inf, -np.inf]))


bad_keys = st.one_of(st.integers(-5, 5), st.floats(allow_nan=True), st.text(max_size=3),
                     st.just(np.ones(2, np.float32)), st.just(np.zeros(3, np.int32)))
non_positive = st.one_of(st.floats(max_value=0.0), st.just(float("nan")))
bad_ints = st.one_of(st.integers(max_value=0), st.floats(0.5, 3.5).filter(lambda f: f % 1),
                     st.text(max_size=2))


# --- arrays --------------------------------------------------------------------------------

@SETTINGS
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5).filter(
    lambda s: len(s) != 2 or 0 in s))
def test_weights_of_bad_shape(shape):
    _raises_naming("weights", lambda w: XBAR.program(w, key=KEY), np.ones(shape, np.float32))


@SETTINGS
@given(w=arrays_with_non_finite((OUT, IN)))
def test_weights_non_finite(w):
    _raises_naming("weights", lambda w: XBAR.program(w, key=KEY), w)


@SETTINGS
@given(shape=bad_shapes((IN,)))
def test_inputs_of_bad_shape_or_empty(shape):
    _raises_naming("x", lambda x: CHIP(x, key=KEY), np.ones(shape, np.float32))


@SETTINGS
@given(x=arrays_with_non_finite((2, IN)))
def test_inputs_non_finite(x):
    _raises_naming("x", lambda x: CHIP(x, key=KEY), x)


@SETTINGS
@given(key=bad_keys)
def test_wrong_key_types(key):
    _raises_naming("key", lambda k: CHIP(np.ones((2, IN), np.float32), key=k), key)
    _raises_naming("key", lambda k: XBAR.program(np.ones((OUT, IN), np.float32), key=k), key)
    _raises_naming("key", lambda k: aj.variation.monte_carlo(lambda c: 1.0, key=k, n_chips=2),
                   key)
    _raises_naming("key", lambda k: models.ring_samples(4, key=k), key)


@SETTINGS
@given(t=st.one_of(st.floats(max_value=-1e-9), st.just(float("nan")), st.just(-np.inf)))
def test_read_times_out_of_range(t):
    _raises_naming("t", lambda t: CHIP(np.ones((2, IN), np.float32), key=KEY, t=t), t)


@SETTINGS
@given(g_shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5).filter(
    lambda s: len(s) != 2 or 0 in s),
       v=arrays_with_non_finite((2, 3)))
def test_ir_drop_arrays(g_shape, v):
    _raises_naming("g", lambda g: aj.ir_drop.solve(g, np.ones(3), r_word=1.0, r_bit=1.0),
                   np.ones(g_shape))
    _raises_naming("v_word", lambda v: aj.ir_drop.solve(np.ones((3, 3)) * 1e-5, v, r_word=1.0,
                                                        r_bit=1.0), v)
    _raises_naming("v_word", lambda v: aj.ir_drop.solve(np.ones((3, 3)) * 1e-5, v, r_word=1.0,
                                                        r_bit=1.0), np.ones((0, 3)))


@SETTINGS
@given(r=non_positive)
def test_ir_drop_wire_resistance(r):
    _raises_naming("r_word", lambda r: aj.ir_drop.solve(np.ones((2, 2)), np.ones(2), r_word=r,
                                                        r_bit=1.0), r)


# --- options -------------------------------------------------------------------------------

OPTIONS = {
    "DAC.bits": lambda v: aj.DAC(bits=v),
    "ADC.bits": lambda v: aj.ADC(bits=v),
    "Crossbar.rows": lambda v: aj.Crossbar(aj.IdealDevice(), rows=v),
    "PreconditionedCG.max_steps": lambda v: aj.ir_drop.PreconditionedCG(max_steps=v),
    "n_chips": lambda v: aj.variation.monte_carlo(lambda c: 1.0, key=KEY, n_chips=v),
    "chunk_size": lambda v: aj.variation.monte_carlo(lambda c: 1.0, key=KEY, n_chips=2,
                                                     chunk_size=v),
    "steps": lambda v: models.train_classifier(
        aj.Network.init(aj.MLPArchitecture((IN, OUT), bias=True), key=KEY),
        np.ones((8, IN), np.float32), np.zeros(8, np.int32), key=KEY, steps=v),
    "n": lambda v: models.ring_samples(v, key=KEY),
}
POSITIVE_OPTIONS = {
    "LoopCircuit.capacitance": lambda v: solvers.LoopCircuit(capacitance=v),
    "LoopCircuit.resistance": lambda v: solvers.LoopCircuit(resistance=v),
    "GridBrownian.tol": lambda v: solvers.GridBrownian(tol=v),
    "WeightNoise.clip": lambda v: aj.WeightNoise(clip=v),
    "RelativeNoise.fraction": lambda v: aj.RelativeNoise(-abs(v) - 1e-3 if v == v else v),
    "OpAmp.gain": lambda v: aj.circuits.OpAmp(gain=v),
}


@SETTINGS
@given(name=st.sampled_from(sorted(OPTIONS)), value=bad_ints)
def test_integer_options_out_of_range(name, value):
    _raises_naming(name, OPTIONS[name], value)


@SETTINGS
@given(name=st.sampled_from(sorted(POSITIVE_OPTIONS)), value=non_positive)
def test_positive_options_out_of_range(name, value):
    _raises_naming(name, POSITIVE_OPTIONS[name], value)


def test_option_types():
    """Options are module instances: a string or another object names the option."""
    loop = solvers.ClosedLoopIntegrator(
        loop_network(aj.Crossbar(aj.IdealDevice(), rows=4, cols=4), [jnp.ones((1, 1))],
                     [jnp.zeros(1)]))
    ts = jnp.array([0.0, 1.0])
    for name, call in [
        ("solver", lambda: aj.ir_drop.solve(np.ones((2, 2)), np.ones(2), r_word=1.0, r_bit=1.0,
                                            solver="cg")),
        ("solver", lambda: loop.solve(jnp.zeros(1), ts, solver="tsit5")),
        ("stepsize_controller", lambda: loop.solve(jnp.zeros(1), ts,
                                                   stepsize_controller=1e-6)),
        ("progress_meter", lambda: aj.variation.monte_carlo(lambda c: 1.0, key=KEY, n_chips=2,
                                                            progress_meter=False)),
        ("fn", lambda: aj.variation.monte_carlo(lambda c: "a", key=KEY, n_chips=2,
                                                progress_meter=aj.variation.NoProgressMeter())),
        ("fn", lambda: aj.variation.monte_carlo(lambda c: None, key=KEY, n_chips=2,
                                                progress_meter=aj.variation.NoProgressMeter())),
    ]:
        _raises_naming(name, lambda _, call=call: call(), None)


# --- closed loop and recipes ---------------------------------------------------------------

@SETTINGS
@given(x0_shape=hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4).filter(
    lambda s: s != (1,)),
       ts_shape=hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=4).filter(
    lambda s: len(s) != 1 or s[0] < 2))
def test_closed_loop_state_and_times(x0_shape, ts_shape):
    loop = solvers.ClosedLoopIntegrator(
        loop_network(aj.Crossbar(aj.IdealDevice(), rows=4, cols=4), [jnp.ones((1, 1))],
                     [jnp.zeros(1)]))
    _raises_naming("x0", lambda x0: loop.solve(x0, jnp.linspace(0, 1, 3)), np.zeros(x0_shape))
    _raises_naming("ts", lambda ts: loop.solve(jnp.zeros(1), ts), np.zeros(ts_shape))


@SETTINGS
@given(x=st.one_of(arrays_with_non_finite((8, IN)), st.just(np.ones((0, IN), np.float32)),
                   st.just(np.ones((8,), np.float32))))
def test_training_data(x):
    net = aj.Network.init(aj.MLPArchitecture((IN, OUT), bias=True), key=KEY)
    _raises_naming("x", lambda x: models.train_classifier(net, x, np.zeros(len(x), np.int32),
                                                          key=KEY, steps=1, batch_size=1), x)


def test_half_precision_is_computed_in_float32_and_kept():
    """float16/bfloat16 weights and inputs: conductances would underflow half precision, so
    the chip computes in float32 and returns the inputs' dtype (no NaN, no numpy error)."""
    w = jax.random.normal(jax.random.key(2), (OUT, IN))
    x = jax.random.normal(jax.random.key(3), (2, IN))
    chip = XBAR.program(w.astype(jnp.float16), key=KEY)
    assert chip.cells.g.dtype == jnp.float32
    reference = XBAR.program(w.astype(jnp.float16).astype(jnp.float32), key=KEY)
    y32 = reference(x.astype(jnp.float16).astype(jnp.float32), key=KEY)
    for dtype, eps in ((jnp.float16, 1e-3), (jnp.bfloat16, 8e-3)):
        y = chip(x.astype(jnp.float16).astype(dtype), key=KEY)
        assert y.dtype == dtype and bool(jnp.all(jnp.isfinite(y)))
        # the same read as in float32, rounded once to the half type
        np.testing.assert_allclose(np.asarray(y, np.float32), y32, rtol=eps, atol=eps)
