"""The Train form's preset caption (its source and parameter count) describes the preset's
settings only: it shows while every field holds the preset's value, and goes once one is
edited (a changed epoch count, model kind or hidden size is no longer that preset)."""

from __future__ import annotations

import pytest
from app_helpers import by_label, no_exception, open_page, texts

from aevae_core.presets import PRESETS

TRAIN = "pages/train.py"


def _caption_shown(at, key: str) -> bool:
    return f"{PRESETS[key].parameters:,} parameters" in texts(at.caption)


@pytest.mark.parametrize(
    ("label", "kind", "value"),
    [("Epochs", "number_input", 3), ("Learning rate", "number_input", 0.01)],
)
def test_preset_caption_goes_once_a_field_is_edited(app_env, label, kind, value) -> None:
    key = next(iter(PRESETS))
    at = open_page(TRAIN)
    by_label(at.selectbox, "Preset").set_value(key).run()
    no_exception(at)
    assert _caption_shown(at, key)
    at.run()  # a rerun with nothing changed keeps it
    assert _caption_shown(at, key)
    widget = by_label(getattr(at, kind), label)
    original = widget.value
    assert original != value
    widget.set_value(value).run()
    no_exception(at)
    assert not _caption_shown(at, key), texts(at.caption)
    by_label(getattr(at, kind), label).set_value(original).run()  # back to the preset's value
    assert _caption_shown(at, key)


def test_preset_caption_goes_when_the_model_kind_changes(app_env) -> None:
    key = next(iter(PRESETS))
    at = open_page(TRAIN)
    by_label(at.selectbox, "Preset").set_value(key).run()
    assert _caption_shown(at, key)
    kind = by_label(at.selectbox, "Model")
    kind.set_value("AE" if kind.value != "AE" else "VAE").run()
    no_exception(at)
    assert not _caption_shown(at, key)
