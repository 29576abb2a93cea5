"""The training engine: ``fit(config, data, callbacks, stop)``.

The loop knows nothing about who watches it. It fires events (``on_step`` every
``config.log_every`` steps and on the first step, ``on_epoch_end`` after each evaluation)
and the caller decides to print, store or plot them: the CLI prints a progress bar, a
background worker writes the run store. ``stop`` is checked every step.

Batches are drawn by indexing tensors that already sit on the device, with a seeded
permutation per epoch; no DataLoader worker or per-sample collation is involved, which is
what makes this loop faster than the DataLoader-over-TensorDataset loop of the canonical
PyTorch example on small images (see ``bench/bench_core.py``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from aevae_core.config import TrainConfig, validate
from aevae_core.data import Dataset
from aevae_core.losses import (
    active_units,
    bits_per_dim,
    kl_per_dim,
    loss_terms,
    reconstruction_per_image,
)
from aevae_core.models import Autoencoder, build_model

log = logging.getLogger(__name__)

EVAL_BATCH = 1024


class Callbacks:
    """Override what you need. ``metrics`` are plain floats/ints/lists (JSON-ready)."""

    def on_fit_start(self, model: Autoencoder, data: Dataset, total_steps: int) -> None:
        pass

    def on_step(self, metrics: dict[str, Any]) -> None:
        pass

    def on_epoch_end(
        self, record: dict[str, Any], model: Autoencoder, optimizer: torch.optim.Optimizer
    ) -> None:
        pass


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


@dataclass
class FitResult:
    status: str  # completed | stopped | diverged
    reason: str | None
    history: list[dict[str, Any]]
    model: Autoencoder
    optimizer: torch.optim.Optimizer
    epoch: int  # last completed epoch
    train_samples_per_s: float
    extra: dict[str, Any] = field(default_factory=dict)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "device 'cuda' was asked for but no CUDA GPU is available; use auto or cpu"
        )
    return torch.device(name)


def make_optimizer(config: TrainConfig, params: Any) -> torch.optim.Optimizer:
    """SGD, SGD with momentum, Adagrad or Adam; weight_decay is the L2 penalty on weights."""
    wd = config.weight_decay
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, weight_decay=wd)
    if config.optimizer == "momentum":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=wd)
    if config.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=config.lr, weight_decay=wd)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=wd)


def corrupt(x: torch.Tensor, noise: float, noise_type: str, generator: Any = None) -> torch.Tensor:
    """The denoising AE's input corruption: Gaussian noise (clamped to [0, 1]) or masking."""
    if noise <= 0:
        return x
    if noise_type == "mask":
        keep = torch.rand(x.shape, device=x.device, generator=generator) >= noise
        return x * keep
    noisy = x + noise * torch.randn(x.shape, device=x.device, generator=generator)
    return noisy.clamp_(0.0, 1.0)


def beta_at(config: TrainConfig, progress: float) -> float:
    """KL warm-up: beta grows linearly from 0 over ``kl_warmup`` epochs (progress in epochs)."""
    if config.kl_warmup <= 0:
        return config.beta
    return config.beta * min(1.0, progress / config.kl_warmup)


def _divergence_reason(config: TrainConfig, epoch: int, step: int, value: float) -> str:
    hint = (
        f"the learning rate {config.lr:g} is probably too high for {config.optimizer}; "
        "try 10x smaller (1e-3 is a safe start for Adam)"
    )
    if config.recon == "mse" and config.variational and config.beta == 0:
        hint += ", or set beta > 0"
    return f"loss became {value} at epoch {epoch}, step {step}: {hint}."


@torch.no_grad()
def evaluate(
    model: Autoencoder, x: torch.Tensor, config: TrainConfig, *, y: torch.Tensor | None = None
) -> dict[str, Any]:
    """Validation metrics in nats per image; model in eval mode (codes = means)."""
    was_training = model.training
    model.eval()
    n = x.shape[0]
    recon_sum = 0.0
    kl_dims = torch.zeros(model.latent_dim, dtype=torch.float64)
    mus = []
    sq_err = 0.0
    for start in range(0, n, EVAL_BATCH):
        xb = x[start : start + EVAL_BATCH]
        mu, logvar = model.encode(xb)
        logits = model.decode(mu)
        if logvar is not None:
            # The ELBO's reconstruction term is an expectation over q: one sample per image.
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            recon_logits = model.decode(z)
            kl_dims += kl_per_dim(mu, logvar).sum(0).double().cpu()
        else:
            recon_logits = logits
        recon_sum += reconstruction_per_image(recon_logits, xb, config.recon).sum().item()
        sq_err += (torch.sigmoid(logits) - xb).square().sum().item()
        mus.append(mu.float().cpu())
    model.train(was_training)
    n_pixels = math.prod(x.shape[1:])
    mu_all = torch.cat(mus)
    recon = recon_sum / n
    kl_per = (kl_dims / n).tolist()
    kl = float(sum(kl_per)) if model.variational else 0.0
    l1 = config.l1_code * mu_all.abs().sum(1).mean().item() if config.l1_code > 0 else 0.0
    out: dict[str, Any] = {
        "val_loss": recon + config.beta * kl + l1,
        "val_recon": recon,
        "val_kl": kl,
        "val_mse": sq_err / (n * n_pixels),
        "val_bits_per_dim": bits_per_dim(recon + kl, n_pixels),
    }
    if model.variational:
        out["val_elbo"] = -(recon + kl)
        out["val_kl_per_dim"] = kl_per
        out["active_units"] = int(active_units(mu_all).sum())
    return out


def _is_set(stop: StopFlag | Callable[[], bool] | None) -> bool:
    if stop is None:
        return False
    return stop.is_set() if hasattr(stop, "is_set") else bool(stop())


def fit(
    config: TrainConfig,
    data: Dataset,
    callbacks: Callbacks | None = None,
    stop: StopFlag | Callable[[], bool] | None = None,
    *,
    resume: dict[str, Any] | None = None,
) -> FitResult:
    """Train ``config`` on ``data``. ``resume`` is a checkpoint dict (see store.load_checkpoint)."""
    validate(config)
    callbacks = callbacks or Callbacks()
    if config.threads:
        torch.set_num_threads(config.threads)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    model = build_model(config, data.shape).to(device)
    optimizer = make_optimizer(config, model.parameters())
    history: list[dict[str, Any]] = []
    start_epoch = 1
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        history = list(resume.get("history", []))
        start_epoch = int(resume["epoch"]) + 1
        torch.manual_seed(config.seed + start_epoch)

    train_x = data.train_x.to(device)
    val_x = data.val_x.to(device)
    n = train_x.shape[0]
    steps_per_epoch = math.ceil(n / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    noise = config.effective_noise
    callbacks.on_fit_start(model, data, total_steps)

    model.train()
    train_time = 0.0
    train_samples = 0
    status, reason = "completed", None
    epoch = start_epoch - 1
    for epoch in range(start_epoch, config.epochs + 1):
        perm = torch.randperm(n, generator=generator).to(device)
        sums = torch.zeros(3, dtype=torch.float64)
        seen = 0
        t_epoch = time.perf_counter()
        for step in range(steps_per_epoch):
            if _is_set(stop):
                status, reason = "stopped", f"stopped by the user during epoch {epoch}"
                break
            t0 = time.perf_counter()
            idx = perm[step * config.batch_size : (step + 1) * config.batch_size]
            target = train_x.index_select(0, idx)
            inputs = corrupt(target, noise, config.noise_type)
            beta = beta_at(config, epoch - 1 + step / steps_per_epoch)
            out = model(inputs)
            terms = loss_terms(out, target, recon=config.recon, beta=beta, l1_code=config.l1_code)
            batch = target.shape[0]
            optimizer.zero_grad(set_to_none=True)
            (terms.loss / batch).backward()
            optimizer.step()
            values = torch.stack([terms.loss.detach(), terms.recon.detach(), terms.kl.detach()])
            values = values.double().cpu()
            train_time += time.perf_counter() - t0
            train_samples += batch
            if not torch.isfinite(values).all():
                bad = values[~torch.isfinite(values)][0].item()
                status, reason = "diverged", _divergence_reason(config, epoch, step + 1, bad)
                break
            sums += values
            seen += batch
            global_step = (epoch - 1) * steps_per_epoch + step + 1
            if step == 0 or global_step % config.log_every == 0:
                elapsed = time.perf_counter() - t_epoch
                callbacks.on_step(
                    {
                        "epoch": epoch,
                        "step": global_step,
                        "total_steps": total_steps,
                        "loss": values[0].item() / batch,
                        "recon": values[1].item() / batch,
                        "kl": values[2].item() / batch,
                        "beta": beta,
                        "samples_per_s": seen / elapsed if elapsed > 0 else 0.0,
                    }
                )
        if status != "completed":
            break
        record: dict[str, Any] = {
            "epoch": epoch,
            "step": epoch * steps_per_epoch,
            "beta": beta_at(config, epoch),
            "train_loss": sums[0].item() / seen,
            "train_recon": sums[1].item() / seen,
            "train_kl": sums[2].item() / seen,
            "epoch_time_s": time.perf_counter() - t_epoch,
        }
        record.update(evaluate(model, val_x, config))
        if not math.isfinite(record["val_loss"]):
            status = "diverged"
            reason = _divergence_reason(config, epoch, steps_per_epoch, record["val_loss"])
            break
        history.append(record)
        callbacks.on_epoch_end(record, model, optimizer)

    last_epoch = history[-1]["epoch"] if history else start_epoch - 1
    samples_per_s = train_samples / train_time if train_time > 0 else 0.0
    if status != "completed":
        log.info("run ended %s: %s", status, reason)
    return FitResult(
        status=status,
        reason=reason,
        history=history,
        model=model,
        optimizer=optimizer,
        epoch=last_epoch,
        train_samples_per_s=samples_per_s,
    )
