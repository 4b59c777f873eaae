"""Noisy crossbar MVM vs the ideal jnp matmul of the same shapes (issue: foundation).

A 512×512 array (one tile), batch 1024, float32, programmed with noise (rram_taox_40nm
preset: programming noise, variation, faults), read noise on, 8-bit DAC and ADC. The
baseline is ``x @ W.T`` under jit in the same process. Prints the compile time, the
per-call times and, last, the ratio (goal on CPU: <= 1.5).

    python benchmarks/bench_crossbar_mvm.py [--batch 1024] [--size 512] [--repeats 50]
"""

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import analogjax as aj


def best_time(fn, *args, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    n = args.size
    k_w, k_x, k_prog, k_read = jax.random.split(jax.random.key(0), 4)
    w = jax.random.normal(k_w, (n, n), jnp.float32) / np.sqrt(n)
    x = jax.random.normal(k_x, (args.batch, n), jnp.float32)
    xbar = aj.Crossbar(aj.presets.rram_taox_40nm(), rows=n, cols=n,
                       dac=aj.DAC(bits=8), adc=aj.ADC(bits=8))
    chip = xbar.program(w, key=k_prog)

    @jax.jit
    def analogue(chip, x, key):
        return chip(x, key=key)

    @jax.jit
    def ideal(w, x):
        return x @ w.T

    start = time.perf_counter()
    jax.block_until_ready(analogue.lower(chip, x, k_read).compile()(chip, x, k_read))
    compile_s = time.perf_counter() - start
    jax.block_until_ready(ideal(w, x))
    t_analogue = best_time(analogue, chip, x, k_read, repeats=args.repeats)
    t_ideal = best_time(ideal, w, x, repeats=args.repeats)
    y, y_ideal = analogue(chip, x, k_read), ideal(w, x)
    rel = float(jnp.linalg.norm(y - y_ideal) / jnp.linalg.norm(y_ideal))
    print(f"devices: {jax.devices()}")
    print(f"shape: W {n}x{n}, batch {args.batch}, tiles {xbar.tiles(n, n)}")
    print(f"compile time (analogue MVM): {compile_s:.2f} s")
    print(f"relative error of the noisy MVM: {rel:.4f}")
    print(f"analogue MVM: {t_analogue * 1e3:.2f} ms/call")
    print(f"ideal matmul: {t_ideal * 1e3:.2f} ms/call")
    print(f"ratio analogue/ideal: {t_analogue / t_ideal:.2f}")


if __name__ == "__main__":
    main()
