"""The datasets' raw arrays, in numpy, without torch: the built-in digits and the IDX files of
the MNIST-like sets, their train/validation sizes, and a preview of their first images.

``datasets.load_dataset`` builds its tensors from these. The Train page's dataset preview
reads them directly (``preview``), so the page draws it before the server has imported torch
(issue 13: the first minute). Arrays are cached in-process and read-only.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import math
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from aevae_core.data.registry import DatasetError

# fmt: off
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
MNIST_LIKE = {  # name: (torchvision class = folder name, class names)
    "mnist": ("MNIST", [str(d) for d in range(10)]),
    "fashion-mnist": ("FashionMNIST", ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                       "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]),
    "kmnist": ("KMNIST", ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]),
}
# fmt: on


def default_data_dir() -> Path:
    """$AEVAE_DATA_DIR if set, else ./data (resolved against the current directory)."""
    env = os.environ.get("AEVAE_DATA_DIR", "").strip()
    return Path(env).expanduser().resolve() if env else Path("data").resolve()


def val_count(n: int, val_fraction: float) -> int:
    """How many of ``n`` images a split puts in validation: round(n * val_fraction), at least
    one, and at least one left for training."""
    return min(max(1, round(n * val_fraction)), n - 1)


def capped(n: int, max_samples: int) -> int:
    """How many of ``n`` images a run uses: all, or ``max_samples`` of them."""
    return n if not max_samples or max_samples >= n else max_samples


def split_sizes(n: int, max_samples: int, val_fraction: float) -> tuple[int, int]:
    """(train, validation) sizes of ``n`` images split by the seed, after the cap."""
    total = capped(n, max_samples)
    n_val = val_count(total, val_fraction)
    return total - n_val, n_val


def data_root(data_dir: str | Path | None) -> Path:
    """``data_dir`` resolved, or ``default_data_dir()`` when None."""
    return Path(data_dir).expanduser().resolve() if data_dir is not None else default_data_dir()


def official_split_counts(n: int, n_val: int, max_samples: int) -> tuple[int, int]:
    """(train, validation) caps for a set with its own test split: ``max_samples`` shared in
    proportion; (0, 0) = no cap."""
    if not max_samples or max_samples >= n + n_val:
        return 0, 0
    k = min(max(1, round(max_samples * n / (n + n_val))), max_samples - 1)
    return k, max_samples - k


@functools.lru_cache(maxsize=1)
def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits: float32 (N,1,8,8) in [0,1], int64 labels (read-only)."""
    # Read the CSV that load_digits reads: importing sklearn itself takes ~1.5 s.
    spec = importlib.util.find_spec("sklearn")
    csv = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec else None
    if csv is not None and csv.is_file():
        table = np.loadtxt(csv, delimiter=",", dtype=np.float32)
        pixels, target = table[:, :-1], table[:, -1]
    else:
        from sklearn.datasets import load_digits

        pixels, target = load_digits(return_X_y=True)
    x = (np.asarray(pixels, dtype=np.float32) / 16.0).reshape(-1, 1, 8, 8)  # values 0..16
    y = np.asarray(target).astype(np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


# ----------------------------------------------------------------------------- MNIST-like


def find_idx(raw: Path, base: str) -> Path | None:
    return next((f for f in (raw / base, raw / f"{base}.gz") if f.is_file()), None)


def read_idx(file: Path, magic: int, ndim: int) -> np.ndarray:
    """Parse one IDX file (.gz or uncompressed): big-endian int32 header, then uint8 data."""
    try:
        with gzip.open(file, "rb") if file.suffix == ".gz" else open(file, "rb") as fh:
            blob = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"Cannot read {file} ({exc}); replace it with an intact copy.") from exc
    header = 4 + 4 * ndim
    if len(blob) < header or int.from_bytes(blob[:4], "big") != magic:
        raise DatasetError(f"{file} is not an IDX file (magic number is not {magic:#x}).")
    dims = [int.from_bytes(blob[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    if len(blob) - header != math.prod(dims):
        raise DatasetError(
            f"{file} is truncated or corrupt: its header says {dims} but it holds "
            f"{len(blob) - header} bytes of data. Replace it with an intact copy."
        )
    return np.frombuffer(blob, dtype=np.uint8, offset=header).reshape(dims)


@functools.lru_cache(maxsize=8)
def idx_pair(images: str, labels: str, _mtimes: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N,H,W), labels int64 (N,)); read-only, cached per files and mtimes."""
    x = read_idx(Path(images), 0x803, 3)
    y = read_idx(Path(labels), 0x801, 1).astype(np.int64)
    if len(x) != len(y):
        raise DatasetError(f"{images} holds {len(x)} images but {labels} {len(y)} labels.")
    y.setflags(write=False)
    return x, y


def present_splits(raw: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    splits = {}
    for split in ("train", "t10k"):
        images = find_idx(raw, f"{split}-images-idx3-ubyte")
        labels = find_idx(raw, f"{split}-labels-idx1-ubyte")
        if images and labels:
            mtimes = (images.stat().st_mtime_ns, labels.stat().st_mtime_ns)
            splits[split] = idx_pair(str(images), str(labels), mtimes)
    return splits


def preview(
    name: str,
    *,
    data_dir: str | Path | None = None,
    max_samples: int = 0,
    val_fraction: float = 0.1,
    n: int = 32,
) -> dict[str, Any] | None:
    """The first ``n`` images (float32 (n, C, H, W) in [0, 1]), the image shape, the train and
    validation sizes ``load_dataset`` would give, and the class names; without torch.

    Only for the built-in digits and MNIST-like files already on disk; None for any other
    set (or missing files): then only ``load_dataset`` can say.
    """
    if name == "digits":
        x, _ = digits_arrays()
        images, classes = x[:n], [str(d) for d in range(10)]
        sizes = split_sizes(len(x), max_samples, val_fraction)
    elif name in MNIST_LIKE:
        folder, classes = MNIST_LIKE[name]
        try:
            splits = present_splits(data_root(data_dir) / folder / "raw")
        except DatasetError:
            return None
        if not splits:
            return None
        if len(splits) == 1:
            ((x, _),) = splits.values()
            sizes = split_sizes(len(x), max_samples, val_fraction)
        else:
            x, x_val = splits["train"][0], splits["t10k"][0]
            k, k_val = official_split_counts(len(x), len(x_val), max_samples)
            sizes = (k or len(x), k_val or len(x_val))
        images = (x[:n].astype(np.float32) / 255.0)[:, None]
    else:
        return None
    return {
        "images": np.ascontiguousarray(images, dtype=np.float32),
        "shape": tuple(int(d) for d in images.shape[1:]),
        "n_train": int(sizes[0]),
        "n_val": int(sizes[1]),
        "classes": list(classes),
    }
