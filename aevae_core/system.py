"""What the machine offers for training, described without importing torch.

The app's sidebar calls ``device_summary()`` on every page, so it must be cheap: it asks
``nvidia-smi`` (once, cached) instead of importing torch, which costs seconds.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess


@functools.lru_cache(maxsize=1)
def gpu_names() -> tuple[str, ...]:
    """Names of the NVIDIA GPUs ``nvidia-smi`` reports (empty when there is none)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") == "" or not shutil.which("nvidia-smi"):
        return ()
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(line.strip() for line in out.splitlines() if line.strip())


def device_summary(threads_per_job: int | None = None) -> str:
    """E.g. 'GPU: NVIDIA H100' or 'CPU: 2 cores, 1 thread per job'."""
    names = gpu_names()
    if names:
        return "GPU: " + ", ".join(names)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    text = f"CPU: {cores} core{'s' if cores != 1 else ''}"
    if threads_per_job:
        text += f", {threads_per_job} thread{'s' if threads_per_job != 1 else ''} per job"
    return text
