"""A run's per-epoch snapshot: arrays a page can draw without loading the model.

A fixed batch of validation images with their reconstructions, and the latent means of a
fixed validation sample of up to ``SNAPSHOT_CODES`` with their labels (and factors), the
same images at every epoch (``fixed_indices``). Written by ``runner.StoreRecorder``.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from aevae_core.data.datasets import Dataset
from aevae_core.model.networks import Autoencoder

SNAPSHOT_IMAGES = 32
SNAPSHOT_CODES = 2000


def fixed_indices(n: int, k: int, seed: int) -> np.ndarray:
    """The same k validation indices at every epoch (sorted, drawn from the seed)."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.permutation(n)[: min(k, n)])


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    return (images.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


@torch.no_grad()
def make_snapshot(model: Autoencoder, data: Dataset, seed: int) -> dict[str, np.ndarray]:
    """Arrays a page can draw without loading the model."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    img_idx = fixed_indices(len(data.val_x), SNAPSHOT_IMAGES, seed)
    images = data.val_x[torch.from_numpy(img_idx)].to(device)
    mu, _ = model.encode(images)
    recons = model.decode_images(mu)
    code_idx = fixed_indices(len(data.val_x), SNAPSHOT_CODES, seed + 1)
    codes = torch.cat(
        [
            model.encode(data.val_x[torch.from_numpy(chunk)].to(device))[0].float().cpu()
            for chunk in np.array_split(code_idx, max(1, math.ceil(len(code_idx) / 1024)))
        ]
    )
    model.train(was_training)
    snap = {
        "image_idx": img_idx,
        "images": _to_uint8(images),
        "recons": _to_uint8(recons),
        "code_idx": code_idx,
        "codes": codes.numpy(),
    }
    if data.val_y is not None:
        snap["labels"] = data.val_y[torch.from_numpy(code_idx)].numpy()
    if data.val_factors is not None:
        snap["factors"] = data.val_factors[torch.from_numpy(code_idx)].numpy()
    return snap
