"""The body of a background job's process, and the forkserver's preload.

Importing this module imports torch and the training engine and runs one tiny training
step (see ``warm_up``), which is why the job manager's forkserver preloads it: every
worker forked from it then starts without paying those costs again.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import signal
from typing import Any

import torch

from aevae_core import data, runner, train
from aevae_core.config import TrainConfig
from aevae_core.store import RunStore

log = logging.getLogger(__name__)


def warm_up() -> None:
    """Load what torch imports lazily on a first training step, and the embedded digits.

    The first optimizer imports ``torch._dynamo`` (about 900 modules: seconds) and the
    first convolution initialises oneDNN. Done once here, a forked worker inherits it. It
    runs on one thread so that no OpenMP thread pool exists when the forkserver forks.
    """
    threads, rng = torch.get_num_threads(), torch.get_rng_state()
    torch.set_num_threads(1)
    try:
        x = torch.rand(12, 1, 8, 8)
        tiny = data.Dataset("warm-up", x[:8], x[8:], None, None, [])
        config = TrainConfig(epochs=1, batch_size=4, hidden=(4,), device="cpu", log_every=1)
        for arch in ("mlp", "conv"):
            result = train.fit(config.replace(arch=arch), tiny)
        torch.save({"model": result.model.state_dict()}, io.BytesIO())
        data.load_dataset("digits")  # cached in-process (lru_cache): workers inherit it
    except Exception:  # a warm-up problem must never stop jobs from starting
        log.exception("worker warm-up failed")
    finally:
        torch.set_num_threads(threads)
        torch.set_rng_state(rng)


def worker_main(
    runs_dir: str, run_id: str, threads: int, context: dict[str, Any] | None = None
) -> None:
    """Train one claimed run; its final status is written by ``execute_run``.

    ``threads`` is this job's share of the cores (used unless the config sets its own).
    ``context`` carries the manager's working directory and ``AEVAE_*`` environment as
    they are now: the forkserver this process comes from may have started long ago.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s worker: %(message)s")
    if context:
        with contextlib.suppress(OSError):
            os.chdir(context["cwd"])
        for key in [k for k in os.environ if k.startswith("AEVAE_")]:
            del os.environ[key]
        os.environ.update(context["env"])
    store = RunStore(runs_dir)
    store.set_pid(run_id, os.getpid())
    if not store.config(run_id).threads:
        torch.set_num_threads(max(1, int(threads)))
    # A stopping server (its exit terminates its workers; Ctrl-C reaches the whole process
    # group) leaves the run "interrupted" with a reason, not "running" with nobody on it.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    runner.execute_run(store, run_id)


def _interrupt(signum: int, frame: Any) -> None:
    raise runner.Interrupted(f"the worker process received {signal.Signals(signum).name}")


warm_up()
