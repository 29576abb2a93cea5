"""User uploads: size-limited, validated, stored under a name the upload does not choose.

An upload never chooses its own path: it is written to ``<runs dir>/uploads/<hash>.npz``
(the first 16 hex digits of its SHA-256, so the page's reruns with the same file reuse one
copy) and validated with the same loader training uses, so a bad file is refused at once
with the loader's message instead of failing a job later. A refused file is deleted.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from aevae_core.store import atomic_write_bytes, default_runs_dir

log = logging.getLogger(__name__)

ALLOWED_SUFFIXES = (".npz",)
DEFAULT_MAX_UPLOAD_MB = 50


def _max_upload_bytes() -> int:
    """``AEVAE_MAX_UPLOAD_MB`` (a positive number) in bytes; a bad value falls back to 50."""
    text = os.environ.get("AEVAE_MAX_UPLOAD_MB", "").strip()
    if not text:
        return DEFAULT_MAX_UPLOAD_MB * 2**20
    try:
        mb = float(text)
        if not 0 < mb < 2**20:  # also refuses NaN and inf
            raise ValueError(text)
    except ValueError:
        log.warning(
            "AEVAE_MAX_UPLOAD_MB=%r is not a positive number of MB; using %d",
            text,
            DEFAULT_MAX_UPLOAD_MB,
        )
        return DEFAULT_MAX_UPLOAD_MB * 2**20
    return int(mb * 2**20)


MAX_UPLOAD_BYTES = _max_upload_bytes()
WHAT_IS_ALLOWED = "an .npz written by numpy.savez with images under 'x' (and labels under 'y')"


class UploadError(ValueError):
    """The upload was refused; the message names the problem and what is allowed."""


def save_upload(
    payload: bytes,
    *,
    suffix: str = ".npz",
    runs_dir: str | Path | None = None,
    name: str | None = None,
) -> str:
    """Check size and type, write under a generated name, validate; return the path.

    ``name`` is the file's name on the user's machine, used only in messages.
    """
    shown = f"'{name}'" if name else "the uploaded file"
    if not isinstance(suffix, str) or suffix.lower() not in ALLOWED_SUFFIXES:
        raise UploadError(f"{suffix} files are not accepted; allowed: {WHAT_IS_ALLOWED}")
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise UploadError(f"{shown} has no bytes to read; allowed: {WHAT_IS_ALLOWED}")
    payload = bytes(payload)
    if not payload:
        raise UploadError(f"{shown} is empty (0 bytes); allowed: {WHAT_IS_ALLOWED}")
    if len(payload) > MAX_UPLOAD_BYTES:
        raise UploadError(
            f"{shown} is {len(payload) / 2**20:.1f} MB; allowed: at most "
            f"{MAX_UPLOAD_BYTES / 2**20:.0f} MB"
        )
    folder = Path(runs_dir) if runs_dir else default_runs_dir()
    folder = folder / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{hashlib.sha256(payload).hexdigest()[:16]}{suffix.lower()}"
    if path.is_file() and path.stat().st_size == len(payload):
        return str(path)  # the same bytes, validated when they were first saved
    atomic_write_bytes(path, payload)
    from aevae_core.data import DatasetError
    from aevae_core.user_images import load_images

    try:
        load_images(path, max_bytes=MAX_UPLOAD_BYTES)
    except DatasetError as exc:
        path.unlink(missing_ok=True)
        raise UploadError(str(exc).replace(path.name, shown)) from None
    except Exception as exc:  # a loader bug must not keep the file or crash the page
        path.unlink(missing_ok=True)
        log.exception("unexpected error while validating an upload")
        raise UploadError(
            f"{shown} could not be read ({type(exc).__name__}); allowed: {WHAT_IS_ALLOWED}"
        ) from None
    return str(path)
