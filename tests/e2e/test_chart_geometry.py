"""Chart geometry measured in Chromium (plotly.js lays out the axes, not Python): the ROC
chart's axes stay 0 to 1 in a wide or narrow box (scaleanchor alone once stretched one to
about -0.8..1.8), and the rate–distortion names, in the legend, never overlap even when the
runs' points lie on top of each other.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.io as pio
import pytest

from aevae_core.plots.charts import rate_distortion, roc_figure

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]

LAYOUT_JS = "() => document.querySelector('.js-plotly-plot')?._fullLayout"


def _render(browser: Any, fig: Any, width: int, height: int = 500) -> Any:
    page = browser.new_page(viewport={"width": width + 40, "height": height + 40})
    html = pio.to_html(fig, include_plotlyjs=True, full_html=True, default_width=width)
    page.set_content(html)
    page.wait_for_function(LAYOUT_JS)
    return page


@pytest.mark.parametrize("width", [320, 500, 1100])
def test_roc_axes_run_from_0_to_1(browser, width: int):
    fig = roc_figure(np.array([0, 0.2, 1]), np.array([0, 0.8, 1]), 0.8, point=(0.2, 0.8))
    page = _render(browser, fig, width)
    xr, yr = page.evaluate("() => { const l = (" + LAYOUT_JS + ")();"
                           " return [l.xaxis.range, l.yaxis.range]; }")  # fmt: skip
    page.close()
    assert xr == pytest.approx([0, 1]) and yr == pytest.approx([0, 1]), (xr, yr)


def test_rate_distortion_names_never_overlap(browser):
    # Three β-VAEs whose points nearly coincide (collapsed runs sit at KL ~ 0).
    points = [
        {"name": f"β-VAE β={b:g}", "kl": 0.01 * i, "recon": 40.0 + 0.01 * i, "beta": b}
        for i, b in enumerate((4.0, 8.0, 16.0, 32.0))
    ]
    page = _render(browser, rate_distortion(points), 700)
    boxes = page.evaluate(
        """() => [...document.querySelectorAll('.legend .traces')].map((g) => {
             const r = g.querySelector('.legendtext').getBoundingClientRect();
             return {text: g.textContent, x0: r.left, x1: r.right, y0: r.top, y1: r.bottom};
           })"""
    )
    on_plot = page.evaluate("() => document.querySelectorAll('.scatterlayer .textpoint').length")
    page.close()
    assert on_plot == 0, "no names drawn among the points"
    assert sorted(b["text"] for b in boxes) == sorted(p["name"] for p in points)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart = (
                a["x1"] <= b["x0"] or b["x1"] <= a["x0"] or a["y1"] <= b["y0"] or b["y1"] <= a["y0"]
            )
            assert apart, (a, b)
