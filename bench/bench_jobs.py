"""Benchmark of background training jobs against their targets; exits 1 when one is missed.

    python bench/bench_jobs.py [--dataset sprites] [--epochs 12] [--pairs 5] [--latency-runs 7]

1. submit -> first metrics row readable: the first submission of a fresh manager (cold:
   the forkserver starts and imports torch), then ``--latency-runs`` submissions once it is
   warm. Target: median <= 1.5 s on CPU with ``digits``.
2. cancel -> "stopped" for a running job. Target: <= 2 s.
3. The same config trained in the foreground (``runner.execute_run`` in this process) and
   as a background job, alternately, ``--pairs`` times; wall time from the run's recorded
   start to its end (for the job: from its claim, so process start-up counts). Target:
   background / foreground <= 1.05 (median of the pairs' ratios). The ratio of the CPU
   seconds the training process spent is printed beside it: on a machine shared with
   other work, wall times also measure everybody else's load.

Both sides use the same fixed thread count, so the ratio compares like with like on a
shared machine; the figures themselves depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aevae_core.config import TrainConfig  # noqa: E402
from aevae_core.jobs.manager import JobManager
from aevae_core.jobs.processes import cpu_count
from aevae_core.store.record import FINAL
from aevae_core.store.runs import RunStore

LATENCY_TARGET_S = 1.5
CANCEL_TARGET_S = 2.0
RATIO_TARGET = 1.05


def wait_for(predicate, timeout: float = 600.0, poll: float = 0.005):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark step timed out")
        time.sleep(poll)
    return value


def first_row_latency(manager: JobManager, config: TrainConfig) -> float:
    """Seconds from submit() to the first step row being readable; the run then finishes."""
    store = manager.store
    t0 = time.perf_counter()
    run_id = manager.submit(config)
    wait_for(lambda: store.metrics(run_id, "step"))
    latency = time.perf_counter() - t0
    run = manager.wait(run_id, timeout=600)
    if run["status"] != "completed":
        raise RuntimeError(f"latency run ended {run['status']}: {run['reason']}")
    return latency


def cancel_latency(manager: JobManager, config: TrainConfig) -> float:
    store = manager.store
    run_id = manager.submit(config)
    wait_for(lambda: store.metrics(run_id, "step"))
    t0 = time.perf_counter()
    manager.cancel(run_id)
    wait_for(lambda: store.get_run(run_id)["status"] in FINAL, poll=0.002)
    latency = time.perf_counter() - t0
    if store.get_run(run_id)["status"] != "stopped":
        raise RuntimeError(f"cancelled run ended {store.get_run(run_id)['status']}")
    return latency


def run_seconds(store: RunStore, run_id: str) -> tuple[float, float]:
    """(wall seconds from the run's start to its end, CPU seconds its process spent)."""
    run = store.get_run(run_id)
    if run["status"] != "completed":
        raise RuntimeError(f"run {run_id} ended {run['status']}: {run['reason']}")
    return run["ended"] - run["started"], store.metrics(run_id, "epoch")[-1]["cpu_s"]


def foreground(store: RunStore, config: TrainConfig) -> tuple[float, float]:
    from aevae_core.jobs.runner import execute_run

    run_id = store.create_run(config, status="running")
    execute_run(store, run_id, stop=lambda: False)
    return run_seconds(store, run_id)


def background(manager: JobManager, config: TrainConfig) -> tuple[float, float]:
    run_id = manager.submit(config)
    manager.wait(run_id, timeout=1800, poll=0.5)  # the worker records the end time itself
    return run_seconds(manager.store, run_id)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="sprites", choices=("sprites", "digits"))
    parser.add_argument("--max-samples", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--latency-runs", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    fit_config = TrainConfig(
        dataset=args.dataset, max_samples=args.max_samples, epochs=args.epochs,
        threads=args.threads,
    )  # fmt: skip
    latency_config = TrainConfig(dataset="digits", epochs=1, threads=args.threads)
    cancel_config = TrainConfig(dataset="digits", epochs=1000, batch_size=8, threads=args.threads)
    load = os.getloadavg()[0]
    print(f"bench_jobs: {cpu_count()} CPU cores, load average {load:.1f}, "
          f"threads per run {args.threads}")  # fmt: skip
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        manager = JobManager(Path(tmp) / "runs", max_workers=1)
        try:
            cold = first_row_latency(manager, latency_config)
            print(f"cold  submit -> first metrics row (digits): {cold:.2f} s "
                  "(fresh manager: the forkserver starts and imports torch once)")  # fmt: skip
            warm = [first_row_latency(manager, latency_config) for _ in range(args.latency_runs)]
            med = statistics.median(warm)
            print(f"warm  submit -> first metrics row (digits): median {med:.3f} s, "
                  f"max {max(warm):.3f} s "
                  f"over {len(warm)} (target median <= {LATENCY_TARGET_S} s; "
                  f"ratio {med / LATENCY_TARGET_S:.2f} of target)")  # fmt: skip
            if med > LATENCY_TARGET_S:
                failures.append("submit -> first metrics row")

            cancels = [cancel_latency(manager, cancel_config) for _ in range(3)]
            print(f"cancel running job -> stopped: median {statistics.median(cancels):.3f} s, "
                  f"max {max(cancels):.3f} s over 3 (target <= {CANCEL_TARGET_S} s; "
                  f"ratio {max(cancels) / CANCEL_TARGET_S:.2f} of target)")  # fmt: skip
            if max(cancels) > CANCEL_TARGET_S:
                failures.append("cancel -> stopped")

            store = manager.store
            foreground(store, fit_config.replace(epochs=1))  # this process's first-fit imports
            ratios, cpu_ratios = [], []
            for i in range(args.pairs):
                order = ("fg", "bg") if i % 2 == 0 else ("bg", "fg")
                times = {
                    side: foreground(store, fit_config)
                    if side == "fg"
                    else background(manager, fit_config)
                    for side in order
                }
                ratios.append(times["bg"][0] / times["fg"][0])
                cpu_ratios.append(times["bg"][1] / times["fg"][1])
                print(f"pair {i + 1}: wall foreground {times['fg'][0]:.2f} s, background "
                      f"{times['bg'][0]:.2f} s, ratio {ratios[-1]:.3f} | CPU foreground "
                      f"{times['fg'][1]:.2f} s, background {times['bg'][1]:.2f} s, ratio "
                      f"{cpu_ratios[-1]:.3f} | load {os.getloadavg()[0]:.1f}")  # fmt: skip
            med_ratio = statistics.median(ratios)
            print(f"background job vs foreground fit ({args.dataset}, max_samples "
                  f"{args.max_samples}, {args.epochs} epochs): median wall ratio "
                  f"{med_ratio:.3f} (target <= {RATIO_TARGET}); median CPU-time ratio "
                  f"{statistics.median(cpu_ratios):.3f}")  # fmt: skip
            if med_ratio > RATIO_TARGET:
                failures.append("background vs foreground")
        finally:
            manager.shutdown()
    if failures:
        print("MISSED: " + ", ".join(failures))
        return 1
    print("all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
