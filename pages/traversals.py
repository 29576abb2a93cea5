"""Traversals & generation: walk each latent dimension, steer the decoder with sliders,
interpolate between two images, and sample from the prior."""

import numpy as np
import streamlit as st

from pages.ui.explore import dims_by_activity, image_index_input, model, pick_run_and_epoch
from pages.ui.explore import split_data as split
from pages.ui.exports import mosaic_chart
from pages.ui.trav_views import (
    N_VAL,
    decoded_view,
    interpolation_view,
    prior_view,
    traversal_view,
)
from pages.ui.trav_views import scale as code_scale

st.title("Traversals & generation")
run, epoch = pick_run_and_epoch("trav")
run_id = run["id"]
m, config, _ = model(run_id, epoch)
val = split(run_id, "val", N_VAL)
order = dims_by_activity(run_id, epoch)
scale = code_scale(run_id, epoch)
D = m.latent_dim

traverse, sliders, interp, prior = st.tabs(
    ["Traversal grid", "Sliders", "Interpolation", "Samples from the prior"]
)

with traverse:
    st.caption(
        "Each row changes one latent dimension from −3 to +3 standard deviations around a "
        "starting code, keeping the others fixed. Dimensions are ordered by how much "
        "information they carry (KL for a VAE), so the active ones come first: rows that do "
        "not change are unused dimensions."
    )
    c1, c2, c3 = st.columns(3)
    start = c1.radio("Start from", ["the origin", "a validation image"], key="trav_start")
    with c2:
        idx = (
            image_index_input("Image", len(val["x"]), "trav_idx") if start != "the origin" else None
        )
    rows = c3.slider("Dimensions shown", 1, min(D, 16), min(D, 10), key="trav_rows")
    mosaic_chart(traversal_view(run_id, epoch, idx, rows), key="trav_grid")


@st.fragment
def slider_panel() -> None:
    """Only this fragment reruns when a slider moves, so decoding stays live."""
    dims = order[: min(D, 16)]
    left, right = st.columns([3, 2])
    z = np.zeros(D, np.float32)
    with left:
        if st.button("Reset to the origin", key="trav_reset"):
            for d in dims:
                st.session_state[f"trav_z_{run_id}_{d}"] = 0.0
        for d in dims:
            s = float(scale[d])
            z[d] = st.slider(
                f"z{d + 1}", -3.0 * s, 3.0 * s, 0.0, 0.05 * s, key=f"trav_z_{run_id}_{d}"
            )
    with right:
        st.plotly_chart(
            decoded_view(run_id, epoch, tuple(float(v) for v in z)),
            key="trav_live",
            config={"displayModeBar": False},
        )
        if D > 16:
            st.caption(f"The other {D - 16} dimensions stay at 0.")


with sliders:
    st.caption("One slider per latent dimension (most active first): the decoder redraws live.")
    slider_panel()

with interp:
    st.caption(
        "Decode codes on the path between two images. Linear goes in a straight line. "
        "Spherical (slerp, White 2016) follows an arc around the origin. In high dimensions "
        "most of the mass of N(0, I) lies near the sphere of radius √D, and a straight line "
        "between two codes cuts inside it, through codes the prior rarely produces; slerp "
        "stays near that shell. "
        + (
            f"Here D = {D}: in so few dimensions there is no thin shell (the density is "
            "highest at the origin and the norms of samples vary widely), so slerp has "
            "little advantage."
            if D < 10
            else f"Here D = {D}: the norms of prior samples are about √D = {D**0.5:.1f}, "
            "give or take 0.7."
        )
    )
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        a = image_index_input("From image", len(val["x"]), "trav_from", 0)
    with c2:
        b = image_index_input("To image", len(val["x"]), "trav_to", 1)
    steps = c3.slider("Steps", 3, 10, 8, key="trav_steps")  # + 2 images: 12 readable tiles
    method = c4.radio("Path", ["linear", "slerp"], key="trav_method", horizontal=True)
    mosaic_chart(interpolation_view(run_id, epoch, a, b, steps, method), key="trav_interp")

with prior:
    st.caption(
        "Draw z ~ N(0, T² I) and decode it. A VAE is trained so these codes look like its "
        "data. An AE never was: its codes occupy a small, irregular region, so most prior "
        "samples land in the holes between them and decode to broken images."
    )
    if not m.variational:
        st.warning(
            "This is an AE: expect broken samples — that is the lesson.", icon=":material/warning:"
        )
    c1, c2, c3 = st.columns(3)
    temperature = c1.slider("Temperature T", 0.1, 2.0, 1.0, 0.1, key="trav_temp")
    n = c2.select_slider("Samples", [16, 32, 64], 32, key="trav_n")
    seed = c3.number_input("Seed", 0, 10_000, 0, key="trav_seed")
    mosaic_chart(prior_view(run_id, epoch, n, float(temperature), int(seed)), key="trav_prior")
