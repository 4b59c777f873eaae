"""The ``analogjax`` command line: each study writes a results folder and prints a table.

The application layer: it sits on top of the core, the solvers and the models (none of them
imports it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib

from . import _studies
from ._cli_common import (
    CLIError,
    Parser,
    common_options,
    enable_compile_cache,
    formed_presets,
    fraction,
    positive_int,
    programmable_presets,
    progress_meter,
    times,
)

STUDIES = {
    "variation": "(default) accuracy of a noise-aware digits MLP over many chips and drift "
                 "times",
    "mvm": "error of a random layer programmed on each device preset, over chips and times",
    **{k: v for k, v in _studies.STUDIES.items() if k != "circuit"},
    "esgnn": "echo-state graph network on random formed arrays: MUTAG accuracy over the 10 "
             "published splits and many chips, digital vs analogue, and energy",
    "circuit": _studies.STUDIES["circuit"],
}
DRIFT_TIMES = [1.0, 3600.0, 86400.0, 3.1536e7]
TIME_NAMES = {1.0: "1 s", 3600.0: "1 h", 86400.0: "1 day", 3.1536e7: "1 year"}


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="analogjax",
        description="Studies of analogue in-memory computing hardware. Each writes a results "
        "folder (summary.json, arrays, PNG plots) and prints a summary table.\n\nstudies:\n"
        + "\n".join(f"  {name:10s} {text}" for name, text in STUDIES.items())
        + "\n\nShared options: --preset, --chips, --seed, --out, --config (TOML), "
        "--no-progress. 'analogjax STUDY --help' lists a study's options; 'analogjax' alone "
        "runs the default study.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="study", metavar="STUDY", parser_class=Parser)
    presets = programmable_presets()

    var = sub.add_parser("variation", help=STUDIES["variation"], description=(
        "Train a 64-H-10 MLP on scikit-learn's digits with multiplicative weight noise, "
        "program it onto N chips of a device preset and report the test accuracy over chips "
        "at each drift time (mean, spread, quantiles, yield at --spec)."))
    common_options(var, presets=presets, preset="pcm_like", chips=1000, chunk_size=250,
                   out="variation")
    var.add_argument("--times", type=times, default=DRIFT_TIMES,
                     help="read times after programming [s], comma-separated "
                          "(default: 1 s, 1 h, 1 day, 1 year)")
    var.add_argument("--spec", type=fraction, default=0.90,
                     help="minimum test accuracy for a chip to pass (yield)")
    var.add_argument("--hidden", type=positive_int, default=64)
    var.add_argument("--array", type=positive_int, default=128, help="array rows = cols")
    var.add_argument("--steps", type=positive_int, default=1500, help="training steps")
    var.add_argument("--weight-noise", type=fraction, default=0.1,
                     help="training weight-noise std (relative)")
    var.add_argument("--no-drift-compensation", action="store_true")

    mvm = sub.add_parser("mvm", help=STUDIES["mvm"], description=(
        "Program a random size x size layer onto N chips of each device preset (or of "
        "--preset) with 8-bit converters and report the relative error of the MVM at each "
        "read time."))
    common_options(mvm, presets=["all", *presets], preset="all", chips=32, chunk_size=32,
                   out="mvm")
    mvm.add_argument("--size", type=positive_int, default=256, help="layer is size×size")
    mvm.add_argument("--batch", type=positive_int, default=128, help="input vectors")
    mvm.add_argument("--times", type=times, default=DRIFT_TIMES)

    _studies.register(sub)

    esg = sub.add_parser("esgnn", help=STUDIES["esgnn"], description=(
        "Form N chips of random input and recurrent arrays, embed the 188 MUTAG graphs with "
        "the published echo-state graph network (hidden 50, 4 iterations, leak 0.2, 4-bit "
        "bit-serial inputs with read noise on every bit cycle), train a ridge read-out per "
        "split and report the test accuracy over the 10 published splits and over chips, "
        "digital (each chip's weights computed exactly) vs analogue; published 92.11 %%."))
    common_options(esg, presets=formed_presets(), preset="formed_rram_taox_40nm", chips=100,
                   out="esgnn")
    esg.add_argument("--published-cells", action="store_true",
                     help="cells as the published code draws them: every cell formed, "
                          "N(14.2473, 2.4624^2) uS (instead of the preset's measured-map fit)")
    esg.add_argument("--read-noise", type=fraction, default=None,
                     help="relative read noise per cell and bit cycle (default: the preset's)")
    esg.add_argument("--bits", type=positive_int, default=4, help="input bits (bit-serial)")
    return parser


def _apply_config(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    if argv and not argv[0].startswith("-") and argv[0] not in STUDIES:
        raise CLIError(f"unknown study {argv[0]!r}; studies: {', '.join(STUDIES)}")
    if not argv or (argv[0] not in STUDIES and argv[0] not in ("-h", "--help")):
        argv = ["variation", *argv]  # the default study
    args = parser.parse_args(argv)
    if getattr(args, "config", None) is None:
        return args
    try:
        config = tomllib.loads(args.config.read_text())
    except FileNotFoundError:
        raise CLIError(f"config file not found: {args.config}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise CLIError(f"cannot read config file {args.config}: {error}") from None
    sub = next(a for a in parser._subparsers._group_actions[0].choices.items()
               if a[0] == args.study)[1]
    actions = {a.dest: a for a in sub._actions if a.dest not in ("help", "config")}
    defaults = {}
    for name, value in config.items():
        dest = name.replace("-", "_")
        if dest not in actions:
            raise CLIError(f"unknown option {name!r} in {args.config}; allowed: "
                           f"{', '.join(sorted(actions))}")
        action = actions[dest]
        try:
            if action.type is not None:
                value = action.type(value)
            if action.choices is not None and value not in action.choices:
                raise argparse.ArgumentTypeError(f"must be one of {list(action.choices)}")
        except argparse.ArgumentTypeError as error:
            raise CLIError(f"option {name!r} in {args.config}: {error}") from None
        defaults[dest] = value
    sub.set_defaults(**defaults)
    return parser.parse_args(argv)


def _time_label(t: float) -> str:
    return TIME_NAMES.get(float(t), f"{t:g} s")


def run_variation(args) -> dict:
    import jax

    import analogjax as aj
    from analogjax import models

    start = time.perf_counter()
    x_train, y_train, x_test, y_test = models.load_digits_split(seed=args.seed)
    k_init, k_train, k_chips = jax.random.split(jax.random.key(args.seed), 3)
    mlp = aj.Network.init(aj.MLPArchitecture((x_train.shape[1], args.hidden, 10), bias=True),
                          key=k_init)
    mlp, losses = models.train_classifier(mlp, x_train, y_train, key=k_train, steps=args.steps,
                                   weight_noise=(aj.WeightNoise(args.weight_noise,
                                                                clip=2 * args.weight_noise)
                                                 if args.weight_noise > 0 else None))
    digital = float(models.accuracy(mlp(x_test), y_test))
    train_s = time.perf_counter() - start
    print(f"trained {x_train.shape[1]}-{args.hidden}-10 MLP on digits ({len(x_train)} train, "
          f"{len(x_test)} test) in {train_s:.1f} s: final loss {float(losses[-1]):.3f}, "
          f"digital test accuracy {digital:.4f}")

    device = aj.presets.PRESETS[args.preset]()
    xbar = aj.Crossbar(device, rows=args.array, cols=args.array, dac=aj.DAC(bits=8),
                       adc=aj.ADC(bits=8), drift_compensation=not args.no_drift_compensation)
    per_chip = models.accuracy_over_time(mlp, xbar, x_test, y_test, args.times)
    result = aj.variation.monte_carlo(per_chip, key=k_chips, n_chips=args.chips,
                                      chunk_size=args.chunk_size,
                                      progress_meter=progress_meter(args),
                                      description=f"{args.preset} chips")
    spec = aj.variation.Spec("accuracy", lower=args.spec)
    labels = [_time_label(t) for t in args.times]
    extra = {"study": "variation", "preset": args.preset, "digital_accuracy": digital,
             "times_s": list(args.times), "spec_min_accuracy": args.spec,
             "drift_compensation": not args.no_drift_compensation, "array": args.array,
             "hidden": args.hidden, "seed": args.seed, "training_s": train_s}
    result.save(args.out, [spec], extra)
    result.plot("accuracy", labels=labels, spec=spec, path=args.out / "accuracy_hist_cdf.png")
    _plot_vs_time(result.values["accuracy"], args.times, digital, args.spec,
                  args.out / "accuracy_vs_time.png", title=f"{args.preset}, {args.chips} chips")

    stats = result.summary([spec])["accuracy"]
    print(f"\ntest accuracy over {args.chips} chips of {args.preset} "
          f"({args.array}x{args.array} arrays, 8-bit DAC/ADC, drift compensation "
          f"{'off' if args.no_drift_compensation else 'on'}); digital {digital:.4f}")
    print(f"{'time':>8s} {'mean':>8s} {'std':>8s} {'q05':>8s} {'median':>8s} "
          f"{'yield@' + format(args.spec, '.2f'):>16s}")
    for i, label in enumerate(labels):
        q = stats["quantiles"]
        print(f"{label:>8s} {_at(stats['mean'], i):8.4f} {_at(stats['std'], i):8.4f} "
              f"{_at(q['q05'], i):8.4f} {_at(q['q50'], i):8.4f} "
              f"{_at(stats['yield'], i):8.3f} ± {_at(stats['yield_sem'], i):.3f}")
    print(f"{result.chips_per_second:.0f} chips/s ({result.wall_time_s:.1f} s for the chips, "
          f"{result.compile_time_s:.1f} s compiling); results in {args.out}/")
    return {"digital_accuracy": digital, "summary": stats}


def _at(value, i):
    return value[i] if isinstance(value, list) else value


def _plot_vs_time(accuracy, times, digital, spec, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    q = np.quantile(accuracy, [0.05, 0.5, 0.95], axis=0)
    ax.fill_between(times, q[0], q[2], alpha=0.3, label="5–95 % of chips")
    ax.plot(times, q[1], marker="o", label="median chip")
    ax.axhline(digital, color="k", lw=1, label="digital")
    ax.axhline(spec, color="r", ls="--", lw=1, label="spec")
    ax.set(xscale="log", xlabel="time after programming [s]", ylabel="test accuracy",
           title=title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_mvm(args) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    import analogjax as aj

    k_w, k_x, k_chips = jax.random.split(jax.random.key(args.seed), 3)
    w = jax.random.normal(k_w, (args.size, args.size)) / np.sqrt(args.size)
    x = jax.random.normal(k_x, (args.batch, args.size))
    y_ideal = x @ w.T
    times = jnp.asarray(args.times)
    rows, errors = [], {}
    for name in programmable_presets() if args.preset == "all" else [args.preset]:
        xbar = aj.Crossbar(aj.presets.PRESETS[name](), rows=128, cols=128,
                           dac=aj.DAC(bits=8), adc=aj.ADC(bits=8))

        def per_chip(key, xbar=xbar):
            k_program, k_read = jax.random.split(key)
            chip = xbar.program(w, key=k_program)

            def at(i):
                y = chip(x, key=jax.random.fold_in(k_read, i), t=times[i])
                return jnp.linalg.norm(y - y_ideal) / jnp.linalg.norm(y_ideal)

            return {"relative_error": jax.vmap(at)(jnp.arange(len(args.times)))}

        result = aj.variation.monte_carlo(per_chip, key=k_chips, n_chips=args.chips,
                                          chunk_size=args.chunk_size,
                                          progress_meter=progress_meter(args),
                                          description=name)
        result.save(args.out / name)
        stats = result.summary()["relative_error"]
        rows.append((name, stats))
        errors[name] = result.values["relative_error"]  # (chips, times)
    summary = {"study": "mvm", "n_chips": args.chips, "seed": args.seed, "size": args.size,
               "batch": args.batch, "times_s": list(args.times),
               "relative_error": {name: {"mean": np.atleast_1d(st["mean"]).tolist(),
                                         "std": np.atleast_1d(st["std"]).tolist()}
                                  for name, st in rows}}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    np.savez(args.out / "values.npz", **errors)
    _plot_mvm(summary, args.out / "error_vs_time.png")
    print(f"relative MVM error ||y - Wx|| / ||Wx|| over {args.chips} chips "
          f"({args.size}x{args.size} layer, 128x128 arrays, 8-bit DAC/ADC, no drift "
          "compensation): mean ± std")
    print(f"{'preset':18s}" + "".join(f"{_time_label(t):>20s}" for t in args.times))
    for name, stats in rows:
        print(f"{name:18s}" + "".join(
            f"{_at(stats['mean'], i):.4f} ± {_at(stats['std'], i):.4f}".rjust(20)
            for i in range(len(args.times))))
    print(f"results in {args.out}/")
    return dict(rows)


def _plot_mvm(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, stats in summary["relative_error"].items():
        ax.errorbar(summary["times_s"], stats["mean"], yerr=stats["std"], marker="o",
                    capsize=3, label=name)
    ax.set(xscale="log", xlabel="time after programming [s]", ylabel="relative MVM error",
           title=f"{summary['size']}x{summary['size']} layer, {summary['n_chips']} chips")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_esgnn(args) -> dict:
    import dataclasses

    import jax

    import analogjax as aj
    from analogjax import models

    if not 1 <= args.bits <= 16:
        raise CLIError(f"esgnn: --bits must be in 1..16; got {args.bits}")
    device = aj.presets.PRESETS[args.preset]()
    if args.published_cells:
        device = dataclasses.replace(device, g_formed_mean=14.2473e-6, g_formed_std=2.4624e-6,
                                     unformed_rate=0.0)
    if args.read_noise is not None:
        device = dataclasses.replace(device, read_noise=aj.RelativeNoise(args.read_noise))
    crossbar = dataclasses.replace(models.reservoir_crossbar(device),
                                   dac=aj.DAC(bits=args.bits, unsigned=True))
    network = models.EchoStateGraphNetwork(models.RandomReservoir(crossbar=crossbar))
    graphs, train, test = models.load_mutag()
    per_chip = models.graph_accuracy_per_chip(network, graphs, train, test)
    result = aj.variation.monte_carlo(per_chip, key=jax.random.key(args.seed),
                                      n_chips=args.chips, chunk_size=args.chunk_size,
                                      progress_meter=progress_meter(args),
                                      description=f"{args.preset} chips")
    energy = models.esgnn_energy(network, graphs)
    energy_j = {"analogue": float(energy["analogue"]), "digital": float(energy["digital"]),
                **{f"analogue_{k}": float(v) for k, v in energy["analogue_parts"].items()}}
    rows = {}
    for name in ("digital", "analogue"):
        a = result.values[name]  # (chips, splits)
        rows[name] = {"mean": float(a.mean()), "sd_over_splits": float(a.mean(0).std()),
                      "sd_over_chips": float(a.mean(1).std()),
                      "per_split_mean": a.mean(0).tolist()}
    extra = {"study": "esgnn", "preset": args.preset, "published_cells": args.published_cells,
             "read_noise": str(device.read_noise), "input_bits": args.bits, "seed": args.seed,
             "published_accuracy": 0.9211, "accuracy": rows, "energy_per_graph_J": energy_j}
    result.save(args.out, extra=extra)
    _plot_esgnn(result.values, args.out, f"{args.preset}, {args.chips} chips")

    print(f"\nMUTAG test accuracy, 10 published splits x {args.chips} chips "
          f"({'published-code cells' if args.published_cells else args.preset}, "
          f"{args.bits}-bit bit-serial inputs); published 0.9211")
    print(f"{'':10s} {'mean':>8s} {'sd splits':>10s} {'sd chips':>10s}")
    for name, r in rows.items():
        print(f"{name:10s} {r['mean']:8.4f} {r['sd_over_splits']:10.4f} "
              f"{r['sd_over_chips']:10.4f}")
    print(f"energy per graph: analogue {energy_j['analogue'] * 1e9:.0f} nJ, digital "
          f"{energy_j['digital'] * 1e9:.0f} nJ (model counts; published: 34.44 uJ projected "
          "vs 74.32 uJ on a GPU)")
    print(f"{result.chips_per_second:.1f} chips/s ({result.wall_time_s:.1f} s for the chips, "
          f"{result.compile_time_s:.1f} s compiling); results in {args.out}/")
    return rows


def _plot_esgnn(values, folder, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    splits = np.arange(values["digital"].shape[1])
    chip_means = [values[name].mean(1) for name in ("digital", "analogue")]
    bins = np.linspace(min(map(np.min, chip_means)) - 1e-3, max(map(np.max, chip_means)) + 1e-3,
                       16)
    for offset, name in ((-0.15, "digital"), (0.15, "analogue")):
        a = values[name]
        ax1.errorbar(splits + offset, a.mean(0), yerr=a.std(0), fmt="o", capsize=3,
                     label=f"{name} (mean ± s.d. over chips)")
        ax2.hist(a.mean(1), bins=bins, alpha=0.6, label=name)
    ax1.axhline(0.9211, color="k", ls="--", lw=1, label="published 92.11 %")
    ax1.set(xlabel="split", ylabel="test accuracy", title=title, xticks=splits)
    ax2.axvline(0.9211, color="k", ls="--", lw=1)
    ax2.set(xlabel="accuracy averaged over the 10 splits", ylabel="chips",
            title="spread over chips")
    for ax in (ax1, ax2):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(folder / "accuracy.png", dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    try:
        args = _apply_config(parser, argv)
        run = {"variation": run_variation, "mvm": run_mvm, "esgnn": run_esgnn,
               **_studies.RUNS}[args.study]
        args.out.mkdir(parents=True, exist_ok=True)
        enable_compile_cache(args)
        run(args)
    except CLIError as error:
        print(f"analogjax: error: {error}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as error:
        print(f"analogjax: error: {type(error).__name__}: {str(error).splitlines()[0]}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("analogjax: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
