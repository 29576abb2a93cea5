"""Train: choose data, model and hyperparameters; start a background job; watch it live."""

import streamlit as st

from aevae_core.config import ConfigError, TrainConfig, validate
from aevae_core.preflight import check_memory
from aevae_core.train import resolve_device
from pages.ui.classroom import owner
from pages.ui.common import manager, select_run, selected_run_id
from pages.ui.train_form import config_form, dataset_preview
from pages.ui.train_live import live_panel


@st.cache_data(show_spinner=False, max_entries=64, ttl=30)
def check(config_json: str) -> tuple[str, str] | None:
    """aevae_core's validation, device and memory pre-flight, explained before Start."""
    try:
        config = validate(TrainConfig.from_json(config_json))
        resolve_device(config.device)
        check_memory(config)
    except ConfigError as exc:  # resolve_device's too: cuda asked for, no GPU here
        return exc.field, exc.message
    return None


REFUSED_KEY = "train_refused"

st.title("Train")
form_col, live_col = st.columns([2, 3], gap="large")

with form_col:
    config = config_form()
    dataset_preview(config)
    error = check(config.to_json()) if config is not None else None
    if error is not None:
        st.error(f"**{error[0]}**: {error[1]}", icon=":material/block:")
    refused = config is None or error is not None
    # A disabled button cannot be clicked in a browser; the guard keeps it so for any client.
    if (
        st.button("Start training", type="primary", disabled=refused, key="train_start")
        and not refused
    ):
        st.session_state.pop(REFUSED_KEY, None)
        try:
            run_id = manager().submit(config, owner=owner())
        except ConfigError as exc:  # also the quota and the rate limit (classroom.py)
            st.session_state[REFUSED_KEY] = f"**{exc.field}**: {exc.message}"
        else:
            select_run(run_id)
            st.rerun()
    # Kept until the next click: the live panel's reruns would otherwise wipe it at once.
    if REFUSED_KEY in st.session_state:
        st.error(st.session_state[REFUSED_KEY], icon=":material/block:")

with live_col:
    run_id = selected_run_id()
    if run_id is None:
        st.info(
            "Start a run on the left, or open one from the **Runs** page.",
            icon=":material/arrow_back:",
        )
    else:
        live_panel(run_id)
