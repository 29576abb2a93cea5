"""Labels that say what the pages hold (issue 12): the Latent page's "Images" choice is
bounded by the split's size."""

from __future__ import annotations

import base64

import numpy as np
from app_helpers import no_exception, open_page, plotly_figures, texts

from pages.ui.latent_parts import image_counts


def _points(figure: dict) -> int:
    """Points in all traces; plotly sends numpy arrays as {"dtype", "bdata"} (base64)."""
    n = 0
    for trace in figure["data"]:
        x = trace["x"]
        if isinstance(x, dict):
            n += len(base64.b64decode(x["bdata"])) // np.dtype(x["dtype"]).itemsize
        else:
            n += len(x)
    return n


def test_image_counts_stop_at_the_split_size():
    assert image_counts(180) == [180]
    assert image_counts(3000) == [500, 1000, 2000, 3000]
    assert image_counts(10_000) == [500, 1000, 2000, 5000, 10_000]
    assert image_counts(60_000) == [500, 1000, 2000, 5000, 10_000]


def test_latent_images_bounded_by_the_split(app_env, completed_run):
    """digits keeps 180 validation images: no 500..10,000 choice; the page says it shows all
    180, and the scatter has 180 points."""
    at = open_page("pages/latent.py", {"run": completed_run})
    no_exception(at)
    assert not [s for s in at.select_slider if s.label == "Images"]
    assert "all 180 validation images" in texts(at.caption)
    assert _points(plotly_figures(at)["latent_scatter"]) == 180
