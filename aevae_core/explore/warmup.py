"""Warming up UMAP (numba compilation) and t-SNE so that no click waits for them.

``warm_up()`` (the first Latent space or Compare page of a server) starts a daemon thread:
UMAP is compiled by a tiny fit and transform in a niced subprocess
(``python -m aevae_core.explore.warmup``), which leaves the compiled code in numba's disk
cache (``numba_cache``); t-SNE, which needs no compilation, is loaded in the thread.
``is_warm`` tells a page whether a method is ready.

Why a subprocess: done in the server, ``import umap`` and the compilation held the GIL for
seconds, and every page rendered meanwhile waited behind them (a fresh tab's Traversals or
Compare took 5-7 s instead of 1-2). The server now imports umap only when someone asks for a
UMAP projection, in the background fit that Latent space and Compare already wait for.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

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

    for method in methods:
        try:
            if method == "umap":
                _compile_umap_elsewhere()
            else:
                Projector().fit(_codes(), method, max_iter=250)
            _STATE[method] = "warm"
            log.info("projection %s warmed up", method)
        except Exception:
            _STATE[method] = "failed"
            log.exception("warming up %s failed", method)


WORKER_NICE = 10  # the compiling process yields the CPU to the server and the workers
COMPILE_TIMEOUT_S = 900


def _codes() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((120, 8)).astype(np.float32)


def compile_umap() -> None:
    """Fit and transform tiny codes with UMAP's two code paths, exact neighbours (< 4,096
    codes) and pynndescent's approximate ones (forced here on few codes): numba compiles
    them, and keeps what umap marks ``cache=True`` in its disk cache."""
    from aevae_core.explore.projection import Projector

    codes = _codes()
    for force in (False, True):
        proj = Projector().fit(codes, "umap", force_approximation_algorithm=force)
        proj.transform(codes[:10] + 0.01)


def _compile_umap_elsewhere() -> None:
    """``compile_umap`` in a niced subprocess sharing this process's numba cache folder."""
    root = str(Path(__file__).resolve().parents[2])  # the folder that holds aevae_core
    env = {**os.environ, "NUMBA_CACHE_DIR": str(ensure_numba_cache())}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "aevae_core.explore.warmup"], cwd=root, env=env,
        capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"compiling UMAP failed: {proc.stderr.strip()[-500:]}")


def warm_up(methods: Sequence[str] = ("umap",), background: bool = True) -> threading.Thread | None:
    """Compile UMAP (numba, in a subprocess) and load t-SNE with a tiny fit, in a daemon
    thread by default.

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


if __name__ == "__main__":  # what _compile_umap_elsewhere runs
    # Lowered here, not by a preexec_fn: forking a server that runs threads must not run
    # Python code in the child before exec.
    os.nice(WORKER_NICE)
    ensure_numba_cache()
    compile_umap()
