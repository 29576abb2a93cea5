"""The Train form's session state: presets fill it, a model switch resets what isn't its own.

Settings that belong to one model kind (the VAE's beta and KL warm-up, the denoising AE's
noise) must not leak into a run of another kind trained next in the same session (issue 12:
a DAE's noise was kept for the AE trained after it). UI glue only.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from aevae_core.config import TrainConfig
from aevae_core.presets import PRESETS

KINDS = {
    "AE": {"model": "ae"},
    "VAE": {"model": "vae"},
    "beta-VAE": {"model": "vae"},
    "Denoising AE": {"model": "dae"},
}
DEFAULTS = TrainConfig(batch_size=32, epochs=20)
PRESET_KEY = "train_preset"
# The widgets whose key is the config field's name; model, hidden and beta are mapped apart.
FIELD_WIDGETS = (
    "dataset", "max_samples", "arch", "latent_dim", "conv_dense", "kl_warmup", "recon",
    "binarize", "sigma", "l1_code", "noise", "noise_type", "optimizer", "lr", "momentum",
    "weight_decay", "batch_size", "epochs", "seed", "device", "precision",
)  # fmt: skip
# Each model's own settings; beta's widgets (one key per kind and dataset) are matched apart.
KIND_FIELDS = {"vae": ("kl_warmup",), "dae": ("noise", "noise_type")}


def _w(name: str) -> str:
    return f"train_{name}"


def reset_other_kinds() -> None:
    """Drop the settings of every model kind but the chosen one: their widgets come back
    with their defaults if that kind is chosen again, and the config gets the neutral value."""
    model = KINDS[st.session_state.get("train_kind", "VAE")]["model"]
    for other, names in KIND_FIELDS.items():
        if other != model:
            for name in names:
                st.session_state.pop(_w(name), None)
    for key in [k for k in st.session_state if str(k).startswith("train_beta_")]:
        if model != "vae" or not str(key).startswith(
            f"train_beta_{st.session_state['train_kind']}"
        ):
            del st.session_state[key]


def form_state(config: TrainConfig) -> dict[str, Any]:
    """Every widget's value for ``config`` (keyed by widget key): what a preset fills in."""
    kind = {"ae": "AE", "dae": "Denoising AE"}.get(config.model) or (
        "VAE" if config.beta == 1.0 else "beta-VAE"
    )
    state = {_w(name): getattr(config, name) for name in FIELD_WIDGETS}
    hidden = "hidden" if config.arch == "mlp" else "channels"
    state.update({"train_kind": kind, _w(hidden): ",".join(map(str, config.hidden))})
    state[_w(f"beta_{kind}")] = float(config.beta)
    state[_w(f"beta_{kind}_{config.dataset}")] = float(config.beta)
    return state


def apply_preset() -> None:
    """Fill the widgets from a preset (set by Learn's one-click experiments), once: every
    setting it does not name goes back to the form's default, so nothing leaks from before."""
    preset: dict[str, Any] | None = st.session_state.pop(PRESET_KEY, None)
    if not preset:
        return
    preset = dict(preset)
    kind = preset.pop("kind", None)
    base = form_state(DEFAULTS)
    base.pop(_w("dataset"))  # a preset without a dataset keeps the one chosen
    st.session_state.update(base)
    if kind:
        st.session_state["train_kind"] = kind
    for name, value in preset.items():
        st.session_state[_w(name)] = ",".join(map(str, value)) if name == "hidden" else value
    reset_other_kinds()


def use_preset() -> None:
    """The Preset box's callback: the preset's full config replaces every setting."""
    name = st.session_state.get("train_preset_name")
    if name in PRESETS:
        st.session_state.update(form_state(PRESETS[name].config))
        reset_other_kinds()
