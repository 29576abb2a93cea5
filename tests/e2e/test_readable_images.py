"""Readable images, measured in a real browser at 1366x768 (a common laptop screen, the
sidebar open): every image tile of every mosaic is at least 56 CSS px wide and tall, and
every cell of the 2-D manifold at least 40 px.

Each mosaic figure says in ``layout.meta`` its PNG's size and one tile's size in the PNG's
pixels; the drawn size of a tile is the rendered ``<image>`` element's box scaled by them,
and, independently, the axes' pixels per unit times the tile's size.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from e2e_helpers import SCREENSHOTS, Server, assert_no_exception, page_heading, wait_until_idle

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

LAPTOP = {"width": 1366, "height": 768}
MIN_TILE_PX, MIN_CELL_PX = 56, 40
# page, tab to click (None: the first), keys of the mosaics to measure
VIEWS = [
    ("pages/reconstructions.py", None, ["recon_grid", "recon_grid_1"]),
    ("pages/reconstructions.py", "Denoising", ["recon_denoise"]),
    ("pages/latent.py", None, ["latent_manifold"]),
    ("pages/traversals.py", None, ["trav_grid"]),
    ("pages/traversals.py", "Interpolation", ["trav_interp"]),
    ("pages/traversals.py", "Samples from the prior", ["trav_prior"]),
    ("pages/train.py", None, ["train_preview", "live_recon_{run}"]),
]
TILE_JS = """
(key) => {
  const div = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  if (!div || !div._fullLayout || !div.layout.meta) return null;
  const meta = div.layout.meta, L = div._fullLayout;
  const box = div.querySelector('.imagelayer image').getBoundingClientRect();
  const perX = L.xaxis._length / Math.abs(L.xaxis.range[1] - L.xaxis.range[0]);
  const perY = L.yaxis._length / Math.abs(L.yaxis.range[1] - L.yaxis.range[0]);
  return {
    kind: meta.kind,
    drawn: [box.height * meta.tile[0] / meta.size[0], box.width * meta.tile[1] / meta.size[1]],
    axes: [meta.tile[0] * perY, meta.tile[1] * perX],
  };
}
"""


def _measure(page: Any, key: str) -> dict[str, Any]:
    locator = page.locator(f".st-key-{key} .js-plotly-plot .imagelayer image")
    locator.first.wait_for(state="attached")
    deadline = time.monotonic() + 20
    while (found := page.evaluate(TILE_JS, key)) is None:
        assert time.monotonic() < deadline, f"{key}: no mosaic with its sizes in layout.meta"
        time.sleep(0.2)
    return found


@pytest.mark.parametrize(
    ("path", "tab", "keys"), VIEWS, ids=[f"{p[6:-3]}-{t or 'main'}" for p, t, _ in VIEWS]
)
def test_tiles_are_readable_on_a_laptop_screen(page, server: Server, path, tab, keys):
    page.set_viewport_size(LAPTOP)
    page.goto(f"{server.url}/{path[6:-3]}?run={server.trained_run}")
    page.locator("h1", has_text=page_heading(path)).first.wait_for()
    wait_until_idle(page)
    if tab:
        page.get_by_role("tab", name=tab).click()
        wait_until_idle(page)
    assert_no_exception(page, path)
    for key in (k.format(run=server.trained_run) for k in keys):
        found = _measure(page, key)
        least = MIN_CELL_PX if found["kind"] == "manifold" else MIN_TILE_PX
        for how in ("drawn", "axes"):
            h, w = found[how]
            assert min(h, w) >= least, f"{path} {key}: tiles {w:.1f}x{h:.1f} px ({how}) < {least}"
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"tiles-{path[6:-3]}-{tab or 'main'}.png"))
    assert not page.js_errors, page.js_errors
