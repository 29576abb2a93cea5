"""Pages say what their likelihood numbers are: a BCE score on grey pixels, a Gaussian with
its sigma, the beta of the loss curves (the −ELBO only at beta = 1, the warm-up's beta)."""

from __future__ import annotations

import pytest
from app_helpers import make_completed_run, no_exception, open_page, texts

RECON = "pages/reconstructions.py"
TRAIN = "pages/train.py"


@pytest.fixture(scope="module")
def gaussian_run(app_env) -> str:
    return make_completed_run(app_env.store, recon="mse", kl_warmup=2)


def test_grey_bce_errors_are_called_a_relative_score(app_env, completed_run):
    at = open_page(RECON, {"run": completed_run})
    no_exception(at)
    captions = texts(at.caption)
    assert "Error = the BCE score of each image (relative, not a likelihood)" in captions
    assert "nats/image here" in captions  # the floor of these images
    live = open_page(TRAIN, {"run": completed_run})
    no_exception(live)
    assert "Total loss = −ELBO: reconstruction + KL, β = 1." in texts(live.caption)


def test_gaussian_errors_show_the_learned_sigma_and_warmup_curves_their_beta(app_env, gaussian_run):
    sigma = app_env.store.metrics(gaussian_run, "epoch")[-1]["val_sigma"]
    at = open_page(RECON, {"run": gaussian_run})
    no_exception(at)
    captions = texts(at.caption)
    assert "under the Gaussian decoder" in captions
    assert f"Gaussian, σ = {sigma:.3g} (learned)" in captions and "relative" not in captions
    live = open_page(TRAIN, {"run": gaussian_run})
    no_exception(live)
    assert "KL warm-up: β grows from 0 (now 1)" in texts(live.caption)
