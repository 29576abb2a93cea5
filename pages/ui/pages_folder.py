"""The one place the app touches a Streamlit internal: its legacy ``pages/`` folder mode.

Why it exists. The app's pages live in a folder named ``pages/`` (a name the project keeps).
Streamlit (1.67, the version tested) takes a ``pages/`` folder next to the entry script as the
sign of a legacy "multipage app v1" and sets the class attribute
``PagesManager.uses_pages_directory`` (``streamlit.runtime.pages_manager``) to True when
its first session starts; until some script run calls ``st.navigation``, which sets it to
False for the rest of the process, each script run executes the requested page file
*without* app.py. So a shared link such as ``/train?run=…`` opened first after a server
start would show the page with no sidebar and no wide layout. No public API turns that mode
off short of calling ``st.navigation`` itself; this module does what ``st.navigation``
does to the flag, then reruns, so the request goes through app.py.

If Streamlit changes that attribute or that behaviour, tests/app/test_pages_folder.py fails
and says which; nothing else in the app refers to it.
"""

from __future__ import annotations

import streamlit as st


def use_app_navigation() -> None:
    """Route every request through app.py's st.navigation, even the very first one.

    Turns the legacy mode off, as ``st.navigation`` does, and reruns, so the page runs inside
    app.py. A no-op once any script run has called ``st.navigation`` (the flag stays off).
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
