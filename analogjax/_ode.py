"""The one place continuous-time models call diffrax for an ODE on a time grid."""

from __future__ import annotations

from collections.abc import Callable

import diffrax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ._validation import check_int


def default_controller() -> diffrax.PIDController:
    """The adaptive step-size controller of every deterministic solve unless one is given:
    ``PIDController(rtol=1e-8, atol=1e-10)``."""
    return diffrax.PIDController(rtol=1e-8, atol=1e-10)


def check_ode_options(solver, stepsize_controller, max_steps) -> None:
    """``solver``, ``stepsize_controller`` are diffrax modules (or None), ``max_steps`` >= 1."""
    if solver is not None and not isinstance(solver, diffrax.AbstractSolver):
        raise TypeError(f"solver must be a diffrax solver (e.g. diffrax.Tsit5()); got "
                        f"{type(solver).__name__}")
    if stepsize_controller is not None and not isinstance(
            stepsize_controller, diffrax.AbstractStepSizeController):
        raise TypeError(f"stepsize_controller must be a diffrax step-size controller (e.g. "
                        f"diffrax.PIDController(rtol=…, atol=…)); got "
                        f"{type(stepsize_controller).__name__}")
    check_int("max_steps", max_steps, lower=1)


def integrate(
    field: Callable[[Array, Array], Array],
    y0: ArrayLike,
    ts: Float[ArrayLike, " T"],
    *,
    solver: diffrax.AbstractSolver | None = None,
    stepsize_controller: diffrax.AbstractStepSizeController | None = None,
    max_steps: int = 100_000,
) -> Array:
    """Solve ``dy/dt = field(t, y)`` from ``y0`` at ``ts[0]`` and return ``y`` at ``ts``.

    ``solver`` defaults to Tsit5 (pass the L-stable ``diffrax.Kvaerno5()`` for stiff
    systems), ``stepsize_controller`` to :func:`default_controller`. Diverging or too stiff
    dynamics end with diffrax's error (max steps reached), never NaN."""
    check_ode_options(solver, stepsize_controller, max_steps)
    ts = jnp.asarray(ts)
    solution = diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, y, args: field(t, y)),
        diffrax.Tsit5() if solver is None else solver, t0=ts[0], t1=ts[-1],
        dt0=None, y0=jnp.asarray(y0, ts.dtype), saveat=diffrax.SaveAt(ts=ts),
        stepsize_controller=(default_controller() if stepsize_controller is None
                             else stepsize_controller), max_steps=max_steps)
    return solution.ys
