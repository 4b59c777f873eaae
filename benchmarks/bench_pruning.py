"""A topology-pruning training step vs a plain dense training step of the same network
(issue: gradient-based topology pruning of random resistive memory).

Network 784 → 512 → 10 (MNIST-sized inputs; random data: the cost does not depend on it),
batch 64. Dense: digital weights, cross-entropy, one optimiser step. Pruning: the scores'
top-50 % supermask, the formed pairs read through ``formed_rram_taox_40nm`` crossbars
(256 × 256 tiles, 8-bit DAC and ADC, 2 % read noise drawn per read), straight-through
gradient to the scores, SGD; in situ also writes the topology every step (with the
reprogramming limiter). Both are the library's training loops (``models.train_classifier``,
``models.train_topology``, one ``lax.scan``); the time per step is the difference between
runs of ``--steps`` and ``--steps // 10`` steps, so compilation cancels. Same process.
Prints the ratio last (goal <= 2x).

    python benchmarks/bench_pruning.py [--steps 2000]
"""

import argparse
import time

import jax
import jax.numpy as jnp
import jax.random as jr
from _common import add_scale_option, report

import analogjax as aj
from analogjax import models


def per_step(train, steps: int) -> tuple[float, float]:
    """Seconds per training step of ``train(steps)`` with compilation cancelled, and the
    compile time estimated as the first run's time less its steps."""
    times = []
    for n in (steps // 10, steps):
        start = time.perf_counter()
        jax.block_until_ready(train(n))
        times.append(time.perf_counter() - start)
    step = (times[1] - times[0]) / (steps - steps // 10)
    return step, times[0] - step * (steps // 10)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="300 steps")
    add_scale_option(parser)  # the batch (64 by default)
    args = parser.parse_args()
    batch = 64 * args.scale
    if args.quick:
        args.steps = 300
    n_data = max(2048, batch)
    x = jr.uniform(jr.key(0), (n_data, 784))
    y = jr.randint(jr.key(1), (n_data,), 0, 10)
    arch = aj.MLPArchitecture((784, 512, 10))
    xbar = aj.Crossbar(aj.presets.formed_rram_taox_40nm(), rows=256, cols=256)
    net = models.TopologyNet.init(arch, key=jr.key(2))
    chip = net.form(xbar, key=jr.key(3))
    dense = aj.Network.init(arch, key=jr.key(2))

    def run_dense(n):
        return models.train_classifier(dense, x, y, key=jr.key(4), steps=n, batch_size=batch,
                                       weight_noise=None)[1]

    def run_pruning(n, **kwargs):
        return models.train_topology(net, chip, x, y, key=jr.key(4), steps=n,
                                     batch_size=batch, **kwargs).losses

    t_dense, _ = per_step(run_dense, args.steps)
    t_ex, compile_ex = per_step(run_pruning, args.steps)
    t_in, _ = per_step(lambda n: run_pruning(n, in_situ=True, max_flips=2048), args.steps)
    print(f"device: {jax.devices()[0].device_kind}; 784-512-10, batch {batch}, "
          f"{jnp.dtype(x.dtype).name}")
    print(f"dense step (digital):                      {1e3 * t_dense:8.3f} ms")
    print(f"pruning step, in situ (write every step):  {1e3 * t_in:8.3f} ms  "
          f"({t_in / t_dense:.2f}x)")
    print(f"pruning step (ex situ, crossbar reads):    {1e3 * t_ex:8.3f} ms "
          f"(compile ≈ {compile_ex:.1f} s)")
    report(f"pruning training step (ex situ), batch {batch} / dense step", t_ex, t_dense, "<= 2",
           compile_s=compile_ex)
    print(f"ratio pruning / dense training step: {t_ex / t_dense:.2f}")


if __name__ == "__main__":
    main()
