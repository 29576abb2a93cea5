"""Tests for aevae_core.presets: each classic setup is the network and training it claims."""

from __future__ import annotations

import pytest
from torch import nn

from aevae_core.config import ConfigError, TrainConfig, validate
from aevae_core.model.networks import build_model, count_parameters
from aevae_core.model.shapes import check_architecture
from aevae_core.presets import MNIST_SHAPE, PRESETS, get_preset

# The originals' own counts: pytorch/examples' VAE (fc1, fc21, fc22, fc3, fc4), Keras's
# model.summary() for its VAE example (encoder 69,076 + decoder 65,089), and the Keras blog's
# Dense(32) autoencoder (784*32 + 32 + 32*784 + 784).
EXPECTED = {"pytorch-examples": 652_824, "keras-conv": 134_165, "dense-ae": 50_992}


def test_the_three_classic_presets_exist_with_a_title_and_a_source() -> None:
    assert set(PRESETS) == set(EXPECTED)
    for key, preset in PRESETS.items():
        assert preset.key == key and preset.title and preset.source
        assert "\n" not in preset.source


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_each_preset_has_the_original_parameter_count_on_mnist(key: str) -> None:
    preset = get_preset(key)
    config = validate(preset.config)
    check_architecture(config, MNIST_SHAPE)
    model = build_model(config, MNIST_SHAPE)
    assert count_parameters(model) == preset.parameters == EXPECTED[key]


def test_pytorch_examples_preset_is_the_example() -> None:
    c = get_preset("pytorch-examples").config
    assert (c.dataset, c.model, c.arch, c.hidden, c.latent_dim) == (
        "mnist",
        "vae",
        "mlp",
        (400,),
        20,
    )
    assert (c.recon, c.optimizer, c.lr, c.batch_size, c.beta) == ("bce", "adam", 1e-3, 128, 1.0)


def test_keras_conv_preset_is_the_example() -> None:
    c = get_preset("keras-conv").config
    assert (c.arch, c.hidden, c.conv_dense, c.latent_dim, c.model) == (
        "conv",
        (32, 64),
        16,
        2,
        "vae",
    )
    assert (c.optimizer, c.lr, c.batch_size, c.epochs, c.recon) == ("adam", 1e-3, 128, 30, "bce")
    model = build_model(c, MNIST_SHAPE)
    strides = [m.stride for m in model.decoder if isinstance(m, nn.ConvTranspose2d)]
    assert strides == [(2, 2), (2, 2), (1, 1)]


def test_dense_ae_preset_is_one_dense_layer_each_way() -> None:
    c = get_preset("dense-ae").config
    assert (c.model, c.arch, c.hidden, c.latent_dim, c.recon) == ("ae", "mlp", (), 32, "bce")
    model = build_model(c, MNIST_SHAPE)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 32), (32, 784)]


def test_changes_lists_only_what_differs_from_the_defaults() -> None:
    changes = get_preset("keras-conv").changes()
    assert changes["conv_dense"] == 16 and changes["arch"] == "conv"
    assert "seed" not in changes and "lr" not in changes  # 1e-3 is already the default
    assert TrainConfig().replace(**changes) == get_preset("keras-conv").config


def test_an_unknown_preset_names_the_allowed_ones() -> None:
    with pytest.raises(ConfigError) as info:
        get_preset("keras")
    assert info.value.field == "preset"
    assert all(key in info.value.message for key in EXPECTED)
