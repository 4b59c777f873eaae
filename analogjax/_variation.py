"""Monte Carlo variation studies over many simulated chips.

Chip ``i`` is programmed from ``fold_in(key, i)``, so a chip is the same chip whatever the
number of chips, the chunk size and the number of devices or hosts. Chips are evaluated in
chunks (bounded memory: each chunk's results go to the host before the next starts) with
``vmap``, each chunk sharded over all devices along a ``chips`` mesh axis. Under
``jax.distributed`` each process feeds its own devices and the results are all-gathered.
"""

from __future__ import annotations

import abc
import dataclasses
import itertools
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from jaxtyping import PRNGKeyArray

from ._validation import check_int, check_key

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclasses.dataclass(frozen=True)
class Spec:
    """A pass/fail specification on one metric: ``lower <= metric <= upper``."""

    metric: str
    lower: float = -math.inf
    upper: float = math.inf

    def __post_init__(self):
        if not self.lower <= self.upper:
            raise ValueError(f"Spec for {self.metric!r}: lower ({self.lower}) must be <= upper "
                             f"({self.upper})")


def _as_dict(values) -> dict[str, np.ndarray]:
    if isinstance(values, Mapping):
        return {str(k): np.asarray(v) for k, v in values.items()}
    return {"value": np.asarray(values)}


@dataclasses.dataclass(frozen=True)
class MonteCarloResult:
    """Per-chip results (host arrays with the chip index first) and their statistics."""

    values: dict[str, np.ndarray]
    """Metric name → array ``(n_chips, ...)``."""
    n_chips: int
    wall_time_s: float = 0.0
    """Time spent evaluating chips [s] (compilation excluded)."""
    compile_time_s: float = 0.0
    """Time spent tracing and compiling the chunk program [s]."""

    @property
    def chips_per_second(self) -> float:
        return self.n_chips / self.wall_time_s if self.wall_time_s > 0 else math.inf

    def summary(self, specs: Sequence[Spec] = ()) -> dict[str, dict[str, Any]]:
        """Mean, standard deviation, standard error, min/max, quantiles and, per spec, the
        yield (fraction of chips within spec) with its standard error; per metric, computed
        over chips (the first axis)."""
        by_metric = {s.metric: s for s in specs}
        unknown = set(by_metric) - set(self.values)
        if unknown:
            raise ValueError(f"spec names unknown metrics {sorted(unknown)}; metrics are "
                             f"{sorted(self.values)}")
        out = {}
        for name, v in self.values.items():
            v = v.astype(np.float64)
            n = v.shape[0]
            stats = {
                "mean": v.mean(0),
                "std": v.std(0, ddof=1) if n > 1 else np.zeros(v.shape[1:]),
                "min": v.min(0),
                "max": v.max(0),
                "quantiles": {f"q{round(q * 100):02d}": np.quantile(v, q, axis=0)
                              for q in QUANTILES},
            }
            stats["sem"] = stats["std"] / np.sqrt(n)
            if name in by_metric:
                spec = by_metric[name]
                passed = (v >= spec.lower) & (v <= spec.upper)
                p = passed.mean(0)
                stats["yield"] = p
                stats["yield_sem"] = np.sqrt(p * (1 - p) / n)
                stats["spec"] = {"lower": spec.lower, "upper": spec.upper}
            out[name] = jax.tree_util.tree_map(
                lambda a: np.asarray(a, np.float64).tolist(), stats)
        return out

    def save(self, folder: str | Path, specs: Sequence[Spec] = (), extra: dict | None = None
             ) -> Path:
        """Write ``values.npz`` (per-chip arrays) and ``summary.json`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(folder / "values.npz", **self.values)
        summary = {"n_chips": self.n_chips, "wall_time_s": self.wall_time_s,
                   "compile_time_s": self.compile_time_s,
                   "chips_per_second": self.chips_per_second,
                   "metrics": self.summary(specs), **(extra or {})}
        (folder / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
        return folder

    def plot(self, metric: str | None = None, *, labels: Sequence[str] | None = None,
             spec: Spec | None = None, path: str | Path | None = None):
        """Histogram and empirical CDF of a metric over chips (one curve per trailing index,
        e.g. per drift time). Returns the matplotlib figure; saves it when ``path`` is given."""
        import matplotlib

        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        metric = metric or next(iter(self.values))
        v = self.values[metric].reshape(self.n_chips, -1)
        labels = labels or ([metric] if v.shape[1] == 1 else [str(i) for i in range(v.shape[1])])
        fig, (ax_hist, ax_cdf) = plt.subplots(1, 2, figsize=(10, 3.6))
        bins = np.histogram_bin_edges(v, bins=min(50, max(10, self.n_chips // 10)))
        for j, label in enumerate(labels):
            ax_hist.hist(v[:, j], bins=bins, alpha=0.5, label=label)
            ax_cdf.plot(np.sort(v[:, j]), np.arange(1, self.n_chips + 1) / self.n_chips,
                        label=label)
        for ax in (ax_hist, ax_cdf):
            ax.set_xlabel(metric)
            if spec is not None:
                for bound in (spec.lower, spec.upper):
                    if math.isfinite(bound):
                        ax.axvline(bound, color="k", ls="--", lw=1)
        ax_hist.set_ylabel("chips")
        ax_cdf.set_ylabel("fraction of chips ≤ value")
        ax_cdf.grid(alpha=0.3)
        ax_cdf.legend(fontsize=8)
        fig.suptitle(f"{metric} over {self.n_chips} chips")
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120)
            plt.close(fig)
        return fig


class AbstractProgressMeter(eqx.Module):
    """Reports the progress of a Monte Carlo study (the ``progress_meter=`` option; as
    diffrax's progress meters, but on the host between chunks)."""

    @abc.abstractmethod
    def start(self, total: int, description: str) -> Any:
        """Open a meter for ``total`` chips; returns its state."""

    @abc.abstractmethod
    def update(self, state: Any, done: int) -> None:
        """``done`` more chips finished."""

    @abc.abstractmethod
    def close(self, state: Any) -> None:
        """The study ended (also on error)."""


class NoProgressMeter(AbstractProgressMeter):
    """Reports nothing."""

    def start(self, total, description):
        return None

    def update(self, state, done):
        pass

    def close(self, state):
        pass


class TqdmProgressMeter(AbstractProgressMeter):
    """A tqdm bar in chips per second (the default)."""

    def start(self, total, description):
        from tqdm.auto import tqdm

        return tqdm(total=total, unit="chip", desc=description, leave=False)

    def update(self, state, done):
        state.update(done)

    def close(self, state):
        state.close()


def _lower_checking_outputs(run_chunk, key, indices):
    """Lower the chunk program (one trace of ``fn``), with a TypeError naming ``fn`` unless
    it returns a numeric array (or number) or a dict of them per chip."""
    message = "fn must return an array or a dict of arrays (numbers) per chip"
    try:
        lowered = run_chunk.lower(key, indices)
    except TypeError as error:
        raise TypeError(f"{message}; calling it failed: {error}") from None
    leaves = jax.tree_util.tree_leaves(lowered.out_info)
    if not leaves or not all(jnp.issubdtype(leaf.dtype, jnp.number)
                             or jnp.issubdtype(leaf.dtype, jnp.bool_) for leaf in leaves):
        raise TypeError(f"{message}; got {lowered.out_info!r}")
    return lowered


def chip_key(key: PRNGKeyArray, index) -> PRNGKeyArray:
    """The programming key of chip ``index`` (independent of how many chips are run)."""
    return jr.fold_in(key, index)


def monte_carlo(
    fn: Callable[[PRNGKeyArray], Any],
    *,
    key: PRNGKeyArray,
    n_chips: int,
    chunk_size: int = 256,
    vmap_width: int = 16,
    devices: Sequence[jax.Device] | None = None,
    progress_meter: AbstractProgressMeter | None = None,
    description: str = "chips",
) -> MonteCarloResult:
    """Evaluate ``fn(chip_key)`` for ``n_chips`` chips; ``fn`` returns an array or a dict of
    arrays (metrics of one chip).

    Chips run in chunks of about ``chunk_size`` (rounded up to a multiple of
    ``vmap_width × device count``), each chunk sharded over ``devices`` (default: all devices
    of all processes); on each device, ``lax.map`` over groups of ``vmap_width`` chips run with
    ``vmap``. The compiled per-group program is the same whatever the chunk size and device
    count, so results are bitwise identical across chunk sizes; across device counts the chips
    and their outputs are too, while XLA's CPU reductions (e.g. a norm) may differ in the last
    bit. ``progress_meter`` (default :class:`TqdmProgressMeter`, chips/s) reports progress;
    :class:`NoProgressMeter` is silent."""
    if not callable(fn):
        raise TypeError(f"fn must be a function of a chip key; got {type(fn).__name__}")
    check_key("key", key)
    meter = TqdmProgressMeter() if progress_meter is None else progress_meter
    if not isinstance(meter, AbstractProgressMeter):
        raise TypeError(f"progress_meter must be a TqdmProgressMeter or NoProgressMeter; got "
                        f"{type(meter).__name__}")
    n_chips = check_int("n_chips", n_chips, lower=1)
    chunk_size = check_int("chunk_size", chunk_size, lower=1)
    vmap_width = check_int("vmap_width", vmap_width, lower=1)
    devices = list(jax.devices() if devices is None else devices)
    mesh = Mesh(np.array(devices), ("chips",))
    sharding = NamedSharding(mesh, PartitionSpec("chips"))
    replicated = NamedSharding(mesh, PartitionSpec())
    per_device = math.ceil(min(chunk_size, n_chips) / (len(devices) * vmap_width)) * vmap_width
    chunk = per_device * len(devices)

    def local(key, indices):
        groups = indices.reshape(-1, vmap_width)
        out = jax.lax.map(jax.vmap(lambda i: fn(chip_key(key, i))), groups)
        return jax.tree_util.tree_map(lambda a: a.reshape(-1, *a.shape[2:]), out)

    # Chips are independent: nothing is communicated between devices. check_vma=False lets
    # eqx.error_if (a cond on per-chip values) run inside the shard_map body. One device
    # needs no shard_map, whose manual axis would also break lineax's structure checks
    # (shapes are compared with their sharding: the IR-drop CG, diffrax's implicit solvers).
    run_chunk = jax.jit(local if len(devices) == 1 else jax.shard_map(
        local, mesh=mesh, in_specs=(PartitionSpec(), sharding.spec),
        out_specs=PartitionSpec("chips"), check_vma=False))

    key = jax.device_put(key, replicated) if jax.process_count() == 1 else key

    def shard(start):
        indices = np.arange(start, start + chunk, dtype=np.uint32)  # the last chunk is padded
        return jax.make_array_from_callback((chunk,), sharding, lambda s: indices[s])

    start_time = time.perf_counter()
    compiled = _lower_checking_outputs(run_chunk, key, shard(0)).compile()
    compile_time = time.perf_counter() - start_time
    outputs = []
    start_time = time.perf_counter()
    bar = meter.start(n_chips, description)
    try:
        for start in range(0, n_chips, chunk):
            out = compiled(key, shard(start))
            if jax.process_count() > 1:
                from jax.experimental import multihost_utils

                out = multihost_utils.process_allgather(out, tiled=True)
            out = jax.tree_util.tree_map(np.asarray, jax.device_get(out))
            n_valid = min(chunk, n_chips - start)
            outputs.append(jax.tree_util.tree_map(lambda a, n=n_valid: a[:n], out))
            meter.update(bar, n_valid)
    finally:
        meter.close(bar)
    values = jax.tree_util.tree_map(lambda *a: np.concatenate(a), *outputs)
    return MonteCarloResult(values=_as_dict(values), n_chips=n_chips,
                            wall_time_s=time.perf_counter() - start_time,
                            compile_time_s=compile_time)


def sweep(
    make_fn: Callable[..., Callable[[PRNGKeyArray], Any]],
    grid: Mapping[str, Sequence[Any]],
    *,
    key: PRNGKeyArray,
    n_chips: int,
    chunk_size: int = 256,
    specs: Sequence[Spec] = (),
    progress_meter: AbstractProgressMeter | None = None,
) -> list[dict[str, Any]]:
    """A Monte Carlo at every point of a grid; one table (a list of rows).

    ``make_fn(**point)`` returns the per-chip function of that point (e.g. a preset, a noise
    level, a drift time). Every point uses the same chip keys (common random numbers), so
    differences between points are not sampling noise of the chips. Each row holds the
    point's parameters and, per metric, its mean, std, sem, 5 % and 95 % quantiles and yield.
    """
    if not grid:
        raise ValueError("grid must name at least one parameter with a list of values")
    names = list(grid)
    rows = []
    for point in itertools.product(*(grid[n] for n in names)):
        params = dict(zip(names, point, strict=True))
        result = monte_carlo(make_fn(**params), key=key, n_chips=n_chips, chunk_size=chunk_size,
                             progress_meter=progress_meter, description=str(params))
        row = dict(params)
        for metric, stats in result.summary(specs).items():
            for stat in ("mean", "std", "sem"):
                row[f"{metric}_{stat}"] = stats[stat]
            row[f"{metric}_q05"] = stats["quantiles"]["q05"]
            row[f"{metric}_q95"] = stats["quantiles"]["q95"]
            if "yield" in stats:
                row[f"{metric}_yield"] = stats["yield"]
        rows.append(row)
    return rows


def format_table(rows: Sequence[Mapping[str, Any]], floatfmt: str = ".4g") -> str:
    """Rows of a sweep as an aligned text table."""
    if not rows:
        return ""
    columns = list(rows[0])

    def fmt(v):
        if isinstance(v, float | np.floating):
            return format(v, floatfmt)
        if isinstance(v, list):
            return "[" + ", ".join(fmt(x) for x in v) + "]"
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(lines)
