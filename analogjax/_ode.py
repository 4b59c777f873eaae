"""The one place continuous-time models call diffrax for an ODE on a time grid."""

from __future__ import annotations

from collections.abc import Callable

import diffrax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float


def integrate(
    field: Callable[[Array, Array], Array],
    y0: ArrayLike,
    ts: Float[ArrayLike, " T"],
    *,
    rtol: float = 1e-8,
    atol: float = 1e-10,
    max_steps: int = 100_000,
    stiff: bool = False,
) -> Array:
    """Solve ``dy/dt = field(t, y)`` from ``y0`` at ``ts[0]`` and return ``y`` at ``ts``
    (Tsit5, or the L-stable implicit Kvaerno5 when ``stiff``, with an adaptive PID step-size
    controller). Diverging or too stiff dynamics end with diffrax's error (max steps
    reached), never NaN."""
    ts = jnp.asarray(ts)
    solution = diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, y, args: field(t, y)),
        diffrax.Kvaerno5() if stiff else diffrax.Tsit5(), t0=ts[0], t1=ts[-1],
        dt0=None, y0=jnp.asarray(y0, ts.dtype), saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol), max_steps=max_steps)
    return solution.ys
