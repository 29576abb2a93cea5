"""The Train page's settings form and dataset preview (UI glue; not a page itself)."""

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
from aevae_core.uploads import UploadError, save_upload

KINDS = {
    "AE": {"model": "ae"},
    "VAE": {"model": "vae"},
    "beta-VAE": {"model": "vae"},
    "Denoising AE": {"model": "dae"},
}
KIND_HELP = (
    "AE: plain autoencoder. VAE: beta = 1, the true ELBO. beta-VAE: choose beta. "
    "Denoising AE: corrupt the input, rebuild the clean image."
)
DATASET_TITLES = {
    "digits": "digits · 8x8 handwritten digits (built in)",
    "sprites": "sprites · 32x32 shapes with known factors (built in)",
    "mnist": "mnist · 28x28 handwritten digits",
    "fashion-mnist": "fashion-mnist · 28x28 clothes",
    "kmnist": "kmnist · 28x28 Japanese characters",
    "cifar10": "cifar10 · 32x32 colour photos",
    "custom": "custom · your own images (.npz or a folder)",
}
DEFAULTS = TrainConfig(batch_size=32, epochs=20)
PRESET_KEY = "train_preset"


def apply_preset() -> None:
    """Fill the widgets from a preset (set by Learn's one-click experiments), once."""
    preset: dict[str, Any] | None = st.session_state.pop(PRESET_KEY, None)
    if not preset:
        return
    kind = preset.pop("kind", None)
    if kind:
        st.session_state["train_kind"] = kind
    for name, value in preset.items():
        st.session_state[f"train_{name}"] = ",".join(map(str, value)) if name == "hidden" else value


def _w(name: str) -> str:
    return f"train_{name}"


def config_form() -> TrainConfig | None:
    """All settings, each with a one-line help for students; None if one can't be parsed."""
    apply_preset()
    d = DEFAULTS
    st.subheader("Data")
    dataset = st.selectbox(
        "Dataset",
        list(DATASET_TITLES),
        key=_w("dataset"),
        format_func=DATASET_TITLES.get,
        help=HELP["dataset"],
    )
    data_path = None
    if dataset == "custom":
        data_path = _custom_data()
    max_samples = st.number_input(
        "Max images (0 = all)",
        0,
        1_000_000,
        d.max_samples,
        500,
        key=_w("max_samples"),
        help=HELP["max_samples"],
    )

    st.subheader("Model")
    c1, c2 = st.columns(2)
    kind = c1.selectbox("Model", list(KINDS), index=1, key="train_kind", help=KIND_HELP)
    arch = c2.selectbox(
        "Architecture",
        ["mlp", "conv"],
        key=_w("arch"),
        help=HELP["arch"],
        format_func={"mlp": "MLP (dense)", "conv": "Convolutional"}.get,
    )
    c1, c2 = st.columns(2)
    latent_dim = c1.number_input(
        "Latent dimension", 1, 128, d.latent_dim, key=_w("latent_dim"), help=HELP["latent_dim"]
    )
    hidden_text = c2.text_input(
        "Hidden sizes" if arch == "mlp" else "Conv channels",
        ",".join(map(str, d.hidden)) if arch == "mlp" else "32,64",
        key=_w("hidden") if arch == "mlp" else _w("channels"),
        help=HELP["hidden"] + " Comma-separated, e.g. 256,128.",
    )
    variational = KINDS[kind]["model"] == "vae"
    beta, kl_warmup = 1.0, 0
    if variational:
        c1, c2 = st.columns(2)
        beta = c1.number_input(
            "β (KL weight)",
            0.0,
            1000.0,
            4.0 if kind == "beta-VAE" else 1.0,
            0.5,
            key=_w(f"beta_{kind}"),
            help=HELP["beta"],
            disabled=kind == "VAE",
        )
        kl_warmup = c2.number_input(
            "KL warm-up (epochs)", 0, 1000, 0, key=_w("kl_warmup"), help=HELP["kl_warmup"]
        )
    c1, c2 = st.columns(2)
    recon = c1.selectbox(
        "Reconstruction loss",
        ["bce", "mse"],
        key=_w("recon"),
        help=HELP["recon"],
        format_func={"bce": "Bernoulli (BCE)", "mse": "Gaussian (MSE)"}.get,
    )
    l1_code = c2.number_input(
        "Code L1 penalty",
        0.0,
        100.0,
        0.0,
        0.01,
        key=_w("l1_code"),
        help=HELP["l1_code"],
        format="%.3f",
    )
    noise, noise_type = 0.0, "gaussian"
    if kind == "Denoising AE" or st.session_state.get(_w("noise"), 0.0) > 0:
        c1, c2 = st.columns(2)
        noise = c1.slider("Input noise", 0.0, 0.9, 0.3, 0.05, key=_w("noise"), help=HELP["noise"])
        noise_type = c2.selectbox(
            "Noise type", ["gaussian", "mask"], key=_w("noise_type"), help=HELP["noise_type"]
        )

    st.subheader("Training")
    c1, c2, c3 = st.columns(3)
    optimizer = c1.selectbox(
        "Optimiser",
        list(OPTIMIZER_TITLES),
        key=_w("optimizer"),
        format_func=OPTIMIZER_TITLES.get,
        help=HELP["optimizer"],
    )
    lr = c2.number_input(
        "Learning rate", 1e-6, 100.0, d.lr, format="%.5f", key=_w("lr"), help=HELP["lr"]
    )
    weight_decay = c3.number_input(
        "Weight decay (L2)",
        0.0,
        1.0,
        0.0,
        format="%.5f",
        key=_w("weight_decay"),
        help=HELP["weight_decay"],
    )
    c1, c2 = st.columns(2)  # two per row: four in a row leave no room for the labels
    batch_size = c1.number_input(
        "Batch size", 1, 65536, d.batch_size, key=_w("batch_size"), help=HELP["batch_size"]
    )
    epochs = c2.number_input("Epochs", 1, 10_000, d.epochs, key=_w("epochs"), help=HELP["epochs"])
    c1, c2 = st.columns(2)
    seed = c1.number_input("Seed", 0, 2**31 - 1, 0, key=_w("seed"), help=HELP["seed"])
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
        dataset=dataset,
        data_path=data_path,
        max_samples=int(max_samples),
        model=KINDS[kind]["model"],
        arch=arch,
        latent_dim=int(latent_dim),
        hidden=hidden,
        beta=float(beta),
        kl_warmup=int(kl_warmup),
        recon=recon,
        l1_code=float(l1_code),
        noise=float(noise),
        noise_type=noise_type,
        optimizer=optimizer,
        lr=float(lr),
        weight_decay=float(weight_decay),
        batch_size=int(batch_size),
        epochs=int(epochs),
        seed=int(seed),
        device=device,
        precision=precision,
    )


def _custom_data() -> str | None:
    upload = st.file_uploader(
        "Your images as .npz (array 'x', optional labels 'y')", type=["npz"], key=_w("upload")
    )
    if upload is None:
        st.caption("Or a .png/.jpg folder on the server: run the CLI with --data-path.")
        return st.session_state.get(_w("data_path"))
    try:
        path = save_upload(upload.getvalue(), suffix=".npz", name=upload.name)
    except UploadError as exc:
        st.error(f"**upload**: {exc}", icon=":material/block:")
        return None
    st.session_state[_w("data_path")] = path
    return path


@st.cache_data(show_spinner="Loading the dataset…", max_entries=32)
def _preview(dataset: str, data_path: str | None, max_samples: int) -> dict[str, Any]:
    from aevae_core.data import DatasetError, load_dataset

    try:
        data = load_dataset(dataset, path=data_path, max_samples=max_samples, download=False)
    except DatasetError as exc:
        return {"error": str(exc)}
    return {
        "images": data.train_x[:32].numpy(),
        "shape": data.shape,
        "n_train": len(data.train_x),
        "n_val": len(data.val_x),
        "classes": data.class_names,
    }


def dataset_preview(config: TrainConfig | None) -> None:
    if config is None or (config.dataset == "custom" and not config.data_path):
        return
    info = _preview(config.dataset, config.data_path, config.max_samples)
    if "error" in info:
        st.warning(info["error"], icon=":material/folder_off:")
        return
    c, h, w = info["shape"]
    classes = f" · {len(info['classes'])} classes" if info["classes"] else ""
    st.caption(
        f"**{config.dataset}**: {info['n_train']:,} training + {info['n_val']:,} validation "
        f"images of {c}x{h}x{w}{classes}"
    )
    st.plotly_chart(
        _preview_figure(config.dataset, config.data_path, config.max_samples),
        key="train_preview",
        config={"displayModeBar": False},
    )


# One figure per server and dataset (st.cache_resource: shared, not copied): building it
# cost ~25 ms of the GIL on every rerun of every watching session (issue 14's profile).
@st.cache_resource(show_spinner=False, max_entries=32)
def _preview_figure(dataset: str, data_path: str | None, max_samples: int) -> Any:
    from aevae_core.figures import image_grid

    return image_grid(_preview(dataset, data_path, max_samples)["images"], ncols=16, height=110)
