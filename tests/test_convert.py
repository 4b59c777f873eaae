"""Converting equinox and flax nnx models to analogue hardware: ideal hardware reproduces the
digital model for linear layers and every convolution variant; per-layer hardware reaches the
right layers; chips of whole networks are pytrees (jit, vmap over chips, determinism per key,
dtype kept, gradients); save/load round trip; the hardware-aware training recipe."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from flax import nnx

import analogjax as aj
import analogjax.nnx as ajn
from analogjax import models

# Small arrays so that every layer spans several tiles.
IDEAL = aj.Crossbar(aj.IdealDevice(), rows=8, cols=4, dac=aj.DAC(bits=None),
                    adc=aj.ADC(bits=None))
NOISY = aj.Crossbar(aj.presets.pcm_like(), rows=16, cols=16)


class EqxNet(eqx.Module):
    """Every convolution variant in one per-example equinox model: strided 1-D 'SAME', dilated
    2-D with explicit padding, grouped, depthwise, then two linear layers."""

    conv1d: eqx.nn.Conv1d
    conv: eqx.nn.Conv2d
    grouped: eqx.nn.Conv2d
    depthwise: eqx.nn.Conv2d
    layers: tuple[eqx.nn.Linear, eqx.nn.Linear]

    def __init__(self, key):
        k = jr.split(key, 6)
        self.conv1d = eqx.nn.Conv1d(2, 2, 3, stride=2, padding="SAME", key=k[0])
        self.conv = eqx.nn.Conv2d(1, 4, (3, 2), padding=((1, 0), (2, 1)), dilation=(1, 2),
                                  key=k[1])
        self.grouped = eqx.nn.Conv2d(4, 4, 3, stride=2, groups=2, use_bias=False, key=k[2])
        self.depthwise = eqx.nn.Conv2d(4, 8, 1, groups=4, key=k[3])
        self.layers = (eqx.nn.Linear(8 * 3 * 3 + 2 * 4, 6, key=k[4]),
                       eqx.nn.Linear(6, 3, key=k[5]))

    def __call__(self, x):  # x: (1, 8, 7) image
        a = jax.nn.relu(self.conv1d(x[0, :2]))  # the first two rows as a 2-channel signal
        h = jax.nn.relu(self.conv(x))
        h = self.depthwise(jax.nn.relu(self.grouped(h)))
        h = jnp.concatenate([h.reshape(-1), a.reshape(-1)])
        return self.layers[1](jax.nn.tanh(self.layers[0](h)))


class NnxNet(nnx.Module):
    """The nnx counterpart (channel last, batch first)."""

    def __init__(self, rngs):
        self.conv = nnx.Conv(1, 4, (3, 2), padding=((1, 0), (2, 1)), kernel_dilation=(1, 2),
                             rngs=rngs)
        self.grouped = nnx.Conv(4, 4, (3, 3), strides=2, padding="VALID",
                                feature_group_count=2, use_bias=False, rngs=rngs)
        self.depthwise = nnx.Conv(4, 8, (1, 1), feature_group_count=4, padding=1, rngs=rngs)
        self.layers = nnx.List([nnx.Linear(8 * 5 * 5, 6, rngs=rngs), nnx.Linear(6, 3, rngs=rngs)])

    def __call__(self, x):  # x: (N, 8, 7, 1)
        h = self.depthwise(nnx.relu(self.grouped(nnx.relu(self.conv(x)))))
        return self.layers[1](nnx.tanh(self.layers[0](h.reshape(h.shape[0], -1))))


@pytest.fixture(scope="module")
def data():
    return jr.normal(jr.key(0), (5, 1, 8, 7))


@pytest.fixture(scope="module")
def eqx_net():
    return EqxNet(jr.key(1))


def _close(a, b, rtol=1e-5):
    np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b, np.float32), rtol=rtol,
                               atol=rtol * float(jnp.abs(b).max()))


def test_equinox_ideal_hardware_is_the_digital_model(eqx_net, data):
    expected = jax.vmap(eqx_net)(data)
    converted = aj.convert(eqx_net, IDEAL)
    assert set(aj.find_layers(converted)) == {"conv1d", "conv", "grouped", "depthwise",
                                              "layers.0", "layers.1"}
    assert all(isinstance(m, aj.AnalogLinear | aj.AnalogConv)
               for m in aj.find_layers(converted).values())
    _close(jax.vmap(converted)(data), expected, 1e-6)  # converted, unprogrammed: digital
    chip = aj.program(converted, key=None)
    _close(eqx.filter_jit(aj.evaluate)(chip, data), expected, 1e-4)
    _close(aj.read(chip)(data[0]), expected[0], 1e-4)


def test_nnx_ideal_hardware_is_the_digital_model(data):
    net = NnxNet(nnx.Rngs(0))
    x = jnp.moveaxis(data, 1, -1)
    expected = net(x)
    converted = ajn.convert(net, IDEAL, layers={"layers.1": None})
    assert isinstance(converted.conv, ajn.AnalogConv)
    assert isinstance(converted.layers[0], ajn.AnalogLinear)
    assert type(converted.layers[1]) is nnx.Linear
    assert type(net.conv) is nnx.Conv  # the original is untouched
    _close(converted(x), expected, 1e-6)
    chip = ajn.program(converted, key=None)
    _close(ajn.read(chip)(x), expected, 1e-4)
    # a Monte Carlo over noisy chips: split/merge and vmap over keys
    graph, state = nnx.split(ajn.convert(net, NOISY))

    @jax.jit
    @jax.vmap
    def per_chip(key):
        chip = ajn.program(nnx.merge(graph, state), key=key)
        return ajn.read(chip, key=jr.fold_in(key, 1), t=60.0)(x)

    # 8-bit converters on ideal devices, ADCs calibrated on the activations of a batch
    eight_bit = ajn.convert(net, aj.Crossbar(aj.IdealDevice(), rows=64, cols=16))
    calibrated = ajn.read(ajn.program(eight_bit, key=None, calibration=x[::-1]))(x)
    assert float(jnp.linalg.norm(calibrated - expected) / jnp.linalg.norm(expected)) < 0.03
    y = per_chip(jr.split(jr.key(2), 2))
    assert y.shape == (2, *expected.shape) and bool(jnp.all(jnp.isfinite(y)))
    assert not np.array_equal(y[0], y[1])
    error = float(jnp.linalg.norm(y - expected) / jnp.linalg.norm(expected) / np.sqrt(2))
    assert 0.01 < error < 1.0  # a noisy chip of the same network
    assert type(nnx.merge(graph, state).conv.layer) is nnx.Conv


def test_per_layer_hardware_reaches_the_right_layers(eqx_net):
    other = aj.Crossbar(aj.presets.rram_taox_40nm(), rows=32, cols=32)

    def hardware(path, layer):  # convolutions on one array size, linear layers on another
        return NOISY if isinstance(layer, eqx.nn.Conv) else other

    converted = aj.convert(eqx_net, hardware, layers={"conv1d": None, "layers.1": IDEAL})
    found = aj.find_layers(converted)
    assert type(found["conv1d"]) is eqx.nn.Conv1d
    assert found["conv"].crossbar is NOISY and found["depthwise"].crossbar is NOISY
    assert found["layers.0"].crossbar is other and found["layers.1"].crossbar is IDEAL
    # converting again changes the hardware of analogue layers
    again = aj.find_layers(aj.convert(converted, IDEAL))
    assert all(m.crossbar is IDEAL for p, m in again.items() if p != "conv1d")
    with pytest.raises(ValueError, match=r"'conv2'.*its layers are"):
        aj.convert(eqx_net, IDEAL, layers={"conv2": None})
    with pytest.raises(ValueError, match="scalar"):
        aj.convert(eqx.nn.Linear("scalar", 2, key=jr.key(0)), IDEAL)
    with pytest.raises(ValueError, match="padding_mode"):
        aj.convert(eqx.nn.Conv1d(1, 1, 3, padding=1, padding_mode="CIRCULAR", key=jr.key(0)),
                   IDEAL)
    with pytest.raises(TypeError, match="hardware must be"):
        aj.convert(eqx_net, "pcm")
    with pytest.raises(ValueError, match="no analogue layers"):
        aj.program(eqx_net, key=jr.key(0))
    with pytest.raises(ValueError, match="not linear or convolution"):
        ajn.convert(NnxNet(nnx.Rngs(0)), IDEAL, layers={"conv1": None})


def _small_net(key):
    """One strided convolution and one linear layer (a cheap whole network)."""
    k1, k2 = jr.split(key)
    return eqx.nn.Sequential([eqx.nn.Conv2d(1, 2, 3, stride=2, key=k1),
                              eqx.nn.Lambda(jnp.ravel), eqx.nn.Linear(2 * 3 * 3, 3, key=k2)])


def _run(model, x, key, t=3600.0):
    k_program, k_read = jr.split(key)
    return aj.evaluate(aj.program(model, key=k_program), x, key=k_read, t=t)


def test_whole_network_chip_contract(data):
    """(jit ≡ eager is checked per layer in test_registries: eager reads of a whole network
    take 15 s.)"""
    model = aj.convert(_small_net(jr.key(1)), NOISY)
    run = eqx.filter_jit(_run)
    key = jr.key(3)
    y = run(model, data, key)
    assert y.shape == (5, 3) and y.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(y)))
    assert np.array_equal(y, run(model, data, key))  # deterministic per key
    assert not np.array_equal(y, run(model, data, jr.key(4)))
    # vmap over chips ≡ one chip at a time
    keys = jr.split(key, 2)
    batched = eqx.filter_vmap(run, in_axes=(None, None, 0))(model, data, keys)
    _close(batched, jnp.stack([run(model, data, k) for k in keys]), 1e-4)
    # gradients through programming and the read reach every weight, finite and non-zero
    grads = eqx.filter_grad(lambda m: jnp.sum(run(m, data, key) ** 2))(model)
    leaves = jax.tree.leaves(eqx.filter(grads, eqx.is_inexact_array))
    assert len(leaves) == 4 and all(bool(jnp.all(jnp.isfinite(g))) for g in leaves)
    assert all(float(jnp.abs(g).max()) > 0 for g in leaves)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_half_precision_models_keep_their_dtype(data, dtype):
    """Half-precision models: the hardware computes in float32 (conductances underflow half
    types), outputs and gradients come back in the model's dtype."""
    model = jax.tree.map(lambda a: a.astype(dtype) if eqx.is_inexact_array(a) else a,
                         aj.convert(_small_net(jr.key(1)), NOISY))
    x = data.astype(dtype)

    @eqx.filter_jit
    def value_and_grad(model):
        return eqx.filter_value_and_grad(
            lambda m: jnp.sum(_run(m, x, jr.key(3)).astype(jnp.float32) ** 2))(model)

    loss, grads = value_and_grad(model)
    assert np.isfinite(float(loss))
    y = eqx.filter_jit(_run)(model, x, jr.key(3))
    assert y.dtype == dtype
    reference = _run(jax.tree.map(lambda a: a.astype(jnp.float32) if eqx.is_inexact_array(a)
                                  else a, model), x.astype(jnp.float32), jr.key(3))
    _close(y, reference, 2e-2)
    for g in jax.tree.leaves(eqx.filter(grads, eqx.is_inexact_array)):
        assert g.dtype == dtype and bool(jnp.all(jnp.isfinite(g)))
    # hardware-aware training keeps the parameters' dtype
    trained, losses = models.train_classifier(
        model, x, jnp.arange(5) % 3, key=jr.key(4), steps=3, batch_size=5, per_example=True,
        weight_noise=aj.HardwareAwareTraining())
    assert bool(jnp.all(jnp.isfinite(losses)))
    assert all(leaf.dtype == dtype for leaf in
               jax.tree.leaves(eqx.filter(trained, eqx.is_inexact_array)))


def test_read_noise_time_scales_per_example(data):
    """evaluate: frozen noise is one draw per read time, shared by every example; white noise
    is independent per example."""
    pair = jnp.stack([data[0], data[0]])
    net = _small_net(jr.key(1))

    @eqx.filter_jit
    def outputs(noise):
        device = aj.ResistiveDevice(g_min=1e-6, g_max=25e-6, read_noise=noise)
        chip = aj.program(aj.convert(net, aj.Crossbar(device, rows=16, cols=16)),
                          key=jr.key(0))
        return aj.evaluate(chip, pair, key=jr.key(1), t=1.0)

    white = outputs(aj.WhiteReadNoise(aj.RelativeNoise(0.05)))
    assert not np.allclose(white[0], white[1])
    frozen = outputs(aj.FrozenReadNoise(aj.RelativeNoise(0.05)))
    np.testing.assert_array_equal(frozen[0], frozen[1])


def test_save_and_load_round_trip(data, tmp_path):
    model = aj.convert(_small_net(jr.key(1)), NOISY)
    eqx.tree_serialise_leaves(tmp_path / "model.eqx", model)
    like = aj.convert(_small_net(jr.key(99)), NOISY)
    loaded = eqx.tree_deserialise_leaves(tmp_path / "model.eqx", like)
    np.testing.assert_array_equal(jax.vmap(loaded)(data), jax.vmap(model)(data))

    chip = aj.program(model, key=jr.key(5))
    eqx.tree_serialise_leaves(tmp_path / "chip.eqx", chip)
    skeleton = eqx.filter_eval_shape(lambda: aj.program(model, key=jr.key(0)))
    restored = eqx.tree_deserialise_leaves(tmp_path / "chip.eqx", skeleton)
    read = eqx.filter_jit(lambda c: aj.evaluate(c, data, key=jr.key(6), t=86400.0))
    np.testing.assert_array_equal(read(restored), read(chip))


def test_hardware_aware_training_recipe(eqx_net):
    model = aj.convert(eqx_net, NOISY, layers={"layers.1": None})
    recipe = aj.HardwareAwareTraining(noise=0.05, clip=2.0)
    noisy = recipe(model, key=jr.key(0))
    before, after = aj.find_layers(model), aj.find_layers(noisy)
    # digital layers untouched, biases untouched, analogue weights perturbed at the set scale
    np.testing.assert_array_equal(after["layers.1"].weight, before["layers.1"].weight)
    for path in ("conv", "layers.0"):
        w, w_noisy = before[path].weight, after[path].weight
        np.testing.assert_array_equal(after[path].bias, before[path].bias)
        relative = float(jnp.std(w_noisy - w) / jnp.max(jnp.abs(w)))
        assert 0.05 * 0.7 < relative < 0.05 * 1.3, (path, relative)
    # the gradient passes straight to the clean weights
    grad = jax.grad(lambda w: jnp.sum(recipe(eqx.tree_at(lambda m: m.conv.weight, model, w),
                                             key=jr.key(0)).conv.weight))(model.conv.weight)
    np.testing.assert_array_equal(grad, jnp.ones_like(grad))
    clipped = aj.find_layers(recipe.project(model))["layers.0"].weight
    w = before["layers.0"].weight
    assert float(jnp.abs(clipped).max()) <= 2.0 * float(jnp.std(w)) * (1 + 1e-6)
    np.testing.assert_array_equal(aj.find_layers(recipe.project(model))["layers.1"].weight,
                                  before["layers.1"].weight)
    with pytest.raises(ValueError, match="HardwareAwareTraining.noise"):
        aj.HardwareAwareTraining(noise=-0.1)


def test_train_converted_cnn_hardware_aware_and_evaluate_over_chips():
    """The README's workflow on digits at tiny size: convert, train hardware-aware with optax,
    program chips, accuracy over time via variation.monte_carlo."""
    x_train, y_train, x_test, y_test = models.load_digits_split()
    x_train, x_test = x_train.reshape(-1, 1, 8, 8), x_test[:64].reshape(-1, 1, 8, 8)
    k1, k2 = jr.split(jr.key(0))
    cnn = eqx.nn.Sequential([eqx.nn.Conv2d(1, 4, 3, padding=1, key=k1),
                             eqx.nn.Lambda(jax.nn.relu),
                             eqx.nn.MaxPool2d(2, 2),
                             eqx.nn.Lambda(jnp.ravel),
                             eqx.nn.Linear(4 * 4 * 4, 10, key=k2)])
    crossbar = aj.Crossbar(aj.presets.pcm_like(), rows=64, cols=64, drift_compensation=True)
    model = aj.convert(cnn, crossbar)
    model, losses = models.train_classifier(
        model, x_train, y_train, key=jr.key(1), steps=150, batch_size=64,
        weight_noise=aj.HardwareAwareTraining(), per_example=True)
    assert float(losses[-10:].mean()) < 0.5 * float(losses[:10].mean())
    digital = float(models.accuracy(jax.vmap(model)(x_test), y_test[:64]))
    assert digital > 0.7
    result = aj.variation.monte_carlo(
        models.accuracy_over_time(model, None, x_test, y_test[:64], (1.0, 86400.0),
                                  per_example=True),
        n_chips=4, key=jr.key(2), progress_meter=aj.variation.NoProgressMeter())
    accuracy = result.values["accuracy"]
    assert accuracy.shape == (4, 2)
    assert float(accuracy.mean()) > digital - 0.25


def test_calibration_data_sets_the_adc_ranges(data):
    """With 8-bit converters on ideal devices, all-positive inputs (images after a ReLU) on
    filters with a positive mean (blob detectors) add coherently and clip an ADC calibrated
    on the zero-mean default pattern; calibrating on example inputs brings the chip back to
    the digital network."""
    net = eqx.nn.Sequential([eqx.nn.Lambda(jnp.ravel), eqx.nn.Linear(56, 4, key=jr.key(1))])
    net = eqx.tree_at(lambda n: n.layers[1].weight, net, jnp.abs(net.layers[1].weight))
    x = jnp.abs(data)
    expected = jax.vmap(net)(x)
    model = aj.convert(net, aj.Crossbar(aj.IdealDevice(), rows=64, cols=16))

    @eqx.filter_jit
    def error(calibration):
        y = aj.evaluate(aj.program(model, key=None, calibration=calibration), x)
        return jnp.linalg.norm(y - expected) / jnp.linalg.norm(expected)

    default, calibrated = float(error(None)), float(error(jnp.abs(data[::-1])))
    assert calibrated < 0.02 and default > 3 * calibrated, (default, calibrated)
    conv = aj.convert(_small_net(jr.key(1)), NOISY)
    inputs = aj.layer_inputs(conv, x)
    assert inputs[0].shape == (5, 1, 1, 8, 7) and inputs[1].shape == (5, 1, 18)
