"""Classroom load test: 30 sessions on one app, each starting a small job and watching it.

    python bench/bench_classroom.py [--sessions 30] [--epochs 2] [--max-workers 2]
                                    [--watch 0.5 1.0] [--full-reruns] [--browsers]

**AppTest mode (the default).** ``--sessions`` ``streamlit.testing.v1.AppTest`` sessions of
``app.py``, each driven by its own thread, all in this one process: as in one
``streamlit run`` server with 30 browser tabs, every script run happens in this process
(one thread per session run, sharing one GIL), ``st.cache_resource`` gives every session
the same JobManager, and the jobs run in that manager's worker processes (a runs
directory of its own, ``AEVAE_MAX_WORKERS``):

1. a "teacher" session opens Train and Runs once (imports, caches); then every session
   opens Train and sets a small job (digits, ``--epochs``, an MLP with ``--hidden``
   units); when all are ready they press **Start training** within ``--start-spread``
   seconds of each other (random), as a class does when the teacher says so;
2. each session then watches as its browser tab would: Streamlit's frontend re-runs each
   ``st.fragment(run_every=...)`` on its own timer (the live panel every 0.5 s while the
   run trains and 2 s while it is queued, the sidebar's job list every second while jobs
   are active), and the whole page only when the student acts or a fragment asks for it;
   so every ``--watch`` seconds (random) a session may go to Runs (chance ``--switch``) and
   comes back at the next. AppTest runs no timers and only whole pages: the harness
   (``server_like_apptest``) runs one fragment the way the frontend asks for it. Sessions
   keep watching until every run has ended, so all 30 load the app the whole time.
   ``--full-reruns`` instead re-runs the whole page every ``--watch`` seconds: heavier than
   what 30 browsers ask of a server (the figure this bench reported before);
3. at the end each session's Train page must say its run "Completed".

Every ``at.run()`` is timed: that is what one render costs the server (the script run,
plus AppTest's parsing of the page, which a server does not do).

**Browser mode (``--browsers``).** One real ``streamlit run app.py`` server and
``--sessions`` headless Chromium contexts driven by Playwright; each page switch is timed
inside the browser, from the click on the sidebar link to the new page being shown with
nothing stale. On a 2-core machine 30 Chromiums need far more CPU than the server (2.4x
measured) and page switches take minutes: the figures measure Chromium, not the app (in a
classroom each student has a machine of their own). Use it where there are cores to spare.

Targets (PASS/FAIL each): every run completes; at most ``max_workers`` runs are running at
once and runs start in submission order (both read from the store's ``seq``, ``started``
and ``ended``); no session shows an exception; page renders while jobs are queued or
running <= 1 s at the 95th percentile. The load average is printed with the figures, which
depend on it.

``tests/app/test_classroom.py`` runs the AppTest scenario (``run_scenario``) and asserts
the correctness targets.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib import parse

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "tests" / "e2e"):  # the browser tests' helpers, shared
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from e2e_helpers import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    free_port,
    health_ok,
    missing_browser_reason,
    stop_process_group,
)

from aevae_core.jobs.classroom import START_INTERVAL_S  # noqa: E402
from aevae_core.store.record import ACTIVE  # noqa: E402
from aevae_core.store.runs import RunStore  # noqa: E402

RENDER_P95_TARGET_S = 1.0
SESSIONS = 30
TIMEOUT_S = 420.0  # the whole scenario; the jobs themselves take about a minute
APPTEST_TIMEOUT_S = 240.0  # the AppTest scenario; its jobs take about a minute on 2 cores
RUN_TIMEOUT_S = 60.0  # one AppTest script run, at most
WATCH_S = (0.5, 1.0)  # an AppTest session acts (or, --full-reruns, re-runs) this often
SWITCH_P = 0.15  # ... going to Runs (and back) with this probability
START_SPREAD_S = 2.0  # the class presses Start within this many seconds of each other
TRAIN, RUNS = "pages/train.py", "pages/runs.py"
STEP_TIMEOUT_MS = 90_000  # one page load or one widget change under load
EXCEPTION = '[data-testid="stException"]'
HARNESS = threading.local()  # per session thread: see server_like_apptest's runner

# Click a sidebar link, then poll (inside the page, so the browser's own clock times it,
# not Playwright's round trips) until the new page's title and main content are shown and
# nothing on the page is stale. Returns milliseconds, or -1 after the timeout.
NAVIGATE_JS = r"""
async ([title, heading, marker, timeoutMs]) => {
  const links = [...document.querySelectorAll('[data-testid="stSidebarNav"] a')];
  const link = links.find((a) => a.innerText.split('\n').map((t) => t.trim()).includes(title));
  if (!link) return -2;
  const t0 = performance.now();
  link.click();
  return await new Promise((resolve) => {
    const ready = () => {
      const main = document.querySelector('[data-testid="stMain"]');
      if (!main) return false;
      const h1 = [...main.querySelectorAll('h1')].some((h) => h.innerText.trim() === heading);
      const content = !marker || [...main.querySelectorAll(marker[0])].some(
        (e) => e.innerText.includes(marker[1]));
      return h1 && content && !document.querySelector('[data-stale="true"]');
    };
    const check = () => {
      const now = performance.now();
      if (ready()) resolve(now - t0);
      else if (now - t0 > timeoutMs) {
        const main = document.querySelector('[data-testid="stMain"]');
        const h1s = main ? [...main.querySelectorAll('h1')].map((h) => h.innerText.trim()) : [];
        const stale = [...document.querySelectorAll('[data-stale="true"]')].map(
          (e) => (e.innerText || e.className || '').slice(0, 40));
        const state = document.querySelector('[data-testid="stApp"]')
          ?.getAttribute('data-test-script-state');
        resolve(JSON.stringify({h1s, stale, state}));
      }
      else setTimeout(check, 5);
    };
    check();
  });
}
"""


class Gate:
    """Opens when every session has arrived (or given up): the class presses Start together."""

    def __init__(self, n: int) -> None:
        self.left = n
        self.opened_at = 0.0
        self.event = asyncio.Event()

    def arrive(self) -> None:
        self.left -= 1
        if self.left <= 0 and not self.event.is_set():
            self.opened_at = time.time()
            self.event.set()

    async def wait(self) -> None:
        self.arrive()
        await self.event.wait()


@dataclass
class Session:
    index: int
    run_id: str | None = None
    # (start time, seconds, what was rendered: "Train", "Runs", "Train rerun", ...)
    renders: list[tuple[float, float, str]] = field(default_factory=list)
    first_load_s: float | None = None
    exceptions: list[str] = field(default_factory=list)
    js_errors: list[str] = field(default_factory=list)
    error: str = ""  # the session could not do its part (timeout, missing element, ...)
    completed_shown: bool = False


@dataclass
class ScenarioResult:
    sessions: list[Session]
    runs: list[dict[str, Any]]  # the store's rows of the sessions' runs, by seq
    max_workers: int
    wall_s: float
    jobs_window: tuple[float, float]  # first start click .. last run ended
    load_start: tuple[float, float, float]
    load_end: tuple[float, float, float]
    load_peak: float
    server_errors: list[str]
    cpu_s: dict[str, float] = field(default_factory=dict)
    runs_dir: Path | None = None
    mode: str = "apptest"  # or "browsers"
    runs_per_session: int = 1

    # -- fair share (issue 14) -------------------------------------------------------
    def first_waits(self) -> dict[str, float]:
        """Per owner: seconds from their first Start to their first run starting."""
        out: dict[str, float] = {}
        for owner in {r["owner"] for r in self.runs}:
            mine = [r for r in self.runs if r["owner"] == owner]
            starts = [r["started"] for r in mine if r["started"] is not None]
            if starts:
                out[owner] = min(starts) - min(r["created"] for r in mine)
        return out

    def replay_first_waits(self, policy: str) -> dict[str, float]:
        """Per owner, the wait for a first run had the scheduler used ``policy`` ("fifo" or
        "fair", classroom.fair_order): replayed on ``max_workers`` slots from the measured
        submission times and run durations (ended - started), each start costing the mean
        gap measured between a slot freeing and its next start, from the first real start
        on. Both policies replay the same runs the same way, so the two figures compare."""
        from collections import Counter

        from aevae_core.jobs.classroom import fair_order

        done = [r for r in self.runs if r["started"] is not None and r["ended"] is not None]
        if not done:
            return {}
        ready = min(r["started"] for r in done)
        busy = sum(r["ended"] - r["started"] for r in done)
        window = max(r["ended"] for r in done) - ready
        gap = max(0.0, (window * self.max_workers - busy) / len(done))
        free_at = [ready] * self.max_workers
        pending = sorted(done, key=lambda r: r["seq"])
        ends: list[tuple[float, str]] = []
        last: dict[str, float] = {}
        first: dict[str, float] = {}
        while pending:
            slot = min(range(len(free_at)), key=free_at.__getitem__)
            t = max(free_at[slot], min(r["created"] for r in pending))
            avail = [r for r in pending if r["created"] <= t]
            running = Counter(o for end, o in ends if end > t)
            pick = avail[0] if policy == "fifo" else fair_order(avail, running, last)[0]
            pending.remove(pick)
            end = t + pick["ended"] - pick["started"]
            free_at[slot] = end + gap
            ends.append((end, pick["owner"]))
            last[pick["owner"]] = t
            first.setdefault(pick["owner"], t)
        created: dict[str, float] = {}
        for r in done:
            created[r["owner"]] = min(created.get(r["owner"], r["created"]), r["created"])
        return {o: t - created[o] for o, t in first.items()}

    @property
    def order_within_owner_violations(self) -> list[str]:
        """Runs that started before an earlier run of the same owner (FIFO per owner)."""
        bad = []
        for owner in {r["owner"] for r in self.runs}:
            mine = sorted((r for r in self.runs if r["owner"] == owner), key=lambda r: r["seq"])
            for a, b in zip(mine, mine[1:], strict=False):
                if a["started"] and b["started"] and b["started"] < a["started"]:
                    bad.append(f"{owner}: seq {b['seq']} started before seq {a['seq']}")
        return bad

    # -- correctness ----------------------------------------------------------------
    @property
    def completed(self) -> int:
        return sum(r["status"] == "completed" for r in self.runs)

    @property
    def max_concurrent(self) -> int:
        """Most runs running at one moment, from the store's [started, ended) intervals."""
        events = []
        for r in self.runs:
            if r["started"] is not None:
                events.append((r["started"], 1))
                events.append((r["ended"] if r["ended"] is not None else float("inf"), -1))
        running = peak = 0
        for _, delta in sorted(events, key=lambda e: (e[0], e[1])):  # ends before starts
            running += delta
            peak = max(peak, running)
        return peak

    @property
    def fifo_violations(self) -> list[str]:
        """Runs that started before a run submitted earlier (lower seq)."""
        bad = []
        by_seq = sorted(self.runs, key=lambda r: r["seq"])
        for earlier, later in zip(by_seq, by_seq[1:], strict=False):
            if earlier["started"] is None or later["started"] is None:
                bad.append(f"{later['id']} or {earlier['id']} never started")
            elif later["started"] < earlier["started"]:
                bad.append(
                    f"seq {later['seq']} started {earlier['started'] - later['started']:.3f} s "
                    f"before seq {earlier['seq']}"
                )
        return bad

    @property
    def exceptions(self) -> list[str]:
        found = []
        for s in self.sessions:
            found += [f"session {s.index}: {e}" for e in s.exceptions]
            found += [f"session {s.index} (JavaScript): {e}" for e in s.js_errors]
        return found + list(self.server_errors)

    @property
    def session_errors(self) -> list[str]:
        """Sessions that could not do their part (a page that never settled, a timeout)."""
        return [f"session {s.index}: {s.error}" for s in self.sessions if s.error]

    # -- render times ------------------------------------------------------------------
    def render_times(self, during_jobs: bool = True, what: str | None = None) -> list[float]:
        start, end = self.jobs_window
        return [
            seconds
            for s in self.sessions
            for t0, seconds, kind in s.renders
            if (not during_jobs or start <= t0 <= end) and (what is None or kind == what)
        ]

    def render_kinds(self) -> list[str]:
        return sorted({kind for s in self.sessions for _, _, kind in s.renders})

    def targets(self) -> list[tuple[str, str, str, bool]]:
        """(name, measured, target, met) for every target."""
        n = len(self.sessions) * self.runs_per_session
        renders = self.render_times()
        p95 = percentile(renders, 95) if renders else float("inf")
        fifo = self.fifo_violations if self.runs_per_session == 1 else []
        fair = []
        if self.runs_per_session > 1:
            worst = max(self.first_waits().values(), default=0)
            fair_r = max(self.replay_first_waits("fair").values(), default=0)
            fifo_r = max(self.replay_first_waits("fifo").values(), default=0)
            per_owner = self.order_within_owner_violations
            fair = [
                (
                    "max wait for a first run",
                    f"replay {fair_r:.1f} s vs FIFO {fifo_r:.1f} s (measured {worst:.1f} s)",
                    "fair <= FIFO",
                    fair_r <= fifo_r + 0.05,  # equal when every first Start precedes the 2nd
                ),
                ("FIFO within each owner", "yes" if not per_owner else "no", "yes", not per_owner),
            ]
        return [
            *fair,
            ("runs completed", f"{self.completed}/{n}", f"{n}/{n}", self.completed == n),
            (
                "max concurrent running",
                f"{self.max_concurrent}",
                f"<= {self.max_workers} (max_workers)",
                0 < self.max_concurrent <= self.max_workers,
            ),
            *(
                [("FIFO start order", "yes" if not fifo else f"no ({len(fifo)})", "yes", not fifo)]
                if self.runs_per_session == 1
                else []
            ),
            ("exceptions shown", f"{len(self.exceptions)}", "0", not self.exceptions),
            (
                "sessions that finished",
                f"{len(self.sessions) - len(self.session_errors)}/{len(self.sessions)}",
                f"{len(self.sessions)}/{len(self.sessions)}",
                not self.session_errors,
            ),
            (
                "render p95 while jobs run",
                f"{p95:.2f} s (ratio {p95 / RENDER_P95_TARGET_S:.2f})",
                f"<= {RENDER_P95_TARGET_S:.1f} s",
                p95 <= RENDER_P95_TARGET_S,
            ),
        ]

    def report(self) -> str:
        renders, every = self.render_times(), self.render_times(during_jobs=False)
        first = [s.first_load_s for s in self.sessions if s.first_load_s is not None]
        start, end = self.jobs_window

        def stats(xs: list[float]) -> str:
            if not xs:
                return "none"
            return (
                f"p50 {percentile(xs, 50):.2f} s  p95 {percentile(xs, 95):.2f} s  "
                f"max {max(xs):.2f} s  (n={len(xs)})"
            )

        who = (
            "Chromium contexts, one `streamlit run` server"
            if self.mode == "browsers"
            else "AppTest sessions, one thread each, one process (one JobManager)"
        )
        lines = [
            f"sessions                      {len(self.sessions)} {who}",
            f"runs completed                {self.completed}/{len(self.runs)} "
            f"(statuses: {status_counts(self.runs)})",
            f"max concurrent running        {self.max_concurrent} (limit {self.max_workers})",
            f"FIFO held                     {'yes' if not self.fifo_violations else 'no'}"
            + (" (one run per session)" if self.runs_per_session == 1 else " (not expected)"),
            f"runs per session              {self.runs_per_session}; wait for a first run: "
            + (
                f"max {max(self.first_waits().values(), default=0):.1f} s measured; replayed "
                f"fair {max(self.replay_first_waits('fair').values(), default=0):.1f} s, FIFO "
                f"{max(self.replay_first_waits('fifo').values(), default=0):.1f} s"
            ),
            f"exceptions                    {len(self.exceptions)} shown; "
            f"{len(self.session_errors)} sessions did not finish",
            f"render while jobs run         {stats(renders)}",
            *(
                f"  {kind:<27} {stats(self.render_times(what=kind))}"
                for kind in self.render_kinds()
            ),
            f"render, whole scenario        {stats(every)}",
            f"first load of Train           {stats(first)}",
            f"jobs window                   {end - start:.1f} s (Start clicks -> last run ended)",
            f"total wall time               {self.wall_s:.1f} s",
            "CPU seconds used              "
            + ", ".join(f"{k} {v:.0f} s" for k, v in self.cpu_s.items())
            + (
                " (server = the Streamlit process; workers = forkserver + jobs)"
                if self.mode == "browsers"
                else " (app = this process: the sessions' script runs; workers = forkserver + jobs)"
            ),
            f"load average                  start {fmt_load(self.load_start)}; end "
            f"{fmt_load(self.load_end)}; peak 1-min {self.load_peak:.2f} "
            f"({os.cpu_count()} CPUs)",
        ]
        for item in (self.exceptions + self.session_errors)[:10]:
            lines.append(f"  ! {item[:300]}")
        for item in self.fifo_violations[:5]:
            lines.append(f"  ! FIFO: {item}")
        lines.append("")
        lines.append(f"{'target':<28} {'measured':<24} {'goal':<22} verdict")
        for name, measured, goal, ok in self.targets():
            lines.append(f"{name:<28} {measured:<24} {goal:<22} {'PASS' if ok else 'FAIL'}")
        return "\n".join(lines)


class CpuSampler:
    """CPU seconds used by the app (server) process, its job workers and this bench's browsers.

    Samples /proc every second and keeps each process's highest utime + stime, so
    processes that came and went between the first and last sample count too (Linux only).
    In AppTest mode the app is this very process (``server_pid`` is ours).
    """

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.bench_pid = os.getpid()
        self.server_name = "server" if server_pid != self.bench_pid else "app"
        self.ticks: dict[tuple[str, int], int] = {}
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def sample(self) -> None:
        procs = {}
        for entry in Path("/proc").iterdir() if Path("/proc/self/stat").exists() else ():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            # after "(comm)": state ppid pgrp session ... utime(14th) stime(15th)
            procs[int(entry.name)] = (
                int(fields[1]),
                int(fields[3]),
                int(fields[11]) + int(fields[12]),
            )
        for pid, (ppid, session, ticks) in procs.items():
            if pid == self.server_pid:
                kind = self.server_name
            elif session == self.server_pid != self.bench_pid:
                kind = "workers"
            else:
                kind, parent = "", ppid
                for _ in range(20):  # the server's descendants, then this bench's others
                    if parent == self.server_pid:
                        kind = "workers"
                        break
                    if parent == self.bench_pid:
                        kind = "browsers"
                        break
                    parent = procs.get(parent, (0,))[0]
                if not kind:
                    continue
            key = (kind, pid)
            self.ticks[key] = max(self.ticks.get(key, 0), ticks)

    def seconds(self) -> dict[str, float]:
        out = {self.server_name: 0.0, "workers": 0.0}
        if self.server_name == "server":
            out["browsers"] = 0.0
        for (kind, _), ticks in self.ticks.items():
            out[kind] += ticks / self.hz
        return out


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (as numpy's default)."""
    xs = sorted(values)
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def status_counts(runs: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for r in runs:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no runs"


def fmt_load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in load)


class Server:
    """`streamlit run app.py` with its own runs directory and worker limit.

    No file watcher: on any change to a watched file Streamlit drops every watched module
    from ``sys.modules`` (so edits made to the tree while the bench runs would re-import
    ``aevae_core.jobs.manager`` under the running JobManager); a class server runs without it too.
    """

    FLAGS = ("--server.fileWatcherType", "none", "--server.runOnSave", "false")

    def __init__(self, runs_dir: Path, log: Path, max_workers: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = dict(
            os.environ,
            AEVAE_RUNS_DIR=str(runs_dir),
            AEVAE_MAX_WORKERS=str(max_workers),
            PYTHONUNBUFFERED="1",
        )
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless",
                 "true", "--server.port", str(self.port), "--server.address", "127.0.0.1",
                 "--browser.gatherUsageStats", "false", *self.FLAGS],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def wait_healthy(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while not health_ok(self.url):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the server did not become healthy (exit {self.proc.poll()}):\n"
                    + self.log.read_text(errors="replace")[-3000:]
                )
            time.sleep(0.1)

    def errors(self) -> list[str]:
        """Tracebacks and errors in the server's log."""
        text = self.log.read_text(errors="replace")
        return [
            line.strip()
            for line in text.splitlines()
            if re.search(r"Traceback|Exception|Error\b", line) and "DeprecationWarning" not in line
        ]

    def stop(self) -> None:
        stop_process_group(self.proc)


async def _no_stale(page: Any) -> None:
    await page.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=STEP_TIMEOUT_MS
    )
    await page.wait_for_function(
        "() => !document.querySelector('[data-stale=\"true\"]')"
        " && !document.querySelector('[data-testid=\"stSkeleton\"]')",
        timeout=STEP_TIMEOUT_MS,
    )


async def _set_field(page: Any, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    await box.fill(value)
    await box.press("Enter")
    deadline = time.monotonic() + STEP_TIMEOUT_MS / 1000
    while await box.input_value() != value:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{label!r} did not take the value {value!r}")
        await asyncio.sleep(0.1)
    await _no_stale(page)


async def _shown_exceptions(page: Any) -> list[str]:
    shown = page.locator(EXCEPTION)
    if await shown.count():
        return [t[:500] for t in await shown.all_inner_texts()]
    return []


async def _navigate(page: Any, title: str, marker: tuple[str, str] | None) -> float:
    ms = await page.evaluate(NAVIGATE_JS, [title, title, marker, STEP_TIMEOUT_MS])
    if ms == -2:
        raise RuntimeError(f"no sidebar link {title!r}")
    if isinstance(ms, str) or ms < 0:
        raise TimeoutError(f"{title} not rendered within {STEP_TIMEOUT_MS / 1000:.0f} s: {ms}")
    return ms / 1000


async def _session(
    s: Session,
    browser: Any,
    url: str,
    store: RunStore,
    gate: Gate,
    options: argparse.Namespace,
    deadline: float,
) -> None:
    rng = random.Random(s.index)
    arrived = False
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = await context.new_page()
        page.set_default_timeout(STEP_TIMEOUT_MS)
        page.on("pageerror", lambda exc: s.js_errors.append(str(exc)[:300]))
        t0 = time.perf_counter()
        await page.goto(f"{url}/train")
        await page.locator("h1", has_text=re.compile(r"^Train$")).wait_for()
        await _no_stale(page)
        s.first_load_s = time.perf_counter() - t0
        await _set_field(page, "Epochs", str(options.epochs))
        await _set_field(page, "Hidden sizes", options.hidden)
        arrived = True
        await gate.wait()
        await asyncio.sleep(rng.uniform(0, 0.5))
        await page.get_by_role("button", name="Start training").click()
        await page.wait_for_url(re.compile(r"[?&]run="), timeout=STEP_TIMEOUT_MS)
        s.run_id = re.search(r"[?&]run=([^&#]+)", page.url).group(1)
        s.exceptions += await _shown_exceptions(page)
        while True:
            run = store.get_run(s.run_id)
            if run["status"] not in ACTIVE:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {s.run_id} still {run['status']}")
            await asyncio.sleep(rng.uniform(*options.think))
            for title, marker in (
                ("Runs", ('[data-testid="stDataFrame"]', "")),
                ("Train", ("h3", s.run_id)),
            ):
                started = time.time()
                s.renders.append((started, await _navigate(page, title, marker), title))
                s.exceptions += await _shown_exceptions(page)
        # The live panel turns itself off after the run ends; it must say so.
        await page.get_by_text(re.compile(r"Completed \d+ epochs")).wait_for(
            timeout=STEP_TIMEOUT_MS
        )
        s.completed_shown = True
        await _no_stale(page)
        s.exceptions += await _shown_exceptions(page)
    except Exception as exc:
        if not arrived:
            gate.arrive()
        s.error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
        with contextlib.suppress(Exception):
            s.exceptions += await _shown_exceptions(page)
    finally:
        with contextlib.suppress(Exception):
            await context.close()


async def _warm_up(browser: Any, url: str) -> None:
    """The teacher opens Train and Runs once before the class joins (imports, caches)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = await context.new_page()
        page.set_default_timeout(STEP_TIMEOUT_MS)
        for path, heading in (("train", "Train"), ("runs", "Runs")):
            await page.goto(f"{url}/{path}")
            await page.locator("h1", has_text=re.compile(f"^{heading}$")).wait_for()
            await _no_stale(page)
    finally:
        await context.close()


async def _drive(
    url: str, store: RunStore, options: argparse.Namespace
) -> tuple[list[Session], float, float]:
    from playwright.async_api import async_playwright

    sessions = [Session(i) for i in range(options.sessions)]
    deadline = time.monotonic() + options.timeout
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            await _warm_up(browser, url)
            gate = Gate(options.sessions)
            tasks = [_session(s, browser, url, store, gate, options, deadline) for s in sessions]
            await asyncio.wait_for(asyncio.gather(*tasks), options.timeout + 60)
        finally:
            await browser.close()
    return sessions, gate.opened_at, time.time()


def run_browser_scenario(
    sessions: int = SESSIONS,
    *,
    epochs: int = 2,
    hidden: str = "64",
    max_workers: int = 2,
    think: tuple[float, float] = (4.0, 10.0),
    timeout: float = TIMEOUT_S,
    workdir: Path | None = None,
) -> ScenarioResult:
    """The browser scenario (``--browsers``, see the module's docstring)."""
    options = argparse.Namespace(
        sessions=sessions, epochs=epochs, hidden=hidden, think=think, timeout=timeout
    )
    tmp = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="bench_classroom-"))
    runs_dir = tmp / "runs"
    load_start = os.getloadavg()
    t0 = time.perf_counter()
    server = Server(runs_dir, tmp / "server.log", max_workers)
    peak = [load_start[0]]
    try:
        server.wait_healthy()
        store = RunStore(runs_dir)
        cpu = CpuSampler(server.proc.pid)

        async def main() -> tuple[list[Session], float, float]:
            async def sample_load() -> None:
                while True:
                    peak[0] = max(peak[0], os.getloadavg()[0])
                    with contextlib.suppress(Exception):
                        cpu.sample()
                    await asyncio.sleep(1.0)

            sampler = asyncio.ensure_future(sample_load())
            try:
                return await _drive(server.url, store, options)
            finally:
                sampler.cancel()

        done, first_click, _ = asyncio.run(main())
        runs = sorted(store.list_runs(), key=lambda r: r["seq"])
        ends = [r["ended"] for r in runs if r["ended"] is not None]
        window = (first_click or t0, max(ends) if ends else time.time())
        server_errors = [f"server log: {e}" for e in server.errors()]
        with contextlib.suppress(Exception):
            cpu.sample()
    finally:
        server.stop()
    result = ScenarioResult(
        sessions=done,
        runs=runs,
        max_workers=max_workers,
        wall_s=time.perf_counter() - t0,
        jobs_window=window,
        load_start=load_start,
        load_end=os.getloadavg(),
        load_peak=max(peak[0], os.getloadavg()[0]),
        server_errors=server_errors,
        cpu_s=cpu.seconds(),
        runs_dir=runs_dir,
        mode="browsers",
    )
    if workdir is None:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


# -- AppTest mode (the default) ------------------------------------------------------------


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


@contextlib.contextmanager
def server_like_apptest() -> Any:
    """Let AppTest sessions run at once in one process, sharing what a server shares.

    AppTest is made for one run at a time: around every run it swaps process-wide state
    that a Streamlit server sets up once for all its sessions. With 30 sessions running at
    once that would break the harness, not the app, so for the scenario's duration:

    * ``Runtime._instance``: AppTest sets a fresh mock runtime before each run and None
      after it, which pulls the runtime from under every other session's run
      (``st.cache_data``, ``st.dataframe``, download buttons then raise "Runtime hasn't been
      created!"). Here one runtime serves every session, as in a server; AppTest's
      per-run swap goes to a stand-in class.
    * ``ScriptCache``: AppTest makes new ones per run, so every run parses and compiles
      app.py and its page again (a server compiles each file once), and CPython 3.11's
      ``ast.parse`` is not thread-safe (gh-106905: "SystemError: AST constructor recursion
      depth mismatch" when 30 sessions compile at once). Here one cache serves every run.
    * ``config.get_option``: AppTest patches it around each run with ``unittest.mock``,
      which interleaved runs leave stacked; here it is patched once.
    * ``PagesManager.uses_pages_directory``: reset by AppTest before each run, which turns
      Streamlit's legacy ``pages/`` mode back on; the server turns it off for good at the
      first ``st.navigation`` (see tests/app/conftest.py), and so does this.
    * ``sys.modules["__main__"]``: each run leaves the app script there; it is put back, so
      the job manager's forkserver sees the same main module whatever the timing.
    * Components: AppTest scans the installed packages for Streamlit components at each
      session's first run; a server does it once.
    * The script runner (``ServerLikeRunner``): AppTest's waits by polling; and a browser
      tab re-runs a page's fragments on their timers, which AppTest cannot do.
    """
    from unittest import mock

    import streamlit.testing.v1.app_test as app_test_module
    import streamlit.testing.v1.local_script_runner as local_runner_module
    from streamlit.components.v2.component_manager import BidiComponentManager
    from streamlit.runtime import Runtime
    from streamlit.runtime.caching.storage.dummy_cache_storage import MemoryCacheStorageManager
    from streamlit.runtime.dataframe_source_manager import DataframeSourceManager
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import RerunData, ScriptRunnerEvent
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import AppTest
    from streamlit.testing.v1.element_tree import parse_tree_from_messages
    from streamlit.testing.v1.util import patch_config_options

    class PerRunRuntime(Runtime):
        """What AppTest's per-run ``Runtime._instance = ...`` sets instead of the real one."""

        _instance = None

    class ServerLikePagesManager(PagesManager):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            PagesManager.uses_pages_directory = False
            super().__init__(*args, **kwargs)

    class ServerLikeRunner(local_runner_module.LocalScriptRunner):
        """AppTest's script runner, waiting as a server does and able to run one fragment.

        * AppTest waits for a run by polling every millisecond (``require_widgets_deltas``):
          30 waiting threads wake 30,000 times a second for the GIL, which slows every
          script run; a server is told when a run ends. Here the wait is an event.
        * A browser tab re-runs an ``st.fragment(run_every=...)`` on its own timer, not the
          whole page: ``HARNESS.fragment`` (set by the session's thread) makes this run that
          fragment only, as Streamlit's frontend asks for it (an auto re-run of one fragment
          id). What the run asked the browser to re-run, and how often, is left in
          ``HARNESS.auto_reruns`` for the session to schedule; ``HARNESS.full_run`` says
          whether the run (or a ``st.rerun()`` it made) ran the whole page.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._ended = threading.Event()
            self._full_run = False

            def watch(sender: Any, event: Any, **data: Any) -> None:
                if event == ScriptRunnerEvent.SCRIPT_STARTED and not data.get(
                    "fragment_ids_this_run"
                ):
                    self._full_run = True
                elif event == ScriptRunnerEvent.SHUTDOWN:
                    self._ended.set()

            self.on_event.connect(watch, weak=False)

        def run(
            self,
            widget_state: Any = None,
            query_params: dict[str, Any] | None = None,
            timeout: float = 3,
            page_hash: str = "",
            context_info: Any = None,
        ) -> Any:
            fragment = getattr(HARNESS, "fragment", None)
            self.request_rerun(
                RerunData(
                    widget_states=widget_state,
                    query_string=parse.urlencode(query_params or {}, doseq=True),
                    page_script_hash=page_hash,
                    context_info=context_info,
                    fragment_id_queue=[fragment] if fragment else [],
                    is_auto_rerun=bool(fragment),
                )
            )
            try:
                if not self._script_thread:
                    self.start()
                if not self._ended.wait(timeout):
                    self.request_stop()
                    raise RuntimeError(f"AppTest script run timed out after {timeout}(s)")
            finally:
                self.join()
            messages = self.forward_msgs()
            HARNESS.full_run = self._full_run
            HARNESS.auto_reruns = {
                m.auto_rerun.fragment_id: m.auto_rerun.interval
                for m in messages
                if m.WhichOneof("type") == "auto_rerun"
            }
            return parse_tree_from_messages(messages)

    runtime = mock.MagicMock(spec=Runtime)
    runtime.media_file_mgr = MediaFileManager(MemoryMediaFileStorage("/mock/media"))
    runtime.dataframe_source_mgr = DataframeSourceManager()
    runtime.cache_storage_manager = MemoryCacheStorageManager()

    class ServerComponents(BidiComponentManager):
        """Discovered once, as a server does (AppTest scans the installed packages for every
        new session: a second of each session's first run)."""

        def discover_and_register_components(self, *args: Any, **kwargs: Any) -> None:
            pass

    components = ServerComponents()
    BidiComponentManager.discover_and_register_components(components, start_file_watching=False)
    runtime.bidi_component_registry = components
    script_cache = ScriptCache()

    main_module = sys.modules["__main__"]
    apptest_run = AppTest._run

    def run_keeping_main(self: AppTest, *args: Any, **kwargs: Any) -> AppTest:
        try:
            return apptest_run(self, *args, **kwargs)
        finally:
            sys.modules["__main__"] = main_module

    saved_instance, saved_pages_flag = Runtime._instance, PagesManager.uses_pages_directory
    with contextlib.ExitStack() as stack:
        stack.enter_context(patch_config_options({"global.appTest": True}))
        for name, value in (
            ("patch_config_options", lambda overrides: contextlib.nullcontext()),
            ("Runtime", PerRunRuntime),
            ("ScriptCache", lambda: script_cache),
            ("PagesManager", ServerLikePagesManager),
            ("LocalScriptRunner", ServerLikeRunner),
            ("BidiComponentManager", lambda: components),
        ):
            stack.enter_context(mock.patch.object(app_test_module, name, value))
        stack.enter_context(
            mock.patch.object(local_runner_module, "ScriptCache", lambda: script_cache)
        )
        stack.enter_context(mock.patch.object(AppTest, "_run", run_keeping_main))
        PagesManager.uses_pages_directory = False
        Runtime._instance = runtime
        try:
            yield
        finally:
            Runtime._instance = saved_instance
            PagesManager.uses_pages_directory = saved_pages_flag
            sys.modules["__main__"] = main_module


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

    from pages.ui.preload import _preload

    # A class meets a server that has been up a while: its warm-up (imports, the first
    # pre-flight's tracing), which a real server runs a few seconds after it starts, is done.
    _preload()

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--hidden", default="64", help="the MLP's hidden sizes, e.g. 64 or 128,64")
    parser.add_argument("--max-workers", type=int, default=2)
    parser.add_argument(
        "--watch",
        type=float,
        nargs=2,
        default=WATCH_S,
        metavar=("MIN", "MAX"),
        help="AppTest mode: seconds between a session's reruns of its page",
    )
    parser.add_argument(
        "--switch",
        type=float,
        default=SWITCH_P,
        help="AppTest mode: chance that a session goes to Runs (and back) instead of a rerun",
    )
    parser.add_argument(
        "--start-spread",
        type=float,
        default=START_SPREAD_S,
        help="AppTest mode: the sessions press Start within this many seconds (random)",
    )
    parser.add_argument(
        "--full-reruns",
        action="store_true",
        help="AppTest mode: every --watch interval a full rerun of the page, instead of the "
        "page's own fragment timers (live panel, job list) as a browser runs them",
    )
    parser.add_argument(
        "--browsers",
        action="store_true",
        help="real Chromium contexts against a `streamlit run` server (on 2 cores the "
        "browsers, not the app, use the CPU)",
    )
    parser.add_argument(
        "--think",
        type=float,
        nargs=2,
        default=(4.0, 10.0),
        metavar=("MIN", "MAX"),
        help="browser mode: seconds a student watches before switching to Runs and back",
    )
    parser.add_argument(
        "--runs-per-session",
        type=int,
        default=1,
        help="AppTest mode: each session presses Start this many times, 2 s apart (issue 14's "
        "fair-share figure: 3, with the default quota of 3)",
    )
    parser.add_argument("--timeout", type=float, help="the whole scenario's time limit (s)")
    parser.add_argument("--keep", type=Path, help="keep the runs (and the server log) here")
    args = parser.parse_args()

    # Calling the app's cached manager() outside a script run, as the bench does, warns.
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
        lambda record: "missing ScriptRunContext" not in record.getMessage()
    )
    if args.browsers:
        reason = missing_browser_reason()
        if reason:
            print(f"cannot run: {reason}")
            return 2
    import streamlit

    load = os.getloadavg()
    print(
        f"bench_classroom ({'browsers' if args.browsers else 'AppTest'}): load average "
        f"{fmt_load(load)} at start; {os.cpu_count()} CPUs; "
        f"Python {platform.python_version()}; Streamlit {streamlit.__version__}; "
        f"{args.sessions} sessions, digits, {args.epochs} epoch(s), hidden {args.hidden}, "
        f"max_workers {args.max_workers}",
        flush=True,
    )
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    common = {
        "epochs": args.epochs,
        "hidden": args.hidden,
        "max_workers": args.max_workers,
        "workdir": args.keep,
    }
    if args.browsers:
        result = run_browser_scenario(
            args.sessions,
            think=tuple(args.think),
            timeout=args.timeout or TIMEOUT_S,
            **common,
        )
    else:
        result = run_scenario(
            args.sessions,
            watch=tuple(args.watch),
            switch=args.switch,
            full_reruns=args.full_reruns,
            start_spread=args.start_spread,
            timeout=args.timeout or APPTEST_TIMEOUT_S * args.runs_per_session,
            runs_per_session=args.runs_per_session,
            **common,
        )
    print(result.report())
    failed = [name for name, _, _, ok in result.targets() if not ok]
    print("FAIL: " + "; ".join(failed) if failed else "PASS: every target met")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
