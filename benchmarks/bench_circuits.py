"""General circuits against ngspice (issue: netlists): the three-op-amp closed-loop oscillator
(10 ms) and an RC ladder of N stages driven by a step, each a single run and a batch of
parameter variations (every resistor ±5 % at random): analogjax ``vmap`` over the variations
vs a loop of ngspice batch runs (one subprocess per variation, as a sweep script would run
them; netlist written, simulated, results read back). ngspice is called only here, as a
subprocess; without it the benchmark prints analogjax's times and exits cleanly.

Accuracy settings differ: analogjax runs at ``--rtol`` (default 1e-8, atol rtol/100, the
library's default accuracy), ngspice at its defaults (reltol 1e-3) with the netlists' maximum
step; the largest difference of the two outputs is printed.

    python benchmarks/bench_circuits.py [--variations 1000] [--stages 300] [--quick]
"""

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from _common import add_scale_option, report

from analogjax import circuits

jax.config.update("jax_enable_x64", True)

OSCILLATOR = circuits.example_netlist("oscillator").read_text()


def ladder_netlist(stages: int, resistances=None) -> str:
    """A step into ``stages`` RC sections (1 kΩ, 1 nF each): τ per stage 1 µs."""
    r = np.full(stages, 1e3) if resistances is None else resistances
    lines = [f"* RC ladder, {stages} stages", "V1 n0 0 PWL(0 0 1n 1)"]
    for k in range(stages):
        lines += [f"R{k} n{k} n{k + 1} {r[k]:.9g}", f"C{k} n{k + 1} 0 1n IC=0"]
    return "\n".join(lines + ["", ".tran 1u 200u 0 1u UIC", ".end", ""])


def with_resistances(text: str, values: dict[str, float]) -> str:
    """The netlist with resistor values replaced (ngspice reads it from a file)."""
    out = []
    for line in text.splitlines():
        name = line.split()[0] if line.strip() else ""
        if name in values:
            parts = line.split()
            line = " ".join(parts[:3] + [f"{values[name]:.12g}"] + parts[4:])
        out.append(line)
    return "\n".join(out) + "\n"


def ngspice_run(text: str, node: str, folder: Path) -> np.ndarray:
    """One ngspice batch run of ``text`` (its own .control block replaced): (t, v(node))."""
    body = [ln for ln in text.splitlines()]
    start = next((i for i, ln in enumerate(body) if ln.lower().startswith(".control")), None)
    if start is not None:
        end = next(i for i, ln in enumerate(body) if ln.lower().startswith(".endc"))
        body = body[:start] + body[end + 1:]
    body = [ln for ln in body if ln.strip().lower() != ".end"]
    out = folder / "out.txt"
    body += [".control", "set wr_singlescale", "run", f"wrdata {out} v({node})", "quit",
             ".endc", ".end"]
    netlist = folder / "circuit.cir"
    netlist.write_text("\n".join(body) + "\n")
    subprocess.run(["ngspice", "-b", str(netlist)], check=True, capture_output=True)
    return np.loadtxt(out)


def case(name, text, node, resistors, variations, folder, have_ngspice, rtol):
    circuit = circuits.read_spice(text)
    jumps = sorted({b for e in circuit.elements if hasattr(e, "waveform")
                    for b in e.waveform.breakpoints(circuit.tran.stop)})
    controller = diffrax.PIDController(rtol=rtol, atol=rtol * 1e-2)
    if jumps:
        controller = diffrax.ClipStepSizeController(controller, jump_ts=jnp.asarray(jumps))
    ts = jnp.asarray(circuit.tran.times())
    rng = np.random.default_rng(0)
    nominal = np.array([float(circuit.element(r).resistance) for r in resistors])
    factors = 1 + 0.05 * rng.uniform(-1, 1, (variations, len(resistors)))

    def run_one(values):
        c = circuit.with_values(dict(zip(resistors, values, strict=True)))
        return c.transient(ts, stepsize_controller=controller)[node]

    single = jax.jit(run_one)
    batch = jax.jit(jax.vmap(run_one))
    start = time.perf_counter()
    jax.block_until_ready(single(jnp.asarray(nominal)))
    compile_single = time.perf_counter() - start
    start = time.perf_counter()
    ours = jax.block_until_ready(single(jnp.asarray(nominal)))
    ours_single = time.perf_counter() - start
    values = jnp.asarray(nominal * factors)
    start = time.perf_counter()
    jax.block_until_ready(batch(values))
    compile_batch = time.perf_counter() - start
    start = time.perf_counter()
    jax.block_until_ready(batch(values))
    ours_batch = time.perf_counter() - start
    print(f"{name}: analogjax single run {ours_single * 1e3:.1f} ms (compile "
          f"{compile_single:.1f} s); {variations} variations by vmap {ours_batch:.2f} s "
          f"(compile {compile_batch:.1f} s)")
    if not have_ngspice:
        print("  ngspice not found: no baseline (apt-get install ngspice)")
        report(f"{name}: {variations} variations by vmap (no ngspice baseline)", ours_batch,
               float("nan"), "< 1 (needs ngspice)", compile_s=compile_batch)
        return
    start = time.perf_counter()
    reference = ngspice_run(text, node, folder)
    spice_single = time.perf_counter() - start
    t_ref = reference[:, 0]
    error = np.max(np.abs(np.interp(t_ref, np.asarray(ts), np.asarray(ours)) - reference[:, 1]))
    loop_n = min(variations, 50)
    start = time.perf_counter()
    for k in range(loop_n):
        ngspice_run(with_resistances(text, dict(zip(resistors, nominal * factors[k],
                                                     strict=True))), node, folder)
    spice_batch = (time.perf_counter() - start) * variations / loop_n
    print(f"  ngspice single run {spice_single * 1e3:.1f} ms (a subprocess); {variations} "
          f"variations as a loop of runs ≈ {spice_batch:.1f} s (timed over {loop_n}); "
          f"max |analogjax − ngspice| {error:.2e} V")
    report(f"{name}: single run vs ngspice", ours_single, spice_single, "(report)",
           compile_s=compile_single)
    report(f"{name}: {variations} variations, vmap vs ngspice loop", ours_batch, spice_batch,
           "< 1", compile_s=compile_batch)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variations", type=int, default=1000)
    parser.add_argument("--stages", type=int, default=300,
                        help="RC sections (the issue asks 1,000: dense MNA makes that slow)")
    parser.add_argument("--rtol", type=float, default=1e-8,
                        help="analogjax's relative tolerance (atol = rtol/100); the library "
                             "default is 1e-8, ngspice's reltol 1e-3")
    parser.add_argument("--quick", action="store_true", help="20 variations, 50 stages")
    add_scale_option(parser)  # the variations
    args = parser.parse_args()
    if args.quick:
        args.variations, args.stages = 20, 50
    args.variations *= args.scale
    have_ngspice = shutil.which("ngspice") is not None
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        case("three-op-amp oscillator, 10 ms", OSCILLATOR, "x1",
             ["R11", "R12", "R21", "R31", "R32"], args.variations, folder, have_ngspice,
             args.rtol)
        case(f"RC ladder, {args.stages} stages, 200 us (v at stage 10)",
             ladder_netlist(args.stages), "n10", [f"R{k}" for k in range(args.stages)],
             max(args.variations // 10, 2), folder, have_ngspice, args.rtol)


if __name__ == "__main__":
    main()
