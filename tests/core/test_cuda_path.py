"""The CUDA path, tested on the CPU (no GPU here): precision auto picks TF32 and bf16 where a
GPU supports them, the loop reads the loss on the host only at log points when a read is a
sync (the GPU's case, forced here through ``syncs_every_step``), the divergence guard still
leaves finite weights, and a GPU out-of-memory error says what to change.

Not run here: a real GPU (speed, the bf16 autocast's kernels, an allocator's real OOM).
"""

from __future__ import annotations

import math

import pytest
import torch

from aevae_core.config import TrainConfig
from aevae_core.engine import fit as train_module
from aevae_core.engine.failures import failure_reason
from aevae_core.engine.fit import autocast_dtype, fit, use_tf32
from aevae_core.jobs import runner
from aevae_core.store.runs import RunStore

CUDA = torch.device("cuda")  # a device object only: nothing is allocated on it


def small(**kw) -> TrainConfig:
    base = {"hidden": (32,), "latent_dim": 4, "epochs": 1, "batch_size": 16, "threads": 1}
    return TrainConfig(**{**base, **kw})


@pytest.mark.parametrize("supported", [True, False])
def test_auto_precision_on_a_gpu_is_bf16_where_supported(monkeypatch, supported) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: supported)
    expected = torch.bfloat16 if supported else None
    assert autocast_dtype(small(precision="auto"), CUDA) == expected
    assert autocast_dtype(small(precision="fp32"), CUDA) is None
    assert autocast_dtype(small(precision="bf16"), CUDA) == torch.bfloat16
    # The CPU is unchanged: bf16 only with native bf16 products.
    for native in (True, False):
        monkeypatch.setattr(train_module, "cpu_has_native_bf16", lambda n=native: n)
        want = torch.bfloat16 if native else None
        assert autocast_dtype(small(precision="auto"), torch.device("cpu")) == want


def test_tf32_on_a_gpu_unless_fp32_is_asked_for() -> None:
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        use_tf32(small(precision="auto"), torch.device("cpu"))
        assert not torch.backends.cuda.matmul.allow_tf32, "a CPU run leaves it alone"
        use_tf32(small(precision="auto"), CUDA)
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        assert torch.get_float32_matmul_precision() == "high"
        use_tf32(small(precision="fp32"), CUDA)
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


class _CountReads:
    """Counts host reads of tensors (``tolist`` and ``item``) while active."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reads = 0
        for name in ("tolist", "item"):
            real = getattr(torch.Tensor, name)

            def counted(t, *a, _real=real, **k):
                self.reads += 1
                return _real(t, *a, **k)

            monkeypatch.setattr(torch.Tensor, name, counted)


class _Steps(train_module.Callbacks):
    def __init__(self) -> None:
        self.steps: list[int] = []

    def on_step(self, metrics) -> None:
        self.steps.append(metrics["step"])


def test_without_a_free_host_read_the_loop_reads_only_at_log_points(
    monkeypatch, digits_data
) -> None:
    config = small(log_every=25)
    steps = math.ceil(len(digits_data.train_x) / config.batch_size)
    cpu = _CountReads(monkeypatch)
    fit(config, digits_data)
    per_step = cpu.reads  # the CPU reads every step: the guard before every update
    assert per_step >= steps

    monkeypatch.setattr(train_module, "syncs_every_step", lambda device: False)
    gpu = _CountReads(monkeypatch)
    seen = _Steps()
    result = fit(config, digits_data, seen)
    assert result.status == "completed"
    # Reads: the logged steps (step 1 and every 25th), the epoch's last step, evaluation's
    # few (one per sum, not per batch), the epoch record's sums.
    assert len(seen.steps) == 1 + steps // 25
    assert gpu.reads <= len(seen.steps) + 1 + 8, (gpu.reads, steps)
    assert gpu.reads < steps / 4


def test_without_a_free_host_read_a_diverging_run_still_keeps_finite_weights(
    monkeypatch, digits_data
) -> None:
    monkeypatch.setattr(train_module, "syncs_every_step", lambda device: False)
    result = fit(small(lr=100.0, optimizer="sgd", log_every=20), digits_data)
    assert result.status == "diverged" and "learning rate" in result.reason
    for name, tensor in result.model.state_dict().items():
        assert torch.isfinite(tensor).all(), name  # rolled back to the last good read


def test_a_gpu_out_of_memory_error_fails_the_run_with_a_smaller_batch_hint(
    tmp_path, monkeypatch
) -> None:
    def no_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of "
            "79.19 GiB of which 1.02 GiB is free."
        )

    monkeypatch.setattr(runner, "fit", no_memory)
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run(TrainConfig(dataset="digits", batch_size=256), status="running")
    assert runner.execute_run(store, run_id) is None
    run = store.get_run(run_id)
    assert run["status"] == "failed"
    reason = run["reason"]
    assert reason.startswith("ran out of memory: CUDA out of memory. Tried to allocate 2.00 GiB")
    assert "GPU" in reason and "try a smaller batch size (now 256) or model" in reason
    assert "AEVAE_WORKER_MAX_MEMORY_MB" not in reason and "\n" not in reason
    # The CPU's own out-of-memory error still names the CPU memory limit.
    assert "AEVAE_WORKER_MAX_MEMORY_MB" in failure_reason(MemoryError(), 256)
