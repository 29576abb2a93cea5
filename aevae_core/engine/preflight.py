"""Memory pre-flight: refuse a config that cannot fit before anything is allocated.

The estimate is worked out from the network's layer shapes (shapes.py), without torch and
without building anything: it costs microseconds, where tracing the model on the meta
device cost seconds of torch._dynamo imports on a cold process (issue 13). It adds up what
one training step holds at its peak (the start of the backward pass, with the previous
step's gradients still alive: train.fit zeroes them after the forward pass):

* weights, their gradients and the optimiser's state: Adam 2 values per weight, momentum
  and Adagrad 1, SGD 0;
* the activations kept for backward, per image x batch: the input batch (and its corrupted
  or binarised copy), every layer's output (ReLUs run in place), the VAE's sampling
  (std, noise, z), the loss's per-pixel terms, and the gradients of the two largest layers
  alive at once during backward. With bf16 autocast (train.autocast_dtype) add a bf16 copy
  of the weights; its half-size activations and the fp32 copies of the outputs roughly
  cancel (measured). In fp32 on the CPU a convolution's backward also unfolds its input
  (im2col): the largest such buffer is added;
* the data on the device (every image, float32; on the CPU also the loader's cached raw
  copy, one byte per value, for file-backed sets);
* where the steps run bf16 kernels natively (a CPU with avx512_bf16 or AMX), their fixed
  scratch (measured); and the runtime itself (torch and the worker process).

tests/core/test_preflight_measured.py checks the estimate against the peak memory of real
short runs (RSS on the CPU, ``max_memory_allocated`` on a GPU), within 25%. The estimate is
compared with the memory free now: ``MemAvailable`` for the CPU, NVML or ``nvidia-smi`` for
a GPU (engine/devices.py: the asking process holds no CUDA context).

    check_memory(config)   # raises ResourceError with the estimate when it would not fit
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from aevae_core.config import ConfigError, TrainConfig
from aevae_core.engine import devices as system
from aevae_core.model.shapes import network_layers

FLOAT_BYTES = 4
RUNTIME_OVERHEAD = 400 * 2**20  # torch, numpy and the worker process themselves
# Scratch of the CPU's native bf16 kernels (oneDNN, avx512_bf16 / AMX) in a run's steps,
# beyond its tensors: on such a CPU a digits MLP's steps (2.8 MB of tensors) raised the
# peak RSS by 12.5-13 MB. In fp32, and with bf16 emulated on a CPU without it, the same
# steps raised it by 2.9-3.1 MB: none (tests/core/test_preflight_measured.py).
BF16_KERNEL_WORKSPACE = 10 * 2**20
OPTIMIZER_STATES = {"adam": 2, "momentum": 1, "adagrad": 1, "sgd": 0}
SAFETY = 0.9  # use at most this share of the free memory
RAW_CACHED = ("mnist", "fashion-mnist", "kmnist", "cifar10")  # datasets.py keeps their uint8


class ResourceError(ConfigError):
    """The config would not fit in memory; ``field`` names the setting to change."""


@dataclass(frozen=True)
class MemoryEstimate:
    parameters: int
    weights_bytes: int
    activation_bytes: int
    data_bytes: int
    total_bytes: int
    cast_bytes: int = 0  # bf16 autocast's copy of the weights (0 in fp32)

    @property
    def runtime_bytes(self) -> int:
        """torch and the process, and the bf16 kernels' scratch where they run."""
        parts = self.weights_bytes + self.cast_bytes + self.activation_bytes + self.data_bytes
        return self.total_bytes - parts

    def describe(self) -> str:
        cast = f", bf16 copy {_mib(self.cast_bytes)}" if self.cast_bytes else ""
        return (
            f"{_mib(self.total_bytes)} (weights+gradients+optimiser {_mib(self.weights_bytes)}"
            f"{cast}, activations {_mib(self.activation_bytes)}, data {_mib(self.data_bytes)}, "
            f"runtime {_mib(self.runtime_bytes)})"
        )


def _mib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


def dataset_size(config: TrainConfig) -> tuple[tuple[int, int, int], int]:
    """(image shape, number of images) without loading the data."""
    from aevae_core.data.registry import DATASET_INFO

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


def uses_gpu(config: TrainConfig) -> bool:
    """Whether the run will train on a GPU (``auto`` takes one when one is visible)."""
    return config.device != "cpu" and bool(system.gpu_devices())


def uses_bf16(config: TrainConfig, gpu: bool) -> bool:
    """Whether the steps run under bf16 autocast (train.autocast_dtype's rule, without torch)."""
    if config.precision == "bf16":
        return True
    return config.precision == "auto" and not gpu and system.cpu_has_native_bf16()


def activations_per_image(
    config: TrainConfig, shape: tuple[int, int, int], *, columns: bool = False
) -> int:
    """Values one training step keeps per image at its peak (see the module docstring);
    with ``columns``, plus the largest convolution's im2col buffer (CPU, fp32)."""
    pixels = math.prod(shape)
    layers = network_layers(config, shape)
    outputs = [layer.outputs for layer in layers]
    inputs = pixels * (1 + config.binarize + 2 * (config.effective_noise > 0))
    sampling = 5 * config.latent_dim if config.variational else 0  # clamp, std, eps, z...
    loss = pixels * (1 if config.recon == "bce" else 3)  # BCE terms; or sigmoid, error, square
    backward = 2 * max(*outputs, pixels)  # a layer's output and input gradients, at once
    unfolded = max(layer.columns for layer in layers) if columns else 0
    return inputs + sum(outputs) + sampling + loss + backward + unfolded


def estimate_memory(
    config: TrainConfig,
    shape: tuple[int, int, int],
    n_images: int,
    *,
    device: str | None = None,
) -> MemoryEstimate:
    """Peak bytes one training step of ``config`` needs on its device ("cpu" or "cuda";
    default: the config's). ConfigError when the network cannot be built for ``shape``."""
    gpu = uses_gpu(config) if device is None else device.startswith("cuda")
    params = sum(layer.parameters for layer in network_layers(config, shape))
    weights = params * FLOAT_BYTES * (2 + OPTIMIZER_STATES[config.optimizer])
    bf16 = uses_bf16(config, gpu)
    cast = params * 2 if bf16 else 0  # its bf16 activations replace fp32 ones (see above)
    per_image = activations_per_image(config, shape, columns=not (gpu or bf16)) * FLOAT_BYTES
    act = per_image * config.batch_size
    data = n_images * math.prod(shape) * FLOAT_BYTES
    if not gpu and config.dataset in RAW_CACHED:
        data += n_images * math.prod(shape)
    scratch = BF16_KERNEL_WORKSPACE if bf16 and not gpu and system.cpu_has_native_bf16() else 0
    total = weights + cast + act + data + scratch + RUNTIME_OVERHEAD
    return MemoryEstimate(params, weights, act, data, total, cast)


def free_memory(device: str) -> int | None:
    """Bytes free now on the device ("cpu" or "cuda"); None when it cannot be told.

    A GPU is asked through NVML or nvidia-smi (engine/devices.py), never through torch.cuda: that
    would import torch and create a CUDA context (hundreds of MiB of the GPU) in the server.
    """
    if device.startswith("cuda"):
        return system.gpu_free_memory(0)
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
    if device is None:
        device = "cuda" if uses_gpu(config) else "cpu"
    estimate = estimate_memory(config, shape, n_images, device=device)
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
