"""The house plan (docs/design.md, "Package layout") as import contracts: data flow one way, no loops.

The contracts live in ``pyproject.toml`` (``[tool.importlinter]``) and are checked by import-linter,
which follows every import, function-level ones included. The second test proves the check can fail:
a copy of the package with one deliberate upward import (the physics core reaching the methods) must
break the layers contract.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "miu2net"


def _lint(pythonpath: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True))")
    return subprocess.run([sys.executable, "-c", code, str(ROOT / "pyproject.toml")], env=env,
                          capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_the_import_contracts_hold():
    result = _lint(ROOT / "src")
    assert result.returncode == 0, f"an import breaks the house plan:\n{result.stdout[-3000:]}"
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


@pytest.mark.parametrize("module, upward", [
    ("physics/units.py", "import miu2net.methods  # deliberate upward import"),
    ("sims/fields.py", "from miu2net.stats import rmse  # deliberate upward import"),
])
def test_an_upward_import_breaks_the_contract(tmp_path, module, upward):
    copy = tmp_path / "miu2net"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("*.safetensors", "__pycache__"))
    target = copy / module
    target.write_text(target.read_text() + f"\n{upward}\n")
    result = _lint(tmp_path)
    assert result.returncode != 0, f"{module} importing upward was not caught:\n{result.stdout[-2000:]}"
    assert "BROKEN" in result.stdout


def test_every_module_has_a_place_in_the_house():
    """A new top-level module or package must be placed in the layers, or the contract would not see it."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in config if c["type"] == "layers")["layers"]
    placed = {name.strip() for layer in layers for name in layer.replace("|", ":").split(":")}
    here = {f"miu2net.{p.stem}" for p in SRC.iterdir()
            if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").exists())}
    missing = sorted(here - placed - {"miu2net.models"})
    assert not missing, f"place these in [tool.importlinter] layers: {missing}"


def test_no_import_cycles_between_modules():
    """Inside a layer too: no two modules import each other, directly or around a loop (function-level
    imports included)."""
    import grimp

    graph = grimp.build_graph("miu2net", cache_dir=None)
    modules = sorted(graph.modules)
    loops = []
    for module in modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.startswith("miu2net") and graph.chain_exists(imported=module, importer=imported):
                loops.append((module, imported))
    assert not loops, f"import cycles (module imports X, X reaches back): {loops[:5]}"


def test_tests_mirror_the_source():
    """Every module ``src/miu2net/<room>/<module>.py`` has its own ``tests/<room>/test_<module>.py``, holding
    at least one test; a package's ``__init__.py`` only gathers names (no function or class of its own), so
    that nothing hides where no test file points."""
    import ast

    missing, empty, busy_inits = [], [], []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC)
        if path.name == "__main__.py":
            continue
        if path.name == "__init__.py":
            tree = ast.parse(path.read_text())
            if any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for node in tree.body):
                busy_inits.append(str(relative))
            continue
        test = ROOT / "tests" / relative.parent / f"test_{path.stem}.py"
        if not test.exists():
            missing.append(f"{relative} -> {test.relative_to(ROOT)}")
        elif "def test_" not in test.read_text():
            empty.append(str(test.relative_to(ROOT)))
    assert not missing, "modules without their test file:\n  " + "\n  ".join(missing)
    assert not empty, f"test files without a test: {empty}"
    assert not busy_inits, f"__init__.py files that define functions or classes (move them to a module): {busy_inits}"
