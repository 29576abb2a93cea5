"""The classroom scenario in real browsers (``bench/bench_classroom.py --browsers``).

One real ``streamlit run app.py`` server and ``sessions`` headless Chromium contexts driven
by Playwright: each opens Train, sets a small job, presses Start with the others, then
every few seconds (``think``) switches to Runs and back, each page switch timed inside the
browser, from the click on the sidebar link to the new page being shown with nothing
stale, until its run has ended and the page says "Completed". On a 2-core machine 30
Chromiums need far more CPU than the server (2.4x measured) and page switches take
minutes: the figures measure Chromium, not the app (in a classroom each student has a
machine of their own). Use it where there are cores to spare.

    python bench/bench_classroom_browsers.py [options]   # = bench_classroom.py --browsers
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "tests", REPO / "tests" / "e2e"):  # shared test support
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from e2e_helpers import CHROMIUM, CHROMIUM_ARGS, EXCEPTION, streamlit_server  # noqa: E402
from support.classroom_result import CpuSampler, ScenarioResult, Session  # noqa: E402
from support.classroom_scenario import SESSIONS  # noqa: E402

from aevae_core.store.record import ACTIVE  # noqa: E402
from aevae_core.store.runs import RunStore  # noqa: E402

TIMEOUT_S = 420.0  # the whole scenario; the jobs themselves take about a minute
STEP_TIMEOUT_MS = 90_000  # one page load or one widget change under load

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


# No file watcher: on any change to a watched file Streamlit drops every watched module from
# ``sys.modules`` (so edits made to the tree while the bench runs would re-import
# ``aevae_core.jobs.manager`` under the running JobManager); a class server runs without it too.
SERVER_FLAGS = ("--server.fileWatcherType", "none", "--server.runOnSave", "false")


def log_errors(log: Path) -> list[str]:
    """Tracebacks and errors in the server's log."""
    return [
        line.strip()
        for line in log.read_text(errors="replace").splitlines()
        if re.search(r"Traceback|Exception|Error\b", line) and "DeprecationWarning" not in line
    ]


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
    peak = [load_start[0]]
    env = dict(
        os.environ,
        AEVAE_RUNS_DIR=str(runs_dir),
        AEVAE_MAX_WORKERS=str(max_workers),
        PYTHONUNBUFFERED="1",
    )
    log = tmp / "server.log"
    with streamlit_server(env, log, args=SERVER_FLAGS) as (proc, url):
        store = RunStore(runs_dir)
        cpu = CpuSampler(proc.pid)

        async def main() -> tuple[list[Session], float, float]:
            async def sample_load() -> None:
                while True:
                    peak[0] = max(peak[0], os.getloadavg()[0])
                    with contextlib.suppress(Exception):
                        cpu.sample()
                    await asyncio.sleep(1.0)

            sampler = asyncio.ensure_future(sample_load())
            try:
                return await _drive(url, store, options)
            finally:
                sampler.cancel()

        done, first_click, _ = asyncio.run(main())
        runs = sorted(store.list_runs(), key=lambda r: r["seq"])
        ends = [r["ended"] for r in runs if r["ended"] is not None]
        window = (first_click or t0, max(ends) if ends else time.time())
        server_errors = [f"server log: {e}" for e in log_errors(log)]
        with contextlib.suppress(Exception):
            cpu.sample()
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


if __name__ == "__main__":
    from bench_classroom import main

    sys.exit(main(["--browsers", *sys.argv[1:]]))
