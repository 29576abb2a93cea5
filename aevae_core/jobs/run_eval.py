"""A run's comparison metrics, computed once and stored with it (``<run>/metrics/epoch_N.json``).

``metrics.run_metrics`` costs seconds per run (importance sampling with k = 50, kNN on the
codes); Compare used to pay that for every run on first view. Now:

* the worker computes them at the end of a completed run, *before* it marks the run
  completed (``runner.execute_run``): a run that reads "completed" has them;
* runs that lack them (trained before they were stored, stopped, failed, a computation that
  failed) get them from ``MetricsInBackground``: one background thread in the server that
  computes and stores them while the page draws what it already has.

The numbers are the exploration pages' ("This run's metrics", pages/ui/explore.py): the model
of the epoch's checkpoint file loaded on the CPU (``analysis.load_model``), the first
``VAL_IMAGES`` validation and ``TRAIN_IMAGES`` training images of the run's own split,
``run_metrics`` with its defaults; plus ``prior_distance``
(``checks.prior_sample_distance`` on up to ``MAX_TRAIN_IMAGES`` training images).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from aevae_core.store.runs import RunStore

log = logging.getLogger(__name__)

# Bump when what run_metrics returns changes: files of another version are recomputed.
METRICS_VERSION = 1
VAL_IMAGES, TRAIN_IMAGES = 1000, 2000  # as pages/ui/explore.run_metrics


def _splits(config: Any, data: Any, data_dir: str | None) -> tuple:
    """(x_val, y_val, factors_val, x_train, y_train, x_train_prior): the first images of the
    run's own split; from ``data`` (a ``data.Dataset``, the worker's) or loaded and cached."""
    from aevae_core.explore import analysis
    from aevae_core.lessons.checks import MAX_TRAIN_IMAGES

    if data is None:
        x, y, f, _, _ = analysis.load_split(config, "val", VAL_IMAGES, data_dir=data_dir)
        xt, yt, _, _, _ = analysis.load_split(config, "train", TRAIN_IMAGES, data_dir=data_dir)
        prior = analysis.load_split(config, "train", MAX_TRAIN_IMAGES, data_dir=data_dir)[0]
        return x, y, f, xt, yt, prior

    def first(t: Any, n: int) -> Any:
        return None if t is None else t[:n].numpy()

    return (
        first(data.val_x, VAL_IMAGES), first(data.val_y, VAL_IMAGES),
        first(data.val_factors, VAL_IMAGES), first(data.train_x, TRAIN_IMAGES),
        first(data.train_y, TRAIN_IMAGES), first(data.train_x, MAX_TRAIN_IMAGES),
    )  # fmt: skip


def compute_run_metrics(
    store: RunStore,
    run_id: str,
    epoch: int | None = None,
    *,
    data: Any = None,
    data_dir: str | None = None,
) -> dict[str, Any]:
    """``metrics.run_metrics`` of the run's model at ``epoch`` (the nearest kept checkpoint,
    see ``analysis.load_model``; ``epoch`` in the result says which), plus
    ``prior_distance``, ``epoch`` and ``version``. Deterministic: the same numbers in the
    worker and in the server."""
    from aevae_core.explore import analysis, metrics
    from aevae_core.lessons.checks import prior_sample_distance

    model, config, loaded = analysis.load_model(store, run_id, epoch)
    x, y, factors, xt, yt, x_prior = _splits(config, data, data_dir)
    out = metrics.run_metrics(model, config, x, y, factors, xt, yt)
    out["prior_distance"] = prior_sample_distance(model, x_prior)
    out["epoch"], out["version"] = loaded, METRICS_VERSION
    return out


def store_run_metrics(
    store: RunStore,
    run_id: str,
    epoch: int | None = None,
    *,
    data: Any = None,
    data_dir: str | None = None,
) -> dict[str, Any]:
    """Compute the metrics (``compute_run_metrics``) and store them under the loaded epoch."""
    out = compute_run_metrics(store, run_id, epoch, data=data, data_dir=data_dir)
    store.write_run_metrics(run_id, out["epoch"], out)
    return out


def stored_metrics(store: RunStore, run_id: str, epoch: int) -> dict[str, Any] | None:
    """The stored metrics of ``epoch`` in this version, else None."""
    found = store.read_run_metrics(run_id, epoch)
    return found if found and found.get("version") == METRICS_VERSION else None


class MetricsInBackground:
    """Stored metrics, or their computation started in a background thread (one at a time:
    the 2-core classroom machine has no second core to give a page). Never blocks: ``get``
    returns None while they are computed; a failure is kept and told by ``error``."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="aevae-metrics")
        self._jobs: dict[tuple[str, int], Future] = {}

    def get(self, run_id: str, epoch: int, *, start: bool = True) -> dict[str, Any] | None:
        """The run's metrics at ``epoch`` if stored (or just computed), else None; starts the
        computation when ``start`` and none is under way."""
        found = stored_metrics(self.store, run_id, epoch)
        if found is not None:
            return found
        key = (run_id, int(epoch))
        with self._lock:
            job = self._jobs.get(key)
            if job is None:
                if not start:
                    return None
                self._jobs[key] = self._pool.submit(store_run_metrics, self.store, run_id, epoch)
                return None
        if job.done() and job.exception() is None:
            return job.result()  # stored under the loaded epoch (a pruned checkpoint's)
        return None

    def error(self, run_id: str, epoch: int) -> str | None:
        """Why the computation for this run and epoch failed, or None."""
        job = self._jobs.get((run_id, int(epoch)))
        if job is None or not job.done() or job.exception() is None:
            return None
        exc = job.exception()
        return f"{type(exc).__name__}: {str(exc)[:200]}"

    def retry(self, run_id: str, epoch: int) -> None:
        """Forget a failed computation, so the next ``get`` starts it again."""
        with self._lock:
            job = self._jobs.get((run_id, int(epoch)))
            if job is not None and job.done():
                del self._jobs[(run_id, int(epoch))]
