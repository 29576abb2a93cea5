"""The latent-evolution GIF carries its axes, a legend and the epoch (issue 12)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from aevae_core.explore.evolution import _tick, evolution_gif
from aevae_core.plots.charts import CLASS_COLORS


def _frames(n: int = 3) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.normal(size=(200, 2)) * (1 + 0.3 * i) for i in range(n)]


def _rgb(gif: bytes, frame: int) -> np.ndarray:
    img = Image.open(io.BytesIO(gif))
    img.seek(frame)
    return np.asarray(img.convert("RGB"))


def test_legend_names_every_class_in_its_colour():
    gif = evolution_gif(_frames(), np.arange(200) % 10, label_names=list("abcdefghij"))
    rgb = _rgb(gif, 0)
    legend = rgb[:, 400 - 72 :]  # the legend column right of the plot box
    for hex_color in CLASS_COLORS[:10]:
        want = [int(hex_color[i : i + 2], 16) for i in (1, 3, 5)]
        assert (legend == want).all(-1).sum() >= 40, f"no legend swatch in {hex_color}"
    no_legend = _rgb(evolution_gif(_frames(), None), 0)[:, 400 - 72 :]
    assert not (no_legend == [int(CLASS_COLORS[1][i : i + 2], 16) for i in (1, 3, 5)]).all(-1).any()


def test_axes_have_tick_values_and_titles_and_frames_their_epoch():
    gif = evolution_gif(_frames(), np.arange(200) % 10, titles=["epoch 1", "epoch 2", "epoch 3"])
    a, b = _rgb(gif, 0), _rgb(gif, 2)
    dark = lambda img: img.sum(-1) < 200  # noqa: E731 - text and ticks are dark grey
    assert dark(a[400 - 36 :, 56:]).sum() > 100, "no x tick values / title under the plot"
    assert dark(a[22 : 400 - 36, :50]).sum() > 100, "no y tick values / title left of the plot"
    assert (dark(a[:20]) != dark(b[:20])).any(), "the epoch above the plot does not change"


def test_tick_values_are_plain_or_scientific():
    assert [_tick(v) for v in (0.0, 0.5, -2.25, 1234.0)] == ["0", "0.5", "-2.25", "1.23e+03"]
    assert _tick(2e-5) == "2.0e-05" and "µ" not in _tick(2e-5)
