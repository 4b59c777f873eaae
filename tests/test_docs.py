"""The documentation site builds from the repository with warnings as errors (broken links,
missing API objects, unreadable notebooks)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_docs_build_strict(tmp_path):
    mkdocs = shutil.which("mkdocs") or str(Path(sys.executable).parent / "mkdocs")
    result = subprocess.run([mkdocs, "build", "--strict", "-d", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True,
                            env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(Path(sys.executable)
                                                                        .parent)})
    assert result.returncode == 0, result.stderr[-3000:]
    for page, name in [("circuits", "read_spice"), ("ir_drop", "PreconditionedCG"),
                       ("solvers", "ClosedLoopIntegrator"), ("models", "train_topology"),
                       ("core", "DifferentialMapping"), ("variation", "monte_carlo")]:
        html = (tmp_path / "site" / "api" / page / "index.html").read_text()
        assert re.search(rf'id="[\w.]*\.{name}"', html), (page, name)
    assert (tmp_path / "site" / "examples" / "11_circuits_and_netlists" / "index.html").exists()
