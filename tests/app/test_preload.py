"""The server's background import of torch waits for a quiet server, and the Train page's
dataset preview waits for it instead of importing torch in the render (issue 13).

Imported while a page renders, torch (about 2 s, most of it holding the GIL) held Home's
first render from about 3 to 5.5 s; imported by the Train page's preview, it held the live
panel beside it. pages/ui/preload.py and pages/ui/train_data.py.
"""

from __future__ import annotations

import threading
import time

import pytest
from app_helpers import no_exception, open_page, plotly_figures, texts, trace_points

import pages.ui.preload as preload
import pages.ui.train_data as train_data

TRAIN = "pages/train.py"


class FakeStore:
    def __init__(self) -> None:
        self.active: list[dict] = []

    def list_runs(self, *, statuses=None):
        return [r for r in self.active if statuses is None or r["status"] in statuses]


class FakeManager:
    def __init__(self) -> None:
        self.store = FakeStore()


@pytest.fixture
def quiet_state(monkeypatch):
    monkeypatch.setattr(preload, "QUIET_S", 0.3)
    monkeypatch.setattr(preload, "QUIET_POLL_S", 0.02)
    monkeypatch.setattr(preload, "_last_script_run", [0.0])
    return FakeManager()


def test_the_server_is_quiet_only_without_a_recent_script_run_or_an_active_run(quiet_state):
    manager = quiet_state
    assert preload.server_quiet(manager)
    preload.note_script_run()  # a page is being drawn
    assert not preload.server_quiet(manager)
    time.sleep(0.35)
    assert preload.server_quiet(manager)
    for status in ("queued", "running"):  # about to start (the forkserver shares the
        manager.store.active = [{"status": status}]  # cores), or a live curve to freeze
        assert not preload.server_quiet(manager), status
    manager.store.active = [{"status": "completed"}]
    assert preload.server_quiet(manager)


def test_the_second_stage_imports_torch_only_once_the_server_is_quiet(quiet_state, monkeypatch):
    manager = quiet_state
    manager.store.active = [{"status": "running"}]  # the quick start trains
    light, heavy = threading.Event(), threading.Event()
    monkeypatch.setattr(preload, "LIGHT", ())
    monkeypatch.setattr(preload, "_preload_state", {**preload._preload_state, "manager": manager})
    real_import = preload.importlib.import_module
    monkeypatch.setattr(preload, "_import_torch_and_analysis", heavy.set)
    monkeypatch.setattr(
        preload.importlib, "import_module", lambda name: (light.set(), real_import(name))[1]
    )
    worker = threading.Thread(target=preload._preload, daemon=True)
    worker.start()
    assert not heavy.wait(0.5), "torch was imported while a run trained"
    manager.store.active = []
    preload.note_script_run()  # and a page is drawn just then
    assert not heavy.wait(0.2), "torch was imported right after a script run"
    assert heavy.wait(5), "torch was never imported on a quiet server"
    worker.join(5)


def test_the_train_page_waits_for_torch_to_draw_its_dataset_preview(app_env, monkeypatch):
    ready = {"value": False}
    monkeypatch.setattr(train_data, "torch_ready", lambda: ready["value"])
    at = open_page(TRAIN)
    no_exception(at)
    assert "Loading a preview of the dataset" in texts(at.caption)
    assert "train_preview" not in plotly_figures(at)
    assert at.button, "the form and its Start button are drawn meanwhile"

    ready["value"] = True  # the background import is done: the next refresh draws it
    at.run()
    no_exception(at)
    assert "Loading a preview of the dataset" not in texts(at.caption)
    assert "**digits**: " in texts(at.caption)
    assert "train_preview" in plotly_figures(at)


def test_a_preview_that_waited_too_long_imports_torch_itself(app_env, monkeypatch):
    monkeypatch.setattr(train_data, "torch_ready", lambda: False)  # a server never quiet
    monkeypatch.setattr(train_data, "PREVIEW_WAIT_S", 0.5)
    at = open_page(TRAIN)
    assert "Loading a preview of the dataset" in texts(at.caption)
    time.sleep(0.6)
    at.run()  # the wait is over: the page reruns and the preview loads the data itself
    no_exception(at)
    assert "train_preview" in plotly_figures(at)
    assert "Loading a preview of the dataset" not in texts(at.caption)


def test_a_queued_run_shows_its_empty_loss_chart_at_once(app_env):
    """Drawn empty while the run waits for a worker: the browser loads Plotly (about a second
    on a laptop) then, not when the first point arrives (app_env's runs stay queued)."""
    from aevae_core.lessons.experiments import QUICK_START

    run_id = app_env.manager.submit(QUICK_START, owner="local")
    at = open_page(TRAIN, {"run": run_id})
    no_exception(at)
    assert app_env.store.get_run(run_id)["status"] == "queued"
    curves = plotly_figures(at).get(f"live_curves_{run_id}")
    assert curves is not None, "no loss chart while the run is queued"
    assert trace_points(curves) == 0
