"""The body of a background job's process, and the forkserver's preload.

Importing this module imports torch and the training engine, which is why the job
manager's forkserver preloads it: a forked worker then starts without paying that cost.
"""

from __future__ import annotations

import logging
import os

import sklearn.datasets  # noqa: F401  (preloaded for the embedded `digits` dataset)
import torch

from aevae_core import data, runner, train  # noqa: F401  (preloaded)
from aevae_core.store import RunStore


def worker_main(runs_dir: str, run_id: str, threads: int) -> None:
    """Train one claimed run; its final status is written by ``execute_run``."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s worker: %(message)s")
    store = RunStore(runs_dir)
    store.set_pid(run_id, os.getpid())
    if not store.config(run_id).threads:
        torch.set_num_threads(threads)
    runner.execute_run(store, run_id)
