"""AppTest sessions that run at once in one process, sharing what a Streamlit server shares.

``server_like_apptest()`` is the harness of the classroom scenario (classroom_scenario.py):
30 ``streamlit.testing.v1.AppTest`` sessions of app.py, each driven by its own thread, as
30 browser tabs on one ``streamlit run`` server. AppTest is made for one run at a time, so
this module patches Streamlit internals (the app itself touches one, in
pages/ui/pages_folder.py; tests/app/conftest.py patches items 4 and 7 for the one-session
AppTest suite). For the context manager's duration:

1. ``Runtime._instance`` (``streamlit.runtime.Runtime``): one mock runtime for every
   session, as in a server; AppTest's per-run swap goes to a stand-in class.
2. ``ScriptCache`` (in ``app_test`` and ``local_script_runner``): one cache for every run.
3. ``patch_config_options`` (``app_test``): patched once instead of around each run.
4. ``PagesManager.uses_pages_directory`` (``streamlit.runtime.pages_manager``): kept off,
   as the server keeps it after the first ``st.navigation`` (pages/ui/pages_folder.py).
5. ``LocalScriptRunner`` (``app_test``): replaced by ``ServerLikeRunner``, a subclass that
   reads its private ``_script_thread`` and builds ``RerunData`` for one fragment.
6. ``BidiComponentManager`` (``app_test``): components discovered once.
7. ``AppTest._run``: wrapped to put ``sys.modules["__main__"]`` back after each run.

``server_like_apptest``'s own docstring says why each is needed. If a Streamlit upgrade
breaks one of them, tests/app/test_classroom.py fails here, not in the app.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Any
from urllib import parse

HARNESS = threading.local()  # per session thread: see server_like_apptest's runner


@contextlib.contextmanager
def server_like_apptest() -> Any:
    """Let AppTest sessions run at once in one process, sharing what a server shares.

    AppTest is made for one run at a time: around every run it swaps process-wide state
    that a Streamlit server sets up once for all its sessions. With 30 sessions running at
    once that would break the harness, not the app, so for the scenario's duration:

    * ``Runtime._instance``: AppTest sets a fresh mock runtime before each run and None
      after it, which pulls the runtime from under every other session's run
      (``st.cache_data``, ``st.dataframe``, download buttons then raise "Runtime hasn't been
      created!"). Here one runtime serves every session, as in a server; AppTest's
      per-run swap goes to a stand-in class.
    * ``ScriptCache``: AppTest makes new ones per run, so every run parses and compiles
      app.py and its page again (a server compiles each file once), and CPython 3.11's
      ``ast.parse`` is not thread-safe (gh-106905: "SystemError: AST constructor recursion
      depth mismatch" when 30 sessions compile at once). Here one cache serves every run.
    * ``config.get_option``: AppTest patches it around each run with ``unittest.mock``,
      which interleaved runs leave stacked; here it is patched once.
    * ``PagesManager.uses_pages_directory``: reset by AppTest before each run, which turns
      Streamlit's legacy ``pages/`` mode back on; the server turns it off for good at the
      first ``st.navigation`` (see tests/app/conftest.py), and so does this.
    * ``sys.modules["__main__"]``: each run leaves the app script there; it is put back, so
      the job manager's forkserver sees the same main module whatever the timing.
    * Components: AppTest scans the installed packages for Streamlit components at each
      session's first run; a server does it once.
    * The script runner (``ServerLikeRunner``): AppTest's waits by polling; and a browser
      tab re-runs a page's fragments on their timers, which AppTest cannot do.
    """
    from unittest import mock

    import streamlit.testing.v1.app_test as app_test_module
    import streamlit.testing.v1.local_script_runner as local_runner_module
    from streamlit.components.v2.component_manager import BidiComponentManager
    from streamlit.runtime import Runtime
    from streamlit.runtime.caching.storage.dummy_cache_storage import MemoryCacheStorageManager
    from streamlit.runtime.dataframe_source_manager import DataframeSourceManager
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import RerunData, ScriptRunnerEvent
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import AppTest
    from streamlit.testing.v1.element_tree import parse_tree_from_messages
    from streamlit.testing.v1.util import patch_config_options

    class PerRunRuntime(Runtime):
        """What AppTest's per-run ``Runtime._instance = ...`` sets instead of the real one."""

        _instance = None

    class ServerLikePagesManager(PagesManager):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            PagesManager.uses_pages_directory = False
            super().__init__(*args, **kwargs)

    class ServerLikeRunner(local_runner_module.LocalScriptRunner):
        """AppTest's script runner, waiting as a server does and able to run one fragment.

        * AppTest waits for a run by polling every millisecond (``require_widgets_deltas``):
          30 waiting threads wake 30,000 times a second for the GIL, which slows every
          script run; a server is told when a run ends. Here the wait is an event.
        * A browser tab re-runs an ``st.fragment(run_every=...)`` on its own timer, not the
          whole page: ``HARNESS.fragment`` (set by the session's thread) makes this run that
          fragment only, as Streamlit's frontend asks for it (an auto re-run of one fragment
          id). What the run asked the browser to re-run, and how often, is left in
          ``HARNESS.auto_reruns`` for the session to schedule; ``HARNESS.full_run`` says
          whether the run (or a ``st.rerun()`` it made) ran the whole page.
        """

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._ended = threading.Event()
            self._full_run = False

            def watch(sender: Any, event: Any, **data: Any) -> None:
                if event == ScriptRunnerEvent.SCRIPT_STARTED and not data.get(
                    "fragment_ids_this_run"
                ):
                    self._full_run = True
                elif event == ScriptRunnerEvent.SHUTDOWN:
                    self._ended.set()

            self.on_event.connect(watch, weak=False)

        def run(
            self,
            widget_state: Any = None,
            query_params: dict[str, Any] | None = None,
            timeout: float = 3,
            page_hash: str = "",
            context_info: Any = None,
        ) -> Any:
            fragment = getattr(HARNESS, "fragment", None)
            self.request_rerun(
                RerunData(
                    widget_states=widget_state,
                    query_string=parse.urlencode(query_params or {}, doseq=True),
                    page_script_hash=page_hash,
                    context_info=context_info,
                    fragment_id_queue=[fragment] if fragment else [],
                    is_auto_rerun=bool(fragment),
                )
            )
            try:
                if not self._script_thread:
                    self.start()
                if not self._ended.wait(timeout):
                    self.request_stop()
                    raise RuntimeError(f"AppTest script run timed out after {timeout}(s)")
            finally:
                self.join()
            messages = self.forward_msgs()
            HARNESS.full_run = self._full_run
            HARNESS.auto_reruns = {
                m.auto_rerun.fragment_id: m.auto_rerun.interval
                for m in messages
                if m.WhichOneof("type") == "auto_rerun"
            }
            return parse_tree_from_messages(messages)

    runtime = mock.MagicMock(spec=Runtime)
    runtime.media_file_mgr = MediaFileManager(MemoryMediaFileStorage("/mock/media"))
    runtime.dataframe_source_mgr = DataframeSourceManager()
    runtime.cache_storage_manager = MemoryCacheStorageManager()

    class ServerComponents(BidiComponentManager):
        """Discovered once, as a server does (AppTest scans the installed packages for every
        new session: a second of each session's first run)."""

        def discover_and_register_components(self, *args: Any, **kwargs: Any) -> None:
            pass

    components = ServerComponents()
    BidiComponentManager.discover_and_register_components(components, start_file_watching=False)
    runtime.bidi_component_registry = components
    script_cache = ScriptCache()

    main_module = sys.modules["__main__"]
    apptest_run = AppTest._run

    def run_keeping_main(self: AppTest, *args: Any, **kwargs: Any) -> AppTest:
        try:
            return apptest_run(self, *args, **kwargs)
        finally:
            sys.modules["__main__"] = main_module

    saved_instance, saved_pages_flag = Runtime._instance, PagesManager.uses_pages_directory
    with contextlib.ExitStack() as stack:
        stack.enter_context(patch_config_options({"global.appTest": True}))
        for name, value in (
            ("patch_config_options", lambda overrides: contextlib.nullcontext()),
            ("Runtime", PerRunRuntime),
            ("ScriptCache", lambda: script_cache),
            ("PagesManager", ServerLikePagesManager),
            ("LocalScriptRunner", ServerLikeRunner),
            ("BidiComponentManager", lambda: components),
        ):
            stack.enter_context(mock.patch.object(app_test_module, name, value))
        stack.enter_context(
            mock.patch.object(local_runner_module, "ScriptCache", lambda: script_cache)
        )
        stack.enter_context(mock.patch.object(AppTest, "_run", run_keeping_main))
        PagesManager.uses_pages_directory = False
        Runtime._instance = runtime
        try:
            yield
        finally:
            Runtime._instance = saved_instance
            PagesManager.uses_pages_directory = saved_pages_flag
            sys.modules["__main__"] = main_module
