"""Benchmark of the app in a real browser against its targets; exits 1 when one is missed.

    python bench/bench_app.py [--starts 3] [--clicks 3] [--rounds 2]

Everything is measured from outside: `streamlit run app.py` in a subprocess (its own runs
directory) and Debian's headless Chromium driven by Playwright.

1. Cold start, median of ``--starts``: launch -> ``/_stcore/health`` "ok", and launch ->
   Home's title visible in a browser tab opened at once (Chromium itself is started
   before the clock). Target: first page rendered <= 4 s.
2. Page switch: click each sidebar link (pages read from app.py), ``--rounds`` times, and
   time until the new page's title is visible; median and max. The first round includes
   each page's first visit (cold caches, lazy imports). Target: every switch <= 1 s.
   Also: a switch away from Train while its live panel refreshes during a run (the live
   panel must never block the rest of the app). Target <= 1 s.
3. Click on Start (Train page, digits, default settings) -> the first point of the loss
   chart in the browser (the plotly div's data), median of ``--clicks``; each run is then
   stopped (cancelled in the store, as the Stop button does). Target <= 1.5 s on CPU.

The machine may be shared: the load average is printed first, and the figures depend on it.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))  # the browser tests' helpers, shared

from e2e_helpers import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    app_pages,
    free_port,
    health_ok,
    missing_browser_reason,
    page_heading,
    stop_process_group,
    wait_until_idle,
)

START_TARGET_S = 4.0
SWITCH_TARGET_S = 1.0
FIRST_POINT_TARGET_S = 1.5
POINT_TIMEOUT_S = 60.0

LOSS_POINTS_JS = """
() => {
  const div = document.querySelector('[class*="st-key-live_curves_"] .js-plotly-plot');
  if (!div || !div.data) return 0;
  return div.data.reduce((n, t) => n + ((t.x && t.x.length) || 0), 0);
}
"""


@dataclass
class Result:
    name: str
    values: list[float]
    target: float
    gate: str = "median"  # which statistic must meet the target: "median" or "max"
    note: str = ""
    failed_reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def gated(self) -> float:
        if not self.values:
            return float("inf")
        return max(self.values) if self.gate == "max" else statistics.median(self.values)

    @property
    def ok(self) -> bool:
        return not self.failed_reason and self.gated <= self.target

    def line(self) -> str:
        if not self.values:
            return f"{self.name:<46} no measurement: {self.failed_reason}  FAIL"
        med, top = statistics.median(self.values), max(self.values)
        runs = ", ".join(f"{v:.2f}" for v in self.values)
        verdict = "PASS" if self.ok else "FAIL"
        return (
            f"{self.name:<46} median {med:6.2f} s  max {top:6.2f} s  target {self.target:.1f} s "
            f"({self.gate})  ratio {self.gated / self.target:5.2f}  {verdict}\n"
            f"{'':<46} each: {runs}"
            + (f"\n{'':<46} {self.note}" if self.note else "")
            + (f"\n{'':<46} {self.failed_reason}" if self.failed_reason else "")
        )


class App:
    """One `streamlit run app.py` server with its own runs directory."""

    def __init__(self, runs_dir: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.runs_dir = runs_dir
        env = dict(os.environ, AEVAE_RUNS_DIR=str(runs_dir))
        self.t0 = time.perf_counter()
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless",
                 "true", "--server.port", str(self.port), "--server.address", "127.0.0.1",
                 "--browser.gatherUsageStats", "false"],
                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def wait_healthy(self, timeout: float = 60.0) -> float:
        deadline = time.perf_counter() + timeout
        while not health_ok(self.url):
            if self.proc.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError(f"the server did not become healthy (exit {self.proc.poll()})")
            time.sleep(0.01)
        return time.perf_counter() - self.t0

    def stop(self) -> None:
        stop_process_group(self.proc)


def process_alive(pid: int | None) -> bool:
    """Whether ``pid`` runs (a zombie has exited: it only waits to be reaped)."""
    try:
        with open(f"/proc/{int(pid)}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, TypeError, ValueError, IndexError):
        return False


def heading_locator(page: Any, page_path: str) -> Any:
    heading = page_heading(page_path)
    if heading is None:
        return page.locator("h1").first
    return page.locator("h1", has_text=re.compile("^" + re.escape(heading) + "$")).first


def cold_starts(browser: Any, n: int, tmp: Path) -> tuple[Result, Result]:
    home = next(p for p in app_pages() if p.default)
    health, render, frontend = [], [], []
    for i in range(n):
        app = App(tmp / f"cold{i}" / "runs", tmp / f"cold{i}.log")
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            health.append(app.wait_healthy())
            page.goto(app.url)
            page.locator('[data-testid="stApp"]').wait_for(timeout=60_000)
            frontend.append(time.perf_counter() - app.t0)
            heading_locator(page, home.path).wait_for(timeout=60_000)
            render.append(time.perf_counter() - app.t0)
            context.close()
        finally:
            app.stop()
    return (
        Result("cold start -> /_stcore/health ok", health, START_TARGET_S),
        Result(
            "cold start -> Home title visible",
            render,
            START_TARGET_S,
            note="of which launch -> the frontend's app shell in the tab: median "
            f"{statistics.median(frontend):.2f} s",
        ),
    )


def pretrain(runs_dir: Path) -> None:
    """A finished run, so that the analysis pages show their full content."""
    subprocess.run(
        [sys.executable, "-m", "aevae_core", "train", "--dataset", "digits", "--epochs", "2",
         "--runs-dir", str(runs_dir), "--quiet"],
        cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def click_page(page: Any, info: Any) -> float:
    link = page.locator('[data-testid="stSidebarNav"] a').filter(has_text=info.title).first
    t0 = time.perf_counter()
    link.click()
    heading_locator(page, info.path).wait_for(timeout=60_000)
    elapsed = time.perf_counter() - t0
    wait_until_idle(page)
    return elapsed


def page_switches(browser: Any, app: App, rounds: int) -> Result:
    pages = app_pages()
    order = [p for p in pages if not p.default] + [p for p in pages if p.default]
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(app.url)
    wait_until_idle(page)
    times, first, slowest = [], [], ("", 0.0)
    for r in range(rounds):
        for info in order:
            elapsed = click_page(page, info)
            times.append(elapsed)
            if r == 0:
                first.append(elapsed)
            if elapsed > slowest[1]:
                slowest = (info.title, elapsed)
    context.close()
    note = (
        f"{len(order)} pages x {rounds} rounds; first visits median "
        f"{statistics.median(first):.2f} s; slowest: {slowest[0]} {slowest[1]:.2f} s"
    )
    return Result("page switch (sidebar click -> title)", times, SWITCH_TARGET_S, "max", note)


def start_to_first_point(browser: Any, app: App, n: int) -> tuple[Result, Result]:
    from aevae_core.store.runs import RunStore

    store = RunStore(app.runs_dir)
    train = next(p for p in app_pages() if p.name == "train")
    runs = next(p for p in app_pages() if p.name == "runs")
    latencies, switch_away, reason = [], [], ""
    for _ in range(n):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.goto(f"{app.url}/train")
        heading_locator(page, train.path).wait_for(timeout=60_000)
        wait_until_idle(page)
        before = {r["id"] for r in store.list_runs()}
        t0 = time.perf_counter()
        page.get_by_role("button", name="Start training").click()
        while page.evaluate(LOSS_POINTS_JS) < 1:
            if time.perf_counter() - t0 > POINT_TIMEOUT_S:
                new = [r for r in store.list_runs() if r["id"] not in before]
                state = f"{new[0]['status']}: {new[0]['reason']}" if new else "no run created"
                reason = f"no point within {POINT_TIMEOUT_S:.0f} s (run {state})"[:300]
                break
            time.sleep(0.02)
        else:
            latencies.append(time.perf_counter() - t0)
            # While the live panel refreshes, the rest of the app must stay responsive.
            time.sleep(1.0)
            switch_away.append(click_page(page, runs))
            click_page(page, train)
        new = [r for r in store.list_runs() if r["id"] not in before]
        for run in new:  # free the worker for the next click (as its Stop button does)
            if run["status"] in ("queued", "running"):
                store.request_cancel(run["id"])
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and (
                store.get_run(run["id"])["status"] in ("queued", "running")
                or process_alive(store.get_run(run["id"])["pid"])
            ):  # the worker has exited: its slot is free again
                time.sleep(0.1)
        time.sleep(0.5)  # the manager's scheduler notices within one poll (0.2 s)
        context.close()
        if reason:
            break
    return (
        Result(
            "click Start -> first loss point (digits)",
            latencies,
            FIRST_POINT_TARGET_S,
            failed_reason=reason,
        ),
        Result(
            "switch away from Train during a run",
            switch_away,
            SWITCH_TARGET_S,
            "max",
            failed_reason="" if switch_away else reason or "not measured",
        ),
    )


def phase(measure: Any, *names: str) -> list[Result]:
    """Run one part of the benchmark; an error there is a FAIL of its results, not a crash."""
    try:
        return list(measure())
    except Exception as exc:  # report and go on with the other parts
        why = f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return [Result(name, [], 1.0, failed_reason=why) for name in names]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--clicks", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    reason = missing_browser_reason()
    if reason:
        print(f"cannot run: {reason}")
        return 2
    sys.path.insert(0, str(REPO))
    import streamlit

    load = os.getloadavg()
    print(
        f"bench_app: load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at start; "
        f"{os.cpu_count()} CPUs; Python {platform.python_version()}; "
        f"Streamlit {streamlit.__version__}; Chromium {CHROMIUM}"
    )
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="bench_app-"))
    results: list[Result] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            results += phase(
                lambda: cold_starts(browser, args.starts, tmp),
                "cold start -> /_stcore/health ok", "cold start -> Home title visible",
            )  # fmt: skip
            runs_dir = tmp / "main" / "runs"
            pretrain(runs_dir)
            app = App(runs_dir, tmp / "main.log")
            try:
                app.wait_healthy()
                results += phase(
                    lambda: (page_switches(browser, app, args.rounds),),
                    "page switch (sidebar click -> title)",
                )
                results += phase(
                    lambda: start_to_first_point(browser, app, args.clicks),
                    "click Start -> first loss point (digits)",
                    "switch away from Train during a run",
                )
            finally:
                app.stop()
            browser.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    for result in results:
        print(result.line())
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    failed = [r.name for r in results if not r.ok]
    print("FAIL: " + "; ".join(failed) if failed else "PASS: every target met")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
