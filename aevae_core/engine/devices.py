"""What the machine offers for training, described without importing torch.

The app's sidebar calls ``device_summary()`` on every page and the job manager asks how
many GPUs there are when the server starts, so both must be cheap and must not import
torch (seconds) nor create a CUDA context in the server (hundreds of MiB of GPU memory
that the jobs then lack). The GPUs are asked through NVML (``pynvml``, only when it is
installed), else through ``nvidia-smi`` with a short timeout; no NVIDIA tools means no GPU.
``CUDA_VISIBLE_DEVICES`` is honoured as CUDA itself would: an empty value hides every GPU,
a list of indices keeps those, in that order.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess

SMI_TIMEOUT_S = 2.0  # nvidia-smi answers in ~50 ms; a hung driver must not hang a page


def _visible(indices: list[int]) -> list[int]:
    """The physical GPU indices CUDA_VISIBLE_DEVICES leaves visible (all when it is unset)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is None:
        return indices
    keep: list[int] = []
    for item in env.split(","):
        item = item.strip()
        if not item.isdigit():  # CUDA stops at the first entry it cannot parse (UUIDs aside)
            break
        if int(item) in indices and int(item) not in keep:
            keep.append(int(item))
    return keep


def _nvml_query() -> list[tuple[int, str, int]] | None:
    """(index, name, free bytes) per GPU through NVML, or None when pynvml is missing."""
    try:
        import pynvml  # optional: not a dependency of the project
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # installed but no driver: no GPU
        return []
    try:
        rows = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = pynvml.nvmlDeviceGetName(handle)
            name = name.decode() if isinstance(name, bytes) else str(name)
            rows.append((i, name, int(pynvml.nvmlDeviceGetMemoryInfo(handle).free)))
        return rows
    except Exception:
        return []
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()


def _smi_query() -> list[tuple[int, str, int]]:
    """(index, name, free bytes) per GPU through ``nvidia-smi``; empty without it."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,name,memory.free", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=SMI_TIMEOUT_S, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return []
    rows = []
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3 and parts[0].isdigit():
            free = int(parts[2]) * 2**20 if parts[2].isdigit() else 0  # MiB
            rows.append((int(parts[0]), parts[1], free))
    return rows


def query_gpus() -> list[tuple[int, str, int]]:
    """(physical index, name, free bytes) of each visible GPU, asked now (not cached)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return []
    rows = _nvml_query()
    if rows is None:
        rows = _smi_query()
    by_index = {row[0]: row for row in rows}
    return [by_index[i] for i in _visible(sorted(by_index))]


@functools.lru_cache(maxsize=1)
def gpu_devices() -> tuple[tuple[int, str], ...]:
    """(physical index, name) of each visible NVIDIA GPU, asked once per process."""
    return tuple((index, name) for index, name, _free in query_gpus())


def gpu_names() -> tuple[str, ...]:
    """Names of the visible NVIDIA GPUs (empty when there is none)."""
    return tuple(name for _index, name in gpu_devices())


def gpu_free_memory(position: int = 0) -> int | None:
    """Free bytes now on the ``position``-th visible GPU (what ``cuda:position`` is), through
    NVML or nvidia-smi: no CUDA context in the asking process. None when it cannot be told."""
    rows = query_gpus()
    return rows[position][2] if 0 <= position < len(rows) else None


def cpu_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 products natively (avx512_bf16 or AMX): then
    precision "auto" trains with bf16 autocast (fit.autocast_dtype). Read from /proc/cpuinfo,
    without torch, so the server's pre-flight can ask it too."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:  # not Linux: fp32 (bf16 emulated in software would be slower)
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def device_summary(threads_per_job: int | None = None) -> str:
    """E.g. 'GPU: NVIDIA H100' or 'CPU: 2 cores, 1 thread per job'."""
    names = gpu_names()
    if names:
        return "GPU: " + ", ".join(names)
    cores = cpu_cores()
    text = f"CPU: {cores} core{'s' if cores != 1 else ''}"
    if threads_per_job:
        text += f", {threads_per_job} thread{'s' if threads_per_job != 1 else ''} per job"
    return text
