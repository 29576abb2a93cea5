"""The presets against their originals: parameter counts and validation loss, ours vs reference.

    python bench/bench_presets.py                 # 5 + 2 epochs, 1 torch thread (~3 min)
    python bench/bench_presets.py --epochs-mlp 10 --epochs-conv 10

1. ``pytorch-examples``: our ``train.fit`` on the preset's config against the canonical
   pytorch/examples VAE training loop (bench_core.py's ``ExampleTrainer``: the example's model,
   loss, DataLoader and Adam 1e-3), both scored by ``train.evaluate`` (the reference's weights
   copied into our identical net).
2. ``keras-conv``: our ``train.fit`` on the preset's config against a plain-torch
   re-implementation of the Keras VAE example's training (keras.io/examples/generative/vae):
   Keras's layers with its "same" padding (TensorFlow pads a stride-2 convolution only at the
   end; its transposed convolution crops at the end), Glorot-uniform weights and zero biases
   (Keras's initialisers), a sigmoid decoder with Keras's BCE (probabilities clipped to
   [1e-7, 1 - 1e-7]), the loss ``mean over the batch of (sum over pixels of BCE + KL)``, and
   Keras's Adam (lr 1e-3, epsilon 1e-7), batch 128. It is scored by its own evaluation of
   the same quantity: -ELBO with one posterior sample per image, fixed seed.

Data: the MNIST test split in ../shared/data, split by ``load_dataset("mnist", seed=0)``
(9,000 train / 1,000 validation). Both loops of a pair run interleaved in one process with
the same thread count (bench_core.py's ``Interleave``), so machine load hits both alike.
Targets: identical parameter counts; our validation loss at most +2% (pytorch-examples, the
same net and init scheme) and +5% (keras-conv: a different padding alignment and init) above
the reference's.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "bench"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from bench_core import DEFAULT_DATA_DIR, ExampleTrainer, Interleave, as_autoencoder  # noqa: E402
from torch import nn  # noqa: E402

from aevae_core.data.datasets import load_dataset  # noqa: E402
from aevae_core.data.registry import DatasetError  # noqa: E402
from aevae_core.engine.evaluate import evaluate  # noqa: E402
from aevae_core.engine.fit import autocast_dtype, fit, resolve_device  # noqa: E402
from aevae_core.model.networks import count_parameters  # noqa: E402
from aevae_core.presets import get_preset  # noqa: E402

TOLERANCE = {"pytorch-examples": 0.02, "keras-conv": 0.05}
KERAS_EPS = 1e-7  # keras.backend.epsilon(): BCE clipping and Adam's epsilon


class KerasConvVAE(nn.Module):
    """The Keras example's encoder and decoder, layer for layer, in plain torch."""

    def __init__(self, latent_dim: int = 2) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, stride=2)
        self.conv2 = nn.Conv2d(32, 64, 3, stride=2)
        self.dense = nn.Linear(7 * 7 * 64, 16)
        self.z_mean = nn.Linear(16, latent_dim)
        self.z_log_var = nn.Linear(16, latent_dim)
        self.dec_dense = nn.Linear(latent_dim, 7 * 7 * 64)
        self.deconv1 = nn.ConvTranspose2d(64, 64, 3, stride=2)
        self.deconv2 = nn.ConvTranspose2d(64, 32, 3, stride=2)
        self.deconv3 = nn.ConvTranspose2d(32, 1, 3, stride=1, padding=1)
        for m in self.modules():  # Keras: glorot_uniform kernels, zero biases
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    @staticmethod
    def same_conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
        return F.relu(conv(F.pad(x, (0, 1, 0, 1))))  # TF "same", stride 2, even size: pad end

    @staticmethod
    def same_deconv(deconv: nn.ConvTranspose2d, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return F.relu(deconv(x)[..., : 2 * h, : 2 * w])  # TF "same": crop the end

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.same_conv(self.conv2, self.same_conv(self.conv1, x))
        h = F.relu(self.dense(h.flatten(1)))
        return self.z_mean(h), self.z_log_var(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.dec_dense(z)).view(-1, 64, 7, 7)
        h = self.same_deconv(self.deconv2, self.same_deconv(self.deconv1, h))
        return torch.sigmoid(self.deconv3(h))

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """The example's train_step: mean over the batch of summed BCE, plus the KL."""
        z_mean, z_log_var = self.encode(x)
        z = z_mean + torch.exp(0.5 * z_log_var) * torch.randn_like(z_mean)
        p = self.decode(z).clamp(KERAS_EPS, 1 - KERAS_EPS)
        bce = -(x * p.log() + (1 - x) * (1 - p).log()).sum((1, 2, 3))
        kl = -0.5 * (1 + z_log_var - z_mean.square() - z_log_var.exp()).sum(1)
        return (bce + kl).mean()


class KerasTrainer:
    """``model.fit(x, epochs, batch_size=128)`` (shuffled each epoch), a few steps at a time."""

    def __init__(self, train_x: torch.Tensor, batch_size: int = 128) -> None:
        self.model = KerasConvVAE()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3, eps=KERAS_EPS)
        self.x, self.batch_size = train_x, batch_size
        self.batches_per_epoch = -(-len(train_x) // batch_size)
        self.order: torch.Tensor | None = None
        self.steps = self.samples = 0
        self.seconds = 0.0

    def run_until(self, step: int) -> None:
        t0 = time.perf_counter()
        while self.steps < step:
            i = self.steps % self.batches_per_epoch
            if i == 0:
                self.order = torch.randperm(len(self.x))
            batch = self.x[self.order[i * self.batch_size : (i + 1) * self.batch_size]]
            self.optimizer.zero_grad()
            self.model.loss(batch).backward()
            self.optimizer.step()
            self.steps += 1
            self.samples += len(batch)
        self.seconds += time.perf_counter() - t0

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0

    @torch.no_grad()
    def val_loss(self, x: torch.Tensor) -> float:
        self.model.eval()
        return sum(self.model.loss(xb).item() * len(xb) for xb in x.split(500)) / len(x)


def bench_preset(key: str, data, epochs: int, threads: int) -> dict:
    config = get_preset(key).config.replace(epochs=epochs, threads=threads, device="cpu")
    torch.manual_seed(0)
    if key == "pytorch-examples":
        reference = ExampleTrainer(data.train_x, batch_size=config.batch_size)
    else:
        reference = KerasTrainer(data.train_x, batch_size=config.batch_size)
    result = fit(config, data, Interleave(reference))
    if result.status != "completed" or reference.samples != epochs * len(data.train_x):
        raise SystemExit(f"{key}: training did not complete: {result.status} {result.reason}")
    torch.manual_seed(1234)
    ours = evaluate(result.model, data.val_x, config)["val_loss"]
    torch.manual_seed(1234)
    if key == "pytorch-examples":
        ref = evaluate(as_autoencoder(reference.model, config), data.val_x, config)["val_loss"]
    else:
        ref = reference.val_loss(data.val_x)
    precision = autocast_dtype(config, resolve_device(config.device))
    return {
        "key": key, "epochs": epochs, "precision": "bf16 autocast" if precision else "fp32",
        "params": (count_parameters(result.model), count_parameters(reference.model)),
        "loss": (ours, ref), "rate": (result.train_samples_per_s, reference.samples_per_s),
        "expected": get_preset(key).parameters,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs-mlp", type=int, default=5, help="pytorch-examples epochs")
    parser.add_argument("--epochs-conv", type=int, default=2, help="keras-conv epochs")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both loops")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"preset benchmarks: torch {torch.__version__}, python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, {args.threads} thread(s), load average {load:.1f} at start"
    )
    try:
        data = load_dataset("mnist", data_dir=args.data_dir, seed=0, download=False)
    except DatasetError as exc:
        print(f"SKIP: MNIST not available ({str(exc)[:160]}...)")
        return 0
    print(f"MNIST test split: {len(data.train_x)} train / {len(data.val_x)} validation images")
    rows, failed = [], []
    for key, epochs in (("pytorch-examples", args.epochs_mlp), ("keras-conv", args.epochs_conv)):
        t0 = time.perf_counter()
        r = bench_preset(key, data, epochs, args.threads)
        (p_ours, p_ref), (l_ours, l_ref) = r["params"], r["loss"]
        rel = (l_ours - l_ref) / l_ref
        ok = p_ours == p_ref == r["expected"] and rel <= TOLERANCE[key]
        failed += [] if ok else [key]
        rows.append((key, f"{epochs}", f"{p_ours:,}", f"{p_ref:,}", f"{l_ours:.2f}",
                     f"{l_ref:.2f}", f"{rel:+.2%}", f"<= +{TOLERANCE[key]:.0%}",
                     f"{r['rate'][0]:,.0f} / {r['rate'][1]:,.0f}", r["precision"],
                     "ok" if ok else "MISSED"))  # fmt: skip
        print(f"  {key}: {time.perf_counter() - t0:.0f} s")
    header = ("preset", "epochs", "params ours", "params ref", "val -ELBO ours", "val -ELBO ref",
              "diff", "target", "samples/s ours / ref", "our precision", "result")  # fmt: skip
    cells = [header, *rows]
    widths = [max(len(str(c[i])) for c in cells) for i in range(len(header))]
    print()
    for i, row in enumerate(cells):
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print("(val -ELBO in nats/image, one posterior sample per image; the reference loops: fp32)")
    if failed:
        print(f"\nMISSED: {', '.join(failed)}")
        return 1
    print("\nall targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
