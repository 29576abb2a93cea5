"""A run's files: checkpoints, per-epoch snapshots and stored metrics, written atomically.

``RunFiles`` is the file half of ``store.RunStore`` (which inherits it); it needs only
``run_dir(run_id)``. Every file is written with ``files.atomic_write_bytes``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from aevae_core.files import atomic_write_bytes


class RunFiles:
    """Paths and snapshot I/O of runs' folders; the class using it provides ``run_dir``."""

    def checkpoint_path(self, run_id: str, which: str = "latest") -> Path:
        if which not in ("latest", "best"):
            raise ValueError("checkpoint must be 'latest' or 'best'")
        return self.run_dir(run_id) / "checkpoints" / f"{which}.pt"

    def epoch_checkpoint_path(self, run_id: str, epoch: int) -> Path:
        """The weights-only checkpoint of one epoch (written for a bounded set of epochs)."""
        return self.run_dir(run_id) / "checkpoints" / f"epoch_{int(epoch):04d}.pt"

    def checkpoint_epochs(self, run_id: str) -> list[int]:
        """Epochs that have a checkpoint of their own, ascending."""
        folder = self.run_dir(run_id) / "checkpoints"
        if not folder.exists():
            return []
        return sorted(
            int(p.stem.split("_")[1])
            for p in folder.glob("epoch_*.pt")
            if p.stem.split("_")[1].isdigit()
        )

    def snapshot_path(self, run_id: str, epoch: int) -> Path:
        return self.run_dir(run_id) / "snapshots" / f"epoch_{int(epoch):04d}.npz"

    def snapshot_epochs(self, run_id: str) -> list[int]:
        folder = self.run_dir(run_id) / "snapshots"
        if not folder.exists():
            return []
        return sorted(int(p.stem.split("_")[1]) for p in folder.glob("epoch_*.npz"))

    def write_snapshot(self, run_id: str, epoch: int, arrays: dict[str, np.ndarray]) -> None:
        import io

        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        atomic_write_bytes(self.snapshot_path(run_id, epoch), buf.getvalue())

    def read_snapshot(self, run_id: str, epoch: int) -> dict[str, np.ndarray]:
        with np.load(self.snapshot_path(run_id, epoch), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    # -- stored metrics: run_eval.py's numbers of one epoch's model, computed once ----------
    def run_metrics_path(self, run_id: str, epoch: int) -> Path:
        return self.run_dir(run_id) / "metrics" / f"epoch_{int(epoch):04d}.json"

    def run_metrics_epochs(self, run_id: str) -> list[int]:
        folder = self.run_dir(run_id) / "metrics"
        if not folder.exists():
            return []
        return sorted(int(p.stem.split("_")[1]) for p in folder.glob("epoch_*.json"))

    def write_run_metrics(self, run_id: str, epoch: int, metrics: dict[str, Any]) -> None:
        """Store one epoch's metrics (JSON; NaN kept as NaN, numpy scalars as numbers)."""
        path = self.run_metrics_path(run_id, epoch)
        path.parent.mkdir(exist_ok=True)
        payload = json.dumps(metrics, default=_json_number, allow_nan=True)
        atomic_write_bytes(path, payload.encode())

    def read_run_metrics(self, run_id: str, epoch: int) -> dict[str, Any] | None:
        """The stored metrics of ``epoch``, or None when there are none (or unreadable)."""
        try:
            return json.loads(self.run_metrics_path(run_id, epoch).read_text())
        except (OSError, ValueError):
            return None


def _json_number(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
