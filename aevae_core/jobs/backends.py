"""Job backends: what trains a run once the job manager (jobs.py) has claimed it.

The manager owns the queue, the fair-share order, the claims, cancels and statuses; a
backend only starts the training and hands back a handle with the methods of a
``multiprocessing.Process`` that the manager uses (``start``, ``is_alive``, ``join``,
``pid``, ``exitcode``, ``terminate``, ``kill``). Two backends:

* ``local`` (the default): today's forkserver pool on this machine (launch.Launcher), each
  job a worker process that writes the run store itself (worker.py);
* ``ray``: a task per run on a Ray cluster (ray_backend.py), whose results stream back to
  the manager, which writes them: the store stays on the app server.

Chosen by ``AEVAE_BACKEND`` (the app) or ``python -m aevae_core worker --backend``.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
from collections.abc import Callable
from typing import Any, Protocol

from aevae_core.jobs.launch import Launcher

BACKENDS = ("local", "ray")


class BackendError(ValueError):
    """An unknown backend name; the message names the setting and what is allowed."""


class Backend(Protocol):
    """What the job manager needs of a backend."""

    name: str
    ready: threading.Event  # set once jobs can start (forkserver up / cluster connected)
    capacity: int | None  # jobs at once; None: the manager's own count (cores, GPUs)

    def warm_up(self) -> None: ...  # start getting ready, in the background, once

    def process(self, root: str, run_id: str, threads: int, gpu: int | None) -> Any: ...

    def node(self, job: Any) -> str | None: ...  # where a started job runs, if known now


def backend_name(value: str | None = None) -> str:
    """``value``, else ``AEVAE_BACKEND``, else "local"; BackendError for anything else."""
    raw = value if value is not None else os.environ.get("AEVAE_BACKEND", "")
    name = raw.strip().lower() or "local"
    if name not in BACKENDS:
        where = "" if value is not None else " (AEVAE_BACKEND)"
        raise BackendError(f"{raw!r}{where} is not a backend; allowed: {', '.join(BACKENDS)}")
    return name


class LocalBackend(Launcher):
    """The forkserver pool (launch.Launcher) on this machine."""

    name = "local"
    capacity = None

    def node(self, job: Any) -> str:
        return socket.gethostname()


def make_backend(
    backend: str | Backend | None = None,
    on_ready: Callable[[], None] | None = None,
    *,
    max_workers: int | None = None,
) -> Backend:
    """The backend named ``backend`` (or by AEVAE_BACKEND); a Backend object is used as is."""
    if backend is not None and not isinstance(backend, str):
        if on_ready is not None and getattr(backend, "_on_ready", None) is None:
            backend._on_ready = on_ready  # type: ignore[attr-defined]
        return backend
    if backend_name(backend) == "ray":
        if importlib.util.find_spec("ray") is None:
            raise BackendError("'ray' needs Ray: python -m pip install -r requirements-cluster.txt")
        from aevae_core.jobs.ray_backend import RayBackend

        return RayBackend(on_ready=on_ready, max_workers=max_workers)
    return LocalBackend(on_ready=on_ready)
