"""Topology pruning of random resistive memory, dynamic spiking networks, IDX data."""

import gzip

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import analogjax as aj
from analogjax import models

uS = 1e-6
OUT, IN = 12, 30


def ideal_formed_crossbar(**device):
    """Formed device, no read noise, ideal converters: reads are exact products."""
    dev = aj.presets.formed_rram_taox_40nm()
    dev = eqx.tree_at(lambda d: d.read_noise, dev, aj.NoReadNoise())
    if device:
        dev = eqx.tree_at(lambda d: [getattr(d, k) for k in device], dev, list(device.values()))
    return aj.Crossbar(dev, rows=16, cols=8, dac=aj.DAC(bits=None), adc=aj.ADC(bits=None))


@pytest.fixture(scope="module")
def layer():
    return aj.pruning.FormedLayer.form(ideal_formed_crossbar(), OUT, IN, key=jax.random.key(0))


@pytest.fixture(scope="module")
def scores():
    return aj.pruning.init_scores(jax.random.key(1), OUT, IN)


def test_supermask_keeps_exact_fraction_with_straight_through_gradient(scores):
    for keep in (0.1, 0.5, 0.9):
        mask = aj.pruning.supermask(scores, keep)
        assert set(np.unique(mask)) <= {0.0, 1.0}
        assert int(mask.sum()) == round(keep * scores.size)
        kept = np.abs(np.asarray(scores))[np.asarray(mask) > 0]
        dropped = np.abs(np.asarray(scores))[np.asarray(mask) == 0]
        assert kept.min() >= dropped.max()
    c = jax.random.normal(jax.random.key(2), scores.shape)
    grad = jax.grad(lambda s: jnp.sum(aj.pruning.supermask(s) * c))(scores)
    np.testing.assert_allclose(grad, c * jnp.sign(scores), rtol=1e-6)
    bound = 1 / np.sqrt(IN)
    assert np.abs(scores).max() <= bound and np.abs(scores).max() > 0.9 * bound


def test_supermask_ties_are_broken_by_position():
    # 6 of 10 kept: the 4 largest, then 2 of the 4 tied entries (the first two by position)
    scores = jnp.array([0.9, 0.5, 0.1, 0.5, 0.8, 0.5, 0.7, 0.6, 0.5, 0.2])
    np.testing.assert_array_equal(aj.pruning.supermask(scores, 0.6),
                                  [1, 1, 0, 1, 1, 0, 1, 1, 0, 0])
    # every tied entry fits: all kept, no position break needed
    np.testing.assert_array_equal(aj.pruning.supermask(scores, 0.8),
                                  [1, 1, 0, 1, 1, 1, 1, 1, 1, 0])


def test_formed_layer_statistics_and_rescaling():
    """Formed and RESET conductances follow the device's distributions (within 5 s.e.);
    the rescaling makes the kept weights' mean |W| = sqrt(2 / (keep fan_in))."""
    dev = aj.presets.formed_rram_taox_40nm()
    xbar = aj.Crossbar(dev, rows=256, cols=256)
    big = aj.pruning.FormedLayer.form(xbar, 200, 300, key=jax.random.key(3), keep=0.25)
    formed = ~jnp.isclose(big.g_set, dev.g_pristine)
    g = np.asarray(big.g_set)[np.asarray(formed)]
    n = g.size
    assert abs(g.mean() - dev.g_formed_mean) < 5 * dev.g_formed_std / np.sqrt(n)
    assert abs(g.std() / dev.g_formed_std - 1) < 5 / np.sqrt(2 * n)
    unformed = 1 - float(formed.mean())
    assert abs(unformed - dev.unformed_rate) < 5 * np.sqrt(dev.unformed_rate / formed.size)
    r = np.asarray(big.g_reset)[np.asarray(formed)]
    assert abs(r.mean() - dev.g_reset_mean) < 5 * dev.g_reset_std / np.sqrt(r.size)
    assert bool(big.mask.all())
    np.testing.assert_allclose(jnp.mean(jnp.abs(big.weights())), np.sqrt(2 / (0.25 * 300)),
                               rtol=1e-5)


def test_program_flips_residuals_and_ideal_read(layer, scores):
    chip, flips = layer.program(scores, key=jax.random.key(4))
    assert int(flips) == OUT * IN // 2 and int(chip.mask.sum()) == OUT * IN // 2
    np.testing.assert_array_equal(chip.mask, aj.pruning.supermask(scores) > 0)
    # pruned pairs keep their RESET residual (not zero); kept ones their formed values
    w = chip.weights()
    np.testing.assert_allclose(chip.g_reset[:, ~chip.mask], layer.g_reset[:, ~chip.mask],
                               rtol=2 * 0.0015 * 1.001)
    residual = (chip.g_reset[0] - chip.g_reset[1]) * layer.weight_per_siemens
    np.testing.assert_allclose(w[~chip.mask], residual[~chip.mask], rtol=1e-5, atol=1e-7)
    assert float(jnp.abs(w[~chip.mask]).mean()) > 0.01 * float(jnp.abs(w[chip.mask]).mean())
    np.testing.assert_array_equal(chip.g_set[:, chip.mask], layer.g_set[:, chip.mask])
    # writing the same topology again flips nothing and changes nothing
    again, flips = chip.program(scores, key=jax.random.key(5))
    assert int(flips) == 0
    np.testing.assert_array_equal(again.g_reset, chip.g_reset)
    x = jax.random.uniform(jax.random.key(6), (7, IN))
    np.testing.assert_allclose(chip(x), x @ w.T, rtol=1e-5, atol=1e-6)


def test_write_noise_is_relative_clipped_and_only_on_written_cells(layer, scores):
    noise = 0.05
    chip, _ = layer.program(scores, key=jax.random.key(7), write_noise=noise)
    pruned = ~chip.mask
    ratio = np.asarray(chip.g_reset[:, pruned] / layer.g_reset[:, pruned]) - 1
    assert np.abs(ratio).max() <= 2 * noise * (1 + 1e-5)
    truncated_std = 0.8796  # std of N(0, 1) clipped to ±2
    assert abs(ratio.std() / (noise * truncated_std) - 1) < 5 / np.sqrt(2 * ratio.size)
    np.testing.assert_array_equal(chip.g_set, layer.g_set)


def test_reprogramming_limiter(layer, scores):
    chip, _ = layer.program(scores, key=jax.random.key(8))
    new_scores = jax.random.normal(jax.random.key(9), scores.shape)
    _, unlimited = chip.program(new_scores, key=jax.random.key(10))

    @jax.jit
    def limited(max_flips):
        return chip.program(new_scores, key=jax.random.key(10), max_flips=max_flips)

    for budget in (0, 10, 11, 40):
        new, flips = limited(budget)
        assert int(flips) == min(budget - budget % 2, int(unlimited))
        assert int(new.mask.sum()) == OUT * IN // 2  # balanced: the kept fraction is exact
    new, _ = limited(10)
    turned_on = new.mask & ~chip.mask
    target = aj.pruning.supermask(new_scores) > 0
    candidates = target & ~chip.mask
    magnitude = jnp.abs(new_scores)
    assert float(magnitude[turned_on].min()) >= float(magnitude[candidates & ~turned_on].max())
    # from the formed (all-on) state the budget first prunes towards the target count
    fresh, flips = layer.program(scores, key=jax.random.key(8), max_flips=25)
    assert int(flips) == 25 and int(fresh.mask.sum()) == OUT * IN - 25


def test_straight_through_gradient_of_a_read(layer, scores):
    chip, _ = layer.program(scores, key=jax.random.key(11))
    x = jax.random.uniform(jax.random.key(12), (5, IN))
    c = jax.random.normal(jax.random.key(13), (5, OUT))
    grad = jax.grad(lambda s: jnp.sum(chip(x, scores=s) * c))(scores)
    d_weight = c.T @ x  # dL/dW
    delta = ((chip.g_set[0] - chip.g_set[1]) - (chip.g_reset[0] - chip.g_reset[1]))
    expected = d_weight * delta * chip.weight_per_siemens * jnp.sign(scores)
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-6)


def test_vmap_over_chips_and_read_noise():
    xbar = aj.Crossbar(aj.presets.formed_rram_taox_40nm(), rows=16, cols=8)
    keys = jax.random.split(jax.random.key(14), 3)
    chips = jax.vmap(lambda k: aj.pruning.FormedLayer.form(xbar, OUT, IN, key=k))(keys)
    assert chips.g_set.shape == (3, 2, OUT, IN)
    s = aj.pruning.init_scores(jax.random.key(15), OUT, IN)
    x = jnp.ones((2, IN))
    y = jax.vmap(lambda c, k: c.program(s, key=k)[0](x, key=k))(chips, keys)
    assert y.shape == (3, 2, OUT) and not np.allclose(y[0], y[1])
    one = jax.tree.map(lambda a: a[0], chips).program(s, key=keys[0])[0]
    np.testing.assert_allclose(one(x, key=jax.random.key(1)), one(x, key=jax.random.key(1)))
    assert not np.allclose(one(x, key=jax.random.key(1)), one(x, key=jax.random.key(2)))


def test_assemble_matches_program_and_validates():
    device = aj.IdealDevice(g_min=1 * uS, g_max=25 * uS)
    xbar = aj.Crossbar(device, rows=32, cols=16, dac=aj.DAC(bits=6), adc=aj.ADC(bits=6))
    w = jax.random.normal(jax.random.key(16), (OUT, IN))
    chip = xbar.program(w)  # one tile: one weight per siemens
    g = chip.conductances()[:, 0, :IN, 0, :OUT].transpose(0, 2, 1)
    scale = float(chip.weight_per_siemens.reshape(-1)[0])
    same = xbar.assemble(g, scale)
    x = jax.random.normal(jax.random.key(17), (3, IN))
    np.testing.assert_allclose(same(x), chip(x), rtol=1e-5)
    with pytest.raises(ValueError, match="conductances must have shape"):
        xbar.assemble(g[0], scale)
    with pytest.raises(ValueError, match="FormedDevice"):
        aj.pruning.FormedLayer.form(xbar, 2, 3, key=jax.random.key(0))
    with pytest.raises(ValueError, match="keep"):
        aj.pruning.FormedLayer.form(ideal_formed_crossbar(), 2, 3, key=jax.random.key(0),
                                    keep=0.0)
    with pytest.raises(ValueError, match="keep"):
        aj.pruning.supermask(jnp.ones(4), 1.5)
    with pytest.raises(ValueError, match="write_noise"):
        aj.pruning.FormedLayer.form(ideal_formed_crossbar(), 2, 3, key=jax.random.key(0)
                                    ).program(jnp.ones((2, 3)), key=jax.random.key(0),
                                              write_noise=-1.0)


# --- models ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    return models.load_digits_split()


@pytest.fixture(scope="module")
def crossbar():
    return aj.Crossbar(aj.presets.formed_rram_taox_40nm(), rows=64, cols=64,
                       adc=aj.ADC(bits=8, range=aj.WorstCaseRange(headroom=0.25)))


def test_topology_mlp_learns_digits_in_situ_and_counts_flips(digits, crossbar):
    x_train, y_train, x_test, y_test = digits
    net = models.TopologyNet.init(aj.MLPArchitecture((64, 96, 10)), key=jax.random.key(0))
    chip = net.form(crossbar, key=jax.random.key(1))
    read = eqx.filter_jit(lambda net, chip, x: net(x, chip, key=jax.random.key(3)))
    untrained = models.accuracy(read(net, net.program(chip, key=jax.random.key(2))[0],
                                     x_test), y_test)
    result = models.train_topology(net, chip, x_train, y_train, key=jax.random.key(4),
                                   steps=300, in_situ=True, max_flips=64)
    trained = models.accuracy(read(result.net, result.chip, x_test), y_test)
    assert float(untrained) < 0.4 and float(trained) > 0.85
    assert float(result.losses[-50:].mean()) < 0.5 * float(result.losses[:10].mean())
    assert result.flips.shape == (301,)
    assert int(result.flips.max()) <= 2 * 64  # two layers, limiter per layer
    pairs = 64 * 96 + 96 * 10
    assert int(jnp.sum(result.chip[0].mask) + jnp.sum(result.chip[1].mask)) == pairs // 2
    for trained_mask, chip_layer in zip(result.net.masks(), result.chip, strict=True):
        agree = jnp.mean(trained_mask == chip_layer.mask)
        assert float(agree) > 0.99  # the limiter lags by at most a few flips


def test_topology_cnn_ex_situ_and_programmed_baseline(digits, crossbar):
    x_train, y_train, x_test, y_test = digits
    arch = aj.ConvArchitecture((8, 8, 1), channels=(6, 12))
    assert arch.shapes == ((6, 9), (12, 54), (10, 48))
    net = models.TopologyNet.init(arch, key=jax.random.key(5))
    chip = net.form(crossbar, key=jax.random.key(6))
    result = models.train_topology(net, chip, x_train, y_train, key=jax.random.key(7),
                                   steps=400, batch_size=32)
    assert int(result.flips[:-1].sum()) == 0  # ex situ: one write at the end
    assert int(result.flips[-1]) == sum(s.size for s in net.scores) // 2
    read = eqx.filter_jit(lambda net, chip, x: net(x, chip, key=jax.random.key(8)))
    acc = models.accuracy(read(result.net, result.chip, x_test), y_test)
    assert float(acc) > 0.5  # chance: 0.1; a 6/12-channel random CNN after 400 steps
    dense = aj.Network.init(arch, key=jax.random.key(9))
    dense, losses = models.train_classifier(dense, x_train, y_train, key=jax.random.key(10),
                                            steps=120, batch_size=64, weight_noise=None)
    digital = models.accuracy(dense(x_test), y_test)
    ideal = aj.Crossbar(aj.IdealDevice(), rows=64, cols=64, dac=aj.DAC(bits=None),
                        adc=aj.ADC(bits=None))
    programmed = dense.program(ideal, key=jax.random.key(11))
    np.testing.assert_allclose(programmed(x_test[:20], key=jax.random.key(0)),
                               dense(x_test[:20]), rtol=1e-4, atol=1e-4)
    assert float(digital) > 0.85


def test_spike_surrogate_and_early_exit():
    # the public PRIME code's surrogate: 1{|u| < 0.5} / (2·0.5)
    u = jnp.array([-0.7, -0.3, -0.1, 0.1, 0.3, 0.7])
    np.testing.assert_array_equal(models.spike(u), [0, 0, 0, 1, 1, 1])
    np.testing.assert_allclose(jax.vmap(jax.grad(models.spike))(u), [0, 1, 1, 1, 1, 0])
    # sample 0 confident at step 2 for class 1 (later class 0 wins); sample 1 never confident
    potentials = jnp.zeros((4, 2, 3))
    potentials = potentials.at[:2, 0, 1].set(10.0).at[2:, 0, 0].set(30.0)
    exit_ = models.early_exit(potentials, threshold=0.8, temperature=2.0)
    np.testing.assert_array_equal(exit_.exit_step, [1, 4])
    np.testing.assert_array_equal(exit_.prediction[0], 1)
    assert float(exit_.confidence[0]) > 0.8 and float(exit_.confidence[1]) < 0.8
    with pytest.raises(ValueError, match="threshold"):
        models.early_exit(potentials, threshold=1.5)


def test_spiking_topology_net_trains(digits, crossbar):
    x_train, y_train, x_test, y_test = digits
    net = models.SpikingTopologyNet.init(aj.MLPArchitecture((64, 96, 10)),
                                         key=jax.random.key(12), steps=6)
    chip = net.form(crossbar, key=jax.random.key(13))
    result = models.train_topology(net, chip, x_train, y_train, key=jax.random.key(14),
                                   steps=200, optimiser=optax.adam(1e-2))
    spikes = models.rate_code(x_test, 6, key=jax.random.key(15))
    run = eqx.filter_jit(lambda net, chip: net.run(spikes, chip, key=jax.random.key(16)))(
        result.net, result.chip)
    assert run.potentials.shape == (6, x_test.shape[0], 10)
    assert run.spikes.shape == (6, x_test.shape[0], 2)
    np.testing.assert_allclose(run.spikes[..., 0], spikes.sum(-1))
    acc = models.accuracy(run.potentials.mean(0), y_test)
    assert float(acc) > 0.7
    exit_ = models.early_exit(run.potentials, threshold=0.5)
    assert float(exit_.exit_step.mean()) < 6
    with pytest.raises(ValueError, match="steps"):
        models.SpikingTopologyNet.init(aj.MLPArchitecture((4, 2)), key=jax.random.key(0),
                                       steps=0)


def test_spiking_conv_network(digits, crossbar):
    """PRIME's convolutional spiking topology (scaled to 8×8 digits): the convolution is one
    read per patch (checked against jax.lax on an ideal crossbar), and the network trains."""
    arch = models.SpikingConvArchitecture((8, 8, 1), channels=(16, 32), kernel_size=2)
    assert arch.shapes == ((16, 4), (32, 64), (10, 32))
    ideal = aj.Crossbar(aj.IdealDevice(), rows=8, cols=8, dac=aj.DAC(bits=None),
                        adc=aj.ADC(bits=None))
    w = jax.random.normal(jax.random.key(0), (32, 64))
    x = jax.random.uniform(jax.random.key(1), (3, 16, 5, 5))
    np.testing.assert_allclose(
        arch.convolve(x, ideal.program(w)), arch.convolution.digital(x, w.reshape(32, 16, 2, 2)),
        rtol=1e-5, atol=1e-5)
    x_train, y_train, x_test, y_test = digits
    net = models.SpikingTopologyNet.init(arch, key=jax.random.key(12), steps=4)
    chip = net.form(crossbar, key=jax.random.key(13))
    result = models.train_topology(net, chip, x_train, y_train, key=jax.random.key(14),
                                   steps=300, optimiser=optax.adam(3e-3))
    assert float(result.losses[-20:].mean()) < 0.7 * float(result.losses[:20].mean())
    spikes = models.rate_code(x_test, 4, key=jax.random.key(15))
    run = eqx.filter_jit(lambda net, chip: net.run(spikes, chip, key=jax.random.key(16)))(
        result.net, result.chip)
    assert run.potentials.shape == (4, x_test.shape[0], 10)
    assert run.spikes.shape == (4, x_test.shape[0], 3)
    assert float(run.spikes[..., 1:].sum()) > 0  # the convolutions fire
    # a small supermask network learning slowly on 8×8 images: > 3× chance after 300 steps
    # (notebook 09 trains the full-size network on MNIST)
    assert float(models.accuracy(run.potentials.mean(0), y_test)) > 0.3
    with pytest.raises(ValueError, match="too small"):
        models.SpikingConvArchitecture((8, 8, 1), kernel_size=5)


# --- data ------------------------------------------------------------------------------

def _idx_bytes(array: np.ndarray, type_code: int) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + np.asarray(array.shape, ">i4").tobytes()
    return header + array.tobytes()


def test_idx_reader(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 4, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 5, dtype=np.uint8)
    (tmp_path / "train-images-idx3-ubyte").write_bytes(_idx_bytes(images, 0x08))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(labels, 0x08))
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(_idx_bytes(images[:2], 0x08))
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as f:
        f.write(_idx_bytes(labels[:2], 0x08))
    x, y = models.load_mnist_idx(tmp_path, "train")
    np.testing.assert_allclose(x, images.reshape(5, 12) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)
    x, y = models.load_mnist_idx(tmp_path, "test")
    assert x.shape == (2, 12) and y.dtype == np.int32
    floats = rng.normal(size=(2, 3)).astype(">f4")
    (tmp_path / "floats.idx").write_bytes(_idx_bytes(floats, 0x0D))
    np.testing.assert_array_equal(models.load_idx(tmp_path / "floats.idx"), floats)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01" + bytes(8))
    with pytest.raises(ValueError, match="not an IDX file"):
        models.load_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(_idx_bytes(labels, 0x08)[:-1])
    with pytest.raises(ValueError, match="header says"):
        models.load_idx(tmp_path / "short")
    with pytest.raises(ValueError, match="split"):
        models.load_mnist_idx(tmp_path, "validation")
    with pytest.raises(FileNotFoundError):
        models.load_mnist_idx(tmp_path / "missing", "train")


def test_spike_codes():
    x = jnp.array([0.0, 0.25, 0.5, 1.0])
    steps = 4000
    rate = models.rate_code(x, steps, key=jax.random.key(0))
    se = np.sqrt(x * (1 - x) / steps) + 1e-9
    assert np.all(np.abs(rate.mean(0) - x) <= 5 * se)
    latency = models.latency_code(x, 5)
    np.testing.assert_array_equal(latency.sum(0), [0, 1, 1, 1])
    np.testing.assert_array_equal(jnp.argmax(latency, 0)[1:], [3, 2, 0])
