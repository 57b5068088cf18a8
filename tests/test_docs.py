"""The documentation stays inside the repository and true to it: the README and docs/ link only
to files of the repository, every relative link resolves, every module and file they name in
code spans exists, and the README opens with its two commands.  The locked environment they
describe pins every dependency within pyproject.toml's ranges and no CUDA package."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
"""The README and every page under docs/."""
TEXTS = DOCS + sorted((ROOT / "workflow/report").glob("*.rst"))
"""Everything a reader of the repository or the report sees as its documentation."""
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE = re.compile(r"`([^`\n]+)`")
PATH_ROOTS = ("src/", "scripts/", "workflow/", "tests/", "config/", "docs/", "benchmarks/", ".ci/", "requirements/")
"""Code spans starting with these name files or directories of the repository."""
LOCK = ROOT / "requirements/lock.txt"


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def links(path: Path) -> list[str]:
    """Markdown link targets outside fenced code blocks."""
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    return LINK.findall(text)


def anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    headings = re.findall(r"^#+\s+(.+?)\s*$", path.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("path", TEXTS, ids=rel)
def test_nothing_points_outside_the_repository(path):
    text = path.read_text()
    assert "shared/DESIGN.md" not in text and "../shared" not in text and "DESIGN.md" not in text
    for target in links(path) if path.suffix == ".md" else []:
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        resolved = (path.parent / target.split("#")[0]).resolve()
        assert resolved.is_relative_to(ROOT), f"{rel(path)} links outside the repository: {target}"
        if path.name == "README.md" and path.parent == ROOT:
            assert not target.startswith("../"), target


@pytest.mark.parametrize("path", DOCS, ids=rel)
def test_every_relative_link_resolves(path):
    broken = []
    for target in links(path):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        if not resolved.exists():
            broken.append(target)
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target} (no heading #{anchor})")
    assert not broken, f"{rel(path)}: broken links {broken}"


@cache
def module_names(module: str) -> set[str] | None:
    """Top-level names defined or imported by a package module, None if there is no such module."""
    base = ROOT / "src" / Path(*module.split("."))
    path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    if not path.exists():
        return None
    names = {p.stem for p in base.iterdir()} if base.is_dir() else set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def dangling_module(reference: str) -> bool:
    """Whether ``qnnscope.a.b[.name]`` names neither a module nor a name defined in one."""
    parts = reference.split(".")
    for i in range(len(parts), 0, -1):
        names = module_names(".".join(parts[:i]))
        if names is not None:
            rest = parts[i:]
            return bool(rest) and (len(rest) > 1 or rest[0] not in names)
    return True


@pytest.mark.parametrize("path", TEXTS, ids=rel)
def test_named_modules_and_files_exist(path):
    """Code spans like `qnnscope.gradients.summary.fit` or `src/qnnscope/io.py` name something
    that exists (generated outputs under results/ and patterns with {…} or * are not checked)."""
    missing = []
    for span in CODE.findall(path.read_text()):
        for ref in re.findall(r"\bqnnscope(?:\.[A-Za-z_]\w*)+", span):
            if dangling_module(ref):
                missing.append(ref)
        word = span.split()[0] if span.split() else ""
        pattern = re.search(r"[{}*…]|STUDY|NAME", word)
        if word.startswith(PATH_ROOTS) and not pattern and not (ROOT / word.rstrip("/,;:")).exists():
            missing.append(word)
    assert not missing, f"{rel(path)} names what does not exist: {missing}"


def test_the_readme_opens_with_its_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert lines[0].startswith("# ") and lines[1] == "" and lines[2] == "```bash"
    block = lines[3:lines.index("```", 3)]
    commands = [line for line in block if not line.startswith("#")]
    assert commands == ["bash .ci/setup && .venv/bin/snakemake --cores 2",
                        "bash .ci/setup && .venv/bin/python -m pytest -q"]


def locked() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version and " " not in line, f"not a pin: {line}"
            pins[canonicalize_name(name)] = version
    return pins


def test_the_lock_pins_every_dependency_within_pyprojects_ranges():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11, as CI
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = locked()
    for spec in project["dependencies"] + project["optional-dependencies"]["test"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in {rel(LOCK)}: bash .ci/setup --refresh-lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (name, pins[name], str(requirement))


def test_the_lock_is_the_cpu_torch_without_cuda_packages():
    pins = locked()
    assert pins["torch"] == "2.13.0"
    assert not [name for name in pins if name.startswith(("nvidia-", "triton"))]
    assert "qnnscope" not in pins
    setup = (ROOT / ".ci/setup").read_text()
    assert "requirements/lock.txt" in setup and "--refresh-lock" in setup and "TORCH=torch==2.13.0" in setup


def test_the_architecture_gives_every_module_the_layer_the_layer_test_enforces():
    """docs/architecture.md's layer table and LAYERS of tests/test_layers.py name the same
    modules in the same layers."""
    tree = ast.parse((ROOT / "tests/test_layers.py").read_text())
    layers = next(ast.literal_eval(node.value) for node in tree.body
                  if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "LAYERS")
    table = {}
    for row in re.findall(r"^\| (\d) (\w+) \| (.+?) \|", (ROOT / "docs/architecture.md").read_text(), re.MULTILINE):
        table[row[1]] = {m if m == "qnnscope" else f"qnnscope.{m}" for m in CODE.findall(row[2])}
    assert list(table) == [name for name, _ in layers]
    for name, modules in layers:
        assert set(modules) <= table[name], (name, set(modules) - table[name])
        assert table[name] - set(modules) <= {"qnnscope.scripts/"}, (name, table[name] - set(modules))
