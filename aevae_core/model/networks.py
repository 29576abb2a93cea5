"""Autoencoders: a deterministic AE and a VAE, each with an MLP or a convolutional body.

The method names follow the canonical PyTorch VAE example (``encode``, ``reparameterize``,
``decode``, ``forward``) so readers recognise them. The decoder returns *logits*; images are
``torch.sigmoid(logits)``. Both nets adapt to any image shape (C, H, W).

    model = build_model(config, shape=(1, 28, 28))
    out = model(x)            # AEOutput(logits, z, mu, logvar)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from aevae_core.config import TrainConfig
from aevae_core.model.shapes import check_architecture

# Bounds on log sigma^2: exp(-12) ~ 6e-6 and exp(8) ~ 3e3. Keeps exp() and the KL finite
# when the encoder briefly outputs extreme values early in training.
LOGVAR_MIN, LOGVAR_MAX = -12.0, 8.0


@dataclass
class AEOutput:
    logits: torch.Tensor  # (N, C, H, W), pre-sigmoid reconstruction
    z: torch.Tensor  # (N, D), the code fed to the decoder
    mu: torch.Tensor  # (N, D), the code mean (equals z for an AE)
    logvar: torch.Tensor | None  # (N, D) for a VAE, None for an AE


# ReLUs run in place: each follows a Linear or a convolution whose backward does not need its
# output, so this saves one activation-sized allocation and memory pass per layer and step.
def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class MLPBody:
    """Flatten -> hidden layers -> features; and the mirror image back to pixels."""

    def __init__(self, shape: tuple[int, int, int], hidden: tuple[int, ...]) -> None:
        self.shape = shape
        n_pixels = math.prod(shape)
        self.encoder = nn.Sequential(nn.Flatten(), *_relu_stack([n_pixels, *hidden]))
        self.features = hidden[-1] if hidden else n_pixels
        self.decoder_hidden = list(reversed(hidden))

    def make_decoder(self, latent_dim: int) -> nn.Module:
        sizes = [latent_dim, *self.decoder_hidden, math.prod(self.shape)]
        return nn.Sequential(_mlp(sizes), nn.Unflatten(1, self.shape))


def _relu_stack(sizes: list[int]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(n_in, n_out), nn.ReLU(inplace=True)]
    return layers


class ConvBody:
    """Stride-2 3x3 convolutions (each halves H and W, rounding up), then a linear layer.

    The decoder mirrors it with transposed convolutions whose ``output_padding`` restores
    each exact size, so odd sizes such as 7x7 round-trip.

    With ``dense > 0`` the net is the Keras VAE example's (keras.io/examples/generative/vae):
    the encoder adds Dense(dense) + ReLU after the flattened conv features; the decoder maps
    the code with Dense + ReLU to the conv features, runs one stride-2 transposed conv per
    encoder layer, *each* followed by ReLU and keeping the channel count of the layer it
    mirrors (64 -> 64 -> 32 for channels 32, 64), then a stride-1 transposed conv to the image
    channels. Keras's count for channels (32, 64), dense 16, a 2-D code on 28x28: 134,165.
    """

    def __init__(
        self, shape: tuple[int, int, int], channels: tuple[int, ...], dense: int = 0
    ) -> None:
        c, h, w = shape
        self.shape = shape
        self.channels = channels
        self.dense = dense
        self.sizes = [(h, w)]
        layers: list[nn.Module] = []
        n_in = c
        for n_out in channels:
            layers += [nn.Conv2d(n_in, n_out, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
            h, w = (h + 1) // 2, (w + 1) // 2
            self.sizes.append((h, w))
            n_in = n_out
        self.conv_features = channels[-1] * h * w
        if dense:
            layers += [nn.Flatten(), nn.Linear(self.conv_features, dense), nn.ReLU(inplace=True)]
            self.encoder = nn.Sequential(*layers)
        else:
            self.encoder = nn.Sequential(*layers, nn.Flatten())
        self.features = dense or self.conv_features

    def make_decoder(self, latent_dim: int) -> nn.Module:
        h, w = self.sizes[-1]
        layers: list[nn.Module] = [
            nn.Linear(latent_dim, self.conv_features),
            nn.ReLU(inplace=True),
            nn.Unflatten(1, (self.channels[-1], h, w)),
        ]
        if self.dense:  # Keras: every stride-2 layer keeps its mirror's width and has a ReLU
            outs, relu_last = list(reversed(self.channels)), True
        else:
            outs, relu_last = [*reversed(self.channels[:-1]), self.shape[0]], False
        n_in = self.channels[-1]
        for i, n_out in enumerate(outs):
            (h_in, w_in), (h_out, w_out) = self.sizes[-1 - i], self.sizes[-2 - i]
            pad = (h_out - (2 * h_in - 1), w_out - (2 * w_in - 1))
            layers.append(nn.ConvTranspose2d(n_in, n_out, 3, 2, 1, output_padding=pad))
            if relu_last or i < len(outs) - 1:
                layers.append(nn.ReLU(inplace=True))
            n_in = n_out
        if self.dense:  # Keras's final Conv2DTranspose(C, 3, padding="same"): stride 1
            layers.append(nn.ConvTranspose2d(n_in, self.shape[0], 3, 1, 1))
        return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    """AE (``variational=False``) or VAE (``variational=True``) around an MLP or conv body."""

    def __init__(
        self,
        shape: tuple[int, int, int],
        *,
        latent_dim: int = 2,
        hidden: tuple[int, ...] = (256, 128),
        arch: str = "mlp",
        conv_dense: int = 0,
        variational: bool = True,
        sigma: float | None = None,
    ) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.latent_dim = latent_dim
        self.variational = variational
        body = (
            MLPBody(self.shape, hidden)
            if arch == "mlp"
            else ConvBody(self.shape, hidden, conv_dense)
        )
        self.encoder = body.encoder
        self.to_mu = nn.Linear(body.features, latent_dim)
        self.to_logvar = nn.Linear(body.features, latent_dim) if variational else None
        self.decoder = body.make_decoder(latent_dim)
        # The Gaussian decoder's shared std (recon "mse"): ``sigma`` > 0 fixes it, 0 learns it
        # (Rybkin et al. 2021), None means a Bernoulli decoder. A buffer, not a Parameter: the
        # training loop sets it to its maximum-likelihood value (see engine/fit.py), which gradient
        # steps of size lr would take thousands of steps to reach; and it stays out of the
        # optimizer (one fused parameter group) and of the parameter count.
        self.learns_sigma = sigma == 0
        if sigma is None:
            self.register_buffer("log_sigma", None)
        else:
            self.register_buffer("log_sigma", torch.tensor(math.log(sigma) if sigma > 0 else 0.0))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.encoder(x)
        mu = self.to_mu(h)
        if self.to_logvar is None:
            return mu, None
        return mu, self.to_logvar(h).clamp(LOGVAR_MIN, LOGVAR_MAX)

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor | None) -> torch.Tensor:
        """z = mu + sigma * eps, eps ~ N(0, I) (Kingma & Welling 2014, section 2.4).

        Sampling only while training; in eval mode the mean is the code, so evaluation
        views (reconstructions, latent plots) are deterministic.
        """
        if logvar is None or not self.training:
            return mu
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> AEOutput:
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        return AEOutput(logits=self.decode(z), z=z, mu=mu, logvar=logvar)

    @property
    def sigma(self) -> float | None:
        """The Gaussian decoder's std (None for a Bernoulli decoder)."""
        return None if self.log_sigma is None else float(self.log_sigma.exp())

    @torch.no_grad()
    def decode_images(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (N, D) -> images (N, C, H, W) in [0, 1]."""
        return torch.sigmoid(self.decode(z))


def build_model(config: TrainConfig, shape: tuple[int, int, int]) -> Autoencoder:
    """The model a config describes, for images of ``shape``; ConfigError if it can't exist."""
    check_architecture(config, shape)
    hidden = tuple(config.hidden)
    return Autoencoder(
        shape,
        latent_dim=config.latent_dim,
        hidden=hidden,
        arch=config.arch,
        conv_dense=config.conv_dense,
        variational=config.variational,
        sigma=config.sigma if config.recon == "mse" else None,
    )


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
