"""The package's shape (issue 15): subpackages in layers that follow the data flow, no import
cycle at any depth (function-level imports included), no file over its size, one import
path per name, the core free of streamlit, and the typed run record equal to the table."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

from aevae_core.store.record import Run
from aevae_core.store.schema import RUN_COLUMNS

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "aevae_core"
# Top first: a module may import from its own layer or a layer above it, never below.
LAYERS = [
    "files", "settings", "data", "config", "presets", "model", "engine", "plots", "store",
    "explore", "lessons", "jobs", "export", "cli_common", "cli_lessons", "cli_export", "cli",
    "__main__",
]  # fmt: skip


def _modules() -> dict[str, Path]:
    out = {}
    for path in CORE.rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every aevae_core module ``name`` imports, at any depth of the file."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target.startswith("aevae_core") and target not in (name, "aevae_core"):
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _layer(module: str) -> int:
    return LAYERS.index(module.split(".")[1])


def test_no_import_cycles_at_any_depth():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_every_module_imports_only_from_its_layer_or_above():
    bad = [
        f"{a} imports {b}"
        for a, targets in _graph().items()
        if a != "aevae_core"
        for b in targets
        if _layer(b) > _layer(a)
    ]
    assert not bad, "a layer imports from one below it:\n" + "\n".join(sorted(bad))


def test_the_package_docstring_names_modules_that_exist():
    import aevae_core

    modules = _modules()
    doc = aevae_core.__doc__ or ""
    named = {w.strip(",.()") for w in doc.split() if "." in w.strip(",.()")}
    packages = {p.name for p in CORE.iterdir() if p.is_dir() and not p.name.startswith("_")}
    named = {n for n in named if n.split(".")[0] in packages}
    assert len(named) >= 15
    missing = [n for n in named if f"aevae_core.{n.split('.')[0]}.{n.split('.')[1]}" not in modules]
    assert not missing, f"the flow names modules that do not exist: {missing}"


def test_file_sizes():
    too_big = {
        str(p.relative_to(REPO)): n
        for p in CORE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 400
    }
    pages = {
        str(p.relative_to(REPO)): n
        for p in [*(REPO / "pages").glob("*.py"), REPO / "app.py"]
        if (n := len(p.read_text().splitlines())) > 150
    }
    helpers = {
        str(p.relative_to(REPO)): n
        for p in (REPO / "pages" / "ui").glob("*.py")
        if (n := len(p.read_text().splitlines())) > 200
    }
    assert not too_big, f"core files over 400 lines: {too_big}"
    assert not pages, f"pages over 150 lines: {pages}"
    assert not helpers, f"page helpers over 200 lines: {helpers}"


def test_the_core_never_imports_streamlit():
    for path in CORE.rglob("*.py"):
        text = path.read_text()
        assert "import streamlit" not in text and "from streamlit" not in text, path


def test_every_module_that_imports_plotly_imports_pandas_before_it():
    """No page imports pandas up front any more (Home's first render skips its 0.45 s), so
    each Plotly user must: Plotly reads pandas from ``sys.modules`` without importing it, and
    a half-imported pandas there (another session's thread importing it) breaks a figure
    (aevae_core/plots/charts.py). Importing pandas first waits for that import to end."""
    files = [*CORE.rglob("*.py"), *(REPO / "pages").rglob("*.py")]
    users, bad = 0, []
    for path in files:
        order = []
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            order += [(node.lineno, n.split(".")[0]) for n in names]
        plotly = [line for line, top in order if top == "plotly"]
        if not plotly:
            continue
        users += 1
        pandas = [line for line, top in order if top == "pandas"]
        if not pandas or min(pandas) > min(plotly):
            bad.append(str(path.relative_to(REPO)))
    assert users >= 5
    assert not bad, f"import pandas before plotly in: {bad}"


def _defined_at_top(path: Path) -> set[str]:
    """The names a module defines itself (functions, classes, assignments), not imports."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


def test_every_name_is_imported_from_the_module_that_defines_it():
    """One import path per name: ``from aevae_core.X import name`` anywhere in the repository
    (product, tests, benches, examples) names a submodule of X or something X defines, never
    what X itself imported (a re-export shim)."""
    files = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert len(files) > 100
    bad = []
    for file in files:
        for node in ast.walk(ast.parse((REPO / file).read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.level == 0):
                continue
            if not (node.module or "").startswith("aevae_core"):
                continue
            base = REPO / node.module.replace(".", "/")
            module = base.with_suffix(".py") if base.with_suffix(".py").exists() else base
            defined = _defined_at_top(module if module.is_file() else base / "__init__.py")
            for alias in node.names:
                submodule = (base / f"{alias.name}.py").exists() or (base / alias.name).is_dir()
                if not submodule and alias.name not in defined:
                    bad.append(f"{file}:{node.lineno}: {alias.name} from {node.module}")
    assert not bad, "import these from the module that defines them:\n" + "\n".join(bad)


def test_the_run_record_has_the_tables_columns():
    columns = [c.strip() for c in RUN_COLUMNS.split(",")]
    assert list(Run.__annotations__) == columns
