"""Topology pruning of random resistive memory: train which formed cells to keep, never a
conductance.

The recipe of "Pruning random resistive memory for optimizing analogue AI" (arXiv
2311.07164): an array of electroformed cells holds random conductances used as differential
pairs; every weight gets a trainable score, the forward pass keeps the top fraction of
|score| (edge-popup supermask, Ramanujan et al., CVPR 2020) with a straight-through
gradient to the scores, and a pruned pair is RESET, so it still conducts its residual
RESET-state difference. Writing a topology onto a chip flips only the pairs whose mask
changed; each write lands with a small relative error and is counted.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray

from . import _rng
from ._crossbar import Crossbar, ProgrammedCrossbar
from ._devices import FormedDevice
from ._network import FanInUniform
from ._validation import check_range


def _check_keep(keep: float):
    check_range("keep", keep, lower=0.0, upper=1.0, lower_open=True)


def _largest(values: Array, eligible: Bool[Array, "..."], count) -> Bool[Array, "..."]:
    """Exactly ``min(count, Σ eligible)`` eligible entries with the largest ``values``
    (non-negative; ties broken by position). A radix select on the float bits (31 counting
    passes, linear in the size): XLA's sort and top-k are far slower on CPU."""
    flat = values.reshape(-1)
    ok = eligible.reshape(-1)
    bits = jax.lax.bitcast_convert_type(jnp.maximum(flat, 0).astype(jnp.float32), jnp.int32)
    bits = jnp.where(ok, bits, -1)
    k = jnp.minimum(jnp.asarray(count, jnp.int32), jnp.sum(ok, dtype=jnp.int32))

    # Counts summed in float32 where exact (< 2**24 entries): XLA vectorises them better.
    count_dtype = jnp.float32 if flat.size < 2**24 else jnp.int32

    def count(mask):
        return jnp.sum(mask.astype(count_dtype)).astype(jnp.int32)

    def refine(i, kth):
        candidate = kth | jnp.left_shift(jnp.int32(1), 30 - i)
        return jnp.where(count(bits >= candidate) >= k, candidate, kth)

    kth = jax.lax.fori_loop(0, 31, refine, jnp.int32(0))
    above = bits > kth
    ties = bits == kth
    needed = k - count(above)
    # Break ties by position only when some tied entries must be left out (a cumsum
    # costs as much as the whole select).
    chosen = jax.lax.cond(
        count(ties) > needed,
        lambda: above | (ties & (jnp.cumsum(ties, dtype=jnp.int32) <= needed)),
        lambda: above | ties)
    return (chosen & (k > 0)).reshape(values.shape)


def _top_fraction(magnitude: Array, keep: float) -> tuple[Array, Array]:
    """Boolean mask of the ``round(keep·n)`` largest entries (exactly that many; ties
    broken by position) and the smallest kept magnitude."""
    k = max(round(keep * magnitude.size), 1)
    mask = _largest(magnitude, jnp.ones(magnitude.shape, bool), k)
    return mask, jnp.min(jnp.where(mask, magnitude, jnp.inf))


def supermask(scores: Float[Array, "..."], keep: float = 0.5) -> Float[Array, "..."]:
    """Edge-popup supermask: 1 for the ``keep`` fraction of largest ``|scores|``, else 0,
    with a straight-through gradient (``d mask / d |score| = 1``)."""
    _check_keep(keep)
    magnitude = jnp.abs(scores)
    hard, _ = _top_fraction(jax.lax.stop_gradient(magnitude), keep)
    return hard.astype(magnitude.dtype) + (magnitude - jax.lax.stop_gradient(magnitude))


def init_scores(key: PRNGKeyArray, out_features: int, in_features: int,
                dtype=jnp.float32) -> Float[Array, "out in"]:
    """Kaiming-uniform scores ``U(−1/√fan_in, 1/√fan_in)`` (PyTorch's default
    ``kaiming_uniform_(a=√5)``, as in edge-popup)."""
    return FanInUniform()(key, (out_features, in_features), in_features, dtype)


class FormedLayer(eqx.Module):
    """One weight matrix of electroformed differential pairs with a programmed topology: a
    chip instance (a pytree; ``vmap`` over forming keys for Monte Carlo chips).

    Weight ``(o, i)`` is the pair ``(G⁺, G⁻)``: both cells SET (their random formed
    conductances) where ``mask`` is on, both RESET (their random residual) where it is off.
    Outputs are in weight units with ``weight_per_siemens = √(2 / (keep·fan_in)) /
    mean|G⁺_set − G⁻_set|`` (the published rescaling by the mean conductance and the fan-in:
    Kaiming-scaled kept weights). Reads go through ``crossbar`` (its DAC, ADC, tiling,
    wires and the device's read noise, fresh at every call).
    """

    crossbar: Crossbar
    g_set: Float[Array, "2 out in"]
    """Conductance [S] of each cell of each pair in the SET (formed) state."""
    g_reset: Float[Array, "2 out in"]
    """Conductance [S] of each cell after RESET."""
    mask: Bool[Array, "out in"]
    """The programmed topology: True where the pair is SET (kept)."""
    weight_per_siemens: Float[Array, ""]
    keep: float = eqx.field(static=True)

    @classmethod
    def form(cls, crossbar: Crossbar, out_features: int, in_features: int, *,
             key: PRNGKeyArray, keep: float = 0.5, dtype=jnp.float32) -> FormedLayer:
        """Electroform a fresh ``out × in`` layer of pairs on ``crossbar`` (whose device
        must be a :class:`FormedDevice`): every cell starts SET (mask all on)."""
        if not isinstance(crossbar.device, FormedDevice):
            raise ValueError("crossbar.device must be a FormedDevice (random formed "
                             f"conductances); got {type(crossbar.device).__name__}")
        if crossbar.mapping.arrays != 2 or crossbar.mapping.reference_columns:
            raise ValueError("crossbar.mapping must be a DifferentialMapping (pairs)")
        _check_keep(keep)
        g_set, g_reset = crossbar.device.set_and_reset(
            (2, out_features, in_features), key=key, dtype=dtype)
        mean_abs = jnp.mean(jnp.abs(g_set[0] - g_set[1]))
        gain = jnp.sqrt(2.0 / (keep * in_features))
        return cls(crossbar=crossbar, g_set=g_set, g_reset=g_reset,
                   mask=jnp.ones((out_features, in_features), bool),
                   weight_per_siemens=(gain / mean_abs).astype(dtype), keep=keep)

    @property
    def shape(self) -> tuple[int, int]:
        return self.mask.shape

    def conductances(self, scores: Float[Array, "out in"] | None = None) -> Array:
        """Cell conductances ``(2, out, in)`` [S] of the programmed topology; with
        ``scores``, a straight-through gradient flows from them to the scores."""
        m = self.mask.astype(self.g_set.dtype)
        if scores is not None:
            magnitude = jnp.abs(scores)
            m = m + (magnitude - jax.lax.stop_gradient(magnitude))
        return self.g_reset + m * (self.g_set - self.g_reset)

    def weights(self) -> Float[Array, "out in"]:
        """The effective weights (weight units) of the programmed topology."""
        g = self.conductances()
        return (g[0] - g[1]) * self.weight_per_siemens

    def chip(self, scores: Float[Array, "out in"] | None = None) -> ProgrammedCrossbar:
        """The programmed crossbar to read (assemble once, read many times)."""
        return self.crossbar.assemble(self.conductances(scores), self.weight_per_siemens)

    def __call__(self, x: Float[ArrayLike, "... in"], *, key: PRNGKeyArray | None = None,
                 scores: Float[Array, "out in"] | None = None) -> Float[Array, "... out"]:
        """One analogue read ``y ≈ W x`` (fresh read noise from ``key``)."""
        return self.chip(scores)(x, key=key)

    def with_topology(self, scores: Float[Array, "out in"]) -> FormedLayer:
        """The chip as it would be with the topology of ``scores`` written exactly (the
        software twin that ex-situ training reads; nothing is written or counted)."""
        magnitude = jax.lax.stop_gradient(jnp.abs(scores))
        return eqx.tree_at(lambda layer: layer.mask, self, _top_fraction(magnitude, self.keep)[0])

    def program(self, scores: Float[Array, "out in"], *, key: PRNGKeyArray,
                max_flips: int | Int[ArrayLike, ""] | None = None,
                write_noise: float | Float[ArrayLike, ""] = 0.0015,
                ) -> tuple[FormedLayer, Int[Array, ""]]:
        """Write the topology of ``scores`` (top ``keep`` of |score|) onto the chip.

        Only pairs whose mask changes are written (SET or RESET of both cells); each
        written cell lands at ``g·(1 + write_noise·z)``, ``z ~ N(0, 1)`` clipped to ±2
        (the published 0.15 %, 2σ). With ``max_flips`` (the reprogramming limiter), at most
        that many pairs flip: first towards the target number of kept pairs, the rest in
        equal numbers on and off (so a balanced write keeps the kept fraction exact), the
        pairs farthest past the threshold first. Returns the new chip and the
        number of pairs flipped (each flip is two program operations).
        """
        check_range("write_noise", write_noise, lower=0.0)
        magnitude = jax.lax.stop_gradient(jnp.abs(scores))
        target, threshold = _top_fraction(magnitude, self.keep)
        turn_on = target & ~self.mask
        turn_off = self.mask & ~target
        if max_flips is not None:
            budget = jnp.asarray(max_flips)
            n_on, n_off = jnp.sum(turn_on), jnp.sum(turn_off)
            excess = n_off - n_on  # kept pairs beyond the target count
            allow_on = jnp.clip((budget - excess) // 2, 0, n_on)
            allow_off = jnp.clip(jnp.minimum(allow_on + excess, budget - allow_on), 0, n_off)
            turn_on = _largest(magnitude - threshold, turn_on, allow_on)
            turn_off = _largest(threshold - magnitude, turn_off, allow_off)
        z = jnp.clip(_rng.normal(key, self.g_set.shape, self.g_set.dtype), -2.0, 2.0)
        written = 1 + write_noise * z
        g_set = jnp.where(turn_on, self.g_set * written, self.g_set)
        g_reset = jnp.where(turn_off, self.g_reset * written, self.g_reset)
        flips = jnp.sum(turn_on) + jnp.sum(turn_off)
        new = eqx.tree_at(lambda layer: (layer.g_set, layer.g_reset, layer.mask), self,
                          (g_set, g_reset, self.mask ^ (turn_on | turn_off)))
        return new, flips
