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

from aevae_core.cli import main
from aevae_core.config import TrainConfig
from aevae_core.lessons.experiments import LESSONS
from aevae_core.model.checkpoint import load_checkpoint
from aevae_core.model.networks import build_model, count_parameters
from aevae_core.presets import get_preset
from aevae_core.store.runs import RunStore

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
    assert summary["parameters"] == (64 * 32 + 32) + 2 * (32 * 3 + 3) + (3 * 32 + 32) + (
        32 * 64 + 64
    )
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


# -- presets, config files and lessons (for teachers) --------------------------------------------


def test_train_with_a_preset_and_a_flag_that_overrides_it(tmp_path) -> None:
    proc = aevae(
        "train", "--preset", "keras-conv", "--dataset", "digits", "--epochs", "1",
        "--max-samples", "300", "--threads", "1", "--quiet", "--json", runs_dir=tmp_path / "r",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = last_json_line(proc.stdout)
    config = TrainConfig.from_json((Path(summary["run_dir"]) / "config.json").read_text())
    assert config == get_preset("keras-conv").config.replace(
        dataset="digits", epochs=1, max_samples=300, threads=1
    )
    # The Keras net on 8x8 digits: 2x2x64 conv features, Dense 16, code 2, back to 8x8.
    assert summary["parameters"] == count_parameters(build_model(config, (1, 8, 8))) == 79_445


def test_train_from_a_saved_config_file_with_flags_over_it(cli_run, tmp_path) -> None:
    proc, runs = cli_run
    saved = runs / last_json_line(proc.stdout)["run_id"] / "config.json"
    again = aevae(
        "train", "--config", str(saved), "--epochs", "1", "--quiet", "--json", runs_dir=tmp_path
    )
    assert again.returncode == 0, again.stderr[-2000:]
    summary = last_json_line(again.stdout)
    config = TrainConfig.from_json((Path(summary["run_dir"]) / "config.json").read_text())
    assert config == TrainConfig.from_json(saved.read_text()).replace(epochs=1)
    assert config.latent_dim == 3 and config.hidden == (32,)
    assert [h["epoch"] for h in summary["history"]] == [1]


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "cannot read"),
        ("{not json", "not valid JSON"),
        ('["digits"]', "JSON object"),
        ('{"latent_dims": 3}', "latent_dims"),
        ('{"latent_dim": 0}', "latent_dim"),
        ('{"hidden": "12,x"}', "hidden"),
        ('{"recon": "mse", "binarize": true}', "binarize"),
    ],
)
def test_a_bad_config_file_is_one_line_naming_it_and_exit_2(tmp_path, content, expected) -> None:
    path = tmp_path / "config.json"
    if content is not None:
        path.write_text(content)
    proc = aevae("train", "--config", str(path), runs_dir=tmp_path / "runs", timeout=120)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert "--config" in err and str(path) in err and expected in err
    assert "allowed" in err
    assert not (tmp_path / "runs").exists()


def test_unknown_preset_or_preset_with_config_exit_2(tmp_path) -> None:
    cases = [
        (["--preset", "keras"], "keras-conv"),  # argparse lists the choices
        (["--preset", "keras-conv", "--config", "c.json"], "not allowed with"),
    ]
    for args, expected in cases:
        proc = aevae("train", *args, runs_dir=tmp_path / "runs", timeout=120)
        assert proc.returncode == 2, proc.stderr
        err = proc.stderr.strip()
        assert len(err.splitlines()) == 1 and "--preset" in err and expected in err, err


def test_lessons_list_json_gives_full_configs_that_train_config_accepts(tmp_path, capsys) -> None:
    proc = aevae("lessons", "list", "--json", runs_dir=tmp_path / "runs", timeout=120)
    assert proc.returncode == 0, proc.stderr
    listed = last_json_line(proc.stdout)
    assert [entry["key"] for entry in listed] == [lesson.key for lesson in LESSONS]
    for entry, lesson in zip(listed, LESSONS, strict=True):
        assert (entry["title"], entry["page"]) == (lesson.title, lesson.page)
        assert set(entry) == {"key", "title", "page", "configs"}
        assert [TrainConfig.from_dict(c) for c in entry["configs"]] == list(lesson.configs)
        for i, config in enumerate(entry["configs"]):
            assert set(config) == set(TrainConfig().to_dict())  # full, not just the changes
            path = tmp_path / f"{entry['key']}-{i}.json"
            path.write_text(json.dumps(config))
            runs = str(tmp_path / "queued")
            assert main(["train", "--config", str(path), "--background", "--runs-dir", runs]) == 0
            run_id = capsys.readouterr().out.strip()
            assert RunStore(runs).config(run_id) == lesson.configs[i]


def test_lessons_pretrain_queues_every_config_of_the_chosen_lessons(tmp_path, capsys) -> None:
    chosen = [lesson for lesson in LESSONS if lesson.configs][:2]
    runs = str(tmp_path / "runs")
    keys = [lesson.key for lesson in chosen]
    assert main(["lessons", "pretrain", *keys, "--runs-dir", runs, "--json"]) == 0
    queued = json.loads(capsys.readouterr().out)
    store = RunStore(runs)
    assert [q["key"] for q in queued] == keys
    for q, lesson in zip(queued, chosen, strict=True):
        assert [store.config(run_id) for run_id in q["run_ids"]] == list(lesson.configs)
        for run_id in q["run_ids"]:
            run = store.get_run(run_id)
            assert run["status"] == "queued" and run["group_id"] == q["group"]
            assert run["owner"] == "lessons"  # class material, as the Learn page queues it
    assert len({q["group"] for q in queued}) == len(queued)  # one group per lesson

    assert main(["lessons", "pretrain", "--runs-dir", str(tmp_path / "all")]) == 0
    ids = capsys.readouterr().out.split()
    assert len(ids) == sum(len(lesson.configs) for lesson in LESSONS)
    assert sorted(ids) == sorted(r["id"] for r in RunStore(str(tmp_path / "all")).list_runs())


def test_lessons_pretrain_of_an_unknown_key_exits_2_naming_the_allowed_keys(tmp_path) -> None:
    proc = aevae("lessons", "pretrain", "holes", runs_dir=tmp_path / "runs", timeout=120)
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "'holes'" in err and "allowed" in err
    assert all(lesson.key in err for lesson in LESSONS)
    assert not (tmp_path / "runs").exists()


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
