"""The teacher's class view on the Runs page: who runs what, the queue, each owner's count,
"Stop all", and pinning example runs (every student's lists show them first)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from aevae_core.store.record import Run
from pages.ui.classroom import owner_label
from pages.ui.common import ago, manager, store


def class_view(runs: list[Run]) -> None:
    """The whole class at a glance (teacher mode only; the page checks)."""
    with st.container(border=True):
        st.subheader("Class view")
        running = [r for r in runs if r["status"] == "running"]
        order = manager().start_order()
        owners = sorted({r["owner"] for r in runs})
        counts = pd.DataFrame(
            {
                "owner": [owner_label(o) for o in owners],
                "running": [sum(r["owner"] == o for r in running) for o in owners],
                "queued": [sum(r["owner"] == o for r in order) for o in owners],
                "runs in all": [sum(r["owner"] == o for r in runs) for o in owners],
            }
        ).sort_values(["running", "queued"], ascending=False)
        c1, c2 = st.columns(2)
        c1.markdown(f"**Owners** · {len(owners)}")
        c1.dataframe(counts, hide_index=True, key="class_counts")
        c2.markdown(f"**Running** · {len(running)} of {manager().capacity} workers")
        c2.dataframe(
            pd.DataFrame(
                {
                    "owner": [owner_label(r["owner"]) for r in running],
                    "run": [r["id"] for r in running],
                    "model": [f"{r['model'].upper()} {r['dataset']}" for r in running],
                    "epoch": [f"{r['last_epoch']}/{r['epochs']}" for r in running],
                }
            ),
            hide_index=True,
            key="class_running",
        )
        st.markdown(f"**Queue** · {len(order)} waiting, in the order they will start")
        st.dataframe(
            pd.DataFrame(
                {
                    "position": list(range(1, len(order) + 1)),
                    "owner": [owner_label(r["owner"]) for r in order],
                    "run": [r["id"] for r in order],
                    "model": [f"{r['model'].upper()} {r['dataset']}" for r in order],
                    "queued": [ago(r["created"]) for r in order],
                }
            ),
            hide_index=True,
            key="class_queue",
        )
        active = len(running) + len(order)
        if st.button(
            f"Stop all ({active} active)", key="class_stop_all", disabled=not active,
            icon=":material/stop_circle:",
        ):  # fmt: skip
            st.toast(f"Stopped {manager().stop_all()} runs")
            st.rerun()


def pin_toggle(run: Run) -> None:
    """Pin or unpin the selected run as an example (teacher mode only)."""
    pinned = st.toggle(
        "Pin as an example: every student sees it first",
        value=bool(run["pinned"]),
        key=f"pin_{run['id']}",
    )
    if pinned != bool(run["pinned"]):
        store().set_pinned(run["id"], pinned)
        st.rerun()
