"""Run one stored run: load its config and data, ``fit`` it, and record everything in the store.

The CLI's foreground ``train`` and the background workers both call ``execute_run``, so a
run pre-trained from the command line is indistinguishable from one trained in the app.

What is recorded while training:
* a metrics row every ``log_every`` steps (buffered, flushed at least every second and
  at every epoch end) and one per epoch (``fit``'s record plus ``cpu_s``, the process's
  CPU seconds on the run so far);
* per epoch: ``latest.pt`` (and ``best.pt`` when the validation loss improves), written
  atomically, and a snapshot (a fixed batch of validation images with reconstructions,
  and the latent means of a fixed validation sample of up to 2,000 with their labels);
* the epoch's weights (``checkpoints/epoch_0007.pt``, no optimiser state) for the pages'
  epoch sliders: all of them for runs of up to 20 epochs, else epoch 1, every k-th epoch
  and the last, so a long run keeps about 20 (see ``keeps_epoch_checkpoint``);
* at the end of a completed run, before its status says so: the comparison metrics of the
  last epoch (``run_eval.py``, ``<run>/metrics/epoch_N.json``), so Compare only reads them.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from aevae_core.config import ConfigError, TrainConfig
from aevae_core.data.datasets import Dataset, load_dataset
from aevae_core.data.registry import DatasetError
from aevae_core.engine.failures import failure_reason, is_out_of_memory, release_gpu_memory
from aevae_core.engine.fit import Callbacks, FitResult, fit
from aevae_core.files import atomic_write_bytes
from aevae_core.jobs.run_eval import store_run_metrics
from aevae_core.model.checkpoint import checkpoint_bytes, load_checkpoint
from aevae_core.model.networks import Autoencoder
from aevae_core.store.runs import CANCEL_INTERRUPT, CANCEL_STOP, RunStore
from aevae_core.store.snapshots import make_snapshot

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 1.0
MAX_EPOCH_CHECKPOINTS = 20  # per-epoch weight files a run keeps (plus epoch 1 and the last)


def keeps_epoch_checkpoint(epoch: int, last: int, epochs: int) -> bool:
    """Whether ``epoch``'s weights stay on disk once ``last`` is the newest epoch."""
    every = max(1, math.ceil(epochs / MAX_EPOCH_CHECKPOINTS))
    return epoch in (1, last) or epoch % every == 0


def prune_epoch_checkpoints(store: RunStore, run_id: str, last: int, epochs: int) -> None:
    """Delete the per-epoch files the retention rule no longer keeps, and any past ``last``."""
    for e in store.checkpoint_epochs(run_id):
        if e > last or not keeps_epoch_checkpoint(e, last, epochs):
            store.epoch_checkpoint_path(run_id, e).unlink(missing_ok=True)


class StoreRecorder(Callbacks):
    """Writes a run's progress to the store; optional ``on_step``/``on_epoch`` for a CLI.

    Step rows are buffered: written when a row arrives a second or more after the last
    write, by a background thread a second after the last write otherwise, and at every
    epoch end, so a reader never waits more than about a second for a logged step.
    """

    def __init__(
        self,
        store: RunStore,
        run_id: str,
        data: Dataset,
        history: list[dict[str, Any]] | None = None,
        on_step: Callable[[dict], None] | None = None,
        on_epoch: Callable[[dict], None] | None = None,
    ) -> None:
        self.store, self.run_id, self.data = store, run_id, data
        self.config = store.config(run_id)
        self.history = list(history or [])
        finite = [h["val_loss"] for h in self.history if math.isfinite(h.get("val_loss", math.nan))]
        self.best = min(finite) if finite else math.inf
        self.buffer: list[tuple[str, int, int, dict]] = []
        self.last_flush = 0.0
        self._on_step, self._on_epoch = on_step, on_epoch
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._flusher: threading.Thread | None = None
        self._cpu0 = time.process_time()

    def flush(self, **progress: Any) -> None:
        """Write the buffered rows, and ``progress`` (the run's last_epoch etc.), in one
        transaction: a kill never leaves an epoch row that last_epoch does not count."""
        with self._lock:
            rows, self.buffer = self.buffer, []
            self.last_flush = time.monotonic()
            if rows and rows[-1][0] == "step":
                progress.setdefault("last_step", rows[-1][2])
            try:
                self.store.add_metrics(self.run_id, rows, **progress)
            except BaseException:
                self.buffer = rows  # kept for the next flush
                raise

    def _flush_loop(self) -> None:
        while True:
            due_in = self.last_flush + FLUSH_INTERVAL_S - time.monotonic()
            if self._closed.wait(max(0.05, due_in)):
                return
            if not self.buffer:  # idle: a row that comes later is due, so on_step writes it
                if self._closed.wait(FLUSH_INTERVAL_S):
                    return
            elif time.monotonic() - self.last_flush >= FLUSH_INTERVAL_S:
                try:
                    self.flush()
                except Exception:  # a busy database: the next flush retries with more rows
                    log.exception("metrics flush failed")

    def close(self) -> None:
        """Stop the background flusher and write what is left."""
        self._closed.set()
        if self._flusher is not None:
            self._flusher.join()
        self.flush()

    def on_fit_start(self, model: Autoencoder, data: Dataset, total_steps: int) -> None:
        self.store.update_progress(self.run_id, total_steps=total_steps)
        if self._flusher is None:
            self._flusher = threading.Thread(target=self._flush_loop, daemon=True)
            self._flusher.start()

    def on_step(self, metrics: dict[str, Any]) -> None:
        with self._lock:
            self.buffer.append(("step", metrics["epoch"], metrics["step"], metrics))
        if self.last_flush == 0.0 or time.monotonic() - self.last_flush >= FLUSH_INTERVAL_S:
            self.flush()
        if self._on_step:
            self._on_step(metrics)

    def on_epoch_end(
        self, record: dict[str, Any], model: Autoencoder, optimizer: torch.optim.Optimizer
    ) -> None:
        epoch, history = record["epoch"], [*self.history, record]
        parts = {"model": model, "config": self.config, "epoch": epoch, "history": history}
        self.write_epoch(
            record, make_snapshot(model, self.data, self.config.seed),
            checkpoint_bytes(optimizer=None, **parts),
            checkpoint_bytes(optimizer=optimizer, **parts), time.process_time() - self._cpu0,
        )  # fmt: skip

    def write_epoch(
        self, record: dict[str, Any], snapshot: dict, weights: bytes, latest: bytes, cpu_s: float
    ) -> None:
        """Store one finished epoch: its snapshot, its weights-only checkpoint (``weights``),
        ``latest.pt`` (``latest``: with the optimizer), ``best.pt``, its row and the run's
        progress. A Ray job's manager calls this with what the remote task sent."""
        epoch = record["epoch"]
        self.history.append(record)
        self.store.write_snapshot(self.run_id, epoch, snapshot)
        # The epoch's own weights before latest.pt: a kill in between leaves a file that a
        # resume from the previous epoch removes, never a latest.pt without its epoch file.
        atomic_write_bytes(self.store.epoch_checkpoint_path(self.run_id, epoch), weights)
        atomic_write_bytes(self.store.checkpoint_path(self.run_id, "latest"), latest)
        if record["val_loss"] < self.best:
            self.best = record["val_loss"]
            atomic_write_bytes(self.store.checkpoint_path(self.run_id, "best"), latest)
        prune_epoch_checkpoints(self.store, self.run_id, epoch, self.config.epochs)
        # CPU seconds this process has spent on the run since it (re)started: wall times
        # mislead on a shared machine, so the store keeps both.
        row = {**record, "cpu_s": cpu_s}
        with self._lock:
            self.buffer.append(("epoch", epoch, record["step"], row))
        self.flush(
            last_epoch=epoch, last_step=record["step"], val_loss=record["val_loss"],
            best_val_loss=self.best,
        )  # fmt: skip
        if self._on_epoch:
            self._on_epoch(record)


class CancelWatcher:
    """A daemon thread that turns the store's cancel request into a stop flag for ``fit``."""

    def __init__(self, store: RunStore, run_id: str, interval: float = 0.25) -> None:
        self.event = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, args=(store, run_id, interval), daemon=True
        )
        self._thread.start()

    def _watch(self, store: RunStore, run_id: str, interval: float) -> None:
        while True:
            try:
                if store.cancel_requested(run_id):
                    self.event.set()
                    return
            except Exception:  # a busy database must not kill the watcher
                log.exception("cancel watcher")
            if self._done.wait(interval):
                return

    def is_set(self) -> bool:
        return self.event.is_set()

    def close(self) -> None:
        self._done.set()


class Interrupted(BaseException):
    """A worker was told to end (SIGTERM, SIGINT): e.g. its server is stopping or restarting."""


class AnyStop:
    """Set when any of its flags (objects with ``is_set`` or callables) is set."""

    def __init__(self, *flags: Any) -> None:
        self.flags = flags

    def is_set(self) -> bool:
        return any(f.is_set() if hasattr(f, "is_set") else bool(f()) for f in self.flags)


def prepare_resume(store: RunStore, run_id: str) -> dict[str, Any]:
    """Load ``latest.pt`` and make the store agree with it before training continues.

    Rows and snapshots past the checkpoint's epoch go (no duplicate epochs afterwards);
    epoch rows the checkpoint has but the store lost (a kill between the two writes) come
    back; ``best.pt`` is refreshed when the checkpoint is the best epoch.
    """
    ckpt = load_checkpoint(store.checkpoint_path(run_id, "latest"))
    epoch = int(ckpt["epoch"])
    history = [r for r in ckpt.get("history", []) if r.get("epoch", 0) <= epoch]
    store.truncate_metrics(run_id, epoch)
    have = {m["epoch"] for m in store.metrics(run_id, "epoch")}
    vals = [r["val_loss"] for r in history if math.isfinite(r.get("val_loss", math.nan))]
    progress = {}
    if history and vals:
        progress = dict(last_epoch=epoch, last_step=history[-1]["step"],
                        val_loss=history[-1]["val_loss"], best_val_loss=min(vals))  # fmt: skip
    store.add_metrics(  # the restored rows and the progress that counts them: one write
        run_id,
        [("epoch", r["epoch"], r["step"], r) for r in history if r["epoch"] not in have],
        **progress,
    )
    for e in store.snapshot_epochs(run_id):
        if e > epoch:
            store.snapshot_path(run_id, e).unlink(missing_ok=True)
    for e in store.run_metrics_epochs(run_id):
        if e > epoch:
            store.run_metrics_path(run_id, e).unlink(missing_ok=True)
    prune_epoch_checkpoints(store, run_id, epoch, TrainConfig.from_json(ckpt["config"]).epochs)
    if progress and history[-1].get("val_loss") == min(vals):
        latest = store.checkpoint_path(run_id, "latest")
        atomic_write_bytes(store.checkpoint_path(run_id, "best"), latest.read_bytes())
    return ckpt


def remove_temp_files(folder: Path) -> None:
    """Temp files a killed writer left behind (the files they were replacing are intact)."""
    for tmp in folder.rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def execute_run(
    store: RunStore,
    run_id: str,
    *,
    stop: Any = None,
    on_step: Callable[[dict], None] | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    data_dir: str | None = None,
) -> FitResult | None:
    """Train a run that is already marked running; always leaves it with a final status.

    The run stops when ``stop`` is set (a flag or a callable) or when the store's cancel
    request is (so ``runs cancel`` and the app can stop a foreground CLI run too). Errors
    end the run as "failed" with the reason; they are logged, not raised, except
    KeyboardInterrupt (the run ends "stopped" and the interrupt propagates). A worker's
    ``Interrupted`` (see ``worker.py``) ends it "interrupted", resumable.
    """
    watcher = CancelWatcher(store, run_id)
    flag = watcher if stop is None else AnyStop(stop, watcher)
    recorder: StoreRecorder | None = None
    running = ("running",)
    try:
        if store.cancel_requested(run_id):
            if store.get_run(run_id)["cancel_requested"] == CANCEL_INTERRUPT:
                status, reason = "interrupted", "the job manager shut down before the run started"
            else:
                status, reason = "stopped", "stopped by the user before training started"
            store.finish(run_id, status, reason, only_if=running)
            return None
        remove_temp_files(store.run_dir(run_id))
        config = store.config(run_id)
        resume = prepare_resume(store, run_id) if store.get_run(run_id)["resume"] else None
        data = load_dataset(
            config.dataset, data_dir=data_dir, seed=config.seed, val_fraction=config.val_fraction,
            path=config.data_path, max_samples=config.max_samples,
        )  # fmt: skip
        recorder = StoreRecorder(
            store, run_id, data, history=(resume or {}).get("history"),
            on_step=on_step, on_epoch=on_epoch,
        )  # fmt: skip
        result = fit(config, data, recorder, flag, resume=resume)
        recorder.close()
        status, reason = result.status, result.reason
        if status == "completed" and result.epoch > 0:
            final_metrics(store, run_id, result.epoch, data)
        if status == "stopped" and store.get_run(run_id)["cancel_requested"] == CANCEL_INTERRUPT:
            status = "interrupted"
            reason = (
                f"the job manager shut down during epoch {result.epoch + 1}; resume to "
                f"continue from the last checkpoint (epoch {result.epoch})"
                if result.epoch
                else "the job manager shut down before the first epoch ended"
            )
        store.finish(run_id, status, reason, only_if=running)
        return result
    except KeyboardInterrupt:
        _close_quietly(recorder)
        store.finish(run_id, "stopped", "interrupted from the keyboard (Ctrl-C)", only_if=running)
        raise
    except Interrupted as exc:
        _close_quietly(recorder)
        run = store.get_run(run_id)
        during = f"during epoch {run['last_epoch'] + 1}"
        if run["cancel_requested"] == CANCEL_STOP:  # the manager terminated a stopping worker
            store.finish(run_id, "stopped", f"stopped by the user {during}", only_if=running)
        else:
            store.finish(
                run_id, "interrupted", f"{exc} {during}; resume to continue from the last "
                "checkpoint", only_if=running,
            )  # fmt: skip
        return None
    except Exception as exc:
        reason = failure_reason(exc, recorder.config.batch_size if recorder else None)
        if isinstance(exc, (DatasetError, ConfigError)) or is_out_of_memory(exc):
            log.warning("run %s failed: %s", run_id, reason)  # expected: no trace
        else:
            log.exception("run %s failed", run_id)
        _close_quietly(recorder)
        release_gpu_memory()
        store.finish(run_id, "failed", reason, only_if=running)
        return None
    finally:
        watcher.close()


def _close_quietly(recorder: StoreRecorder | None) -> None:
    """Keep the rows logged before a failure; a second failure here must not hide the first."""
    if recorder is None:
        return
    try:
        recorder.close()
    except Exception:
        log.exception("could not write the last metrics")


def final_metrics(store: RunStore, run_id: str, epoch: int, data: Dataset) -> None:
    """Compute and store the run's comparison metrics (run_eval.py) while it still reads
    "running", so a run that reads "completed" has them and Compare never computes them. A
    failure here does not fail the trained run: Compare computes them later."""
    try:
        store_run_metrics(store, run_id, epoch, data=data)
    except Interrupted:  # the server is stopping: the training is done all the same
        store.finish(run_id, "completed", None, only_if=("running",))
        raise
    except Exception:
        log.exception("run %s: its metrics were not stored (Compare computes them)", run_id)
