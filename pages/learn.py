"""Learn: short lessons, each one click: it trains every run it needs and opens the page and
the view where the effect shows (see pages/ui/lesson.py for the banner that measures it)."""

import streamlit as st

from aevae_core.lessons.experiments import LESSONS, lesson_params
from pages.ui.common import store
from pages.ui.lesson import start_lesson, trained_runs

PAGE_TITLES = {  # app.py's titles of the pages a lesson opens
    "pages/compare.py": "Compare",
    "pages/reconstructions.py": "Reconstructions",
    "pages/latent.py": "Latent space",
}

st.title("Learn")
st.markdown(
    f"{len(LESSONS)} short lessons. Each button trains the models a lesson needs (including "
    "the one to compare with) and opens the page where the effect shows. Runs train in the "
    "background: the page fills in, with the lesson's measured number, when they finish."
)

for number, lesson in enumerate(LESSONS, start=1):
    with st.container(border=True):
        st.subheader(f"{number}. {lesson.title}")
        st.markdown(lesson.text)
        st.caption(f"**What to look for:** {lesson.look_for}")
        page = PAGE_TITLES.get(lesson.page, "its page")
        done = trained_runs(store(), lesson)
        n = len(lesson.configs)
        if done:  # pre-trained (e.g. `python -m aevae_core lessons pretrain` before class)
            label = f"Open the {n} trained model{'s' * (n > 1)} on {page}"
        else:
            label = f"Train {n} model{'s' * (n > 1)} and open {page}"
        if st.button(label, key=f"learn_{lesson.key}", type="primary" if done else "secondary"):
            ids = done or start_lesson(lesson)
            st.switch_page(lesson.page, query_params=lesson_params(lesson, ids))
