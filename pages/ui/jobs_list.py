"""The sidebar's list of active jobs and the epoch label it shares with the live panel."""

from __future__ import annotations

from typing import Any

import streamlit as st

from aevae_core.jobs.live_view import LiveView
from aevae_core.store.record import ACTIVE, Run
from pages.ui.classroom import is_teacher, owner
from pages.ui.common import STATUS_ICONS, model_label

JOBS_REFRESH_S = 1.0  # s, while a job listed runs (its epoch label moves)
QUEUED_JOBS_REFRESH_S = 2.0  # s, while the jobs listed wait (as the live panel does)
OTHERS_REFRESH_S = 5.0  # s, when only the count of the class's jobs is shown
LIST_ALL_UP_TO = 5  # active jobs; beyond, a student's list shows only their own


def _shown(view: LiveView) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the active jobs listed with links, the active jobs only counted)."""
    active = view.runs(ACTIVE)
    if len(active) <= LIST_ALL_UP_TO or is_teacher():
        return active, []
    me = owner()
    return [r for r in active if r["owner"] == me], [r for r in active if r["owner"] != me]


def refresh_interval(view: LiveView) -> float | None:
    """How often this session's job list refreshes itself: every second while a job it
    lists runs, as the live panel does while queued, slowly when it only counts the
    class's jobs, never when no job is active. (30 students' lists refreshing every second
    were half of a class server's script runs.) A full rerun, which the live panel makes
    when its run starts or ends, sets the interval again."""
    shown, others = _shown(view)
    if any(r["status"] == "running" for r in shown):
        return JOBS_REFRESH_S
    if shown:
        return QUEUED_JOBS_REFRESH_S
    return OTHERS_REFRESH_S if others else None


def epoch_label(run: Run) -> str:
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
    shown, others = _shown(view)
    if not shown and not others:
        st.caption("No jobs running.")
        return
    st.markdown("**Jobs**")
    for run in sorted(shown, key=lambda r: (r["status"] != "running", r["seq"])):
        progress = epoch_label(run) if run["status"] == "running" else "queued"
        st.page_link(
            "pages/train.py",
            label=f"{model_label(run)} {run['dataset']} · {progress}",
            icon=STATUS_ICONS[run["status"]],
            query_params={"run": run["id"]},
        )
    if others:
        running = sum(r["status"] == "running" for r in others)
        st.caption(
            f"{'And ' if shown else ''}{len(others)} job{'s' if len(others) > 1 else ''} of "
            f"others: {running} running, {len(others) - running} queued."
        )
