"""User uploads: size-limited, validated, stored under a generated name.

An upload never chooses its own path: it is written to ``<runs dir>/uploads/<random>.npz``
and validated with the same loader training uses, so a bad file is refused at once with
the loader's message instead of failing a job later.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from aevae_core.store import atomic_write_bytes, default_runs_dir

MAX_UPLOAD_BYTES = int(os.environ.get("AEVAE_MAX_UPLOAD_MB", "50")) * 2**20
ALLOWED_SUFFIXES = (".npz",)


class UploadError(ValueError):
    pass


def save_upload(payload: bytes, *, suffix: str = ".npz", runs_dir: str | Path | None = None) -> str:
    """Check size and type, write under a generated name, validate; return the path."""
    if suffix not in ALLOWED_SUFFIXES:
        raise UploadError(
            f"{suffix} files are not accepted; allowed: {', '.join(ALLOWED_SUFFIXES)}"
        )
    if not payload:
        raise UploadError("the uploaded file is empty")
    if len(payload) > MAX_UPLOAD_BYTES:
        raise UploadError(
            f"the file is {len(payload) / 2**20:.1f} MB; allowed: at most "
            f"{MAX_UPLOAD_BYTES / 2**20:.0f} MB"
        )
    folder = Path(runs_dir) if runs_dir else default_runs_dir()
    folder = folder / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{secrets.token_hex(8)}{suffix}"
    atomic_write_bytes(path, payload)
    from aevae_core.data import DatasetError
    from aevae_core.user_images import load_images

    try:
        load_images(path, max_bytes=MAX_UPLOAD_BYTES)
    except DatasetError as exc:
        path.unlink(missing_ok=True)
        raise UploadError(str(exc)) from None
    return str(path)
