"""Dataset registry: a dataset name -> image tensors in [0, 1] shaped (N, C, H, W).

Embedded sets work offline (`digits` from scikit-learn, procedural dSprites-style
`sprites` with known generative factors); `mnist`, `fashion-mnist`, `kmnist` and
`cifar10` are read from the data directory (torchvision's layout) and downloaded there
only when absent; `custom` loads the user's own folder of PNG/JPEG files or an .npz.

    from aevae_core.data import load_dataset
    data = load_dataset("sprites", seed=0, max_samples=5000)
    data.train_x.shape  # (4500, 1, 32, 32)

Importing this module does no I/O; torchvision, scikit-learn and PIL are imported
lazily. Raw arrays of file-backed sets are cached in-process, but every returned
tensor is freshly allocated, so callers may modify it.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import logging
import math
import os
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

logger = logging.getLogger(__name__)


class DatasetError(ValueError):
    """Clear, user-facing message: names the problem and what is allowed."""


@dataclass
class Dataset:
    """Train/validation tensors of one dataset; images are float32 (N, C, H, W) in [0, 1]."""

    name: str
    train_x: torch.Tensor
    val_x: torch.Tensor
    train_y: torch.Tensor | None
    val_y: torch.Tensor | None
    class_names: list[str]
    factor_names: list[str] = field(default_factory=list)
    train_factors: torch.Tensor | None = None
    val_factors: torch.Tensor | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        c, h, w = self.train_x.shape[1:]
        return int(c), int(h), int(w)

    @property
    def n_pixels(self) -> int:
        c, h, w = self.shape
        return c * h * w

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, train={len(self.train_x)}, val={len(self.val_x)}, "
                f"shape={self.shape}, classes={len(self.class_names)}, "
                f"factors={self.factor_names})")


DATASET_NAMES: tuple[str, ...] = (
    "digits", "sprites", "mnist", "fashion-mnist", "kmnist", "cifar10", "custom")

DATASET_INFO: dict[str, dict] = {
    "digits": {"title": "Digits (8x8)", "shape": (1, 8, 8), "size": 1797, "download": False,
               "description": "Tiny 8x8 handwritten digits bundled with scikit-learn; "
                              "trains in seconds on any laptop."},
    "sprites": {"title": "Sprites (shapes)", "shape": (1, 32, 32), "size": 20000,
                "download": False,
                "description": "Generated squares, ellipses and triangles with known shape, "
                               "scale, rotation and position: see if the latents find them."},
    "mnist": {"title": "MNIST", "shape": (1, 28, 28), "size": 70000, "download": True,
              "description": "The classic 28x28 handwritten digits, 0 to 9."},
    "fashion-mnist": {"title": "Fashion-MNIST", "shape": (1, 28, 28), "size": 70000,
                      "download": True,
                      "description": "28x28 pictures of clothes and shoes in 10 categories."},
    "kmnist": {"title": "Kuzushiji-MNIST", "shape": (1, 28, 28), "size": 70000,
               "download": True,
               "description": "28x28 handwritten cursive Japanese characters in 10 classes."},
    "cifar10": {"title": "CIFAR-10", "shape": (3, 32, 32), "size": 60000, "download": True,
                "description": "Small 32x32 colour photos of 10 kinds of objects; "
                               "much harder to reconstruct."},
    "custom": {"title": "Your own images", "shape": None, "size": None, "download": False,
               "description": "A folder of PNG/JPEG images (sub-folders = classes) "
                              "or an .npz file of arrays."},
}

SPRITE_FACTORS = ["shape", "scale", "rotation", "x", "y"]
SPRITE_SHAPES = ["square", "ellipse", "triangle"]
_SPRITE_HALF_SIZE = 0.18  # object half-size as a fraction of the image, times scale
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_MNIST_LIKE = {  # name -> (torchvision class and folder name, class names)
    "mnist": ("MNIST", [str(d) for d in range(10)]),
    "fashion-mnist": ("FashionMNIST", ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                       "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]),
    "kmnist": ("KMNIST", ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]),
}
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg"}
_MIN_SIDE, _MAX_SIDE = 4, 256


def default_data_dir() -> Path:
    """$AEVAE_DATA_DIR if set, else ./data (resolved against the current directory)."""
    env = os.environ.get("AEVAE_DATA_DIR", "").strip()
    return Path(env).expanduser().resolve() if env else Path("data").resolve()


def load_dataset(name: str, *, data_dir: str | Path | None = None, seed: int = 0,
                 val_fraction: float = 0.1, path: str | Path | None = None,
                 max_samples: int = 0, download: bool = True) -> Dataset:
    """Load a dataset by name and split it into train/validation deterministically.

    max_samples > 0 caps the total number of images used (taken deterministically from
    the seed before splitting). path is required for name == 'custom' (a folder of
    PNG/JPEG or an .npz file). For MNIST-like sets holding both official splits, the
    official test split is the validation set and val_fraction is ignored.
    """
    key = str(name).strip().lower().replace("_", "-")
    if key not in DATASET_NAMES:
        raise DatasetError(f"Unknown dataset {name!r}; choose one of: {', '.join(DATASET_NAMES)}.")
    if not (isinstance(val_fraction, (int, float)) and 0 < val_fraction <= 0.5):
        raise DatasetError(f"val_fraction must be in (0, 0.5], got {val_fraction!r}.")
    if int(max_samples) < 0 or int(max_samples) == 1:
        raise DatasetError(f"max_samples must be 0 (no cap) or at least 2, got {max_samples}.")
    max_samples = int(max_samples)
    root = Path(data_dir).expanduser().resolve() if data_dir is not None else default_data_dir()
    factors, class_names, factor_names = None, [], []

    if key == "digits":
        x_np, y_np = _digits_arrays()
        x, y = torch.from_numpy(x_np.copy()).unsqueeze(1), torch.from_numpy(y_np.copy())
        class_names = [str(d) for d in range(10)]
    elif key == "sprites":
        n = min(max_samples, 20000) if max_samples else 20000
        x, factors = generate_sprites(n, seed=seed)
        y, class_names, factor_names = factors[:, 0].long(), list(SPRITE_SHAPES), SPRITE_FACTORS[:]
    elif key in _MNIST_LIKE:
        return _load_mnist_like(key, root, seed, val_fraction, max_samples, download)
    elif key == "cifar10":
        x_np, y_np, class_names = _load_cifar10(root, download)
        x, y = _images_to_float(x_np), torch.from_numpy(y_np)
    else:
        if path is None:
            raise DatasetError("The 'custom' dataset needs a path: a folder of PNG/JPEG images "
                               "or an .npz file.")
        x, y, class_names = load_images(path)

    x, y, factors = _cap(x, y, factors, max_samples, seed)
    (train_x, train_y, train_f), (val_x, val_y, val_f) = _split(x, y, factors, seed, val_fraction)
    logger.info("loaded %s: %d train, %d val, shape %s", key, len(train_x), len(val_x),
                tuple(x.shape[1:]))
    return Dataset(key, train_x, val_x, train_y, val_y, class_names, factor_names,
                   train_f, val_f)


# ----------------------------------------------------------------------------- helpers

def _images_to_float(arr: np.ndarray) -> torch.Tensor:
    """uint8 (N,H,W) or (N,H,W,C) -> new float32 (N,C,H,W) tensor in [0, 1]."""
    t = torch.from_numpy(arr.astype(np.float32)).div_(255.0)  # astype copies: writable
    return (t.unsqueeze(1) if t.ndim == 3 else t.permute(0, 3, 1, 2)).contiguous()


def _subset_indices(n: int, k: int, seed: int) -> torch.Tensor:
    """k of n indices, deterministic from seed, in ascending order."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 7919))
    return perm[:k].sort().values


def _take(t: torch.Tensor | None, idx: torch.Tensor) -> torch.Tensor | None:
    return None if t is None else t[idx].contiguous()


def _cap(x, y, factors, max_samples: int, seed: int):
    if not max_samples or max_samples >= len(x):
        return x, y, factors
    idx = _subset_indices(len(x), max_samples, seed)
    return x[idx].contiguous(), _take(y, idx), _take(factors, idx)


def _split(x, y, factors, seed: int, val_fraction: float):
    """Seeded permutation; the first round(N * val_fraction) (at least 1) go to validation."""
    n = len(x)
    if n < 2:
        raise DatasetError(f"Need at least 2 images to make a train/validation split, got {n}.")
    n_val = min(max(1, round(n * val_fraction)), n - 1)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    parts = []
    for idx in (perm[n_val:], perm[:n_val]):
        parts.append((x[idx].contiguous(), _take(y, idx), _take(factors, idx)))
    return parts


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as float32 (N,8,8) in [0,1] and int64 labels (read-only)."""
    # Read the CSV that load_digits reads: importing sklearn itself costs ~1.5 s.
    spec = importlib.util.find_spec("sklearn")
    csv = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec else None
    if csv is not None and csv.is_file():
        table = np.loadtxt(csv, delimiter=",", dtype=np.float32)
        pixels, target = table[:, :-1], table[:, -1]
    else:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        pixels, target = bunch.data, bunch.target
    x = (np.asarray(pixels, dtype=np.float32) / 16.0).reshape(-1, 8, 8)  # values are 0..16
    y = np.asarray(target).astype(np.int64)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


# ----------------------------------------------------------------------------- sprites

def generate_sprites(n: int = 20000, *, seed: int = 0,
                     size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """dSprites-style shapes: images float32 (n,1,size,size) in {0,1}, factors float32 (n,5).

    Factor columns: shape (0=square, 1=ellipse, 2=triangle, as float), scale in [0.5, 1],
    rotation in [0, 2*pi) radians, x and y (centre column/row as a fraction of the image,
    in [0.2, 0.8]). Factors are drawn row by row, so the first k of n equal those of k.
    """
    if int(n) < 1 or int(size) < 4:
        raise DatasetError(f"generate_sprites needs n >= 1 and size >= 4, got n={n}, size={size}.")
    u = torch.rand(int(n), 5, generator=torch.Generator().manual_seed(seed))
    factors = torch.stack([
        torch.clamp(torch.floor(u[:, 0] * 3), max=2),
        0.5 + 0.5 * u[:, 1],
        2 * math.pi * u[:, 2],
        0.2 + 0.6 * u[:, 3],
        0.2 + 0.6 * u[:, 4],
    ], dim=1)
    return render_sprites(factors, size=size), factors


def render_sprites(factors: torch.Tensor, *, size: int = 32,
                   chunk: int = 2000) -> torch.Tensor:
    """Rasterise factor rows (shape, scale, rotation, x, y) to (n,1,size,size) float32.

    Each pixel centre is moved into the shape's rotated local frame (u, v) and tested
    against the shape's implicit inside-function, vectorised over a chunk of images.
    """
    factors = factors.to(torch.float32)
    n = len(factors)
    images = torch.zeros(n, 1, size, size)
    centres = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    grid_x, grid_y = centres.view(1, 1, size), centres.view(1, size, 1)
    # Triangle: equilateral, circumradius 1.3*s (similar area to the other shapes);
    # inside = all three edge half-planes; edge normals at 90, 210, 330 degrees.
    angles = torch.tensor([math.pi / 2, math.pi / 2 + 2 * math.pi / 3,
                           math.pi / 2 + 4 * math.pi / 3])
    normals = torch.stack([angles.cos(), angles.sin()], dim=1)
    for start in range(0, n, chunk):
        f = factors[start:start + chunk]
        s = (_SPRITE_HALF_SIZE * f[:, 1]).view(-1, 1, 1)
        cos, sin = f[:, 2].cos().view(-1, 1, 1), f[:, 2].sin().view(-1, 1, 1)
        dx, dy = grid_x - f[:, 3].view(-1, 1, 1), grid_y - f[:, 4].view(-1, 1, 1)
        u, v = cos * dx + sin * dy, cos * dy - sin * dx
        shape = f[:, 0].round().long().view(-1, 1, 1)
        square = torch.maximum(u.abs(), v.abs()) <= s
        ellipse = (u / s) ** 2 + (v / (0.6 * s)) ** 2 <= 1
        inradius = 0.5 * 1.3 * s
        triangle = ((u * normals[0, 0] + v * normals[0, 1] <= inradius)
                    & (u * normals[1, 0] + v * normals[1, 1] <= inradius)
                    & (u * normals[2, 0] + v * normals[2, 1] <= inradius))
        inside = torch.where(shape == 0, square, torch.where(shape == 1, ellipse, triangle))
        images[start:start + chunk, 0] = inside.float()
    return images


# ----------------------------------------------------------------------------- MNIST-like

def _find_idx(raw: Path, base: str) -> Path | None:
    for candidate in (raw / base, raw / f"{base}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _read_idx(file: Path, magic: int, ndim: int) -> np.ndarray:
    """Parse one IDX file (.gz or uncompressed): big-endian header, then uint8 data."""
    try:
        with (gzip.open(file, "rb") if file.suffix == ".gz" else open(file, "rb")) as fh:
            blob = fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(f"Cannot read {file}: {exc}. Delete it and place an intact copy "
                           f"there.") from exc
    header = 4 + 4 * ndim
    if len(blob) < header or int.from_bytes(blob[:4], "big") != magic:
        raise DatasetError(f"{file} is not a valid IDX file (wrong magic number; expected "
                           f"{magic:#010x}). Delete it and place an intact copy there.")
    dims = [int.from_bytes(blob[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    if len(blob) - header != math.prod(dims):
        raise DatasetError(f"{file} is truncated or corrupt: header says {dims} but it holds "
                           f"{len(blob) - header} bytes of data. Replace it with an intact copy.")
    return np.frombuffer(blob, dtype=np.uint8, offset=header).reshape(dims)


@functools.lru_cache(maxsize=8)
def _idx_pair(images: str, labels: str, _mtimes: tuple) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N,H,W), labels int64 (N,)); read-only arrays, cached per file + mtime."""
    x = _read_idx(Path(images), 0x803, 3)
    y = _read_idx(Path(labels), 0x801, 1).astype(np.int64)
    if len(x) != len(y):
        raise DatasetError(f"{images} holds {len(x)} images but {labels} holds {len(y)} labels; "
                           "the files do not belong together.")
    y.setflags(write=False)
    return x, y


def _present_splits(raw: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    splits = {}
    for split in ("train", "t10k"):
        images = _find_idx(raw, f"{split}-images-idx3-ubyte")
        labels = _find_idx(raw, f"{split}-labels-idx1-ubyte")
        if images and labels:
            mtimes = (images.stat().st_mtime_ns, labels.stat().st_mtime_ns)
            splits[split] = _idx_pair(str(images), str(labels), mtimes)
    return splits


def _load_mnist_like(key: str, root: Path, seed: int, val_fraction: float,
                     max_samples: int, download: bool) -> Dataset:
    folder, class_names = _MNIST_LIKE[key]
    raw = root / folder / "raw"
    splits = _present_splits(raw)
    problem = "downloading was switched off"
    if not splits and download:
        problem = _download_torchvision(folder, root)
        splits = _present_splits(raw)
    if not splits:
        raise DatasetError(
            f"{DATASET_INFO[key]['title']} files not found in {raw}: expected "
            f"{', '.join(_IDX_FILES)} (each may end in .gz; one split, images + labels, is "
            f"enough), and {problem}. Place the files there, or set AEVAE_DATA_DIR to a "
            f"folder that contains {folder}/raw/.")

    def tensors(arrays, k: int | None):
        x, y = _images_to_float(arrays[0]), torch.from_numpy(arrays[1].copy())
        return (x, y, None) if k is None else _cap(x, y, None, k, seed)

    if len(splits) == 2:
        (n_train, n_val) = (len(splits["train"][0]), len(splits["t10k"][0]))
        k_train = k_val = None
        if max_samples and max_samples < n_train + n_val:
            k_train = min(max(1, round(max_samples * n_train / (n_train + n_val))), max_samples - 1)
            k_val = max_samples - k_train
        (train_x, train_y, _), (val_x, val_y, _) = (
            tensors(splits["train"], k_train), tensors(splits["t10k"], k_val))
    else:
        x, y, _ = tensors(next(iter(splits.values())), max_samples or None)
        (train_x, train_y, _), (val_x, val_y, _) = _split(x, y, None, seed, val_fraction)
    logger.info("loaded %s from %s: %d train, %d val", key, raw, len(train_x), len(val_x))
    return Dataset(key, train_x, val_x, train_y, val_y, list(class_names))


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
        return f"downloading failed ({type(exc).__name__}: {exc})"


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
    expected = "data_batch_1..5, test_batch and batches.meta"
    if folder.exists():  # never touch the network when files are present
        try:
            return _cifar_arrays(str(root))
        except Exception as exc:
            raise DatasetError(f"CIFAR-10 files in {folder} are incomplete or corrupt ({exc}); "
                               f"expected {expected}. Delete the folder to download it again "
                               "or replace the files.") from exc
    problem = _download_torchvision("CIFAR10", root) if download else "downloading was off"
    if not problem and folder.exists():
        return _load_cifar10(root, download=False)
    raise DatasetError(f"CIFAR-10 not found: expected {expected} in {folder}, and "
                       f"{problem or 'the download left no files'}. Place the files there, or "
                       "set AEVAE_DATA_DIR to a folder containing cifar-10-batches-py/.")


# ----------------------------------------------------------------------------- custom

def load_images(path: str | Path, *, size: int | None = None, max_bytes: int = 200 * 2**20,
                max_images: int = 50000) -> tuple[torch.Tensor, torch.Tensor | None, list[str]]:
    """The user's own images: a folder of PNG/JPEG files or an .npz.

    A folder holds image files directly (no labels) or one sub-folder of images per class.
    Returns (images (N,C,H,W) float32 in [0,1], int64 labels or None, class_names).
    `size` resizes everything to size x size; otherwise images keep their (most common)
    size, which must lie between 4x4 and 256x256. Bad input raises DatasetError.
    """
    p = Path(path).expanduser()
    if size is not None and not (_MIN_SIDE <= int(size) <= 1024):
        raise DatasetError(f"size must be between {_MIN_SIDE} and 1024 pixels, got {size}.")
    if not p.exists():
        raise DatasetError(f"{p} does not exist; give a folder of PNG/JPEG images or an .npz file.")
    if p.is_dir():
        return _load_folder(p, size, max_bytes, max_images)
    if p.suffix.lower() == ".npz":
        return _load_npz(p, size, max_bytes, max_images)
    raise DatasetError(f"{p.name} is not supported: give a folder of PNG/JPEG images "
                       "or an .npz file.")


def _image_files(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir()
                  if f.is_file() and f.suffix.lower() in _IMAGE_SUFFIXES)


def _load_folder(folder: Path, size: int | None, max_bytes: int, max_images: int):
    files, labels, class_names = _image_files(folder), None, []
    if not files:
        subdirs = sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
        per_class = [(d.name, _image_files(d)) for d in subdirs]
        per_class = [(name, fs) for name, fs in per_class if fs]
        if not per_class:
            raise DatasetError(f"No PNG/JPEG images found in {folder} (nor in its sub-folders); "
                               "allowed files end in .png, .jpg or .jpeg.")
        class_names = [name for name, _ in per_class]
        files = [f for _, fs in per_class for f in fs]
        labels = torch.tensor([i for i, (_, fs) in enumerate(per_class) for _ in fs])
    if len(files) > max_images:
        raise DatasetError(f"{folder} holds {len(files)} images; at most {max_images} allowed.")
    total = sum(f.stat().st_size for f in files)
    if total > max_bytes:
        raise DatasetError(f"The images in {folder} take {total / 2**20:.1f} MiB; at most "
                           f"{max_bytes / 2**20:.0f} MiB allowed.")
    if len(files) < 2:
        raise DatasetError(f"{folder} holds {len(files)} image; at least 2 are needed.")
    images = [_open_image(f) for f in files]
    mode = "L" if all(im.mode in ("1", "L", "LA", "I", "I;16", "F") for im in images) else "RGB"
    if size is not None:
        target = (int(size), int(size))
    else:
        target = Counter(im.size for im in images).most_common(1)[0][0]
        if not all(_MIN_SIDE <= side <= _MAX_SIDE for side in target):
            raise DatasetError(f"Most images in {folder} are {target[0]}x{target[1]} pixels; "
                               f"allowed are {_MIN_SIDE}x{_MIN_SIDE} to {_MAX_SIDE}x{_MAX_SIDE} "
                               "(or choose a size to resize to).")
    arrays = []
    for f, im in zip(files, images):
        try:
            im = _to_mode(im, mode)
            if im.size != target:
                im = im.resize(target, resample=_bilinear())
            arrays.append(np.asarray(im, dtype=np.uint8))
        except Exception as exc:
            raise DatasetError(f"Could not convert image {f.name}: {exc}") from exc
    return _images_to_float(np.stack(arrays)), labels, class_names


def _bilinear():
    from PIL import Image

    return Image.Resampling.BILINEAR


def _to_mode(im, mode: str):
    if mode == "L" and im.mode in ("I", "I;16", "F"):  # 16-bit/float grey: rescale, not clip
        arr = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if im.mode.startswith("I") and arr.max() > 255 else 255.0
        hi = 1.0 if im.mode == "F" and arr.max() <= 1.0 else hi
        from PIL import Image

        return Image.fromarray(np.clip(arr / hi * 255.0, 0, 255).astype(np.uint8), "L")
    return im.convert(mode)


def _open_image(file: Path):
    from PIL import Image

    try:
        with Image.open(file) as im:
            im.verify()
        with Image.open(file) as im:
            im.load()
            return im.copy()
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, bomb errors...
        raise DatasetError(f"{file.name} is not a readable PNG/JPEG image ({exc}); "
                           "remove or replace it.") from exc


def _load_npz(p: Path, size: int | None, max_bytes: int, max_images: int):
    nbytes = os.path.getsize(p)
    if nbytes > max_bytes:
        raise DatasetError(f"{p.name} is {nbytes / 2**20:.1f} MiB; at most "
                           f"{max_bytes / 2**20:.0f} MiB allowed.")
    with open(p, "rb") as fh:
        if fh.read(2) != b"PK":
            raise DatasetError(f"{p.name} is not a valid .npz file (save it with numpy.savez).")
    try:
        with np.load(p, allow_pickle=False) as archive:
            keys = list(archive.files)
            if not keys:
                raise DatasetError(f"{p.name} contains no arrays; save images under key 'x'.")
            x_key = next((k for k in ("x", "images") if k in keys), keys[0])
            y_key = next((k for k in ("y", "labels") if k in keys and k != x_key), None)
            x = archive[x_key]
            y = archive[y_key] if y_key else None
    except DatasetError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise DatasetError(f"{p.name} contains Python objects (pickle), which is not allowed "
                               "for safety; save plain numeric arrays.") from exc
        raise DatasetError(f"{p.name} could not be read as an .npz file: {exc}") from exc
    except Exception as exc:
        raise DatasetError(f"{p.name} could not be read as an .npz file: {exc}") from exc
    images = _validate_npz_images(x, x_key, size, max_images)
    labels, class_names = (None, []) if y is None else _validate_labels(y, y_key, len(images))
    return images, labels, class_names


def _validate_npz_images(x: np.ndarray, key: str, size: int | None,
                         max_images: int) -> torch.Tensor:
    where = f"Array '{key}'"
    if x.dtype.kind not in "uif":
        raise DatasetError(f"{where} has dtype {x.dtype}; allowed are uint8 (0..255) or "
                           "float (0..1).")
    if x.ndim not in (3, 4):
        raise DatasetError(f"{where} has shape {x.shape}; allowed are (N,H,W), (N,H,W,C) or "
                           "(N,C,H,W) with C = 1 or 3.")
    if x.size == 0:
        raise DatasetError(f"{where} is empty (shape {x.shape}); it needs at least 2 images.")
    if x.ndim == 3:
        x = x[:, None]
    elif x.shape[1] not in (1, 3) and x.shape[3] in (1, 3):
        x = x.transpose(0, 3, 1, 2)
    elif x.shape[1] not in (1, 3):
        raise DatasetError(f"{where} has shape {x.shape}: the channel axis must hold 1 or 3 "
                           "channels, as (N,H,W,C) or (N,C,H,W).")
    n, _, h, w = x.shape
    if n < 2:
        raise DatasetError(f"{where} holds {n} image; at least 2 are needed.")
    if n > max_images:
        raise DatasetError(f"{where} holds {n} images; at most {max_images} allowed.")
    if size is None and not (_MIN_SIDE <= h <= _MAX_SIDE and _MIN_SIDE <= w <= _MAX_SIDE):
        raise DatasetError(f"{where} has {h}x{w} images; allowed are {_MIN_SIDE}x{_MIN_SIDE} "
                           f"to {_MAX_SIDE}x{_MAX_SIDE} (or choose a size to resize to).")
    if x.dtype.kind == "f":
        if not np.isfinite(x).all():
            raise DatasetError(f"{where} contains NaN or infinite values; allowed are finite "
                               "floats in [0, 1].")
        if x.min() < 0 or x.max() > 1:
            raise DatasetError(f"{where} has float values in [{x.min():.3g}, {x.max():.3g}]; "
                               "allowed are floats in [0, 1] or uint8 0..255.")
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).clone()
    else:
        if x.min() < 0 or x.max() > 255:
            raise DatasetError(f"{where} has integer values in [{x.min()}, {x.max()}]; "
                               "allowed are 0..255 (uint8) or floats in [0, 1].")
        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)) / 255.0
    if size is not None and (h, w) != (size, size):
        t = torch.nn.functional.interpolate(t, size=(int(size), int(size)), mode="bilinear",
                                            align_corners=False, antialias=True).clamp_(0, 1)
    return t.contiguous()


def _validate_labels(y: np.ndarray, key: str, n: int) -> tuple[torch.Tensor, list[str]]:
    if y.ndim != 1 or len(y) != n:
        raise DatasetError(f"Labels '{key}' have shape {y.shape}; expected one label per image, "
                           f"shape ({n},).")
    if y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all():
        y = y.astype(np.int64)
    if y.dtype.kind not in "iuU":
        raise DatasetError(f"Labels '{key}' have dtype {y.dtype}; allowed are integers or "
                           "strings.")
    values, inverse = np.unique(y, return_inverse=True)
    return torch.from_numpy(inverse.astype(np.int64).reshape(-1)), [str(v) for v in values]
