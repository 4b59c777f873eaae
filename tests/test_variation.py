"""The Monte Carlo engine: the same chips whatever the chunking and device count; statistics,
files, sweeps."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import analogjax as aj
from analogjax.variation import MonteCarloResult, Spec

from . import _mc_fixture

QUIET = aj.variation.NoProgressMeter()

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def reference_values():
    return _mc_fixture.run(chunk_size=1000)


def test_identical_for_any_chunk_size(reference_values):
    for chunk in (1, 8, 13):
        values = _mc_fixture.run(chunk_size=chunk)
        for name in reference_values:
            np.testing.assert_array_equal(values[name], reference_values[name])
    # chip i is chip i whatever the number of chips
    fewer = aj.variation.monte_carlo(_mc_fixture.per_chip_fn(), key=jax.random.key(5),
                                     n_chips=5, vmap_width=4, progress_meter=QUIET)
    np.testing.assert_array_equal(fewer.values["y"], reference_values["y"][:5])


def test_identical_across_four_devices(reference_values, tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu")
    out = tmp_path / "mc4.npz"
    subprocess.run([sys.executable, "-m", "tests._mc_fixture", str(out), "6"], cwd=ROOT,
                   env=env, check=True, timeout=300)
    values = np.load(out)
    assert int(values["n_devices"]) == 4
    # the same chips read the same outputs, bit for bit
    np.testing.assert_array_equal(values["y"], reference_values["y"])
    # a reduction of them may round differently (XLA's CPU reduction code depends on the
    # device configuration): equal to the last bit or two
    np.testing.assert_allclose(values["error"], reference_values["error"], rtol=1e-6)


def test_chips_differ_and_metrics_have_the_chip_axis_first(reference_values):
    assert reference_values["y"].shape == (_mc_fixture.N_CHIPS, 4, 6)
    assert len(np.unique(reference_values["error"])) == _mc_fixture.N_CHIPS


def test_summary_statistics_and_yield():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(500, 2))
    result = MonteCarloResult(values={"m": v}, n_chips=500)
    s = result.summary([Spec("m", lower=-1.0, upper=1.5)])["m"]
    np.testing.assert_allclose(s["mean"], v.mean(0))
    np.testing.assert_allclose(s["std"], v.std(0, ddof=1))
    np.testing.assert_allclose(s["sem"], v.std(0, ddof=1) / np.sqrt(500))
    np.testing.assert_allclose(s["quantiles"]["q05"], np.quantile(v, 0.05, axis=0))
    p = ((v >= -1) & (v <= 1.5)).mean(0)
    np.testing.assert_allclose(s["yield"], p)
    np.testing.assert_allclose(s["yield_sem"], np.sqrt(p * (1 - p) / 500))
    with pytest.raises(ValueError, match="unknown metrics"):
        result.summary([Spec("other", lower=0)])
    with pytest.raises(ValueError, match="lower"):
        Spec("m", lower=2, upper=1)


def test_save_and_plot(tmp_path):
    result = MonteCarloResult(values={"acc": np.linspace(0.8, 1.0, 40).reshape(20, 2)},
                              n_chips=20, wall_time_s=2.0)
    spec = Spec("acc", lower=0.9)
    result.save(tmp_path, [spec], {"note": "test"})
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["n_chips"] == 20 and summary["chips_per_second"] == 10.0
    assert summary["metrics"]["acc"]["yield"] == pytest.approx([0.5, 0.5], abs=0.06)
    np.testing.assert_array_equal(np.load(tmp_path / "values.npz")["acc"], result.values["acc"])
    result.plot("acc", labels=["t0", "t1"], spec=spec, path=tmp_path / "acc.png")
    assert (tmp_path / "acc.png").stat().st_size > 1000


def test_sweep_over_presets_and_noise_levels():
    w = jax.random.normal(jax.random.key(0), (4, 4))
    x = jax.random.normal(jax.random.key(1), (3, 4))

    def make_fn(preset, read_noise):
        device = aj.presets.PRESETS[preset]()
        device = aj.ResistiveDevice(g_min=device.g_min, g_max=device.g_max,
                                    read_noise=aj.RelativeNoise(read_noise))
        xbar = aj.Crossbar(device, rows=4, cols=4, dac=aj.DAC(bits=None), adc=aj.ADC(bits=None))

        def fn(key):
            y = xbar.program(w, key=key)(x, key=jax.random.fold_in(key, 1))
            return {"error": jnp.linalg.norm(y - x @ w.T) / jnp.linalg.norm(x @ w.T)}

        return fn

    rows = aj.variation.sweep(make_fn, {"preset": ["rram_180nm", "pcm_like"],
                                        "read_noise": [0.0, 0.05]},
                              key=jax.random.key(2), n_chips=16, progress_meter=QUIET,
                              specs=[Spec("error", upper=0.02)])
    assert [(r["preset"], r["read_noise"]) for r in rows] == [
        ("rram_180nm", 0.0), ("rram_180nm", 0.05), ("pcm_like", 0.0), ("pcm_like", 0.05)]
    for r in rows:
        if r["read_noise"] == 0.0:
            assert r["error_mean"] < 1e-5 and r["error_yield"] == 1.0
        else:
            assert r["error_mean"] > 0.01
    table = aj.variation.format_table(rows)
    assert "error_mean" in table.splitlines()[0] and len(table.splitlines()) == 5


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_chips must be an integer"):
        aj.variation.monte_carlo(lambda k: 0.0, key=jax.random.key(0), n_chips=0)
    with pytest.raises(ValueError, match="chunk_size"):
        aj.variation.monte_carlo(lambda k: 0.0, key=jax.random.key(0), n_chips=3,
                                 chunk_size=0)
    with pytest.raises(ValueError, match="grid"):
        aj.variation.sweep(lambda: None, {}, key=jax.random.key(0), n_chips=2)
