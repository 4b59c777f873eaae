"""Input-aware dynamic spiking network on random resistive memory with early exit.

PRIME (arXiv 2407.18625; Sci. Adv. 2025, public code bo-wang-up/PRIME): leaky
integrate-and-fire layers whose frozen random weights are formed pairs under a learned
supermask; the output layer integrates without spiking and the prediction is its mean
membrane potential; inference stops at the first step where the running prediction is
confident enough.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float, Int, PRNGKeyArray

import analogjax as aj
from analogjax.internal import check_int, check_range

from ._data import rate_code
from ._topology import AbstractTopologyNet, init_scores


def spike(u: Array, width: float = 1.0) -> Array:
    """Heaviside ``H(u)`` with a rectangular surrogate gradient ``1{|u| < width/2} / width``
    (the public PRIME code: ``1{|u| < 0.5} / (2·0.5)``, i.e. width 1)."""
    ramp = jnp.clip(u / width + 0.5, 0.0, 1.0)
    return ramp + jax.lax.stop_gradient((u > 0).astype(u.dtype) - ramp)


class SpikeRun(eqx.Module):
    """Per-step record of one run of a :class:`SpikingTopologyNet`."""

    potentials: Float[Array, "T n classes"]
    """Output membrane potential at each step."""
    spikes: Float[Array, "T n layers"]
    """Spikes into each layer (input spikes for the first) at each step, per example."""


class SpikingConvArchitecture(eqx.Module):
    """PRIME's convolutional spiking topology (the published N-MNIST network: conv 2→12 5×5,
    average-pool 2, conv 12→64 5×5, average-pool 2, a fully connected read-out), for
    rate-coded images ``(height, width, channels)``: on 28×28 MNIST, 28 → 24 → 12 → 8 → 4, a
    1024 → 10 read-out (2304 inputs on N-MNIST's event frames). No biases. Each convolution
    is one crossbar read per patch (:class:`analogjax.Convolution`, valid padding)."""

    image: tuple[int, int, int] = eqx.field(static=True)
    """Height, width, channels of the input images."""
    channels: tuple[int, int] = eqx.field(static=True, default=(12, 64))
    kernel_size: int = eqx.field(static=True, default=5)
    classes: int = eqx.field(static=True, default=10)

    def __check_init__(self):
        h, w, c = self.image
        k = self.kernel_size
        if min(h, w, c, k) < 1 or ((h - k + 1) // 2 - k + 1) // 2 < 1 or \
                ((w - k + 1) // 2 - k + 1) // 2 < 1:
            raise ValueError(f"image {self.image} is too small for two {k}×{k} convolutions, "
                             "each followed by a 2×2 pool")

    @property
    def has_biases(self) -> bool:
        return False

    @property
    def convolution(self) -> aj.Convolution:
        return aj.Convolution((self.kernel_size, self.kernel_size))

    @property
    def feature_maps(self) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        """``(channels, height, width)`` of each convolution's output (before pooling)."""
        h, w, _ = self.image
        k = self.kernel_size
        c1, c2 = self.channels
        h1, w1 = h - k + 1, w - k + 1
        h2, w2 = h1 // 2 - k + 1, w1 // 2 - k + 1
        return (c1, h1, w1), (c2, h2, w2)

    @property
    def shapes(self) -> tuple[tuple[int, int], ...]:
        (c1, _, _), (c2, h2, w2) = self.feature_maps
        window = self.kernel_size**2
        return ((c1, self.image[2] * window), (c2, c1 * window),
                (self.classes, c2 * (h2 // 2) * (w2 // 2)))

    def images(self, x: Float[Array, "n pixels"]) -> Float[Array, "n C H W"]:
        """Flattened ``(height, width, channels)`` images as channel-first arrays."""
        return jnp.moveaxis(x.reshape(x.shape[0], *self.image), -1, 1)

    def convolve(self, x: Float[Array, "n C H W"], read) -> Float[Array, "n out H W"]:
        """One convolution: every patch of ``x`` read by ``read`` ``(m, C·k²) → (m, out)``."""
        patches, spatial = self.convolution.patches(x)
        y = read(patches[0]).reshape(x.shape[0], *spatial, -1)
        return jnp.moveaxis(y, -1, 1)

    @staticmethod
    def pool(x: Float[Array, "n C H W"]) -> Float[Array, "n C H/2 W/2"]:
        """2×2 average pooling (odd edges dropped)."""
        n, c, h, w = x.shape
        x = x[:, :, : h // 2 * 2, : w // 2 * 2]
        return x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


class SpikingTopologyNet(AbstractTopologyNet):
    """A fully connected LIF network on formed pairs; only the supermask scores train.

    Per step, each hidden layer: ``U ← U·(1 − s)`` (reset by subtraction to zero after a
    spike), ``U ← decay·U``, ``U += W x``, ``U ← LeakyReLU_leak(U)`` (as in the public
    PRIME code), ``s = H(U − θ)``. The output layer integrates its input and applies the
    same LeakyReLU at every step (no decay, no spike, no reset; as the public code's
    ``Output_Cell``), so its potential, and the confidence of the running prediction, grows
    with the evidence. The spike's surrogate gradient is rectangular, ``1{|u| < 0.5}``
    (``surrogate_width = 1``, the public code's ``lens = 0.5``). Inputs are rate-coded spike
    trains of ``steps`` steps.
    """

    architecture: aj.MLPArchitecture | SpikingConvArchitecture
    scores: tuple[Float[Array, "out in"], ...]
    keep: float = eqx.field(static=True, default=0.5)
    steps: int = eqx.field(static=True, default=10)
    threshold: float = eqx.field(static=True, default=0.5)
    conv_threshold: float = eqx.field(static=True, default=0.2)
    """Firing threshold of convolutional layers (PRIME: 0.2; fully connected 0.5)."""
    decay: float = eqx.field(static=True, default=0.2)
    leak: float = eqx.field(static=True, default=0.1)
    surrogate_width: float = eqx.field(static=True, default=1.0)

    def __check_init__(self):
        check_int("steps", self.steps, lower=1)
        check_range("threshold", self.threshold, lower=0.0, lower_open=True)
        check_range("conv_threshold", self.conv_threshold, lower=0.0, lower_open=True)
        check_range("decay", self.decay, lower=0.0, upper=1.0)
        check_range("leak", self.leak, lower=0.0, upper=1.0)
        check_range("surrogate_width", self.surrogate_width, lower=0.0, lower_open=True)
        if not isinstance(self.architecture, aj.MLPArchitecture | SpikingConvArchitecture):
            raise ValueError("SpikingTopologyNet needs an MLPArchitecture or a "
                             "SpikingConvArchitecture")

    @classmethod
    def init(cls, architecture: aj.MLPArchitecture | SpikingConvArchitecture, *,
             key: PRNGKeyArray, keep: float = 0.5, steps: int = 10, threshold: float = 0.5,
             conv_threshold: float = 0.2, decay: float = 0.2, leak: float = 0.1,
             surrogate_width: float = 1.0) -> SpikingTopologyNet:
        """Kaiming-uniform scores; the neuron and coding constants as in the class."""
        return cls(architecture, init_scores(architecture, key=key), keep, steps=steps,
                   threshold=threshold, conv_threshold=conv_threshold, decay=decay,
                   leak=leak, surrogate_width=surrogate_width)

    def _state_shapes(self, n: int) -> tuple[tuple[int, ...], ...]:
        """Membrane-potential shape of every layer for ``n`` examples."""
        if isinstance(self.architecture, SpikingConvArchitecture):
            maps = self.architecture.feature_maps
            return ((n, *maps[0]), (n, *maps[1]), (n, self.architecture.classes))
        return tuple((n, out) for out, _ in self.architecture.shapes)

    def _layer_input(self, i: int, x: Array, chip, key) -> Array:
        """Layer ``i``'s summed input from the spikes ``x`` of the layer below (images for
        the first)."""
        arch = self.architecture
        if not isinstance(arch, SpikingConvArchitecture):
            return chip(x, key=key)
        if i == 0:
            x = arch.images(x)
        if i < 2:
            return arch.convolve(x if i == 0 else arch.pool(x),
                                 lambda p: chip(p, key=key))
        return chip(arch.pool(x).reshape(x.shape[0], -1), key=key)

    def run(self, spikes_in: Float[Array, "T n in"], chip: tuple[aj.pruning.FormedLayer, ...],
            *, key: PRNGKeyArray) -> SpikeRun:
        """Run all steps on spike trains (every read with fresh read noise)."""
        layers = [layer.chip(s) for layer, s in zip(chip, self.scores, strict=True)]
        n = spikes_in.shape[1]
        dtype = layers[0].cells.g.dtype
        shapes = self._state_shapes(n)
        potentials = tuple(jnp.zeros(shape, dtype) for shape in shapes)
        fired = tuple(jnp.zeros(shape, dtype) for shape in shapes[:-1])
        conv = isinstance(self.architecture, SpikingConvArchitecture)

        def step(carry, inputs):
            potentials, fired = carry
            x, key = inputs
            keys = jr.split(key, len(layers))
            new_u, new_s, counts = [], [], []
            for i, (chip_i, u) in enumerate(zip(layers, potentials, strict=True)):
                counts.append(jnp.sum(x.reshape(n, -1), axis=-1))
                current = self._layer_input(i, x, chip_i, keys[i])
                if i < len(layers) - 1:
                    u = self.decay * u * (1 - fired[i])
                    u = jax.nn.leaky_relu(u + current, self.leak)
                    threshold = self.conv_threshold if conv else self.threshold
                    x = spike(u - threshold, self.surrogate_width)
                    new_s.append(x)
                else:
                    u = jax.nn.leaky_relu(u + current, self.leak)
                new_u.append(u)
            return (tuple(new_u), tuple(new_s)), (new_u[-1], jnp.stack(counts, -1))

        keys = jr.split(key, spikes_in.shape[0])
        _, (out, counts) = jax.lax.scan(step, (potentials, fired), (spikes_in, keys))
        return SpikeRun(out, counts)

    def __call__(self, x: Float[Array, "n in"], chip: tuple[aj.pruning.FormedLayer, ...], *,
                 key: PRNGKeyArray) -> Array:
        """Logits of intensities ``x`` in [0, 1]: the mean output potential over all steps
        of a rate-coded run."""
        k_code, k_read = jr.split(key)
        return jnp.mean(self.run(rate_code(x, self.steps, key=k_code), chip,
                                 key=k_read).potentials, axis=0)


class EarlyExit(eqx.Module):
    """Input-aware early exit of a spiking run."""

    prediction: Int[Array, " n"]
    """Class predicted at the exit step."""
    exit_step: Int[Array, " n"]
    """Steps used (1 … T): the first step whose running prediction is confident enough,
    else T."""
    confidence: Float[Array, " n"]


def early_exit(potentials: Float[Array, "T n classes"], *, threshold: float = 0.8,
               temperature: float = 2.0) -> EarlyExit:
    """Exit at the first step ``t`` where the top softmax probability of the running mean
    output ``mean(U_1..U_t) / temperature`` exceeds ``threshold`` (PRIME: 0.8 and 2)."""
    check_range("threshold", threshold, lower=0.0, upper=1.0)
    check_range("temperature", temperature, lower=0.0, lower_open=True)
    steps = potentials.shape[0]
    t = jnp.arange(1, steps + 1).reshape(-1, 1, 1)
    running = jnp.cumsum(potentials, axis=0) / t
    probability = jnp.max(jax.nn.softmax(running / temperature, axis=-1), axis=-1)
    confident = (probability > threshold).at[-1].set(True)
    index = jnp.argmax(confident, axis=0)
    n = jnp.arange(potentials.shape[1])
    return EarlyExit(jnp.argmax(running[index, n], axis=-1), index + 1, probability[index, n])
