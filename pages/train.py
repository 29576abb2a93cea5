"""Train: choose data, model and hyperparameters; start a background job; watch it live."""

import time

import streamlit as st
import streamlit.components.v1 as components

from aevae_core.config import ConfigError, TrainConfig
from aevae_core.jobs import admission
from aevae_core.store.record import ACTIVE
from pages.ui.classroom import owner
from pages.ui.common import get_run, manager, select_run, selected_run_id
from pages.ui.train_form import config_form, dataset_preview
from pages.ui.train_live import live_panel


@st.cache_data(show_spinner=False, max_entries=64, ttl=30)
def check(config_json: str) -> tuple[str, str] | None:
    """The admission check every path runs (jobs/admission.py), explained before Start."""
    try:
        admission.check(TrainConfig.from_json(config_json))
    except ConfigError as exc:
        return exc.field, exc.message
    return None


REFUSED_KEY = "train_refused"
LAST_START_KEY = "train_last_start"  # (config JSON, run id) of this session's last Start
SCROLL_KEY = "train_scroll_to_live"
# After Start, at the foot of a form taller than a laptop's 768 px, the run's panel (top of
# the right column) is out of view: one script scrolls it into view, once per Start. A
# components iframe is same-origin with the app, so it may scroll its parent page.
SCROLL_TO_LIVE = """<script>
const doc = window.parent.document;
let tries = 0;
const go = () => {
  const el = doc.querySelector('.st-key-train_live');
  if (el) { el.style.scrollMarginTop = '4rem'; el.scrollIntoView({block: 'start'}); }
  else if (tries++ < 50) setTimeout(go, 100);
};
go();
</script>"""


def start(config: TrainConfig) -> None:
    """Submit ``config``; a second Start of the same settings while that run is still queued
    or running (a double click: two reruns, each with the button pressed) shows that run."""
    config_json = config.to_json()
    last = st.session_state.get(LAST_START_KEY)
    if last and last[0] == config_json and (get_run(last[1]) or {}).get("status") in ACTIVE:
        select_run(last[1])
        st.session_state[SCROLL_KEY] = True  # the student did not see it: show it again
        return
    try:
        run_id = manager().submit(config, owner=owner())
    except ConfigError as exc:  # also the quota and the rate limit (classroom.py)
        st.session_state[REFUSED_KEY] = f"**{exc.field}**: {exc.message}"
        return
    st.session_state[LAST_START_KEY] = (config_json, run_id)
    st.session_state[SCROLL_KEY] = True
    select_run(run_id)
    st.rerun()


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
        start(config)
    # Kept until the next click: the live panel's reruns would otherwise wipe it at once.
    if REFUSED_KEY in st.session_state:
        st.error(st.session_state[REFUSED_KEY], icon=":material/block:")

with live_col, st.container(key="train_live"):
    if st.session_state.pop(SCROLL_KEY, False):
        # A new text each time: the same iframe, kept by the browser, would not run again.
        components.html(f"{SCROLL_TO_LIVE}<!-- {time.time_ns()} -->", height=0)
    run_id = selected_run_id()
    if run_id is None:
        st.info(
            "Start a run on the left, or open one from the **Runs** page.",
            icon=":material/arrow_back:",
        )
    else:
        live_panel(run_id)
