"""Numba's on-disk cache: pointed at a writable folder before numba is imported, so the
functions that umap/pynndescent mark ``cache=True`` are compiled once per machine rather than
once per process (``import umap`` 25 s cold, a first fit 70 s on the project's machines)."""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


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
