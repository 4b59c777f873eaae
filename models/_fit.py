"""One optax training loop for every recipe: the whole loop is a single ``lax.scan``."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.random as jr
import optax
from jaxtyping import Array, PRNGKeyArray, PyTree

from analogjax.internal import check_int, check_key, check_range


def fit(loss_fn: Callable[..., Array | tuple[Array, tuple[PyTree, PyTree]]], params: PyTree,
        optimiser: optax.GradientTransformation, *, key: PRNGKeyArray, steps: int,
        ema: float | None = None, carry: PyTree | None = None,
        project: Callable[[PyTree], PyTree] | None = None):
    """Minimise ``loss_fn`` over ``params`` for ``steps`` optimiser steps (a fresh key per
    step); the loop is one ``lax.scan`` under ``jit``.

    Without ``carry``: ``loss_fn(params, key) → loss``; returns the parameters (their
    exponential moving average with decay ``ema`` when given) and the loss per step.

    With ``carry`` (state that evolves with training but is not trained, e.g. a chip that is
    rewritten every step): ``loss_fn(params, carry, key) → (loss, (carry, record))``, the
    gradient taken with respect to ``params`` only; returns the parameters, the loss per
    step, the final carry and the records stacked over steps.

    ``project`` maps the parameters after every optimiser step (e.g. weight clipping).
    """
    check_int("steps", steps, lower=1)
    check_key("key", key)
    if ema is not None:
        check_range("ema", ema, lower=0.0, upper=1.0, upper_open=True)
    stateful = carry is not None

    def step(state, key):
        params, opt_state, average, carry = state
        if stateful:
            (loss, (carry, record)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
                params, carry, key)
        else:
            loss, grads = jax.value_and_grad(loss_fn)(params, key)
            record = None
        updates, opt_state = optimiser.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        if project is not None:
            params = project(params)
        if ema is not None:
            average = jax.tree.map(lambda a, p: ema * a + (1 - ema) * p, average, params)
        return (params, opt_state, average, carry), (loss, record)

    @jax.jit
    def run(params, carry, key):
        (params, _, average, carry), (losses, records) = jax.lax.scan(
            step, (params, optimiser.init(params), params, carry), jr.split(key, steps))
        return (params if ema is None else average), losses, carry, records

    params, losses, carry, records = run(params, carry, key)
    return (params, losses, carry, records) if stateful else (params, losses)
