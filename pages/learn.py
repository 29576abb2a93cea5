"""Learn: short lessons, each with a one-click experiment that opens the right page."""

import secrets

import streamlit as st

from aevae_core.experiments import LESSONS
from pages.ui.common import manager, select_run
from pages.ui.train_form import PRESET_KEY

st.title("Learn")
st.markdown(
    "Six short lessons. Each button starts (or sets up) an experiment and takes you to the "
    "page where you can see the effect. Runs train in the background: you can read on."
)

for number, lesson in enumerate(LESSONS, start=1):
    with st.container(border=True):
        st.subheader(f"{number}. {lesson.title}")
        st.markdown(lesson.text)
        st.caption(f"**What to look for:** {lesson.look_for}")
        if lesson.action == "queue":
            label = f"Train {len(lesson.configs)} models and compare them"
        else:
            label = "Set up this experiment on the Train page"
        if st.button(label, key=f"learn_{lesson.key}"):
            if lesson.action == "queue":
                group = secrets.token_hex(4)
                ids = [manager().submit(c, group_id=group) for c in lesson.configs]
                select_run(ids[-1])
                st.switch_page(lesson.page, query_params={"group": group})
            st.session_state[PRESET_KEY] = dict(lesson.preset)
            st.switch_page(lesson.page)
