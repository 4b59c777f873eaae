"""Exact IR drop: analogjax (CG on the bit-line voltages, word lines eliminated exactly, jitted,
float64) vs
``scipy.sparse.linalg.spsolve`` on the same nodal matrix (issue: IR drop).

128×128 and 256×256 arrays (log-uniform 1 kΩ–100 kΩ cells, 1 Ω wire segments, as the SPICE
references), 32 input vectors, same process. Accuracy: both against each other and the
maximum KCL residual. Then a 512×512 array with 32 inputs (goal: < 5 s on CPU). Prints the
speed-ups last (goal: >= 5x at 256×256). Needs scipy (``pip install -e ".[bench]"``).

    python benchmarks/bench_ir_drop.py
"""

import argparse
import math
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402
from _common import add_scale_option, report  # noqa: E402

import analogjax as aj  # noqa: E402

R_WIRE = 1.0
BATCH = 32


def case(size, seed=0):
    rng = np.random.default_rng(seed)
    g = 1 / 10 ** rng.uniform(3, 5, (size, size))
    v = rng.uniform(-0.2, 0.2, (BATCH, size))
    return g, v


def nodal_matrix(g, r):
    """The same 2mn × 2mn system as analogjax, assembled for scipy (CSC)."""
    m, n = g.shape
    w = lambda i, j: i * n + j  # noqa: E731
    b = lambda i, j: m * n + i * n + j  # noqa: E731
    rows, cols, vals = [], [], []

    def add(i, j, x):
        rows.append(i)
        cols.append(j)
        vals.append(x)

    gw = gb = 1 / r
    for i in range(m):
        for j in range(n):
            add(w(i, j), w(i, j), g[i, j] + gw + (gw if j < n - 1 else 0.0))
            if j > 0:
                add(w(i, j), w(i, j - 1), -gw)
            if j < n - 1:
                add(w(i, j), w(i, j + 1), -gw)
            add(b(i, j), b(i, j), g[i, j] + gb + (gb if i > 0 else 0.0))
            if i > 0:
                add(b(i, j), b(i - 1, j), -gb)
            if i < m - 1:
                add(b(i, j), b(i + 1, j), -gb)
            add(w(i, j), b(i, j), -g[i, j])
            add(b(i, j), w(i, j), -g[i, j])
    return sp.csc_matrix((vals, (rows, cols)), shape=(2 * m * n, 2 * m * n))


def scipy_currents(matrix, g, v, r):
    m, n = g.shape
    rhs = np.zeros((2 * m * n, v.shape[0]))
    rhs[np.arange(m) * n, :] = v.T / r
    x = spla.spsolve(matrix, rhs)
    return x[m * n + (m - 1) * n: m * n + m * n, :].T / r


def timed(fn, args, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times)), out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="64² and 128² only")
    add_scale_option(parser)  # the cells: each side times √K
    args = parser.parse_args()
    side = math.isqrt(args.scale)
    if side * side != args.scale:
        parser.error("--scale must be a square here (the cells of square arrays)")
    sizes = tuple(side * s for s in ((64, 128) if args.quick else (128, 256, 512)))
    solve = jax.jit(lambda g, v: aj.ir_drop.solve(g, v, r_word=R_WIRE, r_bit=R_WIRE,
                                                  solver=aj.ir_drop.PreconditionedCG()).currents)
    speedups = {}
    for size in sizes:
        g, v = case(size)
        start = time.perf_counter()
        compiled = solve.lower(g, v).compile()
        compile_s = time.perf_counter() - start
        t_jax, i_jax = timed(compiled, (g, v), 3)
        line = (f"{size}x{size}, {BATCH} inputs: analogjax {t_jax:.3f} s "
                f"(compile {compile_s:.1f} s)")
        if size <= 256 * side:
            matrix = nodal_matrix(g, R_WIRE)
            t_scipy, i_scipy = timed(scipy_currents, (matrix, g, v, R_WIRE), 1)
            rel = np.max(np.abs(np.asarray(i_jax) - i_scipy)) / np.max(np.abs(i_scipy))
            speedups[size] = t_scipy / t_jax
            report(f"IR drop {size}², {BATCH} inputs, float64 / scipy spsolve", t_jax, t_scipy,
                   "<= 0.2 (>= 5x faster)", compile_s=compile_s)
            line += f"; scipy spsolve {t_scipy:.3f} s; max relative difference {rel:.1e}"
        ideal = v @ g
        drop = np.max(np.abs(np.asarray(i_jax) - ideal)) / np.max(np.abs(ideal))
        print(line + f"; IR-drop error vs ideal {drop:.2f}")
    for size, speedup in speedups.items():
        print(f"speed-up analogjax / scipy spsolve at {size}x{size}: {speedup:.1f}x")


if __name__ == "__main__":
    main()
