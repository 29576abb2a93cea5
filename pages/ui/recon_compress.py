"""The Reconstructions page's Compression tab: the image's size in bits against the code's,
and the quality the decoder gets back (PSNR)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from aevae_core.config import TrainConfig
from aevae_core.explore import reports
from pages.ui.explore import split_data as split
from pages.ui.recon_parts import recon_with_errors


def compression_tab(run_id: str, epoch: int, m: Any, config: TrainConfig) -> None:
    """Sizes of the image and of its code (float32 and float16), and PSNR, with what is
    assumed about the image's information spelt out."""
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
