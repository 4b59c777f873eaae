"""The package layers, checked by parsing every import: the core (``analogjax``) imports
neither ``analogjax.solvers`` nor ``analogjax.models``; the solvers do not import the
models; outside the core, nothing imports a private core module (``analogjax._x``): shared
helpers come from ``analogjax.internal``."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PACKAGES = {"core": ROOT / "analogjax", "solvers": ROOT / "solvers", "models": ROOT / "models"}
PACKAGE_NAME = {"core": "analogjax", "solvers": "analogjax.solvers",
                "models": "analogjax.models"}


def _imports(path: Path, package: str) -> list[str]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            names.append(module)
            names += [f"{module}.{alias.name}" for alias in node.names]
    return names


def _files(layer):
    return sorted(PACKAGES[layer].glob("*.py"))


@pytest.mark.parametrize("layer", ["core", "solvers", "models"])
def test_layers(layer):
    forbidden = {"core": ("analogjax.solvers", "analogjax.models"),
                 "solvers": ("analogjax.models",), "models": ()}[layer]
    problems = []
    for path in _files(layer):
        for name in _imports(path, PACKAGE_NAME[layer]):
            if name.startswith(forbidden):
                problems.append(f"{path.relative_to(ROOT)} imports {name}")
            parts = name.split(".")
            if layer != "core" and parts[0] == "analogjax" and len(parts) > 1 and (
                    parts[1].startswith("_") and parts[1] != "__version__"):
                problems.append(f"{path.relative_to(ROOT)} imports private {name}")
    assert not problems, "\n".join(problems)


def test_the_checker_sees_violations(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from analogjax._crossbar import safe_sqrt\nfrom ..models import x\n")
    names = _imports(bad, "analogjax.solvers")
    assert "analogjax._crossbar" in names and "analogjax.models" in names
