"""app.py itself: importing it as a worker process does (multiprocessing's ``__mp_main__``)."""

from __future__ import annotations

import os
import subprocess
import sys

from app_helpers import REPO


def test_app_is_inert_when_a_worker_process_re_imports_it(tmp_path):
    """Under `streamlit run`, ``__main__`` is app.py, and every forkserver/spawn child
    re-imports the parent's ``__main__`` as ``__mp_main__``. If that runs the app, each
    training worker builds a second JobManager (same runs dir) in bare mode, which claims the
    queued run and fails it with "An attempt has been made to start a new process before the
    current process has finished its bootstrapping phase": no run started from the browser
    can train. The standard idiom fixes it: the body of app.py under
    ``if __name__ == "__main__":`` (Streamlit runs the script as ``__main__``).
    """
    runs_dir = tmp_path / "runs"
    code = "import runpy; runpy.run_path('app.py', run_name='__mp_main__')"
    env = dict(os.environ, AEVAE_RUNS_DIR=str(runs_dir))
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert not runs_dir.exists(), (
        "importing app.py as __mp_main__ (what every worker process does) ran the app: "
        "it created a job manager and a run store in AEVAE_RUNS_DIR"
    )
