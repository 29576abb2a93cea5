"""The live panel of a run: status, progress with ETA, loss curves, reconstructions, Stop.

It refreshes itself (``st.fragment(run_every=…)``) only while the run is queued or running,
and reads nothing but the run store, so a refresh, a second tab or another student's browser
all show the same run. ``train_refresh.refresh_every`` says how often (a class of 30 shares
one server); a full rerun sets it again when the status changes, and a refresh after the
first point is drawn.
"""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from aevae_core.config import LEGACY_SIGMA, TrainConfig
from aevae_core.explore.metric_labels import likelihood_note
from aevae_core.plots.figures import image_grid, loss_curves, loss_description
from aevae_core.store.record import ACTIVE, Run
from pages.ui.classroom import control, refusal
from pages.ui.common import get_run, manager, store, view
from pages.ui.jobs_list import epoch_label
from pages.ui.preload import note_script_run
from pages.ui.train_refresh import first_step, refresh_every

SUGGESTIONS = {
    "diverged": "Lower the learning rate (e.g. 10x smaller) or switch to Adam, then train again.",
    "failed": "Check the message above; a smaller batch size, model or dataset often helps.",
    "interrupted": "The server stopped while it ran. Resume it from its last checkpoint.",
    "stopped": "You can resume it from its last checkpoint or start a new run.",
}


def status_message(run: Run) -> None:
    """The run's status in words, with the reason and a suggestion for every bad ending."""
    status, reason = run["status"], run["reason"]
    if status == "completed":
        st.success(f"Completed {run['last_epoch']} epochs.", icon=":material/check_circle:")
    elif status == "queued":
        pos = view().queue_position(run["id"])
        st.info(
            f"Queued{f' (position {pos})' if pos else ''}: it starts when a worker is free.",
            icon=":material/hourglass_top:",
        )
    elif status == "running":
        st.info("Training…", icon=":material/directions_run:")
    else:
        text = f"**{status.capitalize()}**: {reason or 'no reason recorded'}"
        hint = SUGGESTIONS.get(status)
        (st.error if status in ("failed", "diverged") else st.warning)(
            text + (f"\n\n{hint}" if hint else ""), icon=":material/error:"
        )


def _eta(steps: list[dict], total: int, now: float | None = None) -> str:
    """Remaining time from the step rate between the first and last logged steps (start-up
    excluded), counted down since the last (with ``now`` in the rate it jumped 9 -> 18 s)."""
    if len(steps) < 2 or not total or steps[-1]["step"] <= steps[0]["step"]:
        return ""
    span = max(1e-6, steps[-1]["time"] - steps[0]["time"])
    rate = (steps[-1]["step"] - steps[0]["step"]) / span
    since = max(0.0, (time.time() if now is None else now) - steps[-1]["time"])
    left = max(0.0, max(0, total - steps[-1]["step"]) / rate - since)
    return f" · about {left:.0f} s left" if left < 120 else f" · about {left / 60:.0f} min left"


def _progress(run: Run, steps: list[dict]) -> None:
    total = run["total_steps"] or 0
    last_step = steps[-1] if steps else None
    step = max(run["last_step"] or 0, last_step["step"] if last_step else 0)
    eta = _eta(steps, total) if run["status"] == "running" else ""
    # The same words as the sidebar's job list (common.epoch_label), from the same row.
    text = f"{epoch_label(run)} · step {step}/{total or '?'}{eta}"
    st.progress(min(1.0, step / total) if total else 0.0, text=text)


# Figures are cached per server (st.cache_resource: no copy per session) under what they are
# drawn from: 30 watching sessions rebuild one (tens of ms) only when its data changed.
@st.cache_resource(show_spinner=False, max_entries=128)
def _recon_figure(run_id: str, epoch: int, mtime_ns: int) -> object:
    snap = store().read_snapshot(run_id, epoch)
    n = min(8, len(snap["images"]))  # 8 readable tiles fit the live column
    pairs = np.concatenate([snap["images"][:n], snap["recons"][:n]])
    return image_grid(pairs, ncols=n)


@st.cache_resource(show_spinner=False, max_entries=128)
def _curves_figure(run_id: str, n_rows: tuple[int, int], last_step: int, variational: bool,
                   steps_per_epoch: int, _epochs: list, _steps: list) -> object:  # fmt: skip
    """Keyed by the rows' counts and last step; the rows themselves (underscore: not hashed)
    are the ones the panel has just read, so a miss reads nothing twice."""
    return loss_curves(_epochs, _steps, variational=variational, steps_per_epoch=steps_per_epoch)


def _reconstructions(run_id: str) -> None:
    epochs = store().snapshot_epochs(run_id)
    if not epochs:
        return
    try:
        mtime = store().snapshot_path(run_id, epochs[-1]).stat().st_mtime_ns
    except OSError:  # deleted meanwhile
        return
    st.caption(f"Validation images (top) and their reconstructions (bottom), epoch {epochs[-1]}")
    st.plotly_chart(
        _recon_figure(run_id, epochs[-1], mtime),
        key=f"live_recon_{run_id}",
        config={"displayModeBar": False},
    )


def _panel(run_id: str, shown_status: str | None = None, stepped: bool = True) -> None:
    note_script_run()  # a refresh counts as drawing: torch's import waits (preload.py)
    run = get_run(run_id)
    if run is None:
        st.warning("This run no longer exists.")
        return
    if shown_status in ACTIVE and run["status"] != shown_status:
        st.rerun()  # queued -> running, or ended: a full rerun sets the refresh interval
    if st.session_state.pop(f"first_point_{run_id}", False) and not stepped:
        st.rerun()  # the first point went out a refresh ago: now the slower refresh
    st.subheader(f"{run['model'].upper()} on {run['dataset']} · {run_id}")
    status_message(run)
    steps = view().metrics(run, "step")
    epochs = view().metrics(run, "epoch")
    if run["status"] in ("running", "stopped", "interrupted") or steps:
        _progress(run, steps)
    # Another student's run: the controls are shown disabled, with the reason under them.
    refused = refusal(run)
    if run["status"] in ACTIVE and st.button(
        "Stop", key=f"stop_{run_id}", icon=":material/stop_circle:", disabled=bool(refused),
        help=refused,
    ):  # fmt: skip
        manager().cancel(run_id, **control(run))
        st.rerun()
    # A failed run (worker killed, out of memory) resumes too, once it has a checkpoint; a
    # diverged one would diverge again with the same settings.
    resumable = run["last_epoch"] < run["epochs"] and (
        run["status"] in ("interrupted", "stopped")
        or (run["status"] == "failed" and run["last_epoch"] >= 1)
    )
    error_key = f"resume_error_{run_id}"
    if resumable and st.button(
        "Resume from the last checkpoint", key=f"resume_{run_id}", disabled=bool(refused),
        help=refused,
    ):  # fmt: skip
        try:
            manager().resume(run_id, **control(run))
        except ValueError as exc:  # kept across the rerun, shown below
            st.session_state[error_key] = str(exc)
        st.rerun()
    if refused and (run["status"] in ACTIVE or resumable):
        st.caption(refused)
    if error_key in st.session_state:
        st.error(f"Could not resume: {st.session_state.pop(error_key)}")
    # Drawn empty while the run waits for its first step: its axes show where the curves
    # will be, and the browser has loaded Plotly (about a second on a laptop) by then.
    if steps or epochs or run["status"] in ACTIVE:
        per_epoch = round(run["total_steps"] / run["epochs"]) if run["total_steps"] else 0
        last = steps[-1]["step"] if steps else 0
        fig = _curves_figure(
            run_id, (len(epochs), len(steps)), last, run["model"] == "vae", per_epoch, epochs, steps
        )
        st.plotly_chart(fig, key=f"live_curves_{run_id}")
        # A full rerun right away made the browser draw the whole page with the point (0.9 s
        # later on 2 cores); the next refresh reruns the page instead.
        if not stepped and steps:
            st.session_state[f"first_point_{run_id}"] = True
    if steps or epochs:
        sigma = epochs[-1].get("val_sigma") if epochs else None
        config = TrainConfig.from_json(run["config"])
        if config.recon == "mse" and epochs and sigma is None:  # trained before sigma existed
            config, sigma = config.replace(sigma=LEGACY_SIGMA), LEGACY_SIGMA
        note = likelihood_note(config, sigma)
        st.caption(f"{loss_description(epochs, run['model'] == 'vae')[1]} Nats per image. {note}")
    _reconstructions(run_id)


def live_panel(run_id: str) -> None:
    run = first_step(run_id, get_run(run_id))
    status = run["status"] if run is not None else None
    position, free = None, 0
    if status == "queued":
        position = view().queue_position(run_id)
        free = manager().capacity - len(manager().active_ids())  # jobs at once, every GPU
    stepped = run is not None and bool(view().metrics(run, "step"))  # as _panel reads them
    every = refresh_every(status, position, free, stepped)
    st.fragment(run_every=every)(_panel)(run_id, status, stepped)
