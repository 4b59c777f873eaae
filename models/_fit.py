"""One optax training loop for every recipe: the whole loop is a single ``lax.scan``."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.random as jr
import optax
from jaxtyping import Array, PRNGKeyArray, PyTree

from analogjax.internal import check_range


def fit(loss_fn: Callable[[PyTree, PRNGKeyArray], Array], params: PyTree,
        optimiser: optax.GradientTransformation, *, key: PRNGKeyArray,
        steps: int, ema: float | None = None) -> tuple[PyTree, Array]:
    """Minimise ``loss_fn(params, key)`` (a fresh key per step) for ``steps`` steps; return
    the parameters (their exponential moving average with decay ``ema`` when given) and the
    loss history."""
    if ema is not None:
        check_range("ema", ema, lower=0.0, upper=1.0, upper_open=True)

    def step(carry, key):
        params, state, average = carry
        loss, grads = jax.value_and_grad(loss_fn)(params, key)
        updates, state = optimiser.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        if ema is not None:
            average = jax.tree.map(lambda a, p: ema * a + (1 - ema) * p, average, params)
        return (params, state, average), loss

    @jax.jit
    def run(params, key):
        (params, _, average), losses = jax.lax.scan(
            step, (params, optimiser.init(params), params), jr.split(key, steps))
        return (params if ema is None else average), losses

    return run(params, key)
