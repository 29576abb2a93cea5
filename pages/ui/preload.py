"""The server's background warm-up: torch and the analysis code, imported off the click path.

Not a page. ``start_preload`` runs ``_preload`` once per server process in a daemon thread:
the job manager's creation schedules it a few seconds after the first page (so as not to
slow that page), and Home brings it forward once it is drawn. The classroom scenario
(tests/support/classroom_scenario.py) calls ``_preload`` itself.
"""

from __future__ import annotations

import importlib
import sys
import threading
from typing import Any

PRELOAD_DELAY_S = 5.0


_preload_lock = threading.Lock()
_preload_state: dict[str, Any] = {"timer": None, "begun": False}


def start_preload(delay: float = 0.0) -> None:
    """Import torch and the analysis code in a background thread ``delay`` seconds from now,
    once per server process; a call with no delay brings a pending one forward.

    Home calls it with no delay once it is drawn: a newcomer's first click there (the quick
    start) opens the Train page, which needs torch, and should not wait for its import.
    """
    with _preload_lock:
        pending = _preload_state["timer"]
        if _preload_state["begun"] or (pending is not None and delay > 0):
            return
        if pending is not None:
            pending.cancel()
        timer = threading.Timer(delay, _preload_once)
        timer.name, timer.daemon = "aevae-preload", True
        _preload_state["timer"] = timer
        timer.start()


def _preload_once() -> None:
    with _preload_lock:
        if _preload_state["begun"]:
            return
        _preload_state["begun"] = True
    _preload()


def _preload() -> None:
    try:
        # First the quick start's Train page's own modules (no torch: a second, they draw
        # the page while torch loads; imported during the click, they waited behind it),
        # then torch and the engine it starts, then the rest.
        for name in ("pages.ui.train_form", "pages.ui.train_live"):
            importlib.import_module(name)
        import aevae_core.data.datasets  # noqa: F401  (torch; the pre-flight reads its registry)
        import aevae_core.engine.fit  # noqa: F401  (the Train page)

        _after_torch_import()  # this thread's import of torch is over
        import sklearn.decomposition  # noqa: F401  (PCA, kNN, ROC: the Explore pages)
        import sklearn.metrics  # noqa: F401
        import sklearn.neighbors  # noqa: F401

        import aevae_core.explore.analysis  # noqa: F401  (models)
        import aevae_core.explore.metrics  # noqa: F401  (Compare)

        _set_server_threads()
    except Exception:  # only a warm-up: the pages import it themselves and report errors
        pass


SERVER_TORCH_THREADS = 1
_torch_state: dict[str, Any] = {"imported": False, "waiter": None}


def limit_torch_threads() -> None:
    """One torch thread in the server process, once torch is imported there; never waits.

    Training runs in worker processes with their own thread counts; what torch does in the
    server (pre-flight checks, decoding for the analysis views) is small, and torch's
    default of one thread per core would make it compete with the workers for every core.

    Called on every script run (the sidebar). Torch is not imported here (seconds). When it
    is in ``sys.modules`` but this module has not seen its import finish, another thread may
    still be importing it, and a half-imported torch must not be called: a background
    thread's ``import torch`` waits for that import to end (Python's per-module import
    lock); from then on each call sets the calling thread's count (OpenMP keeps one per
    thread, and every script run calls this first). No page waits for it.
    """
    if "torch" not in sys.modules:
        return
    if _torch_state["imported"]:
        _set_server_threads()
        return
    with _preload_lock:
        if _torch_state["waiter"] is not None:
            return
        waiter = threading.Thread(target=_after_torch_import, name="aevae-torch-threads")
        waiter.daemon = True
        _torch_state["waiter"] = waiter
    waiter.start()


def _after_torch_import() -> None:
    try:
        import torch  # noqa: F401  (at once, or when the thread importing it is done)
    except ImportError:  # that import failed: the page that needs torch reports it
        return
    _torch_state["imported"] = True
    _set_server_threads()


def _set_server_threads() -> None:
    torch = sys.modules["torch"]
    if torch.get_num_threads() != SERVER_TORCH_THREADS:
        torch.set_num_threads(SERVER_TORCH_THREADS)
