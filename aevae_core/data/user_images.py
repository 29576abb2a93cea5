"""The user's own images: a folder of PNG/JPEG files (sub-folders = classes) or an .npz.

Everything a user hands over is validated here and refused with a ``DatasetError`` that
names the problem and what is allowed: empty folders, non-image or corrupt files, mixed
sizes (resized to the most common one), NaN, wrong dtypes, object arrays (``.npz`` files
load with ``allow_pickle=False``), and files over the size limit.
"""

from __future__ import annotations

import os
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from aevae_core.data.registry import DatasetError

_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
_MIN_SIDE, _MAX_SIDE = 4, 256
_SIDES = f"{_MIN_SIDE}x{_MIN_SIDE} to {_MAX_SIDE}x{_MAX_SIDE} (or choose a size to resize to)"


def uint8_to_float(images: np.ndarray) -> torch.Tensor:
    """uint8 (N,H,W) or (N,H,W,C) -> new float32 (N,C,H,W) in [0, 1]."""
    images = images[:, None] if images.ndim == 3 else images.transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(images).astype(np.float32)).div_(255.0)


def load_images(
    path: str | Path,
    *,
    size: int | None = None,
    max_bytes: int = 200 * 2**20,
    max_images: int = 50000,
) -> tuple[torch.Tensor, torch.Tensor | None, list[str]]:
    """The user's own images: a folder of PNG/JPEG files or an .npz.

    A folder holds image files directly (no labels) or one sub-folder of images per class.
    Returns (images (N,C,H,W) float32 in [0,1], int64 labels or None, class_names).
    `size` resizes everything to size x size; otherwise images keep their (most common)
    size, which must lie between 4x4 and 256x256. Bad input raises DatasetError.
    """
    p = Path(path).expanduser()
    size = None if size is None else int(size)
    if size is not None and not _MIN_SIDE <= size <= 1024:
        raise DatasetError(f"size must be between {_MIN_SIDE} and 1024 pixels, got {size}.")
    if not p.exists():
        raise DatasetError(f"{p} does not exist; give a folder of PNG/JPEG images or an .npz.")
    if p.is_dir():
        return _load_folder(p, size, max_bytes, max_images)
    if p.suffix.lower() == ".npz":
        return _load_npz(p, size, max_bytes, max_images)
    raise DatasetError(f"{p.name} is not supported: give a folder of PNG/JPEG images or an .npz.")


def _image_files(folder: Path) -> list[Path]:
    """PNG/JPEG files, sorted; hidden ones (e.g. macOS "._x.png" metadata) are skipped."""
    images = (f for f in folder.iterdir() if f.suffix.lower() in _IMAGE_SUFFIXES)
    return sorted(f for f in images if f.is_file() and not f.name.startswith("."))


def _load_folder(folder: Path, size: int | None, max_bytes: int, max_images: int):
    files, labels, class_names = _image_files(folder), None, []
    if not files:  # one sub-folder per class
        subdirs = sorted(d for d in folder.iterdir() if d.is_dir() and d.name[0] != ".")
        per_class = [(d.name, fs) for d in subdirs if (fs := _image_files(d))]
        if not per_class:
            raise DatasetError(f"No .png, .jpg or .jpeg images in {folder} or its sub-folders.")
        class_names = [name for name, _ in per_class]
        files = [f for _, fs in per_class for f in fs]
        labels = torch.tensor([i for i, (_, fs) in enumerate(per_class) for _ in fs])
    total_mib, max_mib = sum(f.stat().st_size for f in files) / 2**20, max_bytes / 2**20
    if total_mib > max_mib:
        raise DatasetError(f"The images take {total_mib:.1f} MiB; at most {max_mib:.0f} MiB.")
    if not 2 <= len(files) <= max_images:
        raise DatasetError(
            f"{folder} has {len(files)} images; allowed: at least 2 and at most {max_images}."
        )
    probes = [_probe_image(f) for f in files]  # headers only: decoding comes one at a time
    mode = "L" if all(m in ("1", "L", "LA", "I", "I;16", "F") for m, _ in probes) else "RGB"
    target = (size, size) if size else Counter(wh for _, wh in probes).most_common(1)[0][0]
    if not all(_MIN_SIDE <= side <= _MAX_SIDE for side in target):
        raise DatasetError(f"Most images are {target[0]}x{target[1]} pixels; allowed: {_SIDES}.")
    decoded_mib = len(files) * len(mode) * target[0] * target[1] * 4 / 2**20
    if decoded_mib > 4 * max_mib:  # the same bound an .npz of uint8 gets
        raise DatasetError(
            f"Decoded, the images take {decoded_mib:.0f} MiB; at most {4 * max_mib:.0f}."
        )
    arrays = [_decode_image(f, mode, target) for f in files]
    return uint8_to_float(np.stack(arrays)), labels, class_names


def _probe_image(file: Path) -> tuple[str, tuple[int, int]]:
    from PIL import Image

    try:
        with Image.open(file) as im:
            im.verify()
            return im.mode, im.size
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, bomb errors...
        raise DatasetError(f"{file.name} is not a readable PNG/JPEG image ({exc}).") from exc


def _decode_image(file: Path, mode: str, target: tuple[int, int]) -> np.ndarray:
    """uint8 (H, W) or (H, W, 3): grey 16-bit/float images rescaled (convert would clip)."""
    from PIL import Image

    try:
        with Image.open(file) as im:
            if mode == "L" and im.mode in ("I", "I;16", "F"):
                arr = np.asarray(im, dtype=np.float64)
                top = 65535 if arr.max() > 255 else 1 if im.mode == "F" and arr.max() <= 1 else 255
                im = Image.fromarray(np.clip(arr * (255 / top), 0, 255).astype(np.uint8), "L")
            im = im.convert(mode)
            im = im if im.size == target else im.resize(target, Image.Resampling.BILINEAR)
            return np.asarray(im, dtype=np.uint8)
    except Exception as exc:
        raise DatasetError(f"{file.name} could not be decoded as an image ({exc}).") from exc


def _load_npz(p: Path, size: int | None, max_bytes: int, max_images: int):
    nbytes, max_mib = os.path.getsize(p), max_bytes / 2**20
    if nbytes > max_bytes:
        raise DatasetError(f"{p.name} is {nbytes / 2**20:.1f} MiB; at most {max_mib:.0f} MiB.")
    try:  # an .npz is a zip of .npy files: check what it unpacks to before reading it
        with zipfile.ZipFile(p) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DatasetError(
            f"{p.name} is not a valid .npz file; allowed: an .npz written by numpy.savez."
        ) from exc
    unpacked = sum(info.file_size for info in members)
    if unpacked > max_bytes:
        raise DatasetError(
            f"{p.name} unpacks to {unpacked / 2**20:.1f} MiB; at most {max_mib:.0f}."
        )
    # numpy hands back the raw bytes of a member that is not an .npy array: only arrays count.
    keys = [m.filename[: -len(".npy")] for m in members if m.filename.endswith(".npy")]
    if members and not keys:
        raise DatasetError(
            f"{p.name} is a zip archive but not an .npz: it holds no .npy arrays; "
            "allowed: an .npz written by numpy.savez."
        )
    try:
        with np.load(p, allow_pickle=False) as archive:
            x_key = next((k for k in ("x", "images") if k in keys), keys[0] if keys else None)
            y_key = next((k for k in ("y", "labels") if k in keys and k != x_key), None)
            x = archive[x_key] if x_key else None
            y = archive[y_key] if y_key else None
    except Exception as exc:
        if isinstance(exc, ValueError) and "pickle" in str(exc).lower():
            raise DatasetError(
                f"{p.name} contains Python objects (pickle), which is not allowed for safety; "
                "allowed: plain numeric arrays (no dtype=object)."
            ) from exc
        raise DatasetError(
            f"{p.name} could not be read as an .npz file ({exc}); allowed: an .npz written by "
            "numpy.savez."
        ) from exc
    if x is None:
        raise DatasetError(f"{p.name} contains no arrays; save the images under the key 'x'.")
    for key, value in ((x_key, x), (y_key, y)):
        if value is not None and not isinstance(value, np.ndarray):  # numpy's raw bytes
            raise DatasetError(
                f"{p.name}: '{key}.npy' is not a numpy array; allowed: an .npz written by "
                "numpy.savez."
            )
    images = _validate_npz_images(x, x_key, size, max_images)
    labels, class_names = (None, []) if y is None else _validate_labels(y, y_key, len(images))
    return images, labels, class_names


def _validate_npz_images(x: np.ndarray, key: str, size: int | None, max_images: int):
    where = f"Array '{key}'"
    if x.dtype.kind not in "uif":
        raise DatasetError(f"{where} has dtype {x.dtype}; allowed: uint8 0..255 or float 0..1.")
    if x.ndim not in (3, 4):
        raise DatasetError(f"{where} has shape {x.shape}; allowed: (N,H,W), (N,H,W,C), (N,C,H,W).")
    if x.size == 0:
        raise DatasetError(f"{where} is empty (shape {x.shape}); it needs at least 2 images.")
    if x.ndim == 3:
        x = x[:, None]
    elif x.shape[1] not in (1, 3) and x.shape[3] in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    elif x.shape[1] not in (1, 3):
        raise DatasetError(f"{where} has shape {x.shape}: the channel axis must hold 1 or 3.")
    n, _, h, w = x.shape
    if not 2 <= n <= max_images:
        raise DatasetError(f"{where} holds {n} images; allowed: at least 2, at most {max_images}.")
    if size is None and not (_MIN_SIDE <= h <= _MAX_SIDE and _MIN_SIDE <= w <= _MAX_SIDE):
        raise DatasetError(f"{where} has {h}x{w} images; allowed: {_SIDES}.")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise DatasetError(f"{where} contains NaN or infinite values; allowed: floats in [0, 1].")
    top = 1.0 if x.dtype.kind == "f" else 255.0
    if x.min() < 0 or x.max() > top:
        raise DatasetError(
            f"{where} has values in [{x.min():.4g}, {x.max():.4g}]; allowed: floats in [0, 1] "
            "or integers 0..255."
        )
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).div_(top)
    if size is not None and (h, w) != (size, size):
        t = torch.nn.functional.interpolate(t, size=(size, size), mode="bilinear", antialias=True)
    return t.clamp_(0, 1).contiguous()


def _validate_labels(y: np.ndarray, key: str, n: int) -> tuple[torch.Tensor, list[str]]:
    if y.ndim != 1 or len(y) != n:
        raise DatasetError(f"Labels '{key}' have shape {y.shape}; need one per image: ({n},).")
    if y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all():
        y = y.astype(np.int64)
    if y.dtype.kind not in "iuU":
        raise DatasetError(f"Labels '{key}' have dtype {y.dtype}; allowed: integers or strings.")
    values, inverse = np.unique(y, return_inverse=True)
    return torch.from_numpy(inverse.astype(np.int64).reshape(-1)), [str(v) for v in values]
