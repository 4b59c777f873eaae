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
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from . import _rng
from ._noise import AbstractNoise, AbstractReadNoise, NoNoise, NoReadNoise, as_read_noise
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
    """Drift state of each cell: the power-law exponent ν (dimensionless, >= 0), or the
    normalised direction of its relaxation (:class:`RelaxationDrift`)."""


def _time(t, dtype):
    if is_concrete(t):
        check_range("t", t, lower=0.0, unit="s")  # as given, before a cast can overflow
        with np.errstate(over="ignore"):
            t = jnp.asarray(t, dtype)
        check_range("t", t, lower=0.0, unit="s")  # and representable in `dtype`
        return t
    return error_if_out_of_range("t (time since programming, s)", jnp.asarray(t, dtype),
                                 lower=0.0)


class AbstractDrift(eqx.Module):
    """How programmed conductances change with the time since programming.

    Every drift model has a field ``t0``, the reference time [s]: programmed conductances
    are those read at ``t0``, and a read at ``t=None`` is a read at ``t0``. (Not declared
    here so that subclasses order their fields.)
    """

    @abc.abstractmethod
    def sample(self, g_target: Array, g: Array, *, key: PRNGKeyArray) -> Array:
        """Each cell's drift state, drawn at programming (``g_target``: the target, ``g``:
        the programmed conductance [S])."""

    @abc.abstractmethod
    def conductance(self, g: Array, state: Array, t: Array) -> Array:
        """Conductance [S] at ``t`` seconds after programming (``t >= 0``)."""


class NoDrift(AbstractDrift):
    """Conductances do not change."""

    t0: float | Array = 1.0

    def sample(self, g_target, g, *, key):
        return jnp.zeros_like(g)

    def conductance(self, g, state, t):
        return g


class _AbstractPowerLaw(AbstractDrift):
    """Power-law drift with a per-cell exponent (the state); subclasses draw it."""

    def conductance(self, g, state, t):
        ratio = jnp.maximum(t, self.t0) / self.t0
        return g * ratio ** (-state)


class PowerLawDrift(_AbstractPowerLaw):
    """Power-law drift ``g(t) = g(t0)·(max(t, t0)/t0)^(−ν)`` (structural relaxation of the
    amorphous phase; Ielmini et al., IEEE TED 54, 308 (2007)) with one exponent distribution
    for every conductance, ``ν ~ N(nu_mean, nu_std²)`` clipped at 0."""

    nu_mean: float | Array = 0.0
    """Mean drift exponent ν (dimensionless), in [0, 1]."""
    nu_std: float | Array = 0.0
    """Device-to-device standard deviation of ν, in [0, 1]."""
    t0: float | Array = 20.0
    """Reference time of the drift law [s], > 0."""

    def __check_init__(self):
        check_range("PowerLawDrift.nu_mean", self.nu_mean, lower=0.0, upper=1.0)
        check_range("PowerLawDrift.nu_std", self.nu_std, lower=0.0, upper=1.0)
        check_range("PowerLawDrift.t0", self.t0, lower=0.0, lower_open=True, unit="s")

    def sample(self, g_target, g, *, key):
        nu = self.nu_mean + self.nu_std * _rng.normal(key, jnp.shape(g), jnp.result_type(g))
        return jnp.maximum(nu, 0.0)


class PCMDrift(_AbstractPowerLaw):
    """Power-law drift with the conductance-dependent exponent of the PCM statistical model
    (Nandakumar et al., ICECS 2019; IBM aihwkit's ``PCMLikeNoiseModel``): for a target
    ``ĝ = max(|g_target|/g_max, 10⁻⁷)``

        μ_ν = clip(−0.0155·ln ĝ + 0.0244, 0.049, 0.1),
        σ_ν = clip(−0.0125·ln ĝ − 0.0059, 0.008, 0.045),   ν = |μ_ν + σ_ν·z|,

    so low conductances drift faster and more variably (ν ≈ 0.06 ± 0.023 at g_max/10,
    0.1 ± 0.045 below ~g_max/200).
    """

    g_max: float | Array = 25e-6
    """Conductance [S] the fit is normalised to."""
    t0: float | Array = 20.0
    """Reference time of the drift law [s] (20 s in the source)."""

    def __check_init__(self):
        check_range("PCMDrift.g_max", self.g_max, lower=0.0, lower_open=True, unit="S")
        check_range("PCMDrift.t0", self.t0, lower=0.0, lower_open=True, unit="s")

    def moments(self, g_target: Array) -> tuple[Array, Array]:
        """Mean and standard deviation of the Gaussian that ν is the magnitude of."""
        log_g = jnp.log(jnp.maximum(jnp.abs(g_target) / self.g_max, 1e-7))
        mean = jnp.clip(-0.0155 * log_g + 0.0244, 0.049, 0.1)
        std = jnp.clip(-0.0125 * log_g - 0.0059, 0.008, 0.045)
        return mean, std

    def sample(self, g_target, g, *, key):
        mean, std = self.moments(jax.lax.stop_gradient(g_target))
        return jnp.abs(mean + std * _rng.normal(key, jnp.shape(g), jnp.result_type(g)))


class RelaxationDrift(AbstractDrift):
    """Conductance relaxation of filamentary RRAM: no systematic decay, a spread that grows
    with log time (Wan et al., Nature 608, 504 (2022); Zhao et al., IEDM 2019). Each cell
    wanders from its programmed value ``g`` by ``z·σ(g, t)``, ``z ~ N(0, 1)`` fixed per cell:

        σ(g, t) = per_decade.std(g)·sqrt(log10(max(t, t0)/t0)),

    i.e. the variance grows linearly in log time. Clipped at 0 S.
    """

    per_decade: AbstractNoise
    """Standard deviation [S] added per √decade of time, as a function of the programmed
    conductance."""
    t0: float | Array = 1.0
    """Time after programming [s] from which the relaxation is counted."""

    def __check_init__(self):
        check_range("RelaxationDrift.t0", self.t0, lower=0.0, lower_open=True, unit="s")

    def sample(self, g_target, g, *, key):
        return _rng.normal(key, jnp.shape(g), jnp.result_type(g))

    def conductance(self, g, state, t):
        decades = jnp.log10(jnp.maximum(t, self.t0) / self.t0)
        return jnp.maximum(g + self.per_decade.std(g) * jnp.sqrt(decades) * state, 0.0)


class AbstractDevice(eqx.Module):
    """A two-terminal resistive memory cell."""

    # Every device has ``g_min`` and ``g_max`` [S] (its nominal window), a ``read_noise``
    # (an AbstractReadNoise) and a ``drift`` (an AbstractDrift); they are not declared here
    # so that subclasses order their fields.

    @abc.abstractmethod
    def program(self, g_target: Float[Array, "..."], *, key: PRNGKeyArray) -> ProgrammedCells:
        """Program target conductances ``g_target`` [S] into cells."""

    def read_time(self, t: float | ArrayLike | None, dtype) -> Array:
        """The time since programming [s] of a read at ``t`` (``None``: the reference time)."""
        return jnp.asarray(self.drift.t0, dtype) if t is None else _time(t, dtype)

    def conductance(self, cells: ProgrammedCells, t: float | ArrayLike | None = None) -> Array:
        """Conductance [S] at ``t`` seconds after programming (no read noise)."""
        if t is None:
            return cells.g
        return self.drift.conductance(cells.g, cells.nu, _time(t, jnp.result_type(cells.g)))

    @property
    @abc.abstractmethod
    def programming_is_random(self) -> bool:
        """Whether programming draws random numbers (and so needs a key)."""

    @property
    def has_read_noise(self) -> bool:
        return not isinstance(self.read_noise, NoReadNoise)

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
    read_noise: AbstractReadNoise = eqx.field(default_factory=NoReadNoise,
                                              converter=as_read_noise)
    drift: AbstractDrift = eqx.field(default_factory=NoDrift)

    def __check_init__(self):
        self._check_window("IdealDevice")
        if not isinstance(self.read_noise, NoReadNoise):
            raise ValueError("IdealDevice.read_noise must be NoNoise(); use ResistiveDevice")
        if not isinstance(self.drift, NoDrift):
            raise ValueError("IdealDevice.drift must be NoDrift(); use ResistiveDevice")

    @property
    def programming_is_random(self) -> bool:
        return False

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
    replace stuck cells by their cell's ``g_min`` or ``g_max``; draw the cell's drift state
    (``drift.sample``).

    Reading at ``t`` seconds after programming gives ``drift.conductance`` plus the read
    noise of ``read_noise`` (white: per read; frozen: per read time; an
    :class:`AbstractNoise` given here is white).
    """

    g_min: float | Array
    """Lowest programmable conductance [S], >= 0."""
    g_max: float | Array
    """Highest programmable conductance [S], > g_min."""
    levels: int | None = eqx.field(default=None, static=True)
    """Number of programmable levels in [g_min, g_max] (>= 2), or None for analogue."""
    program_noise: AbstractNoise = eqx.field(default_factory=NoNoise)
    """Write noise, sampled once at programming."""
    read_noise: AbstractReadNoise = eqx.field(default_factory=NoReadNoise,
                                              converter=as_read_noise)
    """Read noise with its time scale."""
    window_variation: float | Array = 0.0
    """Relative device-to-device standard deviation of g_min and g_max, in [0, 1)."""
    stuck_at_min_rate: float | Array = 0.0
    """Fraction of cells stuck at g_min (stuck open), in [0, 1]."""
    stuck_at_max_rate: float | Array = 0.0
    """Fraction of cells stuck at g_max (stuck short), in [0, 1]."""
    drift: AbstractDrift = eqx.field(default_factory=NoDrift)
    """How the conductances change after programming."""

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

    def snap_to_levels(self, g: Array) -> Array:
        """Nearest programmable level (straight-through gradient); identity if analogue."""
        if self.levels is None:
            return g
        g = clip_keep_gradient(g, self.g_min, self.g_max)
        step = (self.g_max - self.g_min) / (self.levels - 1)
        return self.g_min + round_ste((g - self.g_min) / step) * step

    @property
    def programming_is_random(self) -> bool:
        return True

    def program(self, g_target, *, key):
        k_window, k_program, k_stuck, k_drift = jr.split(key, 4)
        shape, dtype = jnp.shape(g_target), jnp.result_type(g_target, float)
        g_target = jnp.asarray(g_target, dtype)
        g = self.snap_to_levels(g_target)
        # Draws whose effect is zero by construction (a concrete zero rate, not a traced one)
        # are skipped: the same cells (to rounding), fewer random draws per cell.
        if _is_zero(self.window_variation):
            z_min = z_max = jnp.zeros(shape, dtype)
        else:
            z_min, z_max = _rng.normal(k_window, (2, *shape), dtype)
        cell_g_min = jnp.maximum(self.g_min * (1 + self.window_variation * z_min), 0.0)
        cell_g_max = jnp.maximum(self.g_max * (1 + self.window_variation * z_max), cell_g_min)
        g = clip_keep_gradient(g, cell_g_min, cell_g_max)
        g = jnp.maximum(self.program_noise.sample(g, key=k_program), 0.0)
        if not (_is_zero(self.stuck_at_min_rate) and _is_zero(self.stuck_at_max_rate)):
            u = _rng.uniform(k_stuck, shape, dtype)  # in (0, 1): a zero rate sticks nothing
            g = jnp.where(u < self.stuck_at_min_rate, cell_g_min, g)
            g = jnp.where(u > 1 - self.stuck_at_max_rate, cell_g_max, g)
        return ProgrammedCells(g=g, nu=self.drift.sample(g_target, g, key=k_drift))


def _is_zero(value) -> bool:
    """True when ``value`` is a concrete (not traced) zero."""
    return is_concrete(value) and bool(np.all(np.asarray(value) == 0))


class FormedDevice(AbstractDevice):
    """Randomly electroformed resistive memory: the random-weight regime.

    Electroforming (a compliance-limited soft breakdown) leaves each cell in a random
    conductance ``N(g_formed_mean, g_formed_std²)``; a RESET leaves a low conductance
    ``N(g_reset_mean, g_reset_std²)``; a fraction ``unformed_rate`` of cells never forms and
    stays at the pristine ``g_pristine``. Nothing is tuned: ``program`` SETs (keeps formed)
    the cells whose target is above the middle of ``[g_min, g_max]`` and RESETs the others,
    so a cell holds one of two random states (no gradient flows to the target).
    Samples are truncated at 0 S. :meth:`fit` estimates the formed statistics from a measured
    conductance map.
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
    read_noise: AbstractReadNoise = eqx.field(default_factory=NoReadNoise,
                                              converter=as_read_noise)
    """Read noise with its time scale (an :class:`AbstractNoise` given here is white)."""
    drift: AbstractDrift = eqx.field(default_factory=NoDrift)
    """How the conductances change after forming/programming."""

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

    @property
    def programming_is_random(self) -> bool:
        return True

    def program(self, g_target, *, key):
        shape, dtype = jnp.shape(g_target), jnp.result_type(g_target, float)
        formed, reset = self.set_and_reset(shape, key=key, dtype=dtype)
        keep_set = jax.lax.stop_gradient(g_target) > 0.5 * (self.g_min + self.g_max)
        g = jnp.where(keep_set, formed, reset)
        return ProgrammedCells(g=g, nu=self.drift.sample(g_target, g, key=jr.fold_in(key, 1)))

    @classmethod
    def fit(
        cls,
        conductance_map: ArrayLike,
        *,
        unformed_below: float = 1e-6,
        g_reset_mean: float | Array,
        g_reset_std: float | Array = 0.0,
        g_pristine: float | Array | None = None,
        read_noise: AbstractNoise | AbstractReadNoise | None = None,
        drift: AbstractDrift | None = None,
    ) -> FormedDevice:
        """The formed-device model of a measured conductance map [S] (any shape).

        Cells reading below ``unformed_below`` [S] count as unformed: their fraction is
        ``unformed_rate`` and (unless ``g_pristine`` is given) their mean reading is
        ``g_pristine``; the formed cells' mean and standard deviation (ddof=1) are
        ``g_formed_mean`` and ``g_formed_std``. The RESET state is not in a forming map and
        is given.
        """
        g = np.asarray(conductance_map, np.float64).ravel()
        if g.size < 2 or not np.all(np.isfinite(g)) or np.any(g < 0):
            raise ValueError("conductance_map must hold >= 2 finite, non-negative "
                             "conductances [S]")
        check_range("unformed_below", unformed_below, lower=0.0, lower_open=True, unit="S")
        unformed = g < unformed_below
        formed = g[~unformed]
        if formed.size < 2:
            raise ValueError(f"conductance_map has {formed.size} formed cells (>= "
                             f"{unformed_below:g} S); at least 2 are needed")
        if g_pristine is None:
            g_pristine = float(g[unformed].mean()) if unformed.any() else 0.0
        return cls(
            g_formed_mean=float(formed.mean()),
            g_formed_std=float(formed.std(ddof=1)),
            g_reset_mean=g_reset_mean,
            g_reset_std=g_reset_std,
            unformed_rate=float(unformed.mean()),
            g_pristine=g_pristine,
            read_noise=NoReadNoise() if read_noise is None else read_noise,
            drift=NoDrift() if drift is None else drift,
        )
