"""Learn: every lesson has its button; presets fill the Train form, groups are queued.

The lessons come from ``aevae_core.experiments.LESSONS``, so a new lesson is covered too.
"""

from __future__ import annotations

import pytest
from app_helpers import current_page, new_app, no_exception, open_page, query_param

from aevae_core.config import TrainConfig
from aevae_core.experiments import LESSONS

LEARN = "pages/learn.py"
PRESETS = [lesson for lesson in LESSONS if lesson.action == "preset"]
QUEUES = [lesson for lesson in LESSONS if lesson.action == "queue"]


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
        if lesson.action == "queue":
            assert str(len(lesson.configs)) in button.label
    assert PRESETS and QUEUES, "both kinds of lesson are exercised below"


def widget_value(at, name):
    """The Train form's widget for preset field ``name`` (keys are ``train_<name>``)."""
    key = "train_kind" if name == "kind" else f"train_{name}"
    for kind in ("selectbox", "number_input", "slider", "text_input", "checkbox", "radio"):
        for widget in getattr(at, kind):
            if widget.key == key:
                return widget.value
    raise AssertionError(f"no widget with key {key!r} on the Train page")


@pytest.mark.parametrize("lesson", PRESETS, ids=[lesson.key for lesson in PRESETS])
def test_preset_lesson_fills_the_train_form(app_env, lesson):
    before = len(app_env.store.list_runs())
    at = open_page(LEARN)
    lesson_button(at, lesson).click().run()
    no_exception(at)
    assert current_page(at) == "Train"
    for name, value in lesson.preset.items():
        assert widget_value(at, name) == value, name
    assert len(app_env.store.list_runs()) == before, "a preset only fills the form"
    # The form shows the preset, and Start is ready.
    start = at.button(key="train_start")
    assert not start.disabled


def test_collapse_lesson_sets_beta_50(app_env):
    """The brief's example: posterior collapse opens Train as a beta-VAE with beta 50."""
    collapse = next(lesson for lesson in LESSONS if lesson.key == "collapse")
    at = open_page(LEARN)
    lesson_button(at, collapse).click().run()
    assert at.selectbox(key="train_kind").value == "beta-VAE"
    betas = [w for w in at.number_input if w.label.startswith("β")]
    assert [b.value for b in betas] == [50.0]


@pytest.mark.parametrize("lesson", QUEUES, ids=[lesson.key for lesson in QUEUES])
def test_queue_lesson_queues_its_runs_as_one_group(app_env, lesson):
    before = {r["id"] for r in app_env.store.list_runs()}
    at = open_page(LEARN)
    lesson_button(at, lesson).click().run()

    new = [r for r in app_env.store.list_runs() if r["id"] not in before]
    assert len(new) == len(lesson.configs)
    groups = {r["group_id"] for r in new}
    assert len(groups) == 1 and None not in groups, "the runs share one group id"
    queued = sorted(TrainConfig.from_json(r["config"]).to_json() for r in new)
    assert queued == sorted(c.to_json() for c in lesson.configs)
    no_exception(at)
    assert query_param(at, "group") == groups.pop()
    assert current_page(at) != "Learn", f"the lesson opens {lesson.page}"


def test_home_to_learn_round_trip(app_env):
    at = new_app().run()
    at.switch_page(LEARN).run()
    no_exception(at)
    assert current_page(at) == "Learn"
