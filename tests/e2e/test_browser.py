"""Real-browser smoke tests: `streamlit run app.py` driven by headless Chromium.

1. Train: start a 2-epoch digits run, watch the loss chart gain points, see it complete.
2. Every page listed in app.py, reached by clicking its sidebar link: it renders with no
   exception; a screenshot of each goes to tests/e2e/screenshots/ (gitignored).
"""

from __future__ import annotations

import re
import time

import pytest
from e2e_helpers import (
    SCREENSHOTS,
    Server,
    app_pages,
    assert_no_exception,
    page_heading,
    wait_until_idle,
)

from aevae_core.store.runs import RunStore

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PAGES = app_pages()
RUN_TIMEOUT_S = 120

# Points in the live loss chart: the plotly div whose traces are the loss curves.
LOSS_POINTS_JS = """
() => {
  const keyed = document.querySelector('[class*="st-key-live_curves_"] .js-plotly-plot');
  const named = [...document.querySelectorAll('.js-plotly-plot')].find(
    (d) => (d.data || []).some((t) => /train|validation/.test(t.name || '')));
  const div = keyed || named;
  if (!div || !div.data) return -1;
  return div.data.reduce((n, t) => n + ((t.x && t.x.length) || 0), 0);
}
"""


def test_train_a_two_epoch_run_live(page, server: Server):
    page.goto(f"{server.url}/train")
    page.locator("h1", has_text=re.compile(r"^Train$")).wait_for()
    wait_until_idle(page)
    # Two epochs of one- or two-image steps through a wide MLP (a few seconds on an idle
    # machine): long enough that the chart is seen gaining points while the run trains.
    for label, value in (("Epochs", "2"), ("Batch size", "2"), ("Hidden sizes", "1024,512")):
        field = page.get_by_label(label, exact=True)
        field.fill(value)
        field.press("Enter")
        wait_until_idle(page)
        assert field.input_value() == value, label

    store = RunStore(server.runs_dir)
    before = {r["id"] for r in store.list_runs()}
    page.get_by_role("button", name="Start training").click()
    completed = page.get_by_text(re.compile(r"Completed 2 epochs"))
    counts: list[int] = []
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not completed.is_visible():
        new = [r for r in store.list_runs() if r["id"] not in before]
        state = f"run {new[0]['status']}: {new[0]['reason']}" if new else "no run in the store"
        assert time.monotonic() < deadline, f"not completed after {RUN_TIMEOUT_S} s ({state})"
        assert not new or new[0]["status"] in ("queued", "running", "completed"), state
        assert_no_exception(page, "Train while training")
        counts.append(page.evaluate(LOSS_POINTS_JS))
        time.sleep(0.25)
    wait_until_idle(page)
    counts.append(page.evaluate(LOSS_POINTS_JS))

    seen = [n for n in counts if n > 0]
    assert seen, f"the loss chart never showed a point: {counts}"
    assert seen[-1] > seen[0], f"the loss chart did not gain points while training: {counts}"
    assert seen == sorted(seen), f"the chart lost points on a refresh: {counts}"
    assert_no_exception(page, "Train after the run completed")
    SCREENSHOTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1400, "height": 1600})
    page.locator("h1").first.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "00-train-completed-run.png"))
    assert not page.js_errors, page.js_errors
    assert "?run=" in page.url or "&run=" in page.url, "the URL names the run (shareable)"


def test_every_page_through_the_sidebar(page, server: Server):
    SCREENSHOTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1400, "height": 1600})  # Streamlit scrolls inside
    page.goto(server.url)
    wait_until_idle(page)
    nav = page.locator('[data-testid="stSidebarNav"]')
    nav.wait_for()
    # Open the other pages first, so that the default page is also reached by a click.
    order = [p for p in PAGES if not p.default] + [p for p in PAGES if p.default]
    for number, info in enumerate(order, start=1):
        link = nav.locator("a").filter(has_text=info.title)
        assert link.count() >= 1, f"no sidebar link titled {info.title!r}"
        link.first.click()
        heading = page_heading(info.path)
        if heading:
            page.locator("h1", has_text=heading).first.wait_for()
        wait_until_idle(page)
        assert_no_exception(page, info.path)
        assert page.locator("h1").count() >= 1, f"{info.path}: no title"
        page.screenshot(path=str(SCREENSHOTS / f"{number:02d}-{info.name}.png"))
    assert not page.js_errors, page.js_errors
