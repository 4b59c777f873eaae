"""Analogue diffusion sampling (noise on) vs the digital Euler–Maruyama sampler with the same
number of score evaluations (issue: score-based diffusion on the closed-loop integrator).

Score network 2 → 14 → 14 → 2 (the published ring model; weights are random here: the cost
does not depend on training). Analogue: the network programmed on ``rram_180nm`` crossbars,
read noise (100 ns reads), op-amp noise (20 nV/√Hz), Johnson noise, finite gain and rails,
injected noise √β, a GridBrownianPath; Euler steps (one evaluation each) and Heun with half
the steps (two each). Digital: Euler–Maruyama on the same weights, one ``lax.scan``.
10,000 samples, ``--evaluations`` score evaluations per sample (default 10,000, the
published sampler), same process, jitted, best of 3. Prints the ratio last (goal <= 2x).

    python benchmarks/bench_diffusion.py [--evaluations 10000] [--samples 10000]
"""

import argparse

import diffrax
import jax
import jax.random as jr
from _common import add_scale_option, compile_seconds, report

import analogjax as aj
from analogjax import circuits, models, solvers


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--evaluations", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="40 evaluations, 256 samples")
    add_scale_option(parser)  # the samples
    args = parser.parse_args()
    if args.quick:
        args.evaluations, args.samples = 40, 256
    args.samples *= args.scale
    n, evaluations = args.samples, args.evaluations
    net = models.ScoreNet(key=jr.key(0))
    reverse = net.reverse(beta_scale=2.0)
    digital = net.digital_sampler(reverse)
    analog = net.analog_sampler(
        aj.Crossbar(aj.presets.rram_180nm(), rows=32, cols=32), key=jr.key(1),
        reverse=reverse, circuit=solvers.LoopCircuit(
            capacitance=100e-12, noise=solvers.LoopNoise(),
            opamp=circuits.OpAmp(gain=1e4, v_rail=1.5, noise_density=20e-9)))
    run_digital = jax.jit(lambda k: digital.sample(n, key=k, steps=evaluations).final)
    run_euler = jax.jit(lambda k: analog.sample(n, key=k, steps=evaluations,
                                                solver=diffrax.Euler()).final)
    run_heun = jax.jit(lambda k: analog.sample(n, key=k, steps=evaluations // 2).final)
    key = jr.key(2)
    compile_s = compile_seconds(run_heun, key)
    _, t_digital = models.timed(run_digital, key)
    _, t_heun = models.timed(run_heun, key)
    _, t_euler = models.timed(run_euler, key)
    print(f"device: {jax.devices()[0].device_kind}; {n} samples x {evaluations} evaluations")
    print(f"digital Euler-Maruyama:            {t_digital:8.3f} s")
    print(f"analogue, Euler ({evaluations} steps):     {t_euler:8.3f} s  "
          f"({t_euler / t_digital:.2f}x)")
    print(f"analogue, Heun ({evaluations // 2} steps):       {t_heun:8.3f} s "
          f"(compile {compile_s:.1f} s)")
    report(f"analogue diffusion sampler (Heun) / digital, {n} samples x {evaluations} "
           "evaluations", t_heun,
           t_digital, "<= 1.5", compile_s=compile_s)
    print(f"ratio analogue (Heun, noise on, same evaluations) / digital: "
          f"{t_heun / t_digital:.2f}")


if __name__ == "__main__":
    main()
