"""The Train page's settings form: a preset to start from, then every setting (UI glue)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from aevae_core.config import (
    DEVICES,
    HELP,
    OPTIMIZER_TITLES,
    PRECISIONS,
    ConfigError,
    TrainConfig,
    parse_hidden,
)
from aevae_core.data.registry import FORM_LABELS
from aevae_core.lessons.experiments import beta_note, beta_vae_default, n_pixels_of
from aevae_core.presets import PRESETS
from pages.ui.train_data import custom_data, dataset_preview
from pages.ui.train_state import (
    DEFAULTS,
    KINDS,
    PRESET_KEY,
    _w,
    apply_preset,
    form_state,
    reset_other_kinds,
    use_preset,
)

__all__ = ["PRESET_KEY", "apply_preset", "config_form", "dataset_preview", "form_state"]

KIND_HELP = (
    "AE: plain autoencoder. VAE: beta = 1, the true ELBO. beta-VAE: choose beta. "
    "Denoising AE: corrupt the input, rebuild the clean image."
)


def _num(col: Any, label: str, name: str, lo: float, hi: float, default: float, **kw: Any) -> Any:
    return col.number_input(label, lo, hi, default, key=_w(name), help=HELP[name], **kw)


def _edited_fields(preset: str) -> list[str]:
    """The form's widgets (shown ones: Streamlit drops the state of the others) whose value
    differs from what the preset filled in: its caption (source, parameter count) no longer
    describes the settings once one does."""
    state = st.session_state
    return [
        k for k, v in form_state(PRESETS[preset].config).items() if k in state and state[k] != v
    ]


def config_form() -> TrainConfig | None:
    """All settings, each with a one-line help for students; None if one can't be parsed."""
    apply_preset()
    d = DEFAULTS
    preset = st.selectbox(
        "Preset", [None, *PRESETS], key="train_preset_name", on_change=use_preset,
        format_func=lambda k: "None: your own settings" if k is None else PRESETS[k].title,
        help="A classic setup from the material we teach from; it fills every setting below.",
    )  # fmt: skip
    if preset and not _edited_fields(preset):  # its caption describes the preset only
        st.caption(f"{PRESETS[preset].source} {PRESETS[preset].parameters:,} parameters on MNIST.")
    st.subheader("Data")
    dataset = st.selectbox(
        "Dataset", list(FORM_LABELS), key=_w("dataset"), format_func=FORM_LABELS.get,
        help=HELP["dataset"],
    )  # fmt: skip
    data_path = custom_data() if dataset == "custom" else None
    max_samples = _num(st, "Max images (0 = all)", "max_samples", 0, 1_000_000, 0, step=500)

    st.subheader("Model")
    c1, c2 = st.columns(2)
    kind = c1.selectbox(
        "Model", list(KINDS), index=1, key="train_kind", help=KIND_HELP,
        on_change=reset_other_kinds,
    )  # fmt: skip
    arch = c2.selectbox(
        "Architecture", ["mlp", "conv"], key=_w("arch"), help=HELP["arch"],
        format_func={"mlp": "MLP (dense)", "conv": "Convolutional"}.get,
    )  # fmt: skip
    c1, c2 = st.columns(2)
    latent_dim = _num(c1, "Latent dimension", "latent_dim", 1, 128, d.latent_dim)
    hidden_text = c2.text_input(
        "Hidden sizes" if arch == "mlp" else "Conv channels",
        ",".join(map(str, d.hidden)) if arch == "mlp" else "32,64",
        key=_w("hidden") if arch == "mlp" else _w("channels"),
        help=HELP["hidden"] + " Comma-separated, e.g. 256,128.",
    )
    conv_dense = 0
    if arch == "conv":
        conv_dense = _num(c1, "Dense layer before the code (0 = none)", "conv_dense", 0, 4096, 0)
    variational = KINDS[kind]["model"] == "vae"
    beta, kl_warmup = 1.0, 0
    if variational:
        c1, c2 = st.columns(2)
        beta = c1.number_input(
            "β (KL weight)",
            0.0,
            1000.0,
            beta_vae_default(dataset) if kind == "beta-VAE" else 1.0,  # one that does not collapse
            0.5,
            key=_w(f"beta_{kind}_{dataset}" if kind == "beta-VAE" else f"beta_{kind}"),
            help=HELP["beta"],
            disabled=kind == "VAE",
        )
        if kind == "beta-VAE" and n_pixels_of(dataset):
            c1.caption(beta_note(dataset, beta, int(latent_dim)))
        kl_warmup = c2.number_input(
            "KL warm-up (epochs)", 0, 1000, 0, key=_w("kl_warmup"), help=HELP["kl_warmup"]
        )
    c1, c2 = st.columns(2)
    recon = c1.selectbox(
        "Reconstruction loss", ["bce", "mse"], key=_w("recon"), help=HELP["recon"],
        format_func={"bce": "Bernoulli (BCE)", "mse": "Gaussian (MSE)"}.get,
    )  # fmt: skip
    l1_code = _num(c2, "Code L1 penalty", "l1_code", 0.0, 100.0, 0.0, step=0.01, format="%.3f")
    binarize, sigma = False, 0.0
    if recon == "bce":
        binarize = st.checkbox("Binarise pixels (a true likelihood)", key=_w("binarize"),
                               help=HELP["binarize"])  # fmt: skip
    else:
        sigma = _num(c1, "Decoder σ (0 = learned)", "sigma", 0.0, 10.0, 0.0, step=0.05,
                     format="%.3f")  # fmt: skip
    noise, noise_type = 0.0, "gaussian"
    if kind == "Denoising AE":  # only its own: an AE or VAE trained next gets noise 0
        c1, c2 = st.columns(2)
        noise = c1.slider("Input noise", 0.0, 0.9, 0.3, 0.05, key=_w("noise"), help=HELP["noise"])
        noise_type = c2.selectbox(
            "Noise type", ["gaussian", "mask"], key=_w("noise_type"), help=HELP["noise_type"]
        )

    st.subheader("Training")
    c1, c2, c3 = st.columns(3)
    optimizer = c1.selectbox(
        "Optimiser", list(OPTIMIZER_TITLES), key=_w("optimizer"),
        format_func=OPTIMIZER_TITLES.get, help=HELP["optimizer"],
    )  # fmt: skip
    lr = _num(c2, "Learning rate", "lr", 1e-6, 100.0, d.lr, format="%.5f")
    weight_decay = _num(c3, "Weight decay (L2)", "weight_decay", 0.0, 1.0, 0.0, format="%.5f")
    momentum = d.momentum  # unused by the other optimisers; the default keeps configs alike
    if optimizer == "momentum":
        momentum = _num(c1, "Momentum", "momentum", 0.0, 0.999, d.momentum, step=0.05)
    c1, c2 = st.columns(2)  # two per row: four in a row leave no room for the labels
    batch_size = _num(c1, "Batch size", "batch_size", 1, 65536, d.batch_size)
    epochs = _num(c2, "Epochs", "epochs", 1, 10_000, d.epochs)
    c1, c2 = st.columns(2)
    seed = _num(c1, "Seed", "seed", 0, 2**31 - 1, 0)
    device = c2.selectbox("Device", DEVICES, key=_w("device"), help=HELP["device"])
    precision = c1.selectbox("Precision", PRECISIONS, key=_w("precision"), help=HELP["precision"])
    try:
        hidden = parse_hidden(hidden_text)
    except ConfigError as exc:
        st.error(
            f"**{'hidden' if arch == 'mlp' else 'channels'}**: {exc.message}",
            icon=":material/block:",
        )
        return None
    # A custom dataset without a file still makes a config: validation then names data_path.
    return TrainConfig(
        dataset=dataset, data_path=data_path, max_samples=int(max_samples),
        model=KINDS[kind]["model"], arch=arch, latent_dim=int(latent_dim), hidden=hidden,
        conv_dense=int(conv_dense), beta=float(beta), kl_warmup=int(kl_warmup), recon=recon,
        binarize=bool(binarize), sigma=float(sigma), l1_code=float(l1_code), noise=float(noise),
        noise_type=noise_type, optimizer=optimizer, lr=float(lr), momentum=float(momentum),
        weight_decay=float(weight_decay), batch_size=int(batch_size), epochs=int(epochs),
        seed=int(seed), device=device, precision=precision,
    )  # fmt: skip
