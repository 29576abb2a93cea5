"""Loss terms of the AE and the VAE, in nats per image (sum over pixels, mean over images).

That convention is the one of the canonical PyTorch and Keras VAE examples, so numbers
shown here compare with theirs. References:

* Kingma & Welling (2014), "Auto-Encoding Variational Bayes", Appendix B: the analytic KL
  between a diagonal Gaussian posterior and the N(0, I) prior.
* Higgins et al. (2017), "beta-VAE": the weight beta on the KL term.
* Burda, Grosse & Salakhutdinov (2015), "Importance Weighted Autoencoders": the k-sample
  bound used to estimate log p(x), and the "active units" statistic.
* Rybkin, Daniilidis & Levine (2021), "Simple and Effective VAE Training with Calibrated
  Decoders": the Gaussian decoder with one shared, learned std sigma (the sigma-VAE), whose
  maximum-likelihood value for given reconstructions is sigma^2 = MSE ("optimal sigma").

The two decoders:

* Bernoulli (``bce``): -log p(x|z) = sum_i BCE(x_i, p_i). A true likelihood only of 0/1
  pixels (``binarize``); on grey pixels it is a cross-entropy whose minimum, reached by a
  perfect reconstruction, is sum_i H(x_i) > 0 (``bernoulli_floor_per_image``).
* Gaussian (``mse``): -log p(x|z) = SSE / (2 sigma^2) + D log sigma + (D/2) log(2 pi), the
  full density with its normaliser (it can be negative). ``log_sigma`` is the model's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from aevae_core.model.networks import AEOutput, Autoencoder

LOG2 = math.log(2.0)
LOG_2PI = math.log(2.0 * math.pi)
SIGMA_MIN = 1e-3  # a learned sigma never goes below this (the likelihood would be unbounded)
LOG_SIGMA_MIN = math.log(SIGMA_MIN)


def _log_sigma_tensor(log_sigma: torch.Tensor | float | None, like: torch.Tensor) -> torch.Tensor:
    if log_sigma is None:
        raise ValueError(
            "recon 'mse' is a Gaussian likelihood and needs the decoder's log_sigma "
            "(pass log_sigma=model.log_sigma)"
        )
    return torch.as_tensor(log_sigma, dtype=like.dtype, device=like.device)


def gaussian_nll(sse: torch.Tensor, n_values: int, log_sigma: torch.Tensor) -> torch.Tensor:
    """-log N(x; mean, sigma^2 I) from the sum of squared errors of ``n_values`` values."""
    return 0.5 * sse * torch.exp(-2.0 * log_sigma) + n_values * (log_sigma + 0.5 * LOG_2PI)


def optimal_log_sigma(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """log of the maximum-likelihood shared std for these reconstructions, sigma^2 = MSE
    (Rybkin et al. 2021, section 4, "optimal sigma"), at least ``SIGMA_MIN``; detached."""
    mse = (torch.sigmoid(logits.detach()) - target).square().mean()
    return (0.5 * torch.log(mse)).clamp(min=LOG_SIGMA_MIN)


def reconstruction_per_image(
    logits: torch.Tensor,
    target: torch.Tensor,
    kind: str,
    *,
    log_sigma: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """-log p(x|z) per image in nats, summed over pixels: shape (N,).

    * ``bce``: Bernoulli likelihood; ``binary_cross_entropy_with_logits`` is the numerically
      stable form (log-sum-exp), never log(sigmoid(.)).
    * ``mse``: Gaussian likelihood of mean sigmoid(logits) and std exp(``log_sigma``) (the
      model's ``log_sigma``; required), normaliser included.
    """
    if kind == "bce":
        per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        return per_pixel.flatten(1).sum(1)
    ls = _log_sigma_tensor(log_sigma, logits)
    sse = (torch.sigmoid(logits) - target).square().flatten(1).sum(1)
    return gaussian_nll(sse, target[0].numel(), ls)


def reconstruction_sum(
    logits: torch.Tensor,
    target: torch.Tensor,
    kind: str,
    *,
    log_sigma: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """The batch sum of ``reconstruction_per_image`` with fused reductions (training speed)."""
    if kind == "bce":
        if logits.device.type == "cpu":
            return _BCEWithLogitsSum.apply(logits, target)
        return F.binary_cross_entropy_with_logits(logits, target, reduction="sum")
    ls = _log_sigma_tensor(log_sigma, logits)
    sse = F.mse_loss(torch.sigmoid(logits), target, reduction="sum")
    return gaussian_nll(sse, target.numel(), ls)


class _BCEWithLogitsSum(torch.autograd.Function):
    """sum(BCE-with-logits) for the CPU training step: the same stable log-sum-exp form,
    max(l, 0) - x*l + log(1 + exp(-|l|)), through ``exp`` and ``log``, which ATen vectorises
    on a CPU, where torch's own op goes through ``log1p``, which it does not: 3.1 ms -> 1.1 ms
    forward + backward for a 128 x 784 batch, a fifth of a step of the 784-400-20 VAE
    (bench/bench_core.py). The value differs from torch's in the last float32 digit (1 + e
    rounds where e < 2^-24: under 6e-8 nats per pixel); the gradient is the same formula,
    sigmoid(l) - x, so training takes the same steps."""

    @staticmethod
    def forward(ctx, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(logits, target)
        per_pixel = logits.clamp(min=0) - target * logits + torch.log(torch.exp(-logits.abs()) + 1)
        return per_pixel.sum()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        logits, target = ctx.saved_tensors
        return grad * (torch.sigmoid(logits) - target), None


def bernoulli_floor_per_image(x: torch.Tensor) -> torch.Tensor:
    """sum_i H(x_i) per image in nats: the BCE of a perfect reconstruction (p = x).

    BCE(x, p) = H(x) + KL(Bern(x) || Bern(p)) >= H(x), so on grey pixels BCE is a relative
    score with this floor, not -log of a probability; it is 0 only for 0/1 pixels.
    """
    x = x.double().clamp(0.0, 1.0)
    h = -(torch.xlogy(x, x) + torch.xlogy(1.0 - x, 1.0 - x))
    return h.flatten(1).sum(1)


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) per image and latent dimension: shape (N, D).

    Kingma & Welling (2014), Appendix B: -KL = 1/2 * sum(1 + log sigma^2 - mu^2 - sigma^2).
    """
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar)


@dataclass
class LossTerms:
    """A named bundle, so loggers and plots treat every model alike (totals over the batch)."""

    loss: torch.Tensor  # the objective being minimised, summed over the batch
    recon: torch.Tensor  # summed reconstruction term
    kl: torch.Tensor  # summed KL term (0 for an AE)
    l1: torch.Tensor  # summed L1 code penalty (0 unless set)


def loss_terms(
    out: AEOutput,
    target: torch.Tensor,
    *,
    recon: str,
    beta: float,
    l1_code: float = 0.0,
    log_sigma: torch.Tensor | float | None = None,
) -> LossTerms:
    """recon + beta * KL + l1_code * |z|_1, each summed over the batch (divide by N for means).

    For beta = 1 the first two terms are the negative ELBO:
    -ELBO = E_q[-log p(x|z)] + KL(q(z|x) || N(0, I)). ``log_sigma``: the Gaussian's (``mse``).
    """
    recon_sum = reconstruction_sum(out.logits, target, recon, log_sigma=log_sigma)
    zero = recon_sum.new_zeros(())
    kl_sum = kl_per_dim(out.mu, out.logvar).sum() if out.logvar is not None else zero
    l1_sum = out.mu.abs().sum() * l1_code if l1_code > 0 else zero
    total = recon_sum + l1_sum
    if out.logvar is not None and beta > 0:
        total = total + beta * kl_sum
    return LossTerms(loss=total, recon=recon_sum, kl=kl_sum, l1=l1_sum)


def bits_per_dim(nats_per_image: float, n_pixels: int) -> float:
    """Convert a negative log-likelihood in nats per image to bits per pixel value."""
    return nats_per_image / (n_pixels * LOG2)


@torch.no_grad()
def importance_weighted_nll(
    model: Autoencoder, x: torch.Tensor, *, k: int = 50, recon: str | None = None
) -> torch.Tensor:
    """IWAE estimate of -log p(x) per image (nats), with k importance samples.

    log p(x) >= log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x),  z_i ~ q(z|x)  (Burda et al. 2015,
    eq. 8); the bound tightens as k grows and equals the ELBO at k = 1. ``recon`` defaults to
    the model's own likelihood (Gaussian, with its ``log_sigma``, when it has a sigma).
    """
    if recon is None:
        recon = "mse" if model.log_sigma is not None else "bce"
    if not model.variational:
        raise ValueError("the importance-weighted NLL needs a VAE (an AE has no q(z|x))")
    mu, logvar = model.encode(x)
    std = torch.exp(0.5 * logvar)
    n, d = mu.shape
    eps = torch.randn(k, n, d, device=x.device, dtype=mu.dtype)
    z = mu + std * eps  # (k, N, D)
    logits = model.decode(z.reshape(k * n, d))
    target = x.unsqueeze(0).expand(k, *x.shape).reshape(k * n, *x.shape[1:])
    log_sigma = model.log_sigma if recon == "mse" else None
    log_px_z = -reconstruction_per_image(logits, target, recon, log_sigma=log_sigma).view(k, n)
    log_pz = -0.5 * (z.square() + math.log(2 * math.pi)).sum(-1)
    log_qz = -0.5 * (eps.square() + logvar + math.log(2 * math.pi)).sum(-1)
    log_w = log_px_z + log_pz - log_qz
    return -(torch.logsumexp(log_w, dim=0) - math.log(k))


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> torch.Tensor:
    """Boolean mask (D,): dimension u is active when Cov_x(E_q[z_u]) > threshold.

    Burda et al. (2015), section 5.2; ``mu`` holds E_q[z|x] for many validation images x.
    """
    if mu.shape[0] < 2:
        return torch.zeros(mu.shape[1], dtype=torch.bool)
    return mu.float().var(dim=0) > threshold
