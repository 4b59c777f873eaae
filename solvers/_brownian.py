"""A fast, step-size-independent Brownian path for fixed-step analogue SDE solves."""

from __future__ import annotations

import abc
import math

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from analogjax.internal import check_range, is_concrete, normal_from_seed, seed_words


class GridBrownianPath(diffrax.AbstractBrownianPath):
    """Brownian motion sampled on a fine grid of width ``tol`` and linear in between.

    The increment of grid cell ``k`` in dimension ``d`` is ``√tol·z`` with ``z`` drawn by a
    counter-based hash of ``(key, k, d)``, so any step that is a multiple of ``tol`` sees
    exactly the same path (results do not depend on the step size), and a step costs
    ``⌈dt/tol⌉ + 1`` draws per dimension (one when the step is ``tol``: each step then
    takes the cell nearest its start) instead of a virtual tree's ``log2(T/tol)`` levels of
    key splitting. The path is piecewise linear at resolution ``tol`` (as a
    ``diffrax.VirtualBrownianTree`` is to within its tolerance). ``max_step`` (static)
    bounds the steps it will be asked for.
    """

    t0: float | Array
    t1: float | Array
    tol: float = eqx.field(static=True)
    shape: jax.ShapeDtypeStruct = eqx.field(static=True)
    max_step: float = eqx.field(static=True)
    seed: Array
    """Two uint32 words drawn from the key (the counter hash's seed)."""
    levy_area: type = eqx.field(default=diffrax.BrownianIncrement, static=True)

    def __init__(self, t0, t1, tol: float, shape: tuple[int, ...], key: PRNGKeyArray,
                 max_step: float, dtype=None):
        if not tol > 0 or not max_step >= tol:
            raise ValueError(f"GridBrownianPath needs tol > 0 and max_step >= tol; got "
                             f"tol={tol}, max_step={max_step}")
        self.t0, self.t1 = t0, t1
        self.seed = seed_words(key)
        self.tol, self.max_step = float(tol), float(max_step)
        dtype = jnp.result_type(float) if dtype is None else dtype
        self.shape = jax.ShapeDtypeStruct(tuple(shape), dtype)
        if is_concrete((t0, t1)):
            draws = (math.ceil(float(t1 - t0) / self.tol) + self._cells) * math.prod(shape)
            if draws >= 2**32:
                raise ValueError(f"GridBrownianPath needs {draws} draws (>= 2**32): raise tol "
                                 "or shorten the interval")

    @property
    def _cells(self) -> int:
        return math.ceil(self.max_step / self.tol) + 1

    def evaluate(self, t0, t1=None, left: bool = True, use_levy: bool = False):
        if t1 is None:
            raise ValueError("GridBrownianPath gives increments: call evaluate(t0, t1)")
        dtype = self.shape.dtype
        size = math.prod(self.shape.shape)
        u0 = (t0 - self.t0) / self.tol
        u1 = (t1 - self.t0) / self.tol
        if self.max_step == self.tol:
            # steps of one cell (the solver's step is the grid): each step takes the cell
            # nearest its start, so float drift of the step times never splits a draw
            cell = jnp.round(u0).astype(jnp.uint32)
            counter = cell * jnp.uint32(size) + jnp.arange(size, dtype=jnp.uint32)
            z = normal_from_seed(self.seed, counter, dtype)
            fraction = jnp.clip(u1 - u0, 0.0, 1.0).astype(dtype)
            increment = (fraction * jnp.sqrt(jnp.asarray(self.tol, dtype)) * z).reshape(
                self.shape.shape)
            return diffrax.BrownianIncrement(dt=t1 - t0, W=increment) if use_levy \
                else increment
        # a step starting within 1e-4 of a grid point starts there (float error of t0 + k·dt;
        # the dropped sliver is at most 1e-4 of a cell)
        first = jnp.floor(u0 + 1e-4)
        cells = first + jnp.arange(self._cells, dtype=first.dtype)
        # fraction of each grid cell inside [u0, u1]
        overlap = jnp.clip(jnp.minimum(cells + 1, u1) - jnp.maximum(cells, u0), 0.0, 1.0)
        counter = (cells.astype(jnp.uint32)[:, None] * jnp.uint32(size)
                   + jnp.arange(size, dtype=jnp.uint32)[None, :])
        z = normal_from_seed(self.seed, counter, dtype)
        increment = (overlap.astype(dtype) @ z) * jnp.sqrt(jnp.asarray(self.tol, dtype))
        increment = increment.reshape(self.shape.shape)
        return diffrax.BrownianIncrement(dt=t1 - t0, W=increment) if use_levy else increment


class AbstractBrownian(eqx.Module):
    """How a noisy (SDE) solve draws its Brownian motion: the ``brownian=`` option of
    :meth:`ClosedLoopIntegrator.solve` and of the analogue sampler."""

    tol: eqx.AbstractVar[float | None]

    @abc.abstractmethod
    def path(self, t0, t1, shape: tuple[int, ...], key: PRNGKeyArray, *, dt: float,
             dtype) -> diffrax.AbstractBrownianPath:
        """The path over ``[t0, t1]`` for a fixed-step solve with steps ``dt``."""


class GridBrownian(AbstractBrownian):
    """A :class:`GridBrownianPath`: fast, exact for steps that are multiples of ``tol``."""

    tol: float | None = None
    """Grid width in model time (default: the solve's step ``dt``; pass the same value to
    compare step sizes on one sample of the noise)."""

    def __check_init__(self):
        check_range("GridBrownian.tol", self.tol, lower=0.0, lower_open=True)

    def path(self, t0, t1, shape, key, *, dt, dtype):
        tol = dt if self.tol is None else self.tol
        return GridBrownianPath(t0, t1, tol, shape, key, max_step=dt, dtype=dtype)


class VirtualTreeBrownian(AbstractBrownian):
    """diffrax's ``VirtualBrownianTree`` (any step size, about 10× slower per step)."""

    tol: float | None = None
    """Resolution in model time (default: the solve's step ``dt``)."""

    def __check_init__(self):
        check_range("VirtualTreeBrownian.tol", self.tol, lower=0.0, lower_open=True)

    def path(self, t0, t1, shape, key, *, dt, dtype):
        tol = dt if self.tol is None else self.tol
        return diffrax.VirtualBrownianTree(t0, t1, tol=tol, shape=jax.ShapeDtypeStruct(
            tuple(shape), dtype), key=key)
