"""Cached computations of the Reconstructions page and its out-of-distribution sources.

Every tab of a page runs on each rerun, so a slider in one tab used to redo the work of all
four (reconstruct, corrupt, score 500 OOD images, build six figures: 0.2-0.5 s a move on the
project machine). Each tab's results are now cached by run, epoch and the tab's own settings:
a move recomputes only what that value changes (bench/bench_sliders.py). Figures are cached
with ``st.cache_resource`` (shared, not copied: st.plotly_chart only reads them; a pickled
copy would be validated again by plotly, which costs as much as building it)."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from aevae_core.config import TrainConfig
from aevae_core.data.registry import same_shape
from aevae_core.explore import analysis, reports
from aevae_core.explore.metric_labels import likelihood_kind, likelihood_note
from aevae_core.lessons.checks import ood_corruption
from aevae_core.lessons.experiments import DENOISE_NOISE
from aevae_core.model.losses import bernoulli_floor_per_image
from aevae_core.plots.charts import error_bars, error_histogram, roc_figure
from aevae_core.plots.figures import column_chunks, mosaic_figure
from pages.ui.explore import model
from pages.ui.explore import split_data as split

CORRUPTIONS = {
    "noisy": "validation images + strong Gaussian noise",
    "masked": "validation images with half the pixels masked",
    "inverted": "inverted validation images (1 − x)",
    "shuffled": "validation images with their pixels shuffled",
}
N_OOD = 500
UNIT = "nats / image"


@st.cache_data(show_spinner="Reconstructing…", max_entries=32)
def recon_with_errors(run_id: str, epoch: int, which: str, n: int):
    """(reconstructions, error in nats per image, MSE per pixel per image), cached per epoch."""
    m, config, _ = model(run_id, epoch)
    return analysis.reconstruct_with_errors(m, split(run_id, which, n)["x"], config.recon)


def error_meaning(config: TrainConfig, sigma: float | None, x: np.ndarray) -> tuple[str, str]:
    """(what "error" is, one line on its likelihood) for reconstructions of images ``x``.

    Grey pixels scored by BCE give a relative score with a floor (the mean over ``x`` of
    sum_i H(x_i)); a run trained on binarised pixels scores a grey image by the expected
    -log p of its random binarisation (BCE is linear in the 0/1 target)."""
    kind = likelihood_kind(config)
    floor = None
    if kind == "bce_grey":
        floor = float(bernoulli_floor_per_image(torch.tensor(np.asarray(x))).mean())
    what = {
        "bce_grey": "the BCE score of each image (relative, not a likelihood)",
        "bernoulli": "−log p(x|z = code) of each image, averaged over its binarisations",
        "gaussian": "−log p(x|z = code) of each image under the Gaussian decoder",
    }[kind]
    return what, likelihood_note(config, sigma, floor)


def ood_sources(config: TrainConfig) -> list[str]:
    others = [f"dataset:{name}" for name in same_shape(config.dataset)]
    return list(CORRUPTIONS) + others


def ood_label(source: str) -> str:
    return CORRUPTIONS.get(source) or f"images from {source.split(':', 1)[1]}"


@st.cache_data(show_spinner="Preparing out-of-distribution images…", max_entries=16)
def ood_images(config: TrainConfig, source: str) -> np.ndarray:
    """Images the model never saw the like of; ValueError with a message if unavailable."""
    if source.startswith("dataset:"):
        from aevae_core.data.datasets import load_dataset
        from aevae_core.data.registry import DatasetError

        name = source.split(":", 1)[1]
        try:
            data = load_dataset(name, max_samples=N_OOD * 2, download=False)
        except DatasetError as exc:
            raise ValueError(f"{name} is not available on this server: {exc}") from None
        return data.val_x[:N_OOD].numpy()
    # The same images the anomaly lesson's measured ROC AUC uses (lessons/checks.py).
    return ood_corruption(analysis.load_split(config, "val", N_OOD)[0], source)


@st.cache_resource(show_spinner=False, max_entries=64)
def recon_view(run_id: str, epoch: int, which: str, n: int, worst: bool):
    """(mosaic figures of <= 12 columns, the error bars, the images' indices) of the
    Reconstructions tab."""
    data = split(run_id, which, 1000)
    recons, errors, _ = recon_with_errors(run_id, epoch, which, 1000)
    order = np.argsort(-errors)[:n] if worst else np.arange(min(n, len(errors)))
    grid = np.stack([data["x"][order], recons[order]])
    mosaics = [
        mosaic_figure(grid[:, cols], ["original", "reconstruction"], [str(i) for i in order[cols]])
        for cols in column_chunks(len(order))  # readable tiles: <= 12 a row
    ]
    return mosaics, error_bars(errors[order], indices=order, unit=UNIT), order


def denoise_default(config: TrainConfig) -> float:
    """The noise slider's start: the run's own training noise (a DAE), else the level the
    denoising lesson measures at (experiments.DENOISE_NOISE), so page and banner agree."""
    level = config.effective_noise if config.effective_noise > 0 else DENOISE_NOISE
    return min(0.9, round(round(level / 0.05) * 0.05, 2))  # on the slider's 0.05 grid


@st.cache_resource(show_spinner=False, max_entries=64)
def denoise_view(run_id: str, epoch: int, noise_type: str, level: float):
    """(noisy | reconstruction | clean mosaic, MSE of the output, MSE of the noisy input) for
    12 validation images (corruption seed 0, as the lesson measures)."""
    m, _, _ = model(run_id, epoch)
    clean = split(run_id, "val", 1000)["x"][:12]
    noisy = reports.corrupt_images(clean, level, noise_type, seed=0)
    out = analysis.reconstruct(m, noisy)
    fig = mosaic_figure(
        np.stack([noisy, out, clean]), ["noisy input", "reconstruction", "clean original"]
    )
    return fig, float(((out - clean) ** 2).mean()), float(((noisy - clean) ** 2).mean())


@st.cache_data(show_spinner="Scoring the images…", max_entries=32)
def anomaly_scores(run_id: str, epoch: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(validation scores, out-of-distribution scores); ValueError if the source is missing."""
    m, config, _ = model(run_id, epoch)
    scores_out = analysis.reconstruction_errors(m, ood_images(config, source), config.recon)
    return recon_with_errors(run_id, epoch, "val", 1000)[1], scores_out


@st.cache_resource(show_spinner=False, max_entries=64)
def anomaly_view(run_id: str, epoch: int, source: str, threshold: float):
    """(anomaly report, histogram, ROC figure) at this threshold."""
    scores_in, scores_out = anomaly_scores(run_id, epoch, source)
    report = reports.anomaly_report(scores_in, scores_out, threshold)
    hist = error_histogram(scores_in, scores_out, threshold, unit=UNIT)
    point = (report["false_positive_rate"], report["recall"])
    roc = roc_figure(report["fpr"], report["tpr"], report["roc_auc"], point=point)
    return report, hist, roc
