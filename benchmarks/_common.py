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


def compile_seconds(jitted, *args) -> float:
    """Time [s] to trace, lower and compile ``jitted`` (a ``jax.jit`` or ``eqx.filter_jit``
    function) for ``args``; the call cache then holds the program."""
    start = time.perf_counter()
    jitted.lower(*args).compile()
    return time.perf_counter() - start
