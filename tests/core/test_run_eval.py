"""Stored comparison metrics (aevae_core/jobs/run_eval.py): the worker computes them once at the end
of a completed run, before the run reads "completed", and they equal what the exploration
pages compute; runs that lack them get them in a background thread."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from aevae_core.config import TrainConfig
from aevae_core.explore import analysis, metrics
from aevae_core.jobs import run_eval, runner
from aevae_core.store.runs import RunStore


def _run(store: RunStore, **changes) -> str:
    config = TrainConfig(dataset="digits", epochs=2, batch_size=64, hidden=(32,)).replace(**changes)
    run_id = store.create_run(config, status="running")
    runner.execute_run(store, run_id, stop=lambda: False)
    return run_id


def _same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for key, value in a.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(b[key]), key
        else:
            assert value == b[key], (key, value, b[key])


@pytest.fixture
def store(tmp_path) -> RunStore:
    return RunStore(tmp_path / "runs")


def test_the_worker_stores_the_pages_metrics_before_the_run_reads_completed(
    store, monkeypatch
) -> None:
    statuses = []
    real = runner.store_run_metrics

    def watched(store_, run_id, epoch, **kw):
        statuses.append(store_.get_run(run_id)["status"])
        return real(store_, run_id, epoch, **kw)

    monkeypatch.setattr(runner, "store_run_metrics", watched)
    run_id = _run(store, model="vae")
    assert statuses == ["running"], "the metrics are stored while the run still reads running"
    assert store.get_run(run_id)["status"] == "completed"
    assert store.run_metrics_epochs(run_id) == [2]
    stored = run_eval.stored_metrics(store, run_id, 2)
    assert stored is not None and stored["epoch"] == 2

    # What pages/ui/explore.run_metrics computes for the same run and epoch (same images).
    model, config, _ = analysis.load_model(store, run_id, 2)
    x, y, factors, _, _ = analysis.load_split(config, "val", 1000)
    xt, yt, _, _, _ = analysis.load_split(config, "train", 2000)
    expected = metrics.run_metrics(model, config, x, y, factors, xt, yt)
    from aevae_core.lessons.checks import MAX_TRAIN_IMAGES, prior_sample_distance

    x_prior = analysis.load_split(config, "train", MAX_TRAIN_IMAGES)[0]
    expected["prior_distance"] = prior_sample_distance(model, x_prior)
    expected.update(epoch=2, version=run_eval.METRICS_VERSION)
    _same(stored, expected)
    assert stored["iw_nll"] > 0 and 0 <= stored["knn_accuracy"] <= 1


def test_a_failed_computation_leaves_the_run_completed_without_metrics(store, monkeypatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("no metrics today")

    monkeypatch.setattr(runner, "store_run_metrics", broken)
    run_id = _run(store, model="ae", epochs=1)
    assert store.get_run(run_id)["status"] == "completed"
    assert store.run_metrics_epochs(run_id) == []


def test_a_stopped_run_has_none_and_a_resume_drops_those_past_its_checkpoint(store) -> None:
    config = TrainConfig(dataset="digits", epochs=3, batch_size=64, hidden=(32,))
    run_id = store.create_run(config, status="running")
    ended: list[int] = []  # stop after the first epoch
    runner.execute_run(store, run_id, stop=lambda: bool(ended), on_epoch=ended.append)
    assert store.get_run(run_id)["status"] == "stopped"
    assert store.run_metrics_epochs(run_id) == []
    run_eval.store_run_metrics(store, run_id, 1)
    store.write_run_metrics(run_id, 3, {"version": run_eval.METRICS_VERSION})  # a stale one
    runner.prepare_resume(store, run_id)
    assert store.run_metrics_epochs(run_id) == [1]


def test_background_computes_once_and_then_reads(store, monkeypatch) -> None:
    run_id = _run(store, model="vae", epochs=1)
    store.run_metrics_path(run_id, 1).unlink()
    calls = []
    real = metrics.run_metrics
    monkeypatch.setattr(metrics, "run_metrics", lambda *a, **k: calls.append(1) or real(*a, **k))
    computer = run_eval.MetricsInBackground(store)
    assert computer.get(run_id, 1) is None, "never blocks: computed in the background"
    deadline = time.monotonic() + 60
    while (found := computer.get(run_id, 1)) is None and time.monotonic() < deadline:
        assert computer.error(run_id, 1) is None
        time.sleep(0.05)
    assert found is not None and store.run_metrics_epochs(run_id) == [1]
    assert calls == [1]
    assert run_eval.MetricsInBackground(store).get(run_id, 1) == found, "read from the store"
    assert calls == [1]

    store.write_run_metrics(run_id, 1, {**found, "version": -1})  # an older definition
    assert run_eval.stored_metrics(store, run_id, 1) is None


def test_background_reports_a_failure(store) -> None:
    run_id = _run(store, model="ae", epochs=1)
    store.run_metrics_path(run_id, 1).unlink()
    for path in store.run_dir(run_id).glob("checkpoints/*.pt"):
        path.unlink()
    computer = run_eval.MetricsInBackground(store)
    assert computer.get(run_id, 1) is None
    deadline = time.monotonic() + 30
    while computer.error(run_id, 1) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "no checkpoint" in computer.error(run_id, 1)
    assert computer.get(run_id, 1) is None  # not started again by itself
    computer.retry(run_id, 1)
    assert computer.get(run_id, 1) is None


def test_knn_accuracy_agrees_with_scikit_learn() -> None:
    neighbors = pytest.importorskip("sklearn.neighbors")
    rng = np.random.default_rng(0)
    for dims, n_train, n_classes in [(2, 2000, 10), (8, 300, 3), (20, 40, 5), (2, 4, 2)]:
        a = rng.normal(size=(n_train, dims)).astype(np.float32)
        b = rng.normal(size=(500, dims)).astype(np.float32)
        la, lb = rng.integers(0, n_classes, n_train), rng.integers(0, n_classes, 500)
        for k in (1, 5):
            clf = neighbors.KNeighborsClassifier(n_neighbors=min(k, n_train)).fit(a, la)
            expected = float((clf.predict(b) == lb).mean())
            assert metrics.knn_accuracy(a, la, b, lb, k) == expected, (dims, n_train, k)
