"""The Train page: the settings form, validation, Start -> the store, and the live panel.

This module's job manager has real worker processes, so a run started from the page is
trained in the background exactly as in the app (digits, 2 epochs, a few hundred images).
"""

from __future__ import annotations

import pytest
from app_helpers import (
    by_label,
    make_completed_run,
    no_exception,
    open_page,
    plotly_figures,
    query_param,
    texts,
    trace_points,
    wait_for,
)

from aevae_core.config import TrainConfig
from aevae_core.jobs.runner import execute_run

TRAIN = "pages/train.py"
RUN_TIMEOUT_S = 120  # forkserver start (imports torch) + 2 tiny epochs, on a loaded machine


@pytest.fixture(scope="module")
def env(live_app_env):
    return live_app_env


@pytest.fixture(scope="module")
def trained_run(env) -> str:
    return make_completed_run(env.store)


def start_button(at):
    return by_label(at.button, "Start training")


def test_form_has_the_settings_that_matter(env):
    at = open_page(TRAIN)
    no_exception(at)
    assert by_label(at.selectbox, "Dataset").value == "digits"
    assert "digits" in by_label(at.selectbox, "Dataset").options[0]
    model = by_label(at.selectbox, "Model")
    assert {"AE", "VAE", "beta-VAE", "Denoising AE"} <= set(model.options)
    for label in ("Latent dimension", "Learning rate", "Batch size", "Epochs"):
        assert by_label(at.number_input, label).value > 0
    assert by_label(at.text_input, "Hidden sizes").value
    assert not start_button(at).disabled
    assert not at.error
    # Nothing selected yet: the live panel invites the user to start a run.
    assert "Start a run" in texts(at.info)


def test_model_choice_changes_the_form(env):
    at = open_page(TRAIN)
    by_label(at.selectbox, "Model").set_value("AE").run()
    no_exception(at)
    assert not [w for w in at.number_input if w.label.startswith("β")], "an AE has no β"
    by_label(at.selectbox, "Model").set_value("beta-VAE").run()
    beta = next(w for w in at.number_input if w.label.startswith("β"))
    assert not beta.disabled and beta.value != 1.0
    by_label(at.selectbox, "Model").set_value("Denoising AE").run()
    assert by_label(at.slider, "Input noise").value > 0
    assert not start_button(at).disabled


def test_unparseable_hidden_sizes_show_an_error_and_disable_start(env):
    at = open_page(TRAIN)
    by_label(at.text_input, "Hidden sizes").input("12,x").run()
    no_exception(at)
    assert at.error, "no st.error for hidden sizes '12,x'"
    assert "12,x" in texts(at.error)
    assert start_button(at).disabled
    by_label(at.text_input, "Hidden sizes").input("64,32").run()
    assert not at.error
    assert not start_button(at).disabled


def test_out_of_range_setting_shows_an_error_and_disables_start(env):
    at = open_page(TRAIN)
    by_label(at.text_input, "Hidden sizes").input("64,64,64,64,64,64,64").run()  # 7 layers
    no_exception(at)
    assert "hidden" in texts(at.error)
    assert start_button(at).disabled


def test_conv_too_deep_for_digits_shows_an_error_and_disables_start(env):
    """5 stride-2 conv layers would shrink an 8x8 digit below one pixel."""
    at = open_page(TRAIN)
    by_label(at.selectbox, "Architecture").set_value("conv").run()
    by_label(at.text_input, "Conv channels").input("8,8,8,8,8").run()
    no_exception(at)
    assert at.error, "no st.error for 5 conv layers on 8x8 digits (the run could only fail)"
    assert start_button(at).disabled
    by_label(at.text_input, "Conv channels").input("8,16").run()
    assert not at.error
    assert not start_button(at).disabled


def test_start_queues_the_run_and_the_live_panel_follows_it(env):
    before = {r["id"] for r in env.store.list_runs()}
    at = open_page(TRAIN)
    by_label(at.number_input, "Epochs").set_value(2).run()
    by_label(at.number_input, "Max images (0 = all)").set_value(300).run()
    start_button(at).click().run()
    no_exception(at)

    new = [r for r in env.store.list_runs() if r["id"] not in before]
    assert len(new) == 1, "one click on Start makes exactly one run"
    run = new[0]
    config = TrainConfig.from_json(run["config"])
    assert (config.dataset, config.epochs, config.max_samples) == ("digits", 2, 300)
    assert query_param(at, "run") == run["id"], "the URL names the run (shareable link)"
    # The live panel shows the new run (queued or already training).
    assert any(run["id"] in s.value for s in at.subheader)

    final = env.manager.wait(run["id"], timeout=RUN_TIMEOUT_S)
    assert final["status"] == "completed", final["reason"]
    at.run()
    no_exception(at)
    assert "Completed 2 epochs" in texts(at.success)
    figures = plotly_figures(at)
    curves = figures.get(f"live_curves_{run['id']}")
    assert curves is not None, f"no loss chart; charts: {list(figures)}"
    assert trace_points(curves) > 0


def test_live_panel_shows_a_run_from_the_url(env, trained_run):
    at = open_page(TRAIN, {"run": trained_run})
    no_exception(at)
    assert any(trained_run in s.value for s in at.subheader)
    assert "Completed 2 epochs" in texts(at.success)
    assert trace_points(plotly_figures(at)[f"live_curves_{trained_run}"]) > 0
    assert f"live_recon_{trained_run}" in plotly_figures(at)
    # The form stays usable beside the panel.
    assert not start_button(at).disabled


def test_stop_button_stops_a_running_run(env):
    at = open_page(TRAIN)
    by_label(at.number_input, "Epochs").set_value(500).run()
    start_button(at).click().run()
    run_id = at.session_state["run_id"]
    wait_for(
        lambda: env.store.get_run(run_id)["status"] != "queued",
        RUN_TIMEOUT_S,
        "the worker to start the run",
    )
    at.run()
    stop = by_label(at.button, "Stop")
    stop.click().run()
    no_exception(at)
    final = env.manager.wait(run_id, timeout=30)
    assert final["status"] == "stopped", final
    at.run()
    no_exception(at)
    assert "Stopped" in texts(at.warning)
    assert not [b for b in at.button if b.label == "Stop"], "a stopped run has no Stop button"


def test_a_failed_run_with_a_checkpoint_resumes_from_the_live_panel(env):
    """A worker killed after its first epoch leaves a failed run with a checkpoint: the
    panel offers Resume, and the run is queued again and completes."""
    store = env.store
    run_id = store.create_run(
        TrainConfig(dataset="digits", epochs=2, batch_size=64), status="running"
    )
    execute_run(store, run_id, stop=lambda: store.get_run(run_id)["last_epoch"] >= 1)
    assert store.get_run(run_id)["last_epoch"] == 1
    assert store.finish(run_id, "failed", "the worker was killed (test)", only_if=("stopped",))
    at = open_page(TRAIN, {"run": run_id})
    no_exception(at)
    by_label(at.button, "Resume from the last checkpoint").click().run()
    no_exception(at)
    assert not at.error, texts(at.error)
    run = wait_for(
        lambda: (r := env.store.get_run(run_id))["status"] == "completed" and r,
        RUN_TIMEOUT_S, "the resumed run to complete",
    )  # fmt: skip
    assert run["last_epoch"] == 2


def test_a_model_switch_resets_the_other_models_settings(env):
    """Issue 12: a DAE's noise set to 0.7 must not follow the student to the AE trained next,
    and comes back as the default (0.3) if the DAE is chosen again."""
    at = open_page(TRAIN)
    by_label(at.selectbox, "Model").set_value("Denoising AE").run()
    by_label(at.slider, "Input noise").set_value(0.7).run()
    assert by_label(at.slider, "Input noise").value == pytest.approx(0.7)
    by_label(at.selectbox, "Model").set_value("AE").run()
    no_exception(at)
    assert not [w for w in at.slider if w.label == "Input noise"], "an AE shows no noise"
    assert "train_noise" not in at.session_state, "the DAE's noise was kept"
    by_label(at.selectbox, "Model").set_value("Denoising AE").run()
    assert by_label(at.slider, "Input noise").value == pytest.approx(0.3)


def test_momentum_has_a_field_only_for_sgd_with_momentum(env):
    at = open_page(TRAIN)
    assert not [w for w in at.number_input if w.label == "Momentum"], "Adam has no momentum"
    by_label(at.selectbox, "Optimiser").set_value("momentum").run()
    no_exception(at)
    field = by_label(at.number_input, "Momentum")
    assert field.value == pytest.approx(0.9)
    field.set_value(0.5).run()
    assert not at.error and not start_button(at).disabled


def test_the_eta_counts_down_between_log_rows():
    """Issue 12: with no new row the estimate grew (9 s -> 18 s); now it counts down."""
    from pages.ui.train_live import _eta

    steps = [{"step": 10, "time": 100.0}, {"step": 110, "time": 110.0}]  # 10 steps/s
    etas = [_eta(steps, 310, now=110.0 + dt) for dt in (0.0, 1.0, 5.0, 30.0)]
    assert etas == [" · about 20 s left", " · about 19 s left", " · about 15 s left",
                    " · about 0 s left"]  # fmt: skip


def test_the_sidebar_and_the_panel_name_the_same_epoch():
    from pages.ui.jobs_list import epoch_label

    run = {"status": "running", "last_epoch": 3, "epochs": 20}
    assert epoch_label(run) == "epoch 4/20"  # the fourth is in progress
    assert epoch_label({**run, "status": "completed", "last_epoch": 20}) == "epoch 20/20"
    assert epoch_label({**run, "last_epoch": 20}) == "epoch 20/20"
