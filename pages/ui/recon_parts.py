"""Cached computations of the Reconstructions page and its out-of-distribution sources."""

from __future__ import annotations

import numpy as np
import streamlit as st
import torch

from aevae_core import analysis
from aevae_core.config import TrainConfig
from aevae_core.lesson_checks import ood_corruption
from aevae_core.losses import bernoulli_floor_per_image
from aevae_core.metrics import likelihood_kind, likelihood_note
from pages.ui.explore import model
from pages.ui.explore import split_data as split

CORRUPTIONS = {
    "noisy": "validation images + strong Gaussian noise",
    "masked": "validation images with half the pixels masked",
    "inverted": "inverted validation images (1 − x)",
    "shuffled": "validation images with their pixels shuffled",
}
SAME_SHAPE = {"mnist": "28", "fashion-mnist": "28", "kmnist": "28"}
N_OOD = 500


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
    others = [
        f"dataset:{name}"
        for name, group in SAME_SHAPE.items()
        if name != config.dataset and SAME_SHAPE.get(config.dataset) == group
    ]
    return list(CORRUPTIONS) + others


def ood_label(source: str) -> str:
    return CORRUPTIONS.get(source) or f"images from {source.split(':', 1)[1]}"


@st.cache_data(show_spinner="Preparing out-of-distribution images…", max_entries=16)
def ood_images(config: TrainConfig, source: str) -> np.ndarray:
    """Images the model never saw the like of; ValueError with a message if unavailable."""
    if source.startswith("dataset:"):
        from aevae_core.data import DatasetError, load_dataset

        name = source.split(":", 1)[1]
        try:
            data = load_dataset(name, max_samples=N_OOD * 2, download=False)
        except DatasetError as exc:
            raise ValueError(f"{name} is not available on this server: {exc}") from None
        return data.val_x[:N_OOD].numpy()
    # The same images the anomaly lesson's measured ROC AUC uses (lesson_checks).
    return ood_corruption(analysis.load_split(config, "val", N_OOD)[0], source)
