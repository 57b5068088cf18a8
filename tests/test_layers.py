"""The package's layers (docs/architecture.md): imports run only downward, there is no import
cycle, the engine knows no qiskit or pennylane, and figure and table code starts without the
heavy libraries.  Every import counts, also one inside a function: a lazy import is still a
dependency."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
LAYERS = (
    ("core", ("qnnscope", "qnnscope.io", "qnnscope.logs", "qnnscope.sampling", "qnnscope.haar", "qnnscope.costs",
              "qnnscope.circuits", "qnnscope.exact", "qnnscope.config", "qnnscope.lie")),
    ("sim", ("qnnscope.sim",)),
    ("backends", ("qnnscope.backends",)),
    ("models", ("qnnscope.models", "qnnscope.data")),
    ("studies", ("qnnscope.gradients", "qnnscope.landscapes", "qnnscope.qgradcam", "qnnscope.interpret",
                 "qnnscope.hardware", "qnnscope.generalisation", "qnnscope.stats", "qnnscope.diagnostics")),
    ("plots", ("qnnscope.plots",)),
    ("adapters", ("qnnscope.cli",)),
)
"""Bottom to top; a module belongs to the layer of the longest prefix naming it (the package
root ``qnnscope`` only itself)."""
HEAVY = ("torch", "qiskit", "qiskit_aer", "qiskit_ibm_runtime", "pennylane", "numba", "sklearn", "librosa")
"""Libraries that take seconds to import; plots, tables and ``--help`` must start without them."""


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / "qnnscope").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def layer_of(module: str) -> int:
    best, index = -1, None
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            exact_only = prefix == "qnnscope"
            if module == prefix or (not exact_only and module.startswith(prefix + ".")):
                if len(prefix) > best:
                    best, index = len(prefix), i
    if index is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS here and to docs/architecture.md")
    return index


def _imports(module: str, path: Path) -> set[str]:
    """Every qnnscope module that ``module`` imports (``from pkg import name`` counts as the
    submodule pkg.name when there is one)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return {name for name in found if name == "qnnscope" or name.startswith("qnnscope.")} - {module}


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def test_every_module_has_a_layer():
    for module in MODULES:
        layer_of(module)


def test_imports_only_go_downward():
    upward = [f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
              for m, targets in GRAPH.items() for t in sorted(targets) if layer_of(t) > layer_of(m)]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(GRAPH.get(v, ())):
            if w not in GRAPH:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    assert not _cycles(), f"import cycles: {_cycles()}"


def test_the_checks_see_a_cycle_and_an_upward_import(monkeypatch):
    """The checks themselves: an engine module importing a backend is both."""
    monkeypatch.setitem(GRAPH, "qnnscope.sim.engine", GRAPH["qnnscope.sim.engine"] | {"qnnscope.backends.torch_backend"})
    assert any("qnnscope.sim.engine" in c for c in _cycles())
    with pytest.raises(AssertionError, match="qnnscope.sim.engine .sim. imports qnnscope.backends.torch_backend"):
        test_imports_only_go_downward()


def test_the_engine_knows_no_qiskit_or_pennylane():
    for module, path in MODULES.items():
        if module.startswith("qnnscope.sim"):
            text = path.read_text()
            assert not re.search(r"^\s*(from|import) (qiskit|pennylane)", text, re.M), module


def _loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    return result.stdout.split()


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer_of(m) == 5 or m in (
    "qnnscope.gradients.point", "qnnscope.gradients.summary", "qnnscope.io", "qnnscope.exact", "qnnscope.cli")))
def test_figure_and_table_modules_start_without_heavy_libraries(module):
    assert _loaded_after(f"import {module}") == []


def test_help_parses_before_importing_the_engine():
    assert _loaded_after("import contextlib, io\nfrom qnnscope import cli\n"
                         "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
                         "    cli.main(['--help'])") == []


def _script_imports(path: Path) -> list[str]:
    """The script's top-level import statements, as code."""
    tree = ast.parse(path.read_text())
    return [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "scripts").glob("*.py")
                                          if re.search(r"figure|table|cross_sections", p.name)))
def test_figure_and_table_scripts_start_without_heavy_libraries(script):
    assert _loaded_after("\n".join(_script_imports(ROOT / "scripts" / script))) == []
