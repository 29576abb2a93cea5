"""The classroom scenario in AppTest: 30 sessions on one app, each starting a small job and
watching it (``run_scenario``; bench/bench_classroom.py prints it, tests/app/test_classroom.py
asserts it).

``sessions`` AppTest sessions of ``app.py``, each driven by its own thread, all in this one
process: as in one ``streamlit run`` server with 30 browser tabs, every script run happens
in this process (one thread per session run, sharing one GIL), ``st.cache_resource`` gives
every session the same JobManager, and the jobs run in that manager's worker processes (a
runs directory of its own, ``AEVAE_MAX_WORKERS``). The harness (classroom_harness.py) lets
the sessions run at once.

1. a "teacher" session opens Train and Runs once (imports, caches); then every session
   opens Train and sets a small job (digits, ``epochs``, an MLP with ``hidden`` units);
   when all are ready they press **Start training** within ``start_spread`` seconds of
   each other (random), as a class does when the teacher says so;
2. each session then watches as its browser tab would: Streamlit's frontend re-runs each
   ``st.fragment(run_every=...)`` on its own timer (the live panel every 0.5 s while the
   run trains and 2 s while it is queued, the sidebar's job list every second while jobs
   are active), and the whole page only when the student acts or a fragment asks for it;
   so every ``watch`` seconds (random) a session may go to Runs (chance ``switch``) and
   comes back at the next. AppTest runs no timers and only whole pages: the harness runs
   one fragment the way the frontend asks for it. Sessions keep watching until every run
   has ended, so all 30 load the app the whole time. ``full_reruns`` instead re-runs the
   whole page every ``watch`` seconds: heavier than what 30 browsers ask of a server;
3. at the end each session's Train page must say its run "Completed".

Every ``at.run()`` is timed: that is what one render costs the server (the script run,
plus AppTest's parsing of the page, which a server does not do).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from aevae_core.jobs.classroom import START_INTERVAL_S
from aevae_core.store.record import ACTIVE  # noqa: E402
from aevae_core.store.runs import RunStore

from .classroom_harness import HARNESS, server_like_apptest
from .classroom_result import CpuSampler, ScenarioResult, Session

REPO = Path(__file__).resolve().parents[2]
SESSIONS = 30
APPTEST_TIMEOUT_S = 240.0  # the AppTest scenario; its jobs take about a minute on 2 cores
RUN_TIMEOUT_S = 60.0  # one AppTest script run, at most
WATCH_S = (0.5, 1.0)  # an AppTest session acts (or, --full-reruns, re-runs) this often
SWITCH_P = 0.15  # ... going to Runs (and back) with this probability
START_SPREAD_S = 2.0  # the class presses Start within this many seconds of each other
TRAIN, RUNS = "pages/train.py", "pages/runs.py"


class ThreadGate:
    """Opens when every session has arrived (or given up): the class presses Start together."""

    def __init__(self, n: int) -> None:
        self.left = n
        self.opened_at = 0.0
        self.lock = threading.Lock()
        self.event = threading.Event()

    def arrive(self) -> None:
        with self.lock:
            self.left -= 1
            if self.left <= 0 and not self.event.is_set():
                self.opened_at = time.time()
                self.event.set()

    def wait(self, timeout: float) -> None:
        self.arrive()
        self.event.wait(timeout)


def _widget(elements: Any, label: str) -> Any:
    found = [e for e in elements if e.label == label]
    if len(found) != 1:
        raise LookupError(f"{len(found)} widgets labelled {label!r}")
    return found[0]


def _exception_messages(at: Any) -> list[str]:
    return [(getattr(e, "message", None) or str(e))[:500] for e in at.exception]


def _timed(s: Session, at: Any, kind: str, action: Any) -> None:
    """Run ``action`` (one script run of ``at``), recording its time and any exception shown."""
    started, t0 = time.time(), time.perf_counter()
    action()
    s.renders.append((started, time.perf_counter() - t0, kind))
    s.exceptions += [f"{kind}: {message}" for message in _exception_messages(at)]


def _new_session() -> Any:
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(REPO / "app.py"), default_timeout=RUN_TIMEOUT_S)


class Tab:
    """What one browser tab asks of the server while its student watches.

    Streamlit's frontend re-runs each ``st.fragment(run_every=...)`` of the page on its own
    timer (the live panel every 0.5 s while the run trains, 2 s while it is queued; the
    sidebar's job list every second while jobs are active), and the whole page only when
    the student acts or a fragment asks for it (``st.rerun()``: the run started or ended).
    ``tick`` does the next of those: a fragment's refresh when one is due, else a page
    switch (to Runs with chance ``switch`` per ``watch`` interval, and back at the next).
    ``--full-reruns`` replaces the timers by a full rerun every ``watch`` interval: the
    heavier load this bench measured before (a full rerun costs more than a fragment's).
    """

    def __init__(self, s: Session, at: Any, rng: random.Random, options: argparse.Namespace):
        self.s, self.at, self.rng, self.options = s, at, rng, options
        self.due: dict[str, tuple[float, float]] = {}  # fragment id -> (next time, interval)
        self.on_runs = False
        self.next_action = time.monotonic() + rng.uniform(*options.watch)
        self.full_ran()

    def full_ran(self) -> None:
        """A full run re-registers the page's timers (they restart, as in the browser)."""
        now = time.monotonic()
        self.due = {
            fid: (now + every, every) for fid, every in getattr(HARNESS, "auto_reruns", {}).items()
        }

    def full(self, kind: str, action: Any) -> None:
        _timed(self.s, self.at, kind, action)
        self.full_ran()

    def tick(self) -> None:
        if self.options.full_reruns:
            time.sleep(max(0.0, self.next_action - time.monotonic()))
            self.next_action = time.monotonic() + self.rng.uniform(*self.options.watch)
            return self.act()
        fid, (when, every) = min(self.due.items(), key=lambda d: d[1][0], default=(None, (0, 0)))
        if fid is None or when > self.next_action:
            time.sleep(max(0.0, self.next_action - time.monotonic()))
            self.next_action = time.monotonic() + self.rng.uniform(*self.options.watch)
            self.act(rerun=False)
            return
        time.sleep(max(0.0, when - time.monotonic()))
        # The frontend's timer fires every interval; a refresh that ran late is not repeated.
        self.due[fid] = (max(when + every, time.monotonic()), every)
        page = self.at._tree  # the browser keeps what the fragment does not redraw
        HARNESS.fragment = fid
        try:
            _timed(self.s, self.at, f"fragment every {every:g} s", self.at.run)
        finally:
            HARNESS.fragment = None
        if HARNESS.full_run:  # the fragment called st.rerun(): the page ran whole
            self.full_ran()
        else:
            self.at._tree = page

    def act(self, rerun: bool = True) -> None:
        """Back to Train from Runs; else to Runs with chance ``switch``; else (``rerun``) a
        full rerun of Train. Each a full script run."""
        if self.on_runs:
            self.full("switch to Train", lambda: self.at.switch_page(TRAIN).run())
            self.on_runs = False
        elif self.rng.random() < self.options.switch:
            self.full("switch to Runs", lambda: self.at.switch_page(RUNS).run())
            self.on_runs = True
        elif rerun:
            self.full("rerun Train", self.at.run)


def _apptest_session(
    s: Session,
    gate: ThreadGate,
    store: RunStore,
    options: argparse.Namespace,
    deadline: float,
    all_final: threading.Event,
) -> None:
    rng = random.Random(s.index)
    arrived = False
    try:
        at = _new_session()
        t0 = time.perf_counter()
        _timed(s, at, "open Train", lambda: at.switch_page(TRAIN).run())
        s.first_load_s = time.perf_counter() - t0
        _timed(
            s,
            at,
            "set a field",
            lambda: _widget(at.number_input, "Epochs").set_value(options.epochs).run(),
        )
        _timed(
            s,
            at,
            "set a field",
            lambda: _widget(at.text_input, "Hidden sizes").input(options.hidden).run(),
        )
        arrived = True
        gate.wait(max(1.0, deadline - time.monotonic()))
        time.sleep(rng.uniform(0, options.start_spread))
        for k in range(options.runs_per_session):
            if k:
                # Another run, not the same one again: Start with the settings of a run that
                # is still active only shows that run (a double click queues one run).
                seed = _widget(at.number_input, "Seed")
                _timed(s, at, "set a field", lambda seed=seed, k=k: seed.set_value(k).run())
                time.sleep(START_INTERVAL_S + 0.1)  # the per-student rate limit
            _timed(s, at, "click Start", lambda: _widget(at.button, "Start training").click().run())
            run_param = at.query_params.get("run")  # select_run puts it in the URL: ?run=...
            run_id = run_param[-1] if isinstance(run_param, list) and run_param else run_param
            if not run_id or run_id == s.run_id:
                raise RuntimeError(f"Start training #{k + 1} made no run: {at.error}")
            s.run_id = run_id  # the session watches its latest run
        tab = Tab(s, at, rng, options)
        while not all_final.is_set() and time.monotonic() <= deadline:
            tab.tick()  # watch, while any session's run is queued or running
        if tab.on_runs:
            tab.full("switch to Train", lambda: at.switch_page(TRAIN).run())
        run = store.get_run(s.run_id)
        if run["status"] in ACTIVE:
            raise TimeoutError(f"run {s.run_id} still {run['status']} at the deadline")
        _timed(s, at, "rerun Train", at.run)
        s.completed_shown = any(
            re.search(r"Completed \d+ epochs", str(e.value)) for e in at.success
        )
        if not s.completed_shown:
            raise AssertionError(f"the Train page does not say run {s.run_id} completed")
    except Exception as exc:
        s.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
    finally:
        if not arrived:
            gate.arrive()


def run_scenario(
    sessions: int = SESSIONS,
    *,
    epochs: int = 2,
    hidden: str = "64",
    max_workers: int = 2,
    watch: tuple[float, float] = WATCH_S,
    switch: float = SWITCH_P,
    full_reruns: bool = False,
    start_spread: float = START_SPREAD_S,
    timeout: float = APPTEST_TIMEOUT_S,
    workdir: Path | None = None,
    runs_per_session: int = 1,
) -> ScenarioResult:
    """The AppTest scenario (see the module's docstring); returns what it measured."""
    import streamlit as st

    from pages.ui.preload import preload_now

    # A class meets a server that has been up a while: its warm-up (imports, the first
    # pre-flight's tracing), which a real server runs a few seconds after it starts, is done.
    preload_now()

    options = argparse.Namespace(
        epochs=epochs,
        hidden=hidden,
        watch=watch,
        switch=switch,
        full_reruns=full_reruns,
        start_spread=start_spread,
        runs_per_session=runs_per_session,
    )
    tmp = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="bench_classroom-"))
    runs_dir = tmp / "runs"
    saved_env = {k: os.environ.get(k) for k in ("AEVAE_RUNS_DIR", "AEVAE_MAX_WORKERS")}
    saved_cwd = os.getcwd()
    os.environ["AEVAE_RUNS_DIR"] = str(runs_dir)
    os.environ["AEVAE_MAX_WORKERS"] = str(max_workers)
    os.chdir(REPO)
    load_start = os.getloadavg()
    peak = [load_start[0]]
    t0 = time.perf_counter()
    cpu = CpuSampler(os.getpid())
    warm_up_errors: list[str] = []
    try:
        with server_like_apptest():
            import pages.ui.common as common

            st.cache_resource.clear()
            manager = common.manager()  # cached: the one manager every session gets
            try:
                if manager.store.root != runs_dir.resolve() or manager.max_workers != max_workers:
                    raise RuntimeError(
                        f"the app's manager serves {manager.store.root} with "
                        f"{manager.max_workers} workers, not {runs_dir} with {max_workers}"
                    )
                store = RunStore(runs_dir)
                # The teacher opens Train and Runs before the class joins (imports, caches).
                teacher = _new_session()
                for page in (TRAIN, RUNS):
                    teacher.switch_page(page).run()
                    warm_up_errors += [
                        f"warm-up ({page}): {m}" for m in _exception_messages(teacher)
                    ]

                done = [Session(i) for i in range(sessions)]
                gate = ThreadGate(sessions)
                all_final = threading.Event()
                deadline = time.monotonic() + timeout
                threads = [
                    threading.Thread(
                        target=_apptest_session,
                        args=(s, gate, store, options, deadline, all_final),
                        name=f"classroom-session-{s.index}",
                        daemon=True,
                    )
                    for s in done
                ]
                for thread in threads:
                    thread.start()
                while any(t.is_alive() for t in threads):
                    peak[0] = max(peak[0], os.getloadavg()[0])
                    with contextlib.suppress(Exception):
                        cpu.sample()
                    if gate.event.is_set() and not all_final.is_set():
                        runs = store.list_runs()
                        started = sum(s.run_id is not None or bool(s.error) for s in done)
                        want = sessions * runs_per_session
                        if (
                            started == sessions
                            and len(runs) >= want - sum(bool(s.error) for s in done)
                            and not any(r["status"] in ACTIVE for r in runs)
                        ):
                            all_final.set()
                    if time.monotonic() > deadline:
                        all_final.set()
                    time.sleep(0.5)
                for thread in threads:
                    thread.join(RUN_TIMEOUT_S)
                with contextlib.suppress(Exception):
                    cpu.sample()
                runs = sorted(store.list_runs(), key=lambda r: r["seq"])
            finally:
                manager.shutdown(timeout=15)
                st.cache_resource.clear()
    finally:
        os.chdir(saved_cwd)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    ends = [r["ended"] for r in runs if r["ended"] is not None]
    result = ScenarioResult(
        sessions=done,
        runs=runs,
        max_workers=max_workers,
        wall_s=time.perf_counter() - t0,
        jobs_window=(gate.opened_at or time.time(), max(ends) if ends else time.time()),
        load_start=load_start,
        load_end=os.getloadavg(),
        load_peak=max(peak[0], os.getloadavg()[0]),
        server_errors=warm_up_errors,
        cpu_s=cpu.seconds(),
        runs_dir=runs_dir,
        mode="apptest",
        runs_per_session=runs_per_session,
    )
    if workdir is None:
        shutil.rmtree(tmp, ignore_errors=True)
    return result
