"""Likelihoods that are true: binarised pixels, the Gaussian decoder's sigma (learned or
fixed), old checkpoints, and warm-up records that use one beta."""

from __future__ import annotations

import logging
import math

import pytest
import torch

from aevae_core.config import LEGACY_SIGMA, TrainConfig
from aevae_core.engine import fit as train_module
from aevae_core.engine.evaluate import binarize_fixed, evaluate
from aevae_core.engine.fit import fit
from aevae_core.model.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from aevae_core.model.networks import build_model, count_parameters


def small(**kw) -> TrainConfig:
    base = {"hidden": (32,), "latent_dim": 4, "epochs": 2, "batch_size": 64, "threads": 1}
    base.update(kw)
    return TrainConfig(**base)


def strip(history):
    return [{k: v for k, v in h.items() if k not in ("epoch_time_s", "time")} for h in history]


# -- binarisation ----------------------------------------------------------------------------


def test_fixed_binarisation_is_fixed_and_keeps_the_grey_levels_on_average(digits_data) -> None:
    x = digits_data.val_x
    b = binarize_fixed(x)
    assert set(b.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(b, binarize_fixed(x))  # the same sample every time
    assert torch.equal(binarize_fixed(x[:10]), b[:10])  # a prefix is binarised the same way
    assert torch.equal(binarize_fixed(b), b)  # 0/1 pixels stay as they are
    assert abs(float(b.mean() - x.mean())) < 0.01
    assert (binarize_fixed(x.numpy()) == b.numpy()).all()  # numpy in, numpy out


def test_binarised_evaluation_is_fixed(digits_data) -> None:
    config = small(model="ae", binarize=True)
    model = build_model(config, digits_data.shape)
    a = evaluate(model, digits_data.val_x, config)
    assert a == evaluate(model, digits_data.val_x, config)
    grey = evaluate(model, digits_data.val_x, config.replace(binarize=False))
    assert a["val_recon"] != grey["val_recon"]
    on_bits = evaluate(model, binarize_fixed(digits_data.val_x), config.replace(binarize=False))
    assert on_bits["val_recon"] == pytest.approx(a["val_recon"])


def test_training_binarises_every_step_afresh(digits_data, monkeypatch) -> None:
    calls = []
    real = train_module.binarize_dynamic

    def spy(x):
        out = real(x)
        calls.append((x.clone(), out.clone()))
        return out

    monkeypatch.setattr(train_module, "binarize_dynamic", spy)
    config = small(binarize=True, batch_size=4096, epochs=2)  # one step = all images
    first = fit(config, digits_data)
    (x1, b1), (x2, b2) = calls[:2]
    assert set(b1.unique().tolist()) == {0.0, 1.0}
    assert abs(float(b1.mean() - x1.mean())) < 0.01
    by_image = {bytes(row.numpy()): out for row, out in zip(x1, b1, strict=True)}
    changed = sum(
        not torch.equal(by_image[bytes(r.numpy())], o) for r, o in zip(x2, b2, strict=True)
    )
    assert changed > 0.9 * len(x2)  # the same images, binarised differently in the next step
    again = fit(config, digits_data)  # seeded through torch's RNG: a seeded run reproduces
    assert strip(again.history) == strip(first.history)
    last = first.history[-1]
    assert last["val_bits_per_dim"] == pytest.approx(-last["val_elbo"] / (64 * math.log(2)))


def test_grey_bce_and_autoencoders_report_no_bits_per_dim(digits_data) -> None:
    for config in (small(), small(model="ae", binarize=True), small(recon="mse")):
        model = build_model(config, digits_data.shape)
        assert "val_bits_per_dim" not in evaluate(model, digits_data.val_x, config)


# -- the Gaussian decoder's sigma ------------------------------------------------------------


def test_learned_sigma_converges_to_the_root_mean_squared_error(digits_data) -> None:
    config = small(model="ae", recon="mse", epochs=6, hidden=(64,), lr=3e-3)
    result = fit(config, digits_data)
    model = result.model.eval()
    bce_twin = build_model(config.replace(recon="bce"), (1, 8, 8))
    assert count_parameters(model) == count_parameters(bce_twin)  # sigma is not a weight
    with torch.no_grad():
        x = digits_data.train_x
        rmse = float((model.decode_images(model.encode(x)[0]) - x).square().mean().sqrt())
    assert model.sigma == pytest.approx(rmse, rel=0.1)
    assert result.history[-1]["val_sigma"] == model.sigma
    assert [h["val_sigma"] for h in result.history] == sorted(
        (h["val_sigma"] for h in result.history), reverse=True
    )  # sigma shrinks as reconstructions improve


def test_fixed_sigma_stays_fixed_and_sets_the_likelihood(digits_data) -> None:
    result = fit(small(recon="mse", sigma=0.3, epochs=1), digits_data)
    assert result.model.sigma == pytest.approx(0.3)
    assert result.history[-1]["val_sigma"] == pytest.approx(0.3)
    model = build_model(small(recon="mse", sigma=0.3), digits_data.shape)
    loose = evaluate(model, digits_data.val_x, small(model="ae", recon="mse", sigma=0.3))
    assert math.isfinite(loose["val_recon"])


def test_old_gaussian_checkpoints_load_with_the_sigma_they_were_trained_with(
    tmp_path, digits_data, caplog
) -> None:
    config = small(recon="mse", epochs=1)
    result = fit(config, digits_data)
    path = tmp_path / "old.pt"
    save_checkpoint(path, model=result.model, optimizer=result.optimizer, config=config,
                    epoch=1, history=result.history)  # fmt: skip
    ckpt = load_checkpoint(path)
    del ckpt["model"]["log_sigma"]  # as written before the decoder had a sigma
    with caplog.at_level(logging.INFO, logger="aevae_core.model.checkpoint"):
        model, loaded = model_from_checkpoint(ckpt)
    assert loaded.sigma == pytest.approx(LEGACY_SIGMA) and not model.learns_sigma
    assert model.sigma == pytest.approx(math.sqrt(0.5))
    assert "sqrt(1/2)" in caplog.text
    resumed = fit(config.replace(epochs=2), digits_data, resume=ckpt)  # resumes as trained
    assert resumed.status == "completed" and resumed.model.sigma == pytest.approx(LEGACY_SIGMA)
    bce = small(epochs=1)
    ckpt_bce = {"model": build_model(bce, (1, 8, 8)).state_dict(), "config": bce.to_json(),
                "shape": [1, 8, 8]}  # fmt: skip
    assert model_from_checkpoint(ckpt_bce)[0].sigma is None


# -- KL warm-up ------------------------------------------------------------------------------


def test_warmup_records_use_one_beta_for_train_and_validation(digits_data) -> None:
    result = fit(small(epochs=3, kl_warmup=2, beta=2.0), digits_data)
    assert [h["beta"] for h in result.history] == [1.0, 2.0, 2.0]
    for h in result.history:
        assert h["train_loss"] == pytest.approx(h["train_recon"] + h["beta"] * h["train_kl"])
        assert h["val_loss"] == pytest.approx(h["val_recon"] + h["beta"] * h["val_kl"])
        assert h["val_elbo"] == pytest.approx(-(h["val_recon"] + h["val_kl"]))  # beta = 1
