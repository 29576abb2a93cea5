"""Shared UI pieces for the pages: the job manager, the selected run, the sidebar.

Not a page itself (app.py lists the pages). Everything here is thin glue over aevae_core.
"""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from aevae_core.engine.devices import device_summary
from aevae_core.jobs.live_view import LiveView
from aevae_core.jobs.manager import JobManager
from aevae_core.store.record import Run
from aevae_core.store.runs import RunNotFound, RunStore, is_run_id
from pages.ui.pages_folder import use_app_navigation
from pages.ui.preload import (
    PRELOAD_DELAY_S,
    limit_torch_threads,
    note_script_run,
    start_preload,
    watch,
)

RUN_KEY = "run_id"
# Material icons, not emoji: a machine without an emoji font shows emoji as empty boxes.
# They render where Streamlit renders Markdown (captions, headers, page links), not in the
# options of a selectbox: there run_label(icon=False) names the status in words.
STATUS_ICONS = {
    "queued": ":material/schedule:",
    "running": ":material/directions_run:",
    "completed": ":material/check_circle:",
    "stopped": ":material/stop_circle:",
    "failed": ":material/error:",
    "diverged": ":material/trending_up:",
    "interrupted": ":material/warning:",
}


@st.cache_resource(show_spinner=False)
def manager() -> JobManager:
    """One job manager per server process (st.cache_resource), shared by every session.

    Created by the first page a server renders: it starts the workers' forkserver in its
    own low-priority process (launch.py) and schedules the server's torch import a few
    seconds later (preload.py); neither imports torch in this thread (test_home_no_torch).
    """
    mgr = JobManager()
    watch(mgr)  # the preload's second stage waits for its workers and first points
    start_preload(PRELOAD_DELAY_S)  # after the first page is served
    return mgr


def store() -> RunStore:
    return manager().store


@st.cache_resource(show_spinner=False)
def view() -> LiveView:
    """The server's one shared reader of the store for live widgets (aevae_core.jobs.live_view):
    30 sessions' refreshes cost about one session's store reads."""
    return LiveView(store())


def get_run(run_id: str | None) -> Run | None:
    """The run's row as the store has it now (one indexed read: statuses are never stale)."""
    if not is_run_id(run_id):
        return None
    try:
        return store().get_run(run_id)
    except RunNotFound:
        return None


def selected_run_id() -> str | None:
    """The run in the URL (?run=...) wins, so a shared link opens the same run."""
    from_url = st.query_params.get("run")
    if from_url and get_run(from_url):
        st.session_state[RUN_KEY] = from_url
        return from_url  # read once: this is what the session holds now
    run_id = st.session_state.get(RUN_KEY)
    return run_id if get_run(run_id) else None


def select_run(run_id: str) -> None:
    st.session_state[RUN_KEY] = run_id
    st.query_params["run"] = run_id


def model_label(run: Run) -> str:
    """AE, VAE, or "β-VAE β=4" for a VAE whose β is not 1."""
    if run["model"] == "vae" and run["beta"] != 1:
        return f"β-VAE β={run['beta']:g}"
    return run["model"].upper()


def run_label(run: Run, *, icon: bool = True) -> str:
    """The run's name (when it has one), model, code size, data and ID, after its status
    icon; with ``icon=False`` (plain-text places like a selectbox) an unfinished status is
    said in words instead."""
    name = f"{run['name']} · " if run.get("name") else ""
    text = f"{name}{model_label(run)} · z={run['latent_dim']} · {run['dataset']} · {run['id']}"
    if icon:
        return f"{STATUS_ICONS.get(run['status'], '')} {text}".strip()
    return text if run["status"] == "completed" else f"{text} ({run['status']})"


def run_picker(
    label: str = "Run", *, key: str, statuses: tuple[str, ...] | None = None
) -> dict[str, Any] | None:
    """A selectbox of runs; defaults to the run in the URL, else the latest completed one."""
    runs = store().list_runs(statuses=statuses)
    if not runs:
        return None
    ids = [r["id"] for r in runs]
    current = selected_run_id()
    if current not in ids:
        completed = [r["id"] for r in runs if r["status"] == "completed"]
        current = completed[0] if completed else ids[0]
    by_id = {r["id"]: r for r in runs}
    chosen = st.selectbox(
        label,
        ids,
        index=ids.index(current),
        key=key,
        format_func=lambda i: run_label(by_id[i], icon=False),
    )
    if chosen != st.query_params.get("run"):
        select_run(chosen)
    return by_id[chosen]


def ago(timestamp: float | None) -> str:
    if not timestamp:
        return "-"
    seconds = max(0, int(time.time() - timestamp))
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(timestamp))


def render_sidebar() -> None:
    from pages.ui.classroom import keep_owner_cookie, teacher_sidebar  # it imports this module
    from pages.ui.jobs_list import jobs_list, refresh_interval  # so does this one

    note_script_run()
    limit_torch_threads()
    mgr = manager()
    with st.sidebar:
        keep_owner_cookie()
        st.caption(f"**Device** · {device_summary(mgr.threads_per_job)}")
        st.caption(f"Up to {mgr.capacity} job{'s' if mgr.capacity > 1 else ''} at once")
        teacher_sidebar()
        # Refreshed on its own while jobs run, so its labels keep in step with the live panel
        # (drawn once per full rerun it said "epoch 0/20" while the panel said 4/20).
        st.fragment(run_every=refresh_interval(view()))(jobs_list)(view())


# Last: in Streamlit's legacy pages/ mode (a first request after a server start) this reruns
# through app.py, which aborts this module's import; a session importing it at that moment
# (30 students opening a link at once) is handed the aborted module by Python, so every
# name must already be defined in it.
use_app_navigation()
