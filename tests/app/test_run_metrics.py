"""One run's metrics on its own pages: the exploration pages' "This run's metrics" expander
shows the Compare page's table (ELBO, IW-NLL, bits/dim, active units, kNN) for the run and
epoch shown, computed only once the expander is opened."""

from __future__ import annotations

import pytest
from app_helpers import make_completed_run, no_exception, open_page

from aevae_core.explore import analysis, metric_labels, metrics

LABEL = "This run's metrics"
PAGES = {
    "pages/reconstructions.py": "recon",
    "pages/latent.py": "latent",
    "pages/traversals.py": "trav",
}


@pytest.fixture(scope="module")
def runs(app_env) -> dict[str, str]:
    return {
        "vae": make_completed_run(app_env.store, model="vae", latent_dim=3),
        "ae": make_completed_run(app_env.store, model="ae", latent_dim=3),
    }


def _expected(store, run_id: str, epoch: int) -> list[dict[str, str]]:
    """The table computed here, independently of the page's cache."""
    model, config, _ = analysis.load_model(store, run_id, epoch)
    x, y, factors, _, _ = analysis.load_split(config, "val", 1000)
    xt, yt, _, _, _ = analysis.load_split(config, "train", 2000)
    m = metrics.run_metrics(model, config, x, y, factors, xt, yt)
    return metric_labels.comparison_rows({"this run": m})


def _panel(at):
    panels = [e for e in at.expander if e.label == LABEL]
    assert len(panels) == 1, f"{len(panels)} expanders labelled {LABEL!r}"
    return panels[0]


def _shown(at) -> list[dict[str, str]]:
    tables = _panel(at).dataframe
    assert len(tables) == 1, f"{len(tables)} tables in the expander"
    return tables[0].value.to_dict("records")


@pytest.mark.parametrize("page", PAGES)
def test_the_expander_is_lazy_then_shows_this_runs_metrics(app_env, runs, page):
    prefix = PAGES[page]
    at = open_page(page, {"run": runs["vae"]})
    no_exception(at)
    assert not _panel(at).dataframe, "computed while the expander is closed"
    at.session_state[f"{prefix}_metrics"] = True  # the student opens it
    at.run()
    no_exception(at)
    shown = _shown(at)
    assert shown == _expected(app_env.store, runs["vae"], 2)
    labels = {row["metric"] for row in shown}
    for key in ("elbo", "iw_nll", "active_units", "knn_accuracy"):
        assert metric_labels.METRIC_LABELS[key] in labels, key


def test_metrics_follow_the_epoch_and_an_ae_has_no_elbo(app_env, runs):
    at = open_page("pages/reconstructions.py", {"run": runs["vae"]})
    at.session_state["recon_metrics"] = True
    at.select_slider(key=f"recon_epoch_{runs['vae']}").set_value(1)
    at.run()
    no_exception(at)
    assert _shown(at) == _expected(app_env.store, runs["vae"], 1)
    assert _shown(at) != _expected(app_env.store, runs["vae"], 2)

    at = open_page("pages/reconstructions.py", {"run": runs["ae"]})
    at.session_state["recon_metrics"] = True
    at.run()
    no_exception(at)
    labels = {row["metric"] for row in _shown(at)}
    assert metric_labels.METRIC_LABELS["elbo"] not in labels
    assert metric_labels.METRIC_LABELS["knn_accuracy"] in labels
