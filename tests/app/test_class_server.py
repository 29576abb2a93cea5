"""The class server in the app: owners' controls, quota and rate-limit messages, the queue
position shown, teacher mode (password, class view, stop all, pins).

Two "browsers" are two AppTest sessions with different owner tokens (a browser's token
comes from its cookie; AppTest has no cookies, so the test puts it in session_state, where
pages/ui/classroom.py keeps it). The module's manager never starts workers: runs stay
queued, which is all these checks need.
"""

from __future__ import annotations

import pytest
from app_helpers import by_label, make_finished_run, new_app, no_exception, texts

from aevae_core.jobs import classroom
from pages.ui.classroom import LOCAL_RUN, TOKEN_KEY

TRAIN, RUNS = "pages/train.py", "pages/runs.py"
TOKEN_A, TOKEN_B = "a" * 32, "b" * 32
PASSWORD = "correct horse"


@pytest.fixture(autouse=True)
def no_rate_limit(monkeypatch):
    monkeypatch.setattr(classroom, "START_INTERVAL_S", 0.0)


def owner_of(app_env, token: str) -> str:
    return classroom.owner_from_token(token, classroom.server_secret(app_env.runs_dir))


def browser(token: str, page: str, query: dict[str, str] | None = None):
    at = new_app()
    at.session_state[TOKEN_KEY] = token
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.switch_page(page).run()


def start(at, seed: int | None = None) -> None:
    """Press Start; with ``seed``, first set it, so the start is a different run (Start
    again with the settings of an active run only shows that run: no double click twice)."""
    if seed is not None:
        by_label(at.number_input, "Seed").set_value(seed).run()
    by_label(at.button, "Start training").click().run()
    no_exception(at)


def stop_buttons(at):
    return [b for b in at.button if "Stop" in b.label]


@pytest.fixture
def clean(app_env):
    app_env.manager.stop_all()
    app_env.manager._last_start.clear()  # the rate limit's memory of earlier tests' starts
    for run in app_env.store.list_runs():
        app_env.store.delete_run(run["id"])
    return app_env


def test_a_student_gets_three_runs_and_a_message_for_the_fourth(clean):
    at = browser(TOKEN_A, TRAIN)
    by_label(at.number_input, "Epochs").set_value(2).run()
    for seed in range(3):
        start(at, seed)
        assert not at.error, texts(at.error)
    start(at, 3)
    message = texts(at.error)
    assert "AEVAE_MAX_ACTIVE_PER_OWNER" in message and "3 runs queued or running" in message
    owner = owner_of(clean, TOKEN_A)
    assert [r["owner"] for r in clean.store.list_runs()] == [owner] * 3


def test_starts_are_rate_limited_per_student(clean, monkeypatch):
    monkeypatch.setattr(classroom, "START_INTERVAL_S", 60.0)
    at = browser(TOKEN_A, TRAIN)
    start(at, 0)
    start(at, 1)
    assert "one start per 60 s" in texts(at.error)
    assert len(clean.store.list_runs()) == 1
    start(browser(TOKEN_B, TRAIN))  # another student is not held up
    assert len(clean.store.list_runs()) == 2


def test_others_runs_show_disabled_controls_with_the_reason(clean):
    a_run = clean.manager.submit(classroom_config(clean), owner=owner_of(clean, TOKEN_A))
    b = browser(TOKEN_B, TRAIN, {"run": a_run})
    no_exception(b)
    [stop] = stop_buttons(b)
    assert stop.disabled and classroom.NOT_YOURS in texts(b.caption)
    b = browser(TOKEN_B, RUNS, {"run": a_run})
    assert by_label(b.button, "Stop").disabled
    assert clean.store.get_run(a_run)["status"] == "queued"
    a = browser(TOKEN_A, TRAIN, {"run": a_run})
    [stop] = stop_buttons(a)
    assert not stop.disabled and classroom.NOT_YOURS not in texts(a.caption)
    stop.click().run()
    assert clean.store.get_run(a_run)["status"] == "stopped"
    b = browser(TOKEN_B, RUNS, {"run": a_run})
    assert by_label(b.button, "Delete").disabled and classroom.NOT_YOURS in texts(b.caption)
    a = browser(TOKEN_A, RUNS, {"run": a_run})
    next(c for c in a.checkbox if c.label.startswith("Yes, delete")).check().run()
    by_label(a.button, "Delete").click().run()
    assert a_run not in {r["id"] for r in clean.store.list_runs()}


def classroom_config(app_env):
    return app_env.store.config(make_finished_run(app_env.store))


def test_the_queue_position_shown_is_the_fair_share_one(clean):
    config = classroom_config(clean)
    a_runs = [clean.manager.submit(config, owner=owner_of(clean, TOKEN_A)) for _ in range(3)]
    b_run = clean.manager.submit(config, owner=owner_of(clean, TOKEN_B))
    b = browser(TOKEN_B, TRAIN, {"run": b_run})
    assert "position 2" in texts(b.info)  # B's only run passes A's second and third
    a = browser(TOKEN_A, TRAIN, {"run": a_runs[2]})
    assert "position 4" in texts(a.info)
    assert clean.manager.queue_position(b_run) == 2


def test_no_teacher_mode_without_a_password(clean, monkeypatch):
    monkeypatch.delenv("AEVAE_TEACHER_PASSWORD", raising=False)
    at = browser(TOKEN_A, RUNS)
    assert not [t for t in at.text_input if t.label == "Teacher password"]
    # with no password set, the runs of the command line are everyone's to manage
    local = make_finished_run(clean.store, "stopped")
    at = browser(TOKEN_A, RUNS, {"run": local})
    no_exception(at)
    assert LOCAL_RUN not in texts(at.caption) and classroom.NOT_YOURS not in texts(at.caption)
    assert not by_label(at.button, "Delete").help


def test_teacher_mode_unlocks_every_control_the_class_view_stop_all_and_pins(clean, monkeypatch):
    monkeypatch.setenv("AEVAE_TEACHER_PASSWORD", PASSWORD)
    config = classroom_config(clean)
    a_run = clean.manager.submit(config, owner=owner_of(clean, TOKEN_A))
    b_run = clean.manager.submit(config, owner=owner_of(clean, TOKEN_B))
    example = make_finished_run(clean.store)  # a run the teacher trained with the CLI
    # a student cannot stop the teacher's run while a password is configured
    b = browser(TOKEN_B, RUNS, {"run": example})
    assert by_label(b.button, "Delete").disabled and LOCAL_RUN in texts(b.caption)

    t = browser("c" * 32, RUNS, {"run": a_run})
    assert "Class view" not in texts(t.subheader)
    by_label(t.text_input, "Teacher password").input("wrong")  # in a form: sent with the click
    by_label(t.button, "Unlock").click().run()
    assert "Wrong password." in texts(t.error) and "Class view" not in texts(t.subheader)
    assert t.session_state[TOKEN_KEY] == "c" * 32
    by_label(t.text_input, "Teacher password").input(PASSWORD)  # in a form: sent with the click
    by_label(t.button, "Unlock").click().run()
    no_exception(t)
    assert "Class view" in texts(t.subheader)
    assert not by_label(t.button, "Stop").disabled  # another owner's run
    queue = next(d.value for d in t.dataframe if "position" in d.value.columns)
    assert list(queue["run"]) == [a_run, b_run] and list(queue["position"]) == [1, 2]
    stop_all = next(b for b in t.button if b.label.startswith("Stop all"))
    assert stop_all.label == "Stop all (2 active)"
    stop_all.click().run()
    assert {clean.store.get_run(i)["status"] for i in (a_run, b_run)} == {"stopped"}

    t.query_params["run"] = example
    t.run()
    by_label(t.toggle, "Pin as an example: every student sees it first").set_value(True).run()
    no_exception(t)
    assert clean.store.get_run(example)["pinned"] == 1
    b = browser(TOKEN_B, RUNS)
    assert b.dataframe[0].value["run"].iloc[0] == f"📌 {example}"
    assert "Class view" not in texts(b.subheader)
    by_label(t.button, "Leave teacher mode").click().run()
    assert "Class view" not in texts(t.subheader)


def test_in_a_class_the_sidebar_lists_a_students_own_jobs_and_counts_the_others(clean):
    """Beyond LIST_ALL_UP_TO active jobs a student's sidebar links their own jobs and says
    how many others are running or queued; with few jobs (a laptop) it lists them all."""
    from pages.ui.jobs_list import LIST_ALL_UP_TO

    config = classroom_config(clean)
    mine = clean.manager.submit(config, owner=owner_of(clean, TOKEN_A))
    clean.manager.submit(config, owner=owner_of(clean, TOKEN_B))
    at = browser(TOKEN_A, TRAIN)
    assert len(at.sidebar.get("page_link")) == 2  # few jobs: every one is listed
    for k in range(LIST_ALL_UP_TO):
        clean.manager.submit(config, owner=f"student-{k}")
    at = browser(TOKEN_A, TRAIN)
    no_exception(at)
    links = at.sidebar.get("page_link")
    assert len(links) == 1 and mine in str(links[0].proto), [link.value for link in links]
    others = LIST_ALL_UP_TO + 1
    assert f"And {others} jobs of others: 0 running, {others} queued." in texts(at.sidebar.caption)


def test_the_job_list_refreshes_fast_only_while_it_lists_a_running_job(clean, monkeypatch):
    """Every second while a listed job runs (its epoch label moves), as the live panel does
    while they wait, slowly when a student only sees the class's count, never when idle."""
    import pages.ui.jobs_list as jobs_list
    from aevae_core.jobs.live_view import LiveView

    monkeypatch.setattr(jobs_list, "owner", lambda: "me")
    monkeypatch.setattr(jobs_list, "is_teacher", lambda: False)
    view = LiveView(clean.store, max_age=0.0)
    assert jobs_list.refresh_interval(view) is None
    config = classroom_config(clean)
    mine = clean.manager.submit(config, owner="me")
    assert jobs_list.refresh_interval(view) == jobs_list.QUEUED_JOBS_REFRESH_S
    assert clean.store.claim(mine, 1, "host")
    assert jobs_list.refresh_interval(view) == jobs_list.JOBS_REFRESH_S
    clean.store.finish(mine, "completed")
    for k in range(jobs_list.LIST_ALL_UP_TO + 1):
        clean.manager.submit(config, owner=f"student-{k}")
    assert jobs_list.refresh_interval(view) == jobs_list.OTHERS_REFRESH_S
    monkeypatch.setattr(jobs_list, "is_teacher", lambda: True)  # the teacher sees them all
    assert jobs_list.refresh_interval(view) == jobs_list.QUEUED_JOBS_REFRESH_S


def test_a_queued_panel_polls_fast_only_when_next_for_a_free_worker():
    from pages.ui.train_refresh import (
        FIRST_POINT_REFRESH_S,
        QUEUED_REFRESH_S,
        REFRESH_S,
        refresh_every,
    )

    assert refresh_every("running", None, 0) == REFRESH_S
    # started, waiting for its first step: polled faster; still queued: not
    assert refresh_every("running", None, 0, stepped=False) == FIRST_POINT_REFRESH_S
    assert refresh_every("queued", 1, 1, stepped=False) == REFRESH_S
    assert refresh_every("queued", 2, 1, stepped=False) == QUEUED_REFRESH_S
    assert refresh_every("queued", 1, 1) == REFRESH_S  # starts in a moment
    assert refresh_every("queued", 2, 1) == QUEUED_REFRESH_S
    assert refresh_every("queued", 1, 0) == QUEUED_REFRESH_S  # every worker busy
    assert refresh_every("completed", None, 2) is None
    assert refresh_every(None, None, 2) is None  # deleted
