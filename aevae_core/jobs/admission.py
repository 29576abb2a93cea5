"""Admission: the one check a run passes before it is queued, on every path (the app's
Train page and pair actions through ``JobManager.submit``, ``train --background``, the
lessons' pre-training): the owner's quota, the config's validity, the memory pre-flight.
"""

from __future__ import annotations

from aevae_core.config import TrainConfig, validate
from aevae_core.jobs import classroom
from aevae_core.store.runs import RunStore


def submit_to_store(
    store: RunStore,
    config: TrainConfig,
    group_id: str | None = None,
    *,
    owner: str = classroom.LOCAL_OWNER,
    max_active: int | None = None,
) -> str:
    """Validate and queue a run; any manager serving this store will pick it up.

    A config that would not fit in the memory free now is refused before it is queued
    (``preflight.ResourceError``, a ConfigError naming the setting to reduce), on every
    path: the app, ``train --background`` and the compare page's pair action. With
    ``max_active`` an owner at the quota is refused first (classroom.QuotaExceeded).
    """
    from aevae_core.engine.preflight import (
        check_memory,  # its dataset registry (data.py) imports torch
    )

    if max_active is not None and (active := store.active_count(owner)) >= max_active:
        raise classroom.QuotaExceeded(active, max_active)  # cheap: before the pre-flight
    validate(config)
    check_memory(config)
    return store.create_run(
        config, status="queued", group_id=group_id, owner=owner, max_active=max_active
    )
