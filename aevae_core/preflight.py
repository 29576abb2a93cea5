"""Memory pre-flight: refuse a config that cannot fit before anything is allocated.

The model is built on PyTorch's ``meta`` device, which records shapes but allocates
nothing, and one forward pass with hooks counts the activations a training step keeps.
The estimate (weights, gradients, optimiser state, activations and their gradients, the
dataset on the device, plus the runtime's own overhead) is compared with the memory that
is free now: ``MemAvailable`` for the CPU, ``torch.cuda.mem_get_info`` for a GPU.

    check_memory(config)   # raises ResourceError with the estimate when it would not fit
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from aevae_core.config import ConfigError, TrainConfig
from aevae_core.models import build_model

FLOAT_BYTES = 4
RUNTIME_OVERHEAD = 400 * 2**20  # torch, numpy and the worker process themselves
OPTIMIZER_STATES = {"adam": 2, "momentum": 1, "adagrad": 1, "sgd": 0}
SAFETY = 0.9  # use at most this share of the free memory


class ResourceError(ConfigError):
    """The config would not fit in memory; ``field`` names the setting to change."""


@dataclass(frozen=True)
class MemoryEstimate:
    parameters: int
    weights_bytes: int
    activation_bytes: int
    data_bytes: int
    total_bytes: int

    def describe(self) -> str:
        return (
            f"{_mib(self.total_bytes)} (weights+gradients+optimiser {_mib(self.weights_bytes)}, "
            f"activations {_mib(self.activation_bytes)}, data {_mib(self.data_bytes)}, "
            f"runtime {_mib(RUNTIME_OVERHEAD)})"
        )


def _mib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def dataset_size(config: TrainConfig) -> tuple[tuple[int, int, int], int]:
    """(image shape, number of images) without loading the data."""
    from aevae_core.data import DATASET_INFO

    info = DATASET_INFO[config.dataset]
    shape, size = info["shape"], info["size"]
    if shape is None:  # custom: bound it by the file (uint8 at worst: 4 bytes per value)
        try:  # a path the OS cannot even look up (e.g. a name too long) counts as empty
            nbytes = Path(config.data_path or "").stat().st_size
        except (OSError, ValueError):
            nbytes = 0
        return (1, 28, 28), max(1, nbytes // 28 // 28)
    if config.max_samples:
        size = min(size, config.max_samples)
    return tuple(shape), size


def estimate_memory(
    config: TrainConfig, shape: tuple[int, int, int], n_images: int
) -> MemoryEstimate:
    """Peak bytes one training step of ``config`` needs on its device."""
    with torch.device("meta"):
        model = build_model(config, shape)
        activations = 0

        def count(_module, _inputs, output) -> None:
            nonlocal activations
            tensors = output if isinstance(output, tuple) else (output,)
            activations += sum(t.numel() for t in tensors if isinstance(t, torch.Tensor))

        hooks = [m.register_forward_hook(count) for m in model.modules() if not list(m.children())]
        model(torch.empty(config.batch_size, *shape))
        for hook in hooks:
            hook.remove()
    params = sum(p.numel() for p in model.parameters())
    weights = params * FLOAT_BYTES * (2 + OPTIMIZER_STATES[config.optimizer])
    # Each activation is kept for backward and gets a gradient of the same size.
    act = activations * FLOAT_BYTES * 2
    data = n_images * math.prod(shape) * FLOAT_BYTES
    return MemoryEstimate(params, weights, act, data, weights + act + data + RUNTIME_OVERHEAD)


def free_memory(device: str) -> int | None:
    """Bytes free now on the device ("cpu" or "cuda"); None when it cannot be told."""
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            return None
        free, _total = torch.cuda.mem_get_info()
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def check_memory(config: TrainConfig, *, device: str | None = None) -> MemoryEstimate:
    """Raise ResourceError, naming the estimate and what to change, when it would not fit."""
    shape, n_images = dataset_size(config)
    estimate = estimate_memory(config, shape, n_images)
    if device is None:
        device = "cuda" if config.device != "cpu" and torch.cuda.is_available() else "cpu"
    free = free_memory(device)
    if free is not None and estimate.total_bytes > SAFETY * free:
        biggest = max(
            ("batch_size", estimate.activation_bytes),
            ("hidden", estimate.weights_bytes),
            ("max_samples", estimate.data_bytes),
            key=lambda kv: kv[1],
        )[0]
        raise ResourceError(
            biggest,
            f"this run needs about {estimate.describe()} but only {_mib(free)} of "
            f"{device.upper()} memory is free; reduce {biggest.replace('_', ' ')} "
            "(or the model size) and try again",
        )
    return estimate
