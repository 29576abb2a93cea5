"""Train: choose data, model and hyperparameters; start a background job; watch it live."""

import streamlit as st

from aevae_core.config import ConfigError, validate
from pages.ui.common import manager, select_run, selected_run_id
from pages.ui.train_form import config_form, dataset_preview
from pages.ui.train_live import live_panel

st.title("Train")
form_col, live_col = st.columns([2, 3], gap="large")

with form_col:
    config = config_form()
    dataset_preview(config)
    error = None
    if config is not None:
        try:
            validate(config)
        except ConfigError as exc:
            error = exc
    if error is not None:
        st.error(f"**{error.field}**: {error.message}", icon=":material/block:")
    if st.button(
        "Start training",
        type="primary",
        disabled=config is None or error is not None,
        key="train_start",
    ):
        run_id = manager().submit(config)
        select_run(run_id)
        st.rerun()

with live_col:
    run_id = selected_run_id()
    if run_id is None:
        st.info(
            "Start a run on the left, or open one from the **Runs** page.",
            icon=":material/arrow_back:",
        )
    else:
        live_panel(run_id)
