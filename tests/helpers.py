"""Shared registries and helpers: every test that should hold for all components is
parametrised over these (in the spirit of diffrax's ``test/helpers.py``)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import analogjax as aj

uS = 1e-6


def full_resistive_device(**overrides) -> aj.ResistiveDevice:
    """A device with every non-ideality switched on."""
    kwargs = dict(
        g_min=1 * uS, g_max=25 * uS, program_noise=aj.RelativeNoise(0.05),
        read_noise=aj.AbsoluteNoise(0.2 * uS), window_variation=0.05, stuck_at_min_rate=0.01,
        stuck_at_max_rate=0.01, drift=aj.PowerLawDrift(nu_mean=0.05, nu_std=0.01, t0=1.0),
    )
    kwargs.update(overrides)
    return aj.ResistiveDevice(**kwargs)


DEVICES = {
    "ideal": lambda: aj.IdealDevice(g_min=1 * uS, g_max=25 * uS),
    "resistive_full": full_resistive_device,
    "resistive_levels": lambda: full_resistive_device(levels=16),
    "rram_taox_40nm": aj.presets.rram_taox_40nm,
    "rram_180nm": aj.presets.rram_180nm,
    "pcm_like": aj.presets.pcm_like,
    "formed": aj.presets.formed_rram_taox_40nm,
}

# (name, kwargs of Crossbar besides the device); small arrays so that 6×10 weights tile.
CROSSBARS = {
    "diff_array_ideal_io": dict(rows=4, cols=4, dac=aj.DAC(bits=None), adc=aj.ADC(bits=None)),
    "diff_column_8bit": dict(rows=4, cols=3, mapping=aj.DifferentialMapping(per_column_scale=True)),
    "offset_6bit": dict(rows=5, cols=4, mapping=aj.OffsetMapping(), dac=aj.DAC(bits=6),
                        adc=aj.ADC(bits=6, range=aj.WorstCaseRange(headroom=0.8))),
    "fixed_ranges": dict(rows=16, cols=16, dac=aj.DAC(bits=5, input_range=2.0, v_read=0.1),
                         adc=aj.ADC(bits=10, range=aj.FixedRange(50e-6))),
    "bit_sliced": dict(rows=4, cols=4, dac=aj.DAC(bits=7), input_slice_bits=2,
                       drift_compensation=True),
    "unsigned_bit_serial": dict(rows=4, cols=4, dac=aj.DAC(bits=4, unsigned=True),
                                input_slice_bits=1),
}

OUT, IN = 6, 10


def strip_noise(device):
    """The same device with every random non-ideality switched off."""
    if isinstance(device, aj.IdealDevice):
        return device
    if isinstance(device, aj.FormedDevice):
        raise ValueError("a formed device has no noise-free version")
    return aj.ResistiveDevice(g_min=device.g_min, g_max=device.g_max)


def weights_and_inputs(dtype=jnp.float32, batch=3):
    kw, kx = jax.random.split(jax.random.key(42))
    w = jax.random.normal(kw, (OUT, IN), dtype)
    x = jax.random.normal(kx, (batch, IN), dtype)
    return w, x


def tree_allclose(a, b, rtol=1e-5, atol=1e-8):
    leaves_a, leaves_b = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(leaves_a) == len(leaves_b) and all(
        np.allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)
        for x, y in zip(leaves_a, leaves_b, strict=True))


@eqx.filter_jit
def program_and_read(xbar, w, x, key, t):
    k_program, k_read = jax.random.split(key)
    return xbar.program(w, key=k_program)(x, key=k_read, t=t)


def loop_network(xbar, weights, biases, *, key=None):
    """A fully connected network ``weights[l]`` (out, in), ``biases[l]`` programmed for a
    closed loop (biases on the chips)."""
    sizes = (weights[0].shape[1],) + tuple(w.shape[0] for w in weights)
    network = aj.Network(aj.MLPArchitecture(sizes, bias=True), tuple(weights), tuple(biases))
    return network.program(xbar, key=key, bias_on_chip=True)
