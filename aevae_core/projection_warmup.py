"""Warming up UMAP (numba compilation) and t-SNE so that no click waits for them.

``warm_up()`` at server start runs a tiny fit and transform in a daemon thread; ``is_warm``
tells a page whether a method is ready. ``ensure_numba_cache`` points numba's on-disk cache
at a writable folder so functions that umap/pynndescent mark ``cache=True`` are compiled once
per machine rather than once per process. Re-exported by ``aevae_core.projection``.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

_STATE: dict[str, str] = {}  # method -> "warming" | "warm" | "failed"
_WARM_THREAD: threading.Thread | None = None


def ensure_numba_cache() -> Path:
    """Point NUMBA_CACHE_DIR at a writable folder (default ~/.cache/aevae/numba) so compiled
    UMAP code is saved and later processes load it instead of compiling again.

    Numba reads the variable once, when it is imported, so this must run first: every path
    to umap here does (``warm_up``, ``Projector``'s UMAP fit). If something imported numba
    earlier, the setting is logged as too late and left alone (numba then caches where it
    would have anyway) rather than reloading numba's configuration, a private API.
    """
    current = os.environ.get("NUMBA_CACHE_DIR")
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    candidates = [Path(current)] if current else [base / "aevae" / "numba"]
    candidates.append(Path(tempfile.gettempdir()) / f"aevae-numba-{os.getuid()}")
    for path in candidates:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(path, os.W_OK):
            break
    if os.environ.get("NUMBA_CACHE_DIR") != str(path):
        os.environ["NUMBA_CACHE_DIR"] = str(path)
        if "numba" in sys.modules:
            log.warning(
                "numba was imported before its cache was pointed at %s: compiled UMAP code "
                "may not be cached across processes",
                path,
            )
    return path


def _warm(methods: Sequence[str]) -> None:
    # scikit-learn's first import (PCA, t-SNE, kNN, ROC) takes seconds too: do it here.
    import sklearn.decomposition  # noqa: F401
    import sklearn.metrics  # noqa: F401

    from aevae_core.projection import Projector

    rng = np.random.default_rng(0)
    codes = rng.standard_normal((120, 8)).astype(np.float32)
    for method in methods:
        try:
            if method == "umap":
                # Two code paths: exact neighbours (< 4,096 codes) and pynndescent's
                # approximate ones (forced here on few codes), each with its transform.
                for force in (False, True):
                    proj = Projector().fit(codes, "umap", force_approximation_algorithm=force)
                    proj.transform(codes[:10] + 0.01)
            else:
                Projector().fit(codes, method, max_iter=250)
            _STATE[method] = "warm"
            log.info("projection %s warmed up", method)
        except Exception:
            _STATE[method] = "failed"
            log.exception("warming up %s failed", method)


def warm_up(methods: Sequence[str] = ("umap",), background: bool = True) -> threading.Thread | None:
    """Compile UMAP (numba) and load t-SNE with a tiny fit, in a daemon thread by default.

    Returns the thread (join it to wait), or None when there is nothing to do or
    ``background`` is False (then it ran in the calling thread).
    """
    global _WARM_THREAD
    ensure_numba_cache()
    todo = [m for m in methods if m in ("umap", "tsne") and _STATE.get(m) not in ("warm",)]
    if not todo:
        return None
    if _WARM_THREAD is not None and _WARM_THREAD.is_alive():
        return _WARM_THREAD
    for m in todo:
        _STATE[m] = "warming"
    if not background:
        _warm(todo)
        return None
    _WARM_THREAD = threading.Thread(
        target=_warm, args=(todo,), name="aevae-projection-warm-up", daemon=True
    )
    _WARM_THREAD.start()
    return _WARM_THREAD


def is_warm(method: str) -> bool:
    """True when a fit with ``method`` will not wait for compilation (PCA and raw always)."""
    return method in ("pca", "raw") or _STATE.get(method) == "warm"


def warm_state(method: str) -> str:
    """ "warm", "warming", "failed" or "cold"."""
    return "warm" if is_warm(method) else _STATE.get(method, "cold")
