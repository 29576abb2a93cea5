"""Home renders without importing torch in the server process (issue 13: the first minute).

A fresh interpreter, as a fresh server is: rendering Home creates the job manager (which
starts the forkserver in its own process) and draws the sidebar's device line, and neither
may import torch here, which costs seconds before the first page shows. Once drawn, Home
starts the server's background import (pages/ui/preload.py), replaced by a spy here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from app_helpers import APP, REPO

SCRIPT = f"""
import json, sys, threading
from streamlit.testing.v1 import AppTest
import pages.ui.preload as preload
asked = threading.Event()
preload._preload = asked.set  # Home asks for the background import; here it imports nothing
at = AppTest.from_file({str(APP)!r}, default_timeout=60).run()
torch_loaded = "torch" in sys.modules
print(json.dumps({{
    "torch": torch_loaded,
    "preload_asked": asked.wait(10),
    "errors": [str(e.message) for e in at.exception],
    "title": [t.value for t in at.title],
    "sidebar": [c.value for c in at.sidebar.caption],
    "buttons": [b.label for b in at.button],
}}))
"""


def test_home_renders_without_importing_torch(tmp_path):
    env = {**os.environ, "AEVAE_RUNS_DIR": str(tmp_path / "runs")}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not result["errors"], result["errors"]
    assert result["title"] == ["Autoencoders, hands on"]  # Home, drawn in full
    assert "Train a 2-D VAE on digits" in result["buttons"]
    assert any(c.startswith("**Device** · ") for c in result["sidebar"]), result["sidebar"]
    assert result["torch"] is False, "rendering Home imported torch in the server process"
    assert result["preload_asked"], "Home did not start the background import once drawn"


def test_the_background_import_runs_once_and_home_brings_it_forward(monkeypatch):
    import threading

    import pages.ui.preload as preload

    calls: list[str] = []
    ran = threading.Event()
    monkeypatch.setattr(preload, "_preload", lambda: (calls.append("run"), ran.set()))
    monkeypatch.setattr(preload, "_preload_state", {"timer": None, "due": 0.0, "begun": False})
    preload.start_preload(60.0)  # the manager's: a minute from now
    preload.start_preload(90.0)  # due later than the pending one: changes nothing
    assert not ran.wait(0.3)
    preload.start_preload(preload.HOME_DELAY_S)  # Home's, as its script ends: soon
    assert ran.wait(10)
    preload.start_preload()
    preload.start_preload(0.0)
    threading.Event().wait(0.3)
    assert calls == ["run"]


TRAIN_IMPORTS = """
import json, sys
import pages.ui.train_form, pages.ui.train_live, pages.ui.jobs_list, pages.ui.compare_metrics
from aevae_core.config import TrainConfig
from aevae_core.jobs import admission
admission.check(TrainConfig())  # the refusal a form explains before Start
print(json.dumps({"torch": "torch" in sys.modules}))
"""


def test_the_train_page_draws_and_checks_its_form_without_torch(tmp_path):
    """The quick start opens the Train page: its modules and the admission check import no
    torch, so its title and form show while torch loads (only the dataset preview and the
    worker need it)."""
    env = {**os.environ, "AEVAE_RUNS_DIR": str(tmp_path / "runs")}
    proc = subprocess.run(
        [sys.executable, "-c", TRAIN_IMPORTS], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"torch": False}
