"""Helpers for the AppTest suite (imported by conftest.py and the test modules).

The pages are read from ``app.py``'s ``st.Page(...)`` calls, so a page the app gains is
covered by the parametrized tests without touching this suite.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "app.py"
if str(REPO) not in sys.path:  # plain `pytest` (not `python -m pytest`) from anywhere
    sys.path.insert(0, str(REPO))
if str(REPO / "tests") not in sys.path:  # the page list both suites share
    sys.path.insert(0, str(REPO / "tests"))

from page_list import PageInfo, app_pages, page_heading  # noqa: E402, F401
from streamlit.testing.v1 import AppTest  # noqa: E402
from support import polling  # noqa: E402

from aevae_core.config import TrainConfig  # noqa: E402
from aevae_core.jobs.runner import execute_run  # noqa: E402
from aevae_core.store.runs import RunStore  # noqa: E402

TIMEOUT_S = 60


PAGES = app_pages()


def new_app() -> AppTest:
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)


def open_page(page: str, query: dict[str, str] | None = None) -> AppTest:
    """A fresh session opened on ``page`` (with ``?key=value`` query parameters).

    Before the first run AppTest finds a page by its file name, which is how app.py's
    pages are registered (none sets a custom ``url_path``).
    """
    at = new_app()
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.switch_page(page).run()


def no_exception(at: AppTest) -> None:
    """Assert the last run raised nothing, showing the exceptions' messages if it did."""
    errors = [getattr(e, "message", None) or str(e) for e in at.exception]
    assert not errors, f"the page raised: {errors}"


def by_label(elements: Any, label: str) -> Any:
    """The one widget with this label (failing with the labels there are)."""
    found = [e for e in elements if e.label == label]
    have = [e.label for e in elements]
    assert len(found) == 1, f"{len(found)} widgets labelled {label!r}; have {have}"
    return found[0]


def texts(elements: Any) -> str:
    """The text of every element in a list (markdown, alerts, captions), one per line."""
    return "\n".join(str(e.value) for e in elements)


def current_page(at: AppTest) -> str:
    """The title (st.title) of the page the session shows now."""
    titles = [t.value for t in at.title]
    assert titles, "no st.title on the page"
    return titles[0]


def make_completed_run(store: RunStore, **changes: Any) -> str:
    """A really trained 2-epoch digits run (checkpoints, snapshots, metrics), in-process."""
    config = TrainConfig(dataset="digits", epochs=2, batch_size=64).replace(**changes)
    run_id = store.create_run(config, status="running")
    execute_run(store, run_id)
    run = store.get_run(run_id)
    assert run["status"] == "completed", run["reason"]
    return run_id


def make_finished_run(store: RunStore, status: str = "completed", **changes: Any) -> str:
    """A run row in a final status without training (cheap): no checkpoint or metrics."""
    config = TrainConfig(dataset="digits", epochs=2, batch_size=64).replace(**changes)
    run_id = store.create_run(config, status="running")  # owned by us: no worker claims it
    assert store.finish(run_id, status, None if status == "completed" else "made by a test")
    return run_id


def plotly_figures(at: AppTest) -> dict[str, dict]:
    """Every st.plotly_chart on the page: its key (or an index) -> its figure as a dict."""
    figures = {}
    for i, chart in enumerate(at.get("plotly_chart")):
        figures[chart.key or f"#{i}"] = json.loads(chart.proto.spec)
    return figures


def trace_points(figure: dict) -> int:
    """How many points the figure's traces hold, all together."""
    return sum(len(trace.get("x") or trace.get("y") or ()) for trace in figure.get("data", ()))


def wait_for(predicate: Any, timeout: float, what: str, poll: float = 0.2) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail saying ``what`` after timeout."""
    return polling.wait_until(predicate, what, timeout, poll)


def query_param(at: AppTest, key: str) -> str | None:
    """The URL's ``?key=`` after the last run (AppTest keeps lists of values)."""
    value = at.query_params.get(key)
    if isinstance(value, list):
        return value[-1] if value else None
    return value
