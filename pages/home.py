"""Home: what an AE and a VAE are, on one screen, and a one-click quick start."""

import streamlit as st

from aevae_core.config import ConfigError
from aevae_core.experiments import QUICK_START
from pages.ui.classroom import owner
from pages.ui.common import manager, select_run

st.title("Autoencoders, hands on")
st.markdown(
    "An **autoencoder** squeezes each image through a small *code* (the latent space) and "
    "learns to rebuild it. Train one here, then look inside: how its loss falls, what it "
    "reconstructs, where each image lands in the latent space, and what the decoder makes "
    "of points in between."
)

left, right = st.columns(2, gap="large")
with left:
    st.subheader("Autoencoder (AE)")
    st.markdown(
        "An encoder $f$ maps an image $x$ to a code $z = f(x)$ and a decoder $g$ maps it "
        "back. Training minimises the **reconstruction error**, optionally with a penalty "
        "on the code size (sparse AE) and L2 weight decay:"
    )
    st.latex(r"\mathcal{L}_{AE} = \lVert x - g(f(x)) \rVert^2 \;+\; \lambda \lVert z \rVert_1")
    st.markdown(
        "Nothing forces the codes to fill the space evenly, so decoding a random point "
        "often gives garbage: the AE's latent space has *holes*."
    )
with right:
    st.subheader("Variational autoencoder (VAE)")
    st.markdown(
        "The encoder outputs a distribution $q(z\\mid x) = \\mathcal{N}(\\mu, \\sigma^2)$; "
        "a code is *sampled* with the reparameterisation $z = \\mu + \\sigma \\odot "
        "\\epsilon$, $\\epsilon \\sim \\mathcal{N}(0, I)$. Training maximises the "
        "**evidence lower bound** (ELBO, below). With $\\beta = 1$ it is a true lower bound "
        "on $\\log p(x)$. The KL term has a closed form for Gaussians, "
        "$\\tfrac12\\sum_j(\\mu_j^2 + \\sigma_j^2 - 1 - \\log\\sigma_j^2)$, and pulls every "
        "code towards the prior, so samples $z \\sim \\mathcal{N}(0, I)$ decode to "
        "plausible images. **β** trades the two terms: β > 1 gives a smoother, more "
        "disentangled space but blurrier reconstructions; too large and the posterior "
        "*collapses* (the code carries no information)."
    )

# Full width: inside a column the two underbraces overflow on a laptop screen.
st.latex(
    r"\mathrm{ELBO}(x) = \underbrace{\mathbb{E}_{q(z\mid x)}[\log p(x\mid z)]}"
    r"_{\text{reconstruction}} \;-\; \beta\,\underbrace{\mathrm{KL}\big(q(z\mid x)"
    r"\,\Vert\,\mathcal{N}(0, I)\big)}_{\text{regulariser}}"
)

st.divider()
st.subheader("Quick start")
st.markdown(
    "Train a small VAE with a **2-D latent space** on 1,797 handwritten digits (8x8 pixels). "
    "It runs in the background and takes well under a minute on a laptop CPU."
)
if st.button("Train a 2-D VAE on digits", type="primary", key="home_quick_start"):
    try:
        run_id = manager().submit(QUICK_START, owner=owner())
    except ConfigError as exc:  # the quota or the rate limit (classroom.py)
        st.error(f"**{exc.field}**: {exc.message}", icon=":material/block:")
    else:
        select_run(run_id)
        st.switch_page("pages/train.py", query_params={"run": run_id})
