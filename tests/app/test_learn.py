"""Learn: every lesson is one click. It queues all the runs it needs as one group (or opens
them when they were trained before), opens its page on its view, and that page shows the
lesson's measured effect once the runs have finished.

The lessons come from ``aevae_core.lessons.experiments.LESSONS``, so a new lesson is covered too.
"""

from __future__ import annotations

import pytest
from app_helpers import (
    current_page,
    make_completed_run,
    new_app,
    no_exception,
    open_page,
    query_param,
    texts,
)

from aevae_core.config import TrainConfig
from aevae_core.jobs.runner import execute_run
from aevae_core.lessons.experiments import LESSONS, LESSONS_BY_KEY, lesson_params

LEARN = "pages/learn.py"
PAGE_TITLES = {
    "pages/compare.py": "Compare runs",
    "pages/reconstructions.py": "Reconstructions",
    "pages/latent.py": "Latent space",
}


def selected_tabs(at) -> list[str]:
    """The label of the tab each st.tabs opens on (its default)."""
    found = []

    def walk(node) -> None:
        if getattr(node, "type", None) == "tab_container":
            labels = [tab.label for tab in node.children.values()]
            found.append(labels[node.proto.tab_container.default_tab_index])
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return found


def lesson_button(at, lesson):
    return at.button(key=f"learn_{lesson.key}")


def test_every_lesson_has_a_button(app_env):
    at = open_page(LEARN)
    no_exception(at)
    assert [s.value for s in at.subheader] == [
        f"{n}. {lesson.title}" for n, lesson in enumerate(LESSONS, start=1)
    ]
    for lesson in LESSONS:
        button = lesson_button(at, lesson)
        assert not button.disabled
        assert button.label.startswith(f"Train {len(lesson.configs)} model"), button.label
    assert "What to look for" in texts(at.caption)


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.key for lesson in LESSONS])
def test_lesson_queues_its_runs_as_one_group_and_opens_its_view(app_env, lesson):
    before = {r["id"] for r in app_env.store.list_runs()}
    at = open_page(LEARN)
    lesson_button(at, lesson).click().run()
    no_exception(at)

    new = [r for r in app_env.store.list_runs() if r["id"] not in before]
    groups = {r["group_id"] for r in new}
    assert len(groups) <= 1 and None not in groups, "the runs queued share one group id"
    # The module's store is shared: a config an earlier lesson queued (the beta lesson's
    # beta = 1 VAE is the holes lesson's VAE) is reused, not queued twice.
    ids = query_param(at, "runs").split(",")
    shown = [TrainConfig.from_json(app_env.store.get_run(i)["config"]) for i in ids]
    assert shown == list(lesson.configs)
    assert {r["id"] for r in new} <= set(ids)
    assert current_page(at) == PAGE_TITLES[lesson.page]
    for key, value in lesson_params(lesson, ids).items():
        assert query_param(at, key) == value, key
    # The page says what to look for, and that the runs still train.
    banner = texts(at.markdown)
    assert f"Lesson: {lesson.title}" in banner and lesson.look_for in banner
    assert "are training" in texts(at.info)


def test_a_lesson_is_queued_once_for_the_class_and_past_the_student_quota(app_env, monkeypatch):
    """The optimiser lesson needs 4 runs, more than a student's quota of 3: its runs belong to
    the class (owner ``lessons``), and a second student's click reuses them, queuing nothing."""
    monkeypatch.setenv("AEVAE_MAX_ACTIVE_PER_OWNER", "3")
    lesson = LESSONS_BY_KEY["optimizers"]
    assert len(lesson.configs) > 3
    first = open_page(LEARN)
    lesson_button(first, lesson).click().run()
    no_exception(first)
    no_error = [e.value for e in first.error]
    assert not no_error, no_error
    ids = query_param(first, "runs")
    runs = [app_env.store.get_run(i) for i in ids.split(",")]
    assert len(runs) == len(lesson.configs)
    assert {r["owner"] for r in runs} == {"lessons"}
    n_runs = len(app_env.store.list_runs())

    second = open_page(LEARN)  # another browser: another owner
    lesson_button(second, lesson).click().run()
    no_exception(second)
    assert len(app_env.store.list_runs()) == n_runs, "queued again"
    assert query_param(second, "runs") == ids


def test_pretrained_lesson_opens_its_runs_and_shows_the_measured_effect(app_env):
    """A teacher pre-trained the anomaly lesson's run: one click opens it, without queuing
    it again, on the Anomaly detection tab, with the ROC AUCs the lesson claims."""
    lesson = LESSONS_BY_KEY["anomaly"]
    run_id = app_env.store.create_run(lesson.configs[0], status="running")
    execute_run(app_env.store, run_id)  # ~2 s: 20 epochs of 8x8 digits
    assert app_env.store.get_run(run_id)["status"] == "completed"
    n_runs = len(app_env.store.list_runs())

    at = open_page(LEARN)
    button = lesson_button(at, lesson)
    assert button.label == "Open the 1 trained model on Reconstructions"
    button.click().run()
    no_exception(at)
    assert len(app_env.store.list_runs()) == n_runs, "nothing queued again"
    assert current_page(at) == "Reconstructions"
    assert query_param(at, "runs") == run_id and query_param(at, "view") == "anomaly"
    assert "Anomaly detection" in selected_tabs(at)

    banner = texts(at.markdown)
    assert "Measured on these runs" in banner
    for kind in ("noisy", "inverted", "shuffled"):
        assert f"{kind}: **ROC AUC" in banner, banner
    assert "The claim holds" in texts(at.success)


def test_compare_shows_each_runs_prior_sample_distance(app_env):
    """The holes lesson's number under each run's prior samples, as lessons/checks.py has it."""
    from aevae_core.explore import analysis
    from aevae_core.lessons.checks import MAX_TRAIN_IMAGES, prior_sample_distance

    ids = [make_completed_run(app_env.store, model=m) for m in ("ae", "vae")]
    at = open_page("pages/compare.py", {"runs": ",".join(ids)})
    no_exception(at)
    shown = [c.value for c in at.caption if c.value.startswith("Median distance of 500")]
    expected = []
    for run_id in ids:
        model, config, _ = analysis.load_model(app_env.store, run_id)
        x_train = analysis.load_split(config, "train", MAX_TRAIN_IMAGES)[0]
        expected.append(f"{prior_sample_distance(model, x_train):.2f}")
    assert len(shown) == 1, shown  # one caption under the one mosaic, a value per run
    values = shown[0].split(": ", 1)[1].split("; ")
    assert [text.rsplit(" ", 1)[1] for text in values] == expected


def test_banner_for_runs_that_are_not_the_lessons(app_env):
    other = app_env.store.create_run(TrainConfig(dataset="digits", epochs=1), status="queued")
    at = open_page("pages/compare.py", {"lesson": "beta", "runs": other})
    no_exception(at)
    assert "start it again on Learn" in texts(at.warning)


def test_train_page_beta_vae_default_depends_on_the_dataset(app_env):
    at = open_page("pages/train.py")
    at.selectbox(key="train_kind").set_value("beta-VAE").run()
    beta = next(w for w in at.number_input if w.label.startswith("β"))
    assert beta.value == 1.5, "beta 4 collapses on 8x8 digits at z = 2"
    assert "Normalised β = β·z/pixels = 0.0469" in texts(at.caption)
    at.selectbox(key="train_dataset").set_value("mnist").run()
    beta = next(w for w in at.number_input if w.label.startswith("β"))
    assert beta.value == 4.0
    assert "Normalised β = β·z/pixels = 0.0102" in texts(at.caption)


def test_home_to_learn_round_trip(app_env):
    at = new_app().run()
    at.switch_page(LEARN).run()
    no_exception(at)
    assert current_page(at) == "Learn"
