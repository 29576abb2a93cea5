"""Compare reads the metrics each run's worker stored at its end (aevae_core/jobs/run_eval.py): with
four fresh runs it computes none; a run without stored metrics gets them in a background
thread while the page shows the others, and a later render shows them. The server side
never creates a CUDA context while drawing it."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import torch
from app_helpers import by_label, no_exception, open_page, plotly_figures, texts
from app_helpers import wait_for as poll_until

from aevae_core.config import TrainConfig
from aevae_core.explore import metric_labels, metrics, warmup
from aevae_core.jobs import run_eval
from aevae_core.jobs.runner import execute_run
from aevae_core.store.runs import RunStore

PAGE = "pages/compare.py"
RUNS_LABEL = "Runs to compare (2 to 4)"
PENDING = "Computing the metrics of"


def _trained(store: RunStore, **changes: Any) -> str:
    config = TrainConfig(dataset="digits", epochs=2, batch_size=64, hidden=(64,)).replace(**changes)
    run_id = store.create_run(config, status="running")
    execute_run(store, run_id)
    assert store.get_run(run_id)["status"] == "completed"
    return run_id


@pytest.fixture(scope="module")
def four(app_env) -> list[str]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(warmup, "warm_up", lambda *args, **kwargs: None)
        return [
            _trained(app_env.store, model="ae"),
            _trained(app_env.store, model="vae"),
            _trained(app_env.store, model="vae", beta=4.0),
            _trained(app_env.store, model="vae", seed=1),
        ]


def _table(at) -> Any:
    [table] = [d.value for d in at.dataframe if list(d.value.columns[:2]) == ["metric", "unit"]]
    return table


def _no_cuda_context(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail loudly if anything initialises CUDA (which creates a context on a GPU machine)."""
    calls: list[str] = []

    def refuse(*args, **kwargs):
        calls.append("cuda init")
        raise AssertionError("the server initialised CUDA")

    monkeypatch.setattr(torch.cuda, "_lazy_init", refuse)
    monkeypatch.setattr(torch._C, "_cuda_init", refuse, raising=False)
    return calls


def test_four_runs_render_from_stored_metrics_without_computing_any(app_env, four, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("Compare computed metrics on the render path")

    monkeypatch.setattr(metrics, "run_metrics", never)
    cuda = _no_cuda_context(monkeypatch)
    at = open_page(PAGE, {"runs": ",".join(four)})
    no_exception(at)
    assert by_label(at.multiselect, RUNS_LABEL).value == four
    table = _table(at).set_index("metric")
    assert len(table.columns) == 1 + 4, list(table.columns)  # unit + one column per run
    # The stored numbers, formatted as the table formats them.
    stored = run_eval.stored_metrics(app_env.store, four[1], 2)
    vae = f"VAE ({four[1][-6:]})"  # two VAEs with the same settings: told apart by id
    assert table.loc["Importance-weighted NLL", vae] == metric_labels.format_metric(
        "iw_nll", stored["iw_nll"]
    )
    assert PENDING not in texts(at.caption)
    assert f"{vae} {stored['prior_distance']:.2f}" in texts(at.caption)
    assert "cmp_rd" in plotly_figures(at), "two βs: rate-distortion from the stored KL"
    assert cuda == []


def test_a_run_without_stored_metrics_gets_them_in_the_background(app_env, four, monkeypatch):
    store = app_env.store
    lacking = four[2]  # the β-VAE: as a run trained before metrics were stored
    expected = run_eval.stored_metrics(store, lacking, 2)
    store.run_metrics_path(lacking, 2).unlink()
    calls = []
    rendered = threading.Event()  # the computation waits for the first render to end
    real = metrics.run_metrics

    def slow(*args, **kwargs):
        calls.append(1)
        assert rendered.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(metrics, "run_metrics", slow)
    at = open_page(PAGE, {"runs": ",".join(four)})
    rendered.set()
    no_exception(at)
    assert f"{PENDING} β-VAE β=4" in texts(at.caption)
    assert "β-VAE β=4" not in _table(at).columns, "drawn with what it has"
    assert len(_table(at).columns) == 2 + 3  # metric, unit and the three others
    poll_until(
        lambda: run_eval.stored_metrics(store, lacking, 2) is not None, 60, "background metrics"
    )
    at.run()  # what the polling fragment's st.rerun() does once they are stored
    no_exception(at)
    assert PENDING not in texts(at.caption)
    table = _table(at).set_index("metric")
    assert "β-VAE β=4" in table.columns
    assert table.loc["KL(q(z|x) ‖ p(z))", "β-VAE β=4"] == metric_labels.format_metric(
        "kl", expected["kl"]
    )
    assert calls == [1], "computed once, for the one run that lacked them"
    assert run_eval.stored_metrics(store, lacking, 2)["iw_nll"] == expected["iw_nll"]
