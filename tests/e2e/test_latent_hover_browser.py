"""Real-browser test of the Latent page's promise "Hover a dot to see its image": the mouse
over one dot of the scatter (headless Chromium) shows an <img> beside the pointer whose
pixels are that point's validation image, and a click on it still decodes it."""

from __future__ import annotations

import base64
import io
import re
import time
from typing import Any

import numpy as np
import pytest
from e2e_helpers import SCREENSHOTS, Server, assert_no_exception, wait_until_idle
from PIL import Image
from test_latent_browser import ISOLATED_DOT_JS, SCATTER

from aevae_core.explore import analysis
from aevae_core.store.runs import RunStore

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

TIP_IMG = "#aevae-thumb-latent_scatter img"
# The shown thumbnail as the browser drew it: its data-index, size on screen, natural size,
# and the grey levels of its source image read back through a canvas.
TIP_JS = """
async (sel) => {
  const img = document.querySelector(sel);
  if (!img || img.parentElement.style.display === 'none' || !img.src) return null;
  await img.decode();
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  const grey = [];
  for (let i = 0; i < d.length; i += 4) grey.push(d[i]);
  const r = img.getBoundingClientRect();
  return {index: Number(img.dataset.index), src: img.src, grey, w: img.naturalWidth,
          h: img.naturalHeight, box: [r.left, r.top, r.width, r.height]};
}
"""


def _val_images(server: Server, n: int) -> np.ndarray:
    _, config, _ = analysis.load_model(RunStore(server.runs_dir), server.trained_run)
    return analysis.load_split(config, "val", n)[0]


@pytest.mark.parametrize("size", [(1366, 768), (1920, 1080)])
def test_hover_shows_the_dots_image(page: Any, server: Server, size: tuple[int, int]):
    SCREENSHOTS.mkdir(exist_ok=True)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto(f"{server.url}/latent?run={server.trained_run}")
    page.locator("h1", has_text="Latent space").first.wait_for()
    wait_until_idle(page)
    page.wait_for_function(f"() => document.querySelector('{SCATTER}')?._fullLayout")
    page.locator(SCATTER).scroll_into_view_if_needed()
    page.get_by_text("Hover a dot to see its image").first.wait_for()
    assert page.locator(TIP_IMG).count() == 0 or not page.locator(TIP_IMG).is_visible()

    dot = page.evaluate(ISOLATED_DOT_JS, SCATTER)
    assert dot["gap"] >= 6, f"no dot stands apart for a clean hover: {dot}"
    deadline = time.monotonic() + 20
    tip = None
    while tip is None:  # the component hooks the chart within 300 ms of both being there
        assert time.monotonic() < deadline, "no thumbnail appeared on hover"
        page.mouse.move(dot["x"] - 30, dot["y"] - 30)
        page.mouse.move(dot["x"], dot["y"], steps=4)
        time.sleep(0.4)
        tip = page.evaluate(TIP_JS, TIP_IMG)
    assert tip["index"] == dot["index"], (tip["index"], dot)
    assert page.locator(TIP_IMG).is_visible()

    # Its pixels are that point's validation image (8-bit grey levels, exactly).
    x = _val_images(server, dot["index"] + 1)[dot["index"], 0]
    want = (np.clip(x, 0, 1) * 255).round().astype(np.uint8)
    assert (tip["h"], tip["w"]) == want.shape
    got = np.asarray(tip["grey"], np.uint8).reshape(want.shape)
    assert np.array_equal(got, want), np.abs(got.astype(int) - want).max()
    png = base64.b64decode(tip["src"].split(",", 1)[1])
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png)).convert("L")), want)
    # Drawn large enough to read (an integer enlargement, about 84 px) next to the pointer.
    left, top, w, h = tip["box"]
    assert w >= 80 and h >= 80 and w % want.shape[1] == 0, tip["box"]
    assert abs(left - dot["x"]) < 200 and abs(top - dot["y"]) < 200, (tip["box"], dot)
    assert left >= 0 and left + w <= size[0] and top >= 0 and top + h <= size[1], tip["box"]
    page.screenshot(path=str(SCREENSHOTS / f"latent-hover-{size[0]}x{size[1]}.png"))

    # Leaving the chart hides it; a click still decodes the dot.
    page.mouse.move(5, size[1] - 5)
    page.wait_for_function(
        f"() => document.querySelector('{TIP_IMG}').parentElement.style.display === 'none'",
        timeout=5000,
    )
    page.mouse.move(dot["x"], dot["y"], steps=4)
    time.sleep(0.3)
    page.mouse.click(dot["x"], dot["y"])
    caption = page.get_by_text(re.compile(r"^Image \d+: code "))
    caption.wait_for(timeout=30_000)
    assert caption.inner_text().startswith(f"Image {dot['index']}: code ")
    assert_no_exception(page, "Latent space after hover and click")
    assert not page.js_errors, page.js_errors
