"""Every lesson is one click and its claim holds: each slow test trains exactly the lesson's
configs through ``fit`` and asserts its claim with the numbers the page shows
(``checks.measure``). The fast tests check the lessons' shape and that each check
can fail.

Measured on a loaded 2-core CPU, seeds 0-2 of the same configs (the lessons use seed 0):
holes AE 1.66-1.72 vs VAE 1.21-1.22 (median distance of prior samples to the nearest
training image); beta KL 7.0-7.7 / 2.5-2.7 nats at beta 0.25 / 1, none collapsed; collapse
(beta 8) KL 0.0002 nats, 0 active units, reconstructions' spread 0.00007 (0.14 at beta 1);
denoising MSE 0.039-0.042 (DAE) vs 0.057-0.063 (AE) at noise 0.5; anomaly ROC AUC 1.0 on
noisy, inverted and shuffled images (masked: 0.89-0.93, left out); compression MSE
0.033-0.038 / 0.022-0.023 / 0.014-0.015 at z = 2 / 4 / 8; optimisers after 10 epochs SGD
25.9-26.7 nats vs 17.9-19.0 for the others. The whole file: about 1 minute of CPU.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from aevae_core.config import TrainConfig, validate
from aevae_core.data.datasets import load_dataset
from aevae_core.engine.fit import fit
from aevae_core.lessons.checks import CHECKS, Trained, measure
from aevae_core.lessons.experiments import (
    BETA_LESSON,
    LESSONS,
    LESSONS_BY_KEY,
    beta_vae_default,
    lesson_params,
    normalised_beta,
)

REPO = Path(__file__).resolve().parents[2]
TRAIN_FORM_DEFAULTS = TrainConfig(batch_size=32, epochs=20)  # pages/ui/train_form.DEFAULTS


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """These 8x8-digit MLPs gain nothing from a second thread, and on a loaded machine
    (several agents, 2 cores) torch's spinning OpenMP threads made one run 15x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@functools.cache
def trained(config: TrainConfig) -> Trained:
    """Train one config in-process (cached: the collapse and beta lessons share a run)."""
    data = load_dataset(
        config.dataset, seed=config.seed, val_fraction=config.val_fraction,
        path=config.data_path, max_samples=config.max_samples,
    )  # fmt: skip
    result = fit(config, data)
    assert result.status == "completed", result.reason
    model = result.model.cpu().eval().requires_grad_(False)
    return Trained(config, model, result.history)


def effect_of(key: str):
    lesson = LESSONS_BY_KEY[key]
    return measure(key, [trained(c) for c in lesson.configs])


# -- fast: the lessons' shape --------------------------------------------------------------
@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.key)
def test_every_lesson_has_configs_a_page_a_check_and_a_look_for(lesson):
    assert lesson.title and lesson.text and lesson.look_for
    assert (REPO / lesson.page).is_file(), lesson.page
    assert lesson.configs and 0 <= lesson.focus < len(lesson.configs)
    for config in lesson.configs:
        validate(config)
    assert lesson.key in CHECKS
    params = lesson_params(lesson, [f"r{i}" for i in range(len(lesson.configs))])
    assert params["lesson"] == lesson.key and params["run"] == f"r{lesson.focus}"
    assert params["runs"].split(",") == [f"r{i}" for i in range(len(lesson.configs))]


def test_lessons_cover_the_issue_and_compare_with_a_partner():
    keys = {lesson.key for lesson in LESSONS}
    assert keys >= {"ae_vs_vae", "beta", "collapse", "denoising", "anomaly", "compression"}
    assert "optimizers" in keys
    denoise = LESSONS_BY_KEY["denoising"].configs
    assert [c.model for c in denoise] == ["dae", "ae"]
    assert denoise[0].replace(model="ae", noise=0.0) == denoise[1], "same architecture, seed"
    opt = LESSONS_BY_KEY["optimizers"].configs
    assert [c.optimizer for c in opt] == ["sgd", "momentum", "adagrad", "adam"]
    assert len({c.replace(optimizer="adam", lr=1e-3) for c in opt}) == 1, "only the optimiser"


def test_normalised_beta_follows_higgins():
    assert normalised_beta(4.0, 8, 64) == 0.5
    assert normalised_beta(4.0, 10, 4096) == pytest.approx(0.009765625)
    assert beta_vae_default("digits") < beta_vae_default("mnist")


def _fake(beta: float = 1.0, kl: float = 1.0, active: int = 2, recon: float = 0.0) -> Trained:
    config = TrainConfig(model="vae", beta=beta, latent_dim=2)
    record = {"val_kl": kl, "active_units": active, "val_kl_per_dim": [kl / 2, kl / 2]}
    record["val_recon"] = recon or 20 + beta
    return Trained(config, None, [record])  # type: ignore[arg-type]


def test_beta_check_fails_when_kl_does_not_fall_or_a_run_collapses():
    assert measure("beta", [_fake(0.25, 7.0), _fake(1.0, 2.5)]).holds
    assert not measure("beta", [_fake(0.25, 2.0), _fake(1.0, 2.5)]).holds
    assert not measure("beta", [_fake(0.25, 7.0), _fake(1.0, 0.05, 0)]).holds
    assert not measure("beta", [_fake(0.25, 7.0, recon=22.0), _fake(1.0, 2.5, recon=21.0)]).holds


def test_compression_check_can_fail():
    runs = [
        Trained(TrainConfig(model="ae", latent_dim=z), None, [{"val_mse": m}])  # type: ignore[arg-type]
        for z, m in ((2, 0.03), (4, 0.02), (8, 0.025))
    ]
    assert not measure("compression", runs).holds


# -- slow: each lesson's claim, trained ----------------------------------------------------
@pytest.mark.slow
def test_holes_ae_prior_samples_lie_farther_from_the_data():
    effect = effect_of("ae_vs_vae")
    ae, vae = effect.values["AE"], effect.values["VAE"]
    assert effect.holds and ae > vae + 0.2, effect.rows  # measured 1.66 vs 1.21


@pytest.mark.slow
def test_beta_kl_falls_and_no_run_collapses():
    effect = effect_of("beta")
    kls = [effect.values[f"β={b:g}"] for b in sorted(BETA_LESSON)]
    assert all(a > b for a, b in zip(kls, kls[1:], strict=False)), effect.rows
    assert min(kls) > 1.0, effect.rows  # measured 2.5-2.7 nats at beta 1
    recons = [effect.values[f"β={b:g} recon"] for b in sorted(BETA_LESSON)]
    assert all(b - a > 0.5 for a, b in zip(recons, recons[1:], strict=False)), effect.rows
    runs = [trained(c) for c in LESSONS_BY_KEY["beta"].configs]
    assert all(r.history[-1]["active_units"] >= 3 for r in runs), effect.rows
    assert effect.holds


@pytest.mark.slow
def test_collapse_has_no_active_unit():
    effect = effect_of("collapse")
    high, partner = (trained(c).history[-1] for c in LESSONS_BY_KEY["collapse"].configs)
    assert high["active_units"] == 0 and high["val_kl"] < 0.01, effect.rows
    assert partner["active_units"] >= 3, effect.rows
    # every image decodes to the same picture: measured 0.00007 vs 0.14 per pixel for beta 1
    assert effect.values["VAE β=8 spread"] < 0.01 * effect.values["VAE spread"], effect.rows
    assert effect.holds


@pytest.mark.slow
def test_denoising_ae_beats_the_plain_ae_on_noisy_inputs():
    effect = effect_of("denoising")
    dae, ae = effect.values["Denoising AE"], effect.values["AE"]
    assert effect.holds and dae < 0.85 * ae, effect.rows  # measured 0.040 vs 0.057


@pytest.mark.slow
def test_anomaly_roc_auc_is_at_least_0_9_on_every_kind():
    effect = effect_of("anomaly")
    assert len(effect.values) == 3 and min(effect.values.values()) >= 0.9, effect.rows
    assert effect.holds


@pytest.mark.slow
def test_compression_mse_falls_with_code_size():
    effect = effect_of("compression")
    mses = list(effect.values.values())
    assert all(a > 1.2 * b for a, b in zip(mses, mses[1:], strict=False)), effect.rows
    assert effect.holds


@pytest.mark.slow
def test_optimizers_sgd_is_slowest_and_adagrad_leads_early():
    effect = effect_of("optimizers")
    sgd = next(v for k, v in effect.values.items() if k.startswith("SGD (lr"))
    others = [v for k, v in effect.values.items() if not k.startswith("SGD (lr")]
    assert len(others) == 3 and all(sgd - v > 5.0 for v in others), effect.rows
    assert effect.holds


@pytest.mark.slow
def test_train_page_beta_vae_default_does_not_collapse_on_digits():
    config = TRAIN_FORM_DEFAULTS.replace(dataset="digits", beta=beta_vae_default("digits"))
    assert config.model == "vae" and config.beta > 1, "a beta-VAE, not a plain VAE"
    last = trained(config).history[-1]
    assert last["val_kl"] > 0.5 and last["active_units"] == config.latent_dim, last
