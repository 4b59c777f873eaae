"""Echo-state networks on random resistive memory: the graph network (ESGNN) and the
time-series reservoir.

The recurrent and input weights are the conductances of electroformed cells, never
programmed; only the linear read-out is trained (ridge regression in closed form). After
Wang et al., "Echo state graph neural networks with analogue random resistive memory arrays",
Nat. Mach. Intell. 5, 104 (2023), and its public code.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

import analogjax as aj
from analogjax.internal import check_int, check_range

from ._graphs import GraphBatch
from ._sequences import nrmse

_uS = 1e-6


def reservoir_crossbar(device: aj.FormedDevice | None = None, *,
                       mapping: aj.AbstractMapping | None = None) -> aj.Crossbar:
    """The periphery of the published random-resistive-memory system: inputs applied 4-bit
    bit-serially (offset binary: each vector shifted by its minimum, one bit per read, read
    noise on every bit cycle), cells used directly as weights (:class:`aj.UnipolarMapping`).
    Default device: :func:`aj.presets.formed_rram_taox_40nm` (the measured-map fit, 2 %
    read noise per cell and read). Assumed (the sources give none): an 8-bit ADC calibrated
    on the default pattern, 0.2 V read voltage."""
    return aj.Crossbar(
        aj.presets.formed_rram_taox_40nm() if device is None else device,
        rows=64, cols=64,
        dac=aj.DAC(bits=4, unsigned=True),
        input_slice_bits=1,
        mapping=aj.UnipolarMapping() if mapping is None else mapping,
    )


class RandomReservoir(eqx.Module):
    """Random input ``(hidden, in + 1)`` and recurrent ``(hidden, hidden)`` arrays of formed
    cells (the ``+ 1`` column takes the constant bias input). Weights are conductances times
    a digital gain: ``input_scale`` and ``recurrent_scale`` [weight per siemens] (ESGNN:
    0.0016 and 0.01 per µS). With ``spectral_radius`` the recurrent gain is set per chip
    instead, from the circular law ``ρ / (σ̂ √hidden)`` with σ̂ the standard deviation of the
    chip's effective conductances (zero-mean weights need a signed mapping, e.g.
    :class:`aj.DifferentialMapping`)."""

    hidden: int = eqx.field(default=50, static=True)
    """Reservoir size (rows of both arrays)."""
    input_scale: float = 0.0016 / _uS
    """Input weight per siemens of conductance."""
    recurrent_scale: float = 0.01 / _uS
    """Recurrent weight per siemens (ignored when ``spectral_radius`` is given)."""
    spectral_radius: float | None = None
    """Target spectral radius of the recurrent weights, or None for ``recurrent_scale``."""
    crossbar: aj.Crossbar = eqx.field(default_factory=reservoir_crossbar)
    """Arrays, device and periphery; the device must be a :class:`aj.FormedDevice`."""

    def __check_init__(self):
        check_int("RandomReservoir.hidden", self.hidden, lower=1, upper=4096)
        check_range("RandomReservoir.input_scale", self.input_scale, lower=0.0,
                    lower_open=True)
        check_range("RandomReservoir.recurrent_scale", self.recurrent_scale, lower=0.0)
        check_range("RandomReservoir.spectral_radius", self.spectral_radius, lower=0.0,
                    upper=100.0)
        if not isinstance(self.crossbar.device, aj.FormedDevice):
            raise TypeError("RandomReservoir.crossbar.device must be a FormedDevice (random "
                            f"formed cells); got {type(self.crossbar.device).__name__}")

    def form(self, in_features: int, *, key: PRNGKeyArray) -> FormedReservoir:
        """A chip: both arrays electroformed (one random draw per cell from ``key``)."""
        check_int("in_features", in_features, lower=1, upper=65535)
        k_in, k_h = jax.random.split(key)
        device, arrays = self.crossbar.device, self.crossbar.mapping.arrays
        g_in = device.form((arrays, self.hidden, in_features + 1), key=k_in)
        g_h = device.form((arrays, self.hidden, self.hidden), key=k_h)
        recurrent_scale = jnp.asarray(self.recurrent_scale, g_h.dtype)
        if self.spectral_radius is not None:
            g_eff = self.crossbar.mapping.effective(g_h)
            recurrent_scale = self.spectral_radius / (jnp.std(g_eff) * self.hidden**0.5)
        return FormedReservoir(
            input=self.crossbar.assemble(g_in, self.input_scale),
            recurrent=self.crossbar.assemble(g_h, recurrent_scale),
        )


class FormedReservoir(eqx.Module):
    """One chip of a :class:`RandomReservoir`: the two arrays, read through their periphery."""

    input: aj.ProgrammedCrossbar
    recurrent: aj.ProgrammedCrossbar

    def weights(self, t: float | None = None) -> tuple[Float[Array, "H I"], Float[Array, "H H"]]:
        """Input (with the bias column last) and recurrent weights at time ``t``."""
        return self.input.weights(t), self.recurrent.weights(t)

    def digital(self) -> FormedReservoir:
        """The same conductances computed exactly (ideal converters, no read noise): the
        software echo-state network with this chip's random weights."""
        def ideal(chip: aj.ProgrammedCrossbar) -> aj.ProgrammedCrossbar:
            xbar = chip.crossbar
            exact = aj.Crossbar(aj.IdealDevice(g_min=0.0, g_max=1.0), rows=xbar.rows,
                                cols=xbar.cols, dac=aj.DAC(bits=None),
                                adc=aj.ADC(bits=None), mapping=xbar.mapping)
            cells = aj.ProgrammedCells(g=chip.conductances(), nu=jnp.zeros_like(chip.cells.g))
            return eqx.tree_at(lambda c: (c.crossbar, c.cells), chip, (exact, cells))

        return FormedReservoir(ideal(self.input), ideal(self.recurrent))


def _reads(key: PRNGKeyArray | None, t, n: int) -> list[aj.Read]:
    """``n`` independent reads at time ``t``, sharing the read time's frozen noise."""
    if key is None:
        return [aj.Read(t, None, None)] * n
    k_frozen, k_white = jax.random.split(key)
    return [aj.Read(t, k_frozen, k) for k in jax.random.split(k_white, n)]


class EchoStateGraphNetwork(eqx.Module):
    """Echo-state graph network (ESGNN): node states
    ``h ← (1 − a) h + a tanh(W_in [u; b] + (W_h h) A)`` from ``h = 0`` for ``iterations``
    steps (``A`` the adjacency: each node sums its neighbours' recurrent products), then sum
    pooling over the nodes and ReLU give the graph embedding. ``W_in [u; b]`` is read once per
    node, ``W_h h`` once per node and iteration, every read bit-serial through the chip's
    periphery. Published: a = 0.2, 4 iterations, 50 hidden, b = 1."""

    reservoir: RandomReservoir = eqx.field(default_factory=RandomReservoir)
    leak: float = 0.2
    """Leak rate ``a`` in (0, 1]."""
    iterations: int = eqx.field(default=4, static=True)
    bias: float = 1.0
    """Constant input on the bias column."""

    def __check_init__(self):
        check_range("EchoStateGraphNetwork.leak", self.leak, lower=0.0, lower_open=True,
                    upper=1.0)
        check_int("EchoStateGraphNetwork.iterations", self.iterations, lower=0, upper=1000)

    def form(self, graphs: GraphBatch, *, key: PRNGKeyArray) -> FormedReservoir:
        """A chip for graphs with ``graphs.features.shape[-1]`` input features."""
        return self.reservoir.form(graphs.features.shape[-1], key=key)

    def node_states(self, chip: FormedReservoir, graphs: GraphBatch, *,
                    key: PRNGKeyArray | None = None, t: float | None = None
                    ) -> Float[Array, "G N H"]:
        """Final node states (padding nodes zero). ``key`` draws the read noise (frozen once,
        white per read and bit cycle); None for a noise-free chip."""
        n_graphs, n_nodes, _ = graphs.features.shape
        hidden = self.reservoir.hidden
        reads = _reads(key, t, self.iterations + 1)
        u = jnp.concatenate([graphs.features,
                             jnp.full((n_graphs, n_nodes, 1), self.bias, graphs.features.dtype)],
                            axis=-1)
        drive = reads[0](chip.input, u.reshape(-1, u.shape[-1])).reshape(n_graphs, n_nodes, -1)
        h = jnp.zeros((n_graphs, n_nodes, hidden), drive.dtype)
        for read in reads[1:]:  # few iterations (static): unrolled, each a distinct read
            recurrent = read(chip.recurrent, h.reshape(-1, hidden)).reshape(h.shape)
            neighbours = jnp.einsum("gkh,gkj->gjh", recurrent, graphs.adjacency)
            h = (1 - self.leak) * h + self.leak * jnp.tanh(drive + neighbours)
        if self.iterations == 0:
            h = drive
        return jnp.where(graphs.mask[..., None], h, 0.0)

    def embed(self, chip: FormedReservoir, graphs: GraphBatch, *,
              key: PRNGKeyArray | None = None, t: float | None = None) -> Float[Array, "G H"]:
        """Graph embeddings: ReLU of the summed node states."""
        return jax.nn.relu(jnp.sum(self.node_states(chip, graphs, key=key, t=t), axis=1))


class RidgeReadout(eqx.Module):
    """Linear read-out ``y = W f + c`` trained by ridge regression in closed form:
    ``min ‖[F 1] [W c]ᵀ − T‖² + λ ‖[W c]‖²`` (the bias regularised too, as in the published
    code), solved by least squares on the stacked system ``[[F 1]; √λ I]`` (the normal
    equations squared condition number is avoided, so float32 suffices)."""

    weight: Float[Array, "K D"]
    bias: Float[Array, " K"]

    @classmethod
    def fit(cls, features: Float[Array, "n D"], targets: Float[Array, "n K"], *,
            regularisation: float = 1e-3, sample_weight: Float[Array, " n"] | None = None
            ) -> RidgeReadout:
        """The read-out of ``features`` onto ``targets``; rows with ``sample_weight`` 0 are
        left out (fixed shapes for masked training sets)."""
        check_range("regularisation", regularisation, lower=0.0)
        n, d = features.shape
        f = jnp.concatenate([features, jnp.ones((n, 1), features.dtype)], axis=1)
        if sample_weight is not None:
            w = jnp.sqrt(sample_weight)[:, None]
            f, targets = f * w, targets * w
        a = jnp.concatenate([f, jnp.sqrt(regularisation) * jnp.eye(d + 1, dtype=f.dtype)])
        b = jnp.concatenate([targets, jnp.zeros((d + 1, targets.shape[1]), targets.dtype)])
        solution = jnp.linalg.lstsq(a, b)[0]
        return cls(weight=solution[:d].T, bias=solution[d])

    def __call__(self, features: Float[Array, "n D"]) -> Float[Array, "n K"]:
        return features @ self.weight.T + self.bias


def class_targets(labels: Int[Array, " n"], classes: int) -> Float[Array, "n K"]:
    """One-hot targets in ±1 (for two classes the published ±1 target and its negation)."""
    return 2.0 * jax.nn.one_hot(labels, classes) - 1.0


def split_accuracy(features: Float[Array, "n D"], labels: Int[Array, " n"],
                   train: Int[Array, " m"], test: Int[Array, " k"], *, classes: int,
                   regularisation: float = 1e-3) -> Float[Array, ""]:
    """Test accuracy of a ridge read-out trained on the ``train`` rows (indices; -1 pads)."""
    weight = (train >= 0).astype(features.dtype)
    readout = RidgeReadout.fit(features[jnp.maximum(train, 0)],
                               class_targets(labels[jnp.maximum(train, 0)], classes),
                               regularisation=regularisation, sample_weight=weight)
    valid = test >= 0
    predicted = jnp.argmax(readout(features[jnp.maximum(test, 0)]), axis=1)
    hits = (predicted == labels[jnp.maximum(test, 0)]) & valid
    return jnp.sum(hits) / jnp.sum(valid)


def graph_accuracy_per_chip(network: EchoStateGraphNetwork, graphs: GraphBatch, folds_train,
                            folds_test, *, t: float | None = None,
                            regularisation: float = 1e-3, classes: int | None = None):
    """``key → {"digital": (splits,), "analogue": (splits,)}``: one chip formed from the key
    and its test accuracy on every split, digital (the chip's weights computed exactly) and
    analogue (read through the chip's periphery with read noise, ``t`` seconds after
    forming). For :func:`analogjax.variation.monte_carlo`."""
    if classes is None:
        classes = int(np.max(np.asarray(graphs.labels))) + 1
    folds_train, folds_test = jnp.asarray(folds_train), jnp.asarray(folds_test)

    def per_chip(key):
        k_form, k_read = jax.random.split(key)
        chip = network.form(graphs, key=k_form)
        embeddings = {"digital": network.embed(chip.digital(), graphs),
                      "analogue": network.embed(chip, graphs, key=k_read, t=t)}
        per_split = jax.vmap(lambda f, tr, te: split_accuracy(
            f, graphs.labels, tr, te, classes=classes, regularisation=regularisation),
            in_axes=(None, 0, 0))
        return {k: per_split(f, folds_train, folds_test) for k, f in embeddings.items()}

    return per_chip


def graph_accuracies(network: EchoStateGraphNetwork, graphs: GraphBatch, folds_train,
                     folds_test, keys: PRNGKeyArray, *, t: float | None = None,
                     regularisation: float = 1e-3) -> dict[str, Array]:
    """Test accuracy ``(chips, splits)`` of :func:`graph_accuracy_per_chip` over the chips
    formed from ``keys``, in one compiled program (``vmap`` over chips and splits)."""
    classes = int(np.max(np.asarray(graphs.labels))) + 1
    return _graph_accuracies(network, graphs, jnp.asarray(folds_train),
                             jnp.asarray(folds_test), keys, t, regularisation, classes)


@eqx.filter_jit
def _graph_accuracies(network, graphs, folds_train, folds_test, keys, t, regularisation,
                      classes):
    per_chip = graph_accuracy_per_chip(network, graphs, folds_train, folds_test, t=t,
                                       regularisation=regularisation, classes=classes)
    return jax.vmap(per_chip)(keys)


class EchoStateNetwork(eqx.Module):
    """Leaky echo-state network for sequences on random arrays:
    ``h_t = (1 − a) h_{t−1} + a tanh(W_in [u_t; y_{t−1}; b] + W_h h_{t−1})`` with the output
    feedback column ``y_{t−1}`` only when ``feedback`` (teacher-forced in training). The
    recurrent gain sets the spectral radius (circular law); weights are differential pairs
    of formed cells (zero-mean). Defaults (*assumed*, tuned on NARMA-10 with the digital
    network): 100 units, input weights of standard deviation ≈ 0.09 for inputs of unit
    scale, spectral radius 0.95, no leak (a = 1)."""

    reservoir: RandomReservoir = eqx.field(default_factory=lambda: RandomReservoir(
        hidden=100, input_scale=0.1 / (10 * _uS), spectral_radius=0.95,
        crossbar=reservoir_crossbar(mapping=aj.DifferentialMapping())))
    leak: float = 1.0
    """Leak rate ``a`` in (0, 1]."""
    bias: float = 0.2
    """Constant input on the bias column."""
    feedback: bool = eqx.field(default=False, static=True)
    """Feed the previous output back as an input."""

    def __check_init__(self):
        check_range("EchoStateNetwork.leak", self.leak, lower=0.0, lower_open=True, upper=1.0)
        if not isinstance(self.feedback, bool):
            raise TypeError(f"EchoStateNetwork.feedback must be True or False; got "
                            f"{self.feedback!r}")

    def form(self, in_features: int, *, key: PRNGKeyArray) -> FormedReservoir:
        """A chip for ``in_features`` inputs per step (plus the feedback column)."""
        return self.reservoir.form(in_features + int(self.feedback), key=key)

    def states(self, chip: FormedReservoir, inputs: Float[Array, "T I"], *,
               previous_outputs: Float[Array, "T O"] | None = None,
               key: PRNGKeyArray | None = None, t: float | None = None,
               initial: Float[Array, " H"] | None = None) -> Float[Array, "T H"]:
        """Reservoir states driven by ``inputs`` from ``initial`` (default 0);
        ``previous_outputs[t] = y_{t−1}`` when ``feedback`` (teacher forcing). One read of
        the input array for all steps, one recurrent read per step (``lax.scan``)."""
        if self.feedback != (previous_outputs is not None):
            raise ValueError("previous_outputs is needed exactly when feedback=True")
        n_steps = inputs.shape[0]
        columns = [inputs] + ([previous_outputs] if self.feedback else [])
        columns.append(jnp.full((n_steps, 1), self.bias, inputs.dtype))
        k_drive, k_run = (None, None) if key is None else jax.random.split(key)
        drive_read, = _reads(k_drive, t, 1)
        drive = drive_read(chip.input, jnp.concatenate(columns, axis=1))
        hidden = self.reservoir.hidden
        h0 = jnp.zeros((hidden,), drive.dtype) if initial is None else initial
        frozen, white = (None, None) if key is None else jax.random.split(k_run)

        def step(h, xs):
            d, i = xs
            read = aj.Read(t, frozen, None if white is None else jax.random.fold_in(white, i))
            h = (1 - self.leak) * h + self.leak * jnp.tanh(d + read(chip.recurrent, h))
            return h, h

        return jax.lax.scan(step, h0, (drive, jnp.arange(n_steps)))[1]


def sequence_nrmse(esn: EchoStateNetwork, chip: FormedReservoir, inputs: Float[Array, "T I"],
                   targets: Float[Array, " T"], *, train_steps: int, washout: int = 200,
                   key: PRNGKeyArray | None = None, t: float | None = None,
                   regularisation: float = 1e-7) -> Float[Array, ""]:
    """Test NRMSE of a ridge read-out of ``[h_t; u_t]`` onto ``targets``, trained on steps
    ``washout … train_steps`` and tested on the rest of the sequence (with ``feedback`` the
    previous target is fed back: teacher forcing, i.e. one-step-ahead prediction)."""
    check_int("washout", washout, lower=0, upper=inputs.shape[0] - 2)
    check_int("train_steps", train_steps, lower=washout + 2, upper=inputs.shape[0] - 1)
    previous = None
    if esn.feedback:
        previous = jnp.concatenate([jnp.zeros((1,), targets.dtype), targets[:-1]])[:, None]
    states = esn.states(chip, inputs, previous_outputs=previous, key=key, t=t)
    features = jnp.concatenate([states, inputs], axis=1)
    readout = RidgeReadout.fit(features[washout:train_steps],
                               targets[washout:train_steps, None], regularisation=regularisation)
    return nrmse(readout(features[train_steps:])[:, 0], targets[train_steps:])


def esgnn_energy(network: EchoStateGraphNetwork, graphs: GraphBatch, *,
                 model: aj.energy.EnergyModel | None = None,
                 read_time: float = 10e-9, classes: int = 2) -> dict[str, Array]:
    """Energy per graph inference [J] of the echo-state graph network, averaged over
    ``graphs``, on the random arrays (converters, cell Joule heating during ``read_time``
    per bit cycle — *assumed* 10 ns — and the digital remainder: shift-and-add of the bit
    cycles, input offsets, neighbour sums, tanh/leak, pooling, read-out) and fully digital
    (every MAC and weight fetch of the same network on the 45 nm model of
    :class:`aj.energy.EnergyModel`, the default ``model``). Counts only: no control, data
    movement off chip or idle power."""
    model = aj.energy.EnergyModel() if model is None else model
    reservoir = network.reservoir
    xbar = reservoir.crossbar
    h, f, n_iter = reservoir.hidden, graphs.features.shape[-1] + 1, network.iterations
    nodes = jnp.mean(graphs.nodes.astype(jnp.float32))
    edges = jnp.mean(jnp.sum(graphs.adjacency, axis=(1, 2)))  # directed entries, 2 × bonds
    bits = (1 if xbar.input_slice_bits is None  # bit cycles per read
            else math.ceil(xbar.dac.magnitude_bits / xbar.input_slice_bits))
    reads_in, reads_h = nodes * bits, n_iter * nodes * bits
    adc_bits, dac_bits = xbar.adc.bits or 8, xbar.input_slice_bits or xbar.dac.bits or 8
    device = xbar.device
    g_mean = ((1 - device.unformed_rate) * device.g_formed_mean
              + device.unformed_rate * device.g_pristine) * xbar.mapping.arrays
    # on-cells per read: input one-hot + bias (2 of f rows, every bit); recurrent ≈ half
    joule = xbar.dac.v_read**2 * read_time * g_mean * h * (reads_in * 2 + reads_h * h / 2)
    digital_ops = ((reads_in + reads_h) * h  # shift-and-add of each bit cycle
                   + (1 + n_iter) * nodes * h  # offsets x_min Σ W
                   + n_iter * edges * h + 3 * n_iter * nodes * h  # neighbours, tanh, leak
                   + nodes * h + (h + 1) * classes)  # pooling, read-out
    analogue = {
        "adc": model.adc(adc_bits, (reads_in + reads_h) * h),
        "dac": model.dac(dac_bits, reads_in * f + reads_h * h),
        "crossbar": joule,
        "digital": model.digital(digital_ops, digital_ops),
    }
    macs = nodes * h * f + n_iter * nodes * h * h + n_iter * edges * h \
        + 3 * n_iter * nodes * h + nodes * h + (h + 1) * classes
    return {"analogue": sum(analogue.values()), "analogue_parts": analogue,
            "digital": model.digital(macs, macs)}
