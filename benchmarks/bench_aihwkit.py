"""analogjax vs IBM aihwkit on the same PCM model (issue: speed): aihwkit's
``PCMLikeNoiseModel`` (analogjax's ``presets.pcm_like`` is that model), global drift
compensation, float32, CPU threads as JAX has them.

1. One noisy MVM, 512², batch 1024, read at t = 1 h with ideal and with 8-bit converters:
   each side programs and drifts once (aihwkit's ``drift_analog_weights``, analogjax's
   ``chip.at(t, frozen_key=…)``), then the batch read is timed (median).
2. The default variation study at 100 and at 1000 chips: the digits MLP 64-64-10 (trained
   here once; both sides read the same weights), its test accuracy on each chip at 1 s, 1 h,
   1 day and 1 year (8-bit converters). analogjax runs in a fresh process twice, first with
   an empty persistent compilation cache and then with it filled (a repeated study),
   compilation included; aihwkit loops over the chips as its API does (program, then drift
   and read at each time). Each row's time is the study after the imports; the whole process
   (imports included) is printed beside it.

aihwkit needs PyTorch, so it runs in its own Python, given by ``--aihwkit-python`` or
``$AIHWKIT_PYTHON`` (``aihwkit_worker.py``); without one the benchmark prints analogjax's
times only. An environment that works on Linux x86_64 with Python 3.11:
``pip install torch==2.13.0 numpy scipy tqdm requests protobuf scikit-learn`` and
``pip install --no-deps aihwkit==1.1.0``; the worker uses aihwkit's pure-PyTorch inference
tile (``TorchInferenceRPUConfig``), as that wheel's C++ tile needs the PyTorch it was built
against.

    python benchmarks/bench_aihwkit.py [--aihwkit-python PATH] [--chips 100 1000] [--quick]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
TIMES = (1.0, 3600.0, 86400.0, 3.1536e7)


def study_child(job: dict) -> dict:
    """The analogjax study in this (fresh) process: imports, then the chips, compile included."""
    start = time.perf_counter()
    import jax
    import numpy as np

    import analogjax as aj
    from analogjax import models

    imported = time.perf_counter()
    if job["cache"]:
        jax.config.update("jax_compilation_cache_dir", job["cache"])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    data = np.load(job["data"])
    mlp = aj.Network(aj.MLPArchitecture((64, data["w0"].shape[0], 10), bias=True),
                     weights=(data["w0"], data["w1"]), biases=(data["b0"], data["b1"]))
    xbar = aj.Crossbar(aj.presets.pcm_like(), rows=128, cols=128, dac=aj.DAC(bits=8),
                       adc=aj.ADC(bits=8), drift_compensation=True)
    per_chip = models.accuracy_over_time(mlp, xbar, data["x_test"], data["y_test"], TIMES)
    result = aj.variation.monte_carlo(per_chip, key=jax.random.key(1), n_chips=job["chips"],
                                      progress_meter=aj.variation.NoProgressMeter())
    accuracy = np.asarray(result.values["accuracy"])
    done = time.perf_counter()
    return {"import_s": imported - start, "seconds": done - imported,
            "compile_s": result.compile_time_s, "mean_accuracy": accuracy.mean(0).tolist()}


def run_json(command: list[str]) -> tuple[dict, float]:
    """The JSON line a subprocess prints last, and the subprocess's wall time [s]."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{command[1]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


def mvm(args, aihwkit):
    import jax
    import jax.numpy as jnp
    import numpy as np
    from _common import report

    import analogjax as aj

    n, batch = args.size, args.batch
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.standard_normal((n, n)) / np.sqrt(n), jnp.float32)
    x = jnp.asarray(rng.standard_normal((batch, n)), jnp.float32)
    k_program, k_frozen, k_read = jax.random.split(jax.random.key(0), 3)
    read = jax.jit(lambda state, x, key: state(x, key=key))
    theirs = None
    if aihwkit:
        theirs, _ = run_json([aihwkit, str(HERE / "aihwkit_worker.py"), json.dumps(
            {"kind": "mvm", "size": n, "batch": batch, "t": 3600.0, "repeats": args.repeats,
             "threads": args.threads})])
        print(f"aihwkit {theirs['aihwkit']} (torch {theirs['torch']}, {theirs['threads']} "
              f"threads)")
    for label, bits in (("ideal", None), ("8bit", 8)):
        xbar = aj.Crossbar(aj.presets.pcm_like(), rows=n, cols=n, dac=aj.DAC(bits=bits),
                           adc=aj.ADC(bits=bits), drift_compensation=True)
        chip = xbar.program(w, key=k_program)
        state = jax.jit(lambda c: c.at(3600.0, frozen_key=k_frozen))(chip)
        start = time.perf_counter()
        y = jax.block_until_ready(read(state, x, k_read))
        compile_s = time.perf_counter() - start
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            jax.block_until_ready(read(state, x, k_read))
            times.append(time.perf_counter() - start)
        ours = float(np.median(times))
        ideal = x @ w.T
        rel = float(jnp.linalg.norm(y - ideal) / jnp.linalg.norm(ideal))
        converters = "ideal converters" if bits is None else "8-bit DAC/ADC"
        line = (f"MVM {n}², batch {batch}, PCM at 1 h, {converters}: analogjax "
                f"{ours * 1e3:.2f} ms (relative error {rel:.3f})")
        if theirs is None:
            print(line)
            report(f"noisy MVM {n}², batch {batch}, PCM 1 h, {converters} (no aihwkit)", ours,
                   float("nan"), "<= 0.33 (needs aihwkit)", compile_s=compile_s)
            continue
        print(line + f"; aihwkit {theirs[label]['seconds'] * 1e3:.2f} ms (relative error "
              f"{theirs[label]['relative_error']:.3f})")
        report(f"noisy MVM {n}², batch {batch}, PCM 1 h, {converters} / aihwkit", ours,
               theirs[label]["seconds"], "<= 0.33 (>= 3x faster)", compile_s=compile_s)


def study(args, aihwkit):
    import jax
    import numpy as np

    import analogjax as aj
    from analogjax import models

    x_train, y_train, x_test, y_test = models.load_digits_split(seed=0)
    k_init, k_train = jax.random.split(jax.random.key(0))
    mlp = aj.Network.init(aj.MLPArchitecture((64, 64, 10), bias=True), key=k_init)
    mlp, _ = models.train_classifier(mlp, x_train, y_train, key=k_train, steps=args.steps,
                                     weight_noise=aj.WeightNoise(0.1, clip=0.2))
    digital = float(models.accuracy(mlp(x_test), y_test))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "mlp.npz"
        np.savez(data, x_test=np.asarray(x_test, np.float32), y_test=np.asarray(y_test),
                 **{f"w{i}": np.asarray(a, np.float32) for i, a in enumerate(mlp.weights)},
                 **{f"b{i}": np.asarray(a, np.float32) for i, a in enumerate(mlp.biases)})
        for chips in args.chips:
            study_case(args, aihwkit, data, chips, Path(tmp) / f"cache{chips}", digital)


def study_case(args, aihwkit, data, chips, cache, digital):
    import numpy as np
    from _common import report

    job = {"data": str(data), "chips": chips, "cache": str(cache)}
    child = [sys.executable, __file__, "--study-child", json.dumps(job)]
    first, first_wall = run_json(child)  # an empty persistent cache
    again, again_wall = run_json(child)  # the same study again: the cache filled
    theirs = None
    if aihwkit:
        theirs, their_wall = run_json([aihwkit, str(HERE / "aihwkit_worker.py"), json.dumps(
            {"kind": "study", "data": str(data), "chips": chips, "times": TIMES,
             "threads": args.threads})])
    name = f"variation study, digits MLP, {chips} chips x {len(TIMES)} times"
    print(f"{name} (digital accuracy {digital:.4f}):")
    rows = (("first run (compile included)", first, first_wall),
            ("repeated run (persistent cache)", again, again_wall))
    for label, ours, wall in rows:
        print(f"  analogjax {label}: {ours['seconds']:.2f} s ({ours['compile_s']:.2f} s "
              f"compiling; whole process {wall:.2f} s, imports {ours['import_s']:.2f} s); "
              f"mean accuracy {np.round(ours['mean_accuracy'], 3).tolist()}")
    if theirs is None:
        for label, ours, _ in rows:
            report(f"{name}, {label} (no aihwkit)", ours["seconds"], float("nan"),
                   "<= 0.33 (needs aihwkit)", compile_s=ours["compile_s"])
        return
    print(f"  aihwkit: {theirs['seconds']:.2f} s (whole process {their_wall:.2f} s); mean "
          f"accuracy {np.round(theirs['mean_accuracy'], 3).tolist()}")
    for label, ours, wall in rows:
        report(f"{name}, {label} / aihwkit", ours["seconds"], theirs["seconds"],
               "<= 0.33 (>= 3x faster)", compile_s=ours["compile_s"])
        print(f"  whole processes, {label}: {wall:.2f} s / {their_wall:.2f} s = "
              f"{wall / their_wall:.2f}")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--study-child":
        print(json.dumps(study_child(json.loads(sys.argv[2]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aihwkit-python", default=os.environ.get("AIHWKIT_PYTHON"),
                        help="a Python with aihwkit (default $AIHWKIT_PYTHON)")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--chips", type=int, nargs="+", default=[100, 1000],
                        help="chips of each variation study (default 100 and 1000, the "
                             "command line's default)")
    parser.add_argument("--steps", type=int, default=1500, help="MLP training steps")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="PyTorch's CPU threads (default: every core, as JAX uses)")
    parser.add_argument("--quick", action="store_true", help="128², batch 128, 16 chips")
    from _common import add_scale_option

    add_scale_option(parser)  # the MVM batch and the chips
    args = parser.parse_args()
    if args.quick:
        args.size, args.batch, args.repeats, args.chips, args.steps = 128, 128, 5, [16], 200
    args.batch *= args.scale
    args.chips = [chips * args.scale for chips in args.chips]
    if args.aihwkit_python is None:
        print("no aihwkit Python given (--aihwkit-python or $AIHWKIT_PYTHON): analogjax only")
    mvm(args, args.aihwkit_python)
    study(args, args.aihwkit_python)


if __name__ == "__main__":
    main()
