"""What every ``analogjax`` study shares: one-line errors, option types, the common options
(``--config``, ``--preset``, ``--chips``, ``--chunk-size``, ``--seed``, ``--out``,
``--no-progress``, the compile cache) and the progress meter."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


class CLIError(Exception):
    """A user error: printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block)."""

    def error(self, message):
        study = self.prog.removeprefix("analogjax").strip()
        raise CLIError(f"{study}: {message}" if study else message)


def positive_int(text) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def positive_float(text) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {value}")
    return value


def _items(text) -> list:
    return text if isinstance(text, list) else [t for t in str(text).split(",") if t.strip()]


def int_list(text) -> list[int]:
    """Comma-separated positive integers (or a TOML list)."""
    values = [positive_int(t) for t in _items(text)]
    if not values:
        raise argparse.ArgumentTypeError("expected one or more positive integers")
    return values


def float_list(text) -> list[float]:
    """Comma-separated positive numbers (or a TOML list)."""
    values = [positive_float(t) for t in _items(text)]
    if not values:
        raise argparse.ArgumentTypeError("expected one or more positive numbers")
    return values


def times(text) -> list[float]:
    try:
        values = [float(t) for t in _items(text)]
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected seconds, comma-separated; got {text!r}"
                                         ) from None
    if not values or any(not 0 <= t < 1e12 for t in values):
        raise argparse.ArgumentTypeError("expected one or more times in [0, 1e12) s")
    return values


def fraction(text) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {value}")
    return value


def programmable_presets() -> list[str]:
    import analogjax as aj

    return [n for n, f in aj.presets.PRESETS.items() if not isinstance(f(), aj.FormedDevice)]


def formed_presets() -> list[str]:
    import analogjax as aj

    return [n for n, f in aj.presets.PRESETS.items() if isinstance(f(), aj.FormedDevice)]


def common_options(parser: argparse.ArgumentParser, *, presets: list[str] | None,
                   preset: str | None, chips: int, out: str, chunk_size: int = 64) -> None:
    """The options every study shares; ``presets=None`` for a study without devices."""
    parser.add_argument("--config", type=Path, help="TOML file with any of these options "
                        "(underscores for dashes); command-line options win")
    if presets is not None:
        parser.add_argument("--preset", choices=presets, default=preset,
                            help=f"device preset (default {preset})")
    parser.add_argument("--chips", type=positive_int, default=chips,
                        help=f"Monte Carlo chips (default {chips})")
    parser.add_argument("--chunk-size", type=positive_int, default=chunk_size,
                        help="chips per compiled chunk")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--out", type=Path, default=Path("results") / out,
                        help=f"results folder (default results/{out})")
    parser.add_argument("--compile-cache", type=Path, default=None,
                        help="folder of JAX's persistent compilation cache (default: "
                             "$ANALOGJAX_COMPILE_CACHE or ~/.cache/analogjax/jax): a repeated "
                             "study loads its compiled programs instead of compiling them")
    parser.add_argument("--no-compile-cache", action="store_true",
                        help="compile everything afresh (no persistent cache)")


def enable_compile_cache(args) -> Path | None:
    """Point JAX's persistent compilation cache at the study's cache folder (every program,
    however quick to compile, is cached: the studies' programs compile in well under JAX's
    default 1 s threshold each but add up to seconds)."""
    if args.no_compile_cache:
        return None
    import jax

    folder = args.compile_cache
    if folder is None:
        folder = Path(os.environ.get("ANALOGJAX_COMPILE_CACHE",
                                     Path.home() / ".cache" / "analogjax" / "jax"))
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return folder


def progress_meter(args):
    import analogjax as aj

    return aj.variation.NoProgressMeter() if args.no_progress else aj.variation.TqdmProgressMeter()
