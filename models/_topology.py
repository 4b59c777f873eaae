"""Networks with a learned topology on random resistive memory, and the baseline: the same
networks trained conventionally and programmed onto noisy devices.

An architecture is written once against per-layer matrix products, so the same network runs
with digital weights (training the baseline), with programmed crossbars (the deployed
baseline) and with formed random pairs under a supermask (topology pruning,
arXiv 2311.07164).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import optax
from jaxtyping import Array, Float, Int, PRNGKeyArray

import analogjax as aj
from analogjax.internal import check_int

from ._classifier import train_classifier

MatMul = Callable[[Array], Array]
"""One layer's ``(n, in) → (n, out)`` matrix product (digital or analogue)."""


class MLPArchitecture(eqx.Module):
    """Fully connected ReLU network without biases (the logits are the last product)."""

    sizes: tuple[int, ...] = eqx.field(static=True)

    def __check_init__(self):
        if len(self.sizes) < 2 or any(int(s) < 1 for s in self.sizes):
            raise ValueError(f"sizes must list >= 2 positive layer widths; got {self.sizes}")

    @property
    def shapes(self) -> tuple[tuple[int, int], ...]:
        """``(out, in)`` of every weight matrix."""
        return tuple(zip(self.sizes[1:], self.sizes[:-1], strict=True))

    def __call__(self, x: Float[Array, "n in"], layers: Sequence[MatMul]) -> Array:
        for i, layer in enumerate(layers):
            x = layer(x)
            if i < len(layers) - 1:
                x = jax.nn.relu(x)
        return x


class ConvArchitecture(eqx.Module):
    """A small CNN: two 3×3 'same' convolutions (ReLU, 2×2 max-pool each) and a linear
    read-out, without biases — the published FashionMNIST topology-pruning network scaled
    to small images. Each convolution is one matrix product over image patches (im2col:
    one crossbar read per patch)."""

    image: tuple[int, int, int] = eqx.field(static=True)
    """Height, width, channels of the input images (height and width divisible by 4)."""
    channels: tuple[int, int] = eqx.field(static=True, default=(16, 32))
    classes: int = eqx.field(static=True, default=10)

    def __check_init__(self):
        h, w, c = self.image
        if h % 4 or w % 4 or min(h, w, c) < 1:
            raise ValueError(f"image must be (height, width, channels) with height and width "
                             f"divisible by 4; got {self.image}")

    @property
    def shapes(self) -> tuple[tuple[int, int], ...]:
        h, w, c = self.image
        c1, c2 = self.channels
        return ((c1, 9 * c), (c2, 9 * c1), (self.classes, c2 * (h // 4) * (w // 4)))

    @staticmethod
    def _conv_pool(x: Array, layer: MatMul) -> Array:
        patches = jax.lax.conv_general_dilated_patches(
            x, (3, 3), (1, 1), "SAME", dimension_numbers=("NHWC", "OIHW", "NHWC"))
        n, h, w, f = patches.shape
        y = jax.nn.relu(layer(patches.reshape(n * h * w, f))).reshape(n, h, w, -1)
        return y.reshape(n, h // 2, 2, w // 2, 2, -1).max(axis=(2, 4))

    def __call__(self, x: Float[Array, "n pixels"], layers: Sequence[MatMul]) -> Array:
        x = x.reshape(x.shape[0], *self.image)
        x = self._conv_pool(self._conv_pool(x, layers[0]), layers[1])
        return layers[2](x.reshape(x.shape[0], -1))


Architecture = MLPArchitecture | ConvArchitecture


class DenseNet(eqx.Module):
    """An architecture with trained (digital) weights: the conventional baseline."""

    architecture: Architecture
    weights: tuple[Float[Array, "out in"], ...]

    @classmethod
    def init(cls, architecture: Architecture, *, key: PRNGKeyArray) -> DenseNet:
        """He-normal weights."""
        keys = jr.split(key, len(architecture.shapes))
        return cls(architecture, tuple(jr.normal(k, s) * jnp.sqrt(2.0 / s[1])
                                       for k, s in zip(keys, architecture.shapes, strict=True)))

    def __call__(self, x: Float[Array, "n in"]) -> Array:
        return self.architecture(x, [lambda a, w=w: a @ w.T for w in self.weights])

    def program(self, crossbar: aj.Crossbar, *, key: PRNGKeyArray) -> ProgrammedNet:
        """Program every layer onto ``crossbar`` arrays (one chip instance)."""
        keys = jr.split(key, len(self.weights))
        return ProgrammedNet(self.architecture, tuple(
            crossbar.program(w, key=k) for w, k in zip(self.weights, keys, strict=True)))


class ProgrammedNet(eqx.Module):
    """A :class:`DenseNet` programmed onto crossbars."""

    architecture: Architecture
    chips: tuple[aj.ProgrammedCrossbar, ...]

    def __call__(self, x: Float[Array, "n in"], *, key: PRNGKeyArray) -> Array:
        keys = jr.split(key, len(self.chips))
        return self.architecture(x, [lambda a, c=c, k=k: c(a, key=k)
                                     for c, k in zip(self.chips, keys, strict=True)])


class TopologyNet(eqx.Module):
    """An architecture on formed random pairs whose only trainable parameters are the
    supermask scores. The hardware (a tuple of :class:`analogjax.pruning.FormedLayer`, one
    per layer) is passed to every call, so one set of scores can be trained for or
    evaluated on any chip."""

    architecture: Architecture
    scores: tuple[Float[Array, "out in"], ...]
    keep: float = eqx.field(static=True, default=0.5)

    @classmethod
    def init(cls, architecture: Architecture, *, key: PRNGKeyArray,
             keep: float = 0.5) -> TopologyNet:
        """Kaiming-uniform scores."""
        keys = jr.split(key, len(architecture.shapes))
        return cls(architecture, tuple(aj.pruning.init_scores(k, *s) for k, s in
                                       zip(keys, architecture.shapes, strict=True)), keep)

    def form(self, crossbar: aj.Crossbar, *, key: PRNGKeyArray
             ) -> tuple[aj.pruning.FormedLayer, ...]:
        """Electroform one chip for this network (every pair SET)."""
        keys = jr.split(key, len(self.scores))
        return tuple(aj.pruning.FormedLayer.form(crossbar, *s.shape, key=k, keep=self.keep)
                     for s, k in zip(self.scores, keys, strict=True))

    def program(self, chip: tuple[aj.pruning.FormedLayer, ...], *, key: PRNGKeyArray,
                max_flips: int | None = None, write_noise: float = 0.0015):
        """Write this topology onto ``chip``; returns the chip and the pairs flipped."""
        keys = jr.split(key, len(chip))
        out = [layer.program(s, key=k, max_flips=max_flips, write_noise=write_noise)
               for layer, s, k in zip(chip, self.scores, keys, strict=True)]
        return tuple(layer for layer, _ in out), sum(flips for _, flips in out)

    def __call__(self, x: Float[Array, "n in"], chip: tuple[aj.pruning.FormedLayer, ...], *,
                 key: PRNGKeyArray) -> Array:
        """Read the chip (its programmed topology, fresh read noise); gradients flow
        straight through to the scores."""
        keys = jr.split(key, len(chip))
        return self.architecture(x, [
            lambda a, layer=layer, s=s, k=k: layer(a, key=k, scores=s)
            for layer, s, k in zip(chip, self.scores, keys, strict=True)])

    def masks(self) -> tuple[Array, ...]:
        """The topology these scores select (True = kept)."""
        return tuple(aj.pruning.supermask(s, self.keep) > 0.5 for s in self.scores)


def _cross_entropy(logits: Array, labels: Array) -> Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def train_dense(net: DenseNet, x: Float[Array, "n in"], y: Int[Array, " n"], *,
                key: PRNGKeyArray, steps: int = 1000, batch_size: int = 64,
                optimiser: optax.GradientTransformation | None = None,
                weight_noise: aj.WeightNoise | None = None) -> tuple[DenseNet, Array]:
    """Training of the baseline (:func:`train_classifier`: default Adam 3e-3,
    cross-entropy, one ``lax.scan``); conventional unless ``weight_noise`` is given.
    Returns the network and the loss per step."""
    return train_classifier(net, x, y, key=key, steps=steps, batch_size=batch_size,
                            optimiser=optimiser, weight_noise=weight_noise)


class TopologyTraining(eqx.Module):
    """Result of :func:`train_topology`."""

    net: TopologyNet
    chip: tuple[aj.pruning.FormedLayer, ...]
    """The chip with the final topology written."""
    losses: Float[Array, " steps"]
    flips: Int[Array, " steps+1"]
    """Pairs flipped by the write before each step (zero unless in situ) and by the final
    write; program operations are ``2·flips`` (both cells of a pair)."""


def sgd_cosine(learning_rate: float, steps: int, momentum: float = 0.9,
               weight_decay: float = 5e-4) -> optax.GradientTransformation:
    """The published optimiser of topology pruning: SGD with momentum, weight decay and a
    cosine learning-rate schedule."""
    return optax.chain(optax.add_decayed_weights(weight_decay),
                       optax.sgd(optax.cosine_decay_schedule(learning_rate, steps), momentum))


def train_topology(
    net: TopologyNet,
    chip: tuple[aj.pruning.FormedLayer, ...],
    x: Float[Array, "n in"],
    y: Int[Array, " n"],
    *,
    key: PRNGKeyArray,
    steps: int = 1000,
    batch_size: int = 64,
    optimiser: optax.GradientTransformation | None = None,
    in_situ: bool = False,
    max_flips: int | None = None,
    write_noise: float = 0.0015,
    loss: Callable[[TopologyNet, tuple, Array, Array, PRNGKeyArray], Array] | None = None,
) -> TopologyTraining:
    """Train the topology of one chip; the straight-through gradient of each read (fresh
    read noise) updates the scores. One ``lax.scan``; ``vmap`` over chips for Monte Carlo.

    ``in_situ=False`` (the default): train on the chip's conductances as measured after
    forming and write the final topology once. ``in_situ=True``: write the scores'
    topology at every step (at most ``max_flips`` pairs per layer, the reprogramming
    limiter) and read the chip as written; every flip is counted. Writes land with
    relative error ``write_noise``.

    ``optimiser`` defaults to :func:`sgd_cosine` (0.1, momentum 0.9, weight decay 5e-4);
    ``loss(net, chip, x_batch, y_batch, key)`` to the cross-entropy of ``net(x, chip)``.
    """
    check_int("steps", steps, lower=1)
    check_int("batch_size", batch_size, lower=1, upper=x.shape[0])
    x, y = jnp.asarray(x), jnp.asarray(y)
    optimiser = sgd_cosine(0.1, steps) if optimiser is None else optimiser
    if loss is None:
        def loss(net, chip, xb, yb, key):
            return _cross_entropy(net(xb, chip, key=key), yb)
    params, static = eqx.partition(net, eqx.is_inexact_array)

    def step(carry, key):
        params, state, chip = carry
        k_write, k_batch, k_read = jr.split(key, 3)
        model = eqx.combine(params, static)
        if in_situ:
            chip, flips = model.program(chip, key=k_write, max_flips=max_flips,
                                        write_noise=write_noise)
            read_chip = chip
        else:
            read_chip = tuple(layer.with_topology(s) for layer, s in
                              zip(chip, model.scores, strict=True))
            flips = jnp.zeros((), jnp.int32)
        idx = jr.choice(k_batch, x.shape[0], (batch_size,), replace=False)
        value, grads = jax.value_and_grad(
            lambda p: loss(eqx.combine(p, static), read_chip, x[idx], y[idx], k_read))(params)
        updates, state = optimiser.update(grads, state, params)
        return (optax.apply_updates(params, updates), state, chip), (value, flips)

    @jax.jit
    def run(params, chip, key):
        (params, _, chip), (losses, flips) = jax.lax.scan(
            step, (params, optimiser.init(params), chip), jr.split(key, steps))
        model = eqx.combine(params, static)
        chip, last = model.program(chip, key=jr.fold_in(key, steps),
                                   max_flips=max_flips if in_situ else None,
                                   write_noise=write_noise)
        return model, chip, losses, jnp.append(flips, last)

    model, chip, losses, flips = run(params, chip, key)
    return TopologyTraining(model, chip, losses, flips)
