"""A per-chip function shared by the in-process and the 4-device subprocess Monte Carlo
tests. Run as a script: ``python -m tests._mc_fixture OUT.npz`` saves its results."""

import sys

import jax
import jax.numpy as jnp
import numpy as np

import analogjax as aj

QUIET = aj.variation.NoProgressMeter()

N_CHIPS = 37


def per_chip_fn():
    w = jax.random.normal(jax.random.key(0), (6, 10))
    x = jax.random.normal(jax.random.key(1), (4, 10))
    xbar = aj.Crossbar(aj.presets.rram_taox_40nm(), rows=4, cols=4)

    def fn(key):
        k_program, k_read = jax.random.split(key)
        y = xbar.program(w, key=k_program)(x, key=k_read, t=100.0)
        return {"y": y, "error": jnp.linalg.norm(y - x @ w.T)}

    return fn


def run(chunk_size):
    result = aj.variation.monte_carlo(per_chip_fn(), key=jax.random.key(5), n_chips=N_CHIPS,
                                      chunk_size=chunk_size, vmap_width=4, progress_meter=QUIET)
    return result.values


if __name__ == "__main__":
    values = run(chunk_size=int(sys.argv[2]))
    np.savez(sys.argv[1], n_devices=len(jax.devices()), **values)
