"""The sidebar's list of active jobs and the epoch label it shares with the live panel."""

from __future__ import annotations

from typing import Any

import streamlit as st

from aevae_core.live_view import LiveView
from aevae_core.store import ACTIVE
from pages.ui.classroom import is_teacher, owner
from pages.ui.common import STATUS_ICONS, model_label

JOBS_REFRESH_S = 1.0  # s; the live panel refreshes every 0.5 s
LIST_ALL_UP_TO = 5  # active jobs; beyond, a student's list shows only their own


def epoch_label(run: dict[str, Any]) -> str:
    """'epoch e/E': the epoch in progress while running, else the epochs completed."""
    epoch = run["last_epoch"]
    if run["status"] == "running":
        epoch = min(run["epochs"], epoch + 1)
    return f"epoch {epoch}/{run['epochs']}"


def jobs_list(view: LiveView) -> None:
    """The sidebar's active jobs, each a link to its live panel.

    In a class (more than ``LIST_ALL_UP_TO`` active jobs) a student's list shows their own
    jobs and one line counting the others: thirty links would bury theirs, and every link
    costs the server file-system calls on each refresh. The teacher sees every job.
    """
    active = view.runs(ACTIVE)
    if not active:
        st.caption("No jobs running.")
        return
    shown = active
    if len(active) > LIST_ALL_UP_TO and not is_teacher():
        me = owner()
        shown = [r for r in active if r["owner"] == me]
    st.markdown("**Jobs**")
    for run in sorted(shown, key=lambda r: (r["status"] != "running", r["seq"])):
        progress = epoch_label(run) if run["status"] == "running" else "queued"
        st.page_link(
            "pages/train.py",
            label=f"{model_label(run)} {run['dataset']} · {progress}",
            icon=STATUS_ICONS[run["status"]],
            query_params={"run": run["id"]},
        )
    others = [r for r in active if r not in shown]
    if others:
        running = sum(r["status"] == "running" for r in others)
        st.caption(
            f"{'And ' if shown else ''}{len(others)} job{'s' if len(others) > 1 else ''} of "
            f"others: {running} running, {len(others) - running} queued."
        )
