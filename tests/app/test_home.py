"""Home: the explanation renders, and the quick-start button queues a run and opens it."""

from __future__ import annotations

from app_helpers import by_label, current_page, new_app, no_exception, query_param, texts

from aevae_core.config import TrainConfig

QUICK_START_LABEL = "Train a 2-D VAE on digits"


def test_home_explains_ae_and_vae(app_env):
    at = new_app().run()
    no_exception(at)
    headers = texts(at.subheader)
    assert "Autoencoder (AE)" in headers and "Variational autoencoder (VAE)" in headers
    assert len(at.latex) >= 2, "the AE loss and the ELBO are shown as formulas"
    assert "No jobs running." in texts(at.sidebar.caption)


def test_quick_start_queues_a_run_and_opens_it_on_train(app_env):
    before = {r["id"] for r in app_env.store.list_runs()}
    at = new_app().run()
    by_label(at.button, QUICK_START_LABEL).click().run()
    no_exception(at)

    new = [r for r in app_env.store.list_runs() if r["id"] not in before]
    assert len(new) == 1
    run = new[0]
    assert run["status"] == "queued"  # this module's manager has no workers
    config = TrainConfig.from_json(run["config"])
    assert (config.dataset, config.model, config.latent_dim) == ("digits", "vae", 2)

    assert current_page(at) == "Train"
    assert query_param(at, "run") == run["id"]
    assert any(run["id"] in s.value for s in at.subheader), "the live panel shows the run"
    assert "Queued" in texts(at.info)
    # The sidebar lists the queued job with a link to it.
    links = [link for link in at.sidebar.get("page_link")]
    assert any("queued" in link.value for link in links), [link.value for link in links]
