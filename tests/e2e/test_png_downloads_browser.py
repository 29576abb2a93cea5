"""The "Download PNG" buttons under the mosaics, clicked in Chromium: the file that arrives
is a valid PNG, it is the mosaic the chart shows (pixel for pixel the chart's own image), and
its size is the mosaic's (``layout.meta.size``)."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from e2e_helpers import Server, assert_no_exception, wait_until_idle
from PIL import Image

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

CHART_JS = """
(key) => {
  const div = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  return div && div.data ? {source: div.data[0].source, meta: div.layout.meta} : null;
}
"""


@pytest.mark.parametrize(
    ("path", "tab", "key"),
    [
        ("reconstructions", None, "recon_grid"),
        ("reconstructions", "Denoising", "recon_denoise"),
        ("latent", None, "latent_manifold"),
    ],
)
def test_download_png_is_the_mosaic(page: Any, server: Server, path: str, tab, key: str):
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{server.url}/{path}?run={server.trained_run}")
    page.locator("h1").first.wait_for()
    wait_until_idle(page)
    if tab:
        page.get_by_role("tab", name=tab).click()
        wait_until_idle(page)
    page.wait_for_function(f"() => document.querySelector('.st-key-{key} .js-plotly-plot')?.data")
    button = page.locator(f".st-key-{key}_png button")
    button.scroll_into_view_if_needed()
    assert button.inner_text().strip().endswith("Download PNG"), button.inner_text()
    with page.expect_download() as info:
        button.click()
    download = info.value
    assert download.suggested_filename == f"{key}.png", download.suggested_filename
    data = Path(download.path()).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", data[:8]
    got = Image.open(io.BytesIO(data))
    got.verify()  # a complete, valid PNG (CRCs and all)
    got = np.asarray(Image.open(io.BytesIO(data)))
    chart = page.evaluate(CHART_JS, key)
    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(chart["source"].split(",", 1)[1]))))
    assert got.shape[:2] == tuple(chart["meta"]["size"]), (got.shape, chart["meta"])
    assert np.array_equal(got, shown), "the PNG is not the mosaic the chart shows"
    assert got.std() > 5, "a blank mosaic"  # images, not an empty canvas
    assert_no_exception(page, f"{path} after the download")
    assert not page.js_errors, page.js_errors
