"""Cached figures of the Traversals & generation page.

Every tab runs on each rerun, so one slider used to rebuild all four tabs' figures (four
mosaics at 20-60 ms each of plotly figure building on the project machine, plus the decodes):
over 300 ms a move under load. Each figure is now cached by run, epoch and its own settings
(``st.cache_resource``: shared, not copied; st.plotly_chart only reads a figure, and a pickled
copy would be validated by plotly again, costing as much as building it). A move rebuilds only
what its value changes (bench/bench_sliders.py measures it)."""

from __future__ import annotations

import numpy as np
import pandas  # noqa: F401  (before plotly: see aevae_core/plots/charts.py)
import plotly.graph_objects as go
import streamlit as st

from aevae_core.explore import analysis
from aevae_core.plots.figures import image_figure, mosaic_figure, traversal_figure
from pages.ui.explore import codes, dims_by_activity, model
from pages.ui.explore import split_data as split

N_VAL = 2000  # validation images the page picks from


def scale(run_id: str, epoch: int) -> np.ndarray:
    """Per-dimension unit of the sliders and traversals (analysis.code_scale)."""
    m, _, _ = model(run_id, epoch)
    return analysis.code_scale(codes(run_id, epoch, "val", N_VAL), m.variational)


@st.cache_resource(show_spinner=False, max_entries=64)
def traversal_view(run_id: str, epoch: int, idx: int | None, rows: int) -> go.Figure:
    """The traversal grid: ``rows`` most active dimensions, 9 steps of -3..+3 units around the
    origin (``idx`` None) or validation image ``idx``'s code."""
    m, _, _ = model(run_id, epoch)
    order = dims_by_activity(run_id, epoch)[:rows]
    z0 = np.zeros(m.latent_dim, np.float32)
    if idx is not None:
        z0 = codes(run_id, epoch, "val", N_VAL)[idx]
    grid = analysis.traversal_grid(m, z0, order, n_steps=9, span=3.0, scale=scale(run_id, epoch))
    offsets = [f"{v:+.1f}" for v in analysis.traversal_offsets(9, 3.0)]
    return traversal_figure(grid, [f"z{d + 1}" for d in order], offsets)


@st.cache_resource(show_spinner=False, max_entries=256)
def decoded_view(run_id: str, epoch: int, z: tuple[float, ...]) -> go.Figure:
    """The sliders' live decode of code ``z`` (a slider's values repeat: cached by value)."""
    m, _, _ = model(run_id, epoch)
    return image_figure(analysis.decode(m, np.asarray(z, np.float32)[None])[0], height=320)


@st.cache_resource(show_spinner=False, max_entries=64)
def interpolation_view(
    run_id: str, epoch: int, a: int, b: int, steps: int, method: str
) -> go.Figure:
    """Image a, the decoded path of ``steps`` codes from a's code to b's, image b."""
    m, _, _ = model(run_id, epoch)
    mu, x = codes(run_id, epoch, "val", N_VAL), split(run_id, "val", N_VAL)["x"]
    row = analysis.decode(m, analysis.interpolate(mu[a], mu[b], steps, method))
    grid = np.concatenate([x[a][None], row, x[b][None]])[None]
    labels = ["image A", *[f"{t:.2f}" for t in np.linspace(0, 1, steps)], "image B"]
    return mosaic_figure(grid, None, labels)


@st.cache_resource(show_spinner=False, max_entries=64)
def prior_view(run_id: str, epoch: int, n: int, temperature: float, seed: int) -> go.Figure:
    """``n`` decoded samples of N(0, T^2 I), 8 a row."""
    m, _, _ = model(run_id, epoch)
    samples = analysis.prior_samples(m, n, temperature, seed)
    return mosaic_figure(samples.reshape(-1, 8, *samples.shape[1:]))
