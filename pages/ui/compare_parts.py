"""Pieces of the Compare page: run choice, the pair-training form, cached projected codes."""

from __future__ import annotations

import json
import secrets

import numpy as np
import streamlit as st

from aevae_core.config import OPTIMIZER_TITLES, ConfigError, TrainConfig, parse_hidden
from aevae_core.data.registry import BUILTIN
from aevae_core.explore import analysis, projection
from aevae_core.lessons.experiments import pair_configs
from aevae_core.store.record import ACTIVE, Run
from pages.ui.classroom import owner
from pages.ui.common import manager, run_label, store


def _optimizer(run: Run) -> str:
    return json.loads(run["config"]).get("optimizer", "adam")


def short_name(run: Run, runs: list[Run]) -> str:
    name = run["model"].upper()
    if run["model"] == "vae" and run["beta"] != 1:
        name = f"β-VAE β={run['beta']:g}"
    if len({r["latent_dim"] for r in runs}) > 1:  # else two VAEs could share one name
        name += f" z={run['latent_dim']}"
    if len({_optimizer(r) for r in runs}) > 1:  # the optimiser lesson: one curve per rule
        name += f" {OPTIMIZER_TITLES.get(_optimizer(run), _optimizer(run))}"
    same = [
        r
        for r in runs
        if r["model"] == run["model"]
        and r["beta"] == run["beta"]
        and r["latent_dim"] == run["latent_dim"]
        and _optimizer(r) == _optimizer(run)
    ]
    return name if len(same) == 1 else f"{name} ({run['id'][-6:]})"


def choose_runs() -> list[Run]:
    """2–4 runs: those listed in the URL (?runs=id1,id2, a shareable comparison), else the
    group in the URL (?group=…, set by the pair action or a lesson), else the two latest
    completed runs."""
    runs = store().list_runs()
    by_id = {r["id"]: r for r in runs}
    listed = [
        i for i in dict.fromkeys((st.query_params.get("runs") or "").split(",")) if i in by_id
    ]
    group = st.query_params.get("group")
    default = [by_id[i] for i in listed] or sorted(
        (r for r in runs if group and r["group_id"] == group), key=lambda r: r["seq"]
    )
    if not default:
        default = [r for r in runs if r["status"] == "completed"][:2][::-1]
    chosen = st.multiselect(
        "Runs to compare (2 to 4)",
        list(by_id),
        [r["id"] for r in default][:4],
        max_selections=4,
        format_func=lambda i: run_label(by_id[i], icon=False),
        key=f"cmp_runs_{group}_{','.join(listed)}",  # a new link starts a new selection
    )
    return [by_id[i] for i in chosen]


def wait_for(runs: list[Run]) -> None:
    """While some of the runs still train, list their progress and refresh until done."""
    if not any(r["status"] in ACTIVE for r in runs):
        return

    @st.fragment(run_every=1.0)
    def progress() -> None:
        fresh = [store().get_run(r["id"]) for r in runs]
        for r in fresh:
            done = f"epoch {r['last_epoch']}/{r['epochs']}"
            st.caption(f"{run_label(r)} — {r['status']}, {done}")
        if not any(r["status"] in ACTIVE for r in fresh):
            st.rerun()

    st.info(
        "Some runs are still training; the comparison fills in when they finish.",
        icon=":material/hourglass_top:",
    )
    progress()


def pair_form() -> None:
    c1, c2, c3, c4 = st.columns(4)
    dataset = c1.selectbox("Dataset", BUILTIN, key="cmp_pair_dataset")
    latent = c2.number_input("Latent dimension", 1, 128, 2, key="cmp_pair_latent")
    arch = c3.selectbox("Architecture", ["mlp", "conv"], key="cmp_pair_arch")
    epochs = c4.number_input("Epochs", 1, 1000, 20, key="cmp_pair_epochs")
    c1, c2, c3 = st.columns(3)
    hidden = c1.text_input(
        "Hidden sizes / channels",
        "256,128" if arch == "mlp" else "32,64",
        key=f"cmp_pair_hidden_{arch}",
    )
    betas = c2.text_input(
        "Extra β values (β-VAEs)",
        "",
        key="cmp_pair_betas",
        help="Comma-separated, e.g. 4, 16. Leave empty for just AE vs VAE.",
    )
    seed = c3.number_input("Seed", 0, 2**31 - 1, 0, key="cmp_pair_seed")
    try:
        beta_list = tuple(float(b) for b in betas.replace(" ", "").split(",") if b)
        if any(not 0 <= b <= 1000 for b in beta_list):
            raise ValueError
        base = TrainConfig(
            dataset=dataset,
            latent_dim=int(latent),
            arch=arch,
            hidden=parse_hidden(hidden),
            epochs=int(epochs),
            seed=int(seed),
            batch_size=32 if dataset == "digits" else 128,
        )
    except ConfigError as exc:
        st.error(f"**{exc.field}**: {exc.message}")
        return
    except ValueError:
        st.error("**β values**: a comma-separated list of numbers from 0 to 1000, e.g. 4, 16")
        return
    configs = pair_configs(base, beta_list)
    st.caption(
        f"Queues {len(configs)} runs: same data, architecture, latent size, seed and "
        "epochs; only the model (and β) differ."
    )
    if st.button("Train them", type="primary", key="cmp_pair_go"):
        try:
            group = secrets.token_hex(4)
            manager().submit_group(configs, group, owner=owner())
        except ConfigError as exc:
            st.error(f"**{exc.field}**: {exc.message}")
            return
        st.query_params.pop("runs", None)  # the new group, not an older list of runs
        st.query_params["group"] = group
        st.rerun()


@st.cache_data(show_spinner=False, max_entries=32)
def projected_codes(run_id: str, epoch: int, method: str):
    """The run's last snapshot codes on its ``method`` projection. Call it once
    latent_parts.ready_method has said the projection is fitted: a UMAP / t-SNE fit here
    would block the page for seconds."""
    snap = store().read_snapshot(run_id, store().snapshot_epochs(run_id)[-1])
    coords = projection.projection_for_run(store(), run_id, method).transform(snap["codes"])
    _, config, _ = analysis.load_model(store(), run_id)
    class_names = analysis.load_split(config, "val", 1)[3]
    return np.asarray(coords), snap.get("labels"), class_names
