"""Admission: the one check a run passes before it exists, on every path.

``check`` is what the Train page explains before Start, what ``train`` refuses with in the
CLI (foreground or ``--background``), and what ``submit_to_store`` runs (the app's Start and
pair actions through ``JobManager.submit``, the lessons' pre-training) after the owner's
quota: the config's validity, a network that can be built for the dataset's images, the
user's own data present, the device there, the memory pre-flight. None of it imports torch
(the device comes from engine/devices.py, the shapes from model/shapes.py), so a page can
explain a refusal before torch is loaded.
"""

from __future__ import annotations

import os

from aevae_core.config import ConfigError, TrainConfig, validate
from aevae_core.data.registry import DATASET_INFO
from aevae_core.engine import devices
from aevae_core.engine.preflight import MemoryEstimate, check_memory
from aevae_core.jobs import classroom
from aevae_core.model.shapes import check_architecture
from aevae_core.store.runs import QuotaExceeded, RunStore


def check(config: TrainConfig) -> MemoryEstimate:
    """Refuse what could only fail later; ConfigError names the setting and what is allowed.

    Returns the pre-flight's memory estimate for a config that passes.
    """
    validate(config)
    shape = DATASET_INFO[config.dataset]["shape"]
    if shape is not None:  # the user's own images: their shape is checked when loaded
        check_architecture(config, tuple(shape))
    if config.dataset == "custom" and not os.path.exists(config.data_path or ""):
        raise ConfigError(
            "data_path",
            f"{config.data_path or '(none)'!r} does not exist; allowed: a folder of PNG/JPEG "
            "images, a .zip of them or an .npz file",
        )
    if config.device == "cuda" and not devices.gpu_devices():
        raise ConfigError(
            "device", "'cuda' was asked for but no CUDA GPU is available; allowed here: auto or cpu"
        )
    return check_memory(config)


def submit_to_store(
    store: RunStore,
    config: TrainConfig,
    group_id: str | None = None,
    *,
    owner: str = classroom.LOCAL_OWNER,
    max_active: int | None = None,
) -> str:
    """Validate and queue a run; any manager serving this store will pick it up.

    A config ``check`` refuses is never queued (its ConfigError names the setting). With
    ``max_active`` an owner at the quota is refused first (QuotaExceeded).
    """
    if max_active is not None and (active := store.active_count(owner)) >= max_active:
        raise QuotaExceeded(active, max_active)  # cheap: before the pre-flight
    check(config)
    return store.create_run(
        config, status="queued", group_id=group_id, owner=owner, max_active=max_active
    )
