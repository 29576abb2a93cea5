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


def test_runs_table_hides_beta_for_an_ae_and_names_runs(app_env):
    """An AE's beta cell is empty (not "None"); a β-VAE says so in the model column; a name
    typed on the Runs page is stored, shown in the table and in the run's label."""
    from app_helpers import by_label, make_finished_run

    store = app_env.store
    ae = make_finished_run(store, model="ae")
    bvae = make_finished_run(store, beta=4.0)
    at = open_page("pages/runs.py", {"run": bvae})
    no_exception(at)
    df = at.dataframe[0].value
    row_ae = df[df["run"] == ae].iloc[0]
    row_b = df[df["run"] == bvae].iloc[0]
    assert row_ae["beta"] == "" and row_ae["model"] == "AE"
    assert row_b["beta"] == "4" and row_b["model"] == "β-VAE β=4"
    by_label(at.text_input, "Name").input("  my   wide VAE ").run()
    no_exception(at)
    assert store.get_run(bvae)["name"] == "my wide VAE"
    df = at.dataframe[0].value
    assert df[df["run"] == bvae].iloc[0]["name"] == "my wide VAE"
    heading = " ".join(h.value for h in at.subheader)
    assert "my wide VAE · β-VAE β=4" in heading
    assert ":material/check_circle:" in heading  # an icon, not an emoji


def test_run_labels_use_material_icons_not_emoji():
    from pages.ui.common import STATUS_ICONS, run_label

    run = {"name": "", "model": "vae", "beta": 1.0, "latent_dim": 2, "dataset": "digits",
           "id": "x", "status": "running"}  # fmt: skip
    assert all(v.startswith(":material/") for v in STATUS_ICONS.values())
    assert run_label(run) == ":material/directions_run: VAE · z=2 · digits · x"
    assert run_label(run, icon=False) == "VAE · z=2 · digits · x (running)"
    assert all(ord(ch) < 0x2000 or ch in "β·…" for ch in run_label(run))


def test_mosaic_png_is_the_figures_own_png():
    import io

    from PIL import Image

    from aevae_core.plots.figures import mosaic_figure
    from pages.ui.exports import mosaic_png

    grid = np.random.default_rng(0).random((2, 3, 1, 8, 8)).astype(np.float32)
    fig = mosaic_figure(grid, ["a", "b"], ["1", "2", "3"])
    img = Image.open(io.BytesIO(mosaic_png(fig)))
    assert img.format == "PNG" and list(img.size[::-1]) == list(fig.layout.meta["size"])


def test_mosaics_offer_a_png_download(app_env, completed_run):
    at = open_page("pages/traversals.py", {"run": completed_run})
    no_exception(at)
    buttons = {b.proto.id: b.proto.label for b in at.get("download_button")}
    grid = [label for key, label in buttons.items() if "trav_grid_png" in key]
    assert grid == ["Download PNG"], buttons
