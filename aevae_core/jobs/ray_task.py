"""The remote half of a Ray job: train one run on a cluster node and stream what happened.

``train_events`` is the body of the Ray *generator* task that ``ray_backend.RayJob`` starts
(``num_returns="streaming"``). It never sees the run store: it gets the run's config (and,
to resume, the checkpoint the manager loaded) as arguments and yields plain dicts, which
the manager writes with the same recorder code as a local worker (runner.StoreRecorder):

* ``{"kind": "start", "node", "pid", "total_steps"}`` when training starts;
* ``{"kind": "steps", "rows": [...]}``: the logged step rows, batched (at most every
  ``STEP_BATCH_S`` seconds, and before any other event), as ``fit`` reports them;
* ``{"kind": "epoch", "record", "snapshot", "weights", "latest", "cpu_s"}`` per finished
  epoch: its row, the snapshot arrays, and the bytes of its weights-only checkpoint and of
  ``latest.pt`` (checkpoint.checkpoint_bytes; the manager writes the files);
* ``{"kind": "metrics", "values"}``: the comparison metrics of a completed run
  (run_eval.py's numbers, computed here where the model and the data already are);
* ``{"kind": "end", "status", "reason", "epoch"}``: the last event.

``fit`` runs in a thread of the task and the generator forwards its queue: a ``ray.cancel``
raises KeyboardInterrupt in the task's main thread, whose ``finally`` sets the stop flag,
so the training thread stops at its next step and the (reused) Ray worker is free again.
"""

from __future__ import annotations

import io
import os
import queue
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

STEP_BATCH_S = 0.5  # step rows are sent in batches: one Ray object per row would cost more
STOP_JOIN_S = 10.0


def node_name() -> str:
    """This node as the run record shows it: its host name and, on Ray, its address."""
    host = socket.gethostname()
    try:
        import ray

        return f"{host} ({ray.util.get_node_ip_address()})"
    except Exception:  # outside Ray (a test calling train_events directly)
        return host


def train_events(
    config_json: str, resume: dict[str, Any] | None = None, threads: int = 1
) -> Iterator[dict[str, Any]]:
    """Train ``config_json`` (from ``resume``'s checkpoint if given) and yield its events."""
    import torch

    from aevae_core.config import TrainConfig
    from aevae_core.jobs.processes import lower_priority

    lower_priority()  # AEVAE_WORKER_NICE on this node, as for a local worker
    config = TrainConfig.from_json(config_json)
    if not config.threads:
        torch.set_num_threads(max(1, int(threads)))
    events: queue.Queue = queue.Queue()
    stop = threading.Event()
    trainer = threading.Thread(
        target=_train, args=(config, resume, events, stop), name="aevae-ray-fit", daemon=True
    )
    rows: list[dict] = []
    sent = time.monotonic()
    try:
        trainer.start()
        while True:
            try:
                event = events.get(timeout=0.1)
            except queue.Empty:
                event = None
            if event is not None and event["kind"] == "step":
                rows.append(event["row"])
                event = None
            if rows and (event is not None or time.monotonic() - sent >= STEP_BATCH_S):
                yield {"kind": "steps", "rows": rows}
                rows, sent = [], time.monotonic()
            if event is not None:
                yield event
                if event["kind"] == "end":
                    return
    finally:  # also on ray.cancel (KeyboardInterrupt here): the training thread stops too
        stop.set()
        trainer.join(STOP_JOIN_S)


def _train(config: Any, resume: dict | None, events: queue.Queue, stop: threading.Event) -> None:
    from aevae_core.data.datasets import load_dataset
    from aevae_core.engine.failures import failure_reason, release_gpu_memory
    from aevae_core.engine.fit import fit

    try:
        data = load_dataset(
            config.dataset, seed=config.seed, val_fraction=config.val_fraction,
            path=config.data_path, max_samples=config.max_samples,
        )  # fmt: skip
        recorder = RemoteRecorder(events, config, data, (resume or {}).get("history"))
        result = fit(config, data, recorder, stop, resume=resume)
        if result.status == "completed" and result.epoch > 0 and recorder.weights:
            values = _run_metrics(config, data, recorder.weights)
            if values is not None:
                events.put({"kind": "metrics", "values": values})
        end = {"status": result.status, "reason": result.reason, "epoch": result.epoch}
    except Exception as exc:
        release_gpu_memory()
        end = {"status": "failed", "reason": failure_reason(exc, config.batch_size), "epoch": 0}
    events.put({"kind": "end", **end})


def _run_metrics(config: Any, data: Any, weights: bytes) -> dict[str, Any] | None:
    """run_eval.compute_run_metrics's numbers, from the last epoch's weights-only checkpoint
    loaded on the CPU as the server would load it; None when they fail (Compare computes
    them later, as for a local run)."""
    import logging

    import torch

    from aevae_core.explore import metrics
    from aevae_core.jobs.run_eval import METRICS_VERSION, _splits
    from aevae_core.lessons.checks import prior_sample_distance
    from aevae_core.model.checkpoint import model_from_checkpoint

    try:
        ckpt = torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True)
        model, config = model_from_checkpoint(ckpt)
        model.requires_grad_(False)
        x, y, factors, xt, yt, x_prior = _splits(config, data, None)
        out = metrics.run_metrics(model, config, x, y, factors, xt, yt)
        out["prior_distance"] = prior_sample_distance(model, x_prior)
        out["epoch"], out["version"] = int(ckpt["epoch"]), METRICS_VERSION
        return out
    except Exception:
        logging.getLogger(__name__).exception("the run's metrics were not computed")
        return None


class RemoteRecorder:
    """``fit``'s callbacks on a Ray node: each event goes on the queue the task yields from.

    Builds what runner.StoreRecorder.on_epoch_end builds (the snapshot and both checkpoints),
    and keeps the run's history, which a checkpoint carries.
    """

    def __init__(
        self, events: queue.Queue, config: Any, data: Any, history: list | None = None
    ) -> None:
        self.events, self.config, self.data = events, config, data
        self.history = list(history or [])
        self.weights: bytes | None = None  # the last epoch's weights-only checkpoint
        self._cpu0 = time.process_time()

    def on_fit_start(self, model: Any, data: Any, total_steps: int) -> None:
        self.events.put(
            {"kind": "start", "node": node_name(), "pid": os.getpid(), "total_steps": total_steps}
        )

    def on_step(self, metrics: dict[str, Any]) -> None:
        self.events.put({"kind": "step", "row": metrics})

    def on_epoch_end(self, record: dict[str, Any], model: Any, optimizer: Any) -> None:
        from aevae_core.model.checkpoint import checkpoint_bytes
        from aevae_core.store.snapshots import make_snapshot

        self.history.append(record)
        parts = {"model": model, "config": self.config, "epoch": record["epoch"]}
        self.weights = checkpoint_bytes(optimizer=None, history=self.history, **parts)
        self.events.put(
            {
                "kind": "epoch",
                "record": record,
                "snapshot": make_snapshot(model, self.data, self.config.seed),
                "weights": self.weights,
                "latest": checkpoint_bytes(optimizer=optimizer, history=self.history, **parts),
                "cpu_s": time.process_time() - self._cpu0,
            }
        )
