"""Fixtures for the real-browser tests: a `streamlit run app.py` server and headless Chromium.

The server runs on a free port with its own runs directory; a 2-epoch digits run is
pre-trained there by the CLI (in parallel with the server's start) so the analysis pages
have something to show. Chromium is Debian's (``/usr/bin/chromium``) driven by Playwright
through ``executable_path``: Playwright's own browser download is not needed.

Every test here is skipped, with the reason, when Chromium or Playwright is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from e2e_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    RENDER_TIMEOUT_MS,
    REPO,
    Server,
    missing_browser_reason,
    streamlit_server,
)


@pytest.fixture(scope="session")
def browser_available() -> None:
    reason = missing_browser_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def server(browser_available: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("e2e")
    runs_dir, log = tmp / "runs", tmp / "server.log"
    env = dict(os.environ, AEVAE_RUNS_DIR=str(runs_dir), PYTHONUNBUFFERED="1")
    # A finished run for the analysis pages, trained while the server starts.
    pretrain = subprocess.Popen(
        [sys.executable, "-m", "aevae_core", "train", "--dataset", "digits", "--epochs", "2",
         "--runs-dir", str(runs_dir), "--json", "--quiet"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        with streamlit_server(env, log) as (_, url):
            output, errors = pretrain.communicate(timeout=120)
            assert pretrain.returncode == 0, f"pre-training failed:\n{output}\n{errors}"
            summary = json.loads(output.strip().splitlines()[-1])
            assert summary["status"] == "completed", summary
            yield Server(url, runs_dir, log, summary["run_id"])
    finally:
        if pretrain.poll() is None:
            pretrain.kill()


@pytest.fixture(scope="session")
def browser(browser_available: None) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    """A fresh browser tab; uncaught JavaScript errors are collected in ``page.js_errors``."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(RENDER_TIMEOUT_MS)
    tab.js_errors = []
    tab.on("pageerror", lambda exc: tab.js_errors.append(str(exc)))
    try:
        yield tab
    finally:
        context.close()
