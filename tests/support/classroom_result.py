"""What a classroom scenario measured, its targets and its report (both modes of
bench/bench_classroom.py, and tests/app/test_classroom.py).

``ScenarioResult`` holds the sessions' timed renders and the store's rows of their runs,
and derives the correctness figures (runs completed, most running at once, FIFO order,
exceptions) and the fair-share replay (issue 14). ``CpuSampler`` counts the CPU seconds of
the app, its job workers and the bench's browsers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RENDER_P95_TARGET_S = 1.0


@dataclass
class Session:
    """What one student's session did and saw (an AppTest thread or a Chromium context)."""

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
