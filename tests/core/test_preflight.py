"""The memory pre-flight refuses configs that cannot fit, before allocating anything."""

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aevae_core import cli, preflight
from aevae_core.config import TrainConfig
from aevae_core.models import build_model, count_parameters
from aevae_core.preflight import ResourceError, check_memory, estimate_memory


def test_estimate_counts_exact_parameters():
    config = TrainConfig(dataset="mnist", hidden=(400,), latent_dim=20)
    est = estimate_memory(config, (1, 28, 28), 10_000)
    assert est.parameters == count_parameters(build_model(config, (1, 28, 28)))
    assert est.data_bytes == 10_000 * 784 * 4
    assert est.total_bytes > est.weights_bytes + est.activation_bytes + est.data_bytes


def test_activations_grow_with_batch_and_adam_costs_more_than_sgd():
    small = estimate_memory(TrainConfig(batch_size=32), (1, 8, 8), 100)
    large = estimate_memory(TrainConfig(batch_size=320), (1, 8, 8), 100)
    assert large.activation_bytes == pytest.approx(10 * small.activation_bytes)
    sgd = estimate_memory(TrainConfig(optimizer="sgd"), (1, 8, 8), 100)
    assert sgd.weights_bytes < small.weights_bytes


def test_small_config_passes_and_huge_one_is_refused_with_the_estimate():
    assert check_memory(TrainConfig()).total_bytes > 0
    huge = TrainConfig(dataset="cifar10", arch="conv", hidden=(512, 512, 512), batch_size=65536)
    with pytest.raises(ResourceError) as info:
        check_memory(huge)
    assert info.value.field == "batch_size"
    assert "GiB" in info.value.message and "free" in info.value.message


def test_refuses_against_the_free_memory_it_is_given(monkeypatch):
    monkeypatch.setattr(preflight, "free_memory", lambda device: 100 * 2**20)
    with pytest.raises(ResourceError, match="MiB of CPU memory is free"):
        check_memory(TrainConfig(), device="cpu")
    monkeypatch.setattr(preflight, "free_memory", lambda device: None)
    check_memory(TrainConfig(), device="cpu")  # unknown free memory: no refusal


# ----------------------------------------------------------------------------- the CLI runs it


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def test_the_message_carries_the_estimate(monkeypatch):
    config = TrainConfig()
    estimate = check_memory(config, device="cpu")
    monkeypatch.setattr(preflight, "free_memory", lambda device: estimate.total_bytes)
    with pytest.raises(ResourceError) as info:
        check_memory(config, device="cpu")
    assert estimate.describe() in info.value.message
    assert info.value.field in ("batch_size", "hidden", "max_samples")
    assert f"reduce {info.value.field.replace('_', ' ')}" in info.value.message


@pytest.mark.parametrize("mode", ["--background", "--quiet"])
def test_cli_train_refuses_a_run_too_big_for_free_memory(tmp_path, monkeypatch, mode):
    monkeypatch.setattr(preflight, "free_memory", lambda device: 100 * 2**20)
    runs = tmp_path / "runs"
    code, out, err = run_cli(["train", mode, "--runs-dir", str(runs), "--epochs", "1"])
    assert code == 2, err
    (line,) = err.strip().splitlines()
    assert line.startswith("aevae: error: --")
    assert "this run needs about" in line and "100 MiB of CPU memory is free" in line
    assert "Traceback" not in err and not out
    assert not list(runs.glob("*/config.json")), "a refused run must not reach the store"


def test_cli_subprocess_refuses_a_huge_run(tmp_path):
    args = ["--dataset", "cifar10", "--arch", "conv", "--hidden", "512,512,512",
            "--batch-size", "65536", "--background"]  # fmt: skip
    args += ["--runs-dir", str(tmp_path / "runs")]
    proc = subprocess.run(
        [sys.executable, "-m", "aevae_core", "train", *args],
        cwd=Path(__file__).resolve().parents[2], env=dict(os.environ), capture_output=True,
        text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("aevae: error: --batch-size: this run needs about")
    assert "GiB" in line and "free" in line
