"""User uploads: size-limited, validated, stored under a name the upload does not choose.

An upload never chooses its own path: it is written to ``<runs dir>/uploads/<hash>.npz``
(the first 16 hex digits of its SHA-256, so the page's reruns with the same file reuse one
copy) and validated with the same loader training uses, so a bad file is refused at once
with the loader's message instead of failing a job later. A refused file is deleted.

A .zip of PNG/JPEG images (sub-folders = classes, one enclosing folder allowed) is unpacked
into ``<runs dir>/uploads/<hash>/`` with the guards an archive needs: the same size limit on
what it unpacks to (a zip bomb), a bounded number of members, and no member that could land
outside that folder (absolute paths, "..", symlinks: the "zip-slip" attack). Any unsafe
member refuses the whole file; other non-image files are skipped; nothing is kept from a
refused file (it is unpacked into a temporary folder, renamed only once it validates).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from aevae_core.files import atomic_write_bytes
from aevae_core.store.runs import default_runs_dir

log = logging.getLogger(__name__)

ALLOWED_SUFFIXES = (".npz", ".zip")
MAX_ZIP_MEMBERS = 60_000  # the loader takes at most 50,000 images; a few other files pass
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
WHAT_IS_ALLOWED = (
    "an .npz written by numpy.savez with images under 'x' (and labels under 'y'), or a .zip "
    "of .png/.jpg images (one sub-folder per class)"
)
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


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
    if suffix.lower() == ".zip":
        return _save_zip(payload, folder, shown)
    path = folder / f"{hashlib.sha256(payload).hexdigest()[:16]}{suffix.lower()}"
    if path.is_file() and path.stat().st_size == len(payload):
        return str(path)  # the same bytes, validated when they were first saved
    atomic_write_bytes(path, payload)
    from aevae_core.data.registry import DatasetError
    from aevae_core.data.user_images import load_images

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


def _members(archive: zipfile.ZipFile, shown: str) -> list[tuple[zipfile.ZipInfo, tuple]]:
    """The image members and where each goes (a path of at most class/file), after the
    zip-slip and zip-bomb checks; any unsafe member refuses the whole file."""
    infos = archive.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise UploadError(
            f"{shown} holds {len(infos):,} files; allowed: at most {MAX_ZIP_MEMBERS:,}"
        )
    kept = []
    for info in infos:
        name = info.filename.replace("\\", "/")
        parts = PurePosixPath(name).parts
        unsafe = name.startswith("/") or ".." in parts or (parts and ":" in parts[0])
        if unsafe or stat.S_ISLNK(info.external_attr >> 16):
            raise UploadError(
                f"{shown} holds '{info.filename}', a path outside its folder or a link; "
                f"allowed: {WHAT_IS_ALLOWED}"
            )
        hidden = any(p.startswith(".") or p == "__MACOSX" for p in parts)
        if info.is_dir() or hidden or not name.lower().endswith(_IMAGE_SUFFIXES):
            continue  # a README or macOS metadata: not an image, not kept
        kept.append((info, parts))
    if kept and all(len(p) > 1 for _, p in kept) and len({p[0] for _, p in kept}) == 1:
        kept = [(info, p[1:]) for info, p in kept]  # one enclosing folder ("mydata/")
    if any(len(p) > 2 for _, p in kept):
        raise UploadError(
            f"{shown} has images in folders inside folders; allowed: images at the top, or "
            "one sub-folder of images per class"
        )
    if not kept:
        raise UploadError(f"{shown} holds no .png/.jpg images; allowed: {WHAT_IS_ALLOWED}")
    total = sum(info.file_size for info, _ in kept)
    if total > MAX_UPLOAD_BYTES:
        raise UploadError(
            f"{shown} unpacks to {total / 2**20:.1f} MB of images; allowed: at most "
            f"{MAX_UPLOAD_BYTES / 2**20:.0f} MB"
        )
    return kept


def _save_zip(payload: bytes, uploads: Path, shown: str) -> str:
    """Unpack the zip's images into ``uploads/<hash>/``, validated; return that folder."""
    final = uploads / hashlib.sha256(payload).hexdigest()[:16]
    if final.is_dir():
        return str(final)  # the same bytes, validated when they were first unpacked
    from aevae_core.data.registry import DatasetError
    from aevae_core.data.user_images import load_images

    tmp = uploads / f".{final.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        try:
            archive = zipfile.ZipFile(io.BytesIO(payload))
        except (zipfile.BadZipFile, ValueError):
            raise UploadError(f"{shown} is not a zip archive; allowed: {WHAT_IS_ALLOWED}") from None
        with archive:
            budget = MAX_UPLOAD_BYTES  # sizes in the header may lie: count what is read
            for info, parts in _members(archive, shown):
                with archive.open(info) as member:
                    data = member.read(budget + 1)
                budget -= len(data)
                if budget < 0:
                    raise UploadError(
                        f"{shown} unpacks to more than {MAX_UPLOAD_BYTES / 2**20:.0f} MB; "
                        f"allowed: at most {MAX_UPLOAD_BYTES / 2**20:.0f} MB"
                    )
                target = tmp.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        load_images(tmp, max_bytes=MAX_UPLOAD_BYTES)
        os.replace(tmp, final)
    except UploadError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except DatasetError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        message = f"{shown}: {exc}".replace(f"{tmp}/", "").replace(str(tmp), "the zip")
        if "allowed" not in message.lower():
            message += f" Allowed: {WHAT_IS_ALLOWED}."
        raise UploadError(message) from None
    except Exception as exc:  # a corrupt member (CRC, compression): refused, nothing kept
        shutil.rmtree(tmp, ignore_errors=True)
        log.warning("zip upload refused: %r", exc)
        raise UploadError(
            f"{shown} could not be unpacked ({type(exc).__name__}); allowed: {WHAT_IS_ALLOWED}"
        ) from None
    return str(final)
