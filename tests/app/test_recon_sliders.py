"""The Reconstructions page's sliders: the Denoising tab's noise slider starts where the
lesson banner says (the run's training noise, else the lesson's level), its numbers are the
real MSEs of that noise level, and a slider move reuses the cached work of the other tabs."""

from __future__ import annotations

import numpy as np
from app_helpers import make_completed_run, no_exception, open_page, plotly_figures

from aevae_core.explore import analysis, reports
from aevae_core.lessons.experiments import DENOISE_NOISE, LESSONS_BY_KEY


def _metric(at, label: str) -> str:
    return next(m for m in at.metric if m.label == label).value


def _expected_mse(app_env, run_id: str, level: float) -> tuple[float, float]:
    m, config, _ = analysis.load_model(app_env.store, run_id)
    clean = analysis.load_split(config, "val", 1000)[0][:12]
    noisy = reports.corrupt_images(clean, level, "gaussian", seed=0)
    out = analysis.reconstruct(m, noisy)
    return float(((out - clean) ** 2).mean()), float(((noisy - clean) ** 2).mean())


def test_noise_slider_starts_at_the_runs_noise_or_the_lessons(app_env, completed_run):
    assert f"at noise {DENOISE_NOISE:g}" in LESSONS_BY_KEY["denoising"].look_for
    at = open_page("pages/reconstructions.py", {"run": completed_run})
    no_exception(at)
    # A VAE trained without noise: the lesson's level (0.5), as its banner quotes.
    assert at.slider(f"recon_noise_{completed_run}").value == DENOISE_NOISE == 0.5
    dae = make_completed_run(app_env.store, model="dae", noise=0.3)
    at = open_page("pages/reconstructions.py", {"run": dae})
    no_exception(at)
    assert at.slider(f"recon_noise_{dae}").value == 0.3


def test_noise_slider_moves_give_that_levels_mse(app_env, completed_run):
    at = open_page("pages/reconstructions.py", {"run": completed_run})
    before = plotly_figures(at)
    for level in (0.0, 0.6, 0.0):
        at.slider(f"recon_noise_{completed_run}").set_value(level).run()
        no_exception(at)
        out_mse, noisy_mse = _expected_mse(app_env, completed_run, level)
        assert _metric(at, "MSE to the clean image") == f"{out_mse:.4f}"
        assert noisy_mse == 0.0 if level == 0 else noisy_mse > 0.05
    after = plotly_figures(at)
    # A noise move changes only the Denoising tab (the others come from their caches).
    for key in ("recon_grid", "recon_errors", "recon_hist", "recon_roc"):
        assert after[key] == before[key], key
    assert after["recon_denoise"] != before["recon_denoise"]


def test_threshold_move_changes_only_the_anomaly_numbers(app_env, completed_run):
    at = open_page("pages/reconstructions.py", {"run": completed_run})
    key = f"recon_threshold_{completed_run}_noisy"
    slider = at.slider(key)
    lo, hi = slider.min, slider.max
    at.slider(key).set_value(lo).run()
    assert _metric(at, "Recall") == "1.00"  # all flagged but the lowest score (a strict >)
    assert float(_metric(at, "False alarms").rstrip("%")) >= 99.0
    at.slider(key).set_value(hi).run()
    no_exception(at)
    assert _metric(at, "False alarms") == "0.0%"
    roc = plotly_figures(at)["recon_roc"]
    point = [t for t in roc["data"] if t.get("mode") == "markers"]
    assert point and np.isclose(point[0]["x"][0], 0.0), point
