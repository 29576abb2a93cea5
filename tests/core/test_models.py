"""Tests for aevae_core.model.networks (shapes, sizes, modes) and aevae_core.model.checkpoint."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from aevae_core.config import ConfigError, TrainConfig
from aevae_core.model.checkpoint import (
    CheckpointError,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from aevae_core.model.networks import (
    LOGVAR_MAX,
    LOGVAR_MIN,
    AEOutput,
    Autoencoder,
    build_model,
    count_parameters,
)

SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32), (1, 7, 7), (3, 5, 9)]
MODELS = ["ae", "vae", "dae"]
ARCHS = ["mlp", "conv"]


def make(model: str = "vae", arch: str = "mlp", shape=(1, 8, 8), **kw) -> Autoencoder:
    hidden = kw.pop("hidden", (16, 8) if arch == "mlp" else (4, 8))
    config = TrainConfig(model=model, arch=arch, hidden=hidden, **kw)
    torch.manual_seed(0)
    return build_model(config, shape)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("model_name", MODELS)
def test_output_shapes(model_name: str, arch: str, shape: tuple[int, int, int]) -> None:
    model = make(model_name, arch, shape, latent_dim=3)
    x = torch.rand(5, *shape)
    out = model(x)
    assert isinstance(out, AEOutput)
    assert out.logits.shape == x.shape
    assert out.mu.shape == (5, 3) and out.z.shape == (5, 3)
    if model_name == "vae":
        assert model.variational
        assert out.logvar is not None and out.logvar.shape == (5, 3)
    else:
        assert not model.variational and out.logvar is None
        assert torch.equal(out.z, out.mu)
    images = model.decode_images(out.mu)
    assert images.shape == x.shape
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    assert model.shape == shape and model.latent_dim == 3


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("latent_dim", [1, 128])
def test_extreme_latent_sizes(arch: str, latent_dim: int) -> None:
    model = make("vae", arch, (1, 28, 28), latent_dim=latent_dim)
    out = model(torch.rand(4, 1, 28, 28))
    assert out.mu.shape == (4, latent_dim) and out.logvar.shape == (4, latent_dim)
    assert model.decode(torch.zeros(2, latent_dim)).shape == (2, 1, 28, 28)


@pytest.mark.parametrize("hidden", [(), (7,), (32, 16, 8)])
def test_mlp_hidden_sizes_are_configurable(hidden: tuple[int, ...]) -> None:
    model = make("ae", "mlp", (1, 8, 8), hidden=hidden, latent_dim=2)
    enc = [m.out_features for m in model.encoder if isinstance(m, nn.Linear)]
    dec = [m.out_features for m in model.decoder.modules() if isinstance(m, nn.Linear)]
    assert enc == list(hidden)
    assert dec == [*reversed(hidden), 64]  # the decoder mirrors the encoder
    assert model.to_mu.in_features == (hidden[-1] if hidden else 64)


def test_conv_channels_are_configurable() -> None:
    model = make("vae", "conv", (1, 28, 28), hidden=(4, 8, 16))
    convs = [m.out_channels for m in model.encoder if isinstance(m, nn.Conv2d)]
    assert convs == [4, 8, 16]
    deconvs = [m.out_channels for m in model.decoder if isinstance(m, nn.ConvTranspose2d)]
    assert deconvs == [8, 4, 1]


def test_parameter_count_of_the_classic_mnist_vae() -> None:
    """784-400-20 as in the PyTorch example: fc1, fc21, fc22, fc3, fc4."""
    model = make("vae", "mlp", (1, 28, 28), hidden=(400,), latent_dim=20)
    expected = (784 * 400 + 400) + 2 * (400 * 20 + 20) + (20 * 400 + 400) + (400 * 784 + 784)
    assert count_parameters(model) == expected


def keras_conv(shape=(1, 28, 28), model: str = "vae", **kw) -> Autoencoder:
    """The Keras VAE example's net (keras.io/examples/generative/vae)."""
    kw = {"hidden": (32, 64), "latent_dim": 2, "conv_dense": 16, **kw}
    return make(model, "conv", shape, **kw)


def test_conv_dense_follows_the_keras_vae_example_and_its_parameter_count() -> None:
    model = keras_conv()
    assert count_parameters(model) == 134_165  # Keras's model.summary(): 69,076 + 65,089
    assert count_parameters(model.encoder) + 2 * (16 * 2 + 2) == 69_076
    assert count_parameters(model.decoder) == 65_089
    dense = [(m.in_features, m.out_features) for m in model.encoder if isinstance(m, nn.Linear)]
    assert dense == [(7 * 7 * 64, 16)]
    deconvs = [m for m in model.decoder if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels) for m in deconvs] == [(64, 64), (64, 32), (32, 1)]
    assert [m.stride for m in deconvs] == [(2, 2), (2, 2), (1, 1)]
    # Keras puts a ReLU after every hidden layer and none on the logits.
    kinds = [type(m) for m in model.decoder]
    assert kinds.count(nn.ReLU) == 3 and not isinstance(model.decoder[-1], nn.ReLU)
    assert isinstance(model.encoder[-1], nn.ReLU)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("model_name", MODELS)
def test_conv_dense_round_trips_every_shape(model_name: str, shape) -> None:
    model = keras_conv(shape, model_name, hidden=(4, 8), conv_dense=5)
    assert model.variational == (model_name == "vae")
    x = torch.rand(3, *shape)
    out = model(x)
    assert out.logits.shape == x.shape and out.mu.shape == (3, 2)


@pytest.mark.parametrize("shape, layers", [((1, 8, 8), 4), ((1, 7, 7), 3), ((3, 5, 9), 3)])
def test_conv_dense_at_the_layer_limit_still_round_trips(shape, layers: int) -> None:
    model = keras_conv(shape, hidden=tuple([4] * layers), conv_dense=3)
    x = torch.rand(2, *shape)
    assert model(x).logits.shape == x.shape


def test_conv_dense_zero_keeps_the_plain_conv_net() -> None:
    """Checkpoints of earlier conv runs must still load: conv_dense=0 is the old net."""
    plain, dense = make("vae", "conv", (1, 28, 28)), keras_conv(hidden=(4, 8), conv_dense=0)
    assert [type(m) for m in plain.encoder] == [type(m) for m in dense.encoder]
    assert list(plain.state_dict()) == list(dense.state_dict())
    assert count_parameters(keras_conv(conv_dense=0)) < 134_165


def test_conv_dense_every_parameter_gets_a_gradient_and_preflight_counts_it() -> None:
    from aevae_core.engine.preflight import estimate_memory

    model = keras_conv((1, 8, 8), hidden=(4, 8), conv_dense=6)
    out = model(torch.rand(4, 1, 8, 8))
    (out.logits.sum() + out.logvar.sum()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    config = TrainConfig(arch="conv", hidden=(32, 64), latent_dim=2, conv_dense=16)
    estimate = estimate_memory(config, (1, 28, 28), 1000)
    assert estimate.parameters == 134_165
    assert estimate.weights_bytes == 134_165 * 4 * 4  # weights, grads, Adam's two moments


@pytest.mark.parametrize(
    "shape, layers", [((1, 8, 8), 5), ((1, 7, 7), 4), ((3, 5, 9), 4), ((1, 28, 28), 6)]
)
def test_conv_with_too_many_layers_for_the_image_is_refused(shape, layers: int) -> None:
    config = TrainConfig(arch="conv", hidden=tuple([4] * layers))
    with pytest.raises(ConfigError) as info:
        build_model(config, shape)
    assert info.value.field == "hidden"
    assert "allowed" in info.value.message


@pytest.mark.parametrize("shape, layers", [((1, 8, 8), 4), ((1, 7, 7), 3), ((3, 5, 9), 3)])
def test_conv_at_the_layer_limit_still_round_trips(shape, layers: int) -> None:
    model = build_model(TrainConfig(arch="conv", hidden=tuple([4] * layers)), shape)
    x = torch.rand(2, *shape)
    assert model(x).logits.shape == x.shape


def test_conv_without_layers_or_with_too_many_channels_is_refused() -> None:
    with pytest.raises(ConfigError, match="hidden"):
        build_model(TrainConfig(arch="conv", hidden=()), (1, 8, 8))
    with pytest.raises(ConfigError, match="allowed"):
        build_model(TrainConfig(arch="conv", hidden=(1024,)), (1, 8, 8))


def test_vae_samples_in_training_and_uses_the_mean_in_eval() -> None:
    model = make("vae", "mlp", (1, 8, 8), latent_dim=4)
    x = torch.rand(6, 1, 8, 8)
    model.train()
    out = model(x)
    assert not torch.allclose(out.z, out.mu)
    model.eval()
    out1, out2 = model(x), model(x)
    assert torch.equal(out1.z, out1.mu)
    assert torch.equal(out1.logits, out2.logits)


def test_reparameterize_has_the_right_moments() -> None:
    model = make("vae", latent_dim=2).train()
    mu = torch.tensor([[1.5, -2.0]]).expand(200_000, 2)
    logvar = torch.tensor([[math.log(0.25), math.log(4.0)]]).expand(200_000, 2)
    torch.manual_seed(1)
    z = model.reparameterize(mu, logvar)
    assert torch.allclose(z.mean(0), torch.tensor([1.5, -2.0]), atol=0.02)
    assert torch.allclose(z.std(0), torch.tensor([0.5, 2.0]), rtol=0.02)


def test_logvar_is_clamped() -> None:
    model = make("vae", latent_dim=2)
    with torch.no_grad():
        model.to_logvar.bias.fill_(1e4)
        _, logvar = model.encode(torch.rand(3, 1, 8, 8))
        assert float(logvar.max()) <= LOGVAR_MAX
        model.to_logvar.bias.fill_(-1e4)
        _, logvar = model.encode(torch.rand(3, 1, 8, 8))
        assert float(logvar.min()) >= LOGVAR_MIN


@pytest.mark.parametrize("arch", ARCHS)
def test_every_parameter_gets_a_gradient(arch: str) -> None:
    model = make("vae", arch, (1, 8, 8))
    out = model(torch.rand(4, 1, 8, 8))
    (out.logits.sum() + out.logvar.sum()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


# -- checkpoints ----------------------------------------------------------------------------


@pytest.mark.parametrize("model_name, arch", [("vae", "mlp"), ("ae", "conv"), ("dae", "mlp")])
def test_checkpoint_round_trip_gives_identical_outputs(tmp_path, model_name, arch) -> None:
    config = TrainConfig(model=model_name, arch=arch, hidden=(8, 4), latent_dim=3)
    torch.manual_seed(3)
    model = build_model(config, (1, 8, 8))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.rand(4, 1, 8, 8)).logits.sum().backward()
    optimizer.step()
    history = [{"epoch": 1, "val_loss": 12.5, "bad": float("nan")}]
    path = tmp_path / "latest.pt"
    save_checkpoint(path, model=model, optimizer=optimizer, config=config, epoch=1, history=history)

    raw = torch.load(path, map_location="cpu", weights_only=True)  # loads without pickled code
    ckpt = load_checkpoint(path)
    assert ckpt["epoch"] == raw["epoch"] == 1
    assert ckpt["history"] == [{"epoch": 1, "val_loss": 12.5}]  # non-finite values dropped
    assert ckpt["optimizer"]["state"]  # the optimizer moments are kept for resuming
    restored, restored_config = model_from_checkpoint(ckpt)
    assert restored_config == config
    assert not restored.training
    model.eval()
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        a, b = model(x), restored(x)
    assert torch.equal(a.logits, b.logits) and torch.equal(a.mu, b.mu)
    assert [f.name for f in tmp_path.iterdir()] == ["latest.pt"]  # no temp file left behind


def test_checkpoint_refuses_nan_weights(tmp_path) -> None:
    config = TrainConfig(hidden=(8,))
    model = build_model(config, (1, 8, 8))
    with torch.no_grad():
        model.to_mu.weight[0, 0] = float("nan")
    path = tmp_path / "latest.pt"
    with pytest.raises(CheckpointError):
        save_checkpoint(path, model=model, optimizer=None, config=config, epoch=1, history=[])
    assert not path.exists()


def test_checkpoint_refusal_keeps_the_previous_file(tmp_path) -> None:
    config = TrainConfig(hidden=(8,))
    model = build_model(config, (1, 8, 8))
    path = tmp_path / "latest.pt"
    save_checkpoint(path, model=model, optimizer=None, config=config, epoch=1, history=[])
    before = path.read_bytes()
    with torch.no_grad():
        model.to_mu.bias.fill_(float("inf"))
    with pytest.raises(CheckpointError):
        save_checkpoint(path, model=model, optimizer=None, config=config, epoch=2, history=[])
    assert path.read_bytes() == before
    assert load_checkpoint(path)["epoch"] == 1


def test_loading_a_missing_or_corrupt_checkpoint_raises(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be loaded"):
        load_checkpoint(bad)
