"""Runs: the table, its filters, downloads, and deleting a run (only after confirming)."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from app_helpers import (
    by_label,
    make_completed_run,
    make_finished_run,
    no_exception,
    open_page,
    texts,
)

RUNS = "pages/runs.py"


@pytest.fixture(scope="module")
def runs(app_env) -> dict[str, str]:
    """A trained run, a failed AE on sprites and a queued run (no workers: it stays queued)."""
    store = app_env.store
    return {
        "trained": make_completed_run(store),
        "failed": make_finished_run(store, "failed", model="ae", dataset="sprites"),
        "queued": app_env.manager.submit(store.config(make_finished_run(store))),
    }


def table(at):
    assert len(at.dataframe) == 1, "one runs table"
    return at.dataframe[0].value


def test_table_lists_every_run(app_env, runs):
    at = open_page(RUNS)
    no_exception(at)
    df = table(at)
    assert set(df["run"]) == {r["id"] for r in app_env.store.list_runs()}
    assert set(runs.values()) <= set(df["run"])
    row = df[df["run"] == runs["trained"]].iloc[0]
    assert row["status"] == "completed" and row["epochs"] == "2/2"
    assert row["val loss (nats/image)"] > 0  # BCE on grey pixels: positive


def test_filters_narrow_the_table(app_env, runs):
    at = open_page(RUNS)
    for label in ("Status", "Dataset", "Model"):
        assert by_label(at.multiselect, label).value == []
    by_label(at.multiselect, "Status").set_value(["failed"]).run()
    no_exception(at)
    assert list(table(at)["run"]) == [runs["failed"]]
    by_label(at.multiselect, "Status").set_value([]).run()
    by_label(at.multiselect, "Dataset").set_value(["digits"]).run()
    assert runs["failed"] not in set(table(at)["run"])
    assert runs["trained"] in set(table(at)["run"])
    by_label(at.multiselect, "Model").set_value(["ae"]).run()
    assert table(at).empty  # no AE on digits


def test_selected_run_offers_downloads(app_env, runs):
    at = open_page(RUNS, {"run": runs["trained"]})
    no_exception(at)
    assert runs["trained"] in texts(at.subheader)
    labels = {b.label: b for b in at.get("download_button")}
    assert {"config.json", "metrics.csv", "metrics per step (CSV)", "checkpoint (.pt)"} <= set(
        labels
    )


def test_metrics_download_per_step_and_per_epoch_hold_the_stores_rows(app_env, runs, monkeypatch):
    """Each CSV the page offers has a column per key of the store's rows and a line per row."""
    import pages.ui.exports as exports

    offered, real = {}, exports.metrics_download

    def spy(where, rows, label, name, *, key):
        offered[label] = (name, exports.metrics_csv(rows))
        real(where, rows, label, name, key=key)

    monkeypatch.setattr(exports, "metrics_download", spy)
    run_id = runs["trained"]
    at = open_page(RUNS, {"run": run_id})
    no_exception(at)
    buttons = {b.label: b for b in at.get("download_button")}
    assert not buttons["metrics per step (CSV)"].proto.disabled
    for label, kind, name in (
        ("metrics per step (CSV)", "step", f"{run_id}-metrics-per-step.csv"),
        ("metrics.csv", "epoch", f"{run_id}-metrics.csv"),
    ):
        rows = app_env.store.metrics(run_id, kind)
        assert offered[label][0] == name
        table = pd.read_csv(io.StringIO(offered[label][1]))
        assert list(table.columns) == list(dict.fromkeys(k for r in rows for k in r))
        assert len(table) == len(rows) > (2 if kind == "step" else 1)
        assert table["step"].tolist() == [r["step"] for r in rows]
        assert np.allclose(table["time"], [r["time"] for r in rows], rtol=0, atol=1e-3)
    step_table = pd.read_csv(io.StringIO(offered["metrics per step (CSV)"][1]))
    assert {"epoch", "step", "loss", "recon", "kl", "beta"} <= set(step_table.columns)
    assert np.allclose(
        step_table["loss"], [r["loss"] for r in app_env.store.metrics(run_id, "step")]
    )


def test_a_run_without_metrics_offers_no_metrics_csv(app_env, runs):
    at = open_page(RUNS, {"run": runs["failed"]})
    no_exception(at)
    buttons = {b.label: b for b in at.get("download_button")}
    assert buttons["metrics per step (CSV)"].proto.disabled
    assert buttons["metrics.csv"].proto.disabled


def test_metrics_csv_writes_lists_as_json_and_keeps_every_key():
    from pages.ui.exports import metrics_csv

    rows = [{"epoch": 1, "kl_per_dim": [0.5, 1.25]}, {"epoch": 2, "extra": 3.0}]
    table = pd.read_csv(io.StringIO(metrics_csv(rows)))
    assert list(table.columns) == ["epoch", "kl_per_dim", "extra"]
    assert json.loads(table["kl_per_dim"][0]) == [0.5, 1.25]
    assert table["extra"].isna().tolist() == [True, False]
    assert metrics_csv([]) == ""


def test_selected_run_says_its_backend_and_node(app_env, runs):
    at = open_page(RUNS, {"run": runs["trained"]})
    assert "(local backend)" in texts(at.caption)  # a foreground run: this host
    on_ray = make_finished_run(app_env.store, "failed")
    app_env.store.set_placement(on_ray, "ray", "gpu-node-3 (10.0.0.7)")
    at = open_page(RUNS, {"run": on_ray})
    no_exception(at)
    assert "Ran on gpu-node-3 (10.0.0.7) (ray backend)" in texts(at.caption)


def test_delete_requires_confirmation_and_removes_the_run(app_env, runs):
    victim = make_finished_run(app_env.store, "stopped")
    folder = app_env.store.run_dir(victim)
    at = open_page(RUNS, {"run": victim})
    no_exception(at)
    delete = by_label(at.button, "Delete")
    assert delete.disabled, "Delete is disabled until the checkbox is ticked"

    confirm = next(c for c in at.checkbox if c.label.startswith("Yes, delete"))
    assert victim in confirm.label
    confirm.check().run()
    delete = by_label(at.button, "Delete")
    assert not delete.disabled
    delete.click().run()
    no_exception(at)

    remaining = {r["id"] for r in app_env.store.list_runs()}
    assert victim not in remaining
    assert set(runs.values()) <= remaining, "only the selected run is deleted"
    assert not folder.exists()
    assert victim not in set(table(at)["run"])


def test_active_run_must_be_stopped_before_deleting(app_env, runs):
    at = open_page(RUNS, {"run": runs["queued"]})
    no_exception(at)
    assert not [b for b in at.button if b.label == "Delete"]
    by_label(at.button, "Stop").click().run()
    no_exception(at)
    assert app_env.store.get_run(runs["queued"])["status"] == "stopped"
    assert by_label(at.button, "Delete").disabled  # now deletable, after confirming
