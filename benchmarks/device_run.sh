#!/usr/bin/env bash
# The GPU table of the speed issue, on a lent device machine (the `device` tool's `run`):
#
#     bash benchmarks/device_run.sh    # writes $OUT/gpu_default.json and $OUT/gpu_scale4.json
#
# That machine has no package index and JAX 0.11.2 with CUDA, equinox, diffrax, lineax,
# optimistix, optax, flax, jaxtyping and scipy already installed; pyproject's jax>=0.12 pin
# would make pip try to fetch JAX, so analogjax is installed without its dependencies
# (on CPU with JAX 0.11.2, lineax 0.1.1 and optimistix 0.1.0, `run_all.py --quick` runs and
# the test suite passes, the notebook and docs tests left out). Diffusion, ESGNN and the circuits are
# left out to fit the device budget (they take 3-5 minutes each on CPU). run_all.py writes
# its JSON after each benchmark, so a run cut short keeps what it finished.
set -uo pipefail
out=${OUT:-results}
mkdir -p "$out"
python3 -m pip install -q --no-deps --no-build-isolation -e . || exit 1
python3 -c "import jax; print('jax', jax.__version__, jax.devices())" | tee "$out/device.txt"
only=(crossbar_mvm variation closed_loop ir_drop pruning)
quick=(); [[ -n "${QUICK:-}" ]] && quick=(--quick)  # QUICK=1: a smoke test of this script
python3 benchmarks/run_all.py "${quick[@]}" --only "${only[@]}" --timeout 240 \
    --out "$out/gpu_default.json"
python3 benchmarks/run_all.py "${quick[@]}" --scale 4 --only "${only[@]}" --timeout 240 \
    --out "$out/gpu_scale4.json"
