"""What the exploration pages compute from a trained model: codes, reconstructions, errors,
traversals, interpolations, prior samples, the 2-D manifold, anomaly and compression reports.

Numpy in, numpy out: images are float32 (N, C, H, W) in [0, 1], codes float32 (N, D).
Models are evaluated in eval mode on the CPU, so a VAE's code is its mean and every view is
deterministic. Checkpoints and datasets are cached here (``load_model``, ``load_split``).

    model, config, epoch = load_model(store, run_id)
    x, y, factors, class_names, factor_names = load_split(config, "val", max_images=1000)
    mu, logvar = encode(model, x)
    grid = traversal_grid(model, mu[0], dims_by_kl(kl_per_dimension(model, x)))
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from statistics import NormalDist

import numpy as np
import torch

from aevae_core.config import TrainConfig
from aevae_core.model.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
from aevae_core.model.losses import kl_per_dim, reconstruction_per_image
from aevae_core.model.networks import Autoencoder
from aevae_core.store.runs import RunStore

log = logging.getLogger(__name__)

BATCH = 1024
COLLAPSE_KL_NATS = 0.1  # total KL below this: the codes carry (almost) no information
ACTIVE_THRESHOLD = 0.01  # Burda et al. (2015): active when Cov_x(E_q[z_u]) > 0.01


# -- loading (cached) ---------------------------------------------------------------------
def checkpoint_file(store: RunStore, run_id: str, epoch: int | None = None) -> Path:
    """The checkpoint to show for ``epoch``: ``checkpoints/epoch_{epoch:04d}.pt`` when it
    exists, else the per-epoch file nearest to it (a long run keeps about 20, see
    ``runner.keeps_epoch_checkpoint``; the earlier one on a tie), else ``latest.pt``."""
    if epoch is not None:
        kept = store.checkpoint_epochs(run_id)
        if kept:
            nearest = min(kept, key=lambda e: (abs(e - int(epoch)), e))
            path = store.epoch_checkpoint_path(run_id, nearest)
            if path.exists():  # not pruned since it was listed
                return path
    latest = store.checkpoint_path(run_id, "latest")
    if not latest.exists():
        raise ValueError(
            f"run {run_id} has no checkpoint yet: it is written at the end of the first epoch"
        )
    return latest


def load_model(
    store: RunStore, run_id: str, epoch: int | None = None
) -> tuple[Autoencoder, TrainConfig, int]:
    """(model in eval mode on the CPU, its config, the epoch actually loaded).

    Falls back to the nearest epoch that has a checkpoint (else ``latest.pt``) when the
    epoch has none of its own; the third value says which epoch was loaded. Cached (LRU, 16)
    on the file and its modification time, so a rewritten checkpoint is reloaded. The model
    is shared between callers: do not train or modify it. Raises ValueError without a checkpoint.
    """
    for attempt in range(3):  # a per-epoch file may be pruned between listing and reading
        path = checkpoint_file(store, run_id, epoch)
        try:
            mtime_ns = path.stat().st_mtime_ns
            model, config, loaded = _load_model_cached(str(store.root), run_id, str(path), mtime_ns)
            break
        except (FileNotFoundError, CheckpointError):
            if attempt == 2 or path.exists():
                raise
    if epoch is not None and loaded != epoch:
        log.info("run %s: no checkpoint for epoch %s, using epoch %s", run_id, epoch, loaded)
    return model, config, loaded


@functools.lru_cache(maxsize=16)
def _load_model_cached(
    root: str, run_id: str, path: str, mtime_ns: int
) -> tuple[Autoencoder, TrainConfig, int]:
    """Keyed on (runs dir, run, checkpoint file, mtime): the file names the epoch."""
    ckpt = load_checkpoint(Path(path), map_location="cpu")
    model, config = model_from_checkpoint(ckpt)
    model.requires_grad_(False)
    return model, config, int(ckpt["epoch"])


def load_split(
    config: TrainConfig,
    split: str = "val",
    max_images: int | None = None,
    *,
    data_dir: str | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, list[str], list[str]]:
    """(x, y, factors, class_names, factor_names) of the run's train or validation split.

    The same split training used (the config's seed, val_fraction, data_path, max_samples);
    ``max_images`` keeps the first images (the split is already shuffled). Cached, and the
    arrays are read-only because every caller shares them.
    """
    if split not in ("train", "val"):
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")
    return _load_split_cached(config.to_json(), split, max_images, data_dir)


@functools.lru_cache(maxsize=8)
def _load_split_cached(
    config_json: str, split: str, max_images: int | None, data_dir: str | None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, list[str], list[str]]:
    from aevae_core.data.datasets import load_dataset

    config = TrainConfig.from_json(config_json)
    data = load_dataset(
        config.dataset, data_dir=data_dir, seed=config.seed, val_fraction=config.val_fraction,
        path=config.data_path, max_samples=config.max_samples,
    )  # fmt: skip
    x, y, f = (
        (data.train_x, data.train_y, data.train_factors)
        if split == "train"
        else (data.val_x, data.val_y, data.val_factors)
    )
    keep = slice(None, max_images)
    arrays = [None if a is None else a[keep].numpy().copy() for a in (x, y, f)]
    for a in arrays:
        if a is not None:
            a.setflags(write=False)
    return arrays[0], arrays[1], arrays[2], list(data.class_names), list(data.factor_names)


# -- running the model ------------------------------------------------------------------
def _tensor(a: np.ndarray) -> torch.Tensor:
    """float32 tensor sharing memory where it can; read-only arrays (cached splits) are copied."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    return torch.from_numpy(a if a.flags.writeable else a.copy())


def _batches(x: np.ndarray, batch: int):
    for start in range(0, len(x), batch):
        yield _tensor(x[start : start + batch])


@torch.inference_mode()
def encode(
    model: Autoencoder, x: np.ndarray, batch: int = BATCH
) -> tuple[np.ndarray, np.ndarray | None]:
    """(mu (N, D), logvar (N, D) for a VAE or None for an AE)."""
    mus, logvars = [], []
    for xb in _batches(x, batch):
        mu, logvar = model.encode(xb)
        mus.append(mu.numpy())
        if logvar is not None:
            logvars.append(logvar.numpy())
    mu_all = np.concatenate(mus) if mus else np.zeros((0, model.latent_dim), np.float32)
    if not model.variational:
        return mu_all, None
    return mu_all, np.concatenate(logvars) if logvars else np.zeros_like(mu_all)


@torch.inference_mode()
def decode(model: Autoencoder, z: np.ndarray, batch: int = BATCH) -> np.ndarray:
    """Codes (N, D) -> images (N, C, H, W) in [0, 1]."""
    z = np.atleast_2d(np.asarray(z, dtype=np.float32))
    if len(z) == 0:
        return np.zeros((0, *model.shape), np.float32)
    return np.concatenate([model.decode_images(zb).numpy() for zb in _batches(z, batch)])


@torch.inference_mode()
def reconstruct(model: Autoencoder, x: np.ndarray, batch: int = BATCH) -> np.ndarray:
    """Deterministic reconstructions decode(mu): images (N, C, H, W)."""
    if len(x) == 0:
        return np.zeros((0, *model.shape), np.float32)
    return np.concatenate(
        [model.decode_images(model.encode(xb)[0]).numpy() for xb in _batches(x, batch)]
    )


@torch.inference_mode()
def reconstruct_with_errors(
    model: Autoencoder, x: np.ndarray, recon: str, batch: int = BATCH
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pass: (reconstructions, -log p(x|z=mu) per image in nats, MSE per pixel per image).

    ``recon`` "mse" scores with the model's Gaussian sigma (a model without one, trained with
    BCE, gets NaN errors: it has no Gaussian likelihood). On grey pixels a BCE error is a
    relative score (see ``losses.bernoulli_floor_per_image``); for a model trained on
    binarised pixels it is the expected -log p of a random binarisation of the image.
    """
    recons, nats, mses = [], [], []
    log_sigma = model.log_sigma if recon == "mse" else None
    for xb in _batches(x, batch):
        logits = model.decode(model.encode(xb)[0])
        images = torch.sigmoid(logits)
        recons.append(images.numpy())
        if recon == "mse" and log_sigma is None:
            nats.append(np.full(len(xb), np.nan, np.float32))
        else:
            nats.append(reconstruction_per_image(logits, xb, recon, log_sigma=log_sigma).numpy())
        mses.append((images - xb).square().flatten(1).mean(1).numpy())
    if not recons:
        empty = np.zeros(0, np.float32)
        return np.zeros((0, *model.shape), np.float32), empty, empty
    return np.concatenate(recons), np.concatenate(nats), np.concatenate(mses)


def reconstruction_errors(model: Autoencoder, x: np.ndarray, recon: str) -> np.ndarray:
    """-log p(x | z = mu) per image in nats (the run's ``recon`` likelihood: bce or mse)."""
    return reconstruct_with_errors(model, x, recon)[1]


def mse_per_image(model: Autoencoder, x: np.ndarray) -> np.ndarray:
    """Mean squared error per pixel of each image's reconstruction (pixels in [0, 1])."""
    return reconstruct_with_errors(model, x, "bce")[2]


# -- the latent space -------------------------------------------------------------------
def code_scale(mu: np.ndarray, variational: bool) -> np.ndarray:
    """Per-dimension unit for traversals: 1 (the prior's std) for a VAE, the codes' std for
    an AE, whose code space has no natural scale."""
    mu = np.asarray(mu, dtype=np.float32)
    if variational or len(mu) < 2:
        return np.ones(mu.shape[1], np.float32)
    return np.maximum(mu.std(0), 1e-6).astype(np.float32)


@torch.inference_mode()
def kl_per_dimension(model: Autoencoder, x: np.ndarray) -> np.ndarray | None:
    """Mean KL(q(z_u|x) || N(0, 1)) per latent dimension over ``x`` in nats; None for an AE."""
    if not model.variational:
        return None
    mu, logvar = encode(model, x)
    return kl_per_dim(_tensor(mu), _tensor(logvar)).mean(0).double().numpy()


def active_mask(mu: np.ndarray, threshold: float = ACTIVE_THRESHOLD) -> np.ndarray:
    """Boolean (D,): unit u is active when Var_x(E_q[z_u | x]) > threshold (Burda et al. 2015)."""
    mu = np.asarray(mu, dtype=np.float64)
    if len(mu) < 2:
        return np.zeros(mu.shape[1], dtype=bool)
    return mu.var(0, ddof=1) > threshold


def dims_by_kl(kl_per_dim: Sequence[float] | None, mu: np.ndarray | None = None) -> list[int]:
    """Latent dimensions, most active first: KL descending (VAE), else code variance (AE)."""
    if kl_per_dim is not None:
        key = np.asarray(kl_per_dim, dtype=np.float64)
    elif mu is not None:
        key = np.asarray(mu, dtype=np.float64).var(0)
    else:
        raise ValueError("dims_by_kl needs the KL per dimension or the codes")
    return [int(i) for i in np.argsort(-key, kind="stable")]


def traversal_grid(
    model: Autoencoder,
    z0: np.ndarray,
    dims: Sequence[int],
    *,
    n_steps: int = 7,
    span: float = 3.0,
    scale: np.ndarray | None = None,
) -> np.ndarray:
    """Row r moves dimension dims[r] from z0 - span*scale to z0 + span*scale, the others fixed
    at z0 (Higgins et al. 2017's traversals): images (len(dims), n_steps, C, H, W)."""
    z0 = np.asarray(z0, dtype=np.float32).reshape(-1)
    scale = np.ones_like(z0) if scale is None else np.asarray(scale, np.float32).reshape(-1)
    offsets = traversal_offsets(n_steps, span)
    z = np.repeat(z0[None, None, :], len(dims), 0).repeat(n_steps, 1)
    for row, d in enumerate(dims):
        z[row, :, d] = z0[d] + offsets * scale[d]
    images = decode(model, z.reshape(-1, len(z0)))
    return images.reshape(len(dims), n_steps, *images.shape[1:])


def traversal_offsets(n_steps: int = 7, span: float = 3.0) -> np.ndarray:
    """The column offsets of ``traversal_grid`` in units of ``scale`` (std)."""
    return np.linspace(-span, span, n_steps, dtype=np.float32)


def interpolate(
    z_a: np.ndarray, z_b: np.ndarray, n_steps: int, method: str = "linear"
) -> np.ndarray:
    """Codes (n_steps, D) from z_a to z_b; the endpoints are exactly z_a and z_b.

    ``slerp`` follows the great circle (White 2016, "Sampling Generative Networks"), which
    keeps the norm typical of Gaussian codes; it falls back to linear for zero or
    (anti)parallel vectors, where the great circle is undefined.
    """
    if method not in ("linear", "slerp"):
        raise ValueError(f"method must be 'linear' or 'slerp', got {method!r}")
    if n_steps < 2:
        raise ValueError(f"n_steps must be at least 2, got {n_steps}")
    a = np.asarray(z_a, dtype=np.float64).reshape(-1)
    b = np.asarray(z_b, dtype=np.float64).reshape(-1)
    t = np.linspace(0.0, 1.0, n_steps)[:, None]
    out = (1 - t) * a + t * b
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if method == "slerp" and na > 1e-12 and nb > 1e-12:
        omega = math.acos(float(np.clip(a @ b / (na * nb), -1.0, 1.0)))
        if math.sin(omega) > 1e-6:
            s = math.sin(omega)
            out = (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / s
    out = out.astype(np.float32)
    out[0], out[-1] = a, b
    return out


def prior_codes(n: int, latent_dim: int, temperature: float = 1.0, seed: int = 0) -> np.ndarray:
    """z ~ N(0, temperature^2 I): (n, latent_dim), deterministic by seed."""
    rng = np.random.default_rng(seed)
    return (temperature * rng.standard_normal((n, latent_dim))).astype(np.float32)


def prior_samples(
    model: Autoencoder, n: int, temperature: float = 1.0, seed: int = 0
) -> np.ndarray:
    """Images decoded from z ~ N(0, temperature^2 I). Meaningful for a VAE; for an AE the
    prior is not its code distribution and the same codes show broken images ("holes")."""
    return decode(model, prior_codes(n, model.latent_dim, temperature, seed))


def manifold_axis(
    n: int = 15, low: float = 0.05, high: float = 0.95, codes: np.ndarray | None = None
) -> np.ndarray:
    """The grid values of ``manifold_grid`` at n evenly spaced probabilities p: Phi^-1(p),
    the N(0, 1) prior's quantiles, or with ``codes`` (N,) their empirical quantiles."""
    probs = np.linspace(low, high, n)
    if codes is not None:
        return np.quantile(np.asarray(codes, np.float64), probs).astype(np.float32)
    return np.array([NormalDist().inv_cdf(p) for p in probs], np.float32)


def manifold_grid(
    model: Autoencoder,
    n: int = 15,
    dims: tuple[int, int] = (0, 1),
    base: np.ndarray | None = None,
    *,
    loc: tuple[float, float] = (0.0, 0.0),
    scale: tuple[float, float] = (1.0, 1.0),
    codes: np.ndarray | None = None,
) -> np.ndarray:
    """Decode z on a grid of quantiles (Kingma & Welling 2014, fig. 4): (n, n, C, H, W).

    Column j sets z[dims[0]] = loc[0] + scale[0] * q_j, row i sets z[dims[1]] = loc[1] +
    scale[1] * q_(n-1-i), so the top-left image has the lowest x and the highest y, as in a
    scatter plot; other dimensions stay at ``base`` (default 0). q: N(0, 1) quantiles (a
    VAE's prior), or for an AE, whose codes are not N(0, I), its ``codes``' (N, D) empirical
    quantiles per dimension (then loc and scale are ignored)."""
    d = model.latent_dim
    if d < 2 or dims[0] == dims[1] or not all(0 <= k < d for k in dims):
        raise ValueError(f"manifold_grid needs two different dimensions of {d}, got {dims}")
    if codes is not None:
        qx, qy = (manifold_axis(n, codes=np.asarray(codes).reshape(-1, d)[:, k]) for k in dims)
    else:
        q = manifold_axis(n)
        qx, qy = loc[0] + scale[0] * q, loc[1] + scale[1] * q
    z = np.zeros((n, n, d), np.float32)
    if base is not None:
        z[:] = np.asarray(base, np.float32).reshape(-1)
    z[:, :, dims[0]] = qx[None, :]
    z[:, :, dims[1]] = qy[::-1, None]
    return decode(model, z.reshape(-1, d)).reshape(n, n, *model.shape)


def posterior_collapsed(kl_per_dim: Sequence[float] | None, active: int) -> str | None:
    """A warning when a VAE's posterior has collapsed onto the prior, else None (and for AEs)."""
    if kl_per_dim is None:
        return None
    total = float(np.sum(kl_per_dim))
    if total < COLLAPSE_KL_NATS or active == 0:
        return (
            f"Posterior collapse: the codes carry almost no information about the images "
            f"(total KL {total:.3f} nats, {active} active unit(s)); the decoder ignores z. "
            "Try a smaller beta, KL warm-up, or more training."
        )
    return None
