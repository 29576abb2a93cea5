"""Two students in two real browsers on one class server with one worker (issue 14).

A starts 5 runs and gets 3 (the quota); B starts one; B cannot stop A's running run (its
Stop is disabled, with the reason); A still can after a page refresh (the owner cookie);
when A's running run ends, B's run starts next (fair share), before A's queued ones.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_helpers import (
    RENDER_TIMEOUT_MS,
    assert_no_exception,
    streamlit_server,
    wait_until_idle,
)

from aevae_core.jobs.classroom import NOT_YOURS, START_INTERVAL_S
from aevae_core.store.runs import RunStore

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]


def stop_button(page: Any, run_id: str) -> Any:
    return page.locator(f".st-key-stop_{run_id} button").first


QUOTA_TEXT = "3 runs queued or running"


@pytest.fixture(scope="module")
def class_server(browser_available: None, tmp_path_factory) -> Iterator[tuple[str, RunStore]]:
    """`streamlit run app.py` with one worker and its own runs directory."""
    tmp = tmp_path_factory.mktemp("class")
    env = dict(
        os.environ, AEVAE_RUNS_DIR=str(tmp / "runs"), AEVAE_MAX_WORKERS="1", PYTHONUNBUFFERED="1"
    )
    env.pop("AEVAE_TEACHER_PASSWORD", None)
    env.pop("AEVAE_MAX_ACTIVE_PER_OWNER", None)
    with streamlit_server(env, tmp / "server.log") as (_, url):
        yield url, RunStore(tmp / "runs")


def student(browser: Any) -> Any:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(RENDER_TIMEOUT_MS)
    return page


def open_train(page: Any, url: str, run_id: str | None = None) -> None:
    page.goto(f"{url}/train" + (f"?run={run_id}" if run_id else ""))
    page.locator("h1", has_text=re.compile(r"^Train$")).wait_for()
    wait_until_idle(page)


def click_start(page: Any, store: RunStore, *, refused: bool = False) -> None:
    """Press Start; wait for a new run, or for the refusal, in the store and on the page.

    Under load Streamlit can drop a click that lands while the page's script is still
    running (the rerun it asks for is merged into the one under way); a student would
    press again, and so does this, but only when the store shows that nothing happened.
    """
    before = len(store.list_runs())
    for _ in range(3):
        time.sleep(START_INTERVAL_S + 0.2)  # the per-student rate limit
        page.get_by_role("button", name="Start training").click()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if len(store.list_runs()) > before:
                break
            if refused and page.get_by_text(QUOTA_TEXT).count():
                break
            time.sleep(0.2)
        else:
            continue
        break
    wait_until_idle(page)
    assert_no_exception(page, "Train after Start")


def wait_for(predicate: Any, what: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)
    return value


def test_two_students_quota_ownership_refresh_and_fair_share(browser, class_server):
    url, store = class_server
    a, b = student(browser), student(browser)
    try:
        open_train(a, url)
        field = a.get_by_label("Epochs", exact=True)
        field.fill("500")  # runs that last until they are stopped
        field.press("Enter")
        wait_until_idle(a)
        for n in range(5):
            # Five different runs (a seed each): Start again with the settings of a run that
            # is still active only shows that run (a double click queues one run).
            seed = a.get_by_label("Seed", exact=True)
            seed.fill(str(n))
            seed.press("Enter")
            wait_until_idle(a)
            click_start(a, store, refused=n >= 3)
        a_runs = sorted(store.list_runs(), key=lambda r: r["seq"])
        assert len(a_runs) == 3, [r["id"] for r in a_runs]
        assert a.get_by_text(QUOTA_TEXT).count() >= 1, "the 4th and 5th starts say why"
        a_owner = a_runs[0]["owner"]
        assert a_owner.startswith("s-") and {r["owner"] for r in a_runs} == {a_owner}

        open_train(b, url)
        click_start(b, store)
        others = [r for r in store.list_runs() if r["owner"] != a_owner]
        assert len(others) == 1, [(r["id"], r["owner"]) for r in store.list_runs()]
        b_run = others[0]
        assert b_run["status"] == "queued"
        first = wait_for(
            lambda: next((r for r in store.list_runs(statuses=("running",))), None), "a start"
        )
        assert first["id"] == a_runs[0]["id"]

        open_train(b, url, first["id"])  # B watches A's running run: Stop is disabled
        b.get_by_text(re.compile(r"Training")).first.wait_for()
        assert stop_button(b, first["id"]).is_disabled()
        assert b.get_by_text(NOT_YOURS).count() >= 1
        assert store.get_run(first["id"])["status"] == "running"

        a.reload()  # a refresh: the same browser, a new session; the cookie keeps the owner
        open_train(a, url, first["id"])
        assert stop_button(a, first["id"]).is_enabled()
        assert a.get_by_text(NOT_YOURS).count() == 0
        stop_button(a, first["id"]).click()
        ended = wait_for(
            lambda: (r := store.get_run(first["id"]))["status"] not in ("running",) and r,
            "A's run to stop",
        )
        assert ended["status"] == "stopped"
        nxt = wait_for(
            lambda: next((r for r in store.list_runs(statuses=("running",))), None),
            "the next start",
        )
        assert nxt["id"] == b_run["id"], "B's run starts before A's queued ones"
        assert all(store.get_run(r["id"])["status"] == "queued" for r in a_runs[1:])
    finally:
        a.context.close()
        b.context.close()
