"""aevae_core.model.losses: KL, reconstruction terms, the ELBO bundle and the IWAE bound."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from aevae_core.config import LEGACY_SIGMA, TrainConfig
from aevae_core.engine.evaluate import binarize_fixed
from aevae_core.engine.fit import fit
from aevae_core.model.losses import (
    SIGMA_MIN,
    active_units,
    bernoulli_floor_per_image,
    bits_per_dim,
    importance_weighted_nll,
    kl_per_dim,
    loss_terms,
    optimal_log_sigma,
    reconstruction_per_image,
    reconstruction_sum,
)
from aevae_core.model.networks import AEOutput, build_model

LOG_2PI = math.log(2 * math.pi)


def test_analytic_kl_matches_monte_carlo() -> None:
    gen = torch.Generator().manual_seed(0)
    mu = torch.tensor([0.0, 1.0, -2.0, 0.3], dtype=torch.float64)
    logvar = torch.tensor([0.0, -1.5, 1.0, 2.0], dtype=torch.float64)
    n = 400_000
    eps = torch.randn(n, 4, generator=gen, dtype=torch.float64)
    z = mu + torch.exp(0.5 * logvar) * eps
    log_q = -0.5 * (eps.square() + logvar + LOG_2PI)
    log_p = -0.5 * (z.square() + LOG_2PI)
    samples = log_q - log_p  # (n, 4): single-sample KL estimates per dimension
    mc = samples.mean(0)
    se = samples.std(0) / math.sqrt(n)
    analytic = kl_per_dim(mu.unsqueeze(0), logvar.unsqueeze(0))[0]
    assert analytic.shape == (4,)
    assert torch.all((analytic - mc).abs() < 4 * se + 1e-3), (analytic, mc, se)


def test_kl_is_zero_at_the_prior_and_positive_elsewhere() -> None:
    zero = kl_per_dim(torch.zeros(3, 5), torch.zeros(3, 5))
    assert zero.shape == (3, 5)
    assert torch.equal(zero, torch.zeros(3, 5))
    gen = torch.Generator().manual_seed(1)
    mu = torch.randn(1000, 8, generator=gen) * 5
    logvar = torch.empty(1000, 8).uniform_(-12, 8, generator=gen)
    kl = kl_per_dim(mu, logvar)
    assert torch.isfinite(kl).all()
    assert float(kl.min()) >= 0.0
    # Moving the mean or the variance away from N(0, 1) strictly increases the KL.
    assert float(kl_per_dim(torch.tensor([[0.1]]), torch.tensor([[0.0]]))) > 0
    assert float(kl_per_dim(torch.tensor([[0.0]]), torch.tensor([[0.1]]))) > 0


def test_kl_closed_form_values() -> None:
    # KL(N(mu, s^2) || N(0, 1)) = 0.5 * (mu^2 + s^2 - 1 - log s^2)
    got = kl_per_dim(torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, math.log(4.0)]]))
    expected = torch.tensor([[2.0, 0.5 * (4.0 - 1.0 - math.log(4.0))]])
    assert torch.allclose(got, expected)


def test_bce_per_image_matches_a_hand_computation() -> None:
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(4, 1, 3, 3, generator=gen, dtype=torch.float64) * 3
    target = torch.rand(4, 1, 3, 3, generator=gen, dtype=torch.float64)
    p = torch.sigmoid(logits)
    hand = -(target * torch.log(p) + (1 - target) * torch.log(1 - p)).flatten(1).sum(1)
    got = reconstruction_per_image(logits, target, "bce")
    assert got.shape == (4,)
    assert torch.allclose(got, hand, rtol=1e-10)
    assert torch.allclose(reconstruction_sum(logits, target, "bce"), hand.sum(), rtol=1e-10)


@pytest.mark.parametrize("sigma", [0.05, LEGACY_SIGMA, 2.0])
def test_gaussian_nll_is_the_normal_log_density(sigma: float) -> None:
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(3, 2, 2, 2, generator=gen, dtype=torch.float64)
    target = torch.rand(3, 2, 2, 2, generator=gen, dtype=torch.float64)
    normal = torch.distributions.Normal(torch.sigmoid(logits), sigma)
    reference = -normal.log_prob(target).flatten(1).sum(1)
    log_sigma = torch.tensor(math.log(sigma), dtype=torch.float64)
    got = reconstruction_per_image(logits, target, "mse", log_sigma=log_sigma)
    assert torch.allclose(got, reference, rtol=1e-12)
    assert torch.allclose(
        reconstruction_per_image(logits, target, "mse", log_sigma=math.log(sigma)), reference
    )
    total = reconstruction_sum(logits, target, "mse", log_sigma=log_sigma)
    assert torch.allclose(total, reference.sum(), rtol=1e-12)


def test_the_old_sse_loss_was_the_gaussian_with_variance_one_half_minus_a_constant() -> None:
    gen = torch.Generator().manual_seed(6)
    logits = torch.randn(5, 1, 8, 8, generator=gen, dtype=torch.float64)
    target = torch.rand(5, 1, 8, 8, generator=gen, dtype=torch.float64)
    sse = (torch.sigmoid(logits) - target).square().flatten(1).sum(1)
    nll = reconstruction_per_image(logits, target, "mse", log_sigma=math.log(LEGACY_SIGMA))
    # The dropped constant: D log sigma + (D/2) log 2 pi = (D/2) log pi = 36.6 nats for 8x8.
    assert torch.allclose(nll - sse, torch.full((5,), 32 * math.log(math.pi), dtype=torch.float64))
    assert 32 * math.log(math.pi) == pytest.approx(36.63, abs=0.01)


def test_the_gaussian_needs_a_sigma() -> None:
    with pytest.raises(ValueError, match="log_sigma"):
        reconstruction_per_image(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), "mse")


def test_optimal_sigma_is_the_root_mean_squared_error_and_maximises_the_likelihood() -> None:
    gen = torch.Generator().manual_seed(7)
    logits = torch.randn(16, 1, 8, 8, generator=gen, dtype=torch.float64)
    target = torch.rand(16, 1, 8, 8, generator=gen, dtype=torch.float64)
    mse = (torch.sigmoid(logits) - target).square().mean()
    best = optimal_log_sigma(logits, target)
    assert float(best.exp()) == pytest.approx(float(mse.sqrt()), rel=1e-12)
    at_best = reconstruction_sum(logits, target, "mse", log_sigma=best)
    for delta in (-0.1, -0.01, 0.01, 0.1):
        assert float(reconstruction_sum(logits, target, "mse", log_sigma=best + delta)) > float(
            at_best
        )
    perfect = optimal_log_sigma(torch.full((2, 1, 2, 2), 30.0), torch.ones(2, 1, 2, 2))
    assert float(perfect) == pytest.approx(math.log(SIGMA_MIN))  # clamped, not -inf


def test_bernoulli_floor_is_the_bce_of_a_perfect_reconstruction() -> None:
    x = torch.tensor([0.0, 1.0, 0.5, 0.25]).view(1, 1, 2, 2)
    floor = bernoulli_floor_per_image(x)
    entropy = math.log(2) - 0.25 * math.log(0.25) - 0.75 * math.log(0.75)
    assert float(floor) == pytest.approx(entropy)
    p = x.clamp(1e-7, 1 - 1e-7).double()
    perfect = reconstruction_per_image(torch.logit(p), x.double(), "bce")
    assert float(perfect) == pytest.approx(entropy, abs=1e-5)
    assert float(bernoulli_floor_per_image(torch.tensor([[[[0.0, 1.0]]]]))) == 0.0
    # Any other prediction costs more: BCE = H(x) + KL(Bern(x) || Bern(p)).
    worse = reconstruction_per_image(
        torch.zeros(1, 1, 2, 2, dtype=torch.float64), x.double(), "bce"
    )
    assert float(worse) > entropy


def test_bce_is_stable_for_huge_logits() -> None:
    logits = torch.tensor([[1e4, -1e4, 100.0, -100.0, 0.0]]).view(1, 1, 1, 5)
    target = torch.tensor([[1.0, 0.0, 0.0, 1.0, 1.0]]).view(1, 1, 1, 5)
    got = reconstruction_per_image(logits, target, "bce")
    assert torch.isfinite(got).all()
    # The right predictions cost ~0; each wrong one by 100 costs ~100 nats; logit 0 costs log 2.
    assert got.item() == pytest.approx(200.0 + math.log(2.0), rel=1e-5)
    grad_logits = logits.clone().requires_grad_(True)
    reconstruction_per_image(grad_logits, target, "bce").sum().backward()
    assert torch.isfinite(grad_logits.grad).all()


def _output(n: int = 4, d: int = 3, variational: bool = True) -> AEOutput:
    gen = torch.Generator().manual_seed(4)
    mu = torch.randn(n, d, generator=gen)
    logvar = torch.randn(n, d, generator=gen) if variational else None
    logits = torch.randn(n, 1, 4, 4, generator=gen)
    return AEOutput(logits=logits, z=mu, mu=mu, logvar=logvar)


def test_loss_terms_combine_recon_beta_kl_and_l1() -> None:
    out = _output()
    target = torch.rand(4, 1, 4, 4, generator=torch.Generator().manual_seed(5))
    recon = reconstruction_per_image(out.logits, target, "bce").sum()
    kl = kl_per_dim(out.mu, out.logvar).sum()
    terms = loss_terms(out, target, recon="bce", beta=2.5, l1_code=0.1)
    assert torch.allclose(terms.recon, recon)
    assert torch.allclose(terms.kl, kl)
    assert torch.allclose(terms.l1, 0.1 * out.mu.abs().sum())
    assert torch.allclose(terms.loss, recon + 2.5 * kl + 0.1 * out.mu.abs().sum())
    no_kl = loss_terms(out, target, recon="bce", beta=0.0)
    assert torch.allclose(no_kl.loss, recon) and float(no_kl.kl) > 0  # KL still reported


def test_loss_terms_of_an_autoencoder_have_no_kl() -> None:
    out = _output(variational=False)
    target = torch.rand(4, 1, 4, 4)
    terms = loss_terms(out, target, recon="mse", beta=4.0, log_sigma=-1.5)
    assert float(terms.kl) == 0.0 and float(terms.l1) == 0.0
    per_image = reconstruction_per_image(out.logits, target, "mse", log_sigma=-1.5)
    assert torch.allclose(terms.loss, per_image.sum())


def test_bits_per_dim_and_active_units() -> None:
    assert bits_per_dim(784 * math.log(2.0), 784) == pytest.approx(1.0)
    mu = torch.zeros(100, 3)
    mu[:, 1] = torch.linspace(-1, 1, 100)
    assert active_units(mu).tolist() == [False, True, False]
    assert active_units(mu[:1]).tolist() == [False, False, False]


# -- the importance-weighted bound ------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_vae(digits_data):
    config = TrainConfig(hidden=(64,), latent_dim=4, epochs=4, batch_size=64, lr=3e-3, threads=1)
    result = fit(config, digits_data)
    assert result.status == "completed"
    return result.model.eval(), digits_data.val_x[:64]


def _neg_elbo(model, x: torch.Tensor, samples: int, recon: str = "bce") -> torch.Tensor:
    """Analytic KL + Monte-Carlo reconstruction, per image."""
    log_sigma = model.log_sigma if recon == "mse" else None
    with torch.no_grad():
        mu, logvar = model.encode(x)
        kl = kl_per_dim(mu, logvar).sum(1)
        total = torch.zeros(x.shape[0])
        for _ in range(samples):
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            total += reconstruction_per_image(model.decode(z), x, recon, log_sigma=log_sigma)
    return total / samples + kl


@pytest.fixture(scope="module", params=["gaussian", "binarised"])
def likelihood_vae(request, digits_data):
    """A VAE with a true likelihood: Gaussian with learned sigma, or Bernoulli on 0/1 pixels."""
    extra = {"recon": "mse"} if request.param == "gaussian" else {"binarize": True}
    config = TrainConfig(
        hidden=(64,), latent_dim=4, epochs=4, batch_size=64, lr=3e-3, threads=1, **extra
    )
    result = fit(config, digits_data)
    assert result.status == "completed"
    x = digits_data.val_x[:64]
    if config.binarize:
        x = binarize_fixed(x)
    return result.model.eval(), x, config.recon


def test_iwae_is_below_the_negative_elbo_for_true_likelihoods(likelihood_vae) -> None:
    model, x, recon = likelihood_vae
    torch.manual_seed(2)
    neg_elbo = _neg_elbo(model, x, samples=200, recon=recon)
    iw50 = torch.stack([importance_weighted_nll(model, x, k=50, recon=recon) for _ in range(3)])
    assert torch.isfinite(iw50).all()
    assert float(iw50.mean()) < float(neg_elbo.mean())  # -log p(x) <= -ELBO on average
    if recon == "mse":  # a density: the shared sigma is the model's, and it was learned
        assert model.sigma is not None and model.sigma < 0.5
        torch.manual_seed(3)
        by_default = importance_weighted_nll(model, x, k=5)  # the model's own likelihood
        torch.manual_seed(3)
        assert torch.equal(by_default, importance_weighted_nll(model, x, k=5, recon="mse"))


def test_iwae_with_one_sample_is_the_elbo_in_expectation(trained_vae) -> None:
    model, x = trained_vae
    torch.manual_seed(0)
    repeats = 300
    draws = torch.stack([importance_weighted_nll(model, x, k=1) for _ in range(repeats)])
    assert draws.shape == (repeats, x.shape[0])
    estimate = draws.mean()
    se = draws.mean(1).std() / math.sqrt(repeats)
    reference = _neg_elbo(model, x, samples=300).mean()
    assert abs(float(estimate - reference)) < 5 * float(se) + 0.01 * float(reference)


def test_iwae_bound_tightens_with_more_samples(trained_vae) -> None:
    model, x = trained_vae
    torch.manual_seed(1)
    neg_elbo = _neg_elbo(model, x, samples=200)
    iw50 = torch.stack([importance_weighted_nll(model, x, k=50) for _ in range(5)]).mean(0)
    assert iw50.shape == neg_elbo.shape
    assert torch.isfinite(iw50).all()
    assert float(iw50.mean()) < float(neg_elbo.mean())  # -log p(x) <= -ELBO on average
    assert float(iw50.mean()) > 0.0  # a likelihood of binary-ish pixels is below 1


def test_iwae_needs_a_vae() -> None:
    model = build_model(TrainConfig(model="ae", hidden=(8,)), (1, 8, 8))
    with pytest.raises(ValueError, match="VAE"):
        importance_weighted_nll(model, torch.rand(2, 1, 8, 8))


def test_bce_gradient_matches_the_sigmoid_form() -> None:
    logits = torch.randn(2, 1, 2, 2, dtype=torch.float64, requires_grad=True)
    target = torch.rand(2, 1, 2, 2, dtype=torch.float64)
    reconstruction_per_image(logits, target, "bce").sum().backward()
    ref = logits.detach().clone().requires_grad_(True)
    F.binary_cross_entropy(torch.sigmoid(ref), target, reduction="sum").backward()
    assert torch.allclose(logits.grad, ref.grad)
