"""Networks: one description (an architecture and its weights) and one programmed network
(the same architecture reading programmed crossbars), used by every recipe.

An architecture is written once against per-layer matrix products, so the same network runs
with digital weights (training), with programmed crossbars (a chip instance, clocked through
the DAC and ADC of every layer or read as unclocked analogue matrices by a closed loop) and
with formed random pairs under a supermask (topology pruning).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from ._crossbar import AnalogMatrices, Crossbar, ProgrammedCrossbar
from ._validation import check_key

MatMul = Callable[[Array], Array]
"""One layer's ``(n, in) → (n, out)`` product (digital or analogue), its bias included."""


# --- initialisers --------------------------------------------------------------------------


class AbstractInitialiser(eqx.Module):
    """How a ``(out, in)`` weight matrix (or an ``(out,)`` bias of a layer with ``fan_in``
    inputs) is drawn."""

    @abc.abstractmethod
    def __call__(self, key: PRNGKeyArray, shape: tuple[int, ...], fan_in: int,
                 dtype=jnp.float32) -> Array:
        ...


class HeNormal(AbstractInitialiser):
    """``N(0, 2/fan_in)`` (He et al., ICCV 2015): for ReLU networks."""

    def __call__(self, key, shape, fan_in, dtype=jnp.float32):
        return jr.normal(key, shape, dtype) * jnp.sqrt(2.0 / fan_in).astype(dtype)


class FanInUniform(AbstractInitialiser):
    """``U(−1/√fan_in, 1/√fan_in)``: PyTorch's ``nn.Linear`` default (``kaiming_uniform_``
    with ``a = √5``), used by the published score network and by edge-popup's scores."""

    def __call__(self, key, shape, fan_in, dtype=jnp.float32):
        bound = 1.0 / jnp.sqrt(fan_in)
        return jr.uniform(key, shape, dtype, -bound, bound)


# --- architectures -------------------------------------------------------------------------


class AbstractArchitecture(eqx.Module):
    """The computation of a network around its per-layer matrix products."""

    @property
    @abc.abstractmethod
    def has_biases(self) -> bool:
        """Whether every layer adds a bias."""

    @property
    @abc.abstractmethod
    def shapes(self) -> tuple[tuple[int, int], ...]:
        """``(out, in)`` of every weight matrix."""

    @abc.abstractmethod
    def __call__(self, x: Array, layers: Sequence[MatMul], *,
                 drive: Array | None = None) -> Array:
        """The network's output for inputs ``x`` with ``layers[l]`` as layer ``l``'s product
        and ``drive`` added to every hidden pre-activation."""


def _relu(x):
    return jax.nn.relu(x)


class MLPArchitecture(AbstractArchitecture):
    """Fully connected layers ``sizes[0] → … → sizes[-1]``, ``activation`` after every
    hidden layer (the output is the last product); inputs ``(..., sizes[0])``."""

    sizes: tuple[int, ...] = eqx.field(static=True)
    bias: bool = eqx.field(default=False, static=True)
    """Whether every layer has a bias."""
    activation: Callable[[Array], Array] = eqx.field(default=_relu, static=True)
    """Hidden activation (ReLU; a module-level function, so that jit caches it)."""

    def __check_init__(self):
        if len(self.sizes) < 2 or any(int(s) < 1 for s in self.sizes):
            raise ValueError(f"sizes must list >= 2 positive layer widths; got {self.sizes}")

    @property
    def has_biases(self):
        return self.bias

    @property
    def shapes(self):
        return tuple(zip(self.sizes[1:], self.sizes[:-1], strict=True))

    def activations(self, x: Array, layers: Sequence[MatMul], *, drive: Array | None = None
                    ) -> tuple[tuple[Array, ...], Array]:
        """Every hidden activation and the output."""
        hidden = []
        for i, layer in enumerate(layers):
            x = layer(x)
            if i < len(layers) - 1:
                x = self.activation(x if drive is None else x + drive)
                hidden.append(x)
        return tuple(hidden), x

    def __call__(self, x, layers, *, drive=None):
        return self.activations(x, layers, drive=drive)[1]


class ConvArchitecture(AbstractArchitecture):
    """A small CNN: two 3×3 'same' convolutions (ReLU, 2×2 max-pool each) and a linear
    read-out, without biases — the published FashionMNIST topology-pruning network scaled
    to small images. Each convolution is one matrix product over image patches (im2col:
    one crossbar read per patch). Inputs ``(n, pixels)``."""

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
    def has_biases(self):
        return False

    @property
    def shapes(self):
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

    def __call__(self, x, layers, *, drive=None):
        if drive is not None:
            raise ValueError("ConvArchitecture takes no drive")
        x = x.reshape(x.shape[0], *self.image)
        x = self._conv_pool(self._conv_pool(x, layers[0]), layers[1])
        return layers[2](x.reshape(x.shape[0], -1))


# --- networks ------------------------------------------------------------------------------


class Network(eqx.Module):
    """A network description: an architecture with digital weights ``(out, in)`` and, when
    the architecture has them, biases ``(out,)``."""

    architecture: AbstractArchitecture
    weights: tuple[Float[Array, "out in"], ...]
    biases: tuple[Float[Array, " out"], ...] | None = None

    def __check_init__(self):
        shapes = self.architecture.shapes
        got = tuple(tuple(jnp.shape(w)) for w in self.weights)
        if got != shapes:
            raise ValueError(f"weights must have shapes {shapes} for this architecture; got "
                             f"{got}")
        if self.architecture.has_biases != (self.biases is not None):
            raise ValueError("biases must be given exactly when the architecture has them "
                             f"(has_biases={self.architecture.has_biases})")
        if self.biases is not None:
            got = tuple(tuple(jnp.shape(b)) for b in self.biases)
            if got != tuple((o,) for o, _ in shapes):
                raise ValueError(f"biases must have shapes {tuple((o,) for o, _ in shapes)}; "
                                 f"got {got}")

    @classmethod
    def init(cls, architecture: AbstractArchitecture, *, key: PRNGKeyArray,
             initialiser: AbstractInitialiser | None = None) -> Network:
        """Weights from ``initialiser`` (default :class:`HeNormal`), zero biases."""
        check_key("key", key)
        initialiser = HeNormal() if initialiser is None else initialiser
        keys = jr.split(key, len(architecture.shapes))
        weights = tuple(initialiser(k, s, s[1]) for k, s in
                        zip(keys, architecture.shapes, strict=True))
        biases = tuple(jnp.zeros(o) for o, _ in architecture.shapes) \
            if architecture.has_biases else None
        return cls(architecture, weights, biases)

    def _layers(self) -> list[MatMul]:
        biases = self.biases if self.biases is not None else (None,) * len(self.weights)
        return [lambda a, w=w, b=b: a @ w.T if b is None else a @ w.T + b
                for w, b in zip(self.weights, biases, strict=True)]

    def __call__(self, x: Float[ArrayLike, "... in"], *, drive: Array | None = None) -> Array:
        """The digital network (``drive`` added to every hidden pre-activation)."""
        return self.architecture(jnp.asarray(x), self._layers(), drive=drive)

    def activations(self, x: Array, *, drive: Array | None = None
                    ) -> tuple[tuple[Array, ...], Array]:
        """Hidden activations and output (fully connected architectures)."""
        if not isinstance(self.architecture, MLPArchitecture):
            raise TypeError("activations needs an MLPArchitecture")
        return self.architecture.activations(jnp.asarray(x), self._layers(), drive=drive)

    def program(self, crossbar: Crossbar, *, key: PRNGKeyArray | None,
                bias_on_chip: bool = False) -> ProgrammedNetwork:
        """Program every layer onto ``crossbar`` arrays: one chip instance. Biases stay
        digital (as on clocked chips), or with ``bias_on_chip`` are one more word line per
        layer driven at one unit (as an unclocked analogue network needs)."""
        if bias_on_chip and self.biases is None:
            raise ValueError("bias_on_chip needs an architecture with biases")
        check_key("key", key, required=False)
        keys = [None] * len(self.weights) if key is None else list(
            jr.split(key, len(self.weights)))
        matrices = self.weights if not bias_on_chip else tuple(
            jnp.concatenate([w, b[:, None]], axis=1)
            for w, b in zip(self.weights, self.biases, strict=True))
        chips = tuple(crossbar.program(w, key=k) for w, k in zip(matrices, keys, strict=True))
        return ProgrammedNetwork(self.architecture, chips,
                                 None if bias_on_chip else self.biases, bias_on_chip)


class ProgrammedNetwork(eqx.Module):
    """A :class:`Network` programmed onto crossbars: a chip instance (a pytree; ``vmap`` over
    programming keys for Monte Carlo chips). Call it for clocked reads (DAC and ADC at every
    layer); a closed loop reads :meth:`matrices` as unclocked analogue hardware."""

    architecture: AbstractArchitecture
    chips: tuple[ProgrammedCrossbar, ...]
    biases: tuple[Float[Array, " out"], ...] | None = None
    """Digital biases (None when there are none or they are on the chips)."""
    bias_on_chip: bool = eqx.field(default=False, static=True)
    """Every chip's last word line holds its layer's bias, driven at one unit."""

    def __call__(self, x: Float[ArrayLike, "... in"], *, key: PRNGKeyArray | None,
                 t: float | ArrayLike | None = None, drive: Array | None = None) -> Array:
        """Read the chip ``t`` seconds after programming (fresh read noise from ``key``;
        None for noise-free devices)."""
        check_key("key", key, required=False)
        keys = [None] * len(self.chips) if key is None else list(jr.split(key, len(self.chips)))
        biases = self.biases if self.biases is not None else (None,) * len(self.chips)

        def layer(a, chip, b, k):
            if self.bias_on_chip:
                a = jnp.concatenate([a, jnp.ones((*a.shape[:-1], 1), a.dtype)], axis=-1)
            y = chip(a, key=k, t=t)
            return y if b is None else y + b

        layers = [lambda a, c=c, b=b, k=k: layer(a, c, b, k)
                  for c, b, k in zip(self.chips, biases, keys, strict=True)]
        return self.architecture(jnp.asarray(x), layers, drive=drive)

    @property
    def in_features(self) -> int:
        """Inputs of the first layer (a bias line excluded)."""
        return self.chips[0].in_features - int(self.bias_on_chip)

    @property
    def out_features(self) -> int:
        return self.chips[-1].out_features

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return tuple(chip.out_features for chip in self.chips[:-1])

    def matrices(self, t: float | ArrayLike | None = None) -> tuple[AnalogMatrices, ...]:
        """Every layer in weight units at ``t`` seconds after programming (drift)."""
        return tuple(chip.analog(t) for chip in self.chips)
