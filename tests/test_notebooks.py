"""Every notebook in notebooks/ runs top to bottom (small sizes), so none of them rots."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, monkeypatch):
    monkeypatch.setenv("ANALOGJAX_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors


PLOTS = ("plt.", ".plot(", ".imshow(", ".scatter(", ".hist(")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_committed_executed_with_its_figures(path):
    """A reader on a code host sees the results: every code cell ran, in order, without
    errors, and every cell that draws shows its figure inline."""
    notebook = nbformat.read(path, as_version=4)
    cells = [c for c in notebook.cells if c.cell_type == "code" and c.source.strip()]
    counts = [c.execution_count for c in cells]
    assert None not in counts, f"{path.name}: cells without outputs (not executed)"
    assert counts == sorted(counts), f"{path.name}: cells executed out of order {counts}"
    for cell in cells:
        assert not any(o.get("output_type") == "error" for o in cell.outputs), \
            f"{path.name}: an error output in cell {cell.execution_count}"
        if any(p in cell.source for p in PLOTS):
            assert any("image/png" in o.get("data", {}) for o in cell.outputs), \
                f"{path.name}: cell {cell.execution_count} draws but shows no figure"
