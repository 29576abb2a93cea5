"""The memory pre-flight refuses configs that cannot fit, before allocating anything."""

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aevae_core import cli
from aevae_core.config import TrainConfig
from aevae_core.engine import preflight
from aevae_core.engine.preflight import ResourceError, check_memory, estimate_memory
from aevae_core.model.networks import build_model, count_parameters


def test_estimate_counts_exact_parameters():
    config = TrainConfig(dataset="mnist", hidden=(400,), latent_dim=20)
    est = estimate_memory(config, (1, 28, 28), 10_000, device="cuda")
    assert est.parameters == count_parameters(build_model(config, (1, 28, 28)))
    assert est.data_bytes == 10_000 * 784 * 4
    # On the CPU the loader also keeps MNIST's raw file in memory: one byte per value.
    cpu = estimate_memory(config, (1, 28, 28), 10_000, device="cpu")
    assert cpu.data_bytes == 10_000 * 784 * (4 + 1)
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


# ------------------------------------------------------------------ the shapes, without torch

SHAPE_CASES = [
    ((1, 8, 8), dict(hidden=(256, 128))),
    ((1, 28, 28), dict(hidden=(400,), latent_dim=20, model="ae")),
    ((1, 28, 28), dict(hidden=(), latent_dim=3)),
    ((3, 32, 32), dict(arch="conv", hidden=(32, 64, 128), latent_dim=16)),
    ((1, 7, 7), dict(arch="conv", hidden=(4, 8, 8), model="dae")),
    ((1, 28, 28), dict(arch="conv", hidden=(32, 64), conv_dense=16)),
    ((3, 5, 9), dict(arch="conv", hidden=(4, 6), conv_dense=5, recon="mse")),
]


@pytest.mark.parametrize("shape, values", SHAPE_CASES)
def test_layer_shapes_match_the_real_network(shape, values):
    """shapes.py's parameter counts and output sizes are the modules' own, layer by layer."""
    import torch

    from aevae_core.model.shapes import network_layers

    config = TrainConfig(**values)
    model = build_model(config, shape)
    real = []
    for module in model.modules():
        if isinstance(module, torch.nn.Linear | torch.nn.Conv2d | torch.nn.ConvTranspose2d):
            module.register_forward_hook(lambda m, i, o: real.append((m, o[0].numel())))
    model(torch.rand(2, *shape))
    layers = network_layers(config, shape)
    assert sum(layer.parameters for layer in layers) == count_parameters(model)
    # forward order, except that the heads (to_mu, to_logvar) run before the decoder anyway
    assert [layer.outputs for layer in layers] == [n for _m, n in real]
    assert [layer.parameters for layer in layers] == [count_parameters(m) for m, _n in real]


def test_the_estimate_needs_no_torch():
    code = (
        "import sys; from aevae_core.engine.preflight import estimate_memory;"
        "from aevae_core.config import TrainConfig;"
        "e = estimate_memory(TrainConfig(arch='conv', hidden=(32, 64)), (1, 28, 28), 70000);"
        "print(e.total_bytes > 0, 'torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.split()  # fmt: skip
    assert out == ["True", "False"]


def test_bf16_autocast_adds_a_copy_of_the_weights():
    config = TrainConfig(hidden=(64,))
    fp32 = estimate_memory(config.replace(precision="fp32"), (1, 8, 8), 100, device="cpu")
    bf16 = estimate_memory(config.replace(precision="bf16"), (1, 8, 8), 100, device="cpu")
    assert fp32.cast_bytes == 0 and bf16.cast_bytes == 2 * bf16.parameters
    assert "bf16 copy" in bf16.describe() and "bf16" not in fp32.describe()


@pytest.mark.parametrize("native", [True, False])
def test_native_bf16_kernels_scratch_is_counted_only_where_they_run(monkeypatch, native):
    """Measured: 10 MB more peak RSS for a digits MLP's steps where the CPU runs bf16 natively,
    none in fp32 or with bf16 emulated (test_preflight_measured.py's docstring)."""
    monkeypatch.setattr(preflight.system, "cpu_has_native_bf16", lambda: native)
    config = TrainConfig(hidden=(64,))

    def runtime(precision: str, device: str = "cpu") -> int:
        estimate = estimate_memory(config.replace(precision=precision), (1, 8, 8), 100,
                                   device=device)  # fmt: skip
        assert f"runtime {preflight._mib(estimate.runtime_bytes)}" in estimate.describe()
        return estimate.runtime_bytes - preflight.RUNTIME_OVERHEAD

    scratch = preflight.BF16_KERNEL_WORKSPACE if native else 0
    assert runtime("auto") == runtime("bf16") == scratch
    assert runtime("fp32") == 0 and runtime("auto", "cuda") == runtime("bf16", "cuda") == 0
