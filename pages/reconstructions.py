"""Reconstructions: originals vs reconstructions, denoising, anomaly detection, compression."""

import numpy as np
import streamlit as st

from aevae_core.explore import reports
from pages.ui.explore import model, pick_run_and_epoch
from pages.ui.explore import split_data as split
from pages.ui.exports import mosaic_chart
from pages.ui.lesson import lesson_banner
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
    mse = float(recon_with_errors(run_id, epoch, "val", 1000)[2].mean())
    # The image's size is its information: log2(levels) bits per value, with the levels
    # counted in the data (17 for 8x8 digits, 256 for MNIST), 2 for binarised pixels.
    levels = 2 if config.binarize else reports.pixel_levels(split(run_id, "val", 1000)["x"])
    rep = reports.compression_report(tuple(m.shape), m.latent_dim, mse, levels=levels)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(
        "Image",
        f"{rep['image_bytes']:,.1f} bytes",
        f"{rep['n_values']:,} values × {rep['bits_per_value']:.2f} bits",
        delta_color="off",
        delta_arrow="off",
        help=f"{rep['levels']} distinct pixel levels → log2({rep['levels']}) = "
        f"{rep['bits_per_value']:.2f} bits per value; stored as {rep['stored_bytes']:,} bytes "
        "(one byte per value).",
    )
    for col, bits in ((c2, 32), (c3, 16)):
        col.metric(
            f"Code (float{bits})",
            f"{rep[f'code_bytes_float{bits}']:,} bytes",
            reports.size_change(rep[f"ratio_float{bits}"]),
            delta_color="off",
            delta_arrow="off",
            help=f"{m.latent_dim} numbers × {bits // 8} bytes; compared with the image's "
            f"{rep['image_bytes']:,.1f} bytes.",
        )
    c4.metric("Quality (PSNR)", f"{rep['psnr_db']:.1f} dB", help=f"MSE per pixel {mse:.4f}.")
    st.caption(
        f"The encoder turns each {'x'.join(map(str, m.shape))} image into {m.latent_dim} "
        "numbers; the decoder (shared by all images) rebuilds it. That is lossy compression: "
        "a smaller code saves bytes and loses detail. **Assumed**: the image holds "
        f"{rep['bits_per_value']:.2f} bits per pixel value, log2 of its {rep['levels']} "
        + ("binarised levels" if config.binarize else "distinct levels in this dataset")
        + ", as if every level were equally likely (an upper bound: PNG does better); the "
        "code holds 32 (or 16) bits per number. A code larger than the image is no "
        "compression at all. Train the same model with other latent sizes and compare them "
        "on the Compare page."
    )
