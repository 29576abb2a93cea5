"""The Train page under bad input: every refusal is an st.error naming the setting.

Invalid values are driven through the form's widgets (text, numbers, choices, the file
uploader). Each must show an ``st.error`` naming the setting, raise nothing, keep Start
disabled and put no run in the store. The module's job manager never starts workers, so
a run that did reach the store would stay there, queued, for the tests to see.

Streamlit itself keeps a number input inside its min/max (AppTest, like a browser, cannot
send 0 to "Latent dimension" or click a disabled button); the page's own checks are about
what those widgets allow but a config does not.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from app_helpers import by_label, no_exception, open_page, texts
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from aevae_core.config import TrainConfig, parse_hidden
from aevae_core.engine import preflight

TRAIN = "pages/train.py"


@pytest.fixture(scope="module")
def env(app_env):
    return app_env


def run_ids(env) -> set[str]:
    return {r["id"] for r in env.store.list_runs()}


def start_button(at):
    return by_label(at.button, "Start training")


def assert_refused(at, setting: str | set[str], before: set[str], env) -> None:
    """An st.error naming ``setting`` (or one of them), no exception, Start disabled, nothing
    stored."""
    no_exception(at)
    errors = texts(at.error)
    settings_ = {setting} if isinstance(setting, str) else setting
    assert any(f"**{s}**" in errors for s in settings_), f"none of {settings_}: {errors!r}"
    assert start_button(at).disabled
    assert run_ids(env) == before, "a refused config must not reach the store"


@pytest.mark.parametrize(
    "text, words",
    [
        ("abc", ["'abc'", "allowed"]),
        ("0", ["0 is out of range", "allowed: 1 to 4096"]),
        ("12,x", ["'12,x'", "allowed"]),
        ("-5", ["out of range", "allowed"]),
        ("1e3", ["'1e3'", "allowed"]),
        ("5000", ["5000 is out of range", "allowed"]),
        ("8," * 7, ["7 layers", "at most 6"]),
        ("9" * 5000, ["'999", "...", "allowed"]),  # too long for Python's int(): shortened
    ],
    ids=lambda v: repr(v)[:20],
)
def test_bad_hidden_sizes(env, text, words) -> None:
    before = run_ids(env)
    at = open_page(TRAIN)
    by_label(at.text_input, "Hidden sizes").input(text).run()
    assert_refused(at, "hidden", before, env)
    for word in words:
        assert word in texts(at.error)
    assert len(texts(at.error)) < 300, "the message fits on a line whatever was typed"


def test_conv_without_channels(env) -> None:
    before = run_ids(env)
    at = open_page(TRAIN)
    by_label(at.selectbox, "Architecture").set_value("conv").run()
    by_label(at.text_input, "Conv channels").input(" ").run()
    assert_refused(at, "hidden", before, env)
    assert "conv net needs channels" in texts(at.error)


def test_one_image_cannot_be_split(env) -> None:
    before = run_ids(env)
    at = open_page(TRAIN)
    by_label(at.number_input, "Max images (0 = all)").set_value(1).run()
    assert_refused(at, "max_samples", before, env)
    assert "allowed: 0 (all) or 2 or more" in texts(at.error)
    by_label(at.number_input, "Max images (0 = all)").set_value(2).run()
    no_exception(at)
    assert not at.error and not start_button(at).disabled


def test_a_custom_dataset_without_a_file(env) -> None:
    before = run_ids(env)
    at = open_page(TRAIN)
    by_label(at.selectbox, "Dataset").set_value("custom").run()
    assert_refused(at, "data_path", before, env)
    assert "allowed: a folder of PNG/JPEG images or an .npz file" in texts(at.error)


def npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name, payload, words",
    [
        ("nan.npz", npz(x=np.full((3, 8, 8), np.nan, np.float32)), ["NaN", "allowed"]),
        ("text.npz", npz(x=np.full((3, 8, 8), "ab")), ["dtype", "allowed"]),
        ("pickle.npz", npz(x=np.array([np.zeros(3), "a"], dtype=object)), ["pickle"]),
        ("notes.npz", b"not a numpy file", ["'notes.npz' is not a valid .npz", "allowed"]),
        ("empty.npz", b"", ["'empty.npz' is empty", "allowed"]),
    ],
)
def test_a_bad_upload(env, name, payload, words) -> None:
    """The page's upload handler (save_upload) answers in an st.error; nothing is kept."""
    before = run_ids(env)
    at = open_page(TRAIN)
    by_label(at.selectbox, "Dataset").set_value("custom").run()
    at.file_uploader[0].set_value((name, payload, "application/octet-stream")).run()
    assert_refused(at, "upload", before, env)
    for word in words:
        assert word in texts(at.error)
    uploads = env.runs_dir / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir()), "a refused upload is not kept"


def test_a_good_upload_is_accepted(env) -> None:
    at = open_page(TRAIN)
    by_label(at.selectbox, "Dataset").set_value("custom").run()
    payload = npz(x=np.zeros((6, 8, 8), np.uint8), y=np.arange(6) % 2)
    at.file_uploader[0].set_value(("mine.npz", payload, "application/octet-stream")).run()
    no_exception(at)
    assert not at.error, texts(at.error)
    assert not start_button(at).disabled


def test_a_run_too_big_for_free_memory(env, monkeypatch) -> None:
    before = run_ids(env)
    at = open_page(TRAIN)
    # Patched after the page opened: the default config's check, cached for 30 s, must not
    # be the refused one (the tests that follow open the default config).
    monkeypatch.setattr(preflight, "free_memory", lambda device: 100 * 2**20)
    by_label(at.number_input, "Seed").set_value(424_242).run()  # a config not checked before
    assert_refused(at, {"batch_size", "hidden", "max_samples"}, before, env)
    assert "100 MiB of CPU memory is free" in texts(at.error)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu(env) -> None:
    before = run_ids(env)
    at = open_page(TRAIN)
    by_label(at.selectbox, "Device").set_value("cuda").run()
    assert_refused(at, "device", before, env)
    assert "allowed here: auto or cpu" in texts(at.error)


@pytest.mark.parametrize(
    "label, value", [("Latent dimension", 0), ("Batch size", 0), ("Epochs", 10_001)]
)
def test_streamlit_keeps_numbers_in_their_range(env, label, value) -> None:
    at = open_page(TRAIN)
    widget = by_label(at.number_input, label)
    old = widget.value
    widget.set_value(value).run()
    no_exception(at)
    assert by_label(at.number_input, label).value == old
    assert not at.error


# ----------------------------------------------------------------------------- property

FORM_FIELDS = ("hidden", "max_samples", "latent_dim", "batch_size", "epochs", "lr", "seed")


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    hidden=st.one_of(
        st.text(alphabet="0123456789, x-.", max_size=12),
        st.lists(st.integers(1, 64), max_size=3).map(lambda h: ",".join(map(str, h))),
    ),
    max_samples=st.one_of(st.integers(0, 5), st.integers(0, 1_000_000)),
    latent_dim=st.integers(1, 128),
    batch_size=st.one_of(st.integers(1, 300), st.just(65536)),
    epochs=st.integers(1, 10_000),
    lr=st.floats(1e-6, 100.0),
    arch=st.sampled_from(["mlp", "conv"]),
)
def test_any_form_input_is_accepted_or_explained(
    env, hidden, max_samples, latent_dim, batch_size, epochs, lr, arch
) -> None:
    """Start is enabled exactly when no error shows; an enabled Start stores a valid run."""
    before = run_ids(env)
    at = open_page(TRAIN)
    by_label(at.selectbox, "Architecture").set_value(arch).run()
    by_label(at.text_input, "Hidden sizes" if arch == "mlp" else "Conv channels").input(hidden)
    by_label(at.number_input, "Max images (0 = all)").set_value(max_samples)
    by_label(at.number_input, "Latent dimension").set_value(latent_dim)
    by_label(at.number_input, "Batch size").set_value(batch_size)
    by_label(at.number_input, "Epochs").set_value(epochs)
    by_label(at.number_input, "Learning rate").set_value(lr)
    at.run()
    no_exception(at)
    if at.error:
        named = [f for f in (*FORM_FIELDS, "channels") if f"**{f}**" in texts(at.error)]
        assert named, f"the error names no setting: {texts(at.error)!r}"
        event(f"refused: {named[0]}")
        assert start_button(at).disabled
        assert run_ids(env) == before
        return
    event("stored")
    assert not start_button(at).disabled
    start_button(at).click().run()
    no_exception(at)
    (new,) = run_ids(env) - before
    config = TrainConfig.from_json(env.store.get_run(new)["config"])
    assert config.hidden == parse_hidden(hidden)
    assert (config.max_samples, config.latent_dim, config.batch_size) == (
        max_samples,
        latent_dim,
        batch_size,
    )
    assert config.epochs == epochs and math.isclose(config.lr, lr, rel_tol=1e-9)
