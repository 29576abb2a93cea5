"""The layer shapes of a config's network, worked out without torch.

networks.py builds the network; this module says, from the same rules, what it will hold:
every layer's parameter count and output size per image. The memory pre-flight (preflight.py)
adds them up, and the CLI and the Train page check an architecture (``check_architecture``)
before a run is queued, all in a process that need not import torch (seconds).
tests/core/test_preflight.py checks the counts against the real modules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aevae_core.config import ConfigError, TrainConfig

MAX_CONV_CHANNELS = 512


@dataclass(frozen=True)
class Layer:
    """One layer with weights: its parameter count, its output values per image, and for a
    convolution the values per image of its im2col column buffer (what torch's CPU fp32
    kernels unfold the input into: C_in*3*3 per output pixel, or per input pixel of a
    transposed convolution, C_out*3*3)."""

    name: str
    parameters: int
    outputs: int
    columns: int = 0


def check_architecture(config: TrainConfig, shape: tuple[int, int, int]) -> None:
    """ConfigError when the config's network cannot be built for images of ``shape``.

    Cheap (no weights are allocated), so the CLI and the Train page can check a choice before
    a run is queued.
    """
    hidden = tuple(config.hidden)
    if config.arch == "conv":
        if not hidden:
            raise ConfigError(
                "hidden", "a conv net needs channels; allowed: 1 or more layers, e.g. 32,64"
            )
        if max(hidden) > MAX_CONV_CHANNELS:
            raise ConfigError(
                "hidden", f"{max(hidden)} channels; allowed: at most {MAX_CONV_CHANNELS} for conv"
            )
        min_side = min(shape[1:])
        if 2 ** len(hidden) > 2 * min_side:
            raise ConfigError(
                "hidden",
                f"{len(hidden)} conv layers shrink a {shape[1]}x{shape[2]} image below 1 pixel; "
                f"allowed: at most {max(1, int(math.log2(min_side)) + 1)} layers",
            )


def _linear(name: str, n_in: int, n_out: int) -> Layer:
    return Layer(name, n_in * n_out + n_out, n_out)


def _conv(name: str, n_in: int, n_out: int, size: tuple[int, int], columns: int) -> Layer:
    """A 3x3 Conv2d or ConvTranspose2d (same weight count) with ``size`` output pixels."""
    return Layer(name, 9 * n_in * n_out + n_out, n_out * size[0] * size[1], columns)


def _pairs(sizes: list[int]) -> list[tuple[int, int]]:
    return list(zip(sizes[:-1], sizes[1:], strict=True))


def _mlp_body(shape: tuple[int, int, int], hidden: tuple[int, ...], latent: int) -> tuple:
    """(encoder layers, features, decoder layers) of models.MLPBody."""
    sizes = [math.prod(shape), *hidden]
    back = [latent, *reversed(hidden), math.prod(shape)]
    encoder = [_linear(f"enc{i}", a, b) for i, (a, b) in enumerate(_pairs(sizes))]
    decoder = [_linear(f"dec{i}", a, b) for i, (a, b) in enumerate(_pairs(back))]
    return encoder, sizes[-1], decoder


def _conv_body(shape: tuple[int, int, int], channels: tuple[int, ...], dense: int, latent: int):
    """(encoder layers, features, decoder layers) of models.ConvBody (same size rules)."""
    c, h, w = shape
    sizes, encoder, n_in = [(h, w)], [], c
    for i, n_out in enumerate(channels):
        h, w = (h + 1) // 2, (w + 1) // 2  # stride 2, padding 1: halves, rounding up
        sizes.append((h, w))
        encoder.append(_conv(f"conv{i}", n_in, n_out, (h, w), 9 * n_in * h * w))
        n_in = n_out
    conv_features = channels[-1] * h * w
    if dense:
        encoder.append(_linear("dense", conv_features, dense))
    decoder = [_linear("dec_in", latent, conv_features)]
    outs = list(reversed(channels)) if dense else [*reversed(channels[:-1]), c]
    n_in = channels[-1]
    for i, n_out in enumerate(outs):
        (h_in, w_in), size = sizes[-1 - i], sizes[-2 - i]
        decoder.append(_conv(f"deconv{i}", n_in, n_out, size, 9 * n_out * h_in * w_in))
        n_in = n_out
    if dense:  # the Keras layout's last stride-1 transposed conv to the image channels
        decoder.append(_conv("deconv_out", n_in, c, sizes[0], 9 * c * math.prod(sizes[0])))
    return encoder, dense or conv_features, decoder


def network_layers(config: TrainConfig, shape: tuple[int, int, int]) -> list[Layer]:
    """Every layer with weights of ``build_model(config, shape)``, in forward order."""
    check_architecture(config, shape)
    hidden, latent = tuple(config.hidden), config.latent_dim
    if config.arch == "mlp":
        encoder, features, decoder = _mlp_body(shape, hidden, latent)
    else:
        encoder, features, decoder = _conv_body(shape, hidden, config.conv_dense, latent)
    heads = [_linear("to_mu", features, latent)]
    if config.variational:
        heads.append(_linear("to_logvar", features, latent))
    return [*encoder, *heads, *decoder]
