"""Compare's metrics: read from the store (the worker stored them at the end of each run);
for runs that lack them, computed in a background thread while the page draws what it has.

Never on the render path: ``aevae_core.jobs.run_eval.MetricsInBackground`` does the work, and a
small fragment re-runs the page once the missing metrics are stored.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from aevae_core.explore.metric_labels import comparison_rows
from aevae_core.jobs.run_eval import MetricsInBackground
from aevae_core.store.record import Run
from pages.ui.common import store

POLL_S = 1.0


@st.cache_resource(show_spinner=False)
def background(root: str) -> MetricsInBackground:
    """One background computer per runs directory for the whole server."""
    return MetricsInBackground(store())


def _worker_computes(run: Run) -> bool:
    """A live run on its last epoch: its worker is computing the metrics before it reads
    "completed" (runner.final_metrics); computing them here too would do the work twice."""
    return run["status"] == "running" and run["last_epoch"] >= run["epochs"]


def collect(runs: list[Run]) -> dict[str, dict[str, Any] | None]:
    """Run id -> its stored metrics at its last epoch, or None while they are computed."""
    computer = background(str(store().root))
    return {
        r["id"]: computer.get(r["id"], r["last_epoch"], start=not _worker_computes(r)) for r in runs
    }


def _pending_note(runs: list[Run], names: dict[str, str]) -> None:
    """One line naming the runs whose metrics are still computed; re-runs the page when
    they are stored (or their computation failed)."""
    computer = background(str(store().root))
    failed = {r["id"]: computer.error(r["id"], r["last_epoch"]) for r in runs}
    for r in runs:
        if failed[r["id"]]:
            st.warning(
                f"**{names[r['id']]}**: its metrics could not be computed ({failed[r['id']]}).",
                icon=":material/error:",
            )
    waiting = [r for r in runs if not failed[r["id"]]]
    if not waiting:
        return
    st.caption(
        ":material/hourglass_top: Computing the metrics of "
        + ", ".join(names[r["id"]] for r in waiting)
        + " (once per run); they appear here when ready."
    )

    @st.fragment(run_every=POLL_S)
    def poll() -> None:
        got = collect([store().get_run(r["id"]) for r in waiting])
        errors = [computer.error(r["id"], r["last_epoch"]) for r in waiting]
        if all(m is not None or e for m, e in zip(got.values(), errors, strict=True)):
            st.rerun()

    poll()


def metrics_section(runs: list[Run], names: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The table (runs with metrics), its captions and the note for the others; returns
    run name -> metrics for the runs that have them."""
    found = collect(runs)
    metrics = {names[i]: m for i, m in found.items() if m is not None}
    missing = [r for r in runs if found[r["id"]] is None]
    if metrics:
        st.dataframe(pd.DataFrame(comparison_rows(metrics)), hide_index=True, key="cmp_table")
    if missing:
        _pending_note(missing, names)
    if not metrics:
        return metrics
    if len({m["likelihood_kind"] for m in metrics.values()}) > 1:
        st.warning(
            "These runs use different decoder likelihoods: their reconstruction terms, ELBOs "
            "and NLLs measure different things and do not compare.",
            icon=":material/warning:",
        )
    first = next(iter(metrics.values()))
    st.caption(
        f"Reconstruction and KL are the ELBO's two terms (nats per image); they, the ELBO and "
        f"the importance-weighted NLL (k = 50) are computed on the same "
        f"{first['likelihood_images']} validation images, the other rows on "
        f"{first['n_images']}. An AE has no ELBO or NLL. Bits/dim only for binarised pixels, "
        "where the NLL is a probability of discrete data. kNN accuracy: how well a "
        "5-nearest-neighbour classifier predicts the label from the codes, i.e. how much "
        "label information the codes keep. MIG (sprites only) is high when each generative "
        "factor is captured by one latent dimension."
    )
    notes = {name: m["likelihood_note"] for name, m in metrics.items()}
    if len(set(notes.values())) == 1:
        st.caption(first["likelihood_note"])
    else:
        for name, note in notes.items():
            st.caption(f"**{name}**: {note}")
    return metrics


def prior_distances(runs: list[Run], names: dict[str, str], metrics: dict) -> str:
    """ "AE 2.31; VAE 1.87": each run's stored prior-sample distance ("…" while computed)."""
    return "; ".join(
        f"{names[r['id']]} "
        + (f"{metrics[names[r['id']]]['prior_distance']:.2f}" if names[r["id"]] in metrics else "…")
        for r in runs
    )
