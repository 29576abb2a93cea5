"""Exports: an image mosaic shown with a button that downloads it as a PNG (the very PNG
figures.mosaic_figure built and the chart shows, tiles at their on-screen size)."""

from __future__ import annotations

import base64

import plotly.graph_objects as go
import streamlit as st

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
