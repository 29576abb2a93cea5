"""Every page listed in app.py renders without an exception, with and without a run selected.

The page list is read from app.py, so a new page is covered as soon as the app lists it.
"""

from __future__ import annotations

import pytest
from app_helpers import (
    PAGES,
    REPO,
    current_page,
    new_app,
    no_exception,
    open_page,
    page_heading,
)

from aevae_core.config import TrainConfig
from aevae_core.store.runs import RunStore

PAGE_IDS = [p.name for p in PAGES]


def test_app_lists_pages():
    assert len(PAGES) >= 4
    assert [p.name for p in PAGES if p.default] == ["home"], "Home is the default page"
    for page in PAGES:
        assert (REPO / page.path).is_file(), f"app.py lists {page.path}, which does not exist"


def test_app_opens_on_the_default_page(app_env):
    at = new_app().run()
    no_exception(at)
    default = next(p for p in PAGES if p.default)
    assert current_page(at) == page_heading(default.path)


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_page_renders_with_a_trained_run(app_env, completed_run, page):
    at = open_page(page.path, {"run": completed_run})
    no_exception(at)
    assert at.title, f"{page.path} shows no st.title"
    # The shared sidebar is drawn on every page (device and jobs).
    assert "Device" in "\n".join(c.value for c in at.sidebar.caption)


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_page_renders_with_a_stale_run_link(app_env, completed_run, page):
    """A shared link to a run that no longer exists (or a garbled id) must not crash."""
    at = open_page(page.path, {"run": "20000101-000000-abcdef"})
    no_exception(at)
    assert at.title
    at.query_params["run"] = "../../etc/passwd"
    at.run()
    no_exception(at)


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_page_renders_with_a_failed_run(app_env, page):
    """A run that failed before its first epoch has no metrics, snapshot or checkpoint."""
    store = RunStore(app_env.runs_dir)
    run_id = store.create_run(TrainConfig(dataset="digits", epochs=2), status="running")
    store.finish(run_id, "failed", "made by a test: failed before the first epoch")
    try:
        at = open_page(page.path, {"run": run_id})
        no_exception(at)
    finally:
        store.delete_run(run_id)
