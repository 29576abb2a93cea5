"""Helpers for the real-browser tests and bench/bench_app.py-style timing: the page list
from app.py, the server's life cycle, and waits on Streamlit's DOM.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # plain `pytest` (not `python -m pytest`) from anywhere
    sys.path.insert(0, str(REPO))
if str(REPO / "tests") not in sys.path:  # the page list both suites share
    sys.path.insert(0, str(REPO / "tests"))

from page_list import PageInfo, app_pages, page_heading  # noqa: E402, F401

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = os.environ.get("AEVAE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HEALTH_TIMEOUT_S = 60
RENDER_TIMEOUT_MS = 60_000
EXCEPTION = '[data-testid="stException"]'


def missing_browser_reason() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"Chromium not found ({CHROMIUM}); install Debian's `chromium` (see .ci/run)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -r requirements-dev.txt)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
            return resp.read().strip() == b"ok"
    except OSError:
        return False


def stop_process_group(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (server, forkserver, workers); SIGKILL stragglers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(5)


@dataclass
class Server:
    url: str
    runs_dir: Path
    log: Path
    trained_run: str

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


@contextlib.contextmanager
def streamlit_server(
    env: dict[str, str], log: Path, args: Sequence[str] = ()
) -> Iterator[tuple[subprocess.Popen, str]]:
    """``streamlit run app.py [args]`` on a free loopback port, its output in ``log``: yields
    (process, url) once /_stcore/health says ok, and stops its process group afterwards."""
    url = f"http://127.0.0.1:{free_port()}"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", url.rsplit(":", 1)[1], "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false", *args],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        while not health_ok(url):
            if proc.poll() is not None:
                raise AssertionError(f"streamlit exited with {proc.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no /_stcore/health 'ok' after {HEALTH_TIMEOUT_S} s:\n{log.read_text()}"
                )
            time.sleep(0.2)
        yield proc, url
    finally:
        stop_process_group(proc)


def wait_until_idle(page: Any, timeout_ms: int = RENDER_TIMEOUT_MS) -> None:
    """Wait until the script run has finished and nothing is still loading (skeletons)."""
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout_ms
    )
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stSkeleton\"]')", timeout=timeout_ms
    )


def assert_no_exception(page: Any, where: str) -> None:
    shown = page.locator(EXCEPTION)
    if shown.count():
        texts = "\n---\n".join(shown.all_inner_texts())
        raise AssertionError(f"{where}: the page shows an exception:\n{texts}")
