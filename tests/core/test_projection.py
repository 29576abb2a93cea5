"""Tests for aevae_core.explore.projection and the evolution GIF: projections are fitted once and
reused (same coordinates for the same codes), cached per run, and UMAP is never imported
at import time. Tests that import umap are marked slow (numba compiles for tens of seconds).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aevae_core.config import TrainConfig
from aevae_core.explore import evolution, numba_cache, warmup
from aevae_core.explore import projection as P
from aevae_core.jobs.runner import execute_run
from aevae_core.store.runs import RunStore

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def codes() -> np.ndarray:
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 4, size=(3, 6))
    return (centres[np.arange(90) % 3] + rng.normal(size=(90, 6))).astype(np.float32)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("runs"))
    config = TrainConfig(dataset="digits", max_samples=300, epochs=2, hidden=(32,), latent_dim=3)
    run_id = store.create_run(config, status="running")
    assert execute_run(store, run_id, stop=lambda: False).status == "completed"
    return store, run_id


def test_import_does_not_import_umap():
    code = "import sys, aevae_core.explore.projection; assert 'umap' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_pca_reuse_gives_the_same_coordinates(codes):
    proj = P.Projector().fit(codes, "pca")
    first = proj.transform(codes)
    assert first.shape == (90, 2) and first.dtype == np.float32
    np.testing.assert_array_equal(first, proj.transform(codes))
    np.testing.assert_array_equal(first, proj.embedding)
    moved = codes + 0.5
    np.testing.assert_array_equal(proj.transform(moved), proj.transform(moved))
    # a fixed linear map: moving every code by the same vector moves every point equally
    shift = proj.transform(moved) - first
    np.testing.assert_allclose(shift, np.repeat(shift[:1], 90, 0), atol=1e-4)
    assert proj.axis_titles == ("PCA 1", "PCA 2")


def test_pca_captures_the_largest_variance():
    rng = np.random.default_rng(1)
    codes = np.c_[rng.normal(0, 10, 500), rng.normal(0, 0.1, 500), rng.normal(0, 3, 500)]
    xy = P.Projector().fit(codes, "pca").transform(codes)
    assert xy[:, 0].std() == pytest.approx(10, rel=0.1)
    assert xy[:, 1].std() == pytest.approx(3, rel=0.1)


def test_raw_and_one_dimensional_codes(codes):
    proj = P.Projector().fit(codes, "raw", dims=(2, 4))
    np.testing.assert_array_equal(proj.transform(codes), codes[:, [2, 4]])
    assert proj.axis_titles == ("z3", "z5")
    one = codes[:, :1]
    for method in ("raw", "pca"):
        xy = P.Projector().fit(one, method).transform(one)
        assert xy.shape == (90, 2) and np.all(xy[:, 1] == 0)


def test_errors():
    with pytest.raises(ValueError, match="method"):
        P.Projector().fit(np.zeros((5, 2)), "isomap")
    with pytest.raises(ValueError, match="before fit"):
        P.Projector().transform(np.zeros((5, 2)))
    with pytest.raises(ValueError):
        P.Projector().fit(np.zeros((1, 2)), "pca")


def test_tsne_reuses_its_embedding_and_starts_from_it(codes):
    proj = P.Projector().fit(codes, "tsne", max_iter=250)
    np.testing.assert_array_equal(proj.transform(codes), proj.embedding)
    later = codes * 1.05
    moved = proj.transform(later)
    assert moved.shape == (90, 2) and np.isfinite(moved).all()
    np.testing.assert_array_equal(moved, proj.transform(later))  # cached, no new run
    fewer = proj.transform(codes[:40] + 0.01)  # other length: nearest fitted code's start
    assert fewer.shape == (40, 2) and np.isfinite(fewer).all()


def test_projection_for_run_is_fitted_once_and_reused(trained_run):
    store, run_id = trained_run
    proj = P.projection_for_run(store, run_id, "pca")
    assert P.projection_for_run(store, run_id, "pca") is proj
    assert P.projection_for_run(store, run_id, "pca", fit_epoch=2) is proj  # 2 is the last
    last = store.read_snapshot(run_id, 2)["codes"]
    np.testing.assert_array_equal(proj.transform(last), proj.embedding)
    first = store.read_snapshot(run_id, 1)["codes"]
    np.testing.assert_array_equal(proj.transform(first), proj.transform(first))
    other = P.projection_for_run(store, run_id, "pca", fit_epoch=1)
    assert other is not proj
    np.testing.assert_array_equal(other.transform(first), other.embedding)
    with pytest.raises(ValueError, match="no snapshot for epoch"):
        P.projection_for_run(store, run_id, "pca", fit_epoch=9)


def test_projection_for_run_without_snapshots(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create_run(TrainConfig())
    with pytest.raises(ValueError, match="no snapshot"):
        P.projection_for_run(store, run_id, "pca")


def test_cached_projector(codes):
    proj = P.cached_projector(codes, "pca")
    assert P.cached_projector(codes.copy(), "pca") is proj
    assert P.cached_projector(codes + 1, "pca") is not proj


def wait_for(request, timeout: float = 300.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proj, status = request()
        if status != "fitting":
            return proj, status
        time.sleep(0.05)
    raise AssertionError("the background projection did not finish")


def test_request_projector_pca_is_immediate(codes):
    proj, status = P.request_projector(codes, "pca")
    assert status == "ready" and proj is P.cached_projector(codes, "pca")


def test_request_projector_fits_tsne_in_the_background(codes):
    small = np.ascontiguousarray(codes[:40])
    proj, status = P.request_projector(small, "tsne", seed=7)
    assert proj is None and status == "fitting"  # returned at once
    proj, status = wait_for(lambda: P.request_projector(small, "tsne", seed=7))
    assert status == "ready" and proj.method == "tsne"
    np.testing.assert_array_equal(proj.transform(small), proj.embedding)
    assert P.request_projector(small, "tsne", seed=7)[0] is proj
    bad = wait_for(lambda: P.request_projector(small[:1], "tsne"))  # one code cannot be fitted
    assert bad[0] is None and bad[1].startswith("failed: ")


def test_request_projection_for_run(trained_run):
    store, run_id = trained_run
    proj, status = P.request_projection_for_run(store, run_id, "pca")
    assert status == "ready" and proj is P.projection_for_run(store, run_id, "pca")


def test_axis_ranges_hold_every_frame():
    frames = [np.array([[0.0, 0.0], [1.0, 2.0]]), np.array([[-1.0, 5.0], [3.0, 1.0]])]
    (x0, x1), (y0, y1) = evolution.axis_ranges(frames)
    assert x0 < -1 and x1 > 3 and y0 < 0 and y1 > 5


@pytest.mark.parametrize("labels", [np.arange(50) % 4, None, np.linspace(0, 1, 50)])
def test_evolution_gif_is_an_animation(labels):
    rng = np.random.default_rng(0)
    frames = [rng.normal(size=(50, 2)) * (1 + 0.3 * i) for i in range(4)]
    gif = evolution.evolution_gif(frames, labels, size=120, duration_ms=100)
    assert gif.startswith(b"GIF8")
    img = Image.open(io.BytesIO(gif))
    assert img.size == (120, 120) and img.n_frames == 4
    with pytest.raises(ValueError):
        evolution.evolution_gif([], labels)


def test_ensure_numba_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = numba_cache.ensure_numba_cache()
    assert path == tmp_path / "aevae" / "numba" and path.is_dir()
    assert numba_cache.ensure_numba_cache() == path  # idempotent
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    assert numba_cache.ensure_numba_cache() == tmp_path / "mine"  # a user's setting wins


def test_numba_reads_the_cache_set_before_its_import(tmp_path):
    """A fresh process, as a server is: the folder set before numba's import is numba's."""
    code = (
        "import os, sys, aevae_core.explore.numba_cache as N; "
        "os.environ.pop('NUMBA_CACHE_DIR', None); "
        f"os.environ['XDG_CACHE_HOME'] = {str(tmp_path)!r}; path = N.ensure_numba_cache(); "
        "assert 'numba' not in sys.modules; import numba; "
        "print(numba.config.CACHE_DIR == str(path), numba.config.CACHE_DIR)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[0] == "True", f"numba caches in {proc.stdout.split()[-1]}"


def test_a_cache_set_after_numba_is_imported_is_logged_not_reloaded(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setitem(sys.modules, "numba", object())  # imported earlier, by someone else
    with caplog.at_level("WARNING", logger="aevae_core.explore.numba_cache"):
        path = numba_cache.ensure_numba_cache()
    assert path == tmp_path / "aevae" / "numba"
    assert "numba was imported before its cache was pointed at" in caplog.text


def test_warm_state_of_pca():
    assert warmup.is_warm("pca") and warmup.is_warm("raw")
    assert warmup.warm_up(methods=("pca",)) is None  # nothing to compile


WARM_UP_ELSEWHERE = """
import json, sys
from aevae_core.explore import warmup
warmup.warm_up(("umap", "tsne"), background=False)
print(json.dumps({"umap": warmup.warm_state("umap"), "tsne": warmup.warm_state("tsne"),
                  "umap_imported_here": "umap" in sys.modules}))
"""


@pytest.mark.slow
def test_umap_compiles_in_a_subprocess_and_the_server_never_imports_it(tmp_path):
    """The warm-up leaves UMAP compiled (numba's disk cache) without importing umap in the
    server: done there, it held the GIL for seconds while pages rendered."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(numba_cache.ensure_numba_cache())}
    proc = subprocess.run(
        [sys.executable, "-c", WARM_UP_ELSEWHERE], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result == {"umap": "warm", "tsne": "warm", "umap_imported_here": False}


def test_a_failed_compilation_says_why(monkeypatch):
    monkeypatch.setattr(warmup, "_STATE", {})
    monkeypatch.setattr(sys, "executable", "/bin/false")  # the subprocess fails
    warmup.warm_up(("umap",), background=False)
    assert warmup.warm_state("umap") == "failed"


@pytest.mark.slow
def test_umap_fit_transform_reuse_and_warm_up(codes):
    thread = warmup.warm_up(("umap",), background=True)
    if thread is not None:
        thread.join(timeout=600)
    assert warmup.is_warm("umap") and warmup.warm_state("umap") == "warm"
    proj = P.Projector().fit(codes, "umap", seed=0)
    np.testing.assert_array_equal(proj.transform(codes), proj.embedding)
    moved = proj.transform(codes + 0.05)
    assert moved.shape == (90, 2) and np.isfinite(moved).all()
    np.testing.assert_array_equal(moved, proj.transform(codes + 0.05))
    again = P.Projector().fit(codes, "umap", seed=0)  # same seed, same picture
    np.testing.assert_allclose(again.embedding, proj.embedding, atol=1e-4)
