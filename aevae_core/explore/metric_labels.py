"""What the comparison metrics are called and how they are shown: labels, units, the
decoder's likelihood in words, table cells and rows. No torch: pages that only show stored
numbers (the Train page's live panel, Compare) render before torch is loaded.

Units: every likelihood term is in nats per image (sum over pixels, mean over images, as
in ``model/losses.py``); ``bits_per_dim`` is nats / (pixels * ln 2), shown only where the
likelihood is one of discrete data (binarised pixels); MSE is per pixel on [0, 1].
"""

from __future__ import annotations

import math
from typing import Any

from aevae_core.config import TrainConfig

# Table order, label and unit of every metric ``run_metrics`` returns.
METRIC_LABELS: dict[str, str] = {
    "likelihood": "Decoder",
    "recon_nats": "Reconstruction −log p(x|z)",
    "bce_floor": "BCE of a perfect reconstruction (floor)",
    "sigma": "Decoder σ (Gaussian std)",
    "mse_per_pixel": "MSE of the reconstruction",
    "kl": "KL(q(z|x) ‖ p(z))",
    "elbo": "ELBO (β = 1)",
    "iw_nll": "Importance-weighted NLL",
    "bits_per_dim": "Bits per dimension (binarised pixels)",
    "active_units": "Active units",
    "knn_accuracy": "kNN accuracy on codes (k = 5)",
    "mig": "MIG (disentanglement)",
}
METRIC_UNITS: dict[str, str] = {
    "likelihood": "likelihood p(x|z)",
    "recon_nats": "nats/image",
    "bce_floor": "nats/image",
    "sigma": "pixel values in [0, 1]",
    "mse_per_pixel": "per pixel, [0, 1] scale",
    "kl": "nats/image",
    "elbo": "nats/image (higher is better)",
    "iw_nll": "nats/image (lower is better)",
    "bits_per_dim": "bits/dim",
    "active_units": "latent dims",
    "knn_accuracy": "fraction correct",
    "mig": "0 to 1 (higher is better)",
}
# The reconstruction row's label when runs on grey pixels with BCE are in the table: for
# them the number is a cross-entropy with a floor above 0, not -log of a probability.
BCE_SCORE_LABEL = "BCE score (relative: compare runs on the same data, not a likelihood)"
MIXED_RECON_LABEL = "Reconstruction −log p(x|z), or BCE score on grey pixels"


def likelihood_kind(config: TrainConfig) -> str:
    """ "bernoulli" (binarised pixels: a true likelihood), "bce_grey" (a relative score) or
    "gaussian" (a density with its normaliser)."""
    if config.recon == "mse":
        return "gaussian"
    return "bernoulli" if config.binarize else "bce_grey"


def likelihood_label(config: TrainConfig, sigma: float | None = None) -> str:
    """A table cell naming the decoder's likelihood, e.g. "Gaussian, σ = 0.11 (learned)"."""
    kind = likelihood_kind(config)
    if kind == "bernoulli":
        return "Bernoulli, binarised pixels"
    if kind == "bce_grey":
        return "BCE on grey pixels"
    how = "learned" if config.sigma == 0 else "fixed"
    return f"Gaussian, σ = {sigma:.3g} ({how})" if sigma is not None else f"Gaussian, {how} σ"


def likelihood_note(
    config: TrainConfig, sigma: float | None = None, floor: float | None = None
) -> str:
    """One line saying what a run's reconstruction numbers are, for the pages.

    ``sigma``: the trained model's (``model.sigma``); ``floor``: the mean BCE of a perfect
    reconstruction of the images shown (``losses.bernoulli_floor_per_image``).
    """
    kind = likelihood_kind(config)
    if kind == "bernoulli":
        return (
            "Bernoulli on binarised pixels: −log p(x|z), the ELBO and the NLL are true "
            "likelihoods in nats, comparable with published binarised-MNIST numbers."
        )
    if kind == "bce_grey":
        where = f" ({floor:.1f} nats/image here)" if floor is not None else ""
        return (
            "BCE on grey pixels: a relative score in nats, not a likelihood; compare runs on "
            f"the same data. A perfect reconstruction still costs sum H(x_i){where}."
        )
    return (
        f"{likelihood_label(config, sigma)}: −log p(x|z) = SSE/(2σ²) + D·log σ + (D/2)·log 2π, "
        "a density in nats (it can be negative); no bits/dim for a density."
    )


def format_metric(key: str, value: Any) -> str:
    """A table cell: "–" for None or NaN, integers plain, fractions and small numbers to 3-4
    significant digits."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, str):
        return value
    if key == "sigma":
        return f"{value:.3g}"
    if key == "active_units":
        return str(int(value))
    if key == "mse_per_pixel":
        return f"{value:.5f}"
    if key in ("knn_accuracy", "mig", "bits_per_dim"):
        return f"{value:.3f}"
    return f"{value:.2f}"


def comparison_rows(metrics_by_run: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """Rows for the Compare page's table: metric, unit, then one formatted column per run.

    A metric that is None for every run (e.g. MIG without factors) is left out. The
    reconstruction row says "BCE score" when runs on grey pixels with BCE are in the table.
    """
    rows = []
    kinds = {m.get("likelihood_kind") for m in metrics_by_run.values()}
    for key, label in METRIC_LABELS.items():
        if key == "recon_nats" and "bce_grey" in kinds:
            label = BCE_SCORE_LABEL if kinds == {"bce_grey"} else MIXED_RECON_LABEL
        values = {name: m.get(key) for name, m in metrics_by_run.items()}
        if all(v is None for v in values.values()):
            continue
        row = {"metric": label, "unit": METRIC_UNITS[key]}
        if key == "active_units":
            values = {
                name: None if v is None else f"{v} of {metrics_by_run[name]['latent_dim']}"
                for name, v in values.items()
            }
            row.update({name: v or "–" for name, v in values.items()})
        else:
            row.update({name: format_metric(key, v) for name, v in values.items()})
        rows.append(row)
    return rows
