"""Cached figures of the Latent space page.

Every part of a page runs on each rerun: an epoch or Images move used to rebuild the
scatter (one plotly trace per class: 50-130 ms of figure building under load), the 15 x 15
manifold and the evolution frame. Each figure is now cached by run, epoch and its own
settings (``st.cache_resource``: shared, not copied; st.plotly_chart only reads a figure, and
a pickled copy would be validated by plotly again, costing as much as building it). A move
rebuilds only what its value changes (bench/bench_sliders.py measures it)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas  # noqa: F401  (before plotly: see aevae_core/plots/charts.py)
import plotly.graph_objects as go
import streamlit as st

from aevae_core.explore import analysis, projection
from aevae_core.plots.figures import latent_scatter, manifold_figure
from pages.ui.common import store
from pages.ui.explore import codes, model
from pages.ui.explore import split_data as split


@st.cache_data(show_spinner="Projecting the codes…", max_entries=32)
def project(run_id: str, epoch: int, method: str, n: int) -> np.ndarray:
    """The first ``n`` validation codes on the run's fitted 2-D projection."""
    proj = projection.projection_for_run(store(), run_id, method)
    return proj.transform(codes(run_id, epoch, "val", n))


def color_kwargs(val: dict[str, Any], color_by: str) -> dict[str, Any]:
    """latent_scatter's colour arguments: classes for "label", a colour scale for a factor."""
    if color_by == "label":
        return {"labels": val["y"], "label_names": val["class_names"]}
    if color_by in val["factor_names"]:
        col = val["factor_names"].index(color_by)
        return {"color_values": val["factors"][:, col], "color_name": color_by}
    return {}


@st.cache_resource(show_spinner=False, max_entries=32)
def scatter_view(
    run_id: str, epoch: int, method: str, n: int, color_by: str, axes: tuple[str, str]
) -> go.Figure:
    """The page's scatter of the first ``n`` validation codes (customdata: image index)."""
    val = split(run_id, "val", n)
    coords = project(run_id, epoch, method, n)
    return latent_scatter(coords, axis_titles=axes, **color_kwargs(val, color_by))


@st.cache_resource(show_spinner=False, max_entries=32)
def manifold_view(run_id: str, epoch: int, n: int) -> go.Figure:
    """The decoder on a 15 x 15 grid: prior quantiles for a VAE, quantiles of the first
    ``n`` validation codes for an AE (it has no prior)."""
    m, _, _ = model(run_id, epoch)
    grid = analysis.manifold_grid(
        m, 15, codes=None if m.variational else codes(run_id, epoch, "val", n)
    )
    return manifold_figure(grid)
