"""Plotly figure builders: pure functions from arrays and metric rows to ``go.Figure``.

Nothing here reads files or runs a model; pages pass in what the store or the analysis
functions returned, which keeps every figure testable without Streamlit. Charts of numbers
(KL bars, error histograms, ROC, rate-distortion, overlaid curves) live in ``charts.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas  # noqa: F401  (before plotly: see aevae_core/plots/charts.py)
import plotly.graph_objects as go

from aevae_core.plots.charts import CLASS_COLORS

TERMS = (("loss", "Total loss"), ("recon", "Reconstruction"), ("kl", "KL divergence"))
TRAIN_COLOR, VAL_COLOR, STEP_COLOR = "#1f77b4", "#d62728", "rgba(31,119,180,0.35)"


def loss_description(epochs: Sequence[dict[str, Any]], variational: bool) -> tuple[str, str]:
    """(short panel title, one-line note) saying what the "total loss" curve is.

    The total is the training objective recon + beta * KL; it is the negative ELBO only when
    beta = 1. Each epoch record carries the beta that its train and validation losses use
    (during KL warm-up, the epoch's last beta; see train.fit).
    """
    if not variational:
        return "Loss (reconstruction)", "Loss = the reconstruction term (+ the L1 code penalty)."
    betas = [float(e["beta"]) for e in epochs if e.get("beta") is not None]
    if betas and all(b == 1.0 for b in betas):
        return "Total: −ELBO (β = 1)", "Total loss = −ELBO: reconstruction + KL, β = 1."
    if betas and len(set(betas)) == 1:
        return (
            f"Total: recon + {betas[0]:g}·KL",
            f"Total loss = reconstruction + β·KL with β = {betas[0]:g}: the training "
            "objective, not the −ELBO (that is the β = 1 sum of the two other panels).",
        )
    now = f" (now {betas[-1]:g})" if betas else ""
    return (
        "Total: recon + β·KL (warm-up)",
        f"KL warm-up: β grows from 0{now}. Each epoch's train and validation points use that "
        "epoch's β; per-step points use the step's β.",
    )


def loss_curves(
    epochs: Sequence[dict[str, Any]],
    steps: Sequence[dict[str, Any]] = (),
    *,
    variational: bool = True,
    steps_per_epoch: int = 0,
    height: int = 320,
) -> go.Figure:
    """Total, reconstruction and KL as separate panels; train vs validation per epoch.

    ``epochs`` are the store's per-epoch rows (train_loss, val_loss, train_recon, ...);
    ``steps`` the per-step rows (loss, recon, kl), drawn at fractional epochs
    step / steps_per_epoch (skipped when steps_per_epoch is 0).
    """
    terms = TERMS if variational else TERMS[:2]
    titles = [loss_description(epochs, variational)[0]] + [t for _, t in terms[1:]]
    # The layout make_subplots(rows=1, cols=n) makes, written out: built through Plotly's
    # property setters, this figure took ~100 ms, rebuilt at every live refresh of a run.
    n, gap = len(terms), 0.2 / len(terms)
    width = (1 - gap * (n - 1)) / n
    layout: dict[str, Any] = {
        "annotations": [],
        "height": height,
        "margin": {"l": 40, "r": 10, "t": 40, "b": 40},
        "legend": {"orientation": "h", "y": -0.25},
        "uirevision": "loss-curves",
    }
    traces = []
    for col, ((key, _title), title) in enumerate(zip(terms, titles, strict=True)):
        i, lo = ("" if col == 0 else str(col + 1)), col * (width + gap)
        domain = [lo, lo + width]
        layout[f"xaxis{i}"] = {"anchor": f"y{i}", "domain": domain, "title": {"text": "epoch"}}
        layout[f"yaxis{i}"] = {"anchor": f"x{i}", "domain": [0.0, 1.0]}
        layout["annotations"].append({
            "font": {"size": 16}, "showarrow": False, "text": title, "x": lo + width / 2,
            "xanchor": "center", "xref": "paper", "y": 1.0, "yanchor": "bottom", "yref": "paper",
        })  # fmt: skip
        axes = {"type": "scatter", "xaxis": f"x{i}", "yaxis": f"y{i}", "showlegend": col == 0}
        if steps and steps_per_epoch:
            traces.append({
                "mode": "lines", "name": "train (per step)", "legendgroup": "step",
                "x": [s["step"] / steps_per_epoch for s in steps], "y": [s[key] for s in steps],
                "line": {"color": STEP_COLOR, "width": 1}, **axes,
            })  # fmt: skip
        for split, color in (("train", TRAIN_COLOR), ("val", VAL_COLOR)):
            field = f"{split}_{key}"
            if xs := [e["epoch"] for e in epochs if field in e]:
                traces.append({
                    "mode": "lines+markers", "legendgroup": split, "line": {"color": color},
                    "name": "validation" if split == "val" else "train (epoch mean)",
                    "x": xs, "y": [e[field] for e in epochs if field in e], **axes,
                })  # fmt: skip
    layout["yaxis"]["title"] = {"text": "nats / image"}
    return go.Figure(data=traces, layout=layout)


def tile(images: np.ndarray, ncols: int, pad: int = 1) -> np.ndarray:
    """(N, C, H, W) -> one (H', W', C) mosaic with ``pad`` pixels between tiles."""
    images = np.asarray(images)
    n, c, h, w = images.shape
    nrows = max(1, math.ceil(n / ncols))
    out = np.ones((nrows * (h + pad) - pad, ncols * (w + pad) - pad, c), dtype=images.dtype)
    out *= 255 if images.dtype == np.uint8 else 1
    for i in range(n):
        r, col = divmod(i, ncols)
        out[r * (h + pad) : r * (h + pad) + h, col * (w + pad) : col * (w + pad) + w] = images[
            i
        ].transpose(1, 2, 0)
    return out


def image_grid(
    images: np.ndarray, *, ncols: int = 8, title: str | None = None, height: int | None = None
) -> go.Figure:
    """A mosaic of images (N, C, H, W), uint8 or float in [0, 1], ``ncols`` to a row: the
    same readable PNG mosaic as ``mosaic_figure``; ``height`` is a minimum (tiles are never
    drawn smaller than ``TILE_PX``)."""
    images = _to_uint8(images)
    k = upscale_factor(*images.shape[2:])
    mosaic = tile(_enlarge(images, k), ncols, GAP_PX)
    top = 30 if title else 0
    return _png_figure(
        mosaic,
        (k * images.shape[2], k * images.shape[3]),
        "mosaic",
        xaxis={"visible": False},
        yaxis={"visible": False},
        title=title,
        height=max(height or 0, mosaic.shape[0] + top),
        margin={"l": 0, "r": 0, "t": top, "b": 0, "pad": 0},
    )


# -- latent space, mosaics and comparison figures ----------------------------------------
SCATTERGL_ABOVE = 1000  # WebGL markers beyond this many points


def _to_uint8(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    return (np.clip(images, 0, 1) * 255).round().astype(np.uint8)


# Readable tiles: every image is enlarged by an integer factor (nearest neighbour, so pixels
# stay sharp squares) to at least TILE_PX screen pixels (64 for 8x8 digits and 32x32 images,
# 84 for 28x28), MANIFOLD_CELL_PX for a manifold's cells; the figure is as tall as the
# enlarged mosaic, so the browser draws it 1:1. Plotly's content width on a 1366x768 screen
# with the sidebar open is 906 px: MAX_COLS columns of 64 px (+ 60 px of row labels) fit.
TILE_PX, MANIFOLD_CELL_PX, GAP_PX, MAX_COLS = 60, 40, 2, 12


def upscale_factor(h: int, w: int, min_px: int = TILE_PX) -> int:
    """The integer enlargement that makes an h x w image at least ``min_px`` wide and tall."""
    return max(1, math.ceil(min_px / max(h, w)))


def _enlarge(images: np.ndarray, k: int) -> np.ndarray:
    return images if k == 1 else images.repeat(k, axis=2).repeat(k, axis=3)


def _png_uri(mosaic: np.ndarray) -> str:
    """(H, W, C) uint8 -> a PNG data URI."""
    import base64
    import io

    from PIL import Image

    img = Image.fromarray(mosaic[:, :, 0] if mosaic.shape[2] == 1 else mosaic)
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _png_figure(
    mosaic: np.ndarray, tile_hw: tuple[int, int], kind: str, **layout: Any
) -> go.Figure:
    """The mosaic as one ``go.Image`` (a PNG, far smaller and faster than a JSON array), in
    screen pixels, never smoothed; ``layout.meta`` gives the tile and mosaic sizes (the
    browser test measures the drawn tiles with them). ``layout``: the rest of the layout, in
    one go (Plotly's update_* setters cost milliseconds each, at every slider move)."""
    meta = {"kind": kind, "tile": list(tile_hw), "size": list(mosaic.shape[:2])}
    return go.Figure(
        go.Image(source=_png_uri(mosaic), hoverinfo="skip", zsmooth=False),
        layout={"meta": meta, **layout},
    )


def mosaic_figure(
    grid: np.ndarray,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    *,
    title: str | None = None,
    x_title: str | None = None,
    y_title: str | None = None,
    height: int | None = None,
    pad: int = GAP_PX,
    min_tile_px: int = TILE_PX,
    kind: str = "mosaic",
) -> go.Figure:
    """Images (R, S, C, H, W) as one labelled mosaic: R rows of S images, ``pad`` screen
    pixels apart, each enlarged to at least ``min_tile_px``; axes are in the mosaic's
    (screen) pixels, with one tick label per row and column. Keep S <= ``MAX_COLS`` (split
    longer rows with ``column_chunks``) so the tiles keep their size on a laptop screen.
    """
    grid = _to_uint8(grid)
    r, s, c, h, w = grid.shape
    k = upscale_factor(h, w, min_tile_px)
    th, tw = k * h, k * w
    mosaic = tile(_enlarge(grid.reshape(r * s, c, h, w), k), s, pad)
    # Margins big enough for the labels: were Plotly to grow them (automargin), the mosaic
    # would shrink below 1:1. pad 0: Streamlit's theme pads the plot area by 8 px.
    left = (60 if row_labels is not None else 0) + (25 if y_title else 0)
    bottom = (30 if col_labels is not None else 0) + (30 if x_title else 0)
    top = 30 if title else 5
    axis = {"showgrid": False, "zeroline": False, "ticks": ""}
    return _png_figure(
        mosaic,
        (th, tw),
        kind,
        xaxis={
            **axis,
            "title": {"text": x_title},
            "showticklabels": col_labels is not None,
            "tickvals": [j * (tw + pad) + tw / 2 for j in range(s)],
            "ticktext": list(col_labels or []),
        },  # fmt: skip
        yaxis={
            **axis,
            "title": {"text": y_title},
            "showticklabels": row_labels is not None,
            "tickvals": [i * (th + pad) + th / 2 for i in range(r)],
            "ticktext": list(row_labels or []),
            "scaleanchor": "x",
        },  # fmt: skip
        title=title,
        height=height or mosaic.shape[0] + top + bottom,
        margin={"l": left, "r": 0, "t": top, "b": bottom, "pad": 0},
    )


def column_chunks(n: int, max_cols: int = MAX_COLS) -> list[slice]:
    """Split n columns into the fewest near-equal runs of at most ``max_cols`` (16 -> 8 + 8)."""
    parts = max(1, math.ceil(n / max_cols))
    size = math.ceil(n / parts)
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def manifold_figure(grid: np.ndarray, *, height: int | None = None) -> go.Figure:
    """A decoded 2-D manifold (n, n, C, H, W): cells of at least ``MANIFOLD_CELL_PX`` screen
    pixels, 1 px apart (Kingma & Welling 2014, fig. 4)."""
    return mosaic_figure(grid, height=height, pad=1, min_tile_px=MANIFOLD_CELL_PX, kind="manifold")


def traversal_figure(
    grid: np.ndarray,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    *,
    title: str | None = None,
    height: int | None = None,
) -> go.Figure:
    """A traversal grid (R, S, C, H, W): rows are latent dimensions, columns offsets in std."""
    return mosaic_figure(
        grid, row_labels, col_labels, title=title, x_title="offset (std)",
        y_title="latent dimension", height=height,
    )  # fmt: skip


def image_figure(image: np.ndarray, *, title: str | None = None, height: int = 260) -> go.Figure:
    """One image (C, H, W) as a figure (e.g. the live decode beside the sliders)."""
    image = np.asarray(image)
    return mosaic_figure(image[None, None], title=title, height=height)


def latent_scatter(
    coords: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    label_names: Sequence[str] | None = None,
    color_values: np.ndarray | None = None,
    color_name: str | None = None,
    customdata: np.ndarray | None = None,
    title: str | None = None,
    axis_titles: tuple[str, str] = ("z1", "z2"),
    ranges: tuple[tuple[float, float], tuple[float, float]] | None = None,
    highlight: tuple[float, float] | None = None,
    height: int = 480,
) -> go.Figure:
    """Codes projected to 2-D: one trace per class (legend), or one coloured by a continuous
    ``color_values`` (e.g. a sprites factor). Each point's ``customdata`` is its index into
    ``coords`` (or the given ``customdata``), so a selection can be looked up; hover shows
    the label and the index. ``ranges`` fixes the axes (epoch evolution); ``highlight``
    marks one point (e.g. a drawn digit) with a star.
    """
    coords = np.asarray(coords, dtype=np.float32).reshape(-1, 2)
    n = len(coords)
    index = np.arange(n) if customdata is None else np.asarray(customdata)
    trace_type = go.Scattergl if n > SCATTERGL_ABOVE else go.Scatter
    size = 4 if n > 2000 else 6
    fig = go.Figure()
    if color_values is not None:
        values = np.asarray(color_values, dtype=np.float32).reshape(-1)
        fig.add_trace(
            trace_type(
                x=coords[:, 0], y=coords[:, 1], mode="markers", customdata=index,
                name=color_name or "codes", text=[f"{v:.3g}" for v in values],
                marker={"size": size, "color": values, "colorscale": "Viridis",
                        "colorbar": {"title": {"text": color_name or ""}}},
                hovertemplate=f"{color_name or 'value'}: %{{text}}<br>index: %{{customdata}}"
                "<extra></extra>",
            )
        )  # fmt: skip
    else:
        groups = [(None, np.ones(n, bool))] if labels is None else [
            (int(c), np.asarray(labels).reshape(-1) == c) for c in np.unique(labels)
        ]  # fmt: skip
        for c, mask in groups:
            name = "codes" if c is None else _label_name(c, label_names)
            color = CLASS_COLORS[(c or 0) % len(CLASS_COLORS)]
            fig.add_trace(
                trace_type(
                    x=coords[mask, 0], y=coords[mask, 1], mode="markers", name=name,
                    customdata=index[mask], marker={"size": size, "color": color, "opacity": 0.8},
                    hovertemplate=f"label: {name}<br>index: %{{customdata}}<extra></extra>",
                )
            )  # fmt: skip
    if highlight is not None:
        fig.add_trace(
            go.Scatter(
                x=[highlight[0]], y=[highlight[1]], mode="markers", name="your image",
                marker={"symbol": "star", "size": 18, "color": "gold",
                        "line": {"color": "black", "width": 1.5}},
                hoverinfo="name",
            )
        )  # fmt: skip
    fig.update_xaxes(title_text=axis_titles[0], range=list(ranges[0]) if ranges else None)
    fig.update_yaxes(title_text=axis_titles[1], range=list(ranges[1]) if ranges else None)
    fig.update_layout(
        # dragmode "zoom", not "select": with a box-select drag mode Streamlit's
        # selection_mode="points" never reports a click, and "click a dot" did nothing.
        title=title, height=height, clickmode="event+select", dragmode="zoom",
        legend={"itemsizing": "constant"}, margin={"l": 40, "r": 10, "t": 40 if title else 10,
        "b": 40}, uirevision="latent-scatter" if ranges else None,
    )  # fmt: skip
    return fig


# Hover thumbnails (pages/ui/hover_thumbs.py): one small PNG per point, at most this many,
# so the page does not send megabytes on every rerun (2,000 MNIST PNGs: about 0.6 MB).
THUMBNAILS_MAX = 2000
THUMBNAIL_PX = 84


def thumbnail_uris(images: np.ndarray) -> list[str]:
    """(N, C, H, W) images in [0, 1] -> N PNG data URIs at their own size (the browser
    enlarges them without smoothing): the scatter's hover thumbnails."""
    images = _to_uint8(images).transpose(0, 2, 3, 1)
    return [_png_uri(img) for img in images]


def thumbnail_px(h: int, w: int) -> int:
    """On-screen size of a hover thumbnail: an integer multiple of the image, about 84 px."""
    return max(h, w) * upscale_factor(h, w, THUMBNAIL_PX)


def _label_name(c: int, names: Sequence[str] | None) -> str:
    return str(names[c]) if names is not None and 0 <= c < len(names) else str(c)
