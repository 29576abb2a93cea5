"""The server's background warm-up: the Train page's modules, then torch and the analysis code,
imported off the click path.

Not a page. ``start_preload`` runs ``_preload`` once per server process in a daemon thread:
the job manager's creation schedules it a few seconds after the first page (so as not to
slow that page), and Home brings it forward once it is drawn. The classroom scenario
(tests/support/classroom_scenario.py) calls ``preload_now`` itself.

Two stages. First the Train page's own modules (pandas and Plotly with them, about 0.5 s):
the quick start opens that page. Then torch and the analysis code (about 2 s, most of it
holding the GIL), which only the Explore pages need and which stalls any render that runs
meanwhile: begun as Home was drawn, it held Home's first render from about 3 to 5.5 s. So
the second stage waits for a quiet server (``server_quiet``); on a busy class server that
may never come, and each page imports what it needs itself.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aevae_core.jobs.manager import JobManager

PRELOAD_DELAY_S = 5.0  # after the first page a server renders
HOME_DELAY_S = 0.3  # after Home's script: its page is sent first
# s since the last script run started or ended: the browser is still drawing what a run
# sent for about a second after it ends (Home on 2 cores), and a newcomer's first click
# comes soon after that
QUIET_S = 2.0
QUIET_POLL_S = 0.25
LIGHT = ("pages.ui.train_form", "pages.ui.train_live")  # the quick start's Train page


_preload_lock = threading.Lock()
_preload_state: dict[str, Any] = {"timer": None, "due": 0.0, "begun": False, "manager": None}
_last_script_run = [0.0]  # time.monotonic() of the latest note_script_run()


def watch(manager: JobManager) -> None:
    """The job manager whose runs ``server_quiet`` looks at."""
    _preload_state["manager"] = manager


def note_script_run() -> None:
    """Called as every script run starts (the sidebar) and ends (app.py), and by every
    refresh of a live panel: a page is being drawn."""
    _last_script_run[0] = time.monotonic()


def start_preload(delay: float = 0.0) -> None:
    """Start the warm-up in a background thread ``delay`` seconds from now, once per server
    process; a call due sooner than a pending one brings it forward.

    Home calls it with ``HOME_DELAY_S`` as its script ends: a newcomer's first click there
    (the quick start) opens the Train page, whose modules the first stage imports. Begun at
    once, that import held the GIL while the server's event loop had Home's page to send:
    the browser got it 0.6 s after the script ended, as the import finished.
    """
    due = time.monotonic() + delay
    with _preload_lock:
        pending = _preload_state["timer"]
        if _preload_state["begun"] or (pending is not None and _preload_state["due"] <= due):
            return
        if pending is not None:
            pending.cancel()
        timer = threading.Timer(delay, _preload_once)
        timer.name, timer.daemon = "aevae-preload", True
        _preload_state["timer"], _preload_state["due"] = timer, due
        timer.start()


def _preload_once() -> None:
    with _preload_lock:
        if _preload_state["begun"]:
            return
        _preload_state["begun"] = True
    _preload()


def server_quiet(manager: JobManager | None = None) -> bool:
    """Whether torch's import would stall nobody: no script run started or ended in the
    last ``QUIET_S``, and no run of the manager's active. A queued run starts any moment: the
    workers' forkserver, still importing torch itself, would share the cores with this
    import, and a running one's live curve would freeze while it lasts."""
    if time.monotonic() - _last_script_run[0] < QUIET_S:
        return False
    return manager is None or not manager.store.list_runs(statuses=("queued", "running"))


def _wait_until_quiet() -> None:
    while True:
        try:
            if server_quiet(_preload_state["manager"]):
                return
        except Exception:  # a store that cannot be read now: try again
            pass
        time.sleep(QUIET_POLL_S)


def _preload() -> None:
    try:
        for name in LIGHT:
            importlib.import_module(name)
        _wait_until_quiet()
        _import_torch_and_analysis()
    except Exception:  # only a warm-up: the pages import it themselves and report errors
        pass


def preload_now() -> None:
    """Both stages at once, in the calling thread (a server that has been up a while)."""
    for name in LIGHT:
        importlib.import_module(name)
    _import_torch_and_analysis()


def _import_torch_and_analysis() -> None:
    import aevae_core.data.datasets  # noqa: F401  (torch; the pre-flight reads its registry)
    import aevae_core.engine.fit  # noqa: F401  (the Train page)

    _after_torch_import()  # this thread's import of torch is over
    import sklearn.decomposition  # noqa: F401  (PCA, kNN, ROC: the Explore pages)
    import sklearn.metrics  # noqa: F401
    import sklearn.neighbors  # noqa: F401

    import aevae_core.explore.analysis  # noqa: F401  (models)
    import aevae_core.explore.metrics  # noqa: F401  (Compare)

    _set_server_threads()


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


def torch_ready(wait: float = 0.05) -> bool:
    """Whether torch is imported in this process, in full: a page may then use it at once.

    False while nobody has imported it, or while another thread is still importing it
    (``wait`` seconds are given to an import that is just ending). A page that can draw
    without torch for now (the Train page's dataset preview) asks this instead of stalling
    its render on an import of seconds.
    """
    if _torch_state["imported"]:
        return True
    if "torch" not in sys.modules:
        return False
    limit_torch_threads()  # starts the waiter, which marks the import as done
    waiter = _torch_state["waiter"]
    if waiter is not None:
        waiter.join(wait)
    return bool(_torch_state["imported"])


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
