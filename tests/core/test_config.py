"""Tests for aevae_core.config: validation messages, JSON round trip, parsing helpers."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from aevae_core.config import HELP, ConfigError, TrainConfig, parse_hidden, validate

# Every field with values that must be refused.
BAD_VALUES: dict[str, list] = {
    "dataset": ["imagenet", "", None, 3],
    "data_path": [None],  # with dataset "custom" (see the test)
    "max_samples": [-1, 1, 1.5, "10", True, 10**9],
    "val_fraction": [0.0, -0.1, 0.6, float("nan"), "0.1", None],
    "model": ["gan", "VAE", None],
    "arch": ["resnet", None],
    "latent_dim": [0, -1, 129, 2.0, "2", None, False],
    "hidden": [(0,), (-4,), (5000,), (8,) * 7, [32, 16], (8.5,), ("8",)],
    "beta": [-0.1, 1e4, float("nan"), float("inf"), "1", None],
    "kl_warmup": [-1, 1001, 0.5, None],
    "recon": ["l1", None],
    "binarize": [1, "yes", None],
    "sigma": [-0.1, 10.5, float("nan"), "1"],
    "conv_dense": [-1, 4097, 1.5, None],
    "l1_code": [-1.0, 101.0, float("nan")],
    "noise": [-0.1, 2.5, float("inf")],
    "noise_type": ["salt", None],
    "optimizer": ["rmsprop", "Adam", None],
    "lr": [0.0, -1.0, 101.0, float("nan"), float("-inf"), "1e-3", None, True],
    "momentum": [-0.1, 1.0, float("nan")],
    "weight_decay": [-0.01, 1.5, float("nan")],
    "batch_size": [0, -5, 65537, 32.0, None],
    "epochs": [0, -1, 10_001, 1.5, None],
    "seed": [-1, 2**31, 0.5, None],
    "device": ["tpu", "gpu", None],
    "threads": [-1, 257, 1.5],
    "precision": ["fp16", "BF16", None],
    "log_every": [0, -3, 100_001, None],
}


def test_every_field_has_bad_values_listed() -> None:
    assert set(BAD_VALUES) == {f.name for f in fields(TrainConfig)}


def test_defaults_are_valid() -> None:
    config = TrainConfig()
    assert validate(config) is config


@pytest.mark.parametrize(
    "name, value",
    [(name, value) for name, values in BAD_VALUES.items() for value in values],
    ids=lambda v: repr(v)[:20],
)
def test_bad_values_name_the_field(name: str, value) -> None:
    changes = {name: value}
    if name == "data_path":
        changes["dataset"] = "custom"
    with pytest.raises(ConfigError) as info:
        validate(TrainConfig(**changes))
    assert info.value.field == name
    assert str(info.value).startswith(f"{name}:")
    assert "allowed" in info.value.message or "needs" in info.value.message


def test_a_mask_noise_is_limited_below_one() -> None:
    validate(TrainConfig(noise=1.5, noise_type="gaussian"))
    with pytest.raises(ConfigError) as info:
        validate(TrainConfig(noise=1.0, noise_type="mask"))
    assert info.value.field == "noise"


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"model": "dae", "arch": "conv", "hidden": (16, 32), "noise": 0.4, "noise_type": "mask"},
        {"dataset": "custom", "data_path": "/tmp/images.npz", "hidden": ()},
        {"optimizer": "momentum", "momentum": 0.5, "lr": 0.1, "weight_decay": 1e-4},
        {"beta": 4.0, "kl_warmup": 3, "recon": "mse", "latent_dim": 128, "max_samples": 500},
    ],
)
def test_json_round_trip(changes) -> None:
    config = validate(TrainConfig(**changes))
    text = config.to_json()
    assert isinstance(json.loads(text)["hidden"], list)
    again = TrainConfig.from_json(text)
    assert again == config
    assert isinstance(again.hidden, tuple)
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({"lr": 0.01, "learning_rate": 0.01})
    assert info.value.field == "learning_rate"
    assert "allowed" in info.value.message and "lr" in info.value.message


def test_from_dict_accepts_a_partial_dict_and_a_hidden_string() -> None:
    config = TrainConfig.from_dict({"hidden": "64, 32", "epochs": 3})
    assert config.hidden == (64, 32) and config.epochs == 3 and config.lr == TrainConfig().lr


@pytest.mark.parametrize(
    "text, expected",
    [("256,128", (256, 128)), ("64 32", (64, 32)), (" 8 ", (8,)), ("", ()), ([4, 2.0], (4, 2))],
)
def test_parse_hidden(text, expected) -> None:
    assert parse_hidden(text) == expected


@pytest.mark.parametrize("value", ["12,x", "1.5", [1.5], ["a"], None, {"a": 1}])
def test_parse_hidden_refuses_non_integers(value) -> None:
    with pytest.raises(ConfigError) as info:
        parse_hidden(value)
    assert info.value.field == "hidden" and "allowed" in info.value.message


def test_config_is_frozen_and_replace_returns_a_copy() -> None:
    config = TrainConfig()
    with pytest.raises(AttributeError):
        config.lr = 0.1  # type: ignore[misc]
    other = config.replace(lr=0.1)
    assert other.lr == 0.1 and config.lr == TrainConfig().lr


def test_derived_properties() -> None:
    assert TrainConfig(model="vae").variational
    assert not TrainConfig(model="ae").variational and not TrainConfig(model="dae").variational
    assert TrainConfig(model="dae").effective_noise > 0  # a DAE always corrupts its input
    assert TrainConfig(model="dae", noise=0.1).effective_noise == 0.1
    assert TrainConfig(model="ae").effective_noise == 0.0


def test_every_field_has_a_help_line() -> None:
    for f in fields(TrainConfig):
        assert HELP.get(f.name, "").strip(), f.name
