"""Exports: an image mosaic shown with a button that downloads it as a PNG (the very PNG
figures.mosaic_figure built and the chart shows, tiles at their on-screen size), and a run's
stored metric rows (per epoch or per step) as a CSV download."""

from __future__ import annotations

import base64
import json
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from aevae_core.store.record import Run
from pages.ui.common import store

PNG_URI = "data:image/png;base64,"


def mosaic_png(fig: go.Figure) -> bytes:
    """The PNG inside a mosaic figure (its one go.Image's data URI)."""
    source = fig.data[0].source if fig.data else None
    if not source or not source.startswith(PNG_URI):
        raise ValueError("mosaic_png: the figure holds no PNG image (use figures.mosaic_figure)")
    return base64.b64decode(source[len(PNG_URI) :])


def mosaic_chart(fig: go.Figure, *, key: str, name: str | None = None) -> None:
    """The mosaic, then a "Download PNG" button (file ``name`` or the key, .png)."""
    st.plotly_chart(fig, key=key)
    st.download_button(
        "Download PNG",
        mosaic_png(fig),
        f"{name or key}.png",
        "image/png",
        key=f"{key}_png",
        icon=":material/download:",
    )


def metrics_csv(rows: list[dict[str, Any]]) -> str:
    """The store's metric rows as CSV: a line per row, a column per key (in the order first
    seen), lists (e.g. the KL per latent dimension) as JSON; "" when there are no rows."""
    if not rows:
        return ""
    table = pd.DataFrame(rows)
    for col in table.columns:
        table[col] = table[col].map(lambda v: json.dumps(v) if isinstance(v, list) else v)
    return table.to_csv(index=False)


def metrics_download(
    where: Any, rows: list[dict[str, Any]], label: str, name: str, *, key: str
) -> None:
    """A button in ``where`` (a column) that downloads ``rows`` as ``name``, disabled if none."""
    where.download_button(label, metrics_csv(rows), name, "text/csv", key=key, disabled=not rows)


def downloads_row(run: Run) -> None:
    """The Runs page's row of links and downloads for one run: open it in Train, its config,
    its metrics per epoch and per step (CSV), its latest checkpoint."""
    c1, c2, c3, c4, c5 = st.columns([1, 1, 1, 1.6, 1.2])  # the per-step label is the longest
    c1.page_link(
        "pages/train.py",
        label="Open in Train",
        icon=":material/monitoring:",
        query_params={"run": run["id"]},
    )

    c2.download_button(
        "config.json",
        run["config"],
        f"{run['id']}-config.json",
        "application/json",
        key="runs_dl_config",
    )
    for where, kind, label, name in (
        (c3, "epoch", "metrics.csv", "metrics"),
        (c4, "step", "metrics per step (CSV)", "metrics-per-step"),
    ):
        rows = store().metrics(run["id"], kind)
        metrics_download(where, rows, label, f"{run['id']}-{name}.csv", key=f"runs_dl_{name}")
    ckpt = store().checkpoint_path(run["id"], "latest")
    if ckpt.exists():
        c5.download_button(
            "checkpoint (.pt)",
            ckpt.read_bytes(),
            f"{run['id']}.pt",
            "application/octet-stream",
            key="runs_dl_ckpt",
        )
    else:
        c5.button(
            "checkpoint (.pt)", disabled=True, key="runs_dl_ckpt_none", help="No checkpoint yet"
        )
