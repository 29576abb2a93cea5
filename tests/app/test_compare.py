"""Compare: runs side by side (AE vs VAE, a β sweep), the pair action, and projections that
never block the page (UMAP / t-SNE fit in the background while PCA or raw axes show).

Four small runs are really trained in-process (2 epochs, digits; one on sprites): an AE and
a VAE in group "pair", a β-VAE (β = 4) and a sprites VAE. The module's job manager has no
workers, so what the pair action queues stays queued for the test to inspect.
"""

from __future__ import annotations

import base64
import time
from dataclasses import asdict
from typing import Any

import numpy as np
import pytest
from app_helpers import by_label, no_exception, open_page, plotly_figures, query_param, texts
from app_helpers import wait_for as poll_until

from aevae_core.config import TrainConfig
from aevae_core.explore import metric_labels, projection, warmup
from aevae_core.jobs.runner import execute_run
from aevae_core.store.runs import RunStore

PAGE = "pages/compare.py"
RUNS_LABEL = "Runs to compare (2 to 4)"
BETAS_LABEL = "Extra β values (β-VAEs)"
FIT_TIMEOUT_S = 120


def _trained(store: RunStore, group: str | None = None, **changes: Any) -> str:
    """A really trained 2-epoch run (checkpoint, snapshots, metrics) in ``group``."""
    config = TrainConfig(dataset="digits", epochs=2, batch_size=64).replace(**changes)
    run_id = store.create_run(config, status="running", group_id=group)
    execute_run(store, run_id)
    run = store.get_run(run_id)
    assert run["status"] == "completed", run["reason"]
    return run_id


@pytest.fixture(scope="module")
def runs(app_env) -> dict[str, str]:
    store = app_env.store
    with pytest.MonkeyPatch.context() as mp:
        # This module checks the pages, not the server-wide UMAP compilation: keep the CPU
        # for the tests (tests/core/test_projection.py covers the warm-up).
        mp.setattr(warmup, "warm_up", lambda *args, **kwargs: None)
        yield {
            "ae": _trained(store, "pair", model="ae"),
            "vae": _trained(store, "pair", model="vae"),
            "beta4": _trained(store, model="vae", beta=4.0),
            "sprites": _trained(store, dataset="sprites", max_samples=600, model="vae"),
        }


def _array(values: Any) -> np.ndarray:
    """A plotly array from a figure's JSON: a list, or {"bdata": base64, "dtype": ...}."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return np.asarray(values, dtype=np.float64)


def _select(at, run_ids: list[str]):
    """Pick runs in the multiselect (the one on the page, whatever its key)."""
    return by_label(at.multiselect, RUNS_LABEL).set_value(run_ids).run()


def _tables(at) -> list[Any]:
    """The metrics tables on the page (AppTest keeps no dataframe keys: found by columns)."""
    frames = [d.value for d in at.dataframe]
    return [f for f in frames if list(f.columns[:2]) == ["metric", "unit"]]


def _table(at) -> Any:
    tables = _tables(at)
    assert len(tables) == 1, f"{len(tables)} metrics tables (columns metric, unit, runs…)"
    return tables[0]


def test_pair_from_the_url_shows_every_section(runs):
    at = open_page(PAGE, {"group": "pair"})
    no_exception(at)
    assert by_label(at.multiselect, RUNS_LABEL).value == [runs["ae"], runs["vae"]]
    assert "different datasets" not in texts(at.warning)

    # Metrics table: one row per metric with its unit, one column per run.
    table = _table(at)
    assert list(table.columns) == ["metric", "unit", "AE", "VAE"]
    assert table["unit"].str.len().min() > 0, "every metric has a unit"
    assert {"KL(q(z|x) ‖ p(z))", "ELBO (β = 1)", "Active units"} <= set(table["metric"])
    assert metric_labels.BCE_SCORE_LABEL in set(
        table["metric"]
    )  # grey digits with BCE: a relative score
    assert "Bits per dimension (binarised pixels)" not in set(table["metric"])
    assert table.set_index("metric").loc["KL(q(z|x) ‖ p(z))", "unit"] == "nats/image"

    figures = plotly_figures(at)
    # Overlaid curves: each run's train and validation curve, one point per epoch.
    for key in ("loss", "recon", "kl"):
        traces = figures[f"cmp_curve_{key}"]["data"]
        names = sorted(t["name"] for t in traces)
        assert names == ["AE (train)", "AE (validation)", "VAE (train)", "VAE (validation)"]
        assert all(len(t["x"]) == 2 for t in traces), "2 epochs: 2 points per curve"
    # Reconstructions of the same images (originals + one row per run), prior samples
    # and a latent scatter per run.
    assert figures["cmp_recon"]["data"], "no reconstructions grid"
    for run_id in (runs["ae"], runs["vae"]):
        assert figures[f"cmp_lat_{run_id}"]["data"], "no latent scatter"
    prior = figures["cmp_prior"]  # one row of samples from the prior per run
    assert prior["data"] and prior["layout"]["yaxis"]["ticktext"] == ["AE", "VAE"]
    assert "cmp_rd" not in figures, "one β only: no rate–distortion plot"


def test_default_is_the_two_latest_completed_runs(runs):
    at = open_page(PAGE)
    no_exception(at)
    chosen = by_label(at.multiselect, RUNS_LABEL).value
    assert chosen == [runs["beta4"], runs["sprites"]]  # oldest of the two first
    assert _tables(at)


def test_runs_listed_in_the_url(runs):
    """?runs=id1,id2 is a shareable comparison; unknown or repeated ids are ignored."""
    listed = [runs["vae"], "20000101-000000-abcdef", runs["beta4"], runs["vae"], "../x"]
    at = open_page(PAGE, {"runs": ",".join(listed), "group": "pair"})
    no_exception(at)
    assert by_label(at.multiselect, RUNS_LABEL).value == [runs["vae"], runs["beta4"]]
    assert list(_table(at).columns)[2:] == ["VAE", "β-VAE β=4"]


def test_runs_on_different_datasets_are_flagged(runs):
    at = _select(open_page(PAGE), [runs["vae"], runs["sprites"]])
    no_exception(at)
    assert "different datasets" in texts(at.warning)
    # The reconstructions grid holds only the runs whose images match the originals (8x8
    # digits here, not 32x32 sprites), each row labelled with its own run.
    rows = plotly_figures(at)["cmp_recon"]["layout"]["yaxis"]["ticktext"]
    assert rows == ["original", f"VAE ({runs['vae'][-6:]})"]  # two VAEs: told apart by id
    assert "left out" in texts(at.caption)


def test_beta_sweep_shows_rate_distortion(runs):
    at = _select(open_page(PAGE), [runs["ae"], runs["vae"], runs["beta4"]])
    no_exception(at)
    table = _table(at)
    assert list(table.columns)[2:] == ["AE", "VAE", "β-VAE β=4"]
    figures = plotly_figures(at)
    assert "cmp_rd" in figures, "two β-VAEs: the rate–distortion plot is shown"
    points = figures["cmp_rd"]["data"][0]
    assert len(points["x"]) == 2, "one point per VAE (the AE has no KL term)"
    assert "KL" in figures["cmp_rd"]["layout"]["xaxis"]["title"]["text"]


def test_one_run_asks_for_more(runs):
    at = _select(open_page(PAGE), [runs["vae"]])
    no_exception(at)
    assert "Choose 2 to 4 runs" in texts(at.info)
    assert not _tables(at)


def test_pair_action_queues_identical_settings_but_model_and_beta(app_env, runs, monkeypatch):
    # Four runs from one click: over the default quota of 3 active runs per student, which
    # refuses the whole group (tests/core/test_class_rules.py); allowed here.
    monkeypatch.setenv("AEVAE_MAX_ACTIVE_PER_OWNER", "4")
    store = app_env.store
    before = {r["id"] for r in store.list_runs()}
    at = open_page(PAGE)
    by_label(at.text_input, BETAS_LABEL).input("4, 16").run()
    by_label(at.button, "Train them").click().run()
    no_exception(at)
    queued = sorted((r for r in store.list_runs() if r["id"] not in before), key=lambda r: r["seq"])
    try:
        assert len(queued) == 4 and {r["status"] for r in queued} == {"queued"}
        group = queued[0]["group_id"]
        assert group and {r["group_id"] for r in queued} == {group}
        configs = [TrainConfig.from_json(r["config"]) for r in queued]
        assert [(c.model, c.beta) for c in configs] == [
            ("ae", 1.0),
            ("vae", 1.0),
            ("vae", 4.0),
            ("vae", 16.0),
        ]
        shared = [asdict(c.replace(model="vae", beta=1.0)) for c in configs]
        assert all(s == shared[0] for s in shared), "only the model and β may differ"
        # The page now compares the new group and waits for it to train.
        assert query_param(at, "group") == group
        assert by_label(at.multiselect, RUNS_LABEL).value == [r["id"] for r in queued]
        assert "still training" in texts(at.info)
    finally:
        for run in queued:
            store.delete_run(run["id"])


def test_pair_action_rejects_bad_betas(runs):
    at = open_page(PAGE)
    by_label(at.text_input, BETAS_LABEL).input("four").run()
    no_exception(at)
    assert "β values" in texts(at.error)
    assert not [b for b in at.button if b.label == "Train them"]


# -- projections never block the page --------------------------------------------------


@pytest.fixture
def tsne_warm(monkeypatch: pytest.MonkeyPatch) -> None:
    """t-SNE counts as warmed up (it needs no compilation; only UMAP's numba does), and no
    projection is cached yet, so the next request starts a background fit."""
    real = warmup.warm_state
    monkeypatch.setattr(warmup, "warm_state", lambda m: "warm" if m == "tsne" else real(m))
    projection.clear_caches()


def _wait_until_fitted(store: RunStore, run_ids: list[str], method: str) -> None:
    def fitted() -> bool:
        states = [projection.request_projection_for_run(store, r, method)[1] for r in run_ids]
        assert not any(s.startswith("failed") for s in states), states
        return all(s == "ready" for s in states)

    poll_until(fitted, FIT_TIMEOUT_S, f"the {method} fit of {run_ids}")


def test_compare_shows_raw_axes_while_tsne_fits(app_env, runs, tsne_warm):
    ids = [runs["ae"], runs["vae"]]
    at = open_page(PAGE, {"group": "pair"})
    started = time.monotonic()
    at.radio(key="cmp_method").set_value("tsne").run()
    no_exception(at)
    assert "t-SNE is being computed" in texts(at.info), texts(at.info)
    scatter = plotly_figures(at)[f"cmp_lat_{runs['ae']}"]
    assert scatter["layout"]["xaxis"]["title"]["text"] == "z1", "2-D codes: raw axes meanwhile"

    _wait_until_fitted(app_env.store, ids, "tsne")
    at.run()  # what the polling fragment's st.rerun() does once the fits are ready
    no_exception(at)
    assert "being computed" not in texts(at.info)
    scatter = plotly_figures(at)[f"cmp_lat_{runs['ae']}"]
    assert scatter["layout"]["xaxis"]["title"]["text"] == "t-SNE 1"
    assert time.monotonic() - started < FIT_TIMEOUT_S


def test_latent_page_shows_raw_axes_while_tsne_fits(app_env, runs, tsne_warm):
    at = open_page("pages/latent.py", {"run": runs["vae"]})
    at.radio(key="latent_method").set_value("tsne").run()
    no_exception(at)
    assert "t-SNE is being computed" in texts(at.info), texts(at.info)
    title = plotly_figures(at)["latent_scatter"]["layout"]["xaxis"]["title"]["text"]
    assert title == "z1"

    _wait_until_fitted(app_env.store, [runs["vae"]], "tsne")
    at.run()
    no_exception(at)
    assert "being computed" not in texts(at.info)
    figures = plotly_figures(at)
    assert figures["latent_scatter"]["layout"]["xaxis"]["title"]["text"] == "t-SNE 1"
    # The evolution chart names the same projection's axes (it said z1/z2 under PCA).
    evolution = figures[f"latent_evo_chart_{runs['vae']}"]["layout"]
    assert (evolution["xaxis"]["title"]["text"], evolution["yaxis"]["title"]["text"]) == (
        "t-SNE 1",
        "t-SNE 2",
    )


def test_latent_kl_chart_has_a_short_title_and_the_page_explains(runs):
    """A β = 4 VAE after 2 epochs has collapsed (KL ~ 0): the chart says so in a short red
    title, the long explanation is an st.warning (a chart title has no room for a paragraph)."""
    at = open_page("pages/latent.py", {"run": runs["beta4"]})
    no_exception(at)
    title = plotly_figures(at)["latent_kl"]["layout"]["title"]["text"]
    assert title == "KL per latent dimension — posterior collapsed"
    assert "Posterior collapse: the codes carry almost no information" in texts(at.warning)


def test_collapsed_beta_vae_is_warned_and_drawn_on_a_shared_scale(runs):
    """The β = 4 VAE has collapsed (its codes sit near 0): Compare names it in a warning and
    draws every run on the same axes, so its scatter is a small blob beside the AE's cloud."""
    at = _select(open_page(PAGE), [runs["ae"], runs["beta4"]])
    no_exception(at)
    warnings = texts(at.warning)
    assert "β-VAE β=4**: Posterior collapse" in warnings, warnings
    assert "**AE**" not in warnings
    figures = plotly_figures(at)
    ae, beta = figures[f"cmp_lat_{runs['ae']}"], figures[f"cmp_lat_{runs['beta4']}"]
    for axis in ("xaxis", "yaxis"):
        assert ae["layout"][axis]["range"] == beta["layout"][axis]["range"], "one shared scale"
    assert ae["layout"]["xaxis"]["title"]["text"] == "z1"

    def width(fig: dict) -> float:
        xs = np.concatenate([_array(t["x"]) for t in fig["data"]])
        return float(xs.max() - xs.min())

    # The collapsed run's codes span a sliver of the shared axis; the AE's a good part of it.
    lo, hi = ae["layout"]["xaxis"]["range"]
    # Measured: AE 1.09 and β-VAE 0.055 wide on a shared x range 2.84 wide.
    assert width(ae) > 0.3 * (hi - lo) and width(beta) < 0.05 * (hi - lo)
    assert "same axes" in texts(at.caption)
    spreads = [float(f["layout"]["title"]["text"].rsplit(" ", 1)[1]) for f in (ae, beta)]
    assert spreads[1] < spreads[0], spreads
