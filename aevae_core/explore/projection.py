"""2-D views of latent codes: raw axes, PCA, UMAP or t-SNE, fitted once and reused.

A ``Projector`` is fitted once per run (on the last epoch's snapshot codes, see
``projection_for_run``) and then transforms every epoch's codes, so an epoch slider shows the
codes moving instead of the picture jumping. Transforms are cached per code array.

UMAP compiles with numba on first use (tens of seconds on a slow CPU). Importing this module
never imports umap; call ``warmup.warm_up()`` at server start so the compilation happens in a
background thread; every fit goes through ``numba_cache`` first, so later processes load the
compiled code from disk instead of compiling again.

    proj = Projector().fit(codes, "pca")
    xy = proj.transform(other_epoch_codes)      # (N, 2), same axes
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import logging
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from aevae_core.explore.numba_cache import ensure_numba_cache
from aevae_core.store.runs import RunStore

log = logging.getLogger(__name__)

METHODS = ("pca", "umap", "tsne", "raw")
METHOD_TITLES = {"raw": "raw axes (z1, z2)", "pca": "PCA", "umap": "UMAP", "tsne": "t-SNE"}
_TRANSFORM_CACHE_SIZE = 64
_RUN_CACHE_SIZE = 32


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Run scikit-learn's native code on one thread.

    Its OpenMP threads spin while they wait; on a CPU shared with training workers that
    oversubscription made a 90-point t-SNE take 16 s instead of 0.7 s here. The inputs of
    these views are small, so one thread loses little even on an idle machine.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def _digest(codes: np.ndarray) -> str:
    codes = np.ascontiguousarray(codes)
    h = hashlib.blake2b(codes.view(np.uint8).reshape(-1), digest_size=16)
    h.update(str(codes.shape).encode())
    return h.hexdigest()


class Projector:
    """Fit a 2-D projection on some codes, then place any codes of the same dimension on it.

    * ``raw``: the code dimensions ``dims`` (default the first two; a 1-D code gets y = 0).
    * ``pca``: scikit-learn PCA (deterministic signs).
    * ``umap``: umap-learn with ``random_state=seed`` (reproducible; single-threaded) and its
      ``transform`` for new codes.
    * ``tsne``: scikit-learn t-SNE, which has no ``transform``. The fitted codes get their
      fitted embedding back. Other codes are embedded by a short t-SNE run initialised from
      the fitted coordinates: row i starts where row i of the fit landed when both arrays
      have the same length (a run's snapshots hold the same images at every epoch),
      otherwise where its nearest fitted code landed; early exaggeration is off so the
      points move from there rather than being scattered again.
    """

    def __init__(self) -> None:
        self.method: str | None = None
        self.seed = 0
        self.dims: tuple[int, int] = (0, 1)
        self.embedding: np.ndarray | None = None  # (N, 2) coordinates of the fitted codes
        self._model: Any = None
        self._fit_codes: np.ndarray | None = None
        self._fit_digest = ""
        self._options: dict[str, Any] = {}
        self._cache: collections.OrderedDict[str, np.ndarray] = collections.OrderedDict()
        self._lock = threading.Lock()

    def fit(
        self,
        codes: np.ndarray,
        method: str = "pca",
        seed: int = 0,
        *,
        dims: tuple[int, int] = (0, 1),
        **options: Any,
    ) -> Projector:
        """Fit on ``codes`` (N, D); ``options`` go to the UMAP / t-SNE constructor."""
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
        codes = np.ascontiguousarray(codes, dtype=np.float32)
        if codes.ndim != 2 or len(codes) < 2:
            raise ValueError(f"need codes shaped (N >= 2, D), got {codes.shape}")
        self.method, self.seed, self.dims, self._options = method, seed, tuple(dims), options
        self._fit_codes, self._fit_digest = codes, _digest(codes)
        self._cache.clear()
        if method == "raw":
            self.embedding = self._raw(codes)
        elif method == "umap":
            self.embedding = self._fit_umap(codes)
        else:
            with single_threaded():
                if method == "pca":
                    self.embedding = self._fit_pca(codes)
                else:
                    self.embedding = _run_tsne(codes, seed, init="pca", **options)
        self.embedding = np.asarray(self.embedding, dtype=np.float32)
        return self

    def transform(self, codes: np.ndarray) -> np.ndarray:
        """Coordinates (N, 2) of ``codes`` on the fitted projection (cached per array)."""
        if self.method is None or self.embedding is None:
            raise ValueError("Projector.transform called before fit")
        codes = np.ascontiguousarray(codes, dtype=np.float32)
        key = _digest(codes)
        if key == self._fit_digest:
            return self.embedding.copy()
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key].copy()
            with single_threaded() if self.method in ("pca", "tsne") else contextlib.nullcontext():
                coords = np.asarray(self._transform(codes), dtype=np.float32)
            self._cache[key] = coords
            if len(self._cache) > _TRANSFORM_CACHE_SIZE:
                self._cache.popitem(last=False)
        return coords.copy()

    def fit_transform(self, codes: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
        return self.fit(codes, method, seed).transform(codes)

    @property
    def axis_titles(self) -> tuple[str, str]:
        if self.method == "raw":
            return f"z{self.dims[0] + 1}", f"z{self.dims[1] + 1}"
        name = METHOD_TITLES.get(self.method or "", "")
        return f"{name} 1", f"{name} 2"

    # -- methods ------------------------------------------------------------------------
    def _raw(self, codes: np.ndarray) -> np.ndarray:
        d = codes.shape[1]
        x = codes[:, self.dims[0]] if self.dims[0] < d else np.zeros(len(codes), np.float32)
        y = codes[:, self.dims[1]] if self.dims[1] < d else np.zeros(len(codes), np.float32)
        return np.stack([x, y], axis=1)

    def _fit_pca(self, codes: np.ndarray) -> np.ndarray:
        from sklearn.decomposition import PCA

        self._model = PCA(n_components=min(2, codes.shape[1]), svd_solver="full")
        return _pad2(self._model.fit_transform(codes))

    def _fit_umap(self, codes: np.ndarray) -> np.ndarray:
        ensure_numba_cache()
        import umap

        n = len(codes)
        kwargs: dict[str, Any] = {
            "n_neighbors": max(2, min(15, n - 1)),
            "random_state": self.seed,
            "transform_seed": self.seed,
            "init": "spectral" if n > 50 else "random",
            "n_epochs": 200,  # umap's default for > 10,000 points; 500 below costs 2.5x
        }
        kwargs.update(self._options)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*n_jobs.*", category=UserWarning)
            self._model = umap.UMAP(n_components=2, **kwargs)
            embedding = self._model.fit_transform(codes)
        return embedding

    def _transform(self, codes: np.ndarray) -> np.ndarray:
        if self.method == "raw":
            return self._raw(codes)
        if self.method == "pca":
            return _pad2(self._model.transform(codes))
        if self.method == "umap":
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=UserWarning)
                return self._model.transform(codes)
        init = self._tsne_init(codes)
        return _run_tsne(codes, self.seed, init=init, early_exaggeration=1.0, **self._options)

    def _tsne_init(self, codes: np.ndarray) -> np.ndarray:
        assert self._fit_codes is not None and self.embedding is not None
        if len(codes) == len(self._fit_codes):
            return self.embedding.astype(np.float32)
        from sklearn.neighbors import NearestNeighbors

        nn = NearestNeighbors(n_neighbors=1).fit(self._fit_codes)
        idx = nn.kneighbors(codes, return_distance=False)[:, 0]
        return self.embedding[idx].astype(np.float32)


def _pad2(coords: np.ndarray) -> np.ndarray:
    """A 1-D projection (1-D codes) gets y = 0."""
    if coords.shape[1] == 2:
        return coords
    return np.concatenate([coords, np.zeros((len(coords), 1), coords.dtype)], axis=1)


def _run_tsne(codes: np.ndarray, seed: int, *, init: Any, **options: Any) -> np.ndarray:
    from sklearn.manifold import TSNE

    kwargs: dict[str, Any] = {"perplexity": min(30.0, max(2.0, (len(codes) - 1) / 3))}
    kwargs.update(options)
    tsne = TSNE(n_components=2, init=init, random_state=seed, **kwargs)
    coords = tsne.fit_transform(codes)
    return coords


# -- caches -------------------------------------------------------------------------------
_RUN_PROJECTORS: collections.OrderedDict[tuple, Projector] = collections.OrderedDict()
_CODE_PROJECTORS: collections.OrderedDict[tuple, Projector] = collections.OrderedDict()
_KEY_LOCKS: dict[tuple, threading.Lock] = collections.defaultdict(threading.Lock)
_CACHE_LOCK = threading.Lock()


def _cached(cache: collections.OrderedDict, key: tuple, make: Any) -> Projector:
    """Get-or-build with one lock per key, so two threads never fit the same projection."""
    with _CACHE_LOCK:
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        key_lock = _KEY_LOCKS[key]
    with key_lock:
        with _CACHE_LOCK:
            if key in cache:
                return cache[key]
        projector = make()
        with _CACHE_LOCK:
            cache[key] = projector
            _KEY_LOCKS.pop(key, None)
            if len(cache) > _RUN_CACHE_SIZE:
                cache.popitem(last=False)
    return projector


def projection_for_run(
    store: RunStore, run_id: str, method: str, fit_epoch: int | None = None, *, seed: int = 0
) -> Projector:
    """The run's projection, fitted once on the codes of snapshot ``fit_epoch`` (default the
    last one) and cached per (run, method, epoch, snapshot file), for every epoch's codes."""
    return _cached(_RUN_PROJECTORS, *_run_job(store, run_id, method, fit_epoch, seed))


def _run_job(
    store: RunStore, run_id: str, method: str, fit_epoch: int | None, seed: int
) -> tuple[tuple, Callable[[], Projector]]:
    epochs = store.snapshot_epochs(run_id)
    if not epochs:
        raise ValueError(f"run {run_id} has no snapshot yet: one is written after each epoch")
    epoch = epochs[-1] if fit_epoch is None else int(fit_epoch)
    path = store.snapshot_path(run_id, epoch)
    if not path.exists():
        raise ValueError(f"run {run_id} has no snapshot for epoch {epoch}; it has {epochs}")
    key = (str(store.root), run_id, method, epoch, path.stat().st_mtime_ns, seed)

    def make() -> Projector:
        codes = store.read_snapshot(run_id, epoch)["codes"]
        return Projector().fit(codes, method, seed)

    return key, make


def cached_projector(codes: np.ndarray, method: str, seed: int = 0) -> Projector:
    """A Projector fitted on exactly these codes, cached by their content."""
    return _cached(_CODE_PROJECTORS, *_codes_job(codes, method, seed))


def _codes_job(codes: np.ndarray, method: str, seed: int) -> tuple[tuple, Callable]:
    codes = np.ascontiguousarray(codes, dtype=np.float32)
    return (_digest(codes), method, seed), lambda: Projector().fit(codes, method, seed)


def clear_caches() -> None:
    with _CACHE_LOCK:
        _RUN_PROJECTORS.clear()
        _CODE_PROJECTORS.clear()
        _PENDING.clear()


# -- non-blocking requests: a click never waits for UMAP or t-SNE ---------------------------
_PENDING: dict[tuple, str] = {}  # key -> "fitting" | "failed: <reason>"
_FIT_LOCK = threading.Lock()  # one background fit at a time: the CPU is shared with training


def _request(
    cache: collections.OrderedDict, key: tuple, make: Callable[[], Projector], method: str
) -> tuple[Projector | None, str]:
    if method in ("pca", "raw"):  # fast enough to do now
        return _cached(cache, key, make), "ready"
    with _CACHE_LOCK:
        if key in cache:
            cache.move_to_end(key)
            return cache[key], "ready"
        if key in _PENDING:
            return None, _PENDING[key]
        _PENDING[key] = "fitting"

    def work() -> None:
        try:
            with _FIT_LOCK:
                _cached(cache, key, make)
            with _CACHE_LOCK:
                _PENDING.pop(key, None)
        except Exception as exc:
            log.exception("background %s projection failed", method)
            with _CACHE_LOCK:
                _PENDING[key] = f"failed: {exc}"

    threading.Thread(target=work, name=f"aevae-{method}-fit", daemon=True).start()
    return None, "fitting"


def request_projector(
    codes: np.ndarray, method: str, seed: int = 0
) -> tuple[Projector | None, str]:
    """Non-blocking ``cached_projector``: (projector, "ready") when it is cached (PCA and raw
    are fitted on the spot); otherwise a background thread fits it and this returns
    (None, "fitting"), or (None, "failed: reason"). Call again (e.g. from a fragment that
    re-runs every second) until it is ready; meanwhile show PCA."""
    return _request(_CODE_PROJECTORS, *_codes_job(codes, method, seed), method)


def request_projection_for_run(
    store: RunStore, run_id: str, method: str, fit_epoch: int | None = None, *, seed: int = 0
) -> tuple[Projector | None, str]:
    """Non-blocking ``projection_for_run``, with the statuses of ``request_projector``."""
    return _request(_RUN_PROJECTORS, *_run_job(store, run_id, method, fit_epoch, seed), method)
