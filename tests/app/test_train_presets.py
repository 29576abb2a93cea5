"""The Train form's presets and the settings that only apply to some models.

A preset fills every field it sets, so Start stores exactly the preset's config; binarize
shows only for the Bernoulli loss, sigma only for the Gaussian one, the dense layer only for
a conv net. The module's job manager never starts workers: runs stay queued for the checks.
"""

from __future__ import annotations

import pytest
from app_helpers import by_label, no_exception, open_page, texts

from aevae_core.config import TrainConfig
from aevae_core.presets import PRESETS

TRAIN = "pages/train.py"


@pytest.fixture(scope="module")
def env(app_env):
    return app_env


def start(at, env) -> TrainConfig:
    """Click Start and return the config of the one run it stored."""
    before = {r["id"] for r in env.store.list_runs()}
    button = by_label(at.button, "Start training")
    assert not button.disabled, texts(at.error)
    button.click().run()
    no_exception(at)
    (new,) = {r["id"] for r in env.store.list_runs()} - before
    return TrainConfig.from_json(env.store.get_run(new)["config"])


def labels(at) -> set[str]:
    return {w.label for w in (*at.number_input, *at.checkbox, *at.text_input, *at.selectbox)}


@pytest.mark.parametrize("key", list(PRESETS))
def test_a_preset_fills_every_field_and_start_stores_its_config(env, key) -> None:
    at = open_page(TRAIN)
    by_label(at.selectbox, "Preset").set_value(key).run()
    no_exception(at)
    preset = PRESETS[key]
    assert f"{preset.parameters:,} parameters" in texts(at.caption)
    assert by_label(at.selectbox, "Dataset").value == preset.config.dataset
    assert by_label(at.number_input, "Epochs").value == preset.config.epochs
    assert start(at, env) == preset.config


def test_keras_conv_preset_shows_its_conv_fields_and_a_flag_changed_after_it_sticks(env) -> None:
    at = open_page(TRAIN)
    by_label(at.selectbox, "Preset").set_value("keras-conv").run()
    assert by_label(at.selectbox, "Architecture").value == "conv"
    assert by_label(at.text_input, "Conv channels").value == "32,64"
    assert by_label(at.number_input, "Dense layer before the code (0 = none)").value == 16
    assert by_label(at.selectbox, "Model").value == "VAE"
    assert "134,165 parameters" in texts(at.caption)
    by_label(at.number_input, "Epochs").set_value(2).run()
    by_label(at.selectbox, "Dataset").set_value("digits").run()
    expected = PRESETS["keras-conv"].config.replace(epochs=2, dataset="digits")
    assert start(at, env) == expected


def test_binarize_only_for_bce_sigma_only_for_mse_dense_only_for_conv(env) -> None:
    at = open_page(TRAIN)
    shown = labels(at)
    assert "Binarise pixels (a true likelihood)" in shown
    assert "Decoder σ (0 = learned)" not in shown
    assert "Dense layer before the code (0 = none)" not in shown
    by_label(at.checkbox, "Binarise pixels (a true likelihood)").check().run()
    assert start(at, env).binarize is True

    at = open_page(TRAIN)
    by_label(at.selectbox, "Reconstruction loss").set_value("mse").run()
    shown = labels(at)
    assert "Decoder σ (0 = learned)" in shown
    assert "Binarise pixels (a true likelihood)" not in shown
    by_label(at.number_input, "Decoder σ (0 = learned)").set_value(0.25).run()
    config = start(at, env)
    assert (config.recon, config.sigma, config.binarize) == ("mse", 0.25, False)

    at = open_page(TRAIN)
    by_label(at.selectbox, "Architecture").set_value("conv").run()
    by_label(at.number_input, "Dense layer before the code (0 = none)").set_value(8).run()
    config = start(at, env)
    assert (config.arch, config.conv_dense, config.hidden) == ("conv", 8, (32, 64))
