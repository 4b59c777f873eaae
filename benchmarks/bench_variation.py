"""Monte Carlo engine vs a Python loop over a jitted single-chip function (issue: variation).

Three per-chip workloads, 1,000 chips each, same process, compilation excluded from both:
  * ``tiny``: an 8×8 layer on an 8×8 array (rram_taox_40nm), 4 inputs, MVM error
    (dispatch-bound: the loop pays a call per chip);
  * ``layer``: a 64×64 layer on a 64×64 array (rram_taox_40nm), 16 inputs, MVM error;
  * ``digits``: the default CLI study: a 64-64-10 MLP (pcm_like, 128×128 arrays, 8-bit
    DAC/ADC, drift compensation) evaluated on 450 test digits at 4 drift times.
Then the peak resident memory of a 1,000- and a 10,000-chip run of ``layer`` (chunk 250),
each in a fresh subprocess. Prints chips/s for both methods and, last, the speed-ups.

    python benchmarks/bench_variation.py [--chips 1000]
"""

import argparse
import resource
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
from _common import add_scale_option, report

import analogjax as aj
from analogjax import models

QUIET = aj.variation.NoProgressMeter()


def layer_workload(n=64, batch=16):
    w = jax.random.normal(jax.random.key(0), (n, n)) / n**0.5
    x = jax.random.normal(jax.random.key(1), (batch, n))
    xbar = aj.Crossbar(aj.presets.rram_taox_40nm(), rows=n, cols=n)

    def fn(key):
        k_program, k_read = jax.random.split(key)
        y = xbar.program(w, key=k_program)(x, key=k_read, t=3600.0)
        return {"error": jnp.linalg.norm(y - x @ w.T) / jnp.linalg.norm(x @ w.T)}

    return fn


def digits_workload():
    x_train, y_train, x_test, y_test = models.load_digits_split()
    mlp = aj.Network.init(aj.MLPArchitecture((64, 64, 10), bias=True), key=jax.random.key(0))
    mlp, _ = models.train_classifier(mlp, x_train, y_train, key=jax.random.key(1), steps=300)
    xbar = aj.Crossbar(aj.presets.pcm_like(), rows=128, cols=128, dac=aj.DAC(bits=8),
                       adc=aj.ADC(bits=8), drift_compensation=True)
    return models.accuracy_over_time(mlp, xbar, x_test, y_test, [1.0, 3600.0, 86400.0, 3.1536e7])


def python_loop(fn, key, n_chips):
    single = jax.jit(lambda i: fn(aj.variation.chip_key(key, i)))
    jax.block_until_ready(single(0))  # compile
    start = time.perf_counter()
    out = [jax.block_until_ready(single(i)) for i in range(n_chips)]
    return n_chips / (time.perf_counter() - start), out


def peak_memory_child(n_chips):
    result = aj.variation.monte_carlo(layer_workload(), key=jax.random.key(2), n_chips=n_chips,
                                      chunk_size=250, progress_meter=QUIET)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{peak_mib:.1f} {result.chips_per_second:.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", type=int, default=1000)
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="256 chips, no memory runs")
    add_scale_option(parser)  # the chips
    args = parser.parse_args()
    if args.quick:
        args.chips = 256
    args.chips *= args.scale
    if args.memory_child:
        peak_memory_child(args.memory_child)
        return
    key = jax.random.key(2)
    print(f"devices: {jax.devices()}; {args.chips} chips")
    speedups = {}
    workloads = (("tiny", lambda: layer_workload(8, 4)), ("layer", layer_workload),
                 ("digits", digits_workload))
    for name, make in workloads:
        fn = make()
        result = aj.variation.monte_carlo(fn, key=key, n_chips=args.chips, chunk_size=250,
                                          progress_meter=QUIET)
        loop_rate, _ = python_loop(fn, key, args.chips)
        speedups[name] = result.chips_per_second / loop_rate
        if name == "digits":
            report(f"default variation study (digits), s per chip, {args.chips} chips / "
                   "python loop", 1 / result.chips_per_second, 1 / loop_rate,
                   "analogue <= 1e-3 s per chip (>= 1000 chips/s)",
                   compile_s=result.compile_time_s)
        print(f"{name}: monte_carlo {result.chips_per_second:8.1f} chips/s (compile "
              f"{result.compile_time_s:.1f} s); python loop {loop_rate:8.1f} chips/s")
    for n in () if args.quick else (1000, 10000):
        out = subprocess.run([sys.executable, __file__, "--memory-child", str(n)],
                             capture_output=True, text=True, check=True).stdout.split()
        print(f"peak resident memory, layer workload, {n:6d} chips (chunk 250): "
              f"{float(out[0]):.0f} MiB ({float(out[1]):.0f} chips/s)")
    for name, speedup in speedups.items():
        print(f"speed-up monte_carlo / python loop, {name}: {speedup:.1f}x")


if __name__ == "__main__":
    main()
