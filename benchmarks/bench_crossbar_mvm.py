"""Noisy crossbar MVM vs the ideal jnp matmul of the same shapes (issue: foundation).

A 512×512 array (one tile), batch 1024, float32, programmed with noise (rram_taox_40nm
preset: programming noise, variation, faults), read noise on, 8-bit DAC and ADC. The
baseline is ``x @ W.T`` under jit in the same process. Two read-noise kinds are timed:
constant σ (closed form, no extra matmul) and the preset's conductance-dependent σ (2 % of
g: exactly one extra matmul of V² with the cell variances); then frozen read noise (2 % of
g, one draw per cell and read time), drawn in each call and, as when many batches are read at
one time, computed once by ``chip.at(t, frozen_key=…)``. Prints the compile time, the
per-call times and, last, the ratios.

    python benchmarks/bench_crossbar_mvm.py [--batch 1024] [--size 512] [--repeats 50]
"""

import argparse
import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
from _common import add_scale_option, report

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
    parser.add_argument("--quick", action="store_true", help="128², batch 128, 5 repeats")
    add_scale_option(parser)  # the batch
    args = parser.parse_args()
    if args.quick:
        args.size, args.batch, args.repeats = 128, 128, 5
    args.batch *= args.scale
    n = args.size
    k_w, k_x, k_prog, k_read = jax.random.split(jax.random.key(0), 4)
    w = jax.random.normal(k_w, (n, n), jnp.float32) / np.sqrt(n)
    x = jax.random.normal(k_x, (args.batch, n), jnp.float32)
    preset = aj.presets.rram_taox_40nm()
    constant_sigma = dataclasses.replace(preset, read_noise=aj.AbsoluteNoise(0.2e-6))

    @jax.jit
    def analogue(chip, x, key):
        return chip(x, key=key)

    @jax.jit
    def at_time(state, x, key):
        return state(x, key=key)

    @jax.jit
    def ideal(w, x):
        return x @ w.T

    jax.block_until_ready(ideal(w, x))
    t_ideal = best_time(ideal, w, x, repeats=args.repeats)
    y_ideal = ideal(w, x)
    print(f"devices: {jax.devices()}")
    print(f"shape: W {n}x{n}, batch {args.batch}, float32, 8-bit DAC and ADC")
    print(f"ideal matmul: {t_ideal * 1e3:.2f} ms/call")
    frozen = dataclasses.replace(preset, read_noise=aj.FrozenReadNoise(aj.RelativeNoise(0.02)))
    ratios = {}
    cases = (("constant-sigma read noise (0.2 uS)", constant_sigma, analogue, "<= 2"),
             ("rram_taox_40nm preset (2 % of g read noise)", preset, analogue, "<= 2"),
             ("frozen read noise (2 % of g), drawn per call", frozen, analogue, "<= 1.3"),
             ("frozen read noise (2 % of g), chip.at(t) once", frozen, at_time, "<= 1.3"))
    for label, device, fn, goal in cases:
        xbar = aj.Crossbar(device, rows=n, cols=n, dac=aj.DAC(bits=8), adc=aj.ADC(bits=8))
        chip = xbar.program(w, key=k_prog)
        if fn is at_time:  # the read time's state, computed once for every batch read then
            chip = jax.jit(lambda c: c.at(frozen_key=k_read))(chip)
        start = time.perf_counter()
        jax.block_until_ready(fn.lower(chip, x, k_read).compile()(chip, x, k_read))
        compile_s = time.perf_counter() - start
        t_analogue = best_time(fn, chip, x, k_read, repeats=args.repeats)
        y = fn(chip, x, k_read)
        rel = float(jnp.linalg.norm(y - y_ideal) / jnp.linalg.norm(y_ideal))
        ratios[label] = t_analogue / t_ideal
        print(f"{label}: compile {compile_s:.2f} s, {t_analogue * 1e3:.2f} ms/call, "
              f"relative error {rel:.4f}, ratio {ratios[label]:.2f}")
        report(f"noisy MVM {n}², batch {args.batch}, {label} / x @ W.T", t_analogue, t_ideal,
               goal, compile_s=compile_s)
    for label, ratio in ratios.items():
        print(f"ratio analogue/ideal, {label}: {ratio:.2f}")


if __name__ == "__main__":
    main()
