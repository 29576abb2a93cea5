"""Warming up UMAP (numba compilation) and t-SNE so that no click waits for them.

``warm_up()`` at server start runs a tiny fit and transform in a daemon thread; ``is_warm``
tells a page whether a method is ready; the fits go through ``numba_cache`` first.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import numpy as np

from aevae_core.explore.numba_cache import ensure_numba_cache

log = logging.getLogger(__name__)

_STATE: dict[str, str] = {}  # method -> "warming" | "warm" | "failed"
_WARM_THREAD: threading.Thread | None = None


def _warm(methods: Sequence[str]) -> None:
    # scikit-learn's first import (PCA, t-SNE, kNN, ROC) takes seconds too: do it here.
    import sklearn.decomposition  # noqa: F401
    import sklearn.metrics  # noqa: F401

    from aevae_core.explore.projection import Projector

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
