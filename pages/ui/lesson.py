"""A lesson's runs and its banner: queue them (or find them pre-trained), and, at the top of
the page the lesson opens (``?lesson=KEY&runs=ID,...``), what to look for, the runs'
progress and, once they have finished, the lesson's measured effect
(``aevae_core.lessons.checks``: the very numbers tests/core/test_lessons.py asserts)."""

from __future__ import annotations

import secrets

import streamlit as st

from aevae_core.config import TrainConfig
from aevae_core.jobs import classroom
from aevae_core.lessons.experiments import LESSONS_BY_KEY, Lesson
from aevae_core.store.record import ACTIVE
from aevae_core.store.runs import RunStore
from pages.ui.common import get_run, manager, run_label, select_run, store

SECTION_LINKS = {  # a lesson's view on a page without tabs: the section's anchor
    "prior": "Samples from the prior",
    "rate": "Rate–distortion",
    "recon": "The same images, reconstructed by each run",
    "curves": "Loss curves",
    "kl": "KL per latent dimension",
}


def existing_runs(
    runs_store: RunStore, lesson: Lesson, statuses: tuple[str, ...] = ("completed",)
) -> dict[TrainConfig, str]:
    """The newest run with one of ``statuses`` for each of the lesson's configs that has one
    (completed first, then active ones, when both are asked for)."""
    found: dict[TrainConfig, str] = {}
    wanted = set(lesson.configs)
    for status in statuses:
        for run in runs_store.list_runs(statuses=(status,)):  # newest first
            try:
                config = TrainConfig.from_json(run["config"])
            except ValueError:  # a run from another version of the app
                continue
            if config in wanted:
                found.setdefault(config, run["id"])
    return found


def trained_runs(runs_store: RunStore, lesson: Lesson) -> list[str] | None:
    """Ids of a completed run for each of the lesson's configs (the latest one), in the
    order of ``lesson.configs``; None unless all of them exist."""
    found = existing_runs(runs_store, lesson)
    ids = [found.get(config) for config in lesson.configs]
    return None if None in ids else ids


def start_lesson(lesson: Lesson) -> list[str]:
    """The lesson's runs, in the order of its configs: the ones already finished, queued or
    running (pre-trained before class, or started by another student) are reused, and only
    the missing ones are queued, as one group owned by the class (``lessons``). Thirty
    students clicking one lesson queue it once."""
    found = existing_runs(store(), lesson, ("completed", *ACTIVE))
    missing = [config for config in lesson.configs if config not in found]
    if missing:
        queued = manager().submit_group(
            missing, secrets.token_hex(4), owner=classroom.LESSONS_OWNER
        )
        found.update(zip(missing, queued, strict=True))
    ids = [found[config] for config in lesson.configs]
    select_run(ids[lesson.focus])
    return ids


@st.cache_data(show_spinner="Measuring the lesson's effect…", max_entries=16)
def measured(lesson_key: str, run_ids: tuple[str, ...]):  # noqa: ANN201 - lessons.checks.Effect
    """The lesson's effect on these (completed, hence unchanging) runs."""
    from aevae_core.explore import analysis
    from aevae_core.lessons.checks import Trained, measure

    runs = []
    for run_id in run_ids:
        model, config, _ = analysis.load_model(store(), run_id)
        runs.append(Trained(config, model, store().metrics(run_id, "epoch")))
    return measure(lesson_key, runs)


def _wait(run_ids: list[str]) -> None:
    @st.fragment(run_every=1.0)
    def progress() -> None:
        fresh = [get_run(i) for i in run_ids]
        for r in fresh:
            if r is not None:
                st.caption(f"{run_label(r)} — {r['status']}, epoch {r['last_epoch']}/{r['epochs']}")
        if not any(r is not None and r["status"] in ACTIVE for r in fresh):
            st.rerun()

    st.info(
        "The lesson's runs are training; its measured effect appears here when they finish.",
        icon=":material/hourglass_top:",
    )
    progress()


def lesson_banner() -> None:
    """What to look for and the measured effect of the lesson in the URL, if there is one."""
    lesson = LESSONS_BY_KEY.get(st.query_params.get("lesson") or "")
    if lesson is None:
        return
    ids = [i for i in (st.query_params.get("runs") or "").split(",") if i]
    runs = [get_run(i) for i in ids]
    with st.container(border=True, key="lesson_banner"):
        st.markdown(f"**Lesson: {lesson.title}.** {lesson.look_for}")
        if lesson.view in SECTION_LINKS:
            st.markdown(f"[Jump to: {SECTION_LINKS[lesson.view]}](#{lesson.view})")
        if len(runs) != len(lesson.configs) or None in runs:
            st.warning("Some of this lesson's runs were deleted: start it again on Learn.")
            return
        if [TrainConfig.from_json(r["config"]) for r in runs] != list(lesson.configs):
            st.warning("These are not the lesson's runs: start it again on Learn.")
            return
        if any(r["status"] in ACTIVE for r in runs):
            _wait(ids)
            return
        failed = [r for r in runs if r["status"] != "completed"]
        if failed:
            st.warning(
                f"{run_label(failed[0])} ended {failed[0]['status']}: the lesson's effect is "
                "measured on completed runs. Start it again on Learn."
            )
            return
        effect = measured(lesson.key, tuple(ids))
        lines = "\n".join(f"- {name}: **{value}**" for name, value in effect.rows)
        st.markdown(f"**Measured on these runs.** {effect.claim}\n\n{lines}")
        if effect.holds:
            st.success("The claim holds on these runs.", icon=":material/check_circle:")
        else:
            st.warning(
                "The claim does not hold on these runs: were they changed, or trained with "
                "another seed?",
                icon=":material/warning:",
            )
