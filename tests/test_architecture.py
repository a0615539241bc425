"""The design holds: layers (gui on core on models, no Qt below gui, no torch in gui; core's rooms: commands on
sessions on runs on image | audio on train, errors and threads below all; import-linter's contracts in
pyproject.toml), no module at core's root but the shared ones, and no import cycles anywhere, function-level
imports included."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]


def test_the_import_contracts_hold():
    linter = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    done = subprocess.run([linter, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def test_core_keeps_only_shared_modules_at_its_root():
    assert sorted(p.stem for p in (ROOT / "core").glob("*.py")) == ["__init__", "errors", "threads"]


def test_there_are_no_import_cycles():
    graph = grimp.build_graph("models", "core", "gui", include_external_packages=False)
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        order[module] = low[module] = len(order)
        stack.append(module)
        for other in graph.find_modules_directly_imported_by(module):
            if other not in order:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], order[other])
        if low[module] == order[module]:
            component = []
            while True:
                other = stack.pop()
                component.append(other)
                if other == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in order:
            visit(module)
    assert not cycles, f"import cycles: {cycles}"
