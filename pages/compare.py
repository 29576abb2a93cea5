"""Compare: 2–4 runs side by side (AE vs VAE, a beta sweep) on the same inputs."""

import numpy as np
import pandas as pd
import streamlit as st

from aevae_core import analysis
from aevae_core.charts import overlay_curves, rate_distortion
from aevae_core.figures import latent_scatter, mosaic_figure
from aevae_core.metrics import comparison_rows
from pages.ui.common import run_label, store
from pages.ui.compare_parts import (
    choose_runs,
    metrics_for,
    pair_form,
    projected_codes,
    short_name,
    wait_for,
)
from pages.ui.latent_parts import choose_method, ready_method

st.title("Compare runs")
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
models = {r["id"]: analysis.load_model(store(), r["id"])[0] for r in ready}

st.subheader("Loss curves")
st.caption(
    "Solid: validation, dashed: training. A VAE pays for its KL term with a higher total "
    "loss; compare the reconstruction curves to see what that costs."
)
histories = {names[r["id"]]: store().metrics(r["id"], "epoch") for r in ready}
for tab, key in zip(
    st.tabs(["Total", "Reconstruction", "KL"]), ("loss", "recon", "kl"), strict=True
):
    tab.plotly_chart(overlay_curves(histories, key), key=f"cmp_curve_{key}")

st.subheader("Metrics on validation images")
metrics = {names[r["id"]]: metrics_for(r["id"], r["last_epoch"]) for r in ready}
st.dataframe(pd.DataFrame(comparison_rows(metrics)), hide_index=True, key="cmp_table")
st.caption(
    "Reconstruction and KL are the ELBO's two terms (nats per image). kNN accuracy: "
    "how well a 5-nearest-neighbour classifier predicts the label from the codes, "
    "i.e. how much label information the codes keep. MIG (sprites only) is high when "
    "each generative factor is captured by one latent dimension."
)

st.subheader("The same images, reconstructed by each run")
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
axes = ("z1", "z2") if method == "raw" else (f"{method.upper()} 1", f"{method.upper()} 2")
for col, r in zip(st.columns(len(ready)), ready, strict=True):
    coords, labels, class_names = projected_codes(r["id"], r["last_epoch"], method)
    col.plotly_chart(
        latent_scatter(
            coords,
            labels=labels,
            label_names=class_names,
            title=names[r["id"]],
            axis_titles=axes,
            height=360,
        ),
        key=f"cmp_lat_{r['id']}",
    )
st.caption(
    "An AE spreads its codes wherever reconstruction is easiest, with gaps between "
    "classes; a VAE's KL term packs them into a round cloud around 0."
)

st.subheader("Samples from the prior N(0, I)")
# One row of 12 per run (same image size as the first run): readable tiles at any run count.
samples = [analysis.prior_samples(models[r["id"]], 12, 1.0, seed=0) for r in same_shape]
st.plotly_chart(
    mosaic_figure(np.stack(samples), [names[r["id"]] for r in same_shape]), key="cmp_prior"
)
st.caption(
    "The classic lesson: decoding random codes gives broken images for an AE (nothing "
    "made its codes look like N(0, I)) and plausible ones for a VAE."
)

vaes = [r for r in ready if r["model"] == "vae"]
if len({r["beta"] for r in vaes}) >= 2:
    st.subheader("Rate–distortion (β sweep)")
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
        "pays with worse reconstructions (distortion)."
    )
st.caption("Runs: " + " · ".join(run_label(r) for r in ready))
