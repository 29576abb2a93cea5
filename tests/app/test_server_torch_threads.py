"""The server's torch runs on one thread, set without waiting for, or touching, a torch that
another thread is still importing (pages/ui/preload.py's ``limit_torch_threads``).

A fresh interpreter, as a fresh server is: one thread imports torch (the background
preload, or a page); meanwhile the sidebar calls ``limit_torch_threads`` on every script
run. Each call must return at once, and once the import is over torch must be on
``SERVER_TORCH_THREADS`` threads.
"""

from __future__ import annotations

import json
import subprocess
import sys

from app_helpers import REPO

SCRIPT = """
import json, sys, threading, time
import pages.ui.preload as preload

def import_torch():
    global imported_at
    import torch
    imported_at = time.perf_counter()

importer = threading.Thread(target=import_torch)
t0 = time.perf_counter()
importer.start()
while "torch" not in sys.modules:  # the import has begun, and is not over
    time.sleep(0.0005)
calls = []
while importer.is_alive():
    c0 = time.perf_counter()
    preload.limit_torch_threads()
    calls.append(time.perf_counter() - c0)
    time.sleep(0.01)
import torch
deadline = time.perf_counter() + 30
# The next script runs call it again (the sidebar, every run): once the waiter has seen the
# import end, a call sets the calling thread's count (OpenMP keeps one per thread).
while time.perf_counter() < deadline:
    preload.limit_torch_threads()
    if torch.get_num_threads() == preload.SERVER_TORCH_THREADS:
        break
    time.sleep(0.01)
print(json.dumps({
    "import_s": imported_at - t0,
    "calls": len(calls),
    "slowest_call_s": max(calls, default=0.0),
    "threads": torch.get_num_threads(),
    "want": preload.SERVER_TORCH_THREADS,
}))
"""


def test_threads_are_limited_once_torch_is_imported_and_no_call_waits():
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["calls"] >= 3, f"torch imported too fast to test the overlap: {result}"
    # A call that waited for the import would take about as long as the import itself.
    assert result["slowest_call_s"] < min(0.25, result["import_s"] / 4), result
    assert result["threads"] == result["want"], result
