"""aevae: learn and explore autoencoders in the browser.

    streamlit run app.py

This file is the entry point: page config, navigation over ``pages/`` and the shared
sidebar (device, active and queued jobs). Pages are thin; the work is in ``aevae_core``.

Everything runs under ``if __name__ == "__main__"`` (Streamlit runs this script as
``__main__``): the job manager's worker processes re-import the main module as
``__mp_main__``, and must not start an app (and a second job manager) of their own.
"""


def main() -> None:
    import streamlit as st

    from pages.ui.common import render_sidebar
    from pages.ui.preload import note_script_run

    st.set_page_config(page_title="aevae: autoencoders", page_icon="🧭", layout="wide")

    pages = {
        "Start": [
            st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
            st.Page("pages/learn.py", title="Learn", icon=":material/school:"),
        ],
        "Train": [
            st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
            st.Page("pages/runs.py", title="Runs", icon=":material/folder_open:"),
        ],
        "Explore": [
            st.Page("pages/reconstructions.py", title="Reconstructions", icon=":material/image:"),
            st.Page("pages/latent.py", title="Latent space", icon=":material/scatter_plot:"),
            st.Page("pages/traversals.py", title="Traversals & generation", icon=":material/tune:"),
            st.Page("pages/compare.py", title="Compare", icon=":material/compare:"),
        ],
    }
    page = st.navigation(pages)
    render_sidebar()  # notes that a script run started (preload.py)
    try:
        page.run()
    finally:
        note_script_run()  # and that it ended: the browser is drawing it now


if __name__ == "__main__":
    main()
