"""Numbers for comparing runs (AE vs VAE, a beta sweep): likelihood terms, active units,
kNN accuracy on the codes and the MIG disentanglement score. How they are labelled and shown
is ``metric_labels.py`` (no torch).

Units: every likelihood term is in nats per image (sum over pixels, mean over images, as
in ``losses.py``); ``bits_per_dim`` is nats / (pixels * ln 2), shown only where the
likelihood is one of discrete data (binarised pixels); MSE is per pixel on [0, 1].

    m = run_metrics(model, config, x_val, y_val, factors_val, x_train, y_train, iw_k=50)
    rows = comparison_rows({"AE": m_ae, "VAE": m_vae})
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from aevae_core.config import TrainConfig
from aevae_core.engine.evaluate import binarize_fixed, likelihood_is_discrete
from aevae_core.explore.analysis import encode
from aevae_core.explore.metric_labels import likelihood_kind, likelihood_label, likelihood_note
from aevae_core.model.losses import (
    bernoulli_floor_per_image,
    importance_weighted_nll,
    kl_per_dim,
    reconstruction_per_image,
)
from aevae_core.model.networks import Autoencoder


def knn_accuracy(
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    test_codes: np.ndarray,
    test_labels: np.ndarray,
    k: int = 5,
) -> float:
    """Accuracy of a k-nearest-neighbour classifier fitted on ``train_codes`` (Euclidean).

    The rule of scikit-learn's ``KNeighborsClassifier(n_neighbors=k)`` (uniform vote, a tie
    goes to the smallest label; tests/core/test_metrics.py checks they agree) in numpy:
    importing sklearn.neighbors alone takes 2.5-4 s on the classroom machine, and the worker
    computes this at the end of every run.
    """
    train = np.asarray(train_codes, np.float64).reshape(len(train_codes), -1)
    test = np.asarray(test_codes, np.float64).reshape(len(test_codes), -1)
    classes, train_idx = np.unique(np.asarray(train_labels), return_inverse=True)
    k = max(1, min(k, len(train)))
    predicted = np.empty(len(test), np.int64)
    rows = max(1, 2**22 // max(1, train.size))  # ~32 MB of differences per chunk
    for start in range(0, len(test), rows):
        chunk = test[start : start + rows]
        # Exact squared distances (not |a|^2 + |b|^2 - 2ab, whose rounding reorders near ties).
        d2 = np.square(chunk[:, None, :] - train[None, :, :]).sum(-1)
        nearest = np.argpartition(d2, k - 1, axis=1)[:, :k] if k < len(train) else None
        if nearest is None:
            nearest = np.broadcast_to(np.arange(len(train)), d2.shape)
        votes = np.zeros((len(chunk), len(classes)), np.int64)
        np.add.at(votes, (np.arange(len(chunk))[:, None], train_idx[nearest]), 1)
        predicted[start : start + len(chunk)] = votes.argmax(1)  # first max: smallest label
    return float((classes[predicted] == np.asarray(test_labels)).mean())


def _discretize(values: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width histogram bins 0..n_bins-1 (as disentanglement_lib's histogram_discretize)."""
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.zeros(len(values), np.int64)
    edges = np.linspace(lo, hi, n_bins + 1)[1:-1]
    return np.digitize(values, edges).astype(np.int64)


def _entropy(labels: np.ndarray) -> float:
    p = np.bincount(labels) / len(labels)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def _mutual_info(a: np.ndarray, b: np.ndarray) -> float:
    """I(a; b) in nats of two discrete label arrays, from their joint histogram."""
    nb = int(b.max()) + 1
    joint = np.bincount(a * nb + b, minlength=(int(a.max()) + 1) * nb).reshape(-1, nb)
    p = joint / len(a)
    pa, pb = p.sum(1, keepdims=True), p.sum(0, keepdims=True)
    nz = p > 0
    return float((p[nz] * np.log(p[nz] / (pa @ pb)[nz])).sum())


def mig_score(
    codes: np.ndarray,
    factors: np.ndarray,
    n_bins: int = 20,
    discrete: Sequence[bool] | None = None,
) -> float:
    """Mutual Information Gap (Chen, Li, Grosse & Duvenaud 2018, "Isolating Sources of
    Disentanglement in Variational Autoencoders", eq. 6).

    MIG = mean over factors v_k of (I(z_j*; v_k) - I(z_j'; v_k)) / H(v_k), where j* and j' are
    the code dimensions with the largest and second-largest mutual information with v_k. As
    in Locatello et al. (2019)'s disentanglement_lib, the MI is estimated from histograms:
    each code dimension is cut into ``n_bins`` equal-width bins, as are continuous factors;
    a discrete factor (``discrete[k]``; default: at most ``n_bins`` distinct values) uses its
    values. Factors with zero entropy are skipped; NaN when none is left. With a single code
    dimension the gap is I(z_1; v_k) / H(v_k).
    """
    codes = np.asarray(codes, np.float64)
    factors = np.asarray(factors, np.float64)
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise ValueError(f"codes {codes.shape} and factors {factors.shape} must be (N, D), (N, F)")
    z = [_discretize(codes[:, j], n_bins) for j in range(codes.shape[1])]
    gaps = []
    for k in range(factors.shape[1]):
        column = factors[:, k]
        is_discrete = discrete[k] if discrete is not None else len(np.unique(column)) <= n_bins
        v = (
            np.unique(column, return_inverse=True)[1]
            if is_discrete
            else _discretize(column, n_bins)
        )
        h = _entropy(v)
        if h <= 1e-12:
            continue
        mi = sorted((_mutual_info(zj, v) for zj in z), reverse=True) + [0.0]
        gaps.append((mi[0] - mi[1]) / h)
    return float(np.mean(gaps)) if gaps else math.nan


@torch.no_grad()
def _model_terms(model: Autoencoder, x: torch.Tensor, recon: str, seed: int) -> dict[str, Any]:
    """One pass over ``x``: codes, the reconstruction term, KL per dim (VAE)."""
    log_sigma = model.log_sigma if recon == "mse" else None
    mu, logvar = model.encode(x)
    out: dict[str, Any] = {"mu": mu.numpy()}
    if logvar is None:
        z = mu
    else:
        gen = torch.Generator().manual_seed(seed)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen)
        out["kl_per_dim"] = kl_per_dim(mu, logvar).mean(0).double().numpy()
    nll = reconstruction_per_image(model.decode(z), x, recon, log_sigma=log_sigma)
    out["recon_nats"] = nll.mean().item()
    return out


def run_metrics(
    model: Autoencoder,
    config: TrainConfig,
    x_val: np.ndarray,
    y_val: np.ndarray | None,
    factors_val: np.ndarray | None,
    x_train_sample: np.ndarray | None = None,
    y_train_sample: np.ndarray | None = None,
    *,
    iw_k: int = 50,
    max_images: int = 1000,
    iw_max_images: int = 500,
    seed: int = 0,
) -> dict[str, Any]:
    """The metrics of one run on its validation images (the Compare table, single-run pages).

    Likelihood terms, all on the same first ``likelihood_images`` = min(``iw_max_images``,
    ``max_images``, available) images (binarised by ``evaluation.binarize_fixed`` when the
    run was trained on binarised pixels), in nats/image:

    * ``recon_nats``: for a VAE E_q[-log p(x|z)] with one sample per image (the ELBO's term,
      as in training's validation curves); for an AE -log p(x|z = code). For BCE on grey
      pixels a relative score whose floor is ``bce_floor`` (None otherwise).
    * ``kl``, ``elbo`` = -(recon + kl) (beta = 1), ``iw_nll`` (Burda et al. 2015, k = ``iw_k``
      importance samples; k * images decodes is the largest cost): VAEs only, else None.
    * ``bits_per_dim`` = -ELBO / (pixels * ln 2): only for a VAE on binarised pixels, the one
      case where it is a likelihood of discrete data; else None.
    * ``likelihood`` (a label), ``likelihood_kind`` (see ``likelihood_kind``),
      ``likelihood_note`` (``likelihood_note``'s line), ``sigma`` (the Gaussian's std or None).

    On the first ``n_images`` = min(``max_images``, available) images (codes need more):
    ``mse_per_pixel`` (of decode(mu), against the grey images), ``active_units`` (VAE, of
    ``latent_dim``), ``knn_accuracy`` (k = 5 on the codes; fitted on the train sample, or
    without one on the first half of the validation codes and tested on the second half; None
    without labels), ``mig`` (None without factors). Extra keys: ``kl_per_dim`` (list or
    None), ``latent_dim``, ``iw_images`` (= ``likelihood_images``). Deterministic by ``seed``.
    """
    from aevae_core.explore.analysis import active_mask

    x = np.ascontiguousarray(x_val[:max_images], np.float32)
    xt = torch.from_numpy(x.copy())  # x may be a read-only cached split
    n_lik = min(len(x), iw_max_images)
    x_lik = binarize_fixed(xt[:n_lik]) if config.binarize else xt[:n_lik]
    n_pixels = math.prod(x.shape[1:])
    with torch.no_grad():
        mu_all, _ = model.encode(xt)
        mse = (model.decode_images(mu_all) - xt).square().mean().item()
    terms = _model_terms(model, x_lik, config.recon, seed)
    recon = terms["recon_nats"]
    kind = likelihood_kind(config)
    floor = bernoulli_floor_per_image(x_lik).mean().item() if kind == "bce_grey" else None
    out: dict[str, Any] = {
        "likelihood": likelihood_label(config, model.sigma),
        "likelihood_kind": kind,
        "likelihood_note": likelihood_note(config, model.sigma, floor),
        "recon_nats": recon,
        "bce_floor": floor,
        "sigma": model.sigma,
        "mse_per_pixel": mse,
        "kl": None,
        "elbo": None,
        "iw_nll": None,
        "bits_per_dim": None,
        "active_units": None,
        "kl_per_dim": None,
        "latent_dim": model.latent_dim,
        "n_images": len(x),
        "likelihood_images": n_lik,
        "iw_images": n_lik,
    }
    mu = mu_all.numpy()
    if model.variational:
        kl = float(terms["kl_per_dim"].sum())
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            iw = [
                importance_weighted_nll(model, xb, k=iw_k, recon=config.recon)
                for xb in torch.split(x_lik, max(1, 4096 // max(iw_k, 1)))
            ]
        out.update(
            kl=kl, elbo=-(recon + kl), iw_nll=float(torch.cat(iw).mean()),
            active_units=int(active_mask(mu).sum()), kl_per_dim=terms["kl_per_dim"].tolist(),
        )  # fmt: skip
        if likelihood_is_discrete(config):
            out["bits_per_dim"] = (recon + kl) / (n_pixels * math.log(2))
    out["knn_accuracy"] = _knn(model, mu, y_val, x_train_sample, y_train_sample, len(x))
    out["mig"] = None
    if factors_val is not None:
        out["mig"] = mig_score(mu, np.asarray(factors_val[: len(x)]))
    return out


def _knn(
    model: Autoencoder,
    mu: np.ndarray,
    y_val: np.ndarray | None,
    x_train: np.ndarray | None,
    y_train: np.ndarray | None,
    n: int,
) -> float | None:
    if y_val is None:
        return None
    y = np.asarray(y_val[:n])
    if x_train is not None and y_train is not None and len(x_train) > 0:
        return knn_accuracy(encode(model, x_train)[0], y_train, mu, y)
    half = n // 2
    if half < 1:
        return None
    return knn_accuracy(mu[:half], y[:half], mu[half:], y[half:])
