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


def test_home_teaches_the_conventions_the_core_uses(app_env):
    """The AE's loss is the chosen likelihood's reconstruction term (BCE by default), not a
    squared error; the ELBO has no β (β weights only the training loss); the Gaussian
    decoder has its normaliser; disentanglement comes with its caveat."""
    at = new_app().run()
    no_exception(at)
    formulas = [e.value for e in at.latex]
    ae = next(f for f in formulas if "mathcal{L}_{AE}" in f)
    assert r"-\log p\big(x \mid z = f(x)\big)" in ae and "x - g(f(x))" not in ae
    elbo = next(f for f in formulas if r"\mathrm{ELBO}(x) =" in f)
    assert r"\beta" not in elbo
    assert any(r"\mathcal{L}_\beta(x)" in f and r"\beta\," in f for f in formulas)
    assert TrainConfig().recon == "bce", "the page says Bernoulli is the default"
    text = texts(at.markdown) + texts(at.caption)
    assert "Bernoulli** (BCE, the default)" in text
    assert r"\tfrac{D}{2}\log 2\pi" in text, "the Gaussian's normaliser"
    assert "relative score" in text and "β = 1" in text
    assert "disentangled" in text and "Locatello et al. 2019" in text


def test_readme_theory_matches_home(app_env):
    """README's theory section states what Home teaches: the same numbers and sources."""
    from app_helpers import REPO

    readme = (REPO / "README.md").read_text()
    theory = " ".join(readme[readme.index("## Theory") : readme.index("## Architecture")].split())
    at = new_app().run()
    home = " ".join((texts(at.markdown) + texts(at.caption)).split())
    shared = ["13.6 nats", "45.7 on MNIST", "relative score", "β = 1", "42%",
              "Higgins et al. 2017", "Kingma & Welling 2014", "Locatello et al. 2019",
              "Rybkin, Daniilidis & Levine 2021", "disentangled", "weight decay"]  # fmt: skip
    for phrase in shared:
        assert phrase in home, f"Home lacks {phrase!r}"
        assert phrase in theory, f"README's theory lacks {phrase!r}"
