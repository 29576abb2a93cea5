"""Reports behind the Reconstructions page: anomaly detection by reconstruction error,
compression (code bytes vs the image's information in bytes), and turning a drawn or
uploaded picture into model input. Pure numpy.

    report = anomaly_report(errors_val, errors_ood, threshold)
    report["roc_auc"], report["precision"], report["recall"]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def anomaly_report(
    scores_in: np.ndarray, scores_out: np.ndarray, threshold: float
) -> dict[str, Any]:
    """Out-of-distribution detection by score (e.g. reconstruction error).

    Positive = out-of-distribution; an image is flagged when its score > threshold.
    precision/recall/f1 are 0.0 when nothing is flagged; ``default_threshold`` is the 95th
    percentile of the in-distribution scores (5% false alarms).
    """
    from sklearn.metrics import roc_auc_score, roc_curve

    s_in = np.asarray(scores_in, np.float64).reshape(-1)
    s_out = np.asarray(scores_out, np.float64).reshape(-1)
    if len(s_in) == 0 or len(s_out) == 0:
        raise ValueError("anomaly_report needs in- and out-of-distribution scores")
    tp = int((s_out > threshold).sum())
    fp = int((s_in > threshold).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / len(s_out)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    labels = np.r_[np.zeros(len(s_in)), np.ones(len(s_out))]
    scores = np.r_[s_in, s_out]
    fpr, tpr, thresholds = roc_curve(labels, scores)
    return {
        "threshold": float(threshold),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "false_positive_rate": fp / len(s_in),
        "flagged_in": fp,
        "flagged_out": tp,
        "n_in": len(s_in),
        "n_out": len(s_out),
        "roc_auc": float(roc_auc_score(labels, scores)),
        "fpr": fpr,
        "tpr": tpr,
        "thresholds": thresholds,
        "default_threshold": float(np.percentile(s_in, 95)),
    }


def pixel_levels(x: np.ndarray) -> int:
    """How many distinct values the pixels of ``x`` take: 17 for the 8x8 digits (0..16),
    256 for MNIST (uint8), 2 for the binary sprites. The data are float32 copies of small
    integers, so equal levels are exactly equal floats."""
    return int(np.unique(np.asarray(x)).size)


def compression_report(
    shape: tuple[int, int, int], latent_dim: int, mse: float, *, levels: int = 256
) -> dict:
    """Size of an image vs its code, and PSNR in dB from the MSE per pixel on [0, 1].

    The image's size is its information content if each of its values took any of
    ``levels`` levels with no structure: log2(levels) bits per value (Shannon 1948), e.g.
    4.09 bits for the 17 grey levels of the 8x8 digits, 8 bits (one byte) for MNIST. That is
    an upper bound: real images are compressible below it (PNG does). The code is
    ``latent_dim`` float32 (or float16) numbers. ``ratio_*`` = image / code: above 1 the
    code is smaller (``size_change`` words it). ``stored_bytes`` is one byte per value, as
    the datasets are stored.
    """
    if levels < 2:
        raise ValueError(f"levels must be at least 2 (distinct pixel values), got {levels}")
    n_values = int(math.prod(shape))
    bits_per_value = math.log2(levels)
    image_bytes = n_values * bits_per_value / 8
    f32, f16 = 4 * latent_dim, 2 * latent_dim
    return {
        "n_values": n_values,
        "levels": int(levels),
        "bits_per_value": bits_per_value,
        "image_bytes": image_bytes,
        "stored_bytes": n_values,
        "code_bytes_float32": f32,
        "code_bytes_float16": f16,
        "ratio_float32": image_bytes / f32,
        "ratio_float16": image_bytes / f16,
        "code_bits_per_pixel": 8 * f32 / n_values,
        "mse": float(mse),
        "psnr_db": 10 * math.log10(1.0 / mse) if mse > 0 else math.inf,
    }


def size_change(ratio: float) -> str:
    """A size ratio (image / code) in words: "4.1x smaller", "3.9x larger", "about the same
    size" (within 5%)."""
    if not ratio > 0:
        raise ValueError(f"ratio must be positive, got {ratio}")
    if 1 / 1.05 <= ratio <= 1.05:
        return "about the same size"
    return f"{ratio:.1f}x smaller" if ratio > 1 else f"{1 / ratio:.1f}x larger"


def embed_image(
    image: np.ndarray, shape: tuple[int, int, int], *, center: bool = False
) -> np.ndarray:
    """A drawn or uploaded picture -> (1, C, H, W) in [0, 1], as the model's data look.

    Rules: uint8 is divided by 255 (floats above 1 too); a transparent canvas (RGBA with some
    alpha < 1) is composited onto the background that contrasts with its strokes; colour
    becomes luminance for C = 1 (grey repeats for C = 3); the result is resized with PIL.
    Light backgrounds are inverted, because the datasets are light ink on dark: the background
    is the median of the border pixels and counts as light when > 0.5. ``center`` crops to the
    ink's bounding box and centres it in the middle 20/28 of the image, as MNIST was made.
    """
    from PIL import Image

    img = np.asarray(image)
    img = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)
    if img.max(initial=0.0) > 1.0:
        img = img / 255.0
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3 and img.shape[2] == 4:
        rgb, alpha = img[:, :, :3], img[:, :, 3:]
        if alpha.min() < 1.0:
            ink = rgb[alpha[:, :, 0] > 0.5]
            background = 1.0 if ink.size and ink.mean() < 0.5 else 0.0
            rgb = rgb * alpha + background * (1 - alpha)
        img = rgb
    if img.ndim != 2 and not (img.ndim == 3 and img.shape[2] == 3):
        raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got {img.shape}")
    c, h, w = shape
    if c == 1 and img.ndim == 3:
        img = img @ np.array([0.299, 0.587, 0.114], np.float32)
    elif c == 3 and img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    border = np.concatenate(
        [img[0].ravel(), img[-1].ravel(), img[:, 0].ravel(), img[:, -1].ravel()]
    )
    if np.median(border) > 0.5:
        img = 1.0 - img
    if center:
        img = _center_ink(img)
    pil = Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8))
    resized = np.asarray(pil.resize((w, h), Image.Resampling.LANCZOS), np.float32) / 255.0
    out = resized[None] if resized.ndim == 2 else resized.transpose(2, 0, 1)
    return np.ascontiguousarray(out[None], dtype=np.float32)


def _center_ink(img: np.ndarray) -> np.ndarray:
    """Crop to the ink's bounding box, pad to a square whose middle 20/28 holds the ink."""
    ink = img if img.ndim == 2 else img.mean(2)
    rows, cols = np.nonzero(ink > 0.1)
    if len(rows) == 0:
        return img
    crop = img[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    side = int(math.ceil(max(crop.shape[:2]) * 28 / 20))
    out = np.zeros((side, side, *img.shape[2:]), np.float32)
    top, left = (side - crop.shape[0]) // 2, (side - crop.shape[1]) // 2
    out[top : top + crop.shape[0], left : left + crop.shape[1]] = crop
    return out


def corrupt_images(x: np.ndarray, noise: float, noise_type: str, seed: int = 0) -> np.ndarray:
    """Gaussian noise of std ``noise`` clamped to [0, 1], or masking: each pixel set to 0 with
    probability ``noise``. The same as training's corruption, but deterministic by ``seed``."""
    if noise_type not in ("gaussian", "mask"):
        raise ValueError(f"noise_type must be 'gaussian' or 'mask', got {noise_type!r}")
    x = np.asarray(x, dtype=np.float32)
    if noise <= 0:
        return x.copy()
    rng = np.random.default_rng(seed)
    if noise_type == "mask":
        return x * (rng.random(x.shape, dtype=np.float32) >= noise)
    noisy = x + np.float32(noise) * rng.standard_normal(x.shape, dtype=np.float32)
    return np.clip(noisy, 0.0, 1.0)
