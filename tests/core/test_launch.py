"""Starting workers: GPUs found without torch, one GPU per job, workers at low priority."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from aevae_core.config import TrainConfig
from aevae_core.engine import devices as system
from aevae_core.engine import preflight
from aevae_core.jobs import launch, processes
from aevae_core.jobs import manager as jobs
from aevae_core.jobs.launch import pick_gpu

REPO = Path(__file__).resolve().parents[2]
SMI_OUTPUT = "0, NVIDIA H200, 140000\n1, NVIDIA H200, 1000\n2, NVIDIA A100, 30000\n"


@pytest.fixture
def fake_smi(tmp_path, monkeypatch):
    """An ``nvidia-smi`` on the PATH that reports three GPUs (no pynvml is installed here)."""
    script = tmp_path / "bin" / "nvidia-smi"
    script.parent.mkdir()
    script.write_text(f"#!/bin/sh\nprintf '{SMI_OUTPUT}'\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{script.parent}:{os.environ['PATH']}")
    monkeypatch.setattr(system, "_nvml_query", lambda: None)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    system.gpu_devices.cache_clear()
    yield
    system.gpu_devices.cache_clear()


def test_gpus_through_nvidia_smi_honour_cuda_visible_devices(fake_smi, monkeypatch):
    assert system.gpu_devices() == ((0, "NVIDIA H200"), (1, "NVIDIA H200"), (2, "NVIDIA A100"))
    assert system.device_summary(1) == "GPU: NVIDIA H200, NVIDIA H200, NVIDIA A100"
    assert system.gpu_free_memory(1) == 1000 * 2**20
    assert system.gpu_free_memory(3) is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")  # CUDA's order: cuda:0 is GPU 2
    assert [row[0] for row in system.query_gpus()] == [2, 0]
    assert system.gpu_free_memory(0) == 30000 * 2**20
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert system.query_gpus() == []
    assert preflight.free_memory("cuda") is None  # no GPU visible: cannot tell


def test_no_nvidia_tools_means_cpu(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no nvidia-smi
    monkeypatch.setattr(system, "_nvml_query", lambda: None)
    system.gpu_devices.cache_clear()
    try:
        assert system.gpu_devices() == () and not processes.gpu_available()
        assert system.device_summary(1).startswith("CPU: ")
    finally:
        system.gpu_devices.cache_clear()


def test_pick_gpu_spreads_jobs_then_doubles_up_to_the_per_device_limit():
    gpus, busy = [0, 1, 2], []
    for _ in range(6):
        busy.append(pick_gpu(gpus, busy, per_device=2))
    assert busy == [0, 1, 2, 0, 1, 2]
    assert pick_gpu(gpus, busy, per_device=2) is None  # every GPU runs 2 jobs
    assert pick_gpu(gpus, [0, 0, 1], per_device=2) == 2  # the least loaded
    assert pick_gpu([3, 5], [None, 5], per_device=1) == 3  # physical indices, CPU jobs ignored
    assert pick_gpu([], [], per_device=4) is None


class FakeProcess:
    """Stands in for a worker process: alive until told otherwise, never started for real."""

    def __init__(self, gpu: int | None) -> None:
        self.gpu, self.pid, self.exitcode = gpu, os.getpid(), None

    def start(self) -> None:
        pass

    def is_alive(self) -> bool:
        return True

    def join(self, timeout: float | None = None) -> None:
        pass


def test_several_gpus_one_gpu_per_job_and_max_workers_per_gpu(fake_smi, monkeypatch, runs_dir):
    monkeypatch.setattr(preflight, "free_memory", lambda device: None)
    started: list[int | None] = []

    def process(self, root, run_id, threads, gpu):
        started.append(gpu)
        return FakeProcess(gpu)

    monkeypatch.setattr(launch.Launcher, "process", process)
    manager = jobs.JobManager(runs_dir, max_workers=2, start=False)
    assert manager.gpus == (0, 1, 2) and manager.capacity == 6
    assert manager.threads_per_job == max(1, (processes.cpu_count() - 1) // 6)
    manager._launcher.ready.set()  # as if the forkserver were up (nothing is forked here)
    ids = [manager.submit(TrainConfig(epochs=1, seed=i)) for i in range(7)]
    manager.tick()
    assert started == [0, 1, 2, 0, 1, 2]
    assert manager.store.get_run(ids[-1])["status"] == "queued"  # no GPU slot left
    with manager._lock:
        manager._active.clear()  # stop the fake workers without recording anything
        manager._gpu_of.clear()


def test_one_gpu_or_none_keeps_one_pool_and_no_gpu_assignment(monkeypatch, runs_dir):
    monkeypatch.setattr(system, "gpu_devices", lambda: ((0, "NVIDIA H200"),))
    manager = jobs.JobManager(runs_dir, max_workers=3, start=False)
    assert manager.gpus == () and manager.capacity == 3


def test_worker_nice_setting(monkeypatch, caplog):
    monkeypatch.delenv("AEVAE_WORKER_NICE", raising=False)
    assert processes.worker_nice() == 10
    monkeypatch.setenv("AEVAE_WORKER_NICE", "4")
    assert processes.worker_nice() == 4
    for bad in ("high", "-5", "20"):
        monkeypatch.setenv("AEVAE_WORKER_NICE", bad)
        assert processes.worker_nice() == 10
    assert "AEVAE_WORKER_NICE='20': allowed: an integer from 0 to 19" in caplog.text


@pytest.mark.parametrize("setting", ["7", "18"])
def test_lower_priority_raises_niceness_and_never_lowers_it(setting):
    code = (
        "import os; from aevae_core.jobs.processes import lower_priority as l; "
        "print(l(), os.nice(0))"
    )
    env = {**os.environ, "AEVAE_WORKER_NICE": setting}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=60, check=True,
    ).stdout.split()  # fmt: skip
    expected = max(os.nice(0), int(setting))  # the child starts at this process's niceness
    assert out == [str(expected), str(expected)]


def niceness(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[16])  # field 19: nice


def test_a_job_trains_at_the_workers_niceness(managers, monkeypatch):
    from jobs_helpers import QUICK, wait_final, wait_until, worker_pid

    monkeypatch.setenv("AEVAE_WORKER_NICE", "19")  # the job adopts the manager's setting now
    manager = managers(max_workers=1)
    run_id = manager.submit(QUICK.replace(epochs=200))
    pid = worker_pid(manager.store, run_id)
    assert wait_until(lambda: niceness(pid) == 19, "the worker's niceness", timeout=30)
    forkserver = launch.multiprocessing.forkserver._forkserver._forkserver_pid
    assert niceness(forkserver) >= min(19, processes.WORKER_NICE)  # set before torch's import
    manager.cancel(run_id)
    assert wait_final(manager.store, run_id)["status"] == "stopped"
