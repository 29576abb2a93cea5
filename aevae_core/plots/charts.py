"""Plotly charts of numbers (KL per dimension, error histograms, ROC, rate-distortion, curves
of several runs) and the colours shared by every latent-space figure and the evolution GIF.

Pure functions from arrays to ``go.Figure``, like ``figures.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

# pandas before plotly, in every module that imports plotly (tests/core/test_layout.py
# checks it): Plotly looks pandas up in ``sys.modules`` without importing it, so a figure
# built in one session's thread while another thread is still importing pandas (the Runs
# page's table) would meet a half-initialised module and fail. A module that imports
# pandas first only runs once pandas is complete (the import waits for the other thread).
import pandas  # noqa: F401
import plotly.graph_objects as go

BLUE, RED = "#1f77b4", "#d62728"  # train / validation, as in figures.loss_curves
TERM_TITLES = {"loss": "Total loss", "recon": "Reconstruction", "kl": "KL divergence"}
# D3's category10, also used by projection.evolution_gif so a GIF matches the scatter.
CLASS_COLORS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip
VIRIDIS = (
    "#440154", "#482878", "#3e4989", "#31688e", "#26828e",
    "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725",
)  # fmt: skip
ACTIVE_COLOR, INACTIVE_COLOR = "#2ca02c", "#bbbbbb"
MARKERS = ("circle", "square", "diamond", "triangle-up", "x", "cross")
COLLAPSED_TITLE = "KL per latent dimension — posterior collapsed"


def kl_bar(
    kl_per_dim: Sequence[float],
    active_mask: Sequence[bool],
    *,
    collapsed: bool = False,
    warning: str | None = None,
    height: int = 300,
) -> go.Figure:
    """KL per latent dimension (nats/image); active units green, inactive grey.

    ``collapsed`` (see analysis.posterior_collapsed) gives the chart a short red title; the
    page shows the long explanation next to it (st.warning). ``warning`` replaces that
    title with a short text of the caller's: a chart title has no room for a paragraph.
    """
    title = warning or (COLLAPSED_TITLE if collapsed else None)
    kl = np.asarray(kl_per_dim, dtype=np.float64)
    active = np.asarray(active_mask, dtype=bool)
    names = np.array([f"z{i + 1}" for i in range(len(kl))])
    fig = go.Figure()
    for flag, label, color in ((True, "active", ACTIVE_COLOR), (False, "inactive", INACTIVE_COLOR)):
        sel = active == flag
        fig.add_trace(
            go.Bar(x=names[sel], y=kl[sel], name=f"{label} ({int(sel.sum())})",
                   marker_color=color, hovertemplate="%{x}: %{y:.3f} nats<extra></extra>")
        )  # fmt: skip
    fig.add_annotation(
        text="active unit: variance over images of its mean code > 0.01 (Burda et al. 2015)",
        xref="paper", yref="paper", x=0, y=1.0, yanchor="bottom", showarrow=False,
        font={"size": 11, "color": "#555"},
    )  # fmt: skip
    fig.update_xaxes(title_text="latent dimension", categoryorder="array", categoryarray=names)
    # Plotly's default ticks use SI prefixes: collapsed units' KL (~1e-5) read "10µ". "e":
    # plain decimals for ordinary values, 1e-5 style for tiny ones.
    fig.update_yaxes(title_text="KL, nats / image", exponentformat="e")
    fig.update_layout(
        height=height, margin={"l": 40, "r": 10, "t": 60, "b": 40},
        title={"text": title, "font": {"color": "#d62728", "size": 13}} if title else None,
        legend={"orientation": "h", "y": -0.3},
    )  # fmt: skip
    return fig


def error_histogram(
    scores_in: np.ndarray,
    scores_out: np.ndarray,
    threshold: float,
    *,
    names: tuple[str, str] = ("validation", "out-of-distribution"),
    unit: str = "nats / image",
    bins: int = 50,
) -> go.Figure:
    """Overlaid histograms (shared bins, as fractions of each set) and the threshold line."""
    s_in, s_out = np.asarray(scores_in, np.float64), np.asarray(scores_out, np.float64)
    both = np.concatenate([s_in, s_out])
    lo, hi = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
    xbins = {"start": lo, "end": hi, "size": max((hi - lo) / bins, 1e-9)}
    fig = go.Figure()
    for scores, name, color in ((s_in, names[0], BLUE), (s_out, names[1], RED)):
        fig.add_trace(
            go.Histogram(x=scores, name=name, xbins=xbins, histnorm="probability",
                         marker_color=color, opacity=0.6)
        )  # fmt: skip
    fig.add_vline(x=threshold, line_dash="dash", line_color="black",
                  annotation_text="threshold", annotation_position="top")  # fmt: skip
    fig.update_xaxes(title_text=f"reconstruction error, {unit}")
    fig.update_yaxes(title_text="fraction of images")
    fig.update_layout(barmode="overlay", height=320, margin={"l": 40, "r": 10, "t": 30, "b": 40},
                      legend={"orientation": "h", "y": -0.3})  # fmt: skip
    return fig


def roc_figure(
    fpr: np.ndarray, tpr: np.ndarray, auc: float, *, point: tuple[float, float] | None = None
) -> go.Figure:
    """ROC curve with the chance diagonal; ``point`` = (fpr, tpr) at the current threshold."""
    fig = go.Figure(
        [
            go.Scatter(x=fpr, y=tpr, mode="lines", name=f"ROC (AUC = {auc:.3f})",
                       line={"color": BLUE}),
            go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance",
                       line={"dash": "dash", "color": "#999"}),
        ]
    )  # fmt: skip
    if point is not None:
        fig.add_trace(go.Scatter(x=[point[0]], y=[point[1]], mode="markers", name="threshold",
                                 marker={"size": 11, "color": RED}, cliponaxis=False))  # fmt: skip
    # Both axes are rates, 0 to 1. A square plot via scaleanchor alone made plotly widen the
    # y range to fit the wide box (it ran -0.5 to 2); constrain="domain" shrinks the box.
    fig.update_xaxes(title_text="false positive rate", range=[0, 1], constrain="domain")
    fig.update_yaxes(
        title_text="true positive rate", range=[0, 1], scaleanchor="x", constrain="domain"
    )
    # Legend below: beside the plot it took half of a narrow column's width.
    fig.update_layout(
        height=380, margin={"l": 40, "r": 10, "t": 30, "b": 40},
        legend={"orientation": "h", "y": -0.25},
    )  # fmt: skip
    return fig


def rate_distortion(points: Sequence[dict[str, Any]]) -> go.Figure:
    """One point per run: KL (rate) vs reconstruction (distortion), in nats/image, joined in
    order of beta (Alemi et al. 2018, "Fixing a Broken ELBO").

    Each run is its own marker trace named in the legend (one colour each), so names never
    overlap however close the points lie; the grey line joins them in order of beta.
    """
    pts = sorted(points, key=lambda p: (p.get("beta") is None, p.get("beta") or 0.0))
    names = [
        p["name"]
        if p.get("beta") is None or "β=" in p["name"]
        else f"{p['name']} (β={p['beta']:g})"
        for p in pts
    ]
    fig = go.Figure(
        go.Scatter(
            x=[p["kl"] for p in pts], y=[p["recon"] for p in pts], mode="lines",
            line={"color": "#999"}, hoverinfo="skip", showlegend=False, name="order of β",
        )
    )  # fmt: skip
    for i, (p, name) in enumerate(zip(pts, names, strict=True)):
        fig.add_trace(
            go.Scatter(
                x=[p["kl"]], y=[p["recon"]], mode="markers", name=name,
                marker={"size": 12, "color": CLASS_COLORS[i % len(CLASS_COLORS)],
                        "symbol": MARKERS[i % len(MARKERS)]},
                hovertemplate=f"{name}<br>KL %{{x:.2f}}<br>recon %{{y:.2f}}<extra></extra>",
            )
        )  # fmt: skip
    fig.update_xaxes(title_text="KL (rate), nats / image")
    fig.update_yaxes(title_text="reconstruction (distortion), nats / image")
    fig.update_layout(
        height=380, margin={"l": 50, "r": 10, "t": 30, "b": 40},
        legend={"title": {"text": "run"}},
    )  # fmt: skip
    return fig


def overlay_curves(histories: dict[str, Sequence[dict[str, Any]]], key: str) -> go.Figure:
    """One metric ("loss", "recon", "kl") of several runs: train dashed, validation solid."""
    fig = go.Figure()
    for i, (name, rows) in enumerate(histories.items()):
        color = CLASS_COLORS[i % len(CLASS_COLORS)]
        for split, dash in (("train", "dash"), ("val", "solid")):
            field = f"{split}_{key}"
            xs = [r["epoch"] for r in rows if field in r]
            if not xs:
                continue
            fig.add_trace(
                go.Scatter(
                    x=xs, y=[r[field] for r in rows if field in r], mode="lines+markers",
                    name=f"{name} ({'validation' if split == 'val' else 'train'})",
                    line={"color": color, "dash": dash}, legendgroup=name,
                )
            )  # fmt: skip
    title = TERM_TITLES.get(key, key)
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="nats / image")
    fig.update_layout(title=title, height=320, margin={"l": 40, "r": 10, "t": 40, "b": 40})
    return fig


def error_bars(
    errors: np.ndarray, *, indices: np.ndarray | None = None, unit: str = "nats / image"
) -> go.Figure:
    """Per-image reconstruction errors as bars in the given order, hover shows the index."""
    errors = np.asarray(errors, dtype=np.float64).reshape(-1)
    idx = np.arange(len(errors)) if indices is None else np.asarray(indices)
    fig = go.Figure(
        go.Bar(x=[str(i) for i in idx], y=errors, marker_color=BLUE,
               hovertemplate="image %{x}: %{y:.2f}<extra></extra>")
    )  # fmt: skip
    fig.update_xaxes(title_text="image index", type="category")
    fig.update_yaxes(title_text=f"error, {unit}")
    fig.update_layout(height=260, margin={"l": 40, "r": 10, "t": 10, "b": 40})
    return fig
