"""Pieces of the Latent space page: projection choice with background warm-up, the epoch
evolution player (UI glue only; the work is in aevae_core)."""

from __future__ import annotations

import streamlit as st

from aevae_core.explore import projection, warmup
from aevae_core.explore.evolution import axis_ranges, evolution_gif
from aevae_core.explore.projection import METHOD_TITLES
from aevae_core.plots.figures import latent_scatter
from pages.ui.common import store


def axis_titles(method: str) -> tuple[str, str]:
    """The scatter's axis titles: z1/z2 for raw codes, else "PCA 1", "t-SNE 2", …"""
    name = METHOD_TITLES.get(method, method.upper())
    return ("z1", "z2") if method == "raw" else (f"{name} 1", f"{name} 2")


@st.cache_resource(show_spinner=False)
def start_warm_up() -> bool:
    """Once per server: compile UMAP / load t-SNE in the background (never on a click)."""
    warmup.warm_up(("umap", "tsne"), background=True)
    return True


def choose_method(latent_dim: int, key: str) -> str:
    """Raw axes for a 2-D code, PCA otherwise; UMAP/t-SNE offered, but a cold one falls back
    to PCA while it compiles in the background (the page refreshes when it is ready)."""
    start_warm_up()
    options = (["raw"] if latent_dim <= 2 else []) + ["pca", "umap", "tsne"]
    method = st.radio(
        "Projection",
        options,
        key=key,
        horizontal=True,
        format_func=METHOD_TITLES.get,
        help="How codes with more than 2 numbers are drawn in 2-D.",
    )
    state = warmup.warm_state(method)
    if state in ("cold", "warming"):
        st.info(
            f"{METHOD_TITLES[method]} is getting ready (first use on this server compiles "
            "it, about a minute); showing PCA until then.",
            icon=":material/hourglass_top:",
        )
        _wait_for_warm_up(method)
        return "pca" if latent_dim > 2 else "raw"
    if state == "failed":
        st.error(f"{METHOD_TITLES[method]} failed to start on this server; showing PCA.")
        return "pca"
    return method


@st.fragment(run_every=2.0)
def _wait_for_warm_up(method: str) -> None:
    if warmup.is_warm(method):
        st.rerun()


def ready_method(run_ids: list[str], method: str, latent_dim: int) -> str:
    """``method`` when its projection of every run is fitted, else the fast fallback (raw
    axes for a 2-D code, PCA otherwise) while UMAP / t-SNE fit in a background thread: a
    click never waits seconds for them. A fragment reruns the page once they are done."""
    fallback = "raw" if latent_dim <= 2 else "pca"
    if method in ("raw", "pca"):
        return method
    states = [projection.request_projection_for_run(store(), r, method)[1] for r in run_ids]
    failed = [s for s in states if s.startswith("failed")]
    if failed:
        reason = failed[0].removeprefix("failed:").strip()
        st.error(f"{METHOD_TITLES[method]} failed ({reason}); showing {METHOD_TITLES[fallback]}.")
        return fallback
    if "fitting" in states:
        st.info(
            f"{METHOD_TITLES[method]} is being computed in the background; showing "
            f"{METHOD_TITLES[fallback]} until it is ready.",
            icon=":material/hourglass_top:",
        )
        _wait_for_projection(tuple(run_ids), method)
        return fallback
    return method


@st.fragment(run_every=1.0)
def _wait_for_projection(run_ids: tuple[str, ...], method: str) -> None:
    states = [projection.request_projection_for_run(store(), r, method)[1] for r in run_ids]
    if "fitting" not in states:
        st.rerun()


def evolution(
    run_id: str, method: str, labels_key: str = "labels", class_names: tuple[str, ...] = ()
) -> None:
    """Codes of the fixed validation sample at every epoch, on one projection fitted once;
    a Play toggle steps through the epochs (only this part of the page refreshes)."""
    epochs = store().snapshot_epochs(run_id)
    if len(epochs) < 2:
        st.caption("The evolution appears once the run has two or more epochs.")
        return
    playing = st.session_state.get(f"latent_play_{run_id}", False)
    body = st.fragment(run_every=0.8 if playing else None)(_evolution_body)
    body(run_id, method, tuple(epochs), labels_key, playing, tuple(class_names))


def _evolution_body(
    run_id: str,
    method: str,
    epochs: tuple[int, ...],
    labels_key: str,
    was_playing: bool,
    class_names: tuple[str, ...] = (),
) -> None:
    playing = st.toggle("Play", key=f"latent_play_{run_id}")
    if playing != was_playing:
        st.rerun()  # start or stop the fragment's timer
    slot = f"latent_evo_{run_id}"
    if playing:
        current = st.session_state.get(slot, epochs[0])
        st.session_state[slot] = epochs[(epochs.index(current) + 1) % len(epochs)]
    epoch = st.select_slider("Epoch", list(epochs), key=slot)
    fig = _evolution_frame(run_id, method, epochs, labels_key, epoch)
    st.plotly_chart(fig, key=f"latent_evo_chart_{run_id}")
    gif = _gif(run_id, method, epochs, labels_key, class_names)
    st.download_button(
        "Download the evolution as a GIF",
        gif,
        f"{run_id}-latent.gif",
        "image/gif",
        key=f"latent_gif_{run_id}",
    )


@st.cache_resource(show_spinner=False, max_entries=64)  # a figure: shared, not re-validated
def _evolution_frame(
    run_id: str, method: str, epochs: tuple[int, ...], labels_key: str, epoch: int
):  # noqa: ANN202 - a plotly Figure
    frames, labels = _frames(run_id, method, epochs, labels_key)
    return latent_scatter(
        frames[epochs.index(epoch)], labels=labels, ranges=axis_ranges(frames),
        axis_titles=axis_titles(method), title=f"epoch {epoch}", height=420,
    )  # fmt: skip


@st.cache_data(show_spinner=False, max_entries=8)
def _gif(
    run_id: str, method: str, epochs: tuple[int, ...], labels_key: str, names: tuple[str, ...]
) -> bytes:
    frames, labels = _frames(run_id, method, epochs, labels_key)
    return evolution_gif(
        frames, labels, titles=[f"epoch {e}" for e in epochs], ranges=axis_ranges(frames),
        axis_titles=axis_titles(method), label_names=names or None, size=480,
    )  # fmt: skip


@st.cache_data(show_spinner="Projecting every epoch…", max_entries=16)
def _frames(run_id: str, method: str, epochs: tuple[int, ...], labels_key: str):
    proj = projection.projection_for_run(store(), run_id, method)
    frames = [proj.transform(store().read_snapshot(run_id, e)["codes"]) for e in epochs]
    return frames, store().read_snapshot(run_id, epochs[-1]).get(labels_key)


IMAGE_COUNTS = (500, 1000, 2000, 5000, 10_000)


def image_counts(total: int) -> list[int]:
    """How many validation images the scatter may show: the usual steps below the split's
    size, then all of it (capped at 10,000): 180 digits -> [180]; MNIST -> 500..10,000."""
    top = min(total, IMAGE_COUNTS[-1])
    return [n for n in IMAGE_COUNTS if n < top] + [top]


def image_count(where, total: int, key: str) -> int:  # noqa: ANN001 - a Streamlit container
    """The "Images" slider, bounded by the split's ``total`` images (a caption when only one
    choice is left)."""
    counts = image_counts(total)
    if len(counts) == 1:
        where.caption(f"Images: all {total} validation images")
        return counts[0]
    default = max(n for n in counts if n <= 2000) if counts[0] <= 2000 else counts[0]
    return where.select_slider("Images", counts, default, key=key)
