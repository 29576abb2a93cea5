"""A first start: no runs at all. Every page renders and says what to do, none crashes."""

from __future__ import annotations

import pytest
from app_helpers import PAGES, no_exception, open_page, texts


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_renders_with_no_runs(app_env, page):
    assert not app_env.store.list_runs()
    at = open_page(page.path)
    no_exception(at)
    assert at.title, f"{page.path} shows no st.title"


def test_runs_page_says_how_to_start(app_env):
    at = open_page("pages/runs.py")
    no_exception(at)
    assert "No runs yet" in texts(at.info)
    assert not at.dataframe
