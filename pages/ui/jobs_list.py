"""The sidebar's list of active jobs and the epoch label it shares with the live panel."""

from __future__ import annotations

from typing import Any

import streamlit as st

from aevae_core.jobs import JobManager
from aevae_core.store import ACTIVE
from pages.ui.common import STATUS_ICONS, model_label

JOBS_REFRESH_S = 1.0  # s; the live panel refreshes every 0.5 s


def epoch_label(run: dict[str, Any]) -> str:
    """'epoch e/E': the epoch in progress while running, else the epochs completed."""
    epoch = run["last_epoch"]
    if run["status"] == "running":
        epoch = min(run["epochs"], epoch + 1)
    return f"epoch {epoch}/{run['epochs']}"


def jobs_list(mgr: JobManager) -> None:
    """The sidebar's active jobs, each a link to its live panel."""
    active = mgr.store.list_runs(statuses=ACTIVE)
    if not active:
        st.caption("No jobs running.")
        return
    st.markdown("**Jobs**")
    for run in sorted(active, key=lambda r: (r["status"] != "running", r["seq"])):
        progress = epoch_label(run) if run["status"] == "running" else "queued"
        st.page_link(
            "pages/train.py",
            label=f"{model_label(run)} {run['dataset']} · {progress}",
            icon=STATUS_ICONS[run["status"]],
            query_params={"run": run["id"]},
        )
