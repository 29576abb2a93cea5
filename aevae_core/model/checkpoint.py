"""Checkpoints: model + optimizer state + config JSON + epoch + history, saved atomically.

A checkpoint is a plain dict of tensors, numbers, strings and lists, so it loads with
``torch.load(..., weights_only=True)``: loading never runs pickled code from a file.
"""

from __future__ import annotations

import io
import logging
import math
from pathlib import Path
from typing import Any

import torch

from aevae_core.config import LEGACY_SIGMA, TrainConfig
from aevae_core.files import atomic_write_bytes
from aevae_core.model.networks import Autoencoder, build_model

log = logging.getLogger(__name__)


class CheckpointError(ValueError):
    pass


def _finite(state: dict[str, torch.Tensor]) -> bool:
    return all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point())


def save_checkpoint(path: Path, **parts: Any) -> None:
    """Write ``checkpoint_bytes(**parts)`` atomically."""
    atomic_write_bytes(path, checkpoint_bytes(**parts))


def checkpoint_bytes(
    *,
    model: Autoencoder,
    optimizer: torch.optim.Optimizer | None,
    config: TrainConfig,
    epoch: int,
    history: list[dict[str, Any]],
) -> bytes:
    """A checkpoint file's bytes; refuses weights that are not finite (no NaN ever reaches
    a checkpoint). Ray jobs send these bytes to the manager, which writes the file."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if not _finite(state):
        raise CheckpointError("model weights are not finite; checkpoint not written")
    clean_history = [
        {k: v for k, v in rec.items() if not isinstance(v, float) or math.isfinite(v)}
        for rec in history
    ]
    payload = {
        "model": state,
        "optimizer": optimizer.state_dict() if optimizer is not None else {},
        "config": config.to_json(),
        "shape": list(model.shape),
        "epoch": int(epoch),
        "history": clean_history,
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load with ``weights_only=True``; CheckpointError with the reason if unreadable."""
    if not Path(path).exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # corrupt or foreign file
        raise CheckpointError(f"checkpoint {path} cannot be loaded: {exc}") from exc


def with_trained_sigma(
    config: TrainConfig, state: dict[str, torch.Tensor]
) -> tuple[TrainConfig, dict[str, torch.Tensor]]:
    """(config, state) of weights ``state``, with the Gaussian std they were trained with.

    Checkpoints of Gaussian (``mse``) runs from before the decoder had a ``log_sigma`` were
    trained on the sum of squared errors alone, i.e. a fixed sigma^2 = 1/2: they load with
    that fixed sigma, so their likelihoods are the ones of the model that was trained.
    """
    if config.recon != "mse" or "log_sigma" in state:
        return config, state
    log.info(
        "checkpoint without log_sigma (trained before the Gaussian decoder had one): "
        "loaded with the fixed sigma = sqrt(1/2) = %.4f it was trained with",
        LEGACY_SIGMA,
    )
    log_sigma = torch.tensor(math.log(LEGACY_SIGMA))
    return config.replace(sigma=LEGACY_SIGMA), {**state, "log_sigma": log_sigma}


def model_from_checkpoint(ckpt: dict[str, Any]) -> tuple[Autoencoder, TrainConfig]:
    """Rebuild the model (in eval mode, on the CPU) and its config from a loaded checkpoint."""
    config, state = with_trained_sigma(TrainConfig.from_json(ckpt["config"]), ckpt["model"])
    model = build_model(config, tuple(ckpt["shape"]))
    model.load_state_dict(state)
    model.eval()
    return model, config
