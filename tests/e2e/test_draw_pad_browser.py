"""The Latent page's freehand drawing pad, driven by real mouse moves in Chromium: a ring
drawn on the pad reaches the model as a ring (its centre stays dark: strokes are never
filled), the result and the starred scatter appear beside the pad, and Undo empties it."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pytest
from e2e_helpers import SCREENSHOTS, Server, assert_no_exception, wait_until_idle

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PAD = 'iframe[title*="aevae_draw_pad"]'
# The "as the model sees it" image: the left half of the one-tile mosaic's PNG, read back
# pixel by pixel; returns the grey levels (0..1) along the row through its centre.
PROFILE_JS = """
async () => {
  const div = document.querySelector('.st-key-latent_drawn_recon .js-plotly-plot');
  if (!div || !div.data || !div.layout.meta) return null;
  const img = new Image();
  img.src = div.data[0].source;
  await img.decode();
  const c = document.createElement('canvas');
  c.width = img.width; c.height = img.height;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const [th, tw] = div.layout.meta.tile;
  const row = ctx.getImageData(0, Math.floor(th / 2), Math.floor(tw / 2), 1).data;
  const out = [];
  for (let i = 0; i < row.length; i += 4) out.push(row[i] / 255);
  return out;
}
"""


def _profile(page: Any) -> list[float]:
    deadline = time.monotonic() + 60
    while (found := page.evaluate(PROFILE_JS)) is None:
        assert time.monotonic() < deadline, "no drawn-image result beside the pad"
        time.sleep(0.3)
    return found


def draw_ring(page, box: dict) -> None:
    """Draw a ring with the mouse: one stroke round the pad's centre, a third of its width."""
    cx, cy, r = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["width"] * 0.33
    page.mouse.move(cx + r, cy)
    page.mouse.down()
    for k in range(1, 61):
        a = 2 * math.pi * k / 60
        page.mouse.move(cx + r * math.cos(a), cy + r * math.sin(a))
    page.mouse.up()


def test_a_drawn_ring_stays_a_ring(page, server: Server):
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{server.url}/latent?run={server.trained_run}")
    page.locator("h1", has_text="Latent space").first.wait_for()
    wait_until_idle(page)
    assert_no_exception(page, "latent")
    frame = page.frame_locator(PAD)
    canvas = frame.locator("canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    assert box and box["width"] >= 200, f"pad too small: {box}"
    draw_ring(page, box)
    wait_until_idle(page)
    row = _profile(page)
    n = len(row)
    centre = max(row[n // 2 - 2 : n // 2 + 3])
    left, right = max(row[: n // 2 - 4]), max(row[n // 2 + 5 :])
    assert left > 0.5 and right > 0.5, f"the ring's sides are missing: {left:.2f}, {right:.2f}"
    assert centre < 0.15, f"the ring's hole is filled: centre {centre:.2f} ({row})"
    # The drawing's code is starred on the scatter beside the pad.
    star = page.locator(".st-key-latent_drawn_map .js-plotly-plot")
    star.wait_for()
    symbols = page.evaluate(
        "() => document.querySelector('.st-key-latent_drawn_map .js-plotly-plot').data"
        ".map((t) => (t.marker || {}).symbol)"
    )
    assert "star" in symbols, symbols
    pad_box, map_box = box, star.bounding_box()
    assert map_box["x"] - (pad_box["x"] + pad_box["width"]) < 900, (pad_box, map_box)
    assert abs(map_box["y"] - pad_box["y"]) < 300, (pad_box, map_box)
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "draw-pad-ring.png"))
    # Undo removes the only stroke: the result goes away.
    frame.get_by_role("button", name="Undo").click()
    wait_until_idle(page)
    page.locator(".st-key-latent_drawn_recon").wait_for(state="detached")
    assert not page.js_errors, page.js_errors


# The pad's own canvas, read back inside its iframe: the brightest pixel (0 = empty).
CANVAS_MAX_JS = """
() => {
  const c = document.querySelector('canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let m = 0;
  for (let i = 0; i < d.length; i += 4) m = Math.max(m, d[i]);
  return m;
}
"""


def _square_png(tmp_path) -> str:  # noqa: ANN001 - pytest's tmp_path
    """A filled white square on black: its centre is bright, unlike a drawn ring's."""
    from PIL import Image

    img = np.zeros((56, 56), np.uint8)
    img[14:42, 14:42] = 255
    path = tmp_path / "square.png"
    Image.fromarray(img).save(path)
    return str(path)


def test_an_upload_clears_the_drawing(page, server: Server, tmp_path):
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{server.url}/latent?run={server.trained_run}")
    page.locator("h1", has_text="Latent space").first.wait_for()
    wait_until_idle(page)
    canvas = page.frame_locator(PAD).locator("canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    draw_ring(page, box)
    wait_until_idle(page)
    ring = _profile(page)
    assert max(ring[len(ring) // 2 - 2 : len(ring) // 2 + 3]) < 0.15, "not the ring first"
    assert page.frame_locator(PAD).locator("canvas").evaluate(CANVAS_MAX_JS) > 200

    page.locator('.st-key-latent_up input[type="file"]').set_input_files(_square_png(tmp_path))
    # The result now shows the upload: a bright centre where the ring had its hole.
    deadline = time.monotonic() + 60
    while True:
        row = _profile(page)
        if max(row[len(row) // 2 - 2 : len(row) // 2 + 3]) > 0.5:
            break
        assert time.monotonic() < deadline, f"the result still shows the drawing: {row}"
        time.sleep(0.5)
    wait_until_idle(page)
    assert_no_exception(page, "latent after an upload")
    # ...and the pad is empty (a fresh pad: nothing drawn, Undo and Clear disabled).
    pad = page.frame_locator(PAD)
    assert pad.locator("canvas").evaluate(CANVAS_MAX_JS) == 0, "the old drawing is still on the pad"
    assert pad.get_by_role("button", name="Undo").is_disabled()
    assert pad.get_by_role("button", name="Clear").is_disabled()
    assert page.locator(PAD).count() == 1
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "draw-pad-after-upload.png"))
    assert not page.js_errors, page.js_errors
