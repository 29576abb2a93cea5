"""Datasets: a dataset name -> image tensors in [0, 1] shaped (N, C, H, W).

Embedded sets work offline (`digits` from scikit-learn, procedural dSprites-style
`sprites` with known generative factors); `mnist`, `fashion-mnist`, `kmnist` and
`cifar10` are read from the data directory (torchvision's layout) and downloaded there
only when absent; `custom` loads the user's own folder of PNG/JPEG files or an .npz.

    from aevae_core.data.datasets import load_dataset
    data = load_dataset("sprites", seed=0, max_samples=5000)
    data.train_x.shape  # (4500, 1, 32, 32)

Importing this module does no I/O; torchvision, scikit-learn and PIL are imported
lazily. Raw arrays of file-backed sets are cached in-process, but every returned
tensor is freshly allocated, so callers may modify it. Bad user data raises
DatasetError with a message meant for the user.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from aevae_core.data.arrays import (
    IDX_FILES,
    MNIST_LIKE,
    capped,
    data_root,
    digits_arrays,
    find_idx,
    official_split_counts,
    present_splits,
    val_count,
)
from aevae_core.data.registry import DATASET_INFO, DATASET_NAMES, DatasetError
from aevae_core.data.sprites import SPRITE_FACTORS, SPRITE_SHAPES, generate_sprites
from aevae_core.data.user_images import load_images, uint8_to_float

logger = logging.getLogger(__name__)


@dataclass
class Dataset:
    """Train/validation tensors of one dataset; images are float32 (N, C, H, W) in [0, 1]."""

    name: str
    train_x: torch.Tensor
    val_x: torch.Tensor
    train_y: torch.Tensor | None  # int64 (N,), None when unlabelled
    val_y: torch.Tensor | None
    class_names: list[str]
    factor_names: list[str] = field(default_factory=list)
    train_factors: torch.Tensor | None = None  # float32 (N, F) generative factors
    val_factors: torch.Tensor | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        c, h, w = self.train_x.shape[1:]
        return int(c), int(h), int(w)

    @property
    def n_pixels(self) -> int:
        return math.prod(self.shape)

    def __repr__(self) -> str:  # the default would print whole tensors
        return (
            f"Dataset({self.name!r}, train={len(self.train_x)}, val={len(self.val_x)}, "
            f"shape={self.shape}, classes={len(self.class_names)}, factors={self.factor_names})"
        )


def load_dataset(
    name: str,
    *,
    data_dir: str | Path | None = None,
    seed: int = 0,
    val_fraction: float = 0.1,
    path: str | Path | None = None,
    max_samples: int = 0,
    download: bool = True,
) -> Dataset:
    """Load a dataset by name and split it into train/validation deterministically.

    max_samples > 0 caps the total number of images used (taken deterministically from
    the seed before splitting). path is required for name == 'custom' (a folder of
    PNG/JPEG or an .npz file). MNIST-like sets holding both official splits use the
    official test split for validation (val_fraction ignored, max_samples shared
    proportionally). Returned tensors are new copies that callers may modify.
    """
    key = str(name).strip().lower().replace("_", "-")
    if key not in DATASET_NAMES:
        raise DatasetError(f"Unknown dataset {name!r}; choose one of: {', '.join(DATASET_NAMES)}.")
    if not (isinstance(val_fraction, (int, float)) and 0 < val_fraction <= 0.5):
        raise DatasetError(f"val_fraction must be in (0, 0.5], got {val_fraction!r}.")
    max_samples = int(max_samples)
    if max_samples < 0 or max_samples == 1:
        raise DatasetError(f"max_samples must be 0 (no cap) or at least 2, got {max_samples}.")
    root = data_root(data_dir)
    factors, factor_names = None, []
    if key == "digits":
        x, y = digits_arrays()
        class_names = [str(d) for d in range(10)]
    elif key == "sprites":  # generate only what is needed; the draw is already random
        x, factors = generate_sprites(min(max_samples or 20000, 20000), seed=seed)
        y, class_names, factor_names = factors[:, 0].long(), SPRITE_SHAPES, SPRITE_FACTORS
    elif key in MNIST_LIKE:
        return _load_mnist_like(key, root, seed, val_fraction, max_samples, download)
    elif key == "cifar10":
        x, y, class_names = _load_cifar10(root, download)
    elif path is None:
        raise DatasetError("The 'custom' dataset needs a path: a folder of images or an .npz.")
    else:
        x, y, class_names = load_images(path)
    idx = _split_indices(_cap_indices(len(x), max_samples, seed), seed, val_fraction)
    return _assemble(key, (x, y, factors), (x, y, factors), idx, class_names, factor_names)


# ----------------------------------------------------------------------------- helpers


def _cap_indices(n: int, max_samples: int, seed: int) -> torch.Tensor:
    """All n indices, or max_samples of them chosen by seed (ascending)."""
    if capped(n, max_samples) == n:
        return torch.arange(n)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 7919))
    return perm[:max_samples].sort().values


def _split_indices(idx: torch.Tensor, seed: int, val_fraction: float) -> list[torch.Tensor]:
    """[train, val] of idx by a seeded permutation; round(N * val_fraction) >= 1 are val."""
    n = len(idx)
    if n < 2:
        raise DatasetError(f"Need at least 2 images to make a train/validation split, got {n}.")
    n_val = val_count(n, val_fraction)
    perm = idx[torch.randperm(n, generator=torch.Generator().manual_seed(seed))]
    return [perm[n_val:], perm[:n_val]]


def _take(a: np.ndarray | torch.Tensor | None, idx: torch.Tensor) -> torch.Tensor | None:
    """Fresh contiguous rows of a tensor or array; uint8 images become float (N,C,H,W)."""
    if a is None or isinstance(a, torch.Tensor):
        return None if a is None else a[idx].contiguous()
    rows = a[idx.numpy()]  # fancy indexing copies, so a cached array is never exposed
    return uint8_to_float(rows) if rows.dtype == np.uint8 else torch.from_numpy(rows)


def _assemble(name, train, val, idx, class_names, factor_names=()) -> Dataset:
    """train/val: (images, labels, factors) sources; idx: [train rows, val rows]."""
    (tx, ty, tf), (vx, vy, vf) = (
        [_take(a, i) for a in src] for src, i in zip((train, val), idx, strict=True)
    )
    data = Dataset(name, tx, vx, ty, vy, list(class_names), list(factor_names), tf, vf)
    logger.info("loaded %r", data)
    return data


# ----------------------------------------------------------------------------- MNIST-like


def _load_mnist_like(key, root: Path, seed, val_fraction, max_samples, download) -> Dataset:
    folder, class_names = MNIST_LIKE[key]
    raw = root / folder / "raw"
    splits, problem = present_splits(raw), "downloading was switched off"
    if any(find_idx(raw, base) for base in IDX_FILES):
        problem = "some files are there but no split has both its images and labels"
    elif download:  # never touch the network when any file is present
        problem = _download_torchvision(folder, root) or "the download left no files"
        splits = present_splits(raw)
    if not splits:
        raise DatasetError(
            f"{DATASET_INFO[key]['title']} files not found in {raw}: expected "
            f"{', '.join(IDX_FILES)} (each may end in .gz; one split, images + labels, is "
            f"enough), and {problem}. Place the files there, or set AEVAE_DATA_DIR to a "
            f"folder that contains {folder}/raw/."
        )
    if len(splits) == 1:
        ((x, y),) = splits.values()
        idx = _split_indices(_cap_indices(len(x), max_samples, seed), seed, val_fraction)
        return _assemble(key, (x, y, None), (x, y, None), idx, class_names)
    (x, y), (x_val, y_val) = splits["train"], splits["t10k"]  # official split
    k, k_val = official_split_counts(len(x), len(x_val), max_samples)
    idx = [_cap_indices(len(x), k, seed), _cap_indices(len(x_val), k_val, seed)]
    return _assemble(key, (x, y, None), (x_val, y_val, None), idx, class_names)


def _download_torchvision(class_name: str, root: Path) -> str:
    """Try torchvision's downloader for both splits; return what went wrong (or '')."""
    try:
        import torchvision.datasets as tvd

        root.mkdir(parents=True, exist_ok=True)
        for train in (True, False):
            getattr(tvd, class_name)(str(root), train=train, download=True)
        return ""
    except Exception as exc:  # network errors come in many types; report, don't crash
        logger.warning("download of %s into %s failed: %s", class_name, root, exc)
        return f"downloading failed ({type(exc).__name__}: {' '.join(str(exc).split())[:300]})"


# ----------------------------------------------------------------------------- CIFAR-10


@functools.lru_cache(maxsize=2)
def _cifar_arrays(root: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    import torchvision.datasets as tvd

    parts = [tvd.CIFAR10(root, train=train, download=False) for train in (True, False)]
    x = np.concatenate([p.data for p in parts])  # (N, 32, 32, 3) uint8
    y = np.concatenate([np.asarray(p.targets, dtype=np.int64) for p in parts])
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y, list(parts[0].classes)


def _load_cifar10(root: Path, download: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    folder = root / "cifar-10-batches-py"
    expected = f"data_batch_1..5, test_batch and batches.meta in {folder}"
    if folder.exists():  # never touch the network when files are present
        try:
            return _cifar_arrays(str(root))
        except Exception as exc:
            raise DatasetError(
                f"CIFAR-10 files are incomplete or corrupt ({exc}); expected {expected}. "
                "Replace them, or delete the folder to download it again."
            ) from exc
    problem = _download_torchvision("CIFAR10", root) if download else "downloading was off"
    if not problem and folder.exists():
        return _load_cifar10(root, download=False)
    raise DatasetError(
        f"CIFAR-10 not found: expected {expected}, and {problem or 'the download left no files'}"
        ". Place the files there, or set AEVAE_DATA_DIR to a folder containing them."
    )
