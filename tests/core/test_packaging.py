"""``pip install .`` builds a wheel holding all of aevae_core and an ``aevae`` command.

The wheel is built from a copy of the repository (so no build/ or egg-info lands in the
checkout) to which two probes are added: a data file and a new subpackage. The wheel must
carry both, which is what keeps packaging right once aevae_core grows subpackages and
non-Python files. The installed command then trains a run in a venv, away from the checkout.
"""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
PROBE_DATA = "aevae_core/_probe_assets/palette.json"
PROBE_MODULE = "aevae_core/_probe_sub/__init__.py"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that would put the checkout on sys.path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(extra)
    return env


def run(cmd: list[str], cwd: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        cmd, cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, (
        f"{cmd}: rc {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    )
    return proc


@pytest.fixture(scope="module")
def source_tree(tmp_path_factory) -> Path:
    """A copy of what `pip install .` reads, plus a probe data file and a probe subpackage."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "requirements.txt"):
        shutil.copy(REPO_ROOT / name, src / name)
    shutil.copytree(
        REPO_ROOT / "aevae_core", src / "aevae_core", ignore=shutil.ignore_patterns("__pycache__")
    )
    (src / PROBE_DATA).parent.mkdir()
    (src / PROBE_DATA).write_text('{"probe": true}\n')
    (src / PROBE_MODULE).parent.mkdir()
    (src / PROBE_MODULE).write_text('"""Probe subpackage: packaging must find it."""\n')
    return src


@pytest.fixture(scope="module")
def wheel(source_tree: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         str(source_tree), "-w", str(out)],
        cwd=out,
    )  # fmt: skip
    (found,) = out.glob("aevae-*.whl")
    return found


def test_wheel_holds_every_module_the_data_and_the_command(source_tree: Path, wheel: Path) -> None:
    expected = {
        p.relative_to(source_tree).as_posix() for p in (source_tree / "aevae_core").rglob("*")
    }
    expected = {name for name in expected if not (source_tree / name).is_dir()}
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        eps = configparser.ConfigParser()
        eps.read_string(zf.read(entry_points).decode())
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        requires = [
            line.split(": ", 1)[1]
            for line in zf.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist: ")
        ]
    package = {n for n in names if not n.startswith("aevae-")}
    assert len(expected) > 40 and {PROBE_DATA, PROBE_MODULE} <= expected
    assert package == expected, (
        f"missing from the wheel: {sorted(expected - package)}; extra: {sorted(package - expected)}"
    )
    assert dict(eps["console_scripts"]) == {"aevae": "aevae_core.cli:main"}

    # The wheel declares exactly requirements.txt's ranges, and the [export] extra
    # requirements-export.txt's.
    def lines(name: str) -> set[str]:
        text = (REPO_ROOT / name).read_text().splitlines()
        kept = [line.split("#")[0].strip() for line in text if not line.startswith("#")]
        return {str(Requirement(r)) for r in kept if r}

    plain = {str(Requirement(r)) for r in requires if "extra ==" not in r}
    extra = {str(Requirement(r.split(";")[0])) for r in requires if 'extra == "export"' in r}
    assert plain == lines("requirements.txt")
    assert extra == lines("requirements-export.txt")


def test_installed_command_trains_into_the_store(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], cwd=tmp_path)
    py, aevae = venv / "bin" / "python", venv / "bin" / "aevae"
    run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], cwd=tmp_path)
    where = run([str(py), "-c", "import aevae_core; print(aevae_core.__file__)"], cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout

    helped = run([str(aevae), "--help"], cwd=tmp_path)
    as_module = run([str(py), "-m", "aevae_core", "--help"], cwd=tmp_path)
    assert helped.stdout == as_module.stdout and "train" in helped.stdout

    runs = tmp_path / "runs"
    trained = run(
        [str(aevae), "train", "--dataset", "digits", "--epochs", "1", "--latent-dim", "2",
         "--hidden", "16", "--threads", "1", "--quiet", "--json"],
        cwd=tmp_path, AEVAE_RUNS_DIR=str(runs),
    )  # fmt: skip
    summary = json.loads(trained.stdout.strip().splitlines()[-1])
    assert summary["status"] == "completed"

    # Read back through the installed command too: the run is in the store it was told to use.
    listed = run([str(aevae), "runs", "list", "--json"], cwd=tmp_path, AEVAE_RUNS_DIR=str(runs))
    assert [r["id"] for r in json.loads(listed.stdout)] == [summary["run_id"]]
    shown = run(
        [str(aevae), "runs", "show", summary["run_id"], "--json"],
        cwd=tmp_path, AEVAE_RUNS_DIR=str(runs),
    )  # fmt: skip
    assert json.loads(shown.stdout)["status"] == "completed"
    assert runs.resolve() in Path(summary["run_dir"]).resolve().parents
    assert len(summary["history"]) == 1 and summary["history"][0]["val_loss"] > 0
