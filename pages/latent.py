"""Latent space: where images land, what the decoder makes of each point, how the codes
moved during training, and where your own drawing lands."""

import numpy as np
import streamlit as st

from aevae_core.data.sprites import SPRITE_FACTOR_INFO as FACTOR_INFO
from aevae_core.explore import analysis, projection
from aevae_core.plots.charts import kl_bar
from aevae_core.plots.figures import mosaic_figure
from pages.ui.common import store
from pages.ui.draw_pad import where_it_lands
from pages.ui.explore import codes, kl_per_dim, model, pick_run_and_epoch
from pages.ui.explore import split_data as split
from pages.ui.exports import mosaic_chart
from pages.ui.hover_thumbs import hover_thumbnails
from pages.ui.latent_parts import axis_titles, choose_method, evolution, image_count, ready_method
from pages.ui.latent_views import color_kwargs, manifold_view, project, scatter_view
from pages.ui.lesson import lesson_banner

st.title("Latent space")
lesson_banner()
run, epoch = pick_run_and_epoch("latent")
run_id = run["id"]
m, config, _ = model(run_id, epoch)
D = m.latent_dim

c1, c2, c3 = st.columns([3, 2, 2])
with c1:
    method = choose_method(D, "latent_method")
method = ready_method([run_id], method, D)  # PCA while UMAP / t-SNE fit in the background
n_points = image_count(c2, len(split(run_id, "val", 10_000)["x"]), "latent_n")
val = split(run_id, "val", n_points)
color_options = (["label"] if val["y"] is not None else []) + list(val["factor_names"])
color_by = c3.selectbox(
    "Colour by",
    color_options or ["nothing"],
    key="latent_color",
    help=" ".join(f"**{k}**: {v}" for k, v in FACTOR_INFO.items() if k in val["factor_names"])
    or None,
)
mu = codes(run_id, epoch, "val", n_points)


coords = project(run_id, epoch, method, n_points)
color_kw = color_kwargs(val, color_by)
axes = axis_titles(method)

left, right = st.columns([3, 2], gap="large")
with left:
    fig = scatter_view(run_id, epoch, method, n_points, color_by, axes)
    event = st.plotly_chart(fig, on_select="rerun", selection_mode="points", key="latent_scatter")
    hover_note = hover_thumbnails("latent_scatter", run_id, n_points)
    st.caption(
        "Each dot is a validation image's code (the mean for a VAE). Click a dot to decode it. "
        f"{hover_note} Clusters of one colour mean the code keeps that information."
    )
with right:
    points = event.selection.points if event else []
    if points:
        i = int(points[0]["customdata"])
        pair = np.stack([val["x"][i], analysis.decode(m, mu[i][None])[0]])
        st.plotly_chart(mosaic_figure(pair[None], None, ["original", "decoded"]), key="latent_pick")
        st.caption(f"Image {i}: code " + ", ".join(f"{v:.2f}" for v in mu[i][:8]))
    else:
        st.info("Click a point to see its image and what the decoder makes of its code.")

if D == 2:  # full width: 15 cells of at least 40 px do not fit in a column
    st.subheader("Manifold: the decoder on a 15 x 15 grid of codes")
    st.caption(
        "Grid values: the 5% to 95% quantiles of the prior N(0, 1) on each axis, where a "
        "VAE's codes should lie (Kingma & Welling 2014, fig. 4)."
        if m.variational
        else "Grid values: the 5% to 95% quantiles of this AE's own codes on each axis. An "
        "AE has no prior, and its codes are not N(0, I): a grid over N(0, 1) quantiles "
        "would show only the middle (or miss) its cloud."
    )
    mosaic_chart(manifold_view(run_id, epoch, n_points), key="latent_manifold")

kl = kl_per_dim(run_id, epoch)
if kl is not None:
    st.subheader("KL per latent dimension", anchor="kl")
    active = analysis.active_mask(codes(run_id, epoch, "val", 2000))
    # The long explanation is already at the top of the page (explore.collapse_warning).
    collapsed = bool(analysis.posterior_collapsed(kl, int(active.sum())))
    st.plotly_chart(kl_bar(kl, active, collapsed=collapsed), key="latent_kl")
    st.caption(
        f"{int(active.sum())} of {D} units are active (their mean code varies across images: "
        "Cov > 0.01, Burda et al. 2015). Inactive ones carry no information: the posterior "
        "equals the prior there."
    )

st.subheader("How the codes moved during training")
evolution(run_id, method, class_names=tuple(val["class_names"]))

st.subheader("Where does your image land?")
where_it_lands(
    m,
    center=config.dataset != "sprites",
    project=projection.projection_for_run(store(), run_id, method).transform,
    scatter={"coords": coords, "axis_titles": axes, **color_kw},
)
hover_thumbnails("latent_drawn_map", run_id, n_points)  # the same points, the same images
