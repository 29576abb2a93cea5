"""Home: what an AE and a VAE are, on one screen, and a one-click quick start."""

import streamlit as st

from aevae_core.config import ConfigError
from aevae_core.lessons.experiments import QUICK_START
from pages.ui.classroom import owner
from pages.ui.common import manager, select_run
from pages.ui.preload import HOME_DELAY_S, start_preload

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
        "back. Training minimises the **reconstruction term** of the decoder's likelihood "
        "$p(x \\mid z)$ (below; Bernoulli by default), optionally plus an L1 penalty on "
        "the code (a sparse AE) and L2 weight decay on the weights $\\theta$:"
    )
    st.latex(
        r"\mathcal{L}_{AE} = -\log p\big(x \mid z = f(x)\big) \;+\; \lambda_1 \lVert z "
        r"\rVert_1 \;+\; \tfrac{\lambda_2}{2} \lVert \theta \rVert^2"
    )
    st.markdown(
        "Nothing forces the codes to fill the space evenly, so decoding a random point "
        "can give garbage: the AE's latent space has *holes*. An AE has no prior, so it "
        "has no ELBO or likelihood of its own: its pages show the reconstruction error."
    )
with right:
    st.subheader("Variational autoencoder (VAE)")
    st.markdown(
        "The encoder outputs a distribution $q(z\\mid x) = \\mathcal{N}(\\mu, \\sigma^2)$; "
        "a code is *sampled* with the reparameterisation $z = \\mu + \\sigma \\odot "
        "\\epsilon$, $\\epsilon \\sim \\mathcal{N}(0, I)$. The **evidence lower bound** "
        "(ELBO, below) is a lower bound on $\\log p(x)$ whenever $p(x\\mid z)$ is a true "
        "likelihood (see the decoder's likelihood below). Its KL term has a closed form for "
        "Gaussians, $\\tfrac12\\sum_j(\\mu_j^2 + \\sigma_j^2 - 1 - \\log\\sigma_j^2)$ "
        "(Kingma & Welling 2014, App. B), and pulls every code towards the prior, so samples "
        "$z \\sim \\mathcal{N}(0, I)$ decode to plausible images. Training minimises the "
        "β-weighted loss (Higgins et al. 2017): β > 1 pushes harder towards the prior, with "
        "blurrier reconstructions; too large and the posterior *collapses* (the code "
        "carries no information). β > 1 can make the codes more *disentangled* (one factor "
        "per dimension, measured by MIG on sprites), but nothing guarantees it: without "
        "supervision or other inductive biases, disentanglement is not identifiable "
        "(Locatello et al. 2019)."
    )

# Full width: inside a column the two underbraces overflow on a laptop screen.
st.latex(
    r"\mathrm{ELBO}(x) = \underbrace{\mathbb{E}_{q(z\mid x)}[\log p(x\mid z)]}"
    r"_{\text{reconstruction}} \;-\; \underbrace{\mathrm{KL}\big(q(z\mid x)"
    r"\,\Vert\,\mathcal{N}(0, I)\big)}_{\text{regulariser}} \;\le\; \log p(x)"
)
st.latex(
    r"\mathcal{L}_\beta(x) = -\mathbb{E}_{q(z\mid x)}[\log p(x\mid z)] \;+\; \beta\,"
    r"\mathrm{KL}\big(q(z\mid x)\,\Vert\,\mathcal{N}(0, I)\big)"
)
st.caption(
    "β only weights the training loss (with KL warm-up it ramps up from 0); the ELBO, "
    "IW-NLL and bits/dim the pages report always use β = 1. Units: nats per image (sum "
    "over pixels, mean over images)."
)

st.subheader("The decoder's likelihood p(x | z)")
bern, gauss = st.columns(2, gap="large")
with bern:
    st.markdown(
        "**Bernoulli** (BCE, the default): the decoder outputs a probability $p_i$ per "
        "pixel and $-\\log p(x\\mid z) = \\sum_i \\mathrm{BCE}(x_i, p_i)$. With **binarise** "
        "on, training sees a fresh 0/1 sample of each image at every step and evaluation "
        "one fixed sample: the numbers are then true likelihoods, and bits/dim = NLL / "
        "(D ln 2), with D pixel values, compares with the literature. On grey pixels "
        "(42% of the 8x8 digits' pixels are neither 0 nor 1) BCE is a cross-entropy, not "
        "a likelihood: even a perfect reconstruction costs $\\sum_i H(x_i)$ (13.6 nats on "
        "digits, 45.7 on MNIST). It is then a **relative score**: compare runs on the same "
        "data, with no bits/dim."
    )
with gauss:
    st.markdown(
        "**Gaussian** (MSE): $p(x\\mid z) = \\mathcal{N}(x;\\, \\hat x, \\sigma^2 I)$ with "
        "one shared $\\sigma$, so $-\\log p(x\\mid z) = \\tfrac{\\lVert x - \\hat x\\rVert^2}"
        "{2\\sigma^2} + D \\log \\sigma + \\tfrac{D}{2}\\log 2\\pi$, normaliser included. "
        "$\\sigma$ is learned ($\\sigma$ = 0 in the form: the σ-VAE of Rybkin, Daniilidis & "
        "Levine 2021, whose best $\\sigma$ is the reconstructions' RMSE, kept as a running "
        "average while training) or fixed, and shown with the results. It is a density: its "
        "nats can be negative and it has no bits/dim. A fixed small σ weights the "
        "reconstruction heavily against the KL; a large one invites posterior collapse."
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

# Drawn: now import the Train page's modules in the background (this button opens it), and
# torch once the server is quiet (preload.py).
start_preload(HOME_DELAY_S)
