"""Why a run failed, in one readable line for the UI, with a hint for what students meet.

Out of memory is the common one, and its cure depends on where: the CPU side (the machine's
RAM or the server's per-job limit, AEVAE_WORKER_MAX_MEMORY_MB) or the GPU's own memory,
where only a smaller batch or model helps (no CPU setting frees GPU memory).
"""

from __future__ import annotations

import re

import torch

_OOM_TEXTS = ("out of memory", "can't allocate memory", "cannot allocate memory")
_ALLOC_RE = re.compile(r"tried to allocate (\d+) bytes")


def is_out_of_memory(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, (MemoryError, torch.cuda.OutOfMemoryError)) or any(
        t in text for t in _OOM_TEXTS
    )


def is_gpu_out_of_memory(exc: BaseException) -> bool:
    """torch.cuda.OutOfMemoryError, or its text from an older torch ("CUDA out of memory")."""
    return isinstance(exc, torch.cuda.OutOfMemoryError) or "cuda out of memory" in str(exc).lower()


def release_gpu_memory() -> None:
    """Give the cached blocks of a failed run back to the GPU (for the next job in this
    process); a no-op where CUDA was never initialised, so it never creates a context."""
    if torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def failure_reason(exc: BaseException, batch_size: int | None = None) -> str:
    """One readable line for the UI, with a hint for the failures students meet.

    ``batch_size``: the run's, named in a GPU out-of-memory hint.
    """
    text = str(exc) or type(exc).__name__
    if is_gpu_out_of_memory(exc):
        # "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity ...".
        what = text.splitlines()[0][:300]
        now = f" (now {batch_size})" if batch_size else ""
        return (
            f"ran out of memory: {what} (the GPU's own memory: the CPU memory limit does not "
            f"apply); try a smaller batch size{now} or model"
        )
    if is_out_of_memory(exc):
        # torch's CPU allocator: "... DefaultCPUAllocator: can't allocate memory: you tried
        # to allocate 268435456 bytes. Error code 12 (Cannot allocate memory)".
        size = _ALLOC_RE.search(text)
        if size:
            what = f"could not allocate another {int(size.group(1)) / 2**20:.0f} MiB"
        elif isinstance(exc, MemoryError):
            what = f"{type(exc).__name__} {str(exc)[:300]}".strip()
        else:
            what = text.splitlines()[0][:300]
        return (
            f"ran out of memory: {what} (the machine's memory or the server's per-job limit, "
            "AEVAE_WORKER_MAX_MEMORY_MB); try a smaller batch size or model"
        )
    return f"{type(exc).__name__}: {text[:500]}"
