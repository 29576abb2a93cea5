"""Benchmark the exploration pages' computations on the CPU and check the targets.

    python bench/bench_analysis.py            # everything (the cold UMAP runs take minutes)
    python bench/bench_analysis.py --quick    # skip the cold-start UMAP subprocesses
    python bench/bench_analysis.py --threads 1  # torch on one thread (a CPU shared with training)

Measures, for an MLP (256-128) on MNIST (../shared/data when present, else digits):
a slider move (decode one image + build and serialise its figure), a traversal grid click,
PCA of 10,000 codes (D = 20), UMAP of 5,000 codes cold (new process: import + numba
compilation) vs after ``projection.warm_up``, and whether numba's on-disk cache makes a second
process's first fit fast. Prints PASS/FAIL per target; exits 1 on any FAIL.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aevae_core.config import TrainConfig  # noqa: E402
from aevae_core.data.datasets import load_dataset  # noqa: E402
from aevae_core.explore import analysis as A  # noqa: E402
from aevae_core.explore import projection as P  # noqa: E402
from aevae_core.explore import warmup  # noqa: E402
from aevae_core.model.networks import build_model  # noqa: E402
from aevae_core.plots import figures as F  # noqa: E402

SHARED_DATA = Path(os.environ.get("AEVAE_TEST_DATA_DIR") or ROOT.parent / "shared" / "data")
TARGETS = {"slider": 0.300, "traversal": 0.300, "pca": 0.200, "umap_warm": 5.0}
results: list[tuple[str, float, float | None]] = []


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def report(name: str, seconds: float, target: float | None, note: str = "") -> None:
    results.append((name, seconds, target))
    verdict = "" if target is None else ("PASS" if seconds <= target else "FAIL")
    limit = f"target <= {target:g} s" if target is not None else "(info)"
    print(f"{name:<52} {seconds:8.3f} s   {limit:<18} {verdict} {note}", flush=True)


def load_images() -> tuple[np.ndarray, str]:
    if (SHARED_DATA / "MNIST" / "raw").exists():
        data = load_dataset("mnist", data_dir=SHARED_DATA)
        name = "mnist"
    else:
        data = load_dataset("digits")
        name = "digits"
    x = torch.cat([data.train_x, data.val_x]).numpy()
    return x, name


UMAP_CHILD = textwrap.dedent(
    """
    import sys, time, numpy as np
    t0 = time.perf_counter()
    sys.path.insert(0, {root!r})
    from aevae_core.explore.projection import Projector
    codes = np.load({codes!r})
    proj = Projector().fit(codes, "umap")
    proj.transform(codes[:500] + 0.01)
    print(time.perf_counter() - t0)
    """
)


def umap_subprocess(codes_file: str, cache_dir: str) -> float:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    script = UMAP_CHILD.format(root=str(ROOT), codes=codes_file)
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the cold UMAP subprocesses")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}, CPUs: {os.cpu_count()}, "
          f"load average: {os.getloadavg()[0]:.1f} (other processes share these CPUs)")  # fmt: skip
    images, dataset = load_images()
    shape = tuple(images.shape[1:])
    print(f"dataset: {dataset}, {len(images)} images {shape}, MLP 256-128 (weights untrained: "
          "the cost of a forward pass does not depend on them)\n")  # fmt: skip

    # -- a slider move: change one latent value, decode one image, build + serialise ---------
    torch.manual_seed(0)
    model16 = build_model(TrainConfig(latent_dim=16, hidden=(256, 128)), shape).eval()
    z = A.encode(model16, images[:1])[0][0]
    values = iter(np.linspace(-3, 3, 1000))

    def slider() -> None:
        z[0] = next(values)
        F.image_figure(A.decode(model16, z[None])[0], height=200).to_json()

    slider()  # first call imports PIL's PNG plugin
    report("slider move: decode 1 image + figure (median of 50)", timed(slider, 50),
           TARGETS["slider"])  # fmt: skip

    # -- a click: a traversal grid of the 10 most active dims x 7 steps -----------------------
    mu = A.encode(model16, images[:1000])[0]
    dims = A.dims_by_kl(None, mu)[:10]
    scale = A.code_scale(mu, variational=False)

    def traversal() -> None:
        grid = A.traversal_grid(model16, mu[0], dims, n_steps=7, scale=scale)
        cols = [f"{v:+g}" for v in A.traversal_offsets(7)]
        F.traversal_figure(grid, [f"z{d + 1}" for d in dims], cols).to_json()

    report("traversal grid 10x7: decode 70 + figure (median of 20)", timed(traversal, 20),
           TARGETS["traversal"])  # fmt: skip

    # -- PCA of 10,000 codes (D = 20) -------------------------------------------------------
    model20 = build_model(TrainConfig(latent_dim=20, hidden=(256, 128)), shape).eval()
    x10k = images[np.arange(10_000) % len(images)]
    codes = A.encode(model20, x10k)[0]
    codes += np.random.default_rng(0).normal(0, 0.01, codes.shape).astype(np.float32)
    P.Projector().fit(codes[:100], "pca")  # import scikit-learn outside the timing
    other = codes * 1.1

    def pca() -> None:
        P.Projector().fit(codes, "pca").transform(other)

    report("PCA of 10,000 codes (D=20): fit + transform (median of 5)", timed(pca, 5),
           TARGETS["pca"])  # fmt: skip

    # -- UMAP: cold start in new processes vs after warm-up in this one ------------------------
    codes5k = np.ascontiguousarray(codes[:5000])
    with tempfile.TemporaryDirectory() as tmp:
        codes_file = str(Path(tmp) / "codes.npy")
        np.save(codes_file, codes5k)
        if not args.quick:
            cache = str(Path(tmp) / "numba-cache")
            cold = umap_subprocess(codes_file, cache)
            report("UMAP 5,000 cold: new process, empty numba cache", cold, None,
                   "(import + compile + fit + transform 500)")  # fmt: skip
            cached = umap_subprocess(codes_file, cache)
            report(
                "UMAP 5,000 cold: new process, numba cache filled",
                cached,
                None,
                f"(x{cold / cached:.1f} faster: the cache "
                f"{'helps' if cached < 0.5 * cold else 'does not remove most compilation'})",
            )
        t0 = time.perf_counter()
        thread = warmup.warm_up(("umap",), background=True)
        if thread is not None:
            thread.join()
        report("projection.warm_up('umap') in a background thread", time.perf_counter() - t0,
               None, f"(is_warm: {warmup.is_warm('umap')})")  # fmt: skip
        first = timed(lambda: P.Projector().fit(codes5k, "umap"), 1)
        report("first UMAP a user asks for (5,000 codes, after warm-up)", first,
               TARGETS["umap_warm"])  # fmt: skip
        warm = timed(lambda: P.Projector().fit(codes5k, "umap"), 3)
        report("UMAP 5,000 codes (D=20) warm (median of 3)", warm, TARGETS["umap_warm"])
        proj = P.Projector().fit(codes5k, "umap")
        report("UMAP transform of 2,000 new codes (an epoch)",
               timed(lambda: proj.transform(codes5k[:2000] * 1.05), 1), None)  # fmt: skip

    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    failed = [name for name, seconds, target in results if target is not None and seconds > target]
    print(f"\n{len(results) - len(failed)} of {len(results)} measurements within target"
          if not failed else f"\nFAIL: {', '.join(failed)}")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
