"""Tests for aevae_core.plots.figures (and the charts it re-exports): each builder returns a
figure with the expected traces, shapes and labels."""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from aevae_core.plots import charts
from aevae_core.plots import figures as F


def png_of(fig: go.Figure) -> Image.Image:
    source = fig.data[0].source
    assert source.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1])))


def test_tile_and_image_grid():
    images = np.random.default_rng(0).random((5, 1, 4, 6)).astype(np.float32)
    mosaic = F.tile(images, ncols=3)
    assert mosaic.shape == (2 * 4 + 1, 3 * 6 + 2, 1)
    np.testing.assert_array_equal(mosaic[:4, 7:13, 0], images[1, 0])
    assert len(F.image_grid(images, ncols=3).data) == 1


def test_loss_curves_traces():
    epochs = [{"epoch": e, "train_loss": 1.0, "val_loss": 1.1, "train_recon": 0.9,
               "val_recon": 1.0, "train_kl": 0.1, "val_kl": 0.1} for e in (1, 2)]  # fmt: skip
    assert len(F.loss_curves(epochs, variational=True).data) == 6
    assert len(F.loss_curves(epochs, variational=False).data) == 4


def test_loss_curves_draw_each_term_in_its_own_panel():
    """Total, reconstruction and KL each on their own axes (not all in the first panel)."""
    epochs = [{"epoch": e, "train_loss": 30.0, "val_loss": 31.0, "train_recon": 28.0,
               "val_recon": 29.0, "train_kl": 2.0, "val_kl": 2.0} for e in (1, 2)]  # fmt: skip
    steps = [{"step": s, "loss": 30.0, "recon": 28.0, "kl": 2.0} for s in (5, 10)]
    fig = F.loss_curves(epochs, steps, variational=True, steps_per_epoch=10)
    panels = {}
    for trace in fig.data:
        panels.setdefault(trace.xaxis or "x", set()).add(trace.y[0])
    assert panels == {"x": {30.0, 31.0}, "x2": {28.0, 29.0}, "x3": {2.0}}


def test_the_total_loss_panel_says_which_beta():
    def rows(*betas):
        return [{"epoch": i + 1, "beta": b, "train_loss": 1.0} for i, b in enumerate(betas)]

    assert F.loss_description(rows(1.0, 1.0), True)[0] == "Total: −ELBO (β = 1)"
    title, note = F.loss_description(rows(4.0, 4.0), True)
    assert title == "Total: recon + 4·KL" and "not the −ELBO" in note
    title, note = F.loss_description(rows(0.5, 1.0, 1.0), True)
    assert "warm-up" in title and "now 1" in note and "that epoch's β" in note
    assert "−ELBO" not in F.loss_description(rows(1.0), False)[0]
    fig = F.loss_curves(rows(4.0, 4.0), variational=True)
    assert fig.layout.annotations[0].text == "Total: recon + 4·KL"


def test_latent_scatter_one_trace_per_class_with_indices():
    rng = np.random.default_rng(0)
    coords, labels = rng.normal(size=(60, 2)), np.arange(60) % 3
    fig = F.latent_scatter(coords, labels=labels, label_names=["a", "b", "c"], title="t")
    assert [t.name for t in fig.data] == ["a", "b", "c"]
    assert all(isinstance(t, go.Scatter) for t in fig.data)
    indices = np.sort(np.concatenate([np.asarray(t.customdata) for t in fig.data]))
    np.testing.assert_array_equal(indices, np.arange(60))
    first = fig.data[0]
    np.testing.assert_allclose(first.x, coords[np.asarray(first.customdata), 0], rtol=1e-6)
    assert "index" in first.hovertemplate and fig.layout.clickmode == "event+select"


def test_latent_scatter_options():
    coords = np.random.default_rng(1).normal(size=(1500, 2))
    ranges = ((-5.0, 5.0), (-4.0, 4.0))
    fig = F.latent_scatter(
        coords, color_values=np.linspace(0, 1, 1500), color_name="scale", ranges=ranges,
        highlight=(0.5, 0.5), customdata=np.arange(1500) + 100,
    )  # fmt: skip
    assert len(fig.data) == 2 and isinstance(fig.data[0], go.Scattergl)  # WebGL when large
    assert fig.data[0].marker.colorbar.title.text == "scale"
    assert fig.data[0].customdata[0] == 100
    assert fig.data[1].name == "your image" and fig.data[1].marker.symbol == "star"
    assert tuple(fig.layout.xaxis.range) == (-5.0, 5.0)
    assert len(F.latent_scatter(coords[:10]).data) == 1


def test_traversal_figure_is_a_labelled_png_mosaic():
    grid = np.random.default_rng(0).random((3, 7, 1, 8, 8)).astype(np.float32)
    cols = [f"{v:+.0f}" for v in np.linspace(-3, 3, 7)]
    fig = F.traversal_figure(grid, ["z1", "z4", "z2"], cols)
    assert len(fig.data) == 1 and isinstance(fig.data[0], go.Image)
    assert list(fig.layout.yaxis.ticktext) == ["z1", "z4", "z2"]
    assert list(fig.layout.xaxis.ticktext) == cols
    # Each 8x8 image is enlarged 8x by nearest neighbour (64 px tiles, 2 px apart), so the
    # PNG is drawn 1:1 and a tile's pixels are sharp 8x8 squares.
    png = png_of(fig)
    assert png.size == (7 * 66 - 2, 3 * 66 - 2)
    assert fig.layout.meta == {"kind": "mosaic", "tile": [64, 64], "size": [3 * 66 - 2, 7 * 66 - 2]}
    assert fig.data[0].zsmooth is False
    first = (np.clip(grid[0, 0, 0], 0, 1) * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(png)[:64, :64], first.repeat(8, 0).repeat(8, 1))
    assert fig.layout.height == 3 * 66 - 2 + 5 + 60  # the mosaic's pixels, plus margins


@pytest.mark.parametrize(("side", "tile"), [(8, 64), (28, 84), (32, 64), (64, 64)])
def test_tiles_are_enlarged_to_at_least_60_px(side, tile):
    assert F.upscale_factor(side, side) * side == tile
    assert F.upscale_factor(8, 8, F.MANIFOLD_CELL_PX) * 8 == 40


def test_manifold_cells_touch_and_image_grid_keeps_its_tiles():
    fig = F.manifold_figure(np.zeros((15, 15, 1, 8, 8), np.float32))
    assert png_of(fig).size == (15 * 41 - 1, 15 * 41 - 1)
    assert fig.layout.meta == {"kind": "manifold", "tile": [40, 40], "size": [614, 614]}
    grid = F.image_grid(np.zeros((16, 1, 8, 8), np.uint8), ncols=8, height=50)
    assert png_of(grid).size == (8 * 66 - 2, 2 * 66 - 2) and grid.layout.height == 130


def test_column_chunks_split_evenly():
    assert F.column_chunks(16) == [slice(0, 8), slice(8, 16)]
    assert F.column_chunks(12) == [slice(0, 12)]
    assert [len(range(32)[c]) for c in F.column_chunks(32)] == [11, 11, 10]


def test_image_figure_and_colour_mosaic():
    fig = F.image_figure(np.ones((1, 28, 28), np.float32))
    assert np.asarray(png_of(fig)).min() == 255
    rgb = F.mosaic_figure(np.zeros((2, 2, 3, 4, 4), np.uint8), title="x")
    assert png_of(rgb).mode == "RGB" and rgb.layout.title.text == "x"


def test_kl_bar_ticks_have_no_si_prefix():
    """A collapsed posterior's KL (~1e-5) must not be labelled "10µ" (Plotly's default)."""
    fig = charts.kl_bar([2e-5, 1e-5], [False, False], collapsed=True)
    assert fig.layout.yaxis.exponentformat == "e"


def test_kl_bar():
    fig = charts.kl_bar([0.5, 0.0, 2.0, 0.01], [True, False, True, False], warning="collapsed!")
    assert len(fig.data) == 2
    assert list(fig.data[0].x) == ["z1", "z3"] and list(fig.data[1].x) == ["z2", "z4"]
    assert fig.data[0].name == "active (2)"
    assert fig.layout.title.text == "collapsed!" and len(fig.layout.annotations) == 1
    assert charts.kl_bar([1.0], [True]).layout.title.text is None


def test_error_histogram_and_roc():
    fig = charts.error_histogram(np.arange(10.0), np.arange(5.0, 20.0), threshold=8.0)
    assert len(fig.data) == 2 and all(isinstance(t, go.Histogram) for t in fig.data)
    assert fig.data[0].xbins.size == fig.data[1].xbins.size  # shared bins
    assert len(fig.layout.shapes) == 1 and fig.layout.shapes[0].x0 == 8.0
    roc = charts.roc_figure(np.array([0, 0.5, 1]), np.array([0, 0.9, 1]), 0.8, point=(0.5, 0.9))
    assert len(roc.data) == 3 and "0.800" in roc.data[0].name
    # Rates: both axes 0 to 1, kept square by shrinking the box, never the range.
    assert tuple(roc.layout.xaxis.range) == (0, 1) == tuple(roc.layout.yaxis.range)
    assert roc.layout.xaxis.constrain == "domain" == roc.layout.yaxis.constrain


def test_rate_distortion_sorted_by_beta():
    points = [
        {"name": "b", "kl": 2.0, "recon": 30.0, "beta": 4.0},
        {"name": "a", "kl": 10.0, "recon": 20.0, "beta": 0.5},
        {"name": "ae", "kl": 0.0, "recon": 18.0, "beta": None},
    ]
    fig = charts.rate_distortion(points)
    line, *runs = fig.data
    assert list(line.x) == [10.0, 2.0, 0.0] and not line.showlegend
    # Names live in the legend, one trace per run: no text drawn on the plot can overlap.
    assert [t.name for t in runs] == ["a (β=0.5)", "b (β=4)", "ae"]
    assert all("text" not in t.mode for t in fig.data)
    assert len({t.marker.color for t in runs}) == 3
    named = charts.rate_distortion([{"name": "β-VAE β=4", "kl": 1.0, "recon": 2.0, "beta": 4.0}])
    assert named.data[1].name == "β-VAE β=4", "the β is not said twice"


def test_overlay_curves_train_dashed_validation_solid():
    rows = [{"epoch": e, "train_kl": 1.0 / e, "val_kl": 1.2 / e} for e in (1, 2, 3)]
    fig = charts.overlay_curves({"AE": rows, "VAE": rows}, "kl")
    assert len(fig.data) == 4
    assert [t.line.dash for t in fig.data] == ["dash", "solid", "dash", "solid"]
    assert fig.data[0].line.color == fig.data[1].line.color != fig.data[2].line.color
    assert len(charts.overlay_curves({"AE": [{"epoch": 1}]}, "kl").data) == 0


def test_error_bars():
    fig = charts.error_bars(np.array([3.0, 1.0]), indices=np.array([7, 2]))
    assert list(fig.data[0].x) == ["7", "2"]


def test_thumbnail_uris_are_each_images_own_pixels():
    rng = np.random.default_rng(0)
    images = rng.random((5, 1, 28, 28)).astype(np.float32)
    uris = F.thumbnail_uris(images)
    assert len(uris) == 5
    for uri, img in zip(uris, images, strict=True):
        assert uri.startswith("data:image/png;base64,")
        got = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
        assert np.array_equal(got, (img[0] * 255).round().astype(np.uint8))
    colour = F.thumbnail_uris(rng.random((1, 3, 32, 32)))
    assert Image.open(io.BytesIO(base64.b64decode(colour[0].split(",", 1)[1]))).size == (32, 32)
    # An integer enlargement to about 84 px: 28 -> 84, 8 -> 88, 32 -> 96.
    assert (F.thumbnail_px(28, 28), F.thumbnail_px(8, 8), F.thumbnail_px(32, 32)) == (84, 88, 96)
