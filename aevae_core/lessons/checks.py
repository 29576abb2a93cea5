"""The lessons' measured effects: one pure function per claim, computed from trained runs.

Each lesson of ``experiments.LESSONS`` makes one claim. The page a lesson opens shows the
``Effect`` computed here, and tests/core/test_lessons.py trains the lesson's runs and
asserts ``Effect.holds`` with the same functions, so the text on screen and the test cannot
drift apart.

    runs = [Trained(config, model, history), ...]  # in the order of lesson.configs
    effect = measure("beta", runs)
    effect.claim, effect.rows, effect.values, effect.holds
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from aevae_core.config import TrainConfig
from aevae_core.explore import analysis, reports
from aevae_core.lessons.experiments import (
    ANOMALY_KINDS,
    DENOISE_NOISE,
    n_pixels_of,
    normalised_beta,
)
from aevae_core.model.networks import Autoencoder

PRIOR_SAMPLES = 500
MAX_TRAIN_IMAGES = 5000  # nearest-neighbour search set for the prior samples
MAX_VAL_IMAGES = 1000
SGD_GAP_NATS = 5.0  # the optimiser lesson: plain SGD ends at least this far behind


@dataclass(frozen=True)
class Trained:
    """One finished run: its config, its model (eval mode) and its per-epoch records."""

    config: TrainConfig
    model: Autoencoder
    history: list[dict[str, Any]]


@dataclass(frozen=True)
class Effect:
    """What a lesson measured: its claim, one row per run (name, value), whether it holds."""

    claim: str
    rows: tuple[tuple[str, str], ...]
    values: dict[str, float]
    holds: bool


# -- the measurements ------------------------------------------------------------------------
def prior_sample_distance(
    model: Autoencoder, x_train: np.ndarray, n: int = PRIOR_SAMPLES, seed: int = 0
) -> float:
    """Median Euclidean distance (pixels in [0, 1]) from images decoded from z ~ N(0, I) to
    their nearest training image: large when the prior's samples land in holes of the code
    space, where the decoder makes images unlike any it was trained on."""
    samples = analysis.prior_samples(model, n, 1.0, seed).reshape(n, -1).astype(np.float64)
    train = np.asarray(x_train, np.float64).reshape(len(x_train), -1)
    d2 = (samples**2).sum(1)[:, None] + (train**2).sum(1)[None, :] - 2.0 * samples @ train.T
    return float(np.median(np.sqrt(np.maximum(d2.min(1), 0.0))))


def denoising_mse(model: Autoencoder, x_clean: np.ndarray, noise: float, seed: int = 0) -> float:
    """MSE per pixel between the reconstruction of Gaussian-corrupted images (std ``noise``,
    clamped to [0, 1]) and the clean images."""
    noisy = reports.corrupt_images(x_clean, noise, "gaussian", seed=seed)
    return float(np.mean((analysis.reconstruct(model, noisy) - np.asarray(x_clean)) ** 2))


def ood_corruption(x: np.ndarray, kind: str) -> np.ndarray:
    """The Reconstructions page's out-of-distribution images made from validation images:
    ``noisy`` (Gaussian, std 0.5), ``masked`` (half the pixels set to 0), ``inverted``
    (1 - x) or ``shuffled`` (each image's pixels permuted)."""
    x = np.asarray(x, np.float32)
    if kind == "noisy":
        return reports.corrupt_images(x, 0.5, "gaussian", seed=1)
    if kind == "masked":
        return reports.corrupt_images(x, 0.5, "mask", seed=1)
    if kind == "inverted":
        return 1.0 - x
    if kind == "shuffled":
        flat = x.reshape(len(x), -1).copy()
        rng = np.random.default_rng(0)
        for row in flat:
            rng.shuffle(row)
        return flat.reshape(x.shape)
    raise ValueError(f"kind must be noisy, masked, inverted or shuffled, got {kind!r}")


def anomaly_auc(model: Autoencoder, config: TrainConfig, x_val: np.ndarray, kind: str) -> float:
    """ROC AUC of the reconstruction error (the run's -log p(x|z)) separating validation
    images from their ``kind`` corruption; 1 = perfect, 0.5 = chance."""
    scores_in = analysis.reconstruction_errors(model, x_val, config.recon)
    scores_out = analysis.reconstruction_errors(model, ood_corruption(x_val, kind), config.recon)
    return float(reports.anomaly_report(scores_in, scores_out, 0.0)["roc_auc"])


def _last(run: Trained, key: str) -> float:
    return float(run.history[-1][key])


def _val(run: Trained) -> np.ndarray:
    return analysis.load_split(run.config, "val", MAX_VAL_IMAGES)[0]


def _name(run: Trained) -> str:
    c = run.config
    if c.model == "vae":
        return f"VAE β={c.beta:g}" if c.beta != 1 else "VAE"
    return {"ae": "AE", "dae": "Denoising AE"}[c.model]


# -- one function per lesson (runs in the order of lesson.configs) ----------------------------
def holes(runs: Sequence[Trained]) -> Effect:
    ae, vae = runs
    x_train = analysis.load_split(ae.config, "train", MAX_TRAIN_IMAGES)[0]
    values = {_name(r): prior_sample_distance(r.model, x_train) for r in (ae, vae)}
    rows = tuple((k, f"{v:.2f} from the nearest training image") for k, v in values.items())
    return Effect(
        "The AE's samples from N(0, I) lie farther from the training images than the VAE's "
        "(median Euclidean distance of 500 samples to their nearest training image).",
        rows,
        values,
        values["AE"] > values["VAE"],
    )


def _decreasing(values: Sequence[float]) -> bool:
    return all(a > b for a, b in zip(values, values[1:], strict=False))


def beta(runs: Sequence[Trained]) -> Effect:
    """values: "β=…" -> KL (nats/image), "β=… recon" -> reconstruction (nats/image)."""
    values, rows, collapsed, kls, recons = {}, [], [], [], []
    for r in sorted(runs, key=lambda r: r.config.beta):
        c, kl, active = r.config, _last(r, "val_kl"), int(_last(r, "active_units"))
        norm = normalised_beta(c.beta, c.latent_dim, n_pixels_of(c.dataset) or 1)
        name, recon = f"β={c.beta:g}", _last(r, "val_recon")
        values[name], values[f"{name} recon"] = kl, recon
        kls.append(kl)
        recons.append(recon)
        rows.append(
            (
                f"{name} (normalised {norm:.3g})",
                f"KL {kl:.2f} nats, reconstruction {recon:.2f} nats, {active} active units",
            )
        )
        collapsed.append(analysis.posterior_collapsed(r.history[-1]["val_kl_per_dim"], active))
    return Effect(
        "As β rises the KL falls and the reconstruction error rises, and no run collapses "
        "(KL ≥ 0.1 nats, ≥ 1 active unit).",
        tuple(rows),
        values,
        _decreasing(kls) and _decreasing(recons[::-1]) and not any(collapsed),
    )


def reconstruction_spread(model: Autoencoder, x: np.ndarray) -> float:
    """How much the reconstructions differ between images: the std over images of each
    pixel of decode(mu), averaged over pixels. About 0 when every image decodes the same."""
    return float(analysis.reconstruct(model, x).std(0).mean())


def collapse(runs: Sequence[Trained]) -> Effect:
    """values: "<run> active units", "<run> spread" (see ``reconstruction_spread``)."""
    high, partner = runs
    x = _val(high)
    values, rows = {}, []
    for r in runs:
        active, spread = int(_last(r, "active_units")), reconstruction_spread(r.model, x)
        values[f"{_name(r)} active units"], values[f"{_name(r)} spread"] = active, spread
        rows.append(
            (
                _name(r),
                f"KL {_last(r, 'val_kl'):.3f} nats, {active} active units, reconstructions "
                f"differ by {spread:.3f} per pixel (std over images)",
            )
        )
    return Effect(
        f"With β = {high.config.beta:g} no unit stays active, the KL is below 0.1 nats and "
        "every image decodes to nearly the same picture; β = 1 keeps active units.",
        tuple(rows),
        values,
        int(_last(high, "active_units")) == 0
        and _last(high, "val_kl") < analysis.COLLAPSE_KL_NATS
        and int(_last(partner, "active_units")) > 0
        and values[f"{_name(high)} spread"] < 0.2 * values[f"{_name(partner)} spread"],
    )


def denoising(runs: Sequence[Trained]) -> Effect:
    dae, ae = runs
    x = _val(dae)
    values = {_name(r): denoising_mse(r.model, x, DENOISE_NOISE) for r in (dae, ae)}
    noisy = float(np.mean((reports.corrupt_images(x, DENOISE_NOISE, "gaussian") - x) ** 2))
    rows = tuple((k, f"MSE {v:.4f} to the clean images") for k, v in values.items())
    return Effect(
        f"At noise {DENOISE_NOISE:g} (the noisy inputs themselves: MSE {noisy:.4f}) the "
        "denoising AE's reconstructions are closer to the clean validation images than the "
        "plain AE's.",
        rows,
        values,
        values["Denoising AE"] < values["AE"],
    )


def anomaly(runs: Sequence[Trained]) -> Effect:
    (run,) = runs
    x = _val(run)
    values = {k: anomaly_auc(run.model, run.config, x, k) for k in ANOMALY_KINDS}
    rows = tuple((k, f"ROC AUC {v:.3f}") for k, v in values.items())
    return Effect(
        "Reconstruction error separates validation images from each kind of "
        "out-of-distribution image with a ROC AUC of at least 0.9.",
        rows,
        values,
        all(v >= 0.9 for v in values.values()),
    )


def compression(runs: Sequence[Trained]) -> Effect:
    ordered = sorted(runs, key=lambda r: r.config.latent_dim)
    values = {f"z={r.config.latent_dim}": _last(r, "val_mse") for r in ordered}
    rows = tuple((k, f"MSE {v:.4f} per pixel") for k, v in values.items())
    return Effect(
        "The reconstruction error (validation MSE per pixel) falls as the code grows.",
        rows,
        values,
        _decreasing(list(values.values())),
    )


def optimizers(runs: Sequence[Trained]) -> Effect:
    from aevae_core.config import OPTIMIZER_TITLES

    names = [f"{OPTIMIZER_TITLES[r.config.optimizer]} (lr {r.config.lr:g})" for r in runs]
    final = {n: _last(r, "val_loss") for n, r in zip(names, runs, strict=True)}
    first = {n: float(r.history[0]["val_loss"]) for n, r in zip(names, runs, strict=True)}
    sgd = next(n for n, r in zip(names, runs, strict=True) if r.config.optimizer == "sgd")
    ada = next(n for n, r in zip(names, runs, strict=True) if r.config.optimizer == "adagrad")
    rows = tuple(
        (n, f"val loss {first[n]:.1f} after epoch 1, {final[n]:.1f} at the end") for n in names
    )
    holds = min(first, key=first.get) == ada and all(
        final[sgd] - final[n] > SGD_GAP_NATS for n in names if n != sgd
    )
    return Effect(
        f"Adagrad has the lowest validation loss after epoch 1; at the end plain SGD is more "
        f"than {SGD_GAP_NATS:g} nats/image behind each of the other three.",
        rows,
        final,
        holds,
    )


CHECKS: dict[str, Callable[[Sequence[Trained]], Effect]] = {
    "ae_vs_vae": holes,
    "beta": beta,
    "collapse": collapse,
    "denoising": denoising,
    "anomaly": anomaly,
    "compression": compression,
    "optimizers": optimizers,
}


def measure(lesson_key: str, runs: Sequence[Trained]) -> Effect:
    """The lesson's effect from its trained runs, given in the order of ``lesson.configs``."""
    if lesson_key not in CHECKS:
        raise ValueError(f"lesson must be one of {', '.join(CHECKS)}, got {lesson_key!r}")
    return CHECKS[lesson_key](runs)
