"""Classifiers trained with hardware-aware noise and deployed on crossbars: the digits data,
the training recipe and the accuracy of programmed chips over time."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

import analogjax as aj
from analogjax.internal import check_finite_array, check_int, check_key

from ._data import load_digits, stratified_split
from ._fit import fit


def _check_data(x, y, flat: bool = True) -> tuple[Array, Array]:
    """Inputs ``(n >= 1, features)`` (or ``(n >= 1, ...)`` unless ``flat``; finite floats)
    and integer labels ``(n,)``."""
    x, y = jnp.asarray(x), jnp.asarray(y)
    if (x.ndim != 2 if flat else x.ndim < 2) or x.shape[0] == 0:
        raise ValueError(f"x must have shape (n >= 1, features{'' if flat else ', ...'}); got "
                         f"{x.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(float)
    if y.shape != (x.shape[0],) or not jnp.issubdtype(y.dtype, jnp.integer):
        raise ValueError(f"y must hold {x.shape[0]} integer labels; got shape {y.shape} of "
                         f"dtype {y.dtype}")
    return check_finite_array("x", x), y


def load_digits_split(test_fraction: float = 0.25, seed: int = 0):
    """The 8×8 digits (1797 images, shipped with the package; scikit-learn's
    ``load_digits``): pixels scaled to [0, 1]; a stratified train/test split (the one
    scikit-learn's ``train_test_split`` draws). Returns float32/int32 numpy arrays
    ``x_train, y_train, x_test, y_test``."""
    images, labels = load_digits()
    x = (images / 16.0).astype(np.float32)
    y = labels.astype(np.int32)
    train, test = stratified_split(y, test_fraction, seed)
    return x[train], y[train], x[test], y[test]


def accuracy(logits: Float[Array, "n classes"], labels: Int[Array, " n"]) -> Array:
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)


def accuracy_over_time(model: aj.Network | eqx.Module, crossbar: aj.Crossbar | None,
                       x: Float[ArrayLike, "n ..."], y: Int[ArrayLike, " n"],
                       times: Sequence[float], *, per_example: bool = False,
                       calibration: Float[ArrayLike, "m ..."] | None = None):
    """The per-chip function of a variation study: program ``model`` onto one chip (from the
    chip's key) and return its accuracy on ``(x, y)`` read at each time [s] after
    programming, each read with its own read noise: ``{"accuracy": (len(times),)}``.

    ``model`` is a :class:`~analogjax.Network` (programmed onto ``crossbar``) or a converted
    model (:func:`analogjax.convert`; its layers carry their hardware, ``crossbar`` is None),
    which with ``per_example`` takes one example per call; ``calibration`` inputs then set
    its ADC ranges (:func:`analogjax.program`)."""
    x, y, times = jnp.asarray(x), jnp.asarray(y), jnp.asarray(times, float)
    if isinstance(model, aj.Network) != (crossbar is not None):
        raise ValueError("crossbar must be given for a Network and None for a converted "
                         "model (its layers carry their hardware)")

    def per_chip(key: PRNGKeyArray) -> dict[str, Array]:
        k_program, k_read = jr.split(key)
        if crossbar is not None:
            chip = model.program(crossbar, key=k_program)
            logits = lambda k, t: chip(x, key=k, t=t)  # noqa: E731
        else:
            chip = aj.program(model, key=k_program, calibration=calibration)
            logits = lambda k, t: (aj.evaluate(chip, x, key=k, t=t) if per_example  # noqa: E731
                                   else aj.read(chip, key=k, t=t)(x))

        def at(i):
            return accuracy(logits(jr.fold_in(k_read, i), times[i]), y)

        return {"accuracy": jax.vmap(at)(jnp.arange(times.shape[0]))}

    return per_chip


def train_classifier(
    model: eqx.Module,
    x: Float[Array, "n ..."],
    y: Int[Array, " n"],
    *,
    key: PRNGKeyArray,
    steps: int = 1500,
    batch_size: int = 128,
    optimiser: optax.GradientTransformation | None = None,
    weight_noise: aj.AbstractTrainingNoise | None = aj.WeightNoise(std=0.1, clip=0.2),
    per_example: bool = False,
) -> tuple[eqx.Module, Array]:
    """Train any classifier ``model(x) → logits`` (an equinox module).

    Noise-aware training: ``optimiser`` (default Adam, 3e-3) on cross-entropy through
    :func:`fit` (one ``lax.scan``), the model perturbed by ``weight_noise`` at each step
    (:class:`~analogjax.WeightNoise`: every weight and bias;
    :class:`~analogjax.HardwareAwareTraining`: the analogue layers of a converted model, then
    clipped after each step; None: conventional training). ``per_example``: the model takes
    one example (``vmap`` over the batch, as equinox models are written). Half-precision
    parameters train through float32 master copies and come back in their dtype. Returns
    the model and the loss per step."""
    check_int("steps", steps, lower=1)
    check_key("key", key)
    x, y = _check_data(x, y, flat=False)
    check_int("batch_size", batch_size, lower=1, upper=x.shape[0])
    optimiser = optax.adam(3e-3) if optimiser is None else optimiser
    params, static = eqx.partition(model, eqx.is_inexact_array)
    # half-precision parameters train through float32 master copies (mixed precision,
    # Micikevicius et al., ICLR 2018): float16's range cannot hold Adam's moments
    dtypes = jax.tree.map(lambda p: p.dtype, params)
    params = jax.tree.map(lambda p: p.astype(jnp.promote_types(p.dtype, jnp.float32)), params)
    as_model = lambda p: jax.tree.map(lambda a, d: a.astype(d), p, dtypes)  # noqa: E731

    def loss_fn(params, key):
        k_batch, k_noise = jr.split(key)
        idx = jr.choice(k_batch, x.shape[0], (batch_size,), replace=False)
        m = eqx.combine(as_model(params), static)
        if weight_noise is not None:
            m = weight_noise(m, key=k_noise)
        logits = jax.vmap(m)(x[idx]) if per_example else m(x[idx])
        return optax.softmax_cross_entropy_with_integer_labels(
            logits.astype(jnp.float32), y[idx]).mean()

    def project(params):
        return eqx.partition(weight_noise.project(eqx.combine(params, static)),
                             eqx.is_inexact_array)[0]

    params, losses = fit(loss_fn, params, optimiser, key=key, steps=steps,
                         project=None if weight_noise is None else project)
    return eqx.combine(as_model(params), static), losses
