"""Compare's latent-space row and collapse warnings: every run's scatter on one shared scale
where the axes have units (raw codes, PCA), so a collapsed β-VAE, whose codes all sit
within ±0.01 of 0, shows as a dot next to a spread-out cloud instead of being auto-zoomed
into a look-alike cloud."""

from __future__ import annotations

import numpy as np
import streamlit as st

from aevae_core.explore import analysis
from aevae_core.explore.evolution import axis_ranges
from aevae_core.plots.figures import latent_scatter
from aevae_core.store.record import Run
from pages.ui.common import store
from pages.ui.compare_parts import projected_codes
from pages.ui.explore import epoch_record
from pages.ui.latent_parts import METHOD_TITLES, axis_titles

SHARED_SCALE = ("raw", "pca")  # axes in the codes' own units; UMAP / t-SNE have none


def collapse_warnings(runs: list[Run], names: dict[str, str]) -> list[str]:
    """One st.warning per run whose posterior collapsed (analysis.posterior_collapsed, the
    same test and text as the run's own pages); returns the names of those runs."""
    collapsed = []
    for r in runs:
        rec = epoch_record(r["id"], r["last_epoch"])
        if not rec or "val_kl_per_dim" not in rec:
            continue  # an AE: no KL term, nothing to collapse
        text = analysis.posterior_collapsed(rec["val_kl_per_dim"], rec.get("active_units", 0))
        if text:
            collapsed.append(names[r["id"]])
            st.warning(f"**{names[r['id']]}**: {text}", icon=":material/warning:")
    return collapsed


@st.cache_data(show_spinner=False, max_entries=32)
def code_spread(run_id: str, epoch: int) -> float:
    """Standard deviation of the run's codes (all dimensions pooled), in the codes' units."""
    snap = store().read_snapshot(run_id, store().snapshot_epochs(run_id)[-1])
    return float(np.std(np.asarray(snap["codes"], np.float64)))


def latent_row(runs: list[Run], names: dict[str, str], method: str) -> None:
    """One scatter per run, side by side; shared axes for raw codes and PCA."""
    projected = [projected_codes(r["id"], r["last_epoch"], method) for r in runs]
    shared = method in SHARED_SCALE
    ranges = axis_ranges([c for c, _, _ in projected]) if shared else None
    for col, r, (coords, labels, class_names) in zip(
        st.columns(len(runs)), runs, projected, strict=True
    ):
        spread = code_spread(r["id"], r["last_epoch"])
        fig = latent_scatter(
            coords,
            labels=labels,
            label_names=class_names,
            title=f"{names[r['id']]} · code std {spread:.2g}",
            axis_titles=axis_titles(method),
            ranges=ranges,
            height=360,
        )
        # One legend (the last plot's): the classes' colours are the same in every plot.
        fig.update_layout(showlegend=r is runs[-1])
        col.plotly_chart(fig, key=f"cmp_lat_{r['id']}")
    if shared:
        st.caption(
            "Every plot has the same axes, in the codes' own units: a run whose codes barely "
            "move (a collapsed VAE) is a small blob, not a cloud."
        )
    else:
        st.caption(
            f"{METHOD_TITLES[method]} positions have no units and each plot has its own "
            "scale: compare shapes, not sizes. The code std in each title is in the codes' "
            "own units; raw axes or PCA put every run on one scale."
        )
