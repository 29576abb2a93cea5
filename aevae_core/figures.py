"""Plotly figure builders: pure functions from arrays and metric rows to ``go.Figure``.

Nothing here reads files or runs a model; pages pass in what the store or the analysis
functions returned, which keeps every figure testable without Streamlit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

TERMS = (("loss", "Total loss"), ("recon", "Reconstruction"), ("kl", "KL divergence"))
TRAIN_COLOR, VAL_COLOR, STEP_COLOR = "#1f77b4", "#d62728", "rgba(31,119,180,0.35)"


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
    fig = make_subplots(rows=1, cols=len(terms), subplot_titles=[t for _, t in terms])
    for col, (key, _title) in enumerate(terms, start=1):
        if steps and steps_per_epoch:
            fig.add_trace(
                go.Scatter(
                    x=[s["step"] / steps_per_epoch for s in steps],
                    y=[s[key] for s in steps],
                    mode="lines",
                    name="train (per step)",
                    line={"color": STEP_COLOR, "width": 1},
                    legendgroup="step",
                    showlegend=col == 1,
                )
            )
        for split, color in (("train", TRAIN_COLOR), ("val", VAL_COLOR)):
            field = f"{split}_{key}"
            xs = [e["epoch"] for e in epochs if field in e]
            if not xs:
                continue
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=[e[field] for e in epochs if field in e],
                    mode="lines+markers",
                    name="validation" if split == "val" else "train (epoch mean)",
                    line={"color": color},
                    legendgroup=split,
                    showlegend=col == 1,
                )
            )
        fig.update_xaxes(title_text="epoch", row=1, col=col)
    fig.update_yaxes(title_text="nats / image", row=1, col=1)
    fig.update_layout(
        height=height,
        margin={"l": 40, "r": 10, "t": 40, "b": 40},
        legend={"orientation": "h", "y": -0.25},
        uirevision="loss-curves",
    )
    return fig


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
    """A mosaic of images (N, C, H, W), uint8 or float in [0, 1], as one Plotly image."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        images = (np.clip(images, 0, 1) * 255).round().astype(np.uint8)
    mosaic = tile(images, ncols)
    if mosaic.shape[2] == 1:
        fig = go.Figure(go.Heatmap(z=mosaic[::-1, :, 0], colorscale="gray", showscale=False,
                                   hoverinfo="skip"))  # fmt: skip
        fig.update_yaxes(scaleanchor="x")
    else:
        fig = go.Figure(go.Image(z=mosaic, hoverinfo="skip"))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(
        title=title,
        height=height or max(120, int(260 * mosaic.shape[0] / max(mosaic.shape[1], 1)) + 40),
        margin={"l": 0, "r": 0, "t": 30 if title else 0, "b": 0},
    )
    return fig
