"""Resistive memory device models.

A device turns target conductances into programmed cells (everything fixed at programming
time) and tells what a programmed cell reads at a later time. Conductances in siemens, times
in seconds.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from . import _rng
from ._noise import AbstractNoise, NoNoise
from ._validation import check_int, check_less, check_range, error_if_out_of_range, is_concrete


def round_ste(x: Array) -> Array:
    """Round to the nearest integer with a straight-through (identity) gradient."""
    return x + jax.lax.stop_gradient(jnp.round(x) - x)


def clip_keep_gradient(x: Array, lower, upper) -> Array:
    """Clip to [lower, upper]: gradient 1 inside (boundaries included), 0 outside."""
    return jnp.where(x < lower, lower, jnp.where(x > upper, upper, x))


class ProgrammedCells(eqx.Module):
    """Per-cell state sampled at programming time."""

    g: Float[Array, "..."]
    """Conductance read at the reference time ``t0`` after programming [S]."""
    nu: Float[Array, "..."]
    """Drift exponent of each cell (dimensionless, >= 0)."""


class AbstractDevice(eqx.Module):
    """A two-terminal resistive memory cell."""

    # Every device has ``g_min`` and ``g_max`` [S] (its nominal window) and a ``read_noise``
    # (an AbstractNoise); they are not declared here so that subclasses order their fields.

    @abc.abstractmethod
    def program(self, g_target: Float[Array, "..."], *, key: PRNGKeyArray) -> ProgrammedCells:
        """Program target conductances ``g_target`` [S] into cells."""

    def conductance(self, cells: ProgrammedCells, t: float | ArrayLike | None = None) -> Array:
        """Conductance [S] at ``t`` seconds after programming (no read noise)."""
        del t
        return cells.g

    def read_noise_std(self, g: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
        """Standard deviation [S] of the read noise of a cell of conductance ``g`` [S]."""
        return self.read_noise.std(g)

    @property
    def has_read_noise(self) -> bool:
        return not isinstance(self.read_noise, NoNoise)

    def _check_window(self, name: str):
        check_range(f"{name}.g_min", self.g_min, lower=0.0, unit="S")
        check_range(f"{name}.g_max", self.g_max, lower=0.0, lower_open=True, unit="S")
        check_less(f"{name}.g_min", self.g_min, f"{name}.g_max", self.g_max)


class IdealDevice(AbstractDevice):
    """A perfect cell: programs exactly to its target (clipped to the window), no noise."""

    g_min: float | Array = 0.0
    """Lowest programmable conductance [S]."""
    g_max: float | Array = 100e-6
    """Highest programmable conductance [S]."""
    read_noise: AbstractNoise = eqx.field(default_factory=NoNoise)

    def __check_init__(self):
        self._check_window("IdealDevice")
        if not isinstance(self.read_noise, NoNoise):
            raise ValueError("IdealDevice.read_noise must be NoNoise(); use ResistiveDevice")

    def program(self, g_target, *, key=None):
        del key
        g = clip_keep_gradient(jnp.asarray(g_target), self.g_min, self.g_max)
        return ProgrammedCells(g=g, nu=jnp.zeros_like(g))


class ResistiveDevice(AbstractDevice):
    """A programmable resistive cell (RRAM, PCM, …) with the usual non-idealities.

    Programming a target ``g*`` (in this order): snap to one of ``levels`` evenly spaced
    levels of the nominal window (straight-through gradient); clip to the cell's own window
    (device-to-device variation of ``g_min`` and ``g_max``, relative standard deviation
    ``window_variation``); add programming noise ``program_noise.std(g)·z``; clip at 0 S;
    replace stuck cells by their cell's ``g_min`` or ``g_max``; draw the cell's drift
    exponent ``ν ~ N(drift_nu_mean, drift_nu_std²)`` clipped at 0.

    Reading at ``t`` seconds after programming gives ``g(t) = g(t0)·(max(t, t0)/t0)^(−ν)``
    (power-law drift, e.g. Ielmini et al., IEEE TED 54, 308 (2007)), plus read noise
    ``read_noise.std(g(t))·z`` redrawn at every read.
    """

    g_min: float | Array
    """Lowest programmable conductance [S], >= 0."""
    g_max: float | Array
    """Highest programmable conductance [S], > g_min."""
    levels: int | None = eqx.field(default=None, static=True)
    """Number of programmable levels in [g_min, g_max] (>= 2), or None for analogue."""
    program_noise: AbstractNoise = eqx.field(default_factory=NoNoise)
    """Write noise, sampled once at programming."""
    read_noise: AbstractNoise = eqx.field(default_factory=NoNoise)
    """Read noise, sampled at every read."""
    window_variation: float | Array = 0.0
    """Relative device-to-device standard deviation of g_min and g_max, in [0, 1)."""
    stuck_at_min_rate: float | Array = 0.0
    """Fraction of cells stuck at g_min (stuck open), in [0, 1]."""
    stuck_at_max_rate: float | Array = 0.0
    """Fraction of cells stuck at g_max (stuck short), in [0, 1]."""
    drift_nu_mean: float | Array = 0.0
    """Mean drift exponent ν (dimensionless), >= 0."""
    drift_nu_std: float | Array = 0.0
    """Device-to-device standard deviation of ν, >= 0."""
    drift_t0: float | Array = 20.0
    """Reference time of the drift law [s], > 0: programmed values are those read at t0."""

    def __check_init__(self):
        self._check_window("ResistiveDevice")
        if self.levels is not None:
            check_int("ResistiveDevice.levels", self.levels, lower=2, upper=2**16)
        check_range("ResistiveDevice.window_variation", self.window_variation, lower=0.0,
                    upper=1.0, upper_open=True)
        check_range("ResistiveDevice.stuck_at_min_rate", self.stuck_at_min_rate, lower=0.0,
                    upper=1.0)
        check_range("ResistiveDevice.stuck_at_max_rate", self.stuck_at_max_rate, lower=0.0,
                    upper=1.0)
        if is_concrete((self.stuck_at_min_rate, self.stuck_at_max_rate)):
            check_range("ResistiveDevice.stuck_at_min_rate + stuck_at_max_rate",
                        float(self.stuck_at_min_rate) + float(self.stuck_at_max_rate),
                        lower=0.0, upper=1.0)
        check_range("ResistiveDevice.drift_nu_mean", self.drift_nu_mean, lower=0.0, upper=1.0)
        check_range("ResistiveDevice.drift_nu_std", self.drift_nu_std, lower=0.0, upper=1.0)
        check_range("ResistiveDevice.drift_t0", self.drift_t0, lower=0.0, lower_open=True,
                    unit="s")

    def snap_to_levels(self, g: Array) -> Array:
        """Nearest programmable level (straight-through gradient); identity if analogue."""
        if self.levels is None:
            return g
        g = clip_keep_gradient(g, self.g_min, self.g_max)
        step = (self.g_max - self.g_min) / (self.levels - 1)
        return self.g_min + round_ste((g - self.g_min) / step) * step

    def program(self, g_target, *, key):
        k_window, k_program, k_stuck, k_drift = jr.split(key, 4)
        shape, dtype = jnp.shape(g_target), jnp.result_type(g_target, float)
        g = self.snap_to_levels(jnp.asarray(g_target, dtype))
        z_min, z_max = _rng.normal(k_window, (2, *shape), dtype)
        cell_g_min = jnp.maximum(self.g_min * (1 + self.window_variation * z_min), 0.0)
        cell_g_max = jnp.maximum(self.g_max * (1 + self.window_variation * z_max), cell_g_min)
        g = clip_keep_gradient(g, cell_g_min, cell_g_max)
        g = jnp.maximum(self.program_noise.sample(g, key=k_program), 0.0)
        u = _rng.uniform(k_stuck, shape, dtype)
        g = jnp.where(u < self.stuck_at_min_rate, cell_g_min, g)
        g = jnp.where(u > 1 - self.stuck_at_max_rate, cell_g_max, g)
        nu = self.drift_nu_mean + self.drift_nu_std * _rng.normal(k_drift, shape, dtype)
        return ProgrammedCells(g=g, nu=jnp.maximum(nu, 0.0))

    def conductance(self, cells, t=None):
        if t is None:
            return cells.g
        t = jnp.asarray(t, jnp.result_type(cells.g))
        if is_concrete(t):
            check_range("t", t, lower=0.0, unit="s")
        else:
            t = error_if_out_of_range("t (time since programming, s)", t, lower=0.0)
        ratio = jnp.maximum(t, self.drift_t0) / self.drift_t0
        return cells.g * ratio ** (-cells.nu)


class FormedDevice(AbstractDevice):
    """Randomly electroformed resistive memory: the random-weight regime.

    Electroforming (a compliance-limited soft breakdown) leaves each cell in a random
    conductance ``N(g_formed_mean, g_formed_std²)``; a RESET leaves a low conductance
    ``N(g_reset_mean, g_reset_std²)``; a fraction ``unformed_rate`` of cells never forms and
    stays at the pristine ``g_pristine``. Nothing is tuned: ``program`` SETs (keeps formed)
    the cells whose target is above the middle of ``[g_min, g_max]`` and RESETs the others,
    so a cell holds one of two random states (no gradient flows to the target).
    Samples are truncated at 0 S. No drift.
    """

    g_formed_mean: float | Array
    """Mean formed conductance [S], > 0."""
    g_formed_std: float | Array
    """Standard deviation of the formed conductance [S], >= 0."""
    g_reset_mean: float | Array
    """Mean conductance after RESET [S], in [0, g_formed_mean)."""
    g_reset_std: float | Array = 0.0
    """Standard deviation of the RESET conductance [S], >= 0."""
    unformed_rate: float | Array = 0.0
    """Fraction of cells that never form, in [0, 1]."""
    g_pristine: float | Array = 1e-7
    """Conductance of an unformed (pristine) cell [S], >= 0."""
    read_noise: AbstractNoise = eqx.field(default_factory=NoNoise)
    """Read noise, sampled at every read."""

    def __check_init__(self):
        check_range("FormedDevice.g_formed_mean", self.g_formed_mean, lower=0.0,
                    lower_open=True, unit="S")
        check_range("FormedDevice.g_formed_std", self.g_formed_std, lower=0.0, unit="S")
        check_range("FormedDevice.g_reset_mean", self.g_reset_mean, lower=0.0, unit="S")
        check_range("FormedDevice.g_reset_std", self.g_reset_std, lower=0.0, unit="S")
        check_less("FormedDevice.g_reset_mean", self.g_reset_mean, "FormedDevice.g_formed_mean",
                   self.g_formed_mean)
        check_range("FormedDevice.unformed_rate", self.unformed_rate, lower=0.0, upper=1.0)
        check_range("FormedDevice.g_pristine", self.g_pristine, lower=0.0, unit="S")

    @property
    def g_min(self):
        return self.g_reset_mean

    @property
    def g_max(self):
        return self.g_formed_mean

    def _form(self, shape, key, dtype):
        k_formed, k_unformed = jr.split(key)
        g = self.g_formed_mean + self.g_formed_std * _rng.normal(k_formed, shape, dtype)
        unformed = _rng.uniform(k_unformed, shape, dtype) < self.unformed_rate
        return jnp.where(unformed, self.g_pristine, jnp.maximum(g, 0.0)), unformed

    def form(self, shape: tuple[int, ...], *, key: PRNGKeyArray, dtype=float) -> Array:
        """Conductances [S] of freshly formed cells (unformed ones at ``g_pristine``)."""
        return self._form(shape, key, dtype)[0]

    def set_and_reset(self, shape: tuple[int, ...], *, key: PRNGKeyArray,
                      dtype=float) -> tuple[Array, Array]:
        """Conductances [S] each cell has when SET (as formed) and after a RESET; an
        unformed cell is at ``g_pristine`` in both."""
        k_form, k_reset = jr.split(key)
        formed, unformed = self._form(shape, k_form, dtype)
        reset = self.g_reset_mean + self.g_reset_std * _rng.normal(k_reset, shape, dtype)
        return formed, jnp.where(unformed, self.g_pristine, jnp.maximum(reset, 0.0))

    def program(self, g_target, *, key):
        shape, dtype = jnp.shape(g_target), jnp.result_type(g_target, float)
        formed, reset = self.set_and_reset(shape, key=key, dtype=dtype)
        keep_set = jax.lax.stop_gradient(g_target) > 0.5 * (self.g_min + self.g_max)
        g = jnp.where(keep_set, formed, reset)
        return ProgrammedCells(g=g, nu=jnp.zeros_like(g))
