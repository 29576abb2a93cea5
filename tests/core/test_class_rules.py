"""Owners, quota, rate limit, fair-share order, permissions and pins, on the store and the
manager directly (aevae_core.jobs.classroom). One test runs real workers to check the order in
which runs actually start."""

from __future__ import annotations

import sqlite3

import pytest
from jobs_helpers import QUICK, wait_final, wait_until

from aevae_core.config import ConfigError
from aevae_core.jobs import classroom
from aevae_core.jobs.classroom import (
    NOT_YOURS,
    NotYourRun,
    StartedTooSoon,
    fair_order,
    owner_from_token,
    password_matches,
)
from aevae_core.store.runs import QuotaExceeded, RunStore

pytestmark = pytest.mark.timeout(300)

A, B, C = "s-aaaaaaaaaaaa", "s-bbbbbbbbbbbb", "s-cccccccccccc"


@pytest.fixture
def no_rate_limit(monkeypatch):
    monkeypatch.setattr(classroom, "START_INTERVAL_S", 0.0)


def q(seq: int, owner: str) -> dict:
    return {"id": f"r{seq}", "seq": seq, "owner": owner}


# -- the order ------------------------------------------------------------------------------
def test_fair_order_serves_the_owner_with_fewest_running_first_and_fifo_within():
    queued = [q(1, A), q(2, A), q(3, A), q(4, B), q(5, C), q(6, B)]
    # A runs one already: B and C (none running, never served) come first, by oldest run.
    order = [r["id"] for r in fair_order(queued, {A: 1}, {A: 100.0})]
    assert order == ["r4", "r5", "r1", "r6", "r2", "r3"]
    # nobody runs anything and nobody was served: plain FIFO
    assert [r["id"] for r in fair_order(queued, {})] == ["r1", "r4", "r5", "r2", "r6", "r3"]


def test_fair_order_after_an_owners_run_ends_the_other_owner_goes_next():
    # A's first run has just ended (0 running, served at t=10); B never ran.
    queued = [q(2, A), q(3, A), q(4, B)]
    assert [r["id"] for r in fair_order(queued, {A: 0}, {A: 10.0})] == ["r4", "r2", "r3"]


def test_thirty_owners_three_runs_each_every_first_run_comes_before_any_second():
    queued = [q(1 + i * 3 + k, f"s-{i:012d}") for i in range(30) for k in range(3)]
    order = fair_order(queued, {})
    firsts = {r["owner"]: n for n, r in reversed(list(enumerate(order)))}
    assert max(firsts.values()) == 29  # all 30 first runs fill the first 30 places
    fifo = sorted(queued, key=lambda r: r["seq"])
    fifo_firsts = {r["owner"]: n for n, r in reversed(list(enumerate(fifo)))}
    assert max(fifo_firsts.values()) == 87  # FIFO: the 30th owner's first run is 88th


# -- owners, passwords -------------------------------------------------------------------------
def test_owner_ids_come_from_the_token_and_the_server_secret(tmp_path):
    secret = classroom.server_secret(tmp_path)
    assert classroom.server_secret(tmp_path) == secret  # kept across restarts
    assert (tmp_path / classroom.SECRET_FILE).stat().st_mode & 0o077 == 0
    token = classroom.new_token()
    owner = owner_from_token(token, secret)
    assert owner.startswith("s-") and token not in owner
    assert owner_from_token(token, secret) == owner
    assert owner_from_token(classroom.new_token(), secret) != owner
    assert owner_from_token(token, b"another server") != owner
    for forged in (owner, owner[2:], "", "x" * 32, None, token + "0", token.upper()[:-1] + "g"):
        assert owner_from_token(forged, secret) != owner


def test_teacher_password_in_constant_time_and_none_without_one():
    assert password_matches("open sesame", "open sesame")
    assert not password_matches("open sesam", "open sesame")
    assert not password_matches("", "")
    assert not password_matches("anything", None)


def test_control_refusal_names_the_reason():
    run = {"owner": A}
    assert classroom.control_refusal(run, A) is None
    assert classroom.control_refusal(run, B) == NOT_YOURS
    assert classroom.control_refusal(run, B, teacher=True) is None


@pytest.mark.parametrize("raw", ["0", "-1", "three", "2.5"])
def test_a_bad_quota_setting_is_named(monkeypatch, raw):
    monkeypatch.setenv("AEVAE_MAX_ACTIVE_PER_OWNER", raw)
    with pytest.raises(ConfigError, match="AEVAE_MAX_ACTIVE_PER_OWNER.*at least 1"):
        classroom.max_active_per_owner()


# -- the store ---------------------------------------------------------------------------
def test_an_older_store_gets_owner_and_pinned_columns(runs_dir):
    runs_dir.mkdir()
    db = sqlite3.connect(runs_dir / "runs.sqlite3")
    db.execute(
        "CREATE TABLE runs (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, status TEXT NOT NULL, "
        "reason TEXT, config TEXT NOT NULL, dataset TEXT, model TEXT, arch TEXT, "
        "latent_dim INTEGER, beta REAL, epochs INTEGER, group_id TEXT, created REAL NOT NULL, "
        "started REAL, ended REAL, pid INTEGER, host TEXT, last_epoch INTEGER NOT NULL DEFAULT 0,"
        " last_step INTEGER NOT NULL DEFAULT 0, total_steps INTEGER NOT NULL DEFAULT 0, "
        "val_loss REAL, best_val_loss REAL, cancel_requested INTEGER NOT NULL DEFAULT 0, "
        "resume INTEGER NOT NULL DEFAULT 0)"
    )
    db.execute(
        "INSERT INTO runs (id, seq, status, config, created) VALUES "
        "('20260101-000000-abcdef', 1, 'completed', '{}', 1.0)"
    )
    db.commit()
    db.close()
    store = RunStore(runs_dir)
    run = store.get_run("20260101-000000-abcdef")
    assert (run["owner"], run["pinned"]) == ("local", 0)
    new = store.create_run(QUICK, owner=A)
    assert store.get_run(new)["owner"] == A


def test_pinned_runs_are_listed_first(runs_dir):
    store = RunStore(runs_dir)
    ids = [store.create_run(QUICK) for _ in range(3)]
    assert [r["id"] for r in store.list_runs()] == ids[::-1]
    store.set_pinned(ids[0], True)
    assert [r["id"] for r in store.list_runs()] == [ids[0], ids[2], ids[1]]
    store.set_pinned(ids[0], False)
    assert [r["id"] for r in store.list_runs()] == ids[::-1]


def test_the_store_refuses_past_the_quota_in_the_insert(runs_dir):
    store = RunStore(runs_dir)
    for _ in range(2):
        store.create_run(QUICK, owner=A, max_active=2)
    with pytest.raises(QuotaExceeded, match="2 runs queued or running.*at most 2"):
        store.create_run(QUICK, owner=A, max_active=2)
    store.create_run(QUICK, owner=B, max_active=2)  # per owner
    assert store.active_count(A) == 2 and store.active_count(B) == 1


# -- the manager ---------------------------------------------------------------------------
def test_quota_refuses_the_fourth_start_and_says_how_many(managers, no_rate_limit):
    manager = managers(start=False)
    for _ in range(3):
        manager.submit(QUICK, owner=A)
    with pytest.raises(QuotaExceeded) as refused:
        manager.submit(QUICK, owner=A)
    assert refused.value.field == "AEVAE_MAX_ACTIVE_PER_OWNER"
    assert "3 runs queued or running" in refused.value.message
    assert "at most 3" in refused.value.message
    manager.submit(QUICK, owner=B)
    for _ in range(5):  # the CLI and local callers (the teacher's scripts) are not limited
        manager.submit(QUICK, owner="cli")
    assert manager.store.active_count(A) == 3
    queued = manager.store.queued()
    manager.cancel(queued[0]["id"], by=A)  # one ends: A may start again
    manager.submit(QUICK, owner=A)


def test_quota_follows_the_setting(managers, no_rate_limit, monkeypatch):
    monkeypatch.setenv("AEVAE_MAX_ACTIVE_PER_OWNER", "1")
    manager = managers(start=False)
    manager.submit(QUICK, owner=A)
    with pytest.raises(QuotaExceeded, match="1 runs queued or running"):
        manager.submit(QUICK, owner=A)


def test_one_start_per_two_seconds_per_owner(managers, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(classroom, "now", lambda: clock[0])
    manager = managers(start=False)
    manager.submit(QUICK, owner=A)
    clock[0] += 0.5
    with pytest.raises(StartedTooSoon, match=r"one start per 2 s.*try again in 1\.5 s"):
        manager.submit(QUICK, owner=A)
    manager.submit(QUICK, owner=B)  # per owner
    clock[0] += 1.6
    manager.submit(QUICK, owner=A)
    # the runs of one group (a lesson, a compare pair) are one start
    clock[0] += 2.1
    manager.submit(QUICK, owner=C, group_id="g1")
    manager.submit(QUICK, owner=C, group_id="g1")
    with pytest.raises(StartedTooSoon):
        manager.submit(QUICK, owner=C, group_id="g2")


def test_a_group_is_one_start_and_is_refused_whole_past_the_quota(managers):
    manager = managers(start=False)
    manager.submit(QUICK, owner=A)
    with pytest.raises(QuotaExceeded, match="this starts 3 runs.*1 runs queued or running"):
        manager.submit_group([QUICK] * 3, "g1", owner=A)
    assert manager.store.active_count(A) == 1  # nothing of the group was queued
    ids = manager.submit_group([QUICK] * 2, "g2", owner=B)  # one click: no rate limit
    assert {manager.store.get_run(i)["group_id"] for i in ids} == {"g2"}
    assert len(manager.submit_group([QUICK] * 4, "g3", owner="cli")) == 4


def test_students_control_only_their_own_runs_and_the_teacher_all(managers, no_rate_limit):
    manager = managers(start=False)
    a_run, b_run = manager.submit(QUICK, owner=A), manager.submit(QUICK, owner=B)
    with pytest.raises(NotYourRun, match="Another student's run"):
        manager.cancel(a_run, by=B)
    assert manager.store.get_run(a_run)["status"] == "queued"
    assert manager.cancel(b_run, by=B) == "stopped"
    with pytest.raises(NotYourRun):
        manager.delete(b_run, by=A)
    with pytest.raises(NotYourRun):
        manager.resume(b_run, by=A)
    assert manager.cancel(a_run, by=B, teacher=True) == "stopped"
    manager.delete(b_run, by=B)
    manager.delete(a_run, by=C, teacher=True)
    assert manager.store.list_runs() == []


def test_stop_all_and_queue_positions_follow_the_fair_order(managers, no_rate_limit):
    manager = managers(start=False)
    a = [manager.submit(QUICK, owner=A) for _ in range(3)]
    b = manager.submit(QUICK, owner=B)
    assert [manager.queue_position(i) for i in [*a, b]] == [1, 3, 4, 2]
    assert [r["id"] for r in manager.start_order()] == [a[0], b, a[1], a[2]]
    assert manager.stop_all() == 4
    assert {r["status"] for r in manager.store.list_runs()} == {"stopped"}
    assert manager.queue_position(b) is None


def test_runs_start_in_fair_share_order_with_one_worker(managers, no_rate_limit):
    """A queues 3, B 1, C 1, all before the manager starts; one worker: A, B, C, A, A."""
    manager = managers(start=False, max_workers=1)
    ids = [manager.submit(QUICK, owner=o) for o in (A, A, A, B, C)]
    manager.start()
    for run_id in ids:
        wait_final(manager.store, run_id)
    runs = {i: manager.store.get_run(i) for i in ids}
    assert all(r["status"] == "completed" for r in runs.values()), runs
    started = sorted(ids, key=lambda i: runs[i]["started"])
    assert started == [ids[0], ids[3], ids[4], ids[1], ids[2]]
    wait_until(lambda: not manager.active_ids(), "the workers to be reaped")
