"""The freehand drawing pad (a small bidirectional Streamlit component of ours: plain JS in
drawpad/index.html, no build step) and the Latent page's "where does your image land?"
section that uses it: pad, result and the drawing's code on a scatter side by side."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import streamlit as st
import streamlit.components.v1 as components

from aevae_core.explore import analysis, reports
from aevae_core.plots.figures import image_figure, latent_scatter

_pad = components.declare_component("aevae_draw_pad", path=str(Path(__file__).parent / "drawpad"))


def draw_pad(key: str) -> np.ndarray | None:
    """A freehand pad (mouse, pen or touch) with Undo and Clear. Returns the drawing as an
    (H, W) array in [0, 1], light ink on dark, or None while it is empty. Bumping
    ``st.session_state[f"{key}_nonce"]`` clears it (a new widget key)."""
    nonce = st.session_state.setdefault(f"{key}_nonce", 0)
    value = _pad(nonce=nonce, key=f"{key}_{nonce}", default=None)
    if not value or not value.get("pixels"):
        return None
    size = int(value["size"])
    ink = np.asarray(value["pixels"], np.float32).reshape(size, size) / 255.0
    return ink if ink.max() > 0 else None


def _uploaded(key: str) -> np.ndarray | None:
    """The uploaded picture (RGBA), or None; a new upload clears the pad."""
    upload = st.file_uploader("…or upload a picture", type=["png", "jpg", "jpeg"], key=key)
    if upload is None:
        return None
    if st.session_state.get(f"{key}_seen") != upload.file_id:
        st.session_state[f"{key}_seen"] = upload.file_id
        st.session_state["latent_draw_nonce"] = st.session_state.get("latent_draw_nonce", 0) + 1
        st.rerun()
    from PIL import Image, UnidentifiedImageError

    try:
        return np.asarray(Image.open(upload).convert("RGBA"))
    except (UnidentifiedImageError, OSError) as exc:
        st.error(f"That file is not a readable PNG/JPEG image: {exc}")
        return None


def where_it_lands(
    m, center: bool, project: Callable[[np.ndarray], np.ndarray], scatter: dict
) -> None:
    """Pad | what the model sees and makes of it | the scatter with the drawing's code
    starred. ``project`` maps codes (N, D) to the scatter's 2-D axes; ``scatter`` holds
    latent_scatter's arguments (coords, axis_titles, colours)."""
    pad_col, out_col, map_col = st.columns([1, 1, 1.4])
    with pad_col:
        st.caption("Draw with the mouse, a pen or a finger; each stroke updates the result.")
        drawing = draw_pad("latent_draw")
        upload = _uploaded("latent_up")
    picture = drawing if drawing is not None else upload
    if picture is None:
        out_col.info("Draw a digit (or upload a picture) to see where its code lands.")
        return
    x = reports.embed_image(picture, tuple(m.shape), center=center)
    z, _ = analysis.encode(m, x)
    with out_col:
        recon = analysis.reconstruct(m, x)
        st.plotly_chart(
            image_figure(np.concatenate([x, recon], axis=3)[0], height=200),
            key="latent_drawn_recon",
        )
        st.caption("As the model sees it (left) and its reconstruction (right).")
    with map_col:
        xy = tuple(project(z)[0])
        st.plotly_chart(latent_scatter(**scatter, highlight=xy, height=320), key="latent_drawn_map")
        st.caption(f"The star is your drawing's code, at ({xy[0]:.2f}, {xy[1]:.2f}).")
