"""The latent space over training as an animated GIF: each epoch's projected codes drawn as
coloured dots with PIL on fixed axes (no kaleido or browser needed).

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
    axis_titles: tuple[str, str] = ("z1", "z2"),
    label_names: Sequence[str] | None = None,
) -> bytes:
    """An animated GIF of the scatter across epochs, on fixed axes (drawn with PIL), with
    tick values and titles on both axes, a legend and each frame's epoch.

    Integer labels get the class colours of ``figures.latent_scatter`` (legend: one swatch
    per class present, named by ``label_names``); float labels (e.g. a sprites factor) a
    viridis ramp (legend: its low and high ends). ``titles`` default to "epoch 1", ...
    """
    from PIL import Image, ImageDraw

    from aevae_core.plots.charts import CLASS_COLORS, VIRIDIS

    if not frames:
        raise ValueError("evolution_gif needs at least one frame")
    (x0, x1), (y0, y1) = ranges or axis_ranges(frames)
    n = len(frames[0])
    colors, palette = _point_colors(labels, n, CLASS_COLORS, VIRIDIS)
    flat_palette = [255, 255, 255, 200, 200, 200, 40, 40, 40]
    for hex_color in palette:
        flat_palette += [int(hex_color[i : i + 2], 16) for i in (1, 3, 5)]
    order = np.random.default_rng(0).permutation(n)  # no class always drawn on top
    legend = _legend_entries(labels, colors, palette, label_names)
    # Plot box: room for the epoch above, tick labels + titles left and below, legend right.
    top, left, bottom = 22, 56, 36
    right = 72 if legend else 8
    box = (left, top, max(left + 1, size - right), max(top + 1, size - bottom))
    r = max(1.5, size / 200)
    images = []
    for i, coords in enumerate(frames):
        img = Image.new("P", (size, size), 0)
        img.putpalette(flat_palette)
        draw = ImageDraw.Draw(img)
        draw.rectangle([box[0] - 1, box[1] - 1, box[2], box[3]], outline=1)
        c = np.asarray(coords, np.float64)
        px = box[0] + (c[:, 0] - x0) / max(x1 - x0, 1e-12) * (box[2] - box[0])
        py = box[3] - (c[:, 1] - y0) / max(y1 - y0, 1e-12) * (box[3] - box[1])
        for j in order:
            if np.isfinite(px[j]) and np.isfinite(py[j]):
                draw.ellipse([px[j] - r, py[j] - r, px[j] + r, py[j] + r], fill=3 + int(colors[j]))
        _axes(img, draw, box, (x0, x1), (y0, y1), axis_titles)
        for k, (swatch, name) in enumerate(legend):
            y = top + 4 + 14 * k
            draw.rectangle([box[2] + 8, y + 2, box[2] + 16, y + 10], fill=3 + swatch)
            draw.text((box[2] + 20, y), name[:9], fill=2)
        draw.text((box[0], 4), titles[i] if titles else f"epoch {i + 1}", fill=2)
        images.append(img)
    buf = io.BytesIO()
    images[0].save(
        buf, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms,
        loop=0, optimize=False, disposal=1,
    )  # fmt: skip
    return buf.getvalue()


def _tick(v: float) -> str:
    """A tick value in plain decimals, or 1e-05 style when tiny or huge (no SI prefixes)."""
    return f"{v:.3g}" if v == 0 or 1e-3 <= abs(v) < 1e4 else f"{v:.1e}"


def _axes(img, draw, box, xr, yr, titles) -> None:  # noqa: ANN001 - PIL objects
    """Three ticks per axis (both ends and the middle) with their values, and the titles
    (the y title turned a quarter, as in a chart)."""
    from PIL import Image, ImageDraw

    for t in (0.0, 0.5, 1.0):
        x = box[0] + t * (box[2] - box[0])
        draw.line([x, box[3], x, box[3] + 3], fill=2)
        label = _tick(xr[0] + t * (xr[1] - xr[0]))
        w = draw.textlength(label)
        draw.text((min(max(x - w / 2, 0), img.width - w), box[3] + 4), label, fill=2)
        y = box[3] - t * (box[3] - box[1])
        draw.line([box[0] - 4, y, box[0] - 1, y], fill=2)
        label = _tick(yr[0] + t * (yr[1] - yr[0]))
        draw.text((box[0] - 6 - draw.textlength(label), y - 5), label, fill=2)
    w = draw.textlength(titles[0])
    draw.text(((box[0] + box[2] - w) / 2, box[3] + 19), titles[0], fill=2)
    mask = Image.new("L", (int(draw.textlength(titles[1])) + 2, 12), 0)
    ImageDraw.Draw(mask).text((1, 0), titles[1], fill=255)
    mask = mask.rotate(90, expand=True)
    img.paste(2, (2, int((box[1] + box[3] - mask.height) / 2)), mask)


def _legend_entries(
    labels: np.ndarray | None,
    colors: np.ndarray,
    palette: Sequence[str],
    names: Sequence[str] | None,
) -> list[tuple[int, str]]:
    """(palette index, text) per legend row: each class present, or a ramp's two ends."""
    if labels is None:
        return []
    values = np.asarray(labels).reshape(-1)
    if values.dtype.kind == "f" and not np.allclose(values, np.round(values)):
        lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
        return [(0, f"low {_tick(lo)}"), (len(palette) - 1, f"high {_tick(hi)}")]
    present = sorted({int(v) for v in values})
    return [
        (int(colors[np.argmax(values.astype(int) == v)]),
         str(names[v]) if names is not None and 0 <= v < len(names) else str(v))
        for v in present
    ]  # fmt: skip


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
