"""The Train form's data helpers: the user's own upload and the dataset preview (UI glue)."""

from __future__ import annotations

import time
from typing import Any

import streamlit as st

from aevae_core.config import TrainConfig
from aevae_core.store.uploads import UploadError, save_upload
from pages.ui.preload import start_preload, torch_ready

PREVIEW_POLL_S = 1.0
# The longest a preview waits for the server's background import, which waits for runs to
# end (the quick start takes about 10 s): then it imports torch itself, in this render.
PREVIEW_WAIT_S = 30.0
PREVIEW_WAIT_KEY = "train_preview_waiting_since"
PREVIEW_FORCE_KEY = "train_preview_now"


def custom_data() -> str | None:
    """The path of the user's own images: a fresh upload, or the one uploaded before."""
    upload = st.file_uploader(
        "Your images: an .npz (array 'x', optional labels 'y') or a .zip of .png/.jpg images "
        "(one sub-folder per class)",
        type=["npz", "zip"],
        key="train_upload",
    )
    if upload is None:
        st.caption("Or a .png/.jpg folder on the server: run the CLI with --data-path.")
        return st.session_state.get("train_data_path")
    try:
        suffix = ".zip" if upload.name.lower().endswith(".zip") else ".npz"
        path = save_upload(upload.getvalue(), suffix=suffix, name=upload.name)
    except UploadError as exc:
        st.error(f"**upload**: {exc}", icon=":material/block:")
        return None
    st.session_state["train_data_path"] = path
    return path


@st.cache_data(show_spinner="Loading the dataset…", max_entries=32)
def _preview(dataset: str, data_path: str | None, max_samples: int) -> dict[str, Any]:
    from aevae_core.data.datasets import load_dataset
    from aevae_core.data.registry import DatasetError

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


@st.cache_data(show_spinner=False, max_entries=32)
def _raw_preview(dataset: str, max_samples: int) -> dict[str, Any] | None:
    from aevae_core.data.arrays import preview

    return preview(dataset, max_samples=max_samples)


def _info(config: TrainConfig, load: bool) -> dict[str, Any] | None:
    """The built-in digits' or MNIST-like files' preview (numpy, no torch), else the loaded
    dataset's when ``load``; None: the caller waits for torch."""
    if config.dataset != "custom":
        raw = _raw_preview(config.dataset, config.max_samples)
        if raw is not None:
            return raw
    return _preview(config.dataset, config.data_path, config.max_samples) if load else None


def dataset_preview(config: TrainConfig | None) -> None:
    """The dataset's size and 8 of its images, under the form.

    Digits and MNIST-like files are previewed without torch (aevae_core.data.arrays). Other
    sets are loaded through torch: while the server has not imported it yet (its first
    minutes), the preview waits for the background import (preload.py) instead of importing
    it here, which would hold this render, the live panel beside it and every other
    session's for about 2 s. It draws itself once torch is in, or after ``PREVIEW_WAIT_S``.
    """
    if config is None or (config.dataset == "custom" and not config.data_path):
        return
    info = _info(config, load=torch_ready() or st.session_state.get(PREVIEW_FORCE_KEY, False))
    if info is None:
        st.fragment(run_every=PREVIEW_POLL_S)(_waiting_preview)()
        return
    st.session_state.pop(PREVIEW_WAIT_KEY, None)
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
        _preview_figure(config.dataset, config.data_path, config.max_samples, info["images"]),
        key="train_preview",
        config={"displayModeBar": False},
    )


def _waiting_preview() -> None:
    since = st.session_state.setdefault(PREVIEW_WAIT_KEY, time.monotonic())
    if torch_ready() or time.monotonic() - since > PREVIEW_WAIT_S:
        st.session_state[PREVIEW_FORCE_KEY] = True  # from now on, at once, in this session
        st.rerun()  # the whole page: the preview takes this placeholder's place
    start_preload()  # the import this waits for (a page opened first starts it later)
    st.caption("Loading a preview of the dataset…")


# One figure per server and dataset (st.cache_resource: shared, not copied): building it
# cost ~25 ms of the GIL on every rerun of every watching session (issue 14's profile).
@st.cache_resource(show_spinner=False, max_entries=32)
def _preview_figure(dataset: str, data_path: str | None, max_samples: int, _images: Any) -> Any:
    from aevae_core.plots.figures import image_grid

    return image_grid(_images[:8], ncols=4)  # 4 readable tiles fit the form's column
