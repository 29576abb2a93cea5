"""Real-browser test of the Latent space page's promise "Click a dot to decode it": a mouse
click on one dot of the scatter (headless Chromium, `streamlit run app.py`) reruns the page
with that point selected, and the decoded panel shows that point's image index and code.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from e2e_helpers import SCREENSHOTS, Server, assert_no_exception, wait_until_idle

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

SCATTER = ".st-key-latent_scatter .js-plotly-plot"
# The most isolated dot of the scatter (so a click cannot land on a neighbour): its screen
# position (page pixels) and its customdata, the image index the page should decode.
ISOLATED_DOT_JS = """
(sel) => {
  const gd = document.querySelector(sel);
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.getBoundingClientRect();
  const pts = [];
  gd._fullData.forEach((t, i) => {
    if (t.name === 'your image') return;
    for (let k = 0; k < t.x.length; k++) {
      pts.push({x: box.left + xa._offset + xa.l2p(t.x[k]),
                y: box.top + ya._offset + ya.l2p(t.y[k]), index: Number(t.customdata[k])});
    }
  });
  let best = null, bestGap = -1;
  for (const p of pts) {
    if (p.x < box.left + xa._offset + 5 || p.x > box.left + xa._offset + xa._length - 5) continue;
    if (p.y < box.top + ya._offset + 5 || p.y > box.top + ya._offset + ya._length - 5) continue;
    let gap = Infinity;
    for (const q of pts) if (q !== p) gap = Math.min(gap, Math.hypot(p.x - q.x, p.y - q.y));
    if (gap > bestGap) { bestGap = gap; best = p; }
  }
  return {...best, gap: bestGap, dragmode: gd._fullLayout.dragmode, n: pts.length};
}
"""


def test_click_a_dot_decodes_it(page: Any, server: Server):
    SCREENSHOTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{server.url}/latent?run={server.trained_run}")
    page.locator("h1", has_text="Latent space").first.wait_for()
    wait_until_idle(page)
    page.wait_for_function(f"() => document.querySelector('{SCATTER}')?._fullLayout")
    page.locator(SCATTER).scroll_into_view_if_needed()
    page.get_by_text("Click a point to see its image").wait_for()
    assert page.locator(".st-key-latent_pick").count() == 0, "nothing decoded before a click"

    dot = page.evaluate(ISOLATED_DOT_JS, SCATTER)
    assert dot["dragmode"] != "select", "a box-select drag mode swallows clicks"
    assert dot["gap"] >= 6, f"no dot stands apart for a clean click: {dot}"
    page.mouse.move(dot["x"], dot["y"])
    time.sleep(0.3)
    page.mouse.click(dot["x"], dot["y"])

    caption = page.get_by_text(re.compile(r"^Image \d+: code "))
    caption.wait_for(timeout=30_000)
    wait_until_idle(page)
    assert_no_exception(page, "Latent space after a click")
    text = caption.inner_text()
    assert text.startswith(f"Image {dot['index']}: code "), (text, dot)
    numbers = [float(v) for v in text.split("code ", 1)[1].split(", ")]
    assert 1 <= len(numbers) <= 8, text
    # The decoded panel: the clicked image and its reconstruction, side by side.
    pick = page.locator(".st-key-latent_pick .js-plotly-plot")
    assert pick.count() == 1 and pick.is_visible()
    cols = page.evaluate(
        "() => document.querySelector('.st-key-latent_pick .js-plotly-plot').layout.xaxis.ticktext"
    )
    assert list(cols or []) == ["original", "decoded"], cols
    page.screenshot(path=str(SCREENSHOTS / "latent-click-decodes.png"), full_page=True)
    assert not page.js_errors, page.js_errors
