"""Hover thumbnails on a latent scatter: plotly's hover label is SVG text and cannot show an
image, so a small component of ours (hoverthumbs/index.html, plain JS, no build step) hooks
the chart's hover events in the page and shows the hovered point's image beside the pointer.
The chart stays a ``st.plotly_chart``: "click a dot to decode it" is unchanged."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
import streamlit.components.v1 as components

from aevae_core.plots.figures import THUMBNAILS_MAX, thumbnail_px, thumbnail_uris
from pages.ui.explore import split_data

_hover = components.declare_component(
    "aevae_hover_thumbs", path=str(Path(__file__).parent / "hoverthumbs")
)


@st.cache_data(show_spinner=False, max_entries=16)
def run_thumbnails(run_id: str, split: str, n: int) -> list[str]:
    """PNG data URIs of the first ``min(n, THUMBNAILS_MAX)`` images of a run's split, cached
    per run: the images are the scatter's points (its customdata indexes them)."""
    return thumbnail_uris(split_data(run_id, split, n)["x"][:THUMBNAILS_MAX])


def hover_thumbnails(chart_key: str, run_id: str, n_points: int, split: str = "val") -> str:
    """Give the chart ``chart_key`` (a latent scatter of the first ``n_points`` images of the
    split) image thumbnails on hover; returns a sentence for the chart's caption."""
    thumbs = run_thumbnails(run_id, split, n_points)
    shape = split_data(run_id, split, 1)["x"].shape[2:]
    _hover(chart=chart_key, thumbs=thumbs, px=thumbnail_px(*shape), key=f"{chart_key}_thumbs")
    if len(thumbs) < n_points:
        return (
            f"Hover a dot to see its image (the first {len(thumbs):,} of the {n_points:,} "
            "points carry one: more would slow the page)."
        )
    return "Hover a dot to see its image."
