"""Real-browser tests of the analysis pages: `streamlit run app.py` driven by headless Chromium.

1. Compare: two finished runs (the server's pre-trained digits VAE and an AE trained here
   with the CLI) opened by a shareable link; the metrics table and the charts render.
2. Each exploration page (Reconstructions, Latent space, Traversals & generation): open it
   on the trained run, move a slider with the keyboard, and the page reruns with no
   exception. Traversals also moves a latent slider of its live decoder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

import pytest
from e2e_helpers import (
    REPO,
    SCREENSHOTS,
    Server,
    assert_no_exception,
    page_heading,
    wait_until_idle,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

EXPLORATION_PAGES = ["pages/reconstructions.py", "pages/latent.py", "pages/traversals.py"]
# Streamlit's sliders (react-aria): a visually hidden range input carries the value.
SLIDER = '[data-testid="stSlider"] input[type="range"]'
TAG = '[data-testid="stMultiSelect"] [data-tag]'  # one per selected option
# Plotly charts drawn on the page that hold at least one trace with points.
DRAWN_PLOTS_JS = """
() => [...document.querySelectorAll('.js-plotly-plot')].filter(
  (d) => (d.data || []).some((t) => (t.x && t.x.length) || (t.z && t.z.length) || t.source)
).length
"""


@pytest.fixture(scope="module")
def second_run(server: Server) -> str:
    """A finished 2-epoch digits AE, trained by the CLI into the server's runs directory."""
    env = dict(os.environ, AEVAE_RUNS_DIR=str(server.runs_dir))
    done = subprocess.run(
        [sys.executable, "-m", "aevae_core", "train", "--dataset", "digits", "--model", "ae",
         "--epochs", "2", "--runs-dir", str(server.runs_dir), "--json", "--quiet"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, f"training the AE failed:\n{done.stdout}\n{done.stderr}"
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "completed", summary
    return summary["run_id"]


def _open(page: Any, server: Server, path: str, query: str) -> None:
    name = path.removeprefix("pages/").removesuffix(".py")
    page.goto(f"{server.url}/{name}?{query}")
    heading = page_heading(path)
    if heading:
        page.locator("h1", has_text=heading).first.wait_for()
    wait_until_idle(page)
    assert_no_exception(page, path)


def _move_slider(page: Any, thumb: Any, where: str) -> None:
    """Press an arrow key on a slider, wait for the rerun, check for exceptions."""
    before = thumb.input_value()
    at_max = float(before) >= float(thumb.get_attribute("max"))
    thumb.focus()
    page.keyboard.press("ArrowLeft" if at_max else "ArrowRight")
    deadline = time.monotonic() + 10
    while thumb.input_value() == before:
        assert time.monotonic() < deadline, f"{where}: the slider did not move from {before}"
        time.sleep(0.1)
    time.sleep(0.5)  # the rerun starts after the slider's debounce
    wait_until_idle(page)
    assert_no_exception(page, f"{where} after moving a slider")


def _first_visible(locator: Any) -> Any:
    for i in range(locator.count()):
        if locator.nth(i).is_visible():
            return locator.nth(i)
    raise AssertionError(f"no visible element among {locator.count()}")


def test_compare_two_runs_by_link(page, server: Server, second_run: str):
    SCREENSHOTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1400, "height": 2400})  # Streamlit scrolls inside
    _open(page, server, "pages/compare.py", f"runs={server.trained_run},{second_run}")
    chips = page.locator(TAG)
    assert chips.count() == 2, f"{chips.count()} runs selected"
    page.get_by_text("Metrics on validation images").wait_for()
    table = page.locator('[data-testid="stDataFrame"]')
    assert table.count() == 1 and table.first.is_visible(), "no metrics table"
    # Curves (the visible tab), reconstructions, a latent scatter per run, and the prior
    # samples (one mosaic, a row per run, so its tiles stay readable).
    page.wait_for_function(f"() => ({DRAWN_PLOTS_JS})() >= 5")
    rows = page.evaluate(
        "() => document.querySelector('.st-key-cmp_prior .js-plotly-plot').layout.yaxis.ticktext"
    )
    assert len(rows) == 2, f"prior samples: one row per run expected, got {rows}"
    page.get_by_text("Samples from the prior").first.wait_for()
    assert_no_exception(page, "Compare")
    page.screenshot(path=str(SCREENSHOTS / "compare-two-runs.png"), full_page=True)
    assert not page.js_errors, page.js_errors


@pytest.mark.parametrize("path", EXPLORATION_PAGES, ids=lambda p: p.split("/")[-1][:-3])
def test_exploration_page_moves_a_slider(page, server: Server, path: str):
    SCREENSHOTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1400, "height": 1600})
    _open(page, server, path, f"run={server.trained_run}")
    sliders = page.locator(SLIDER)
    assert sliders.count() >= 1, f"{path}: no slider"
    _move_slider(page, _first_visible(sliders), path)
    if path == "pages/traversals.py":  # the live decoder: one slider per latent dimension
        page.get_by_role("tab", name="Sliders").click()
        z1 = page.locator('[data-testid="stSlider"]').filter(has_text="z1")
        z1 = z1.locator('input[type="range"]')
        _move_slider(page, _first_visible(z1), f"{path} (slider z1)")
    name = path.split("/")[-1][:-3]
    page.screenshot(path=str(SCREENSHOTS / f"slider-{name}.png"))
    assert not page.js_errors, page.js_errors
