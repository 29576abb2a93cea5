"""Runs: every run in the store; filter, open, delete (with confirmation), download.

Everyone sees every run (pinned examples first); stop and delete only their own, unless in
teacher mode, which adds the class view and pinning."""

import pandas as pd
import streamlit as st

from aevae_core.store.record import ACTIVE, STATUSES
from aevae_core.store.runs import NAME_MAX
from pages.ui.class_view import class_view, pin_toggle
from pages.ui.classroom import control, is_teacher, owner_label, refusal
from pages.ui.common import (
    ago,
    manager,
    model_label,
    run_label,
    select_run,
    selected_run_id,
    store,
)
from pages.ui.exports import downloads_row

st.title("Runs")
runs = store().list_runs()
if not runs:
    st.info("No runs yet: start one on the **Train** page or with `python -m aevae_core train`.")
    st.stop()
if is_teacher():
    class_view(runs)

c1, c2, c3 = st.columns(3)
statuses = c1.multiselect("Status", STATUSES, key="runs_status")
datasets = c2.multiselect("Dataset", sorted({r["dataset"] for r in runs}), key="runs_dataset")
models = c3.multiselect("Model", sorted({r["model"] for r in runs}), key="runs_model")
shown = [
    r
    for r in runs
    if (not statuses or r["status"] in statuses)
    and (not datasets or r["dataset"] in datasets)
    and (not models or r["model"] in models)
]
table = pd.DataFrame(
    {
        "run": [("📌 " if r["pinned"] else "") + r["id"] for r in shown],
        "name": [r["name"] for r in shown],
        "status": [r["status"] for r in shown],
        "owner": [owner_label(r["owner"]) for r in shown],
        "dataset": [r["dataset"] for r in shown],
        "model": [model_label(r) for r in shown],
        "latent dim": [r["latent_dim"] for r in shown],
        "beta": [f"{r['beta']:g}" if r["model"] == "vae" else "" for r in shown],  # none for an AE
        "epochs": [f"{r['last_epoch']}/{r['epochs']}" for r in shown],
        "val loss (nats/image)": [r["val_loss"] for r in shown],
        "created": [ago(r["created"]) for r in shown],
    }
)
event = st.dataframe(
    table,
    hide_index=True,
    on_select="rerun",
    selection_mode="single-row",
    key="runs_table",
    column_config={"val loss (nats/image)": st.column_config.NumberColumn(format="%.2f")},
)
st.caption(
    f"{len(shown)} of {len(runs)} runs. Select a row to act on it. Val loss: the training "
    "objective (reconstruction + β·KL) on validation images, the −ELBO only for a VAE with "
    "β = 1; with BCE on grey pixels a relative score, with a Gaussian decoder a density "
    "(it can be negative)."
)

rows = event.selection.rows if event else []
run_id = shown[rows[0]]["id"] if rows else selected_run_id()
run = next((r for r in runs if r["id"] == run_id), None)
if run is None:
    st.stop()
select_run(run["id"])
st.subheader(run_label(run))
if run["reason"]:
    st.caption(f"Reason: {run['reason']}")
if run["node"] or run["host"]:  # where it trained (a Ray node for the ray backend)
    st.caption(f"Ran on {run['node'] or run['host']} ({run['backend']} backend)")
name = st.text_input(
    "Name",
    run["name"],
    max_chars=NAME_MAX,
    key=f"runs_name_{run['id']}",
    placeholder="e.g. wide AE, my first VAE",
    help="A name shown with the run everywhere (press Enter to save).",
    disabled=bool(refusal(run)),
)
if " ".join(name.split()) != run["name"]:  # as set_name stores it
    store().set_name(run["id"], name)
    st.rerun()
if is_teacher():
    pin_toggle(run)

downloads_row(run)

with st.expander("Delete this run"):
    refused = refusal(run)  # another student's run: disabled, with the reason
    if refused:
        st.caption(refused)
    if run["status"] in ACTIVE:
        st.caption("Stop the run before deleting it.")
        if st.button("Stop", key="runs_stop", disabled=bool(refused), help=refused):
            manager().cancel(run["id"], **control(run))
            st.rerun()
    else:
        confirm = st.checkbox(
            f"Yes, delete {run['id']} and its files", key="runs_confirm", disabled=bool(refused)
        )
        if st.button("Delete", type="primary", disabled=not confirm or bool(refused),
                     key="runs_delete", help=refused):  # fmt: skip
            manager().delete(run["id"], **control(run))
            st.session_state.pop("run_id", None)
            st.query_params.clear()
            st.toast(f"Deleted {run['id']}")
            st.rerun()
