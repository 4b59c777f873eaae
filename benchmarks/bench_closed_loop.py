"""Closed-loop analogue neural-ODE solve (noise on) vs the ideal digital diffrax solve of the
same vector field (issue: continuous-time circuits).

Vector field: a Lorenz96-sized MLP 8 → 128 → 128 → 8 (ReLU). Analogue mode: programmed on
``rram_taox_40nm`` crossbars (128 × 128 arrays), read noise (100 ns reads), op-amp noise
(20 nV/√Hz), Johnson noise, finite gain and rails; a Stratonovich SDE on a virtual Brownian
tree, Heun steps. Digital: the same weights in float32, diffrax Heun with the same steps
(same number of vector-field evaluations), and Tsit5 with adaptive steps for reference.
Model time 0 → 10, dt = 0.005 (2000 steps), one trajectory and a batch of 64 (vmap), same
process, jitted, best of 5. Prints the ratio last (goal <= 2x).

    python benchmarks/bench_closed_loop.py
"""

import argparse
import time

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from _common import add_scale_option, compile_seconds, report

import analogjax as aj
from analogjax import circuits, solvers

SIZES = (8, 128, 128, 8)
T_END, DT, BATCH = 10.0, 0.005, 64


def best_time(fn, *args, repeats=5):
    jax.block_until_ready(fn(*args))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return best


def main():
    global T_END, BATCH
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="model time 0..0.5, batch 8")
    add_scale_option(parser)  # the batch
    args = parser.parse_args()
    if args.quick:
        T_END, BATCH = 0.5, 8
    BATCH *= args.scale
    keys = jr.split(jr.key(0), len(SIZES))
    weights = [jr.normal(k, (o, i)) / jnp.sqrt(i)
               for k, i, o in zip(keys[:-1], SIZES[:-1], SIZES[1:], strict=True)]
    biases = [0.05 * jnp.ones(o) for o in SIZES[1:]]
    xbar = aj.Crossbar(aj.presets.rram_taox_40nm(), rows=128, cols=128)
    network = aj.Network(aj.MLPArchitecture(SIZES, bias=True), tuple(weights), tuple(biases))
    loop = solvers.ClosedLoopIntegrator(
        network.program(xbar, key=keys[-1], bias_on_chip=True),
        solvers.LoopCircuit(noise=solvers.LoopNoise(),
                            opamp=circuits.OpAmp(gain=1e4, v_rail=1.5, noise_density=20e-9)))
    ts = jnp.linspace(0.0, T_END, 101)
    x0 = 0.3 * jr.normal(jr.key(1), (BATCH, SIZES[0]))

    analogue = eqx.filter_jit(lambda loop, x0, key: loop.solve(x0, ts, key=key, dt=DT).xs)

    def digital(solver, dt):
        field = diffrax.ODETerm(lambda t, x, _: network(x))
        controller = (diffrax.ConstantStepSize() if dt is not None
                      else diffrax.PIDController(rtol=1e-5, atol=1e-7))
        return jax.jit(lambda x0: diffrax.diffeqsolve(
            field, solver, 0.0, T_END, dt, x0, saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=controller, max_steps=100_000).ys)

    heun, tsit5 = digital(diffrax.Heun(), DT), digital(diffrax.Tsit5(), None)
    batched_analogue = eqx.filter_jit(jax.vmap(
        lambda x0, key: analogue(loop, x0, key), in_axes=(0, 0)))
    batched_heun = jax.jit(jax.vmap(heun))
    key = jr.key(2)
    bkeys = jr.split(key, BATCH)
    compile_batch = compile_seconds(batched_analogue, x0, bkeys)
    compile_one = compile_seconds(analogue, loop, x0[0], key)
    rows = [
        ("analogue (noise on), 1 trajectory", best_time(analogue, loop, x0[0], key)),
        ("digital Heun, same steps, 1 trajectory", best_time(heun, x0[0])),
        ("digital Tsit5 adaptive, 1 trajectory", best_time(tsit5, x0[0])),
        (f"analogue (noise on), batch {BATCH}", best_time(batched_analogue, x0, bkeys)),
        (f"digital Heun, same steps, batch {BATCH}", best_time(batched_heun, x0)),
    ]
    print(f"{jax.devices()[0].platform}: MLP {SIZES}, model time 0..{T_END}, dt {DT} "
          f"({int(T_END / DT)} Heun steps)")
    for name, seconds in rows:
        print(f"  {name:45s} {seconds * 1e3:9.1f} ms")
    report(f"closed-loop solve, batch {BATCH} / digital Heun, same steps", rows[3][1],
           rows[4][1], "<= 2", compile_s=compile_batch)
    report("closed-loop solve, 1 trajectory / digital Heun, same steps", rows[0][1],
           rows[1][1], "<= 2", compile_s=compile_one)
    print(f"ratio analogue / digital (same steps), batch {BATCH}: {rows[3][1] / rows[4][1]:.2f}x")
    print(f"ratio analogue / digital (same steps), 1 trajectory: {rows[0][1] / rows[1][1]:.2f}x")


if __name__ == "__main__":
    main()
