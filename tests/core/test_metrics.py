"""Tests for aevae_core.explore.metrics: kNN accuracy, the MIG disentanglement score and the
Compare page's metrics table."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aevae_core.config import TrainConfig
from aevae_core.engine.evaluate import binarize_fixed
from aevae_core.explore import analysis as A
from aevae_core.explore import metric_labels
from aevae_core.explore import metrics as M
from aevae_core.model.losses import bernoulli_floor_per_image, importance_weighted_nll
from aevae_core.model.networks import build_model

SHAPE = (1, 8, 8)


def tiny(model: str = "vae"):
    torch.manual_seed(0)
    config = TrainConfig(model=model, latent_dim=3, hidden=(16,))
    return build_model(config, SHAPE).eval(), config


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.random((60, *SHAPE)).astype(np.float32)
    y = np.arange(60) % 3
    factors = rng.random((60, 2)).astype(np.float32)
    return x, y, factors


def test_knn_accuracy_on_separable_codes():
    rng = np.random.default_rng(0)
    labels = np.arange(200) % 4
    codes = labels[:, None] * 10.0 + rng.normal(0, 0.5, size=(200, 3))
    assert M.knn_accuracy(codes[:100], labels[:100], codes[100:], labels[100:]) == 1.0
    noise = rng.normal(size=(200, 3))
    assert M.knn_accuracy(noise[:100], labels[:100], noise[100:], labels[100:]) < 0.6
    assert M.knn_accuracy(codes[:3], labels[:3], codes[3:6], labels[3:6], k=5) >= 0  # k > n


def test_mig_high_for_codes_equal_to_factors():
    rng = np.random.default_rng(0)
    factors = np.c_[rng.integers(0, 3, 2000), rng.random((2000, 3))]  # 1 discrete, 3 continuous
    codes = factors[:, [2, 0, 3, 1]] + rng.normal(0, 1e-4, size=(2000, 4))  # permuted dims
    assert M.mig_score(codes, factors) > 0.5


def test_mig_low_for_random_codes():
    rng = np.random.default_rng(1)
    factors = rng.random((2000, 4))
    assert M.mig_score(rng.normal(size=(2000, 5)), factors) < 0.1


def test_mig_penalises_a_factor_spread_over_two_dims():
    rng = np.random.default_rng(2)
    factors = rng.random((2000, 2))
    entangled = np.c_[factors[:, 0], factors[:, 0], factors[:, 1]]  # factor 0 in two dims
    assert M.mig_score(entangled, factors) == pytest.approx(0.5, abs=0.1)


def test_mig_discrete_flags_and_degenerate_input():
    rng = np.random.default_rng(3)
    f = rng.integers(0, 4, size=(500, 1)).astype(float)
    assert M.mig_score(f + 1e-6, f, discrete=[True]) > 0.9
    assert math.isnan(M.mig_score(rng.random((50, 2)), np.ones((50, 1))))  # no entropy
    with pytest.raises(ValueError):
        M.mig_score(np.zeros((5, 2)), np.zeros((6, 1)))


def test_run_metrics_ae_has_no_variational_terms(data):
    x, y, factors = data
    model, config = tiny("ae")
    m = M.run_metrics(model, config, x, y, None)
    for key in ("kl", "elbo", "iw_nll", "active_units", "mig"):
        assert m[key] is None
    errors = A.reconstruction_errors(model, x, config.recon)
    assert m["recon_nats"] == pytest.approx(float(errors.mean()), rel=1e-5)
    assert m["mse_per_pixel"] == pytest.approx(float(A.mse_per_image(model, x).mean()), rel=1e-5)
    assert m["recon_nats"] > 0 and 0 <= m["mse_per_pixel"] <= 1
    assert m["bits_per_dim"] is None  # an AE has no likelihood of x, so no bits/dim
    assert 0 <= m["knn_accuracy"] <= 1
    floor = float(bernoulli_floor_per_image(torch.from_numpy(x)).mean())
    assert m["bce_floor"] == pytest.approx(floor, rel=1e-5) and m["recon_nats"] > floor
    assert m["likelihood_kind"] == "bce_grey" and m["sigma"] is None
    assert m["likelihood_note"] == metric_labels.likelihood_note(config, None, m["bce_floor"])


def test_run_metrics_vae(data):
    x, y, factors = data
    model, config = tiny("vae")
    m = M.run_metrics(model, config, x, y, factors, x[:30], y[:30], iw_k=8, max_images=40)
    assert m["n_images"] == 40 and m["latent_dim"] == 3 and m["iw_images"] == 40
    assert m["likelihood_images"] == 40
    assert m["kl"] > 0 and m["elbo"] == pytest.approx(-(m["recon_nats"] + m["kl"]))
    assert m["kl"] == pytest.approx(sum(m["kl_per_dim"]))
    assert math.isfinite(m["iw_nll"]) and m["iw_nll"] > 0
    assert m["bits_per_dim"] is None  # BCE on grey pixels: not a likelihood of discrete data
    assert 0 <= m["active_units"] <= 3 and 0 <= m["mig"] <= 1
    again = M.run_metrics(model, config, x, y, factors, x[:30], y[:30], iw_k=8, max_images=40)
    assert again == m  # deterministic by seed
    assert M.run_metrics(model, config, x, None, None, iw_k=2)["knn_accuracy"] is None


def test_metric_tables():
    assert list(metric_labels.METRIC_LABELS) == list(metric_labels.METRIC_UNITS)
    ae = {k: None for k in metric_labels.METRIC_LABELS} | {"recon_nats": 20.0, "latent_dim": 2}
    vae = dict(ae, kl=3.0, active_units=1, mig=None)
    rows = metric_labels.comparison_rows({"AE": ae, "VAE": vae})
    metrics = [r["metric"] for r in rows]
    assert metrics == [metric_labels.METRIC_LABELS[k] for k in ("recon_nats", "kl", "active_units")]
    kl_row = rows[1]
    assert kl_row["unit"] == "nats/image" and kl_row["AE"] == "–" and kl_row["VAE"] == "3.00"
    assert rows[2]["VAE"] == "1 of 2"
    assert metric_labels.format_metric("mig", float("nan")) == "–"


def test_elbo_and_iw_nll_count_the_same_images(data):
    x, y, factors = data
    model, config = tiny("vae")
    m = M.run_metrics(model, config, x, y, None, iw_k=4, max_images=50, iw_max_images=20)
    assert m["n_images"] == 50 and m["likelihood_images"] == m["iw_images"] == 20
    only = M.run_metrics(model, config, x[:20], y[:20], None, iw_k=4, iw_max_images=20)
    for key in ("recon_nats", "kl", "elbo", "iw_nll", "bce_floor"):
        assert m[key] == pytest.approx(only[key]), key  # the likelihoods used the first 20


def test_binarised_vae_has_true_bits_per_dim_on_fixed_binary_images(data):
    x, y, _ = data
    torch.manual_seed(0)
    config = TrainConfig(latent_dim=3, hidden=(16,), binarize=True)
    model = build_model(config, SHAPE).eval()
    m = M.run_metrics(model, config, x, y, None, iw_k=8, max_images=40)
    assert m["bits_per_dim"] == pytest.approx(-m["elbo"] / (64 * math.log(2)))
    assert m["bce_floor"] is None and m["likelihood_kind"] == "bernoulli"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        iw = importance_weighted_nll(model, binarize_fixed(torch.from_numpy(x[:40])), k=8)
    assert m["iw_nll"] == pytest.approx(float(iw.mean()), rel=1e-5)


def test_gaussian_vae_metrics_use_its_sigma(data):
    x, y, _ = data
    torch.manual_seed(0)
    config = TrainConfig(latent_dim=3, hidden=(16,), recon="mse", sigma=0.25)
    model = build_model(config, SHAPE).eval()
    m = M.run_metrics(model, config, x, y, None, iw_k=8, max_images=40)
    assert m["sigma"] == pytest.approx(0.25) and m["bits_per_dim"] is None
    assert m["likelihood"] == "Gaussian, σ = 0.25 (fixed)"
    errors = A.reconstruction_errors(model, x[:40], "mse")  # at z = mu, by the same sigma
    sse = 64 * A.mse_per_image(model, x[:40])
    expected = sse / (2 * 0.25**2) + 64 * math.log(0.25) + 32 * math.log(2 * math.pi)
    assert np.allclose(errors, expected, rtol=1e-4)


def test_likelihood_notes_say_what_the_numbers_are():
    grey = metric_labels.likelihood_note(TrainConfig(), floor=13.61)
    assert "relative score" in grey and "13.6" in grey and "not a likelihood" in grey
    assert "true likelihoods" in metric_labels.likelihood_note(TrainConfig(binarize=True))
    learned = metric_labels.likelihood_note(TrainConfig(recon="mse"), sigma=0.1134)
    assert "learned" in learned and "0.113" in learned and "no bits/dim" in learned
    assert "fixed" in metric_labels.likelihood_label(TrainConfig(recon="mse", sigma=0.5), 0.5)


def test_the_reconstruction_row_says_bce_score_for_grey_pixels():
    grey = {"recon_nats": 20.0, "latent_dim": 2, "likelihood_kind": "bce_grey"}
    gauss = {"recon_nats": -80.0, "latent_dim": 2, "likelihood_kind": "gaussian"}
    assert metric_labels.comparison_rows({"A": grey})[0]["metric"] == metric_labels.BCE_SCORE_LABEL
    assert (
        metric_labels.comparison_rows({"A": grey, "B": gauss})[0]["metric"]
        == metric_labels.MIXED_RECON_LABEL
    )
    assert (
        metric_labels.comparison_rows({"B": gauss})[0]["metric"]
        == metric_labels.METRIC_LABELS["recon_nats"]
    )
