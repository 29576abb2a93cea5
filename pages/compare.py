"""Compare: 2–4 runs side by side (AE vs VAE, a beta sweep) on the same inputs."""

import numpy as np
import streamlit as st

from aevae_core.explore import analysis
from aevae_core.plots.charts import overlay_curves, rate_distortion
from aevae_core.plots.figures import mosaic_figure
from pages.ui.common import run_label, store
from pages.ui.compare_latent import collapse_warnings, latent_row
from pages.ui.compare_metrics import metrics_section, prior_distances
from pages.ui.compare_parts import choose_runs, pair_form, short_name, wait_for
from pages.ui.latent_parts import choose_method, ready_method
from pages.ui.lesson import lesson_banner

st.title("Compare runs")
lesson_banner()
with st.expander("Train an AE and a VAE (and β-VAEs) with identical settings"):
    pair_form()

runs = choose_runs()
if len(runs) < 2:
    st.info("Choose 2 to 4 runs above, or train a pair.", icon=":material/compare:")
    st.stop()
if len({r["dataset"] for r in runs}) > 1:
    st.warning(
        "These runs were trained on different datasets: their numbers do not compare directly.",
        icon=":material/warning:",
    )
wait_for(runs)
ready = [r for r in runs if store().snapshot_epochs(r["id"])]
if len(ready) < 2:
    st.stop()
names = {r["id"]: short_name(r, ready) for r in ready}
collapse_warnings(ready, names)
models = {r["id"]: analysis.load_model(store(), r["id"])[0] for r in ready}

st.subheader("Loss curves", anchor="curves")
st.caption(
    "Solid: validation, dashed: training. Total = reconstruction + β·KL, each run with its "
    "own β (the −ELBO only where β = 1; during KL warm-up each epoch's β). A VAE pays for its "
    "KL term with a higher total loss; compare the reconstruction curves to see what that costs."
)
histories = {names[r["id"]]: store().metrics(r["id"], "epoch") for r in ready}
for tab, key in zip(
    st.tabs(["Total", "Reconstruction", "KL"]), ("loss", "recon", "kl"), strict=True
):
    tab.plotly_chart(overlay_curves(histories, key), key=f"cmp_curve_{key}")

st.subheader("Metrics on validation images")
metrics = metrics_section(ready, names)

st.subheader("The same images, reconstructed by each run", anchor="recon")
x = analysis.load_split(store().config(ready[0]["id"]), "val", 12)[0]
same_shape = [r for r in ready if tuple(models[r["id"]].shape) == x.shape[1:]]
grid = [x] + [analysis.reconstruct(models[r["id"]], x) for r in same_shape]
st.plotly_chart(
    mosaic_figure(np.stack(grid), ["original"] + [names[r["id"]] for r in same_shape]),
    key="cmp_recon",
)
if len(same_shape) < len(ready):
    st.caption("Runs whose images have another size than the first run's are left out here.")

st.subheader("Latent spaces")
max_dim = max(m.latent_dim for m in models.values())
method = choose_method(max_dim, "cmp_method")
method = ready_method([r["id"] for r in ready], method, max_dim)
latent_row(ready, names, method)
st.caption(
    "An AE spreads its codes wherever reconstruction is easiest, with gaps between "
    "classes; a VAE's KL term packs them into a round cloud around 0."
)

st.subheader("Samples from the prior N(0, I)", anchor="prior")
# One row of 12 per run (same image size as the first run): readable tiles at any run count.
samples = [analysis.prior_samples(models[r["id"]], 12, 1.0, seed=0) for r in same_shape]
st.plotly_chart(
    mosaic_figure(np.stack(samples), [names[r["id"]] for r in same_shape]), key="cmp_prior"
)
st.caption(
    "Median distance of 500 prior samples to their nearest training image: "
    + prior_distances(ready, names, metrics)
)
st.caption(
    "A VAE is trained so that codes drawn from N(0, I) land among its training codes; an "
    "AE is not. With a few latent dimensions (e.g. 8 on digits) the AE's samples fall into "
    "holes between its codes and lie farther from every training image. In 2-D an AE's "
    "codes often spread wide enough that N(0, I) lands inside them: no holes to see."
)

vaes = [r for r in ready if r["model"] == "vae" and names[r["id"]] in metrics]
if len({r["beta"] for r in vaes}) >= 2:
    st.subheader("Rate–distortion (β sweep)", anchor="rate")
    points = [
        {
            "name": names[r["id"]],
            "kl": metrics[names[r["id"]]]["kl"],
            "recon": metrics[names[r["id"]]]["recon_nats"],
            "beta": r["beta"],
        }
        for r in vaes
    ]
    st.plotly_chart(rate_distortion(points), key="cmp_rd")
    st.caption(
        "Each VAE is a point: larger β spends fewer nats on the code (rate, KL) and "
        "pays with worse reconstructions (distortion: the reconstruction term, a BCE score "
        "for grey pixels, −log p(x|z) otherwise). Both in nats per image on the same images."
    )
st.caption("Runs: " + " · ".join(run_label(r) for r in ready))
