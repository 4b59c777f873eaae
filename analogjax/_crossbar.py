"""Crossbar arrays: tiling, programming (chip instances) and the analogue MVM."""

from __future__ import annotations

import functools
import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from . import _rng
from ._converters import ADC, DAC
from ._devices import AbstractDevice, ProgrammedCells
from ._ir_drop import Wires
from ._mapping import AbstractMapping, DifferentialMapping
from ._validation import check_finite_array, check_int, check_key


def _hardware_float(a: Array) -> Array:
    """``a`` as a float of at least 32 bits: conductances in siemens (1e-7…1e-4) and their
    noise underflow half precision (float16's smallest normal number is 6e-5), so integer
    and half-precision (float16, bfloat16) arrays are computed in float32."""
    if not jnp.issubdtype(a.dtype, jnp.floating):
        return a.astype(float)
    if jnp.finfo(a.dtype).bits < 32:
        return a.astype(jnp.float32)
    return a


def safe_sqrt(x: Array) -> Array:
    """sqrt with a zero (not NaN) gradient at 0."""
    positive = x > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


class Crossbar(eqx.Module):
    """Physical crossbar arrays of one size with their periphery.

    Inputs drive the word lines (rows) through the DAC; each bit line (column) sums the
    currents ``I_o = Σ_i G_io V_i`` (Ohm's and Kirchhoff's laws, ideal wires) into a virtual
    ground and through the ADC. A weight matrix larger than one array is tiled over
    ``ceil(in / rows) × ceil(out / usable_cols)`` arrays; each tile's ADC output is scaled
    back to weight units and the partial sums are added digitally.

    With ``input_slice_bits = k``, the DAC code's magnitude is applied bit-serially in
    slices of ``k`` bits (sign kept), each slice a separate read through the ADC, shifted
    and added digitally.
    """

    device: AbstractDevice
    """The cell model of every array."""
    rows: int = eqx.field(default=256, static=True)
    """Word lines per array (inputs per tile)."""
    cols: int = eqx.field(default=256, static=True)
    """Bit lines per array (including any reference column)."""
    dac: DAC = eqx.field(default_factory=DAC)
    adc: ADC = eqx.field(default_factory=ADC)
    mapping: AbstractMapping = eqx.field(default_factory=DifferentialMapping)
    input_slice_bits: int | None = eqx.field(default=None, static=True)
    """Bits per input slice for bit-serial inputs, or None for one analogue read."""
    wires: Wires | None = None
    """Wire resistance (IR drop, exact nodal analysis of every array), or None for ideal
    wires. With wires, read noise is added as computed for ideal wires, and the ADC range is
    calibrated for ideal wires."""
    drift_compensation: bool = eqx.field(default=False, static=True)
    """Rescale each tile's digital output by ``Σ|G(t0)| / Σ|G(t)|`` (global drift
    compensation, as in Joshi et al., Nat. Commun. 11, 2473 (2020) and IBM aihwkit: a
    calibration read after programming against one at the read time, which sees that
    time's frozen read noise; white noise is taken as averaged out)."""

    def __check_init__(self):
        check_int("Crossbar.rows", self.rows, lower=1, upper=65536)
        check_int("Crossbar.cols", self.cols, lower=1 + self.mapping.reference_columns,
                  upper=65536)
        if self.input_slice_bits is not None:
            if self.dac.bits is None or self.dac.magnitude_bits < 1:
                raise ValueError("Crossbar.input_slice_bits needs a DAC with magnitude bits "
                                 f"(bits >= 2 signed, >= 1 unsigned); got DAC.bits="
                                 f"{self.dac.bits}")
            check_int("Crossbar.input_slice_bits", self.input_slice_bits, lower=1,
                      upper=self.dac.magnitude_bits)
        if self.device.read_noise.acts_on_weight and self.wires is not None:
            raise ValueError("read noise that acts on the weight (WeightRelativeNoise) needs "
                             "ideal wires (wires=None)")

    @property
    def usable_cols(self) -> int:
        """Bit lines per array that hold weights."""
        return self.cols - self.mapping.reference_columns

    def tiles(self, out_features: int, in_features: int) -> tuple[int, int]:
        """Number of row tiles (inputs) and column tiles (outputs) for a weight matrix."""
        return math.ceil(in_features / self.rows), math.ceil(out_features / self.usable_cols)

    def program(
        self,
        weights: Float[ArrayLike, "out in"],
        *,
        key: PRNGKeyArray | None = None,
        calibration_inputs: Float[ArrayLike, "N in"] | None = None,
    ) -> ProgrammedCrossbar:
        """Program ``weights`` (out × in) onto arrays; return the chip instance.

        Everything fixed at programming time (variation, programming noise, faults, drift
        states) is sampled here from ``key``, and the ADC range is set (a calibration read of
        ``calibration_inputs``, input units, when the ADC's range calibrates to data; default:
        the range's own calibration pattern).
        """
        weights = _hardware_float(jnp.asarray(weights))
        if weights.ndim != 2 or 0 in weights.shape:
            raise ValueError(f"weights must be a non-empty 2-D array (out, in); got shape "
                             f"{weights.shape}")
        weights = check_finite_array("weights", weights)
        check_key("key", key, required=False)
        if key is None and self.device.programming_is_random:
            raise ValueError("key is required to program a non-ideal device (programming "
                             "noise, variation, faults); pass key=jax.random.key(…)")
        out_features, in_features = weights.shape
        w = self._to_tiles(weights)
        g_min = jnp.asarray(self.device.g_min, w.dtype)
        g_max = jnp.asarray(self.device.g_max, w.dtype)
        g_target, weight_per_siemens = self.mapping.targets(w, g_min, g_max)
        cells = self.device.program(g_target, key=key)
        return self._instance(cells, weight_per_siemens[:, 0], out_features, in_features,
                              calibration_inputs)

    def _in_use(self, cells, rows: int, n_out: int):
        """The first ``rows`` word lines and ``n_out`` weight columns (with the reference
        columns) of each tile of ``cells`` (an array or a pytree of ``(P, R, rows, C, cols)``
        arrays), behind an optimization barrier: XLA would otherwise fuse their computation
        (programming noise, drift) into every consumer, recomputing it per read time and for
        padding cells no read uses."""
        return jax.lax.optimization_barrier(jax.tree_util.tree_map(
            lambda a: self.mapping.select_columns(a[:, :, :rows], n_out), cells))

    def _to_tiles(self, a: Float[Array, "... out in"]) -> Float[Array, "... R rows C cols"]:
        """Lay a (…, out, in) array out as tiles (…, R, rows, C, usable_cols), zero-padded."""
        *lead, out_features, in_features = a.shape
        n_row, n_col = self.tiles(out_features, in_features)
        pad = [(0, 0)] * len(lead) + [(0, n_row * self.rows - in_features),
                                      (0, n_col * self.usable_cols - out_features)]
        padded = jnp.pad(jnp.swapaxes(a, -1, -2), pad)
        return padded.reshape(*lead, n_row, self.rows, n_col, self.usable_cols)

    def assemble(
        self,
        conductances: Float[ArrayLike, "P out in"],
        weight_per_siemens: float | Float[ArrayLike, ""],
        *,
        calibration_inputs: Float[ArrayLike, "N in"] | None = None,
    ) -> ProgrammedCrossbar:
        """A chip instance from conductances [S] that are already in the cells (measured,
        formed or set by a topology), one ``(out, in)`` matrix per physical array of the
        mapping; ``weight_per_siemens`` converts the effective conductance to weight units.
        Nothing is programmed (no noise is drawn); the ADC range is set as in
        :meth:`program`. Differentiable in both arguments. Needs a mapping without
        reference columns."""
        g = jnp.asarray(conductances)
        if self.mapping.reference_columns or g.ndim != 3 or g.shape[0] != self.mapping.arrays:
            raise ValueError(
                f"conductances must have shape ({self.mapping.arrays}, out, in) for a mapping "
                f"without reference columns; got {g.shape} for {type(self.mapping).__name__}")
        _, out_features, in_features = g.shape
        g = self._to_tiles(jax.lax.optimization_barrier(g))
        scale = jnp.broadcast_to(jnp.asarray(weight_per_siemens, g.dtype),
                                 (g.shape[1], g.shape[3], 1))
        cells = ProgrammedCells(g=g, nu=jnp.zeros_like(g))
        return self._instance(cells, scale, out_features, in_features, calibration_inputs)

    def _slices(self, xq: Array) -> tuple[Array, Array]:
        """Split quantised normalised inputs into bit slices ``(B, S, in)`` and weights."""
        if self.input_slice_bits is None:
            return xq[:, None, :], jnp.ones((1,), xq.dtype)
        magnitude_bits = self.dac.magnitude_bits
        k = self.input_slice_bits
        n_slices = math.ceil(magnitude_bits / k)
        base = 2**k
        code = jax.lax.stop_gradient(jnp.round(xq * self.dac.levels))
        place = base ** jnp.arange(n_slices)
        digits = (jnp.abs(code)[:, None, :] // place[None, :, None]) % base
        slices = jnp.sign(code)[:, None, :] * digits / (base - 1)
        slice_weights = (place * (base - 1) / self.dac.levels).astype(xq.dtype)
        straight_through = (xq - jax.lax.stop_gradient(xq))[:, None, :]
        slices = slices + straight_through / (n_slices * slice_weights)[None, :, None]
        return slices.astype(xq.dtype), slice_weights

    def _word_line_voltages(self, x: Float[Array, "B in"], n_row: int, rows: int
                            ) -> tuple[Array, Array, Array, Array]:
        """DAC: word-line voltages ``(R, B, S, rows)`` [V], per-vector input scale and
        offset ``(B, 1)`` and slice weights ``(S,)``."""
        batch, in_features = x.shape
        x_scale, x_offset = self.dac.affine(x)
        slices, slice_weights = self._slices(self.dac((x - x_offset) / x_scale))
        n_slices = slices.shape[1]
        slices = jnp.pad(slices, ((0, 0), (0, 0), (0, n_row * rows - in_features)))
        v = self.dac.v_read * slices.reshape(batch, n_slices, n_row, rows).transpose(2, 0, 1, 3)
        return v, x_scale, x_offset, slice_weights

    def _instance(self, cells: ProgrammedCells, weight_per_siemens: Array, out_features: int,
                  in_features: int, calibration_inputs) -> ProgrammedCrossbar:
        n_row, rows, n_col, _ = cells.g.shape[1:]
        g_eff = self.mapping.effective(cells.g)
        adc_range = self.adc.range
        if self.adc.bits is None:
            full_scale = jnp.ones((n_row, n_col, 1), cells.g.dtype)
        else:
            currents = None
            columns = tuple(min(self.usable_cols, out_features - c * self.usable_cols)
                            for c in range(n_col))
            if adc_range.needs_calibration_read:
                if calibration_inputs is None:
                    x = _calibration_pattern(adc_range.seed, adc_range.samples, in_features,
                                             jnp.dtype(cells.g.dtype).name)
                else:
                    x = jnp.asarray(calibration_inputs, cells.g.dtype)
                    if x.ndim != 2 or x.shape[1] != in_features or x.shape[0] == 0:
                        raise ValueError(f"calibration_inputs must have shape (N >= 1, "
                                         f"{in_features}); got {x.shape}")
                    x = check_finite_array("calibration_inputs", x)
                used_rows = in_features if n_row == 1 else rows  # the rest read 0 V
                v, *_ = self._word_line_voltages(jax.lax.stop_gradient(x), n_row, used_rows)
                v = v.reshape(n_row, -1, used_rows)
                # Only the cells in use are read: the rest are padding whose currents no range
                # uses (they read 0 A).
                used_cols = columns[0] if n_col == 1 else self.usable_cols
                g_used = self.mapping.effective(self._in_use(cells.g, used_rows, used_cols))
                currents = v @ g_used.reshape(n_row, used_rows, -1)
                currents = currents.reshape(n_row, v.shape[1], n_col, used_cols)
            full_scale = jax.lax.stop_gradient(
                adc_range.full_scale(g_eff, self.dac, currents, columns))
            if 1 < full_scale.shape[-1] < g_eff.shape[-1]:  # per column; padding at 1 A
                full_scale = jnp.pad(full_scale, ((0, 0), (0, 0),
                                                  (0, g_eff.shape[-1] - full_scale.shape[-1])),
                                     constant_values=1.0)
            full_scale = jnp.broadcast_to(full_scale, (n_row, n_col, full_scale.shape[-1]))
            full_scale = jnp.where(full_scale > 0, full_scale, jnp.ones_like(full_scale))
        return ProgrammedCrossbar(
            crossbar=self,
            cells=cells,
            weight_per_siemens=weight_per_siemens,
            adc_full_scale=full_scale,
            out_features=out_features,
            in_features=in_features,
        )


@functools.lru_cache(maxsize=32)
def _calibration_pattern(seed: int, samples: int, in_features: int, dtype: str) -> Array:
    """The default calibration inputs: ``samples`` i.i.d. N(0, 1) vectors from ``seed``,
    computed once (a constant of every program that uses them, not redrawn per call)."""
    with jax.ensure_compile_time_eval():
        return jax.random.normal(jax.random.key(seed), (samples, in_features), dtype)


class AnalogMatrices(eqx.Module):
    """A programmed layer in weight units, for continuous-time (unclocked) analogue use."""

    weights: Float[Array, "out in"]
    """Effective weights W (signed conductance × weight per siemens), noise-free."""
    read_variance: Float[Array, "out in"]
    """White read-noise variance each unit input adds to each output: ``Var[y_o] =
    Σ_i x_i²·v_oi`` per read (the device's per-read σ² in weight units)."""
    frozen_variance: Float[Array, "out in"] | None
    """Variance of each weight's frozen (slow: 1/f, telegraph) read noise at this time, in
    weight units²: a perturbation drawn once per read time; None if the device has none."""
    total_conductance: Float[Array, " out"]
    """Σ of all conductances on each output's bit lines in weight units (sets the op-amp's
    noise gain and the Johnson noise)."""
    cell_conductance: Float[Array, "out in"]
    """Conductance [S] of all cells between each input and each output (both cells of a
    pair; a reference cell counted with every output)."""
    inverted_weights: Float[Array, "out in"] | None = None
    """The part of the weights on cells driven with the inverted input ``−V`` (the G⁻ array
    of a differential pair, through a word-line inverter), ``≥ 0`` in weight units:
    ``weights = W⁺ − inverted_weights``; None for a single array."""

    @property
    def total_siemens(self) -> Float[Array, " out"]:
        """``total_conductance`` in siemens."""
        return jnp.sum(self.cell_conductance, axis=1)


class ProgrammedCrossbar(eqx.Module):
    """A chip instance: a weight matrix programmed onto crossbar tiles.

    Call it on inputs ``x`` of shape ``(..., in)`` to compute ``W x`` in analogue. Read noise
    follows its time scale: white noise is exact in distribution, each output of each read
    (each vector, each bit slice) ``N(0, Σ_i V_i² σ_io²)`` (one extra matmul with the
    variances, no per-sample copy of G; bit lines and reads independent, a reference
    column's noise shared by its tile's outputs); frozen noise is one perturbation of every
    cell drawn per call — a call is one read time — shared by all vectors and slices.
    """

    crossbar: Crossbar
    cells: ProgrammedCells
    """Conductances ``(P, R, rows, C, cols)`` [S] and drift states."""
    weight_per_siemens: Float[Array, "R C k"]
    """Weight units per siemens of effective conductance, per tile (k=1) or per column."""
    adc_full_scale: Float[Array, "R C k"]
    """ADC full scale per tile (k=1) or per column [A]."""
    out_features: int = eqx.field(static=True)
    in_features: int = eqx.field(static=True)

    def conductances(self, t: float | ArrayLike | None = None) -> Float[Array, "P R rows C cols"]:
        """Cell conductances [S] at ``t`` seconds after programming (no read noise)."""
        return self.crossbar.device.conductance(self.cells, t)

    def weights(self, t: float | ArrayLike | None = None) -> Float[Array, "out in"]:
        """Effective weights read back from the conductances at time ``t`` (no read noise)."""
        g = self.crossbar.mapping.effective(self.conductances(t))
        return self._to_weight_layout(g * self.weight_per_siemens[:, None])

    def _to_weight_layout(self, a: Float[Array, "R rows C cols"]) -> Float[Array, "out in"]:
        n_row, rows, n_col, cols = a.shape
        return a.reshape(n_row * rows, n_col * cols)[: self.in_features, : self.out_features].T

    def _noise_std(self, std_of, g0: Array, g: Array, t: Array) -> Array | None:
        """σ [S] of one part of the read noise (``std_of``: the noise's ``white_std`` or
        ``frozen_std``) of cells programmed to ``g0`` reading ``g``: per cell ``(P, …)``, or
        per effective conductance ``(R, rows, C, cols)`` for noise on the weight; None if
        the part is absent."""
        if self.crossbar.device.read_noise.acts_on_weight:
            effective = self.crossbar.mapping.effective
            return std_of(effective(g0), effective(g), t)
        return std_of(g0, g, t)

    def _noise_variance(self, std_of, g0: Array, g: Array, t: Array) -> Array | None:
        """Variance [S²] per (input, output) ``(R, rows, C, cols)`` of one part of the read
        noise (both cells of a pair, a reference cell counted with every output); None if
        the part is absent."""
        std = self._noise_std(std_of, g0, g, t)
        if std is None:
            return None
        if self.crossbar.device.read_noise.acts_on_weight:
            return jnp.broadcast_to(std * std, self.crossbar.mapping.effective(g).shape)
        return self.crossbar.mapping.per_output_sum(jnp.broadcast_to(std * std, g.shape))

    def analog(self, t: float | ArrayLike | None = None) -> AnalogMatrices:
        """The chip as continuous-time analogue hardware sees it at time ``t``, in weight
        units (the conductance of one weight unit is ``1 / weight_per_siemens``): effective
        weights, white and frozen read-noise variances and total conductance per output.
        Converters are not involved (no DAC/ADC in an analogue loop)."""
        xbar = self.crossbar
        g = self.conductances(t)
        time = xbar.device.read_time(t, g.dtype)
        s = self.weight_per_siemens[:, None]  # (R, 1, C, k)
        weights = self._to_weight_layout(xbar.mapping.effective(g) * s)
        noise = xbar.device.read_noise
        white = self._noise_variance(noise.white_std, self.cells.g, g, time)
        frozen = self._noise_variance(noise.frozen_std, self.cells.g, g, time)
        total = xbar.mapping.per_output_sum(g)
        inverted = xbar.mapping.inverted(g)
        return AnalogMatrices(
            weights=weights,
            read_variance=(jnp.zeros_like(weights) if white is None
                           else self._to_weight_layout(white * s**2)),
            frozen_variance=None if frozen is None else self._to_weight_layout(frozen * s**2),
            total_conductance=jnp.sum(self._to_weight_layout(total * s), axis=1),
            cell_conductance=self._to_weight_layout(total),
            inverted_weights=None if inverted is None else self._to_weight_layout(inverted * s),
        )

    def _frozen_effective(self, key, g0: Array, g: Array, t: Array) -> tuple[Array, Array]:
        """Cell conductances ``(P, …)`` and effective conductances ``(R, rows, C, cols)`` [S]
        with this read time's frozen noise (one draw per cell from ``key``)."""
        noise, mapping = self.crossbar.device.read_noise, self.crossbar.mapping
        std = self._noise_std(noise.frozen_std, g0, g, t)
        if std is None:
            return g, mapping.effective(g)
        if noise.acts_on_weight:
            g_eff = mapping.effective(g)
            return g, g_eff + std * _rng.normal(key, g_eff.shape, g_eff.dtype)
        g = jnp.maximum(g + std * _rng.normal(key, g.shape, g.dtype), 0.0)
        return g, mapping.effective(g)

    def _ir_drop_currents(self, v: Array, g: Array) -> Array:
        """Bit-line currents ``(R, B, S, C, cols)`` [A] with wire resistance: every physical
        array of every tile solved by nodal analysis, then combined by the mapping."""
        n_row, batch, n_slices, rows = v.shape
        v = v.reshape(n_row, batch * n_slices, rows)
        tiles = g.transpose(0, 1, 3, 2, 4)  # (P, R, C, rows, cols)
        solve = self.crossbar.wires.solve
        per_column_tile = jax.vmap(lambda g, v: solve(g, v).currents, in_axes=(0, None))
        per_row_tile = jax.vmap(per_column_tile, in_axes=(0, 0))
        per_array = jax.vmap(per_row_tile, in_axes=(0, None))
        currents = per_array(tiles, v)  # (P, R, C, B·S, cols)
        currents = currents.reshape(*currents.shape[:3], batch, n_slices, -1)
        return self.crossbar.mapping.effective(currents.transpose(0, 1, 3, 4, 2, 5))

    def _white_noise(self, key, v: Array, g0: Array, g: Array, t: Array) -> Array | None:
        """White read noise [A] of one read, laid out ``(R, B, S, C, cols)``; None if the
        device has none.

        Exact for independent Gaussian cell noise: output ``o`` of each read has variance
        ``Σ_i V_i² σ_io²`` (one matmul of ``V²`` with the cell variances; none when σ does not
        depend on the conductance).
        """
        xbar = self.crossbar
        noise, mapping = xbar.device.read_noise, xbar.mapping
        n_row, batch, n_slices, rows = v.shape
        n_col = g.shape[3]
        v2 = (v * v).reshape(n_row, batch * n_slices, rows)
        if noise.white_conductance_independent:
            ones = jnp.ones((1,) * 5, v.dtype)
            std = noise.white_std(ones, ones, t)
            if std is None:
                return None
            var_matrix = mapping.noise_variance_matrix(
                jnp.broadcast_to(std * std, (g.shape[0], n_row, 1, n_col, g.shape[4])))
            variance = jnp.sum(v2, axis=-1, keepdims=True) * var_matrix.reshape(n_row, 1, -1)
        else:
            std = self._noise_std(noise.white_std, g0, g, t)
            if std is None:
                return None
            var_matrix = (std * std if noise.acts_on_weight
                          else mapping.noise_variance_matrix(std * std))
            variance = v2 @ var_matrix.reshape(n_row, rows, -1)
        cols_phys = variance.shape[-1] // n_col
        std = safe_sqrt(variance).reshape(n_row, batch, n_slices, n_col, cols_phys)
        # Counter of each draw = its index in the batch-first layout (B, S, R, C, cols), so a
        # given input row sees the same noise whatever the batch size.
        r, b, s_, c, o = (jax.lax.broadcasted_iota(jnp.uint32, std.shape, d) for d in range(5))
        counter = (((b * n_slices + s_) * n_row + r) * n_col + c) * cols_phys + o
        if batch * n_slices * n_row * n_col * cols_phys >= 2**32:
            raise ValueError("too many outputs in one read (>= 2**32 random numbers)")
        z = _rng.normal_from_counter(key, counter, v.dtype)
        if noise.acts_on_weight:
            return std * z
        return mapping.combine_noise(std, z)

    def __call__(
        self,
        x: Float[ArrayLike, "... in"],
        *,
        key: PRNGKeyArray | None = None,
        t: float | ArrayLike | None = None,
    ) -> Float[Array, "... out"]:
        """Analogue MVM ``y ≈ W x`` of a batch of inputs, read ``t`` seconds after
        programming (``None``: at the drift reference time). ``key`` draws the read noise:
        white noise per vector and bit slice, frozen noise once for the call (reuse the key
        to read the same frozen state again).

        The read, step by step: the arrays' region in use → the DAC's word-line voltages →
        the conductances at time ``t`` with this read time's frozen noise → the bit-line
        currents (Ohm and Kirchhoff, or nodal analysis with wires) plus white read noise →
        the ADC → digital scaling back to weight units and the sum over tiles and slices."""
        check_key("key", key, required=False)
        if self.crossbar.device.has_read_noise and key is None:
            raise ValueError("key is required: the device has read noise (drawn per read); "
                             "pass key=jax.random.key(…)")
        return Read.of_key(key, t)(self, x)

    def read(
        self,
        x: Float[ArrayLike, "... in"],
        *,
        white_key: PRNGKeyArray | None,
        frozen_key: PRNGKeyArray | None,
        t: float | ArrayLike | None = None,
    ) -> Float[Array, "... out"]:
        """The read of :meth:`__call__` with its two noise time scales keyed separately:
        ``frozen_key`` draws the frozen noise of read time ``t`` (reuse it to read the same
        frozen state, e.g. for every example of a test set), ``white_key`` the white noise
        of each vector and bit slice (counter-based: vector ``b`` of a batch gets the same
        draw whatever the batch size). Both keys are needed when the device has read
        noise. ``chip.read(x, white_key=kw, frozen_key=kf, t=t)`` equals
        ``chip.at(t, frozen_key=kf)(x, key=kw)``; use :meth:`at` to read many batches at one
        time without recomputing its conductances."""
        x_dtype = jnp.asarray(x).dtype
        x, batch_shape = self._check_inputs(x)
        check_key("white_key", white_key, required=False)
        check_key("frozen_key", frozen_key, required=False)
        noisy = self.crossbar.device.has_read_noise
        if noisy and (white_key is None or frozen_key is None):
            raise ValueError("white_key and frozen_key are required: the device has read "
                             "noise (drawn per read); pass jax.random.key(…) for each")
        state = self._at(t, frozen_key if noisy else None)
        y = state._mvm(x, white_key if noisy else None)
        return _output(y, x_dtype, batch_shape, self.out_features)

    def at(self, t: float | ArrayLike | None = None, *,
           frozen_key: PRNGKeyArray | None = None) -> FrozenRead:
        """The chip as it reads ``t`` seconds after programming (``None``: the drift
        reference time): drifted conductances with this read time's frozen noise (drawn from
        ``frozen_key``, needed when the device has frozen read noise), computed once.
        Call the result on each batch read at that time (fresh white noise per call)."""
        check_key("frozen_key", frozen_key, required=False)
        if _has_part(self.crossbar.device.read_noise.frozen_std) and frozen_key is None:
            raise ValueError("frozen_key is required: the device has frozen read noise (one "
                             "draw per read time); pass frozen_key=jax.random.key(…)")
        return self._at(t, frozen_key)

    def _at(self, t, frozen_key) -> FrozenRead:
        xbar = self.crossbar
        region = self._region()
        time = xbar.device.read_time(t, self.cells.g.dtype)
        g = xbar.device.conductance(region.cells, t)
        g_read, g_eff = self._read_conductances(frozen_key, region.cells.g, g, time)
        weight_per_siemens = region.weight_per_siemens
        if xbar.drift_compensation:
            weight_per_siemens = weight_per_siemens * _drift_compensation(
                xbar.mapping.effective(region.cells.g), g_eff)
        return FrozenRead(chip=self, region=region, time=time, conductance=g,
                          read_conductance=g_read, effective_conductance=g_eff,
                          weight_per_siemens=weight_per_siemens)

    def _check_inputs(self, x) -> tuple[Float[Array, "B in"], tuple[int, ...]]:
        """Inputs flattened to a non-empty finite batch in the chip's float dtype, and the
        batch shape."""
        x = jnp.asarray(x)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"x must have shape (..., {self.in_features}); got {x.shape}")
        x = _hardware_float(x)
        batch_shape = x.shape[:-1]
        x = check_finite_array("x", x.reshape(-1, self.in_features))
        if x.shape[0] == 0:
            raise ValueError(f"x must hold at least one input vector; got shape "
                             f"{batch_shape + (self.in_features,)}")
        return x.astype(jnp.result_type(x, self.cells.g)), batch_shape

    def _region(self) -> _ReadRegion:
        """The cells a read drives and senses. A layer smaller than one array leaves word
        lines at 0 V and bit lines unread: with ideal wires they change nothing, so they are
        neither drifted nor computed; with wires every cell of the array is in the circuit."""
        xbar = self.crossbar
        n_row, rows, n_col, _ = self.cells.g.shape[1:]
        if xbar.wires is None:
            rows = self.in_features if n_row == 1 else rows
            n_out = self.out_features if n_col == 1 else xbar.usable_cols
        else:
            n_out = xbar.usable_cols
        cells = xbar._in_use(self.cells, rows, n_out)

        def per_column(a):
            return a[..., :n_out] if a.shape[-1] > 1 else a

        return _ReadRegion(cells=cells, weight_per_siemens=per_column(self.weight_per_siemens),
                           full_scale=per_column(self.adc_full_scale),
                           shape=(n_row, rows, n_col, n_out))

    def _read_conductances(self, key, g0: Array, g: Array, t: Array) -> tuple[Array, Array]:
        """Cell and effective conductances [S] seen by this read: drifted ``g`` with this
        read time's frozen noise (one draw per cell from ``key``; None: noise-free)."""
        if key is None:
            return g, self.crossbar.mapping.effective(g)
        return self._frozen_effective(key, g0, g, t)

    def _bit_line_currents(self, v: Array, g_read: Array, g_eff: Array, n_out: int) -> Array:
        """Noise-free bit-line currents ``(R, B, S, C, cols)`` [A] of word-line voltages
        ``v`` ``(R, B, S, rows)``: one matmul per row tile for ideal wires, else nodal
        analysis of every array."""
        if self.crossbar.wires is not None:
            return self._ir_drop_currents(v, g_read)
        n_row, batch, n_slices, rows = v.shape
        n_col = g_eff.shape[2]
        current = v.reshape(n_row, batch * n_slices, rows) @ g_eff.reshape(n_row, rows, -1)
        return current.reshape(n_row, batch, n_slices, n_col, n_out)

    def _column_sums(self, g_eff: Float[Array, "R rows C cols"],
                     weight_per_siemens: Array) -> Float[Array, " out"]:
        """``Σ_i W_oi`` in weight units over the inputs in use, from the effective
        conductances this read sees (a calibration read of all-ones inputs at the read
        time: drift and frozen noise included, no white noise)."""
        n_row, rows = g_eff.shape[:2]
        used = (jnp.arange(n_row)[:, None] * rows + jnp.arange(rows)[None]) < self.in_features
        sums = jnp.sum(jnp.where(used[..., None, None], g_eff, 0.0), axis=1)  # (R, C, cols)
        return jnp.sum(sums * weight_per_siemens, axis=0).reshape(-1)[: self.out_features]

    def _digital_sum(self, current: Array, weight_per_siemens: Array, slice_weights: Array,
                     x_scale: Array) -> Float[Array, "B out"]:
        """ADC outputs [A] back to weight units, summed over row tiles and bit slices and
        rescaled by each vector's input scale."""
        xbar = self.crossbar
        batch = current.shape[1]
        scale = slice_weights[None, None, :, None, None] * weight_per_siemens[:, None, None]
        y = jnp.sum(current * scale, axis=(0, 2)).reshape(batch, -1)
        return y[:, : self.out_features] * (x_scale / xbar.dac.v_read)


def _has_part(std_of) -> bool:
    """Whether a read-noise part (``white_std`` or ``frozen_std``) is present (traced
    abstractly: nothing is computed)."""
    one = jax.ShapeDtypeStruct((), jnp.float32)
    return jax.eval_shape(std_of, one, one, one) is not None


def _output(y: Array, x_dtype, batch_shape: tuple[int, ...], out_features: int) -> Array:
    """A read's ``(B, out)`` outputs in the inputs' batch shape (and half type)."""
    if jnp.issubdtype(x_dtype, jnp.floating) and jnp.finfo(x_dtype).bits < 32:
        y = y.astype(x_dtype)  # computed in float32, returned in the inputs' half type
    return y.reshape(*batch_shape, out_features)


class FrozenRead(eqx.Module):
    """A programmed crossbar as it reads at one time after programming
    (:meth:`ProgrammedCrossbar.at`): the cells' conductances drifted to that time with its
    frozen read noise, computed once. Calling it on a batch adds only what is drawn per read
    (white noise, per vector and bit slice) and the converters, so a test set read in
    minibatches at one time, or every step of a solve, shares one frozen state and pays for
    it once."""

    chip: ProgrammedCrossbar
    region: _ReadRegion
    time: Float[Array, ""]
    """Time of the read after programming [s]."""
    conductance: Array
    """Drifted conductances of the cells read ``(P, R, rows, C, cols)`` [S], no read noise."""
    read_conductance: Array
    """The same with this read time's frozen noise [S]."""
    effective_conductance: Array
    """Signed conductances ``(R, rows, C, cols)`` [S] the inputs see."""
    weight_per_siemens: Array
    """Weight units per siemens, drift compensation included."""

    def __call__(self, x: Float[ArrayLike, "... in"], *, key: PRNGKeyArray | None = None
                 ) -> Float[Array, "... out"]:
        """Analogue MVM ``y ≈ W x`` at this read time; ``key`` draws the white read noise
        (needed when the device has white read noise)."""
        chip = self.chip
        x_dtype = jnp.asarray(x).dtype
        x, batch_shape = chip._check_inputs(x)
        check_key("key", key, required=False)
        if _has_part(chip.crossbar.device.read_noise.white_std) and key is None:
            raise ValueError("key is required: the device has white read noise (drawn per "
                             "read); pass key=jax.random.key(…)")
        return _output(self._mvm(x, key), x_dtype, batch_shape, chip.out_features)

    def _mvm(self, x: Float[Array, "B in"], white_key: PRNGKeyArray | None
             ) -> Float[Array, "B out"]:
        """The read step by step: the DAC's word-line voltages → the bit-line currents (Ohm
        and Kirchhoff, or nodal analysis with wires) plus white read noise → the ADC →
        digital scaling back to weight units and the sum over tiles and slices."""
        chip, region = self.chip, self.region
        xbar = chip.crossbar
        n_row, rows, n_col, n_out = region.shape
        v, x_scale, x_offset, slice_weights = xbar._word_line_voltages(x, n_row, rows)
        g_eff = self.effective_conductance
        current = chip._bit_line_currents(v, self.read_conductance, g_eff, n_out)
        if white_key is not None:
            white = chip._white_noise(white_key, v, region.cells.g, self.conductance,
                                      self.time)
            if white is not None:
                current = current + white
        current = xbar.adc(current, region.full_scale[:, None, None])
        y = chip._digital_sum(current, self.weight_per_siemens, slice_weights, x_scale)
        if xbar.dac.shifts_inputs:
            y = y + x_offset * chip._column_sums(g_eff, self.weight_per_siemens)
        return y


class _ReadRegion(eqx.Module):
    """The part of a chip one read uses (see :meth:`ProgrammedCrossbar._region`)."""

    cells: ProgrammedCells
    weight_per_siemens: Array
    full_scale: Array
    shape: tuple[int, int, int, int] = eqx.field(static=True)
    """Row tiles, rows per tile, column tiles, outputs per column tile."""


def _drift_compensation(g_eff_t0: Array, g_eff_t: Array) -> Float[Array, "R C 1"]:
    """Global drift compensation per tile (Joshi et al., Nat. Commun. 11, 2473 (2020); IBM
    aihwkit's ``GlobalDriftCompensation``): the ratio of the summed |effective conductance|
    read right after programming to the same read now, which sees this read time's frozen
    noise (a calibration read of one-hot inputs)."""
    total_t0 = jnp.sum(jnp.abs(g_eff_t0), axis=(1, 3))
    total_t = jnp.sum(jnp.abs(g_eff_t), axis=(1, 3))
    ratio = jnp.where(total_t > 0, total_t0 / jnp.where(total_t > 0, total_t, 1), 1)
    return jax.lax.stop_gradient(ratio)[..., None]


class Read(eqx.Module):
    """One read time of a programmed layer inside a whole-network chip (bound by
    :func:`analogjax.read`): the time ``t`` [s] after programming and the keys of its frozen
    noise (one draw for the read time, shared by every vector) and its white noise (per
    vector). Keys are None for noise-free devices."""

    t: float | Float[Array, ""] | None
    frozen_key: PRNGKeyArray | None
    white_key: PRNGKeyArray | None

    @classmethod
    def of_key(cls, key: PRNGKeyArray | None, t: float | ArrayLike | None) -> Read:
        """A read at ``t`` with both noise keys from ``key`` (None: noise-free)."""
        k_white, k_frozen = (None, None) if key is None else jax.random.split(key)
        return cls(t, k_frozen, k_white)

    def __call__(self, chip: ProgrammedCrossbar, x: Float[ArrayLike, "... in"]
                 ) -> Float[Array, "... out"]:
        """``chip`` read at this time with these keys."""
        return chip.read(x, white_key=self.white_key, frozen_key=self.frozen_key, t=self.t)
