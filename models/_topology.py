"""Networks with a learned topology on random resistive memory (arXiv 2311.07164), and
the baseline: the same architectures (``analogjax.MLPArchitecture``,
``analogjax.ConvArchitecture``) as an ``analogjax.Network`` trained conventionally and
programmed onto noisy devices."""

from __future__ import annotations

import abc
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import optax
from jaxtyping import Array, Float, Int, PRNGKeyArray

import analogjax as aj
from analogjax.internal import check_int

from ._fit import fit

Architecture = aj.MLPArchitecture | aj.ConvArchitecture


def init_scores(architecture: Architecture, *, key: PRNGKeyArray
                ) -> tuple[Float[Array, "out in"], ...]:
    """Kaiming-uniform supermask scores for every layer of ``architecture``."""
    if architecture.has_biases:
        raise ValueError("a topology network has no biases: use an architecture with "
                         "bias=False")
    keys = jr.split(key, len(architecture.shapes))
    return tuple(aj.pruning.init_scores(k, *s) for k, s in
                 zip(keys, architecture.shapes, strict=True))


class AbstractTopologyNet(eqx.Module):
    """An architecture on formed random pairs whose only trainable parameters are the
    supermask scores. The hardware (a tuple of :class:`analogjax.pruning.FormedLayer`, one
    per layer) is passed to every call, so one set of scores can be trained for or
    evaluated on any chip (:func:`train_topology`)."""

    architecture: eqx.AbstractVar[Architecture]
    scores: eqx.AbstractVar[tuple[Float[Array, "out in"], ...]]
    keep: eqx.AbstractVar[float]

    @abc.abstractmethod
    def __call__(self, x: Float[Array, "n in"], chip: tuple[aj.pruning.FormedLayer, ...], *,
                 key: PRNGKeyArray) -> Array:
        """Logits of ``x`` read from ``chip`` (fresh read noise); gradients flow straight
        through to the scores."""

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

    def masks(self) -> tuple[Array, ...]:
        """The topology these scores select (True = kept)."""
        return tuple(aj.pruning.supermask(s, self.keep) > 0.5 for s in self.scores)


class TopologyNet(AbstractTopologyNet):
    """The architecture's products read from the formed pairs kept by the supermask."""

    architecture: Architecture
    scores: tuple[Float[Array, "out in"], ...]
    keep: float = eqx.field(static=True, default=0.5)

    @classmethod
    def init(cls, architecture: Architecture, *, key: PRNGKeyArray,
             keep: float = 0.5) -> TopologyNet:
        """Kaiming-uniform scores (:func:`init_scores`)."""
        return cls(architecture, init_scores(architecture, key=key), keep)

    def __call__(self, x, chip, *, key):
        keys = jr.split(key, len(chip))
        return self.architecture(x, [
            lambda a, layer=layer, s=s, k=k: layer(a, key=k, scores=s)
            for layer, s, k in zip(chip, self.scores, keys, strict=True)])


def _cross_entropy(logits: Array, labels: Array) -> Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


class TopologyTraining(eqx.Module):
    """Result of :func:`train_topology`."""

    net: AbstractTopologyNet
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
    net: AbstractTopologyNet,
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
    loss: Callable[[AbstractTopologyNet, tuple, Array, Array, PRNGKeyArray], Array] | None = None,
) -> TopologyTraining:
    """Train the topology of one chip; the straight-through gradient of each read (fresh
    read noise) updates the scores: :func:`fit` with the chip as its carry (one
    ``lax.scan``); ``vmap`` over chips for Monte Carlo.

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

    def step_loss(params, chip, key):
        """One step's loss; the write (in situ) and the topology read are not
        differentiated (straight-through gradients come from the read itself)."""
        k_write, k_batch, k_read = jr.split(key, 3)
        fixed = eqx.combine(jax.lax.stop_gradient(params), static)
        if in_situ:
            chip, flips = fixed.program(chip, key=k_write, max_flips=max_flips,
                                        write_noise=write_noise)
            read_chip = chip
        else:
            read_chip = tuple(layer.with_topology(s) for layer, s in
                              zip(chip, fixed.scores, strict=True))
            flips = jnp.zeros((), jnp.int32)
        idx = jr.choice(k_batch, x.shape[0], (batch_size,), replace=False)
        value = loss(eqx.combine(params, static), read_chip, x[idx], y[idx], k_read)
        return value, (chip, flips)

    @jax.jit
    def run(params, chip, key):
        params, losses, chip, flips = fit(step_loss, params, optimiser, key=key, steps=steps,
                                          carry=chip)
        model = eqx.combine(params, static)
        chip, last = model.program(chip, key=jr.fold_in(key, steps),
                                   max_flips=max_flips if in_situ else None,
                                   write_noise=write_noise)
        return model, chip, losses, jnp.append(flips, last)

    model, chip, losses, flips = run(params, chip, key)
    return TopologyTraining(model, chip, losses, flips)
