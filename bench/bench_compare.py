"""Benchmark the Compare page for two finished MLP runs (an AE and a VAE) on the CPU.

    python bench/bench_compare.py [--threads N]

Trains the two runs first (not timed; MNIST from ../shared/data when present, else digits),
then times everything the page computes with cold analysis caches and warm imports (the
server imported the libraries at start): loading both checkpoints and the validation data,
the metrics table (with the importance-weighted NLL, k = 50 on 200 images, and kNN on a
2,000-image train sample), one grid of the same validation images reconstructed by each run,
a PCA scatter of each run's snapshot codes, prior samples per run, the overlaid curves and
the rate-distortion plot, each figure serialised as Streamlit does (as pages/compare.py).
Target: <= 2 s (median of 3 cold renders). Exits 1 on FAIL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aevae_core.config import TrainConfig  # noqa: E402
from aevae_core.explore import analysis as A  # noqa: E402
from aevae_core.explore import metric_labels  # noqa: E402
from aevae_core.explore import metrics as M  # noqa: E402
from aevae_core.explore import projection as P  # noqa: E402
from aevae_core.jobs.runner import execute_run  # noqa: E402
from aevae_core.plots import charts  # noqa: E402
from aevae_core.plots import figures as F  # noqa: E402
from aevae_core.store.runs import RunStore  # noqa: E402

SHARED_DATA = Path(os.environ.get("AEVAE_TEST_DATA_DIR") or ROOT.parent / "shared" / "data")
TARGET_S = 2.0
N_GRID, N_SAMPLES, IW_IMAGES = 12, 16, 500  # as pages/compare.py asks


def train_runs(store: RunStore, data_dir: str | None, dataset: str) -> list[str]:
    ids = []
    for model in ("ae", "vae"):
        config = TrainConfig(dataset=dataset, model=model, latent_dim=8, hidden=(256, 128),
                             epochs=2, batch_size=128, seed=0)  # fmt: skip
        run_id = store.create_run(config, status="running")
        t0 = time.perf_counter()
        result = execute_run(store, run_id, stop=lambda: False, data_dir=data_dir)
        assert result is not None and result.status == "completed", result
        print(f"trained {model} on {dataset} in {time.perf_counter() - t0:.1f} s (not timed)")
        ids.append(run_id)
    return ids


def render_page(store: RunStore, run_ids: list[str], data_dir: str | None) -> dict[str, float]:
    """Everything pages/compare.py computes for two runs; returns seconds per part."""
    parts: dict[str, float] = {}
    t = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        now = time.perf_counter()
        parts[name] = parts.get(name, 0.0) + now - t
        t = now

    loaded = {rid: A.load_model(store, rid) for rid in run_ids}
    names = {rid: cfg.model.upper() for rid, (_, cfg, _) in loaded.items()}
    lap("load two checkpoints")
    figures = []
    histories = {names[rid]: store.metrics(rid, "epoch") for rid in run_ids}
    figures += [charts.overlay_curves(histories, key) for key in ("loss", "recon", "kl")]
    lap("loss curves (3 figures)")
    config = loaded[run_ids[0]][1]
    x_val, y_val, f_val, class_names, _ = A.load_split(config, "val", 1000, data_dir=data_dir)
    x_tr, y_tr, _, _, _ = A.load_split(config, "train", 2000, data_dir=data_dir)
    lap("load validation (1,000) + train sample (2,000)")
    metrics = {
        names[rid]: M.run_metrics(model, cfg, x_val, y_val, f_val, x_tr, y_tr, iw_k=50,
                                  iw_max_images=IW_IMAGES)
        for rid, (model, cfg, _) in loaded.items()
    }  # fmt: skip
    rows = metric_labels.comparison_rows(metrics)
    lap(f"metrics table (IWAE k=50 on {IW_IMAGES} images)")
    x = x_val[:N_GRID]
    grid = [x] + [A.reconstruct(model, x) for model, _, _ in loaded.values()]
    figures.append(F.mosaic_figure(np.stack(grid), ["original", *names.values()]))
    lap("reconstruction grid")
    for rid in run_ids:
        snap = store.read_snapshot(rid, store.snapshot_epochs(rid)[-1])
        coords = P.projection_for_run(store, rid, "pca").transform(snap["codes"])
        figures.append(F.latent_scatter(coords, labels=snap.get("labels"),
                                        label_names=class_names, title=names[rid],
                                        axis_titles=("PCA 1", "PCA 2"), height=360))  # fmt: skip
    lap("two PCA projections of the snapshot codes + scatters")
    for rid, (model, _, _) in loaded.items():
        samples = A.prior_samples(model, N_SAMPLES, 1.0, seed=0)
        figures.append(F.mosaic_figure(samples.reshape(2, 8, *samples.shape[1:]), title=rid))
    lap("prior samples")
    points = [{"name": n, "kl": m["kl"] or 0.0, "recon": m["recon_nats"], "beta": None}
              for n, m in metrics.items()]  # fmt: skip
    figures.append(charts.rate_distortion(points))
    lap("rate-distortion figure")
    for fig in figures:
        fig.to_json()
    lap("serialise figures (as st.plotly_chart)")
    assert rows
    return parts


def clear_caches() -> None:
    A._load_model_cached.cache_clear()
    A._load_split_cached.cache_clear()
    P.clear_caches()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    if (threads := parser.parse_args().threads) > 0:
        torch.set_num_threads(threads)
    print(f"torch threads: {torch.get_num_threads()}, CPUs: {os.cpu_count()}, "
          f"load average: {os.getloadavg()[0]:.1f} (other processes share these CPUs)")  # fmt: skip
    has_mnist = (SHARED_DATA / "MNIST" / "raw").exists()
    dataset, data_dir = ("mnist", str(SHARED_DATA)) if has_mnist else ("digits", None)
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(Path(tmp) / "runs")
        run_ids = train_runs(store, data_dir, dataset)
        t0 = time.perf_counter()
        render_page(store, run_ids, data_dir)  # imports scikit-learn etc., like server start
        print(f"first render incl. one-time imports: {time.perf_counter() - t0:.2f} s (info)\n")
        renders = []
        for _ in range(3):
            clear_caches()
            t0 = time.perf_counter()
            parts = render_page(store, run_ids, data_dir)
            renders.append((time.perf_counter() - t0, parts))
    total, parts = sorted(renders, key=lambda r: r[0])[1]  # the median render
    for name, seconds in parts.items():
        print(f"  {name:<44} {seconds:7.3f} s")
    print(f"  load average at the end: {os.getloadavg()[0]:.1f}")
    verdict = "PASS" if total <= TARGET_S else "FAIL"
    print(f"Compare page, two MLP runs on {dataset}, cold caches (median of 3): "
          f"{total:.3f} s   target <= {TARGET_S:g} s   {verdict}")  # fmt: skip
    print(f"  all three renders: {', '.join(f'{r[0]:.3f}' for r in renders)} s; "
          f"median {statistics.median(r[0] for r in renders):.3f} s")  # fmt: skip
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
