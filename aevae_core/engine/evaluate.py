"""Validation metrics of a model during training (``evaluate``) and the binarised pixels that
make a Bernoulli likelihood true (``binarize_dynamic``, ``binarize_fixed``).

Units: nats per image (sum over pixels, mean over images), as in ``losses.py``.

Binarisation (the convention of the binarised-MNIST literature, e.g. Burda et al. 2015):
training sees a fresh sample x_bin ~ Bernoulli(x) of its batch at every step (dynamic
binarisation, drawn from torch's seeded RNG, so seeded runs reproduce); evaluation uses one
fixed sample of the held-out images, the same for every run and every epoch (a constant
seed), so its -log p(x|z), ELBO and bits/dim are likelihoods of discrete data that compare
across runs and with published numbers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from aevae_core.config import TrainConfig
from aevae_core.model.losses import active_units, bits_per_dim, kl_per_dim, reconstruction_per_image
from aevae_core.model.networks import Autoencoder

EVAL_BATCH = 1024
BINARIZE_SEED = 20_140_000  # one fixed binarisation of the held-out images for all runs


def binarize_dynamic(x: torch.Tensor) -> torch.Tensor:
    """A fresh 0/1 sample of ``x`` (pixel values as probabilities), from torch's RNG."""
    return torch.bernoulli(x.clamp(0.0, 1.0))


def binarize_fixed(x: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """The evaluation binarisation: pixel v becomes 1 where u < v, u uniform from a constant
    seed drawn in C order, so image i gets the same 0/1 pixels whatever follows it (a prefix
    of the validation split is binarised as in the whole split). 0/1 input is unchanged.
    Returns the type it was given (numpy or a torch tensor on the same device)."""
    values = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    u = np.random.default_rng(BINARIZE_SEED).random(values.shape, dtype=np.float32)
    out = (u < values).astype(np.float32)
    if isinstance(x, torch.Tensor):
        return torch.from_numpy(out).to(device=x.device, dtype=x.dtype)
    return out


def likelihood_is_discrete(config: TrainConfig) -> bool:
    """Whether -log p(x|z) is -log of a probability of 0/1 pixels (bits/dim make sense)."""
    return config.recon == "bce" and config.binarize


@torch.no_grad()
def evaluate(
    model: Autoencoder,
    x: torch.Tensor,
    config: TrainConfig,
    *,
    y: torch.Tensor | None = None,
    beta: float | None = None,
) -> dict[str, Any]:
    """Validation metrics in nats per image; model in eval mode (codes = means).

    ``val_loss`` is the training objective recon + beta * KL (+ L1) at ``beta`` (default
    ``config.beta``; during KL warm-up the caller passes the epoch's beta, so training and
    validation losses use the same one). ``val_elbo`` (VAEs) always uses beta = 1.
    ``val_bits_per_dim`` only for a VAE on binarised pixels (a likelihood of discrete data);
    ``val_sigma`` for a Gaussian decoder. With ``config.binarize`` the likelihood terms score
    the images binarised by ``binarize_fixed``; ``val_mse`` always compares with ``x``.
    """
    beta = config.beta if beta is None else beta
    x_lik = binarize_fixed(x) if config.binarize else x  # scored by the likelihood
    was_training = model.training
    model.eval()
    n = x.shape[0]
    log_sigma = model.log_sigma if config.recon == "mse" else None
    # Sums stay on the device: one host read at the end, not two per batch (GPU syncs).
    recon_sum = torch.zeros((), dtype=torch.float64, device=x.device)
    sq_err = torch.zeros((), dtype=torch.float64, device=x.device)
    kl_dims = torch.zeros(model.latent_dim, dtype=torch.float64, device=x.device)
    mus = []
    for start in range(0, n, EVAL_BATCH):
        xb = x_lik[start : start + EVAL_BATCH]
        mu, logvar = model.encode(xb)
        logits = model.decode(mu)
        if logvar is not None:
            # The ELBO's reconstruction term is an expectation over q: one sample per image.
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            recon_logits = model.decode(z)
            kl_dims += kl_per_dim(mu, logvar).sum(0).double()
        else:
            recon_logits = logits
        nll = reconstruction_per_image(recon_logits, xb, config.recon, log_sigma=log_sigma)
        recon_sum += nll.sum()
        # MSE against the grey images: the mean image against what it stands for.
        sq_err += (torch.sigmoid(logits) - x[start : start + EVAL_BATCH]).square().sum()
        mus.append(mu.float())
    model.train(was_training)
    n_pixels = math.prod(x.shape[1:])
    mu_all = torch.cat(mus).cpu()
    recon = recon_sum.item() / n
    kl_per = (kl_dims / n).tolist()
    kl = float(sum(kl_per)) if model.variational else 0.0
    l1 = config.l1_code * mu_all.abs().sum(1).mean().item() if config.l1_code > 0 else 0.0
    out: dict[str, Any] = {
        "val_loss": recon + beta * kl + l1,
        "val_recon": recon,
        "val_kl": kl,
        "val_mse": sq_err.item() / (n * n_pixels),
    }
    if model.variational:
        out["val_elbo"] = -(recon + kl)
        out["val_kl_per_dim"] = kl_per
        out["active_units"] = int(active_units(mu_all).sum())
        if likelihood_is_discrete(config):
            out["val_bits_per_dim"] = bits_per_dim(recon + kl, n_pixels)
    if model.sigma is not None:
        out["val_sigma"] = model.sigma
    return out
