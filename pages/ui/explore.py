"""Shared pieces of the exploration pages: run + epoch picker, this run's metrics, cached
model results.

Results are cached per (run, epoch, settings) with ``st.cache_data``; models come from
``analysis.load_model``'s own LRU cache (they are not picklable state for Streamlit).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from aevae_core.explore import analysis, metric_labels, metrics
from pages.ui.common import run_picker, store

MAX_CODES = 10_000


def pick_run_and_epoch(prefix: str) -> tuple[dict[str, Any], int]:
    """Run selectbox (URL run, else latest completed) and an epoch slider; stops the page
    with a friendly message when there is nothing to show yet."""
    run = run_picker("Run", key=f"{prefix}_run")
    if run is None:
        st.info("No runs yet: train one on the **Train** page first.", icon=":material/info:")
        st.stop()
    epochs = store().snapshot_epochs(run["id"])
    if not epochs:
        st.info(
            "This run has not finished an epoch yet; its views appear after the first one.",
            icon=":material/hourglass_top:",
        )
        st.stop()
    if len(epochs) > 1:
        epoch = st.select_slider(
            "Epoch",
            epochs,
            value=epochs[-1],
            key=f"{prefix}_epoch_{run['id']}",
            help="Look at the model as it was at the end of this epoch.",
        )
    else:
        epoch = epochs[0]
    collapse_warning(run["id"], epoch)
    metrics_panel(run["id"], epoch, prefix)
    return run, epoch


def metrics_panel(run_id: str, epoch: int, prefix: str) -> None:
    """ "This run's metrics": the Compare page's table for one run. Lazy: the metrics take
    seconds (importance sampling, kNN), so they are computed only once the expander opens."""
    panel = st.expander("This run's metrics", key=f"{prefix}_metrics", on_change="rerun")
    if not panel.open:
        return
    with panel:
        m = run_metrics(run_id, epoch)
        table = pd.DataFrame(metric_labels.comparison_rows({"this run": m}))
        st.dataframe(table, hide_index=True, key=f"{prefix}_metrics_table")
        iw = m.get("iw_images") or m["n_images"]  # 0 for an AE: no importance sampling
        fewer = f" (importance-weighted NLL on {iw:,} of them)" if iw != m["n_images"] else ""
        st.caption(
            f"Epoch {epoch}, on {m['n_images']:,} validation images{fewer}. "
            f"{m['likelihood_note']} Put runs side by side on the **Compare** page."
        )


@st.cache_data(show_spinner="Computing this run's metrics…", max_entries=32)
def run_metrics(run_id: str, epoch: int) -> dict[str, Any]:
    """``metrics.run_metrics`` of the model at this epoch, on the validation split (kNN fitted
    on up to 2,000 training codes), cached per run and epoch."""
    m, config, _ = model(run_id, epoch)
    x, y, factors, _, _ = analysis.load_split(config, "val", 1000)
    xt, yt, _, _, _ = analysis.load_split(config, "train", 2000)
    # Compare shows these same numbers for the same run and epoch.
    return metrics.run_metrics(m, config, x, y, factors, xt, yt)


def epoch_record(run_id: str, epoch: int) -> dict[str, Any] | None:
    rows = [r for r in store().metrics(run_id, "epoch") if r["epoch"] == epoch]
    return rows[-1] if rows else None


def collapse_warning(run_id: str, epoch: int) -> None:
    """Flag posterior collapse on every page that shows the run."""
    rec = epoch_record(run_id, epoch)
    if not rec or "val_kl_per_dim" not in rec:
        return
    text = analysis.posterior_collapsed(rec["val_kl_per_dim"], rec.get("active_units", 0))
    if text:
        st.warning(text, icon=":material/warning:")


def model(run_id: str, epoch: int):  # noqa: ANN201 - (Autoencoder, TrainConfig, epoch)
    return analysis.load_model(store(), run_id, epoch)


@st.cache_data(show_spinner=False, max_entries=16)
def split_data(run_id: str, split: str, max_images: int) -> dict[str, Any]:
    _, config, _ = analysis.load_model(store(), run_id)
    x, y, factors, class_names, factor_names = analysis.load_split(config, split, max_images)
    return {
        "x": x,
        "y": y,
        "factors": factors,
        "class_names": class_names,
        "factor_names": factor_names,
    }


@st.cache_data(show_spinner=False, max_entries=32)
def codes(run_id: str, epoch: int, split: str = "val", max_images: int = MAX_CODES) -> np.ndarray:
    """Latent codes (means for a VAE) of up to ``max_images`` images of a split."""
    m, _, _ = model(run_id, epoch)
    mu, _ = analysis.encode(m, split_data(run_id, split, max_images)["x"])
    return mu


def kl_per_dim(run_id: str, epoch: int) -> list[float] | None:
    rec = epoch_record(run_id, epoch)
    return rec.get("val_kl_per_dim") if rec else None


def dims_by_activity(run_id: str, epoch: int) -> list[int]:
    """Latent dimensions, most active first (KL for a VAE, code variance for an AE)."""
    return analysis.dims_by_kl(kl_per_dim(run_id, epoch), codes(run_id, epoch, "val", 2000))


def image_index_input(label: str, n: int, key: str, default: int = 0) -> int:
    return int(
        st.number_input(
            label,
            0,
            max(0, n - 1),
            min(default, n - 1),
            key=key,
            help=f"Index of a validation image (0 to {n - 1}).",
        )
    )
