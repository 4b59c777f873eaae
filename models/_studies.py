"""The research use cases as command-line studies (``analogjax irdrop``, ``twin``,
``diffusion``, ``pruning``, ``circuit``): each runs its recipe over many chips with the
variation engine, writes ``summary.json``, ``values.npz`` and PNG plots into ``--out`` and
prints a table. Registered by :mod:`analogjax.models._cli`, which owns the shared options."""

from __future__ import annotations

import json
from pathlib import Path

from ._cli_common import (
    CLIError,
    common_options,
    float_list,
    formed_presets,
    fraction,
    int_list,
    positive_int,
    programmable_presets,
    progress_meter,
)

STUDIES = {
    "irdrop": "MVM error from wire resistance (exact IR drop) vs array size, over chips",
    "twin": "memristive neural-ODE digital twin of an HP memristor in the closed analogue "
            "loop: extrapolation error over chips",
    "diffusion": "score-based diffusion sampled by the closed-loop analogue integrator: "
                 "sample quality over chips vs the digital sampler",
    "pruning": "topology pruning of random formed resistive memory on digits: accuracy over "
               "chips vs the digital network",
    "circuit": "transient of a SPICE netlist (R, C, L, V, I, E, G) with a Monte Carlo over "
               "component tolerances",
}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _chips_vs_digital(title: str, digital: float, label: str, values, third: str,
                      note: str, result, out: Path) -> None:
    """Print a study's table: the digital baseline, then mean, s.d. and ``third`` (``min``
    or ``median``) of ``values`` over chips."""
    import numpy as np

    third_value = np.min(values) if third == "min" else np.median(values)
    print(f"\n{title}")
    print(f"{'':10s}{'mean':>10s}{'s.d.':>10s}{third:>10s}")
    print(f"{'digital':10s}{digital:10.4f}")
    print(f"{label:10s}{values.mean():10.4f}{values.std():10.4f}{third_value:10.4f}   ({note})")
    print(f"{result.chips_per_second:.2f} chips/s; results in {out}/")


def register(sub) -> None:
    """Add the studies' sub-commands to the ``analogjax`` parser's ``sub``."""
    presets = programmable_presets()

    p = sub.add_parser("irdrop", help=STUDIES["irdrop"], description=(
        "Program a random size x size layer (one array per layer) onto N chips of a device "
        "preset with 8-bit converters and read a batch of random inputs with ideal wires "
        "and with wire resistance (exact nodal analysis of every array, float32): the "
        "relative error against x @ W.T, and the part due to IR drop, per array size and "
        "wire resistance. The wire resistances are assumed (no source: the order of a Cu "
        "M1 segment at a 40-100 nm pitch)."))
    common_options(p, presets=presets, preset="rram_taox_40nm", chips=16, out="irdrop")
    p.add_argument("--sizes", type=int_list, default=[64, 128, 256],
                   help="array sizes n (n x n), comma-separated")
    p.add_argument("--r-wire", type=float_list, default=[0.5, 1.0, 2.5],
                   help="wire resistance per cell segment [ohm], comma-separated")
    p.add_argument("--batch", type=positive_int, default=32, help="input vectors per chip")

    p = sub.add_parser("twin", help=STUDIES["twin"], description=(
        "Train a neural ODE (2-W-W-1, noise-aware) on HP-memristor state trajectories under "
        "a 1 V, 1 Hz sine drive (t in [0, 2] s), program it onto N chips and solve it in the "
        "closed analogue loop (op-amps with gain 1e4, +-1.5 V rails, 20 nV/sqrt(Hz); loop, "
        "read and op-amp noise; 12-bit input DAC; limiters at x in [0, 1]); report the "
        "extrapolation RMSE on t in (2, 6] s, digital vs analogue."))
    common_options(p, presets=presets, preset="rram_taox_40nm", chips=16, out="twin")
    p.add_argument("--steps", type=positive_int, default=2000, help="training steps")
    p.add_argument("--width", type=positive_int, default=64, help="hidden width W")
    p.add_argument("--segment", type=positive_int, default=50,
                   help="multiple-shooting segment [saved steps of 10 ms]: half a drive "
                        "period by default; short segments (10) leave a bias that "
                        "accumulates over periods (the memristor integrates its current)")

    p = sub.add_parser("diffusion", help=STUDIES["diffusion"], description=(
        "Train a score network (the published 2-14-14-2 recipe with noise-aware training) "
        "on a ring, then sample it with the closed-loop analogue integrator on N chips of a "
        "device preset (op-amp gain 1e4, +-1.5 V rails, loop and read noise, tau = 10 us) and "
        "with the digital Euler-Maruyama sampler; report MMD and sliced Wasserstein "
        "distance to held-out data."))
    common_options(p, presets=presets, preset="rram_180nm", chips=8, out="diffusion")
    p.add_argument("--steps", type=positive_int, default=4000, help="training steps")
    p.add_argument("--samples", type=positive_int, default=1000, help="samples per chip")
    p.add_argument("--loop-steps", type=positive_int, default=200,
                   help="Heun steps of the analogue loop")

    p = sub.add_parser("pruning", help=STUDIES["pruning"], description=(
        "Form N chips of random differential pairs (a formed-device preset), train each "
        "chip's topology (which pairs to keep) on scikit-learn's digits ex situ with "
        "straight-through gradients through the chip's reads, write it once and report the "
        "test accuracy through 8-bit converters and read noise, against the same network "
        "trained digitally."))
    common_options(p, presets=formed_presets(), preset="formed_rram_taox_40nm", chips=8,
                   out="pruning")
    p.add_argument("--hidden", type=positive_int, default=128)
    p.add_argument("--steps", type=positive_int, default=600, help="training steps")

    p = sub.add_parser("circuit", help=STUDIES["circuit"], description=(
        "Read a SPICE netlist (R, C, L, V, I, E, G; .ic; .tran step stop [start] [UIC]), "
        "run its transient, and a Monte Carlo over N circuits whose R, C and L values "
        "deviate by a relative Gaussian tolerance; report every node's final voltage "
        "(nominal, mean, s.d. over circuits) and plot the node voltages. --preset does not "
        "apply (the netlist defines the circuit)."))
    p.add_argument("netlist", type=Path, help="SPICE netlist file (.cir)")
    common_options(p, presets=None, preset=None, chips=100, out="circuit")
    p.add_argument("--tolerance", type=fraction, default=0.01,
                   help="relative s.d. of every R, C and L value (0 for none)")
    p.add_argument("--points", type=positive_int, default=201,
                   help="saved time points (default: the .tran grid if it has fewer)")


# ----------------------------------------------------------------------------- irdrop


def run_irdrop(args) -> dict:
    import dataclasses

    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import numpy as np

    import analogjax as aj

    device = aj.presets.PRESETS[args.preset]()
    rows, curves = [], {}
    values = {}
    result = None
    for n in args.sizes:
        k_w, k_x = jax.random.split(jax.random.fold_in(jax.random.key(args.seed), n))
        w = jax.random.normal(k_w, (n, n)) / np.sqrt(n)
        x = jax.random.normal(k_x, (args.batch, n))
        y_ideal = x @ w.T
        r_wire = jnp.asarray(args.r_wire)

        def per_chip(key, n=n, w=w, x=x, y_ideal=y_ideal, r_wire=r_wire):
            k_program, k_read = jax.random.split(key)
            crossbar = aj.Crossbar(device, rows=n, cols=n)
            chip = crossbar.program(w, key=k_program)
            y_plain = chip(x, key=k_read)
            norm = jnp.linalg.norm(y_ideal)

            def with_wires(r):  # the same programmed chip read through resistive wires
                # (programming and the ADC calibration do not depend on the wires)
                wired = eqx.tree_at(lambda c: c.crossbar, chip,
                                    dataclasses.replace(crossbar,
                                                        wires=aj.ir_drop.Wires(r, r)))
                y = wired(x, key=k_read)
                return jnp.stack([jnp.linalg.norm(y - y_ideal),
                                  jnp.linalg.norm(y - y_plain)]) / norm

            both = jax.lax.map(with_wires, r_wire)
            return {"error_ideal_wires": jnp.linalg.norm(y_plain - y_ideal) / norm,
                    "error_with_wires": both[:, 0], "ir_drop_part": both[:, 1]}

        result = aj.variation.monte_carlo(per_chip, key=jax.random.key(args.seed + 1),
                                          n_chips=args.chips, chunk_size=args.chunk_size,
                                          progress_meter=progress_meter(args),
                                          description=f"{n}x{n}")
        for name, v in result.values.items():
            values[f"{name}_{n}"] = v
        plain = result.values["error_ideal_wires"]
        wired = result.values["error_with_wires"]
        part = result.values["ir_drop_part"]
        curves[n] = (plain.mean(), wired.mean(0), wired.std(0), part.mean(0))
        rows.append({"size": n, "error_ideal_wires": float(plain.mean()),
                     "error_ideal_wires_sd": float(plain.std()),
                     "error_with_wires": wired.mean(0).tolist(),
                     "error_with_wires_sd": wired.std(0).tolist(),
                     "ir_drop_part": part.mean(0).tolist()})
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez(args.out / "values.npz", **values)
    summary = {"study": "irdrop", "preset": args.preset, "n_chips": args.chips,
               "seed": args.seed, "r_wire_ohm": args.r_wire, "batch": args.batch,
               "converters": "8-bit DAC and ADC (calibrated)", "rows": rows}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.8))
    sizes = np.asarray(args.sizes)
    ax.plot(sizes, [curves[n][0] for n in args.sizes], "k--o", label="ideal wires")
    for j, r in enumerate(args.r_wire):
        ax.errorbar(sizes, [curves[n][1][j] for n in args.sizes],
                    yerr=[curves[n][2][j] for n in args.sizes], marker="o", capsize=3,
                    label=f"{r:g} ohm / segment")
    ax.set(xscale="log", yscale="log", xlabel="array size n (n x n)",
           ylabel="relative MVM error", title=f"{args.preset}, {args.chips} chips")
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(args.out / "error_vs_size.png", dpi=120)
    plt.close(fig)

    print(f"\nrelative MVM error ||y - Wx|| / ||Wx||, {args.preset}, 8-bit DAC/ADC, mean over "
          f"{args.chips} chips (IR-drop part: ||y_wires - y_ideal_wires|| / ||Wx||)")
    header = "".join(f"{f'{r:g} ohm':>22s}" for r in args.r_wire)
    print(f"{'size':>6s}{'ideal wires':>14s}{header}")
    for row in rows:
        cells = "".join(f"{e:9.4f} (IR {p:7.4f})".rjust(22) for e, p in
                        zip(row["error_with_wires"], row["ir_drop_part"], strict=True))
        print(f"{row['size']:>6d}{row['error_ideal_wires']:14.4f}{cells}")
    print(f"{result.chips_per_second:.1f} chips/s at the largest size; results in {args.out}/")
    return summary


# ----------------------------------------------------------------------------- twin


def run_twin(args) -> dict:
    import equinox as eqx
    import jax.numpy as jnp
    import jax.random as jr
    import numpy as np

    import analogjax as aj
    from analogjax import circuits, memristor, solvers

    from . import _twin

    crossbar = aj.Crossbar(aj.presets.PRESETS[args.preset](), rows=128, cols=128)
    circuit = solvers.LoopCircuit(noise=solvers.LoopNoise(), opamp=circuits.OpAmp(
        gain=1e4, v_rail=1.5, noise_density=20e-9))
    drive = memristor.SineVoltage(1.0, 1.0)
    key = jr.key(args.seed)
    k_net, k_train, k_chips = jr.split(key, 3)
    ts, xs = _twin.hp_memristor_trajectories(x0s=jnp.linspace(0.1, 0.9, 16), drive=drive,
                                             t_end=2.0, dt=0.01)
    model = _twin.NeuralODE(aj.Network.init(aj.MLPArchitecture(
        (2, args.width, args.width, 1), bias=True), key=k_net), inputs=drive)
    if args.segment >= ts.shape[0]:
        raise CLIError(f"twin: --segment must be below {ts.shape[0]} (the 2 s of training "
                       f"data at 10 ms); got {args.segment}")
    model, losses = _twin.train_neural_ode(model, ts, xs, key=k_train, steps=args.steps,
                                           segment=args.segment,
                                           weight_noise=aj.WeightNoise(std=0.02, clip=0.08))
    ts_long, x_true = _twin.hp_memristor_trajectories(x0s=jnp.array([0.35]), drive=drive,
                                                      t_end=6.0, dt=0.01)
    x_true = x_true[0]
    beyond = ts_long > 2.0
    digital = model.solve(x_true[0], ts_long)
    e_digital = float(_twin.rmse(digital[beyond], x_true[beyond], axis=(0, 1)))

    def per_chip(chip_key):
        k_program, k_noise = jr.split(chip_key)
        loop = model.deploy(crossbar, key=k_program, circuit=circuit,
                            input_dac=aj.DAC(bits=12, input_range=1.0),
                            state_limits=(0.0, 1.0))
        x = loop.solve(x_true[0], ts_long, key=k_noise, dt=0.002).xs
        return {"rmse": _twin.rmse(x[beyond], x_true[beyond], axis=(0, 1)),
                "trajectory": x[::5, 0]}

    result = aj.variation.monte_carlo(eqx.filter_jit(per_chip), key=k_chips,
                                      n_chips=args.chips, chunk_size=args.chunk_size,
                                      progress_meter=progress_meter(args))
    rmse = result.values["rmse"]
    summary = {"study": "twin", "preset": args.preset, "seed": args.seed,
               "training_steps": args.steps, "width": args.width, "segment": args.segment,
               "final_loss": float(losses[-1]), "rmse_digital": e_digital,
               "rmse_analogue_mean": float(rmse.mean()),
               "rmse_analogue_sd": float(rmse.std()),
               "rmse_analogue_median": float(np.median(rmse))}
    result.save(args.out, extra=summary)

    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6),
                                   gridspec_kw={"width_ratios": [2, 1]})
    ax1.plot(ts_long, x_true[:, 0], "k", lw=2, label="HP memristor")
    ax1.plot(ts_long, digital[:, 0], "C0--", label="digital twin")
    for c in range(min(args.chips, 4)):
        ax1.plot(ts_long[::5], result.values["trajectory"][c], "C3", lw=1, alpha=0.6,
                 label="analogue chips" if c == 0 else None)
    ax1.axvspan(2.0, 6.0, color="grey", alpha=0.1, label="extrapolation")
    ax1.set(xlabel="t [s]", ylabel="state x", title=f"{args.preset}")
    ax1.legend(fontsize=8)
    ax2.hist(rmse, bins=min(20, max(3, args.chips // 2)), color="C3", alpha=0.7)
    ax2.axvline(e_digital, color="C0", ls="--", label="digital")
    ax2.set(xlabel="extrapolation RMSE", ylabel="chips")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out / "twin.png", dpi=120)
    plt.close(fig)

    _chips_vs_digital(f"HP-memristor digital twin, extrapolation RMSE of x on t in (2, 6] s "
                      f"({args.steps} training steps, final loss {float(losses[-1]):.2e})",
                      e_digital, "analogue", rmse, "median",
                      f"{args.chips} chips, {args.preset}", result, args.out)
    return summary


# ----------------------------------------------------------------------------- diffusion


def run_diffusion(args) -> dict:
    import equinox as eqx
    import jax.random as jr
    import numpy as np

    import analogjax as aj
    from analogjax import circuits, solvers

    from . import _diffusion, _metrics

    key = jr.key(args.seed)
    k_data, k_ref, k_net, k_train, k_digital, k_chips = jr.split(key, 6)
    data = _diffusion.ring_samples(10_000, key=k_data)
    reference = _diffusion.ring_samples(args.samples, key=k_ref)
    net, losses = _diffusion.train_score_net(
        _diffusion.ScoreNet(key=k_net), data, key=k_train, steps=args.steps,
        optimiser=_diffusion.score_optimiser(3e-3, clip_norm=1.0))
    reverse = net.reverse(beta_scale=2.0)
    circuit = solvers.LoopCircuit(capacitance=100e-12, noise=solvers.LoopNoise(),
                                  opamp=circuits.OpAmp(gain=1e4, v_rail=1.5,
                                                       noise_density=20e-9))
    crossbar = aj.Crossbar(aj.presets.PRESETS[args.preset](), rows=32, cols=32)
    digital = net.digital_sampler(reverse).sample(args.samples, key=k_digital,
                                                  steps=2 * args.loop_steps).final
    m_digital = {k: float(v) for k, v in
                 _metrics.sample_metrics(digital, reference, key=jr.key(0)).items()}

    def per_chip(chip_key):
        k_program, k_sample = jr.split(chip_key)
        sampler = net.analog_sampler(crossbar, key=k_program, reverse=reverse,
                                     circuit=circuit)
        x = sampler.sample(args.samples, key=k_sample, steps=args.loop_steps).final
        return {**_metrics.sample_metrics(x, reference, key=jr.key(0)), "samples": x}

    result = aj.variation.monte_carlo(eqx.filter_jit(per_chip), key=k_chips,
                                      n_chips=args.chips, chunk_size=args.chunk_size,
                                      vmap_width=1, progress_meter=progress_meter(args))
    metrics = [k for k in m_digital]
    summary = {"study": "diffusion", "preset": args.preset, "seed": args.seed,
               "training_steps": args.steps, "samples": args.samples,
               "loop_steps": args.loop_steps, "final_loss": float(losses[-200:].mean()),
               "digital": m_digital,
               "analogue": {k: {"mean": float(result.values[k].mean()),
                                "sd": float(result.values[k].std())} for k in metrics}}
    samples = result.values.pop("samples")
    result.save(args.out, extra=summary)
    np.savez(args.out / "samples.npz", analogue=samples, digital=np.asarray(digital),
             reference=np.asarray(reference))

    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), sharex=True, sharey=True)
    for ax, (name, x) in zip(axes, [("held-out data", reference), ("digital sampler", digital),
                                    ("analogue loop, chip 0", samples[0])], strict=True):
        ax.scatter(*np.asarray(x).T, s=1, alpha=0.4)
        ax.set(title=name, aspect="equal", xlim=(-1.2, 1.2), ylim=(-1.2, 1.2))
    fig.tight_layout()
    fig.savefig(args.out / "samples.png", dpi=120)
    plt.close(fig)

    print(f"\nring diffusion, {args.samples} samples vs held-out data ({args.steps} training "
          f"steps; analogue: {args.loop_steps} Heun steps, {args.chips} chips of "
          f"{args.preset})")
    print(f"{'':10s}" + "".join(f"{k:>24s}" for k in metrics))
    print(f"{'digital':10s}" + "".join(f"{m_digital[k]:24.4f}" for k in metrics))
    print(f"{'analogue':10s}" + "".join(
        f"{summary['analogue'][k]['mean']:.4f} ± {summary['analogue'][k]['sd']:.4f}".rjust(24)
        for k in metrics))
    print(f"{result.chips_per_second:.2f} chips/s; results in {args.out}/")
    return summary


# ----------------------------------------------------------------------------- pruning


def run_pruning(args) -> dict:
    import equinox as eqx
    import jax.random as jr

    import analogjax as aj

    from . import _classifier, _topology

    x_train, y_train, x_test, y_test = _classifier.load_digits_split()
    crossbar = aj.Crossbar(aj.presets.PRESETS[args.preset](), rows=128, cols=128,
                           adc=aj.ADC(bits=8))
    arch = aj.MLPArchitecture((64, args.hidden, 10))
    k_init, k_digital, k_chips = jr.split(jr.key(args.seed), 3)
    net0 = _topology.TopologyNet.init(arch, key=k_init)
    digital_net, _ = _classifier.train_classifier(
        aj.Network.init(arch, key=k_init), x_train, y_train, key=k_digital,
        steps=args.steps)
    digital = float(_classifier.accuracy(digital_net(x_test), y_test))

    def per_chip(chip_key):
        k_form, k_train, k_read = jr.split(chip_key, 3)
        chip = net0.form(crossbar, key=k_form)
        trained = _topology.train_topology(net0, chip, x_train, y_train, key=k_train,
                                           steps=args.steps)
        logits = trained.net(x_test, trained.chip, key=k_read)
        kept = sum(m.sum() for m in trained.net.masks()) / sum(m.size for m in trained.net.masks())
        return {"accuracy": _classifier.accuracy(logits, y_test), "kept_fraction": kept}

    result = aj.variation.monte_carlo(eqx.filter_jit(per_chip), key=k_chips,
                                      n_chips=args.chips, chunk_size=args.chunk_size,
                                      vmap_width=min(args.chips, 8),
                                      progress_meter=progress_meter(args))
    accuracy = result.values["accuracy"]
    summary = {"study": "pruning", "preset": args.preset, "seed": args.seed,
               "hidden": args.hidden, "training_steps": args.steps,
               "digital_accuracy": digital, "accuracy_mean": float(accuracy.mean()),
               "accuracy_sd": float(accuracy.std()), "accuracy_min": float(accuracy.min()),
               "kept_fraction": float(result.values["kept_fraction"].mean())}
    result.save(args.out, extra=summary)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.hist(accuracy, bins=min(20, max(3, args.chips // 2)), alpha=0.7,
            label="pruned random chips")
    ax.axvline(digital, color="k", ls="--", label="digital network")
    ax.set(xlabel="test accuracy", ylabel="chips",
           title=f"topology pruning, {args.preset}, 64-{args.hidden}-10")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out / "accuracy.png", dpi=120)
    plt.close(fig)
    _chips_vs_digital(f"digits test accuracy: topology-pruned random formed arrays "
                      f"({args.preset}, 64-{args.hidden}-10, {args.steps} steps, 8-bit ADC) vs "
                      "the same network trained digitally", digital, "pruned", accuracy, "min",
                      f"{args.chips} chips; {summary['kept_fraction']:.0%} of pairs kept",
                      result, args.out)
    return summary


# ----------------------------------------------------------------------------- circuit


def run_circuit(args) -> dict:
    import jax

    with jax.enable_x64(True):  # circuit physics in double precision (not left on globally)
        return _run_circuit(args)


def _run_circuit(args) -> dict:
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import numpy as np

    import analogjax as aj
    from analogjax import circuits

    try:
        text = args.netlist.read_text()
    except FileNotFoundError:
        raise CLIError(f"circuit: netlist not found: {args.netlist}") from None
    circuit = circuits.read_spice(text)
    if circuit.tran is None:
        raise CLIError(f"circuit: {args.netlist} has no .tran line")
    grid = circuit.tran.times()
    ts = grid if len(grid) <= args.points else np.linspace(grid[0], grid[-1], args.points)
    toleranced = [e for e in circuit.elements
                  if isinstance(e, circuits.Resistor | circuits.Capacitor | circuits.Inductor)]
    nominal_values = jnp.asarray([float(getattr(e, e.value_field)) for e in toleranced])
    nodes = circuit.node_names
    ts = jnp.asarray(ts, jnp.float64)

    def voltages(values):
        varied = circuit.with_values({e.name: v for e, v in zip(toleranced, values,
                                                                 strict=True)})
        return varied.transient(ts).voltages

    nominal = np.asarray(eqx.filter_jit(voltages)(nominal_values))

    def per_chip(key):
        scale = 1 + args.tolerance * jax.random.normal(key, nominal_values.shape)
        return {"voltages": voltages(nominal_values * jnp.maximum(scale, 0.05))}

    result = aj.variation.monte_carlo(per_chip, key=jax.random.key(args.seed),
                                      n_chips=args.chips, chunk_size=args.chunk_size,
                                      progress_meter=progress_meter(args),
                                      description="circuits")
    v = result.values["voltages"]  # (chips, T, nodes)
    rows = [{"node": n, "nominal": float(nominal[-1, i]), "mean": float(v[:, -1, i].mean()),
             "sd": float(v[:, -1, i].std())} for i, n in enumerate(nodes)]
    summary = {"study": "circuit", "netlist": str(args.netlist), "seed": args.seed,
               "tolerance": args.tolerance, "toleranced_elements": len(toleranced),
               "t_stop_s": float(ts[-1]), "final_voltages": rows}
    result.save(args.out, extra=summary)
    np.savez(args.out / "nominal.npz", t=np.asarray(ts), voltages=nominal,
             nodes=np.asarray(nodes))

    plt = _plt()
    shown = list(range(min(len(nodes), 6)))
    fig, ax = plt.subplots(figsize=(7, 3.8))
    t = np.asarray(ts)
    for i in shown:
        line, = ax.plot(t, nominal[:, i], label=f"v({nodes[i]})")
        if args.chips > 1 and args.tolerance > 0:
            lo, hi = np.quantile(v[:, :, i], [0.05, 0.95], axis=0)
            ax.fill_between(t, lo, hi, color=line.get_color(), alpha=0.25)
    ax.set(xlabel="t [s]", ylabel="V", title=f"{args.netlist.name}: nominal and 5-95 % of "
           f"{args.chips} circuits (tolerance {args.tolerance:.0%})")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out / "voltages.png", dpi=120)
    plt.close(fig)
    print(f"\n{args.netlist.name}: transient to {float(ts[-1]):.4g} s, {args.chips} circuits "
          f"with {args.tolerance:.1%} tolerance on {len(toleranced)} R/C/L values")
    print(f"{'node':>12s}{'nominal [V]':>14s}{'mean [V]':>14s}{'s.d. [V]':>12s}")
    for r in rows:
        print(f"{r['node']:>12s}{r['nominal']:14.6g}{r['mean']:14.6g}{r['sd']:12.3g}")
    print(f"results in {args.out}/")
    return summary


RUNS = {"irdrop": run_irdrop, "twin": run_twin, "diffusion": run_diffusion,
        "pruning": run_pruning, "circuit": run_circuit}
