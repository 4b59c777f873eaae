"""The score network of the resistive-memory diffusion solver (../shared/RESEARCH.md §1,
arXiv 2404.05648), its noise-aware training, and its deployment on the analogue sampler."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import optax
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

import analogjax as aj
from analogjax import solvers
from analogjax.internal import check_int, check_key, check_range

from ._fit import fit

NULL_LABEL = -1
"""The label of the unconditional (classifier-free) embedding."""


def ring_samples(n: int, *, key: PRNGKeyArray, radius: float = 0.7,
                 radius_std: float = 0.04) -> Float[Array, "n 2"]:
    """The unconditional task: radius ``N(radius, radius_std²)``, angle ``U(0, 2π)``."""
    check_int("n", n, lower=1)
    check_key("key", key)
    k_r, k_a = jr.split(key)
    r = radius + radius_std * jr.normal(k_r, (n,))
    a = jr.uniform(k_a, (n,), maxval=2 * jnp.pi)
    return jnp.stack([r * jnp.cos(a), r * jnp.sin(a)], axis=-1)


def _gelu(x):
    return jax.nn.gelu(x, approximate=False)


class ScoreNet(eqx.Module):
    """An ``analogjax.Network`` ``d → h → h → d`` (ReLU, biases) whose output ``f`` gives the
    score ``output_scale·f``:

        h1 = ReLU(W1·x + b1 + e(t) + c),  h2 = ReLU(W2·h1 + b2 + e(t) + c),  f = W3·h2 + b3,

    with ``e(t) = [sin(2π·w·t), cos(2π·w·t)]`` for ``h/2`` fixed frequencies ``w ~ N(0, 1)``
    and, for conditional models, the class embedding ``c = Linear(K, h)–GELU–Linear(h, h)``
    (a second network) of the one-hot label (all zeros for ``NULL_LABEL``, the unconditional
    embedding of classifier-free guidance). In hardware W1–W3 (biases as an extra word line)
    are the crossbars; ``e(t) + c`` is a DAC drive. Initialised as the published PyTorch code
    (:class:`analogjax.FanInUniform` weights and biases)."""

    network: aj.Network
    """The score network proper (programmed onto the crossbars)."""
    frequencies: Float[Array, " half"]
    """Fixed time-embedding frequencies (not trained)."""
    class_network: aj.Network | None
    """The class embedding (digital), or None for an unconditional model."""
    output_scale: float = eqx.field(default=5.0, static=True)

    def __init__(self, data_dim: int = 2, hidden: int = 14, n_classes: int = 0, *,
                 key: PRNGKeyArray, output_scale: float = 5.0):
        check_int("data_dim", data_dim, lower=1)
        check_int("hidden", hidden, lower=2)
        check_int("n_classes", n_classes, lower=0)
        if hidden % 2:
            raise ValueError(f"hidden must be even (sin and cos embeddings); got {hidden}")
        check_range("output_scale", output_scale, lower=0.0, lower_open=True)
        check_key("key", key)
        keys = jr.split(key, 6)
        init = aj.FanInUniform()

        def network(layer_keys, sizes, activation=None):
            architecture = aj.MLPArchitecture(sizes, bias=True)  # ReLU
            if activation is not None:
                architecture = aj.MLPArchitecture(sizes, bias=True, activation=activation)
            pairs = [jr.split(k) for k in layer_keys]
            return aj.Network(
                architecture,
                tuple(init(kw, s, s[1]) for (kw, _), s in zip(pairs, architecture.shapes,
                                                              strict=True)),
                tuple(init(kb, (s[0],), s[1]) for (_, kb), s in zip(pairs, architecture.shapes,
                                                                    strict=True)))

        self.network = network(keys[:3], (data_dim, hidden, hidden, data_dim))
        self.frequencies = jr.normal(keys[3], (hidden // 2,))
        self.class_network = (network(keys[4:6], (n_classes, hidden, hidden),
                                      _gelu)
                              if n_classes else None)
        self.output_scale = float(output_scale)

    @property
    def data_dim(self) -> int:
        return self.network.weights[0].shape[1]

    @property
    def hidden(self) -> int:
        return self.network.weights[0].shape[0]

    @property
    def n_classes(self) -> int:
        return 0 if self.class_network is None else self.class_network.weights[0].shape[1]

    def embedding(self, t: Float[ArrayLike, ""], label: Int[ArrayLike, ""] | None = None
                  ) -> Float[Array, " h"]:
        """The drive ``e(t) + c(label)`` at diffusion time ``t``."""
        phase = 2 * jnp.pi * jax.lax.stop_gradient(self.frequencies) * t
        e = jnp.concatenate([jnp.sin(phase), jnp.cos(phase)])
        if self.class_network is None:
            return e
        label = NULL_LABEL if label is None else label
        return e + self.class_network(jax.nn.one_hot(label, self.n_classes))

    def hidden_and_output(self, x: Float[Array, " d"], t, label=None):
        """Both hidden activations and the output ``f`` (one sample)."""
        return self.network.activations(x, drive=self.embedding(t, label))

    def __call__(self, x: Float[Array, " d"], t, label=None) -> Float[Array, " d"]:
        """The network output ``f(x, t)`` (the score is ``output_scale·f``)."""
        return self.network(x, drive=self.embedding(t, label))

    def score(self, x, t, label=None):
        return self.output_scale * self(x, t, label)

    def guided(self, label: int | None = None, guidance: float = 0.0
               ) -> tuple[aj.Network, Callable[[Array], Array]]:
        """The network the hardware holds for ``label`` with classifier-free guidance
        ``w``, and its drive ``d(t)``: a network whose output is
        ``(1 + w)·f(x, t, label) − w·f(x, t, ∅)``. With ``w ≠ 0`` it is two copies of the
        network side by side (W1 stacked, W2 block-diagonal, W3 as ``[(1+w)·W3, −w·W3]``)
        with the class and the null embedding as their drives: one loop evaluates both."""
        check_range("guidance", guidance, lower=0.0)
        if label is not None and not self.n_classes:
            raise ValueError("label given to an unconditional ScoreNet")
        if guidance == 0.0 or not self.n_classes:
            return self.network, lambda t: self.embedding(t, label)
        (w1, w2, w3), (b1, b2, b3) = self.network.weights, self.network.biases
        zero = jnp.zeros_like(w2)
        weights = (jnp.concatenate([w1, w1]),
                   jnp.block([[w2, zero], [zero, w2]]),
                   jnp.concatenate([(1 + guidance) * w3, -guidance * w3], axis=1))
        biases = (jnp.concatenate([b1, b1]), jnp.concatenate([b2, b2]), b3)
        d, h = self.data_dim, self.hidden
        network = aj.Network(aj.MLPArchitecture((d, 2 * h, 2 * h, d), bias=True),
                             weights, biases)

        def drive(t):
            return jnp.concatenate([self.embedding(t, label), self.embedding(t, NULL_LABEL)])

        return network, drive

    def digital_sampler(self, reverse: solvers.ReverseDiffusion | None = None,
                        label: int | None = None, guidance: float = 0.0
                        ) -> solvers.DigitalSampler:
        """The software baseline (Euler–Maruyama) for this network."""
        network, drive = self.guided(label, guidance)
        reverse = self.reverse() if reverse is None else reverse
        return solvers.DigitalSampler(reverse, lambda x, t: network(x, drive=drive(t)),
                                      self.data_dim)

    def analog_sampler(self, crossbar: aj.Crossbar, *, key: PRNGKeyArray,
                       reverse: solvers.ReverseDiffusion | None = None,
                       label: int | None = None, guidance: float = 0.0,
                       circuit: solvers.LoopCircuit | None = None,
                       noise_gain: float | Array = 1.0,
                       schedule_updates: int | None = None,
                       schedule_dac: aj.DAC | None = None) -> solvers.AnalogSampler:
        """Program the (guided) network onto ``crossbar`` arrays (one chip, from ``key``)
        and return its analogue sampler (``circuit``, ``noise_gain`` and the schedule DAC
        as in ``solvers.AnalogSampler``)."""
        network, drive = self.guided(label, guidance)
        chip = network.program(crossbar, key=key, bias_on_chip=True)
        reverse = self.reverse() if reverse is None else reverse
        return solvers.AnalogSampler(
            reverse, chip, drive, solvers.LoopCircuit() if circuit is None else circuit,
            noise_gain=noise_gain, schedule_updates=schedule_updates, schedule_dac=schedule_dac)

    def reverse(self, *, beta_scale: float | Array = 1.0, t_end: float = 1e-4,
                probability_flow: bool = False) -> solvers.ReverseDiffusion:
        """The reverse process with this network's output scale (``solvers.VPSDE``
        defaults; the other options as in ``solvers.ReverseDiffusion``)."""
        return solvers.ReverseDiffusion(beta_scale=beta_scale, t_end=t_end,
                                        score_scale=self.output_scale,
                                        probability_flow=probability_flow)

    def save(self, path: str | Path) -> None:
        """Save hyperparameters (a JSON line) and arrays (equinox leaf serialisation)."""
        header = {"data_dim": self.data_dim, "hidden": self.hidden,
                  "n_classes": self.n_classes, "output_scale": self.output_scale}
        with open(path, "wb") as f:
            f.write((json.dumps(header) + "\n").encode())
            eqx.tree_serialise_leaves(f, self)

    @classmethod
    def load(cls, path: str | Path) -> ScoreNet:
        """Load a network written by ``save``."""
        with open(path, "rb") as f:
            header = json.loads(f.readline().decode())
            like = cls(**header, key=jr.key(0))
            return eqx.tree_deserialise_leaves(f, like)


def score_optimiser(learning_rate: float = 2e-4, weight_decay: float = 3e-5,
                    clip_norm: float = 0.1) -> optax.GradientTransformation:
    """The published optimiser of the diffusion score network (arXiv 2404.05648): AdamW
    after global-norm gradient clipping."""
    return optax.chain(optax.clip_by_global_norm(clip_norm),
                       optax.adamw(learning_rate, weight_decay=weight_decay))


def train_score_net(
    net: ScoreNet,
    data: Float[ArrayLike, "n d"],
    labels: Int[ArrayLike, " n"] | None = None,
    *,
    key: PRNGKeyArray,
    steps: int = 20_000,
    batch_size: int = 512,
    optimiser: optax.GradientTransformation | None = None,
    ema: float = 0.95,
    weight_noise: aj.WeightNoise | None = aj.WeightNoise(std=0.1, clip=0.2),
    sde: solvers.VPSDE | None = None,
    headroom: float = 1.5,
    headroom_penalty: float = 1e-7,
    label_drop: float = 0.1,
) -> tuple[ScoreNet, Array]:
    """Denoising score matching with the noise-aware recipe of arXiv 2404.05648: loss
    ``mean((s·std + z)²) + α·Σ relu(h − headroom)`` over hidden activations ``h`` (op-amp
    headroom; the published code's threshold penalty written as a hinge so that it has a
    gradient), ``t ~ U(0, 1)``; ``optimiser`` (default :func:`score_optimiser`: AdamW after
    global-norm clipping) through :func:`fit`, EMA of the parameters; every weight and bias
    of W1–W3 perturbed by ``weight_noise`` per step (the published σ 0.1 capped at 0.2; None
    for none); labels replaced by ``NULL_LABEL`` with probability ``label_drop``
    (classifier-free guidance). Returns the EMA network and the loss per step."""
    check_key("key", key)
    check_int("steps", steps, lower=1)
    data = jnp.asarray(data)
    check_int("batch_size", batch_size, lower=1, upper=data.shape[0])
    if data.ndim != 2 or data.shape[1] != net.data_dim:
        raise ValueError(f"data must have shape (n, {net.data_dim}); got {data.shape}")
    conditional = net.n_classes > 0
    if conditional != (labels is not None):
        raise ValueError("labels are required for (and only for) a conditional ScoreNet")
    labels = None if labels is None else jnp.asarray(labels, jnp.int32)
    check_range("label_drop", label_drop, lower=0.0, upper=1.0)
    sde = solvers.VPSDE() if sde is None else sde
    trainable = eqx.tree_at(lambda m: m.frequencies, jax.tree.map(eqx.is_inexact_array, net),
                            False)
    params, static = eqx.partition(net, trainable)
    crossbar_arrays = eqx.tree_at(  # the arrays programmed into resistive memory
        lambda m: m.network, jax.tree.map(lambda _: False, net),
        jax.tree.map(lambda _: True, net.network))
    optimiser = score_optimiser() if optimiser is None else optimiser

    def loss_fn(params, key):
        k_batch, k_t, k_z, k_noise, k_drop = jr.split(key, 5)
        idx = jr.randint(k_batch, (batch_size,), 0, data.shape[0])
        t = jr.uniform(k_t, (batch_size,))
        z = jr.normal(k_z, (batch_size, net.data_dim))
        xt = sde.perturb(data[idx], t, z)
        model = eqx.combine(params, static)
        if weight_noise is not None:
            model = weight_noise(model, key=k_noise, filter_spec=crossbar_arrays)
        y = None
        if conditional:
            drop = jr.bernoulli(k_drop, label_drop, (batch_size,))
            y = jnp.where(drop, NULL_LABEL, labels[idx])
        (h1, h2), f = jax.vmap(model.hidden_and_output)(xt, t, y)
        std = sde.std(t)[:, None]
        dsm = jnp.mean((model.output_scale * f * std + z) ** 2)
        over = jnp.sum(jax.nn.relu(h1 - headroom)) + jnp.sum(jax.nn.relu(h2 - headroom))
        return dsm + headroom_penalty * over

    params, losses = fit(loss_fn, params, optimiser, key=key, steps=steps, ema=ema)
    return eqx.combine(params, static), losses

