"""A run as the store returns it: the typed record every reader gets (``Run``).

One row of the ``runs`` table (schema.py), as a ``TypedDict``: it stays a plain dict, so
rows pass to JSON (``runs show --json``), to ``st.cache_data`` and to the pages unchanged,
while a type checker knows every key and the statuses a run can have. A test keeps its
keys equal to the table's columns.
"""

from __future__ import annotations

from typing import Literal, TypedDict, get_args

Status = Literal["queued", "running", "completed", "stopped", "failed", "diverged", "interrupted"]
STATUSES: tuple[Status, ...] = get_args(Status)
ACTIVE: tuple[Status, ...] = ("queued", "running")
FINAL: tuple[Status, ...] = tuple(s for s in STATUSES if s not in ACTIVE)


class Run(TypedDict):
    """One run: what it trains, where it stands, who owns it. Times are Unix seconds."""

    id: str  # YYYYMMDD-HHMMSS-xxxxxx, also its folder's name
    seq: int  # submission order (first in, first out within an owner)
    status: Status
    reason: str | None  # why it ended, for anything but "completed"
    config: str  # the TrainConfig as JSON (TrainConfig.from_json)
    dataset: str
    model: str  # "ae" or "vae"
    arch: str  # "mlp" or "conv"
    latent_dim: int
    beta: float | None  # None for an AE
    epochs: int
    group_id: str | None  # runs queued together (a pair, a sweep, a lesson)
    created: float
    started: float | None
    ended: float | None
    pid: int | None  # the process training it, and that process's start time
    host: str | None
    pid_birth: int | None
    owner_pid: int | None  # the manager (or foreground CLI) that claimed it
    owner_birth: int | None
    last_epoch: int
    last_step: int
    total_steps: int
    val_loss: float | None
    best_val_loss: float | None
    cancel_requested: int  # 0, CANCEL_STOP or CANCEL_INTERRUPT
    resume: int  # 1 while queued to resume from its checkpoint
    owner: str  # the browser, "cli", "lessons" or "local" (classroom.py)
    pinned: int  # 1: a teacher's example, listed first
    name: str  # the name people gave it ('' = none)
    backend: str  # where jobs ran it: "local" (worker processes here) or "ray" (jobs/backends.py)
    node: str | None  # the machine it trained on (None until it starts)
