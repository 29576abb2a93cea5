"""The body of a background job's process, and the forkserver's preload.

Importing this module imports torch and the training engine and runs one tiny training
step (see ``warm_up``), which is why the job manager's forkserver preloads it: every
worker forked from it then starts without paying those costs again.

``AEVAE_WORKER_MAX_MEMORY_MB`` (unset: no limit) is a safety limit a class server can set:
each CPU job may then allocate at most that many MiB beyond what its process holds when it
starts (torch and the engine). A job that needs more fails on its own, as "failed" with
"ran out of memory: ...", instead of pushing the machine into swap or waking the kernel's
OOM killer, which may pick the server or another student's job. It is an address-space
limit (``RLIMIT_AS``), so leave some room: 1024 or more for real datasets. GPU jobs are
not limited (CUDA maps large address ranges; GPU memory has its own out-of-memory error).

``AEVAE_WORKER_NICE`` (default 10) is the niceness this module sets on import, i.e. in the
forkserver before torch's import and the warm-up, and again in each job (processes.py).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import resource
import signal
import threading
from typing import Any

from aevae_core.jobs.processes import lower_priority

lower_priority()  # the forkserver imports this first: torch's import and the warm-up run niced

import torch  # noqa: E402

from aevae_core.config import TrainConfig  # noqa: E402
from aevae_core.data import datasets as data  # noqa: E402
from aevae_core.engine import fit as train  # noqa: E402
from aevae_core.jobs import runner  # noqa: E402
from aevae_core.jobs.processes import pid_alive  # noqa: E402
from aevae_core.store.runs import RunStore  # noqa: E402

log = logging.getLogger(__name__)

OWNER_POLL_S = 0.5
_owner_gone: list[int] = []  # the manager's pid once the owner watch found it gone


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
        if context.get("gpu") is not None:  # several GPUs: this job's own (launch.pick_gpu);
            # set before anything initialises CUDA here (the forkserver never does)
            os.environ["CUDA_VISIBLE_DEVICES"] = str(context["gpu"])
    lower_priority()  # again, with the manager's AEVAE_WORKER_NICE of now
    store = RunStore(runs_dir)
    store.set_pid(run_id, os.getpid())
    config = store.config(run_id)
    if not config.threads:
        torch.set_num_threads(max(1, int(threads)))
    limit_memory(config)
    # A stopping server (its exit terminates its workers; Ctrl-C reaches the whole process
    # group) leaves the run "interrupted" with a reason, not "running" with nobody on it.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    done = watch_owner(store, run_id)
    try:
        runner.execute_run(store, run_id)
    finally:
        done.set()


def watch_owner(store: RunStore, run_id: str, interval: float = OWNER_POLL_S) -> threading.Event:
    """Interrupt this worker when the manager that claimed its run dies (set the event to stop).

    A server killed by ``kill -9`` (or by SIGTERM without a handler) cannot stop its
    workers, and the forkserver they come from stays up as long as they do. Without this,
    its jobs would go on training unseen, outside any manager's concurrency limit; with
    it, they end "interrupted" (resumable) within about ``interval`` seconds, and a
    restarted server shows them so.
    """
    done = threading.Event()
    run = store.get_run(run_id)
    owner, birth = run["owner_pid"], run["owner_birth"]
    if not owner or owner == os.getpid():
        return done

    def watch() -> None:
        while not done.wait(interval):
            if not pid_alive(owner, birth):
                _owner_gone.append(owner)
                os.kill(os.getpid(), signal.SIGTERM)  # the handler raises in the main thread
                return

    threading.Thread(target=watch, name="aevae-owner-watch", daemon=True).start()
    return done


def limit_memory(config: TrainConfig) -> int | None:
    """Apply ``AEVAE_WORKER_MAX_MEMORY_MB`` to this process; returns the limit in bytes.

    Called in the worker after the fork and before any training allocation.
    """
    value = os.environ.get("AEVAE_WORKER_MAX_MEMORY_MB", "").strip()
    if not value:
        return None
    try:
        extra_mb = int(value)
    except ValueError:
        log.warning("AEVAE_WORKER_MAX_MEMORY_MB=%r is not an integer; no memory limit", value)
        return None
    if extra_mb <= 0:
        return None
    if config.device != "cpu" and torch.cuda.is_available():
        log.info("AEVAE_WORKER_MAX_MEMORY_MB is not applied to a GPU job")
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = address_space_bytes() + extra_mb * 2**20
    for cap in (soft, hard):
        if cap != resource.RLIM_INFINITY:
            limit = min(limit, cap)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return limit


def address_space_bytes() -> int:
    """This process's virtual memory size now (what ``RLIMIT_AS`` counts)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # a lower bound


def _interrupt(signum: int, frame: Any) -> None:
    if _owner_gone:
        raise runner.Interrupted(f"the job manager (pid {_owner_gone[0]}) exited")
    raise runner.Interrupted(f"the worker process received {signal.Signals(signum).name}")


warm_up()
