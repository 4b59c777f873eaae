"""Run every benchmark, print one table (path, analogue time, baseline time, ratio, goal,
compile time) and write it as JSON.

Each benchmark runs in its own process (its compile times are those of a fresh start) and
reports ``RESULT {json}`` lines (``_common.report``); the code paths are the same on CPU and
GPU. ``--quick`` runs every benchmark at small sizes (a smoke test, minutes on 2 CPU cores);
the default sizes re-measure the issue tables; ``--scale 4`` runs four times each default
workload (the larger-size table for a GPU).

    python benchmarks/run_all.py [--quick] [--scale K] [--only NAME ...] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
BENCHMARKS = ("crossbar_mvm", "variation", "closed_loop", "diffusion", "ir_drop", "pruning",
              "esgnn", "circuits", "aihwkit")


def run(name: str, quick: bool, timeout: float, scale: int = 1
        ) -> tuple[list[dict], float, str]:
    """The result rows of ``bench_{name}.py``, its wall time [s] and its output tail."""
    command = ([sys.executable, str(HERE / f"bench_{name}.py")] + (["--quick"] if quick else [])
               + (["--scale", str(scale)] if scale != 1 else []))
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"bench_{name}.py failed:\n{done.stderr[-3000:]}")
    rows = [json.loads(line[len("RESULT "):]) for line in done.stdout.splitlines()
            if line.startswith("RESULT ")]
    if not rows:
        raise RuntimeError(f"bench_{name}.py reported no result:\n{done.stdout[-3000:]}")
    return rows, wall, done.stdout


def table(rows: list[dict], header: bool = True) -> str:
    title = f"{'path':78s} {'analogue':>10s} {'baseline':>10s} {'ratio':>8s} {'compile':>8s}  goal"
    lines = [title, "-" * len(title)] if header else []
    for r in rows:
        compile_s = "" if r["compile_s"] is None else f"{r['compile_s']:.1f} s"
        lines.append(f"{r['path'][:78]:78s} {r['analogue_s']:9.4f}s {r['baseline_s']:9.4f}s "
                     f"{r['ratio']:8.2f} {compile_s:>8s}  {r['goal']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run these only")
    parser.add_argument("--scale", type=int, default=1, metavar="K",
                        help="K times each default workload (chips, samples, batch, inputs; "
                             "IR drop: K times the cells, so K must be a square), e.g. 4")
    parser.add_argument("--timeout", type=float, default=3600.0, help="per benchmark [s]")
    parser.add_argument("--out", type=Path, default=Path("results/benchmarks.json"))
    args = parser.parse_args(argv)
    rows, walls, failed = [], {}, {}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name in args.only or BENCHMARKS:
        print(f"running bench_{name}.py{' --quick' if args.quick else ''}"
              f"{f' --scale {args.scale}' if args.scale != 1 else ''} ...", flush=True)
        try:
            result, walls[name], _ = run(name, args.quick, args.timeout, args.scale)
            rows += [{"benchmark": name, **r} for r in result]
            print(table(rows[-len(result):], header=False), flush=True)
        except (RuntimeError, subprocess.TimeoutExpired) as error:  # report it, run the rest
            print(f"  FAILED: {error}", flush=True)
            failed[name] = str(error)[-3000:]
        # Written after each benchmark, so a run cut short (a time limit) keeps what it did.
        summary = {"quick": args.quick, "scale": args.scale, "wall_s": walls, "rows": rows,
                   "failed": failed}
        args.out.write_text(json.dumps(summary, indent=2))
    print()
    print(table(rows))
    print(f"\nwritten to {args.out}")
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
