"""Every import is declared, the declarations agree, and the lock pins inside them.

deptry (configured in pyproject.toml) reads every Python file, tests/ and bench/ included,
and reports imports of undeclared packages (DEP001) and of packages that only arrive
because another package needs them (DEP003: pandas through streamlit, numba through
umap-learn), which a later release of that other package may stop pulling in.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement

REPO_ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def requirement_lines(path: Path) -> list[str]:
    """The requirement lines of a requirements file (no comments, no -r includes)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def normalised(lines: list[str]) -> set[str]:
    return {str(Requirement(line)) for line in lines}


def deptry_findings(root: Path, tmp_path: Path) -> list[dict]:
    pytest.importorskip("deptry", reason="deptry is in requirements-dev.txt")
    out = tmp_path / "deptry.json"
    proc = subprocess.run(
        [sys.executable, "-m", "deptry", ".", "--json-output", str(out)],
        cwd=root, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.exists(), proc.stderr[-2000:]
    return json.loads(out.read_text())


def test_no_undeclared_or_transitive_imports(tmp_path: Path) -> None:
    findings = deptry_findings(REPO_ROOT, tmp_path)
    bad = [
        f"{f['location']['file']}:{f['location']['line']}: {f['error']['code']} {f['module']}"
        for f in findings
        if f["error"]["code"] in ("DEP001", "DEP003")
    ]
    assert not bad, "declare these in requirements.txt (or -dev.txt):\n" + "\n".join(bad)


def test_deptry_catches_an_import_that_is_not_declared(tmp_path: Path) -> None:
    """The check above can fail: drop pandas from a copy's dependencies and deptry says so."""
    project = dict(PYPROJECT["project"])
    kept = [d for d in project["dependencies"] if Requirement(d).name != "pandas"]
    assert len(kept) == len(project["dependencies"]) - 1
    text = (REPO_ROOT / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(text.replace('    "pandas>=', '    # "pandas>='))
    (tmp_path / "probe.py").write_text("import pandas\n\nprint(pandas.DataFrame())\n")
    found = {(f["error"]["code"], f["module"]) for f in deptry_findings(tmp_path, tmp_path)}
    assert ("DEP003", "pandas") in found or ("DEP001", "pandas") in found, found


def test_pyproject_declares_requirements_txt() -> None:
    assert normalised(PYPROJECT["project"]["dependencies"]) == normalised(
        requirement_lines(REPO_ROOT / "requirements.txt")
    )
    dev = requirement_lines(REPO_ROOT / "requirements-dev.txt")
    assert normalised(PYPROJECT["dependency-groups"]["dev"]) == normalised(dev)
    export = requirement_lines(REPO_ROOT / "requirements-export.txt")
    assert normalised(PYPROJECT["project"]["optional-dependencies"]["export"]) == normalised(export)


def test_every_requirement_has_a_tested_upper_bound() -> None:
    """An unbounded range lets an untested release in; Streamlit is bounded on its minor."""
    for line in (
        requirement_lines(REPO_ROOT / "requirements.txt")
        + requirement_lines(REPO_ROOT / "requirements-dev.txt")
        + requirement_lines(REPO_ROOT / "requirements-export.txt")
    ):
        req = Requirement(line)
        assert any(s.operator == "<" for s in req.specifier), f"{line}: no upper bound"
    (streamlit,) = [
        Requirement(r)
        for r in requirement_lines(REPO_ROOT / "requirements.txt")
        if r.startswith("streamlit")
    ]
    (upper,) = [s.version for s in streamlit.specifier if s.operator == "<"]
    assert upper.count(".") == 1, f"streamlit<{upper}: bound the minor version (e.g. <1.68)"


def locked_pins() -> dict[str, tuple[str, int]]:
    """name -> (pinned version, number of hashes) from requirements-dev.lock."""
    pins: dict[str, tuple[str, int]] = {}
    name = ""
    for line in (REPO_ROOT / "requirements-dev.lock").read_text().splitlines():
        if line and line[0].isalnum():
            name, version = line.split(" ", 1)[0].split("==")
            pins[name.lower()] = (version, 0)
        elif line.strip().startswith("--hash=sha256:"):
            pins[name.lower()] = (pins[name.lower()][0], pins[name.lower()][1] + 1)
    return pins


def test_lock_pins_every_requirement_inside_its_range_with_hashes() -> None:
    pins = locked_pins()
    assert len(pins) > 40 and all(n_hashes > 0 for _, n_hashes in pins.values())
    for line in (
        requirement_lines(REPO_ROOT / "requirements.txt")
        + requirement_lines(REPO_ROOT / "requirements-dev.txt")
        + requirement_lines(REPO_ROOT / "requirements-export.txt")
    ):
        req = Requirement(line)
        assert req.name.lower() in pins, f"{req.name} is not in requirements-dev.lock"
        version = pins[req.name.lower()][0]
        assert req.specifier.contains(version), f"lock pins {req.name}=={version}, not {line}"


def test_installed_versions_are_inside_the_ranges() -> None:
    """What this suite runs against is inside the declared (tested) ranges."""
    from importlib.metadata import version

    for line in requirement_lines(REPO_ROOT / "requirements.txt"):
        req = Requirement(line)
        installed = version(req.name).split("+")[0]
        assert req.specifier.contains(installed), f"{req.name} {installed} is outside {line}"


def test_readme_cpu_wheels_are_the_locked_pair_and_inside_the_ranges() -> None:
    """The README's CPU-only install names the tested torch/torchvision pair, which pip then
    counts as satisfying requirements.txt (so it does not fetch the CUDA build over it)."""
    readme = (REPO_ROOT / "README.md").read_text()
    (line,) = [
        ln for ln in readme.splitlines() if "download.pytorch.org/whl/cpu" in ln and "pip" in ln
    ]
    pinned = dict(word.split("==") for word in line.split() if "==" in word)
    assert set(pinned) == {"torch", "torchvision"}, line
    pins = locked_pins()
    ranges = {
        Requirement(r).name: Requirement(r)
        for r in requirement_lines(REPO_ROOT / "requirements.txt")
    }
    for name, version in pinned.items():
        assert version == pins[name][0], f"README pins {name}=={version}, the lock {pins[name][0]}"
        assert ranges[name].specifier.contains(f"{version}+cpu"), f"{name} {version}+cpu"
    # torchvision's minor version is torch's plus 15 (0.29 goes with 2.14).
    torch_minor = int(pinned["torch"].split(".")[1])
    assert pinned["torchvision"].split(".")[:2] == ["0", str(torch_minor + 15)]
