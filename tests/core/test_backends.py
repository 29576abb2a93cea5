"""Choosing a job backend (backends.py), and what the Ray backend asks for, without Ray:
the cluster itself is tested in tests/cluster."""

from __future__ import annotations

import importlib.util
import socket

import pytest
from jobs_helpers import QUICK, wait_final

from aevae_core import cli
from aevae_core.config import TrainConfig
from aevae_core.jobs import backends
from aevae_core.jobs.backends import BackendError, backend_name, make_backend
from aevae_core.jobs.ray_backend import RayBackend


def test_the_backend_comes_from_the_flag_then_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("AEVAE_BACKEND", raising=False)
    assert backend_name() == "local"
    monkeypatch.setenv("AEVAE_BACKEND", " Ray ")
    assert backend_name() == "ray"
    assert backend_name("local") == "local"  # the flag wins
    monkeypatch.setenv("AEVAE_BACKEND", "slurm")
    with pytest.raises(BackendError) as err:
        backend_name()
    assert str(err.value) == "'slurm' (AEVAE_BACKEND) is not a backend; allowed: local, ray"
    assert isinstance(make_backend("local"), backends.LocalBackend)


def test_a_bad_backend_is_one_line_from_the_cli(monkeypatch, capsys, tmp_path) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["worker", "--backend", "slurm", "--runs-dir", str(tmp_path)])
    assert exit_.value.code == 2
    assert "--backend: invalid choice: 'slurm'" in capsys.readouterr().err
    monkeypatch.setenv("AEVAE_BACKEND", "slurm")
    with pytest.raises(SystemExit) as exit_:
        cli.main(["worker", "--exit-when-idle", "--runs-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and len(err.splitlines()) == 1
    assert err == "aevae: error: --backend: 'slurm' (AEVAE_BACKEND) is not a backend; " \
        "allowed: local, ray"  # fmt: skip


def test_ray_without_ray_installed_says_how_to_install_it(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        backends.importlib.util, "find_spec", lambda n, *a: None if n == "ray" else real(n, *a)
    )
    with pytest.raises(BackendError, match="pip install -r requirements-cluster.txt"):
        make_backend("ray")


def test_a_ray_job_asks_for_cpus_and_for_gpus_only_when_it_trains_on_one(monkeypatch) -> None:
    monkeypatch.delenv("AEVAE_RAY_CPUS", raising=False)
    monkeypatch.delenv("AEVAE_RAY_GPUS", raising=False)
    backend = RayBackend()
    cpu, cuda, auto = (TrainConfig(device=d) for d in ("cpu", "cuda", "auto"))
    assert backend.task_options(cpu) == {"num_cpus": 1, "num_gpus": 0}
    assert backend.task_options(cuda) == {"num_cpus": 1, "num_gpus": 1}
    assert backend.task_options(auto)["num_gpus"] == 0  # a cluster without GPUs
    backend.cluster_gpus = 2.0
    assert backend.task_options(auto)["num_gpus"] == 1
    monkeypatch.setenv("AEVAE_RAY_CPUS", "4")
    monkeypatch.setenv("AEVAE_RAY_GPUS", "0.25")  # four jobs share a GPU
    assert RayBackend().task_options(cuda) == {"num_cpus": 4, "num_gpus": 0.25}
    monkeypatch.setenv("AEVAE_RAY_GPUS", "lots")
    assert RayBackend().gpus == 1  # a bad value: the default, with a warning


def test_a_local_run_records_its_backend_and_node(managers) -> None:
    manager = managers()
    assert manager.backend == "local"
    run_id = manager.submit(QUICK)
    run = wait_final(manager.store, run_id)
    assert run["status"] == "completed", run["reason"]
    assert (run["backend"], run["node"]) == ("local", socket.gethostname())
