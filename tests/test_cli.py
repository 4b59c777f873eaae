"""The command line: help, one-line errors, the default study on small sizes, TOML config."""

import json
import subprocess
import sys

import pytest
from analogjax.models._cli import main

from analogjax import circuits


def test_help_lists_the_studies(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for study in ("variation", "mvm", "irdrop", "twin", "diffusion", "pruning", "esgnn",
                  "circuit"):
        assert f"  {study}" in out


@pytest.mark.parametrize("argv, message", [
    (["--chips", "0"], "--chips: must be a positive integer"),
    (["variation", "--preset", "nope"], "invalid choice: 'nope'"),
    (["variation", "--times", "1,-5"], "--times"),
    (["variation", "--spec", "1.5"], "--spec: must be in [0, 1]"),
    (["bogus"], "unknown study 'bogus'"),
    (["esgnn", "--bits", "20"], "--bits must be in 1..16"),
    (["esgnn", "--preset", "pcm_like"], "invalid choice: 'pcm_like'"),
    (["variation", "--config", "/nonexistent/c.toml"], "config file not found"),
    (["irdrop", "--sizes", "0"], "--sizes: must be a positive integer"),
    (["irdrop", "--r-wire", "-1"], "--r-wire: must be a positive number"),
    (["circuit", "/nonexistent.cir"], "netlist not found"),
    (["circuit"], "the following arguments are required: netlist"),
    (["twin", "--preset", "formed_rram_taox_40nm"], "invalid choice"),
])
def test_bad_options_give_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_bad_config_files(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("chips = [unclosed")
    assert main(["variation", "--config", str(bad)]) == 2
    assert "cannot read config file" in capsys.readouterr().err
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("chipz = 3\n")
    assert main(["variation", "--config", str(unknown)]) == 2
    assert "unknown option 'chipz'" in capsys.readouterr().err
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("chips = -3\n")
    assert main(["variation", "--config", str(wrong)]) == 2
    assert "option 'chips'" in capsys.readouterr().err


def test_default_study_small_from_a_config_file(tmp_path, capsys):
    config = tmp_path / "study.toml"
    config.write_text(f'preset = "rram_taox_40nm"\nchips = 12\nchunk_size = 8\nsteps = 200\n'
                      f'times = [1.0, 86400.0]\nhidden = 16\nno_progress = true\n'
                      f'no_compile_cache = true\n'
                      f'out = "{tmp_path / "ignored"}"\n')
    out = tmp_path / "run"
    assert main(["--config", str(config), "--out", str(out)]) == 0  # the flag wins
    printed = capsys.readouterr().out
    assert "rram_taox_40nm" in printed and "1 day" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_chips"] == 12 and summary["preset"] == "rram_taox_40nm"
    accuracy = summary["metrics"]["accuracy"]
    assert len(accuracy["mean"]) == 2 and 0.5 < accuracy["mean"][0] <= 1.0
    assert summary["digital_accuracy"] > 0.8
    for name in ("values.npz", "accuracy_hist_cdf.png", "accuracy_vs_time.png"):
        assert (out / name).stat().st_size > 0
    assert not (tmp_path / "ignored").exists()


def test_esgnn_study_small(tmp_path, capsys):
    out = tmp_path / "esgnn"
    argv = ["esgnn", "--chips", "2", "--chunk-size", "2", "--no-progress",
            "--no-compile-cache", "--out", str(out)]
    assert main(argv) == 0
    assert "published 0.9211" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_chips"] == 2 and len(summary["accuracy"]["analogue"]["per_split_mean"]) == 10
    # 2 chips x 10 splits of 19 test graphs: far above chance (0.66 predicts "mutagenic")
    assert summary["accuracy"]["digital"]["mean"] > 0.85
    assert summary["energy_per_graph_J"]["analogue"] < summary["energy_per_graph_J"]["digital"]
    for name in ("values.npz", "accuracy.png"):
        assert (out / name).stat().st_size > 0


def test_repeated_study_loads_its_programs_from_the_compile_cache(tmp_path):
    """Run in fresh processes (the cache is a process-wide JAX setting): the first run fills
    the cache folder, a repeated run reads it and writes nothing new; --no-compile-cache
    leaves the folder alone."""
    cache = tmp_path / "cache"
    command = [sys.executable, "-m", "analogjax.models", "variation", "--chips", "8",
               "--chunk-size", "8", "--steps", "20", "--hidden", "8", "--times", "1",
               "--no-progress", "--out", str(tmp_path / "out"), "--compile-cache", str(cache)]

    def run(*extra):
        done = subprocess.run(command + list(extra), capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr

    run()
    entries = sorted(p.name for p in cache.iterdir())
    assert len(entries) >= 3  # training, calibration and the Monte Carlo chunk at least
    run()
    assert sorted(p.name for p in cache.iterdir()) == entries
    other = tmp_path / "other"
    run("--no-compile-cache", "--compile-cache", str(other))
    assert not other.exists()


TINY = {
    "irdrop": ["--sizes", "16", "--r-wire", "1", "--batch", "4"],
    "twin": ["--steps", "20", "--width", "8", "--segment", "5"],
    "diffusion": ["--steps", "20", "--samples", "64", "--loop-steps", "10"],
    "pruning": ["--steps", "20", "--hidden", "16"],
    "circuit": ["--points", "11", "--tolerance", "0.05"],
}


@pytest.mark.parametrize("study", list(TINY))
def test_each_study_runs_at_tiny_size(study, tmp_path, capsys):
    """Every use case from the command line: results folder (summary.json, values.npz, a
    PNG) and a printed table, at tiny sizes."""
    out = tmp_path / study
    argv = [study, *TINY[study], "--chips", "2", "--chunk-size", "2", "--no-progress",
            "--no-compile-cache", "--out", str(out)]
    if study == "circuit":
        argv.insert(1, str(circuits.example_netlist("oscillator")))
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"results in {out}" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["study"] == study
    assert (out / "values.npz").stat().st_size > 0
    assert any(p.stat().st_size > 0 for p in out.glob("*.png"))
    if study == "circuit":  # the oscillator decays from 0.5 V: a tolerance spreads it
        x1 = next(r for r in summary["final_voltages"] if r["node"] == "x1")
        assert abs(x1["nominal"]) < 0.5 and x1["sd"] > 0
    if study == "irdrop":
        row = summary["rows"][0]
        assert row["error_with_wires"][0] > 0 and row["ir_drop_part"][0] > 0


def test_mvm_study_writes_its_folder(tmp_path, capsys):
    out = tmp_path / "mvm"
    assert main(["mvm", "--preset", "rram_180nm", "--size", "32", "--batch", "4", "--chips",
                 "2", "--chunk-size", "2", "--times", "1,3600", "--no-progress",
                 "--no-compile-cache", "--out", str(out)]) == 0
    assert "rram_180nm" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert list(summary["relative_error"]) == ["rram_180nm"]
    assert len(summary["relative_error"]["rram_180nm"]["mean"]) == 2
    assert (out / "error_vs_time.png").stat().st_size > 0 and (out / "values.npz").exists()
