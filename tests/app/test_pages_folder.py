"""Streamlit's legacy ``pages/`` mode, and the one module that turns it off
(pages/ui/pages_folder.py, the app's only use of a Streamlit internal).

A tiny app in a temporary folder, laid out as ours is (an entry script calling
``st.navigation`` over files in ``pages/``), run by AppTest with Streamlit's own
PagesManager (this suite's conftest otherwise replaces it by a server-like one):

* the internal still exists where the module reads it;
* Streamlit still needs the workaround: a page that does not call it runs *without* the
  entry script (if this fails, Streamlit fixed it: delete pages_folder.py and this test);
* with the workaround, the page runs inside the entry script (sidebar and all).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import streamlit.testing.v1.app_test as app_test_module
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

import pages.ui.pages_folder  # noqa: F401  (imported, so the pages below find it)

APP_RAN = "the entry script ran"
ENTRY = f"""
import streamlit as st
st.sidebar.caption({APP_RAN!r})
st.navigation([st.Page("pages/plain.py", default=True), st.Page("pages/routed.py")]).run()
"""
PLAIN = "import streamlit as st\nst.title('plain')\n"
ROUTED = """
import streamlit as st
from pages.ui.pages_folder import use_app_navigation
use_app_navigation()
st.title('routed')
"""


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(app_test_module, "PagesManager", PagesManager)  # Streamlit's own
    monkeypatch.setattr(PagesManager, "uses_pages_directory", PagesManager.uses_pages_directory)
    (tmp_path / "pages").mkdir()
    (tmp_path / "app.py").write_text(textwrap.dedent(ENTRY))
    (tmp_path / "pages" / "plain.py").write_text(PLAIN)
    (tmp_path / "pages" / "routed.py").write_text(textwrap.dedent(ROUTED))
    return tmp_path / "app.py"


def _open(app: Path, page: str) -> AppTest:
    at = AppTest.from_file(str(app), default_timeout=30)
    at.switch_page(page).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_streamlit_still_has_the_flag_the_module_sets(app: Path):
    assert "uses_pages_directory" in vars(PagesManager), (
        "Streamlit's PagesManager has no class attribute uses_pages_directory any more: "
        "pages/ui/pages_folder.py must be revised for this Streamlit version"
    )
    PagesManager.uses_pages_directory = None
    PagesManager(str(app))
    assert PagesManager.uses_pages_directory is True, (
        "Streamlit no longer flags an app with a pages/ folder as a legacy multipage app: "
        "check whether pages/ui/pages_folder.py is still needed"
    )


def test_without_the_workaround_a_page_runs_without_the_entry_script(app: Path):
    at = _open(app, "pages/plain.py")
    assert [t.value for t in at.title] == ["plain"]
    assert APP_RAN not in [c.value for c in at.sidebar.caption], (
        "Streamlit's legacy pages/ mode no longer bypasses the entry script: "
        "pages/ui/pages_folder.py may be unneeded (delete it, its call in common.py, this test)"
    )


def test_with_the_workaround_the_page_runs_inside_the_entry_script(app: Path):
    at = _open(app, "pages/routed.py")
    assert [t.value for t in at.title] == ["routed"]
    assert APP_RAN in [c.value for c in at.sidebar.caption], (
        "use_app_navigation() no longer routes a pages/ file through the entry script: "
        "Streamlit changed its legacy pages/ mode; revise pages/ui/pages_folder.py"
    )
    assert PagesManager.uses_pages_directory is False
