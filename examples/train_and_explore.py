"""Train a VAE, explore it and plot it with aevae_core's public API (no Streamlit, no app).

    python examples/train_and_explore.py                    # 10 epochs on digits, into ./runs
    python examples/train_and_explore.py --epochs 2 --model ae --out /tmp/aevae-example

It trains a run into the run store (so the app lists it too: $AEVAE_RUNS_DIR or ./runs, or
--runs-dir), loads the model as the app's pages do, encodes the validation images,
reconstructs some, traverses the latent dimensions, and writes into --out:

    loss_curves.html     train/validation loss per epoch and the per-step training loss
    latent.html          the codes of the validation images, coloured by class
    reconstructions.png  8 validation images (top row) and their reconstructions (bottom)
    traversal.png        one row per latent dimension (most informative first), offsets -3..3

The last stdout line is a JSON summary (run id, epoch, val loss, files written).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a checkout, not installed

from aevae_core.config import TrainConfig, validate  # noqa: E402
from aevae_core.explore import analysis
from aevae_core.jobs.runner import execute_run  # noqa: E402
from aevae_core.plots import figures  # noqa: E402
from aevae_core.store.runs import RunStore  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--model", default="vae", choices=("ae", "vae", "dae"))
    parser.add_argument("--latent-dim", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs-dir", help="run store (default: $AEVAE_RUNS_DIR or ./runs)")
    parser.add_argument("--out", default="example_out", help="folder for the plots")
    return parser.parse_args(argv)


def save_png(images: np.ndarray, ncols: int, path: Path, scale: int = 4) -> None:
    """Images (N, C, H, W) in [0, 1] as one PNG mosaic, ``ncols`` to a row, 1 px apart, each
    pixel drawn as a ``scale`` x ``scale`` block (8x8 digits are too small to see)."""
    mosaic = figures.tile(np.round(images * 255).astype(np.uint8), ncols)
    image = Image.fromarray(mosaic[..., 0] if mosaic.shape[-1] == 1 else mosaic)
    image.resize((image.width * scale, image.height * scale), Image.NEAREST).save(path)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # 1. Train: a config, a run in the store, the same runner the app's workers use.
    config = validate(TrainConfig(dataset=args.dataset, model=args.model, seed=args.seed,
                                  latent_dim=args.latent_dim, epochs=args.epochs))  # fmt: skip
    store = RunStore(args.runs_dir)
    run_id = store.create_run(config, status="running")
    execute_run(store, run_id, on_epoch=lambda r: print(
        f"epoch {r['epoch']}: val loss {r['val_loss']:.2f} nats/image", flush=True))  # fmt: skip
    run = store.get_run(run_id)
    if run["status"] != "completed":
        raise SystemExit(f"run {run_id} ended {run['status']}: {run['reason']}")

    # 2. Explore: the trained model (eval mode: a VAE's code is its mean) on validation images.
    model, config, epoch = analysis.load_model(store, run_id)
    x, y, _, class_names, _ = analysis.load_split(config, "val", max_images=1000)
    mu, _ = analysis.encode(model, x)
    recon = analysis.reconstruct(model, x[:8])
    dims = analysis.dims_by_kl(analysis.kl_per_dimension(model, x), mu)  # most informative first
    scale = analysis.code_scale(mu, model.variational)  # 1 for a VAE, the codes' std for an AE
    traversal = analysis.traversal_grid(model, mu[0], dims, n_steps=7, span=3.0, scale=scale)

    # 3. Plot: the figures the pages draw, saved as files.
    steps_per_epoch = round(run["total_steps"] / run["epochs"]) if run["total_steps"] else 0
    epochs, steps = store.metrics(run_id, "epoch"), store.metrics(run_id, "step")
    curves = figures.loss_curves(
        epochs, steps, variational=model.variational, steps_per_epoch=steps_per_epoch
    )
    a, b = (dims + dims)[:2]  # the two most informative dimensions (a 1-D code: itself twice)
    latent = figures.latent_scatter(mu[:, [a, b]], labels=y, label_names=class_names,
                                    axis_titles=(f"z{a + 1}", f"z{b + 1}"))  # fmt: skip
    files = [out / "loss_curves.html", out / "latent.html"]
    curves.write_html(files[0], include_plotlyjs="directory")  # plotly.min.js once, beside them
    latent.write_html(files[1], include_plotlyjs="directory")
    files += [out / "reconstructions.png", out / "traversal.png"]
    save_png(np.concatenate([x[:8], recon]), 8, files[2])
    save_png(traversal.reshape(-1, *traversal.shape[2:]), traversal.shape[1], files[3])

    summary = {
        "run_id": run_id,
        "epoch": epoch,
        "val_loss": epochs[-1]["val_loss"],
        "dims_by_information": dims,
        "files": [str(f) for f in files],
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
