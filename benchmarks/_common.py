"""Shared by the benchmark scripts: one machine-readable result line per measured path,
collected by ``run_all.py`` (each script still prints its own human-readable lines)."""

from __future__ import annotations

import json
import time

import jax


def report(path: str, analogue_s: float, baseline_s: float, goal: str, *,
           compile_s: float | None = None) -> dict:
    """Print ``RESULT {json}``: the path, the analogue and the baseline time [s] of the same
    work, their ratio (analogue / baseline) and the goal for that ratio."""
    row = {"path": path, "analogue_s": float(analogue_s), "baseline_s": float(baseline_s),
           "ratio": float(analogue_s) / float(baseline_s), "goal": goal,
           "compile_s": None if compile_s is None else float(compile_s),
           "platform": jax.devices()[0].platform}
    print("RESULT " + json.dumps(row), flush=True)
    return row


def add_scale_option(parser) -> None:
    """``--scale K``: K times the default workload (more chips, samples, inputs or cells; each
    script says which), for the larger-size table on a GPU."""
    parser.add_argument("--scale", type=int, default=1, choices=range(1, 65), metavar="K",
                        help="K times the default workload (default 1)")


def compile_seconds(jitted, *args) -> float:
    """Time [s] to trace, lower and compile ``jitted`` (a ``jax.jit`` or ``eqx.filter_jit``
    function) for ``args``; the call cache then holds the program."""
    start = time.perf_counter()
    jitted.lower(*args).compile()
    return time.perf_counter() - start
