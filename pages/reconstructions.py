"""Reconstructions: originals vs reconstructions, denoising, anomaly detection, compression."""

import numpy as np
import streamlit as st

from pages.ui.explore import model, pick_run_and_epoch
from pages.ui.explore import split_data as split
from pages.ui.exports import mosaic_chart
from pages.ui.lesson import lesson_banner
from pages.ui.recon_compress import compression_tab
from pages.ui.recon_parts import (
    UNIT,
    anomaly_scores,
    anomaly_view,
    denoise_default,
    denoise_view,
    error_meaning,
    ood_label,
    ood_sources,
    recon_view,
    recon_with_errors,
)

st.title("Reconstructions")
lesson_banner()
run, epoch = pick_run_and_epoch("recon")
run_id = run["id"]
m, config, _ = model(run_id, epoch)

VIEWS = {  # ?view=anomaly (a lesson's link) opens that tab
    "recon": "Reconstructions",
    "denoising": "Denoising",
    "anomaly": "Anomaly detection",
    "compression": "Compression",
}
tab_recon, tab_denoise, tab_anomaly, tab_compress = st.tabs(
    list(VIEWS.values()), default=VIEWS.get(st.query_params.get("view") or "")
)

with tab_recon:
    c1, c2, c3 = st.columns(3)
    which = c1.radio(
        "Images from",
        ["val", "train"],
        horizontal=True,
        key="recon_split",
        format_func={"val": "validation", "train": "training"}.get,
    )
    n = c2.slider("How many", 4, 32, 16, 4, key="recon_n")
    worst = c3.toggle(
        "Worst first", key="recon_worst", help="Sort by reconstruction error, largest first."
    )
    data = split(run_id, which, 1000)
    _, errors, mses = recon_with_errors(run_id, epoch, which, 1000)
    mosaics, bars, _ = recon_view(run_id, epoch, which, n, worst)
    for part, fig in enumerate(mosaics):
        mosaic_chart(fig, key="recon_grid" if part == 0 else f"recon_grid_{part}")
    st.plotly_chart(bars, key="recon_errors")
    what, note = error_meaning(config, m.sigma, data["x"])
    st.caption(
        f"Error = {what}, in {UNIT}; mean over these {len(errors)} images: {errors.mean():.2f} "
        f"(MSE per pixel {mses.mean():.4f}). {note} Training images usually rebuild a little "
        "better than validation ones: the gap is overfitting."
    )

with tab_denoise:
    kind = (
        "a denoising model"
        if config.effective_noise > 0
        else "a plain model (no noise in training)"
    )
    st.caption(
        f"This run is {kind}. Corrupt validation images, feed them in, and compare the "
        "output with the clean original."
    )
    c1, c2 = st.columns(2)
    noise_type = c1.radio(
        "Noise",
        ["gaussian", "mask"],
        horizontal=True,
        key="recon_noise_type",
        format_func={"gaussian": "Gaussian", "mask": "masking"}.get,
    )
    level = c2.slider(
        "Noise level",
        0.0,
        0.9,
        denoise_default(config),
        0.05,
        key=f"recon_noise_{run_id}",  # per run: each starts at its own training noise
        help="Std of the Gaussian noise, or the share of pixels set to 0. Starts at the run's "
        "training noise (a plain model: the denoising lesson's level).",
    )
    fig, out_mse, noisy_mse = denoise_view(run_id, epoch, noise_type, float(level))
    mosaic_chart(fig, key="recon_denoise")
    st.metric(
        "MSE to the clean image",
        f"{out_mse:.4f}",
        f"{out_mse - noisy_mse:+.4f} vs the noisy input",
        delta_color="inverse",
    )

with tab_anomaly:
    st.caption(
        "A model rebuilds what resembles its training data. Score every image by its "
        "reconstruction error; images above the threshold are flagged as anomalies."
    )
    source = st.selectbox(
        "Out-of-distribution images", ood_sources(config), key="recon_ood", format_func=ood_label
    )
    try:
        scores_in, scores_out = anomaly_scores(run_id, epoch, source)
    except ValueError as exc:
        st.warning(str(exc))
        st.stop()
    default = float(np.percentile(scores_in, 95))
    lo, hi = (
        float(min(scores_in.min(), scores_out.min())),
        float(max(scores_in.max(), scores_out.max())),
    )
    threshold = st.slider(
        "Threshold",
        lo,
        hi,
        min(max(default, lo), hi),
        (hi - lo) / 200 or 0.01,
        key=f"recon_threshold_{run_id}_{source}",
    )
    report, hist, roc = anomaly_view(run_id, epoch, source, float(threshold))
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Precision", f"{report['precision']:.2f}", help="Flagged images that are anomalies.")
    c2.metric("Recall", f"{report['recall']:.2f}", help="Anomalies that were flagged.")
    c3.metric("False alarms", f"{report['false_positive_rate']:.1%}", help="Normal images flagged.")
    c4.metric("ROC AUC", f"{report['roc_auc']:.3f}", help="1 = perfect ranking, 0.5 = chance.")
    left, right = st.columns([3, 2])
    left.plotly_chart(hist, key="recon_hist")
    right.plotly_chart(roc, key="recon_roc")

with tab_compress:
    compression_tab(run_id, epoch, m, config)
