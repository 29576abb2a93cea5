"""Tests for the command line (``python -m aevae_core``), run as real subprocesses."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from aevae_core.checkpoint import load_checkpoint

REPO_ROOT = Path(__file__).resolve().parents[2]


def aevae(*args: str, runs_dir: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, AEVAE_RUNS_DIR=str(runs_dir))
    env.pop("AEVAE_DATA_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "aevae_core", *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def last_json_line(stdout: str):
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines, "nothing on stdout"
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """One 2-epoch digits run trained through the CLI, shared by the tests that read it."""
    runs = tmp_path_factory.mktemp("cli") / "runs"
    proc = aevae(
        "train", "--dataset", "digits", "--epochs", "2", "--latent-dim", "3", "--hidden", "32",
        "--threads", "1", "--json", runs_dir=runs,
    )  # fmt: skip
    return proc, runs


def test_train_json_summary(cli_run) -> None:
    proc, runs = cli_run
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = last_json_line(proc.stdout)
    assert summary["status"] == "completed"
    assert summary["train_samples_per_s"] > 0
    history = summary["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    for record in history:
        for key in ("epoch", "train_loss", "val_loss", "val_recon", "val_kl"):
            assert key in record, key
            assert math.isfinite(record[key]), key
    run_dir = runs / summary["run_id"]
    assert run_dir.is_dir()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["dataset"] == "digits" and config["latent_dim"] == 3 and config["hidden"] == [32]
    ckpt = load_checkpoint(run_dir / "checkpoints" / "latest.pt")
    assert ckpt["epoch"] == 2
    assert all(torch.isfinite(t).all() for t in ckpt["model"].values())


def test_runs_list_and_show(cli_run) -> None:
    proc, runs = cli_run
    run_id = last_json_line(proc.stdout)["run_id"]
    listed = aevae("runs", "list", "--json", runs_dir=runs, timeout=120)
    assert listed.returncode == 0, listed.stderr
    rows = last_json_line(listed.stdout)
    assert [r["id"] for r in rows] == [run_id]
    assert rows[0]["status"] == "completed" and rows[0]["last_epoch"] == 2
    shown = aevae("runs", "show", run_id, "--json", runs_dir=runs, timeout=120)
    assert shown.returncode == 0, shown.stderr
    run = last_json_line(shown.stdout)
    assert run["id"] == run_id and run["status"] == "completed"
    assert run["config"]["epochs"] == 2
    assert [h["epoch"] for h in run["history"]] == [1, 2]


def test_runs_show_of_an_unknown_run_is_a_clean_error(tmp_path) -> None:
    proc = aevae("runs", "show", "20990101-000000-abcdef", "--json", runs_dir=tmp_path / "r")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--lr", "-1"], "--lr"),
        (["--model", "xyz"], "--model"),
        (["--latent-dim", "0"], "--latent-dim"),
        (["--latent-dim", "abc"], "--latent-dim"),
        (["--hidden", "12,x"], "--hidden"),
        (["--beta", "nan"], "--beta"),
        (["--batch-size", "0"], "--batch-size"),
        (["--epochs", "2.5"], "--epochs"),
        (["--noise", "5"], "--noise"),
        (["--max-samples", "1"], "--max-samples"),
        (["--optimizer", "rmsprop"], "--optimizer"),
        (["--arch", "conv", "--hidden", "8,8,8,8,8"], "--hidden"),
    ],
)
def test_bad_values_exit_2_with_one_line_naming_the_flag(tmp_path, args, flag) -> None:
    proc = aevae("train", "--dataset", "digits", *args, runs_dir=tmp_path / "runs", timeout=120)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert flag in err
    assert "allowed" in err or "choose from" in err
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").glob("*/config.json"))


def test_import_is_light(tmp_path) -> None:
    code = (
        "import sys, aevae_core, aevae_core.cli\n"
        "try:\n"
        "    aevae_core.cli.build_parser().parse_args(['train', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('streamlit', 'torch', 'torchvision', 'umap') if m in sys.modules]\n"
        "print('heavy=' + ','.join(heavy))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "--latent-dim" in proc.stdout  # the help was really built
    assert proc.stdout.strip().splitlines()[-1] == "heavy="  # none of them was imported


def test_help_lists_the_training_flags(tmp_path) -> None:
    proc = aevae("train", "--help", runs_dir=tmp_path / "runs", timeout=120)
    assert proc.returncode == 0
    for flag in ("--latent-dim", "--beta", "--kl-warmup", "--optimizer", "--json"):
        assert flag in proc.stdout


def test_train_on_mnist(shared_data_dir, tmp_path) -> None:
    proc = aevae(
        "train", "--dataset", "mnist", "--data-dir", str(shared_data_dir), "--max-samples",
        "2000", "--epochs", "1", "--hidden", "128", "--latent-dim", "8", "--threads", "1",
        "--quiet", "--json", runs_dir=tmp_path / "runs",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = last_json_line(proc.stdout)
    assert summary["status"] == "completed"
    (record,) = summary["history"]
    assert record["val_loss"] < 784 * math.log(2.0)
