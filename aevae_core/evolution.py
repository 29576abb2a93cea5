"""The latent space over training as an animated GIF: each epoch's projected codes drawn as
coloured dots with PIL on fixed axes (no kaleido or browser needed). Re-exported by
``aevae_core.projection``.

    proj = projection_for_run(store, run_id, "pca")
    frames = [proj.transform(store.read_snapshot(run_id, e)["codes"]) for e in epochs]
    gif_bytes = evolution_gif(frames, labels, titles=[f"epoch {e}" for e in epochs])
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np


def axis_ranges(
    frames: Sequence[np.ndarray], margin: float = 0.05
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Fixed (x, y) axis ranges that hold every frame's points, with a margin."""
    allc = np.concatenate([np.asarray(f, np.float64).reshape(-1, 2) for f in frames])
    allc = allc[np.isfinite(allc).all(1)]
    if len(allc) == 0:
        return (-1.0, 1.0), (-1.0, 1.0)
    lo, hi = allc.min(0), allc.max(0)
    pad = np.maximum((hi - lo) * margin, 1e-3)
    return (float(lo[0] - pad[0]), float(hi[0] + pad[0])), (
        float(lo[1] - pad[1]),
        float(hi[1] + pad[1]),
    )


def evolution_gif(
    frames: list[np.ndarray],
    labels: np.ndarray | None,
    *,
    size: int = 400,
    duration_ms: int = 400,
    titles: Sequence[str] | None = None,
    ranges: tuple[tuple[float, float], tuple[float, float]] | None = None,
) -> bytes:
    """An animated GIF of the scatter across epochs, on fixed axes (drawn with PIL).

    Integer labels get the class colours of ``figures.latent_scatter``; float labels
    (e.g. a sprites factor) a viridis ramp. ``titles`` default to "epoch 1", "epoch 2", ...
    """
    from PIL import Image, ImageDraw

    from aevae_core.charts import CLASS_COLORS, VIRIDIS

    if not frames:
        raise ValueError("evolution_gif needs at least one frame")
    (x0, x1), (y0, y1) = ranges or axis_ranges(frames)
    n = len(frames[0])
    colors, palette = _point_colors(labels, n, CLASS_COLORS, VIRIDIS)
    flat_palette = [255, 255, 255, 200, 200, 200, 40, 40, 40]
    for hex_color in palette:
        flat_palette += [int(hex_color[i : i + 2], 16) for i in (1, 3, 5)]
    order = np.random.default_rng(0).permutation(n)  # no class always drawn on top
    top, pad, r = 22, 6, max(1.5, size / 200)
    images = []
    for i, coords in enumerate(frames):
        img = Image.new("P", (size, size), 0)
        img.putpalette(flat_palette)
        draw = ImageDraw.Draw(img)
        draw.rectangle([pad - 1, top - 1, size - pad, size - pad], outline=1)
        c = np.asarray(coords, np.float64)
        px = pad + (c[:, 0] - x0) / max(x1 - x0, 1e-12) * (size - 2 * pad)
        py = size - pad - (c[:, 1] - y0) / max(y1 - y0, 1e-12) * (size - top - pad)
        for j in order:
            if np.isfinite(px[j]) and np.isfinite(py[j]):
                draw.ellipse([px[j] - r, py[j] - r, px[j] + r, py[j] + r], fill=3 + int(colors[j]))
        draw.text((pad, 4), titles[i] if titles else f"epoch {i + 1}", fill=2)
        images.append(img)
    buf = io.BytesIO()
    images[0].save(
        buf, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms,
        loop=0, optimize=False, disposal=1,
    )  # fmt: skip
    return buf.getvalue()


def _point_colors(
    labels: np.ndarray | None, n: int, classes: Sequence[str], ramp: Sequence[str]
) -> tuple[np.ndarray, list[str]]:
    """Palette index per point and the palette: classes cycle, floats map onto the ramp."""
    if labels is None:
        return np.zeros(n, int), [classes[0]]
    labels = np.asarray(labels).reshape(-1)
    if labels.dtype.kind == "f" and not np.allclose(labels, np.round(labels)):
        lo, hi = float(np.nanmin(labels)), float(np.nanmax(labels))
        t = (labels - lo) / (hi - lo) if hi > lo else np.zeros(n)
        return np.clip((t * (len(ramp) - 1)).round(), 0, len(ramp) - 1).astype(int), list(ramp)
    ints = labels.astype(int)
    return ints % len(classes), list(classes)
