"""One optax training loop for every recipe: the whole loop is a single ``lax.scan``."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.random as jr
import optax
from jaxtyping import Array, PRNGKeyArray, PyTree


def fit(loss_fn: Callable[[PyTree, PRNGKeyArray], Array], params: PyTree,
        optimiser: optax.GradientTransformation, *, key: PRNGKeyArray,
        steps: int) -> tuple[PyTree, Array]:
    """Minimise ``loss_fn(params, key)`` (a fresh key per step) for ``steps`` steps; return
    the parameters and the loss history."""

    def step(carry, key):
        params, state = carry
        loss, grads = jax.value_and_grad(loss_fn)(params, key)
        updates, state = optimiser.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), loss

    @jax.jit
    def run(params, key):
        (params, _), losses = jax.lax.scan(step, (params, optimiser.init(params)),
                                           jr.split(key, steps))
        return params, losses

    return run(params, key)
