"""The training engine: ``fit(config, data, callbacks, stop)``.

The loop knows nothing about who watches it. It fires events (``on_step`` every
``config.log_every`` steps and on the first step, ``on_epoch_end`` after each evaluation)
and the caller decides to print, store or plot them: the CLI prints a progress bar, a
background worker writes the run store. ``stop`` is checked every step.

Why this loop is faster than the DataLoader-over-TensorDataset loop of the canonical
PyTorch VAE example on small images (measured side by side in ``bench/bench_core.py``):
batches are drawn by indexing tensors that already sit on the device with a seeded
permutation per epoch (no per-sample collation); the decoder emits logits and the loss is
the fused BCE-with-logits (no sigmoid + log pass); the optimizers are torch's fused
implementations (one kernel per step instead of a dozen per parameter); and the only
per-step host read is the loss, needed by the divergence guard (on a GPU, where a read is a
sync, only at log points: see ``syncs_every_step``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from aevae_core.config import ConfigError, TrainConfig, validate
from aevae_core.data.datasets import Dataset
from aevae_core.engine.devices import cpu_has_native_bf16
from aevae_core.engine.evaluate import binarize_dynamic, evaluate
from aevae_core.engine.optim import make_optimizer
from aevae_core.model.checkpoint import with_trained_sigma
from aevae_core.model.losses import loss_terms, optimal_log_sigma
from aevae_core.model.networks import AEOutput, Autoencoder, build_model

log = logging.getLogger(__name__)

EXPLODE_PER_PIXEL, EXPLODE_FACTOR = 1000.0, 100.0
SIGMA_AVERAGE = 0.1  # weight of each step's maximum-likelihood sigma in the running value


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
        raise ConfigError(
            "device", "'cuda' was asked for but no CUDA GPU is available; allowed here: auto or cpu"
        )
    return torch.device(name)


def autocast_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """bfloat16 for the training steps' autocast, or None for plain float32.

    ``auto``: bf16 on a CPU that computes it natively and on a CUDA GPU that supports it
    (Ampere and later); fp32 elsewhere (emulated bf16 is slower than fp32).
    """
    if config.precision == "bf16":
        return torch.bfloat16
    if config.precision != "auto":
        return None
    if device.type == "cpu":
        return torch.bfloat16 if cpu_has_native_bf16() else None
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def use_tf32(config: TrainConfig, device: torch.device) -> None:
    """On a CUDA GPU, float32 matrix products and convolutions in TF32 (10-bit mantissa
    products, fp32 accumulation: the tensor cores' fast path) unless ``precision`` is fp32,
    which asks for exact fp32. The setting is per process (one run per worker); a CPU run
    leaves it alone."""
    if device.type != "cuda":
        return
    allow = config.precision != "fp32"
    torch.backends.cuda.matmul.allow_tf32 = allow
    torch.backends.cudnn.allow_tf32 = allow


def syncs_every_step(device: torch.device) -> bool:
    """Whether the loop reads the loss on the host at every step. On a CPU the read is free
    and the divergence guard then runs before every update. On a GPU a read waits for the
    device to finish the queued kernels, so the loop reads only at log points (the first
    step, every ``log_every`` steps, an epoch's last step) and keeps a copy of the weights
    from the last read that passed, to go back to when a later one finds a diverged loss."""
    return device.type == "cpu"


def as_float(out: AEOutput) -> AEOutput:
    """The model's outputs in float32 (after an autocast forward pass)."""
    return dataclasses.replace(
        out, **{f.name: getattr(out, f.name).float() for f in dataclasses.fields(out)
                if isinstance(getattr(out, f.name), torch.Tensor)}
    )  # fmt: skip


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


def _divergence_reason(
    config: TrainConfig, epoch: int, step: int, value: float, start: float | None = None
) -> str:
    hint = (
        f"the learning rate {config.lr:g} is probably too high for {config.optimizer}; "
        "try 10x smaller (1e-3 is a safe start for Adam)"
    )
    if config.recon == "mse" and config.variational and config.beta == 0:
        hint += ", or set beta > 0"
    if start is not None and math.isfinite(value):
        what = f"loss exploded to {value:.3g} nats/image (it started at {start:.3g})"
    else:
        what = f"loss became {value}"
    return f"{what} at epoch {epoch}, step {step}: {hint}."


def explosion_limit(first_loss: float, n_pixels: int) -> float:
    """Per-image loss above which training counts as diverged although still finite.

    Adam with a huge learning rate rarely reaches NaN: the weights run off to 1e9 and the loss
    follows. A loss 1000 nats per pixel value and 100x its starting value is far beyond any
    model that learns (a constant 0.5 prediction costs 0.69 nats per pixel value with BCE).
    """
    return max(EXPLODE_PER_PIXEL * n_pixels, EXPLODE_FACTOR * first_loss)


@torch.no_grad()
def update_sigma(model: Autoencoder, batch_log_sigma: torch.Tensor, global_step: int) -> None:
    """A learned sigma is the running mean of the batches' maximum-likelihood values (then an
    exponential average over ~10 steps): fitted on training data, never on validation data."""
    weight = max(SIGMA_AVERAGE, 1.0 / global_step)
    model.log_sigma.lerp_(batch_log_sigma.to(model.log_sigma.dtype), weight)


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
    amp = autocast_dtype(config, device)
    use_tf32(config, device)
    every_step = syncs_every_step(device)
    torch.manual_seed(config.seed)
    if resume is not None:  # a run from before the Gaussian decoder had a sigma keeps its own
        config, state = with_trained_sigma(config, resume["model"])
    model = build_model(config, data.shape).to(device)
    optimizer = make_optimizer(config, model.parameters())
    history: list[dict[str, Any]] = []
    start_epoch = 1
    if resume is not None:
        model.load_state_dict(state)
        optimizer.load_state_dict(resume["optimizer"])
        history = list(resume.get("history", []))
        start_epoch = int(resume["epoch"]) + 1
        torch.manual_seed(config.seed + start_epoch)
    state = [*model.parameters(), *model.buffers()]
    good_state = None if every_step else [t.detach().clone() for t in state]

    train_x = data.train_x.to(device)
    val_x = data.val_x.to(device)
    n = train_x.shape[0]
    steps_per_epoch = math.ceil(n / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    generator = torch.Generator(device="cpu").manual_seed(config.seed)
    for _ in range(start_epoch - 1):  # a resumed run continues the same shuffling sequence
        torch.randperm(n, generator=generator)
    noise = config.effective_noise
    n_pixels = math.prod(data.shape)
    limit = math.inf  # set from the first step's loss (see explosion_limit)
    first_loss: float | None = None
    callbacks.on_fit_start(model, data, total_steps)

    model.train()
    train_time = 0.0
    train_samples = 0
    status, reason = "completed", None
    epoch = start_epoch - 1
    for epoch in range(start_epoch, config.epochs + 1):
        t_epoch = time.perf_counter()
        perm = torch.randperm(n, generator=generator).to(device)
        sums = torch.zeros(4, dtype=torch.float64, device=device)
        seen = 0
        train_time += time.perf_counter() - t_epoch
        for step in range(steps_per_epoch):
            if _is_set(stop):
                status, reason = "stopped", f"stopped by the user during epoch {epoch}"
                break
            t0 = time.perf_counter()
            idx = perm[step * config.batch_size : (step + 1) * config.batch_size]
            target = train_x.index_select(0, idx)
            if config.binarize:  # dynamic binarisation: a fresh 0/1 sample every step
                target = binarize_dynamic(target)
            inputs = corrupt(target, noise, config.noise_type)
            beta = beta_at(config, epoch - 1 + step / steps_per_epoch)
            global_step = (epoch - 1) * steps_per_epoch + step + 1
            if amp is None:
                out = model(inputs)
            else:  # bf16 products; the loss (and the weights) in fp32
                with torch.autocast(device.type, dtype=amp):
                    out = model(inputs)
                out = as_float(out)
            # A learned sigma: the batch's maximum-likelihood value (Rybkin et al. 2021).
            learned = optimal_log_sigma(out.logits, target) if model.learns_sigma else None
            log_sigma = model.log_sigma if learned is None else learned
            terms = loss_terms(
                out, target, recon=config.recon, beta=beta, l1_code=config.l1_code,
                log_sigma=log_sigma,
            )  # fmt: skip
            batch = target.shape[0]
            parts = (terms.loss, terms.recon, terms.kl, terms.l1)
            values = torch.stack([t.detach() for t in parts])  # no autograd node for the log
            logs = step == 0 or global_step % config.log_every == 0
            if every_step or logs or step == steps_per_epoch - 1:
                # The one host read (a GPU sync). The guard runs *before* the update: a
                # diverging run keeps its last finite weights (on a GPU: those of the last
                # read that passed, see syncs_every_step).
                host = values.tolist()
                loss_per_image = host[0] / batch
                if not math.isfinite(loss_per_image) or loss_per_image > limit:
                    train_time += time.perf_counter() - t0
                    status = "diverged"
                    reason = _divergence_reason(config, epoch, step + 1, loss_per_image, first_loss)
                    if good_state is not None:
                        with torch.no_grad():
                            for tensor, good in zip(state, good_state, strict=True):
                                tensor.copy_(good)
                    break
                if good_state is not None:  # one copy per tensor, on log steps only
                    with torch.no_grad():
                        for good, tensor in zip(good_state, state, strict=True):
                            good.copy_(tensor)
                if first_loss is None:
                    first_loss = loss_per_image
                    limit = explosion_limit(first_loss, n_pixels)
            if learned is not None:
                update_sigma(model, learned, global_step)
            optimizer.zero_grad(set_to_none=True)
            (terms.loss / batch).backward()
            optimizer.step()
            sums += values
            train_time += time.perf_counter() - t0
            train_samples += batch
            seen += batch
            if logs:
                elapsed = time.perf_counter() - t_epoch
                loss_v, recon_v, kl_v, _ = host
                callbacks.on_step(
                    {
                        "epoch": epoch,
                        "step": global_step,
                        "total_steps": total_steps,
                        "loss": loss_v / batch,
                        "recon": recon_v / batch,
                        "kl": kl_v / batch,
                        "beta": beta,
                        "samples_per_s": seen / elapsed if elapsed > 0 else 0.0,
                    }
                )
        if status != "completed":
            break
        _, recon_t, kl_t, l1_t = (v / seen for v in sums.tolist())
        # One beta per record, the epoch's last (during warm-up the steps ramped up to it):
        # the training loss is re-weighted with it, so train and validation curves compare.
        epoch_beta = beta_at(config, epoch)
        record: dict[str, Any] = {
            "epoch": epoch,
            "step": epoch * steps_per_epoch,
            "beta": epoch_beta,
            "train_loss": recon_t + epoch_beta * kl_t + l1_t,
            "train_recon": recon_t,
            "train_kl": kl_t,
            "epoch_time_s": time.perf_counter() - t_epoch,
        }
        record.update(evaluate(model, val_x, config, beta=epoch_beta))
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
