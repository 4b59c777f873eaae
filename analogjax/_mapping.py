"""Weight ↔ conductance mappings.

Tiles are laid out as ``(R, rows, C, cols)``: row tile ``r``, word line ``i``, column tile
``c``, bit line ``o``; weight ``W[o', i']`` with ``i' = r·rows + i``, ``o' = c·cols + o``.
Each mapping stacks its physical arrays on a leading axis ``P`` of the conductances.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float


class AbstractMapping(eqx.Module):
    """How a tile of signed weights is held in conductances and read back."""

    per_column_scale: eqx.AbstractVar[bool]
    arrays: ClassVar[int]
    """Physical arrays per tile (stacked on the leading axis P)."""
    reference_columns: ClassVar[int]
    """Bit lines per tile used for reference (not available for weights)."""

    def __check_init__(self):  # run by equinox for every subclass
        if not isinstance(self.per_column_scale, bool):
            raise TypeError(f"per_column_scale must be True or False; got "
                            f"{self.per_column_scale!r}")

    def weight_max(self, w: Float[Array, "R rows C cols"]) -> Float[Array, "R 1 C k"]:
        """Largest |weight| per tile, or per column with ``per_column_scale``."""
        axes = (1,) if self.per_column_scale else (1, 3)
        w_max = jnp.max(jnp.abs(w), axis=axes, keepdims=True)
        return jnp.where(w_max > 0, w_max, jnp.ones_like(w_max))

    def select_columns(self, g: Float[Array, "P R rows C cols_phys"], n: int) -> Array:
        """The physical bit lines of the first ``n`` weight columns of each tile (with the
        reference columns)."""
        if self.reference_columns == 0:
            return g[..., :n]
        return jnp.concatenate([g[..., :n], g[..., -self.reference_columns:]], axis=-1)

    @abc.abstractmethod
    def targets(self, w, g_min, g_max) -> tuple[Array, Array]:
        """Target conductances ``(P, R, rows, C, cols_phys)`` [S] and the weight per siemens
        ``(R, 1, C, k)`` of each tile or column."""

    @abc.abstractmethod
    def effective(self, g: Float[Array, "P R rows C cols_phys"]) -> Array:
        """Signed conductance ``(R, rows, C, cols)`` [S] whose product with the inputs is the
        output current."""

    @abc.abstractmethod
    def noise_variance_matrix(self, var: Float[Array, "P R rows C cols_phys"]) -> Array:
        """Per-cell variances [S²] reduced to the matrix that multiplies ``v²``."""

    @abc.abstractmethod
    def per_output_sum(self, a: Float[Array, "P R rows C cols_phys"]) -> Array:
        """Sum of a per-cell quantity over the cells between each input and each output,
        ``(R, rows, C, cols)``: both cells of a pair; a reference cell counted with every
        output (e.g. variances [S²], whose correlation across outputs this drops, or
        conductances [S])."""

    def inverted(self, g: Float[Array, "P R rows C cols_phys"]) -> Array | None:
        """Conductances ``(R, rows, C, cols)`` [S] of the cells whose word lines are driven
        with the inverted input ``−V`` in a continuous-time (unclocked) circuit, or None when
        no cell is (a single array)."""
        return None

    @abc.abstractmethod
    def combine_noise(self, std: Array, z: Array) -> Array:
        """Output noise [A] from per-physical-column standard deviations and N(0,1) draws."""


class DifferentialMapping(AbstractMapping):
    """Differential pair: ``G⁺ − G⁻ = W / s`` with ``G⁺, G⁻ ∈ [g_min, g_max]``.

    A positive weight raises ``G⁺`` above ``g_min`` and leaves ``G⁻ = g_min`` (and vice
    versa); ``s = max|W| / (g_max − g_min)`` per tile or per column. The two arrays' currents
    are subtracted before the ADC.
    """

    per_column_scale: bool = eqx.field(default=False, static=True)
    arrays: ClassVar[int] = 2
    reference_columns: ClassVar[int] = 0

    def targets(self, w, g_min, g_max):
        w_max = self.weight_max(w)
        g_per_w = (g_max - g_min) / w_max
        g_pos = g_min + jnp.maximum(w, 0) * g_per_w
        g_neg = g_min + jnp.maximum(-w, 0) * g_per_w
        return jnp.stack([g_pos, g_neg]), 1 / g_per_w

    def effective(self, g):
        return g[0] - g[1]

    def inverted(self, g):
        return g[1]

    def noise_variance_matrix(self, var):
        return var[0] + var[1]

    def per_output_sum(self, a):
        return a[0] + a[1]

    def combine_noise(self, std, z):
        return std * z


class OffsetMapping(AbstractMapping):
    """Offset mapping with a reference column: ``G − G_ref = W / s``.

    Weights map linearly onto ``[g_min, g_max]`` with zero at the middle; one bit line per
    tile is programmed to ``(g_min + g_max) / 2`` and its current is subtracted from every
    other column (so its read noise is common to all outputs of the tile);
    ``s = 2 max|W| / (g_max − g_min)``.
    """

    per_column_scale: bool = eqx.field(default=False, static=True)
    arrays: ClassVar[int] = 1
    reference_columns: ClassVar[int] = 1

    def targets(self, w, g_min, g_max):
        w_max = self.weight_max(w)
        g_per_w = (g_max - g_min) / (2 * w_max)
        g_mid = 0.5 * (g_min + g_max)
        g = g_mid + w * g_per_w
        reference = jnp.full((*w.shape[:3], 1), g_mid, g.dtype)
        return jnp.concatenate([g, reference], axis=-1)[None], 1 / g_per_w

    def effective(self, g):
        return g[0, ..., :-1] - g[0, ..., -1:]

    def noise_variance_matrix(self, var):
        return var[0]

    def per_output_sum(self, a):
        return a[0, ..., :-1] + a[0, ..., -1:]

    def combine_noise(self, std, z):
        return std[..., :-1] * z[..., :-1] - std[..., -1:] * z[..., -1:]


class UnipolarMapping(AbstractMapping):
    """One array, the conductance itself is the weight: ``W = s·G``, ``G ∈ [g_min, g_max]``.

    Holds non-negative weights only: ``s = max W / g_max`` per tile or per column, and a
    weight below ``s·g_min`` reads as ``s·g_min`` (a cell cannot be switched off). This is
    how random-weight systems use formed cells directly as reservoir weights (ESGNN, Nat.
    Mach. Intell. 5, 104 (2023)); chips of such conductances are built with
    :meth:`Crossbar.assemble`. Programming negative weights is an error.
    """

    per_column_scale: bool = eqx.field(default=False, static=True)
    arrays: ClassVar[int] = 1
    reference_columns: ClassVar[int] = 0

    def targets(self, w, g_min, g_max):
        w = eqx.error_if(w, jnp.any(w < 0), "UnipolarMapping holds non-negative weights only; "
                         "use DifferentialMapping or OffsetMapping for signed weights")
        g_per_w = g_max / self.weight_max(w)
        return jnp.maximum(w * g_per_w, g_min)[None], 1 / g_per_w

    def effective(self, g):
        return g[0]

    def noise_variance_matrix(self, var):
        return var[0]

    def per_output_sum(self, a):
        return a[0]

    def combine_noise(self, std, z):
        return std * z
