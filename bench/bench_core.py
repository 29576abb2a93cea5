"""Benchmarks of the core engine; prints a table of figures and ratios, exits 1 on a missed target.

    python bench/bench_core.py              # 10 epochs of the MNIST VAE comparison
    python bench/bench_core.py --quick      # 3 epochs
    python bench/bench_core.py --threads 2  # torch CPU threads for both loops (default 1)
    python bench/bench_core.py --precision fp32  # our loop in fp32 (auto: bf16 on a CPU
                                                 # with native bf16, else fp32)

1. Training throughput and quality on the CPU: our ``train.fit`` against the training loop of
   the canonical PyTorch VAE example (pytorch/examples, vae/main.py): a 784-400-20 MLP VAE
   (fc1, fc21, fc22, fc3, fc4; relu/sigmoid; ``F.binary_cross_entropy(..., reduction='sum')``
   + KLD; Adam 1e-3), fed by ``DataLoader(TensorDataset(train_x), batch_size=128,
   shuffle=True)``. Same data (the MNIST test split from ../shared/data, split by
   ``load_dataset("mnist", seed=0)``), same batch size, same number of full epochs, same
   thread count, same process. The two loops run *interleaved*: every ``log_every`` (10)
   of our steps, the reference loop catches up to the same number of steps (in our
   ``on_step`` callback, whose time our loop does not count), so a busy shared machine slows
   both alike. Only the training loops are timed (batch fetching + forward + backward +
   update), not evaluation. Both final models are scored by the same function,
   ``train.evaluate`` (the reference's weights are copied into an identical ``Autoencoder``).
   Targets: >= 1.5x the reference's samples/s; final validation loss no worse than +2%.
2. ``sprites`` 20,000 images generated (< 3 s) and ``digits`` loaded in a fresh process (< 1 s).
3. ``import aevae_core`` in a fresh process: must not import streamlit; its time is printed.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from aevae_core.config import TrainConfig  # noqa: E402
from aevae_core.data.datasets import load_dataset  # noqa: E402
from aevae_core.data.registry import DatasetError  # noqa: E402
from aevae_core.engine.evaluate import evaluate  # noqa: E402
from aevae_core.engine.fit import Callbacks, autocast_dtype, fit  # noqa: E402
from aevae_core.model.networks import build_model  # noqa: E402

DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
SPEEDUP_TARGET = 1.5
LOSS_TOLERANCE = 0.02
SPRITES_TARGET_S = 3.0
DIGITS_TARGET_S = 1.0


# -- the reference: pytorch/examples vae/main.py, model, loss and train loop ---------------------


class ExampleVAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


def example_loss(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


class ExampleTrainer:
    """The example's ``train(epoch)`` loop (minus its printing), runnable a few batches at a time.

    ``run_until(step)`` continues the loop until it has done ``step`` batches in all; a new
    epoch (``model.train()``, a fresh shuffled pass of the DataLoader) starts when one ends.
    Each chunk is timed from batch fetch to optimizer step, nothing else.
    """

    def __init__(self, train_x: torch.Tensor, batch_size: int = 128) -> None:
        self.device = torch.device("cpu")
        self.model = ExampleVAE().to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loader = DataLoader(TensorDataset(train_x), batch_size=batch_size, shuffle=True)
        self.batches_per_epoch = len(self.loader)
        self.iterator = None
        self.train_loss = 0.0
        self.seconds = 0.0
        self.samples = 0
        self.steps = 0

    def run_until(self, step: int) -> None:
        t0 = time.perf_counter()
        while self.steps < step:
            if self.iterator is None:
                self.model.train()
                self.train_loss = 0.0
                self.iterator = iter(self.loader)
            (data,) = next(self.iterator)
            data = data.to(self.device)
            self.optimizer.zero_grad()
            recon_batch, mu, logvar = self.model(data)
            loss = example_loss(recon_batch, data, mu, logvar)
            loss.backward()
            self.train_loss += loss.item()
            self.optimizer.step()
            self.samples += len(data)
            self.steps += 1
            if self.steps % self.batches_per_epoch == 0:
                self.iterator = None  # the epoch is over
        self.seconds += time.perf_counter() - t0

    @property
    def samples_per_s(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0


def as_autoencoder(example: ExampleVAE, config: TrainConfig):
    """Copy the example's weights into our identical architecture, to score both alike."""
    model = build_model(config, (1, 28, 28))
    ours = [m for m in model.encoder if isinstance(m, nn.Linear)]
    ours += [model.to_mu, model.to_logvar]
    ours += [m for m in model.decoder.modules() if isinstance(m, nn.Linear)]
    theirs = [example.fc1, example.fc21, example.fc22, example.fc3, example.fc4]
    assert len(ours) == len(theirs)
    with torch.no_grad():
        for dst, src in zip(ours, theirs, strict=True):
            assert dst.weight.shape == src.weight.shape
            dst.weight.copy_(src.weight)
            dst.bias.copy_(src.bias)
    return model.eval()


class Interleave(Callbacks):
    """Each time our loop reports a step, bring the reference loop to the same step count."""

    def __init__(self, reference: ExampleTrainer) -> None:
        self.reference = reference

    def on_step(self, metrics) -> None:
        self.reference.run_until(metrics["step"])

    def on_epoch_end(self, record, model, optimizer) -> None:
        self.reference.run_until(record["step"])


def bench_training(
    data_dir: Path, epochs: int, threads: int, precision: str = "auto"
) -> list[tuple]:
    rows: list[tuple] = []
    try:
        data = load_dataset("mnist", data_dir=data_dir, seed=0, download=False)
    except DatasetError as exc:
        print(f"SKIP training benchmark: MNIST not available ({str(exc)[:160]}...)")
        return rows
    config = TrainConfig(
        dataset="mnist", model="vae", arch="mlp", hidden=(400,), latent_dim=20, recon="bce",
        batch_size=128, lr=1e-3, optimizer="adam", epochs=epochs, threads=threads, device="cpu",
        precision=precision,
    )  # fmt: skip
    torch.set_num_threads(threads)
    amp = autocast_dtype(config, torch.device("cpu"))
    amp_name = "bf16 autocast" if amp is not None else "fp32"
    torch.manual_seed(0)
    reference = ExampleTrainer(data.train_x, batch_size=config.batch_size)
    print(
        f"training: MNIST {len(data.train_x)} train / {len(data.val_x)} val images, "
        f"{epochs} epochs, batch 128, Adam 1e-3, {threads} thread(s) for both loops, "
        f"precision {precision} ({amp_name}) ..."
    )
    result = fit(config, data, Interleave(reference))
    if result.status != "completed" or reference.samples != epochs * len(data.train_x):
        raise SystemExit(f"training did not complete: {result.status} {result.reason}")

    torch.manual_seed(1234)
    ours_eval = evaluate(result.model, data.val_x, config)
    torch.manual_seed(1234)
    ref_eval = evaluate(as_autoencoder(reference.model, config), data.val_x, config)

    ours_rate, ref_rate = result.train_samples_per_s, reference.samples_per_s
    speedup = ours_rate / ref_rate
    ours_loss, ref_loss = ours_eval["val_loss"], ref_eval["val_loss"]
    rel = (ours_loss - ref_loss) / ref_loss
    rows.append(
        ("VAE 784-400-20 training, samples/s", f"{ours_rate:,.0f}", f"{ref_rate:,.0f}",
         f"{speedup:.2f}x", f">= {SPEEDUP_TARGET}x", speedup >= SPEEDUP_TARGET)
    )  # fmt: skip
    rows.append(
        ("final val loss (-ELBO), nats/image", f"{ours_loss:.2f}", f"{ref_loss:.2f}",
         f"{rel:+.2%}", f"<= +{LOSS_TOLERANCE:.0%}", rel <= LOSS_TOLERANCE)
    )  # fmt: skip
    ours_s = result.epoch * len(data.train_x) / ours_rate
    print(
        f"  {result.epoch} epochs x {len(data.train_x)} images, interleaved every "
        f"{config.log_every} steps; time in the training loops: ours {ours_s:.1f} s, "
        f"reference {reference.seconds:.1f} s"
    )
    print(
        f"  val recon / KL: ours {ours_eval['val_recon']:.2f} / {ours_eval['val_kl']:.2f}, "
        f"reference {ref_eval['val_recon']:.2f} / {ref_eval['val_kl']:.2f} nats/image"
    )
    return rows


def bench_data() -> list[tuple]:
    t0 = time.perf_counter()
    sprites = load_dataset("sprites", seed=0)
    sprites_s = time.perf_counter() - t0
    n = len(sprites.train_x) + len(sprites.val_x)
    assert n == 20000, n
    code = (
        "import time; from aevae_core.data.datasets import load_dataset\n"
        "t = time.perf_counter(); d = load_dataset('digits', seed=0)\n"
        "print(time.perf_counter() - t, len(d.train_x) + len(d.val_x))\n"
    )
    out = _fresh_python(code).split()
    digits_s = float(out[0])
    return [
        ("sprites: generate 20,000 images, s", f"{sprites_s:.2f}", "", "",
         f"< {SPRITES_TARGET_S:g} s", sprites_s < SPRITES_TARGET_S),
        (f"digits: load {out[1]} images (fresh process), s", f"{digits_s:.3f}", "", "",
         f"< {DIGITS_TARGET_S:g} s", digits_s < DIGITS_TARGET_S),
    ]  # fmt: skip


def bench_import() -> list[tuple]:
    code = (
        "import sys, time\nt = time.perf_counter()\nimport aevae_core\n"
        "dt = time.perf_counter() - t\n"
        "print(dt, 'streamlit' in sys.modules, 'torch' in sys.modules)\n"
    )
    seconds, streamlit, torch_loaded = _fresh_python(code).split()
    light = streamlit == "False"
    note = "no streamlit" + ("" if torch_loaded == "False" else " (torch loaded!)")
    return [
        ("import aevae_core (fresh process), s", f"{float(seconds):.4f}", "", "", note,
         light and torch_loaded == "False"),
    ]  # fmt: skip


def _fresh_python(code: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        timeout=300, check=True,
    )  # fmt: skip
    return proc.stdout.strip().splitlines()[-1]


def print_table(rows: list[tuple]) -> None:
    header = ("benchmark", "ours", "reference", "ratio", "target", "result")
    cells = [header] + [(*r[:5], "ok" if r[5] else "MISSED") for r in rows]
    widths = [max(len(str(c[i])) for c in cells) for i in range(len(header))]
    for i, row in enumerate(cells):
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 epochs instead of 10")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for both loops")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument(
        "--precision", choices=("auto", "fp32", "bf16"), default="auto",
        help="our loop's precision (the reference is always fp32); auto: bf16 on a CPU with "
        "native bf16 products, else fp32",
    )  # fmt: skip
    args = parser.parse_args(argv)
    epochs = args.epochs or (3 if args.quick else 10)
    torch.set_num_threads(args.threads)  # every in-process figure below uses this count
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"aevae core benchmarks: torch {torch.__version__}, python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs, load average {load:.1f} at start"
    )
    rows = bench_training(args.data_dir, epochs, args.threads, args.precision)
    rows += bench_data()
    rows += bench_import()
    print()
    print_table(rows)
    missed = [r[0] for r in rows if not r[5]]
    if missed:
        print(f"\nMISSED: {'; '.join(missed)}")
        return 1
    print("\nall targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
