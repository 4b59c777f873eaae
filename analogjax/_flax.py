"""Flax nnx adapter: an analogue ``dot_general`` for ``nnx.Linear``."""

from __future__ import annotations

import jax.random as jr
from flax import nnx

from ._crossbar import Crossbar


class AnalogDotGeneral(nnx.Module):
    """Drop-in ``dot_general`` for ``nnx.Linear``: ``inputs @ kernel`` on a crossbar.

    Each call programs the kernel (transposed to out × in) and reads it once, with keys from
    the ``rngs`` stream ``stream`` (fresh noise per call; nnx tracks the stream's state, so
    it works under ``nnx.jit``). Gradients flow to the kernel as in :class:`AnalogLinear`.

        layer = nnx.Linear(16, 4, dot_general=AnalogDotGeneral(xbar, rngs=nnx.Rngs(noise=1)),
                           rngs=nnx.Rngs(params=0))
    """

    def __init__(self, crossbar: Crossbar, *, rngs: nnx.Rngs, stream: str = "noise",
                 t: float | None = None):
        self.crossbar = nnx.data(crossbar)
        self.rngs = rngs
        self.stream = stream
        self.t = t

    def __call__(self, lhs, rhs, dimension_numbers, precision=None, **kwargs):
        del precision, kwargs
        expected = (((lhs.ndim - 1,), (0,)), ((), ()))
        if tuple(map(lambda d: tuple(map(tuple, d)), dimension_numbers)) != expected:
            raise ValueError("AnalogDotGeneral supports inputs @ kernel only (dimension_numbers "
                             f"{expected}); got {dimension_numbers}")
        if rhs.ndim != 2:
            raise ValueError(f"kernel must be 2-D (in, out); got shape {rhs.shape}")
        k_program, k_read = jr.split(getattr(self.rngs, self.stream)())
        chip = self.crossbar.program(rhs.T, key=k_program)
        return chip(lhs, key=k_read, t=self.t)
