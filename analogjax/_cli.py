"""The ``analogjax`` command line: each study writes a results folder and prints a table."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

STUDIES = {
    "mvm": "error statistics of a random layer programmed on each device preset, over chips "
           "and drift times",
}


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _times(text: str) -> list[float]:
    try:
        times = [float(t) for t in text.split(",") if t.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected comma-separated seconds: {error}") from None
    if not times or any(t < 0 for t in times):
        raise argparse.ArgumentTypeError("expected one or more times >= 0 s, comma-separated")
    return times


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="analogjax",
        description="Studies of analogue in-memory computing hardware. Studies:\n"
        + "\n".join(f"  {name:10s} {text}" for name, text in STUDIES.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="study", metavar="STUDY")
    mvm = sub.add_parser("mvm", help=STUDIES["mvm"])
    mvm.add_argument("--size", type=_positive_int, default=256, help="layer is size×size")
    mvm.add_argument("--batch", type=_positive_int, default=128, help="input vectors")
    mvm.add_argument("--chips", type=_positive_int, default=32, help="chip instances")
    mvm.add_argument("--times", type=_times, default=[1.0, 3600.0, 86400.0, 3.15e7],
                     help="read times after programming [s], comma-separated")
    mvm.add_argument("--seed", type=int, default=0)
    mvm.add_argument("--out", type=Path, default=Path("results/mvm"), help="results folder")
    return parser


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
    results = {}
    for name, preset in aj.presets.PRESETS.items():
        device = preset()
        if isinstance(device, aj.FormedDevice):
            continue  # random-weight device: not programmable to target weights
        xbar = aj.Crossbar(device, rows=128, cols=128, dac=aj.DAC(bits=8), adc=aj.ADC(bits=8))

        @jax.jit
        def errors(key, xbar=xbar):
            k_program, k_read = jax.random.split(key)
            chip = xbar.program(w, key=k_program)

            def at(t):
                y = chip(x, key=jax.random.fold_in(k_read, t.astype(jnp.int32)), t=t)
                return jnp.linalg.norm(y - y_ideal) / jnp.linalg.norm(y_ideal)

            return jax.vmap(at)(times)

        per_chip = np.asarray(jax.vmap(errors)(jax.random.split(k_chips, args.chips)))
        results[name] = {
            "relative_error_mean": per_chip.mean(0).tolist(),
            "relative_error_std": per_chip.std(0, ddof=1).tolist() if args.chips > 1 else None,
        }
    return {"times_s": list(args.times), "size": args.size, "batch": args.batch,
            "chips": args.chips, "seed": args.seed, "presets": results}


def _print_mvm(summary: dict):
    times = summary["times_s"]
    header = f"{'preset':18s}" + "".join(f"{f't={t:g} s':>20s}" for t in times)
    print(f"relative MVM error ||y - Wx|| / ||Wx|| over {summary['chips']} chips "
          f"({summary['size']}x{summary['size']} layer, 128x128 arrays, 8-bit DAC/ADC)")
    print(header)
    for name, r in summary["presets"].items():
        cells = []
        for i in range(len(times)):
            std = r["relative_error_std"][i] if r["relative_error_std"] else 0.0
            cells.append(f"{r['relative_error_mean'][i]:.4f} ± {std:.4f}")
        print(f"{name:18s}" + "".join(f"{c:>20s}" for c in cells))


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.study is None:
        parser.print_help()
        return 0
    try:
        start = time.perf_counter()
        summary = run_mvm(args)
        summary["wall_time_s"] = time.perf_counter() - start
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
        _print_mvm(summary)
        print(f"wrote {args.out / 'summary.json'} ({summary['wall_time_s']:.1f} s)")
    except (ValueError, OSError) as error:
        print(f"analogjax: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
