"""Tests for ``export`` (export.py, cli_export.py): the exported encoder and decoder compute
what the app computes (analysis.encode / analysis.decode), in each format's own runtime."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from aevae_core.cli import main
from aevae_core.config import TrainConfig
from aevae_core.explore import analysis
from aevae_core.export import ExportError, export_run, load_safetensors
from aevae_core.jobs.runner import execute_run
from aevae_core.model.networks import build_model
from aevae_core.store.runs import RunStore

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
REPO_ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-4  # the bound: |exported - app| per pixel / per code value
# A VAE with an MLP body and an AE with a conv body: both encoder outputs, both bodies, and
# both decoders (Bernoulli; Gaussian with a learned sigma, which the export's README states).
CONFIGS = {
    "mlp-vae": TrainConfig(dataset="digits", model="vae", latent_dim=3, hidden=(32,)),
    "conv-ae": TrainConfig(
        dataset="digits",
        model="ae",
        arch="conv",
        latent_dim=4,
        hidden=(8, 16),
        recon="mse",
        sigma=0,
    ),
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[RunStore, dict[str, str]]:
    """Two 2-epoch digits runs, trained in-process."""
    store = RunStore(tmp_path_factory.mktemp("export") / "runs")
    ids = {}
    for name, config in CONFIGS.items():
        run_id = store.create_run(
            config.replace(epochs=2, batch_size=64, threads=1), status="running"
        )
        execute_run(store, run_id)
        assert store.get_run(run_id)["status"] == "completed", store.get_run(run_id)["reason"]
        ids[name] = run_id
    return store, ids


def app_view(store: RunStore, run_id: str, epoch: int | None = None):
    """(model, validation images, codes to decode) as the app's pages have them."""
    model, config, _ = analysis.load_model(store, run_id, epoch)
    x = analysis.load_split(config, "val", max_images=37)[0]  # 37: not the traced batch of 2
    z = np.random.default_rng(0).normal(size=(37, model.latent_dim)).astype(np.float32)
    return model, np.array(x, dtype=np.float32), z  # a writable copy


@pytest.mark.parametrize("name", CONFIGS)
def test_onnx_decoder_and_encoder_match_the_app_within_1e4(trained, tmp_path, name) -> None:
    store, ids = trained
    model, x, z = app_view(store, ids[name])
    paths = export_run(store, ids[name], "onnx", tmp_path)
    assert {p.name for p in paths} == {"encoder.onnx", "decoder.onnx", "config.json", "README.md"}

    decoder = ort.InferenceSession(str(tmp_path / "decoder.onnx"))
    assert [i.name for i in decoder.get_inputs()] == ["z"]
    (x_hat,) = decoder.run(None, {"z": z})
    expected = analysis.decode(model, z)
    assert x_hat.shape == expected.shape == (37, *model.shape)
    assert np.abs(x_hat - expected).max() < TOL
    assert x_hat.min() >= 0.0 and x_hat.max() <= 1.0

    encoder = ort.InferenceSession(str(tmp_path / "encoder.onnx"))
    outputs = encoder.run(None, {"x": x})
    mu, logvar = analysis.encode(model, x)
    assert [o.name for o in encoder.get_outputs()] == (
        ["mu", "logvar"] if logvar is not None else ["mu"]
    )
    assert np.abs(outputs[0] - mu).max() < TOL
    if logvar is not None:
        assert np.abs(outputs[1] - logvar).max() < TOL
    # The run's config travels inside the ONNX file.
    meta = {p.key: p.value for p in onnx.load(tmp_path / "encoder.onnx").metadata_props}
    assert TrainConfig.from_json(meta["aevae_config"]).model == CONFIGS[name].model


@pytest.mark.parametrize("name", CONFIGS)
def test_safetensors_load_back_into_the_model_class_with_the_same_outputs(trained, tmp_path, name):
    store, ids = trained
    model, x, z = app_view(store, ids[name])
    export_run(store, ids[name], "safetensors", tmp_path)
    loaded = load_safetensors(tmp_path)
    assert type(loaded) is type(model)
    assert loaded.state_dict().keys() == model.state_dict().keys()
    np.testing.assert_array_equal(analysis.decode(loaded, z), analysis.decode(model, z))
    np.testing.assert_array_equal(analysis.encode(loaded, x)[0], analysis.encode(model, x)[0])
    # The encoder file holds no decoder weights and vice versa (log_sigma is the decoder's).
    from safetensors.torch import load_file

    assert not any(k.startswith("decoder.") for k in load_file(tmp_path / "encoder.safetensors"))
    decoder_keys = load_file(tmp_path / "decoder.safetensors")
    assert all(k.startswith("decoder.") or k == "log_sigma" for k in decoder_keys)


@pytest.mark.parametrize("name", CONFIGS)
def test_torchscript_loads_with_jit_load_and_matches(trained, tmp_path, name) -> None:
    store, ids = trained
    model, x, z = app_view(store, ids[name])
    export_run(store, ids[name], "torchscript", tmp_path)
    decoder = torch.jit.load(str(tmp_path / "decoder.pt"))
    encoder = torch.jit.load(str(tmp_path / "encoder.pt"))
    with torch.no_grad():
        x_hat = decoder(torch.from_numpy(z)).numpy()
        codes = encoder(torch.from_numpy(x))
    assert np.abs(x_hat - analysis.decode(model, z)).max() < TOL
    mu, logvar = analysis.encode(model, x)
    got_mu = codes[0] if logvar is not None else codes
    assert np.abs(got_mu.numpy() - mu).max() < TOL
    if logvar is not None:
        assert np.abs(codes[1].numpy() - logvar).max() < TOL


def test_readme_states_inputs_outputs_shapes_and_range(trained, tmp_path) -> None:
    store, ids = trained
    export_run(store, ids["mlp-vae"], "onnx", tmp_path)
    text = (tmp_path / "README.md").read_text()
    assert "(N, 1, 8, 8), pixel values in [0, 1]" in text
    assert "`mu` and `logvar`, float32 (N, 3) each" in text
    assert "sigma" not in text  # a Bernoulli decoder has no std
    assert "input `z`, float32 (N, 3)" in text
    saved = TrainConfig.from_json((tmp_path / "config.json").read_text())
    assert saved.latent_dim == 3 and saved.model == "vae"

    model, _, _ = analysis.load_model(store, ids["conv-ae"])
    export_run(store, ids["conv-ae"], "torchscript", tmp_path / "ae")
    text = (tmp_path / "ae" / "README.md").read_text()
    assert "`mu`, float32 (N, 4): the code (an AE)" in text and "logvar" not in text
    assert 0 < model.sigma < 1 and f"sigma = {model.sigma:.6g}" in text


def test_epoch_exports_that_epochs_weights(trained, tmp_path) -> None:
    store, ids = trained
    run_id = ids["mlp-vae"]
    export_run(store, run_id, "safetensors", tmp_path, epoch=1)
    first, _, loaded_epoch = analysis.load_model(store, run_id, 1)
    last, _, _ = analysis.load_model(store, run_id)
    assert loaded_epoch == 1
    got = load_safetensors(tmp_path).state_dict()
    assert all(torch.equal(got[k], v) for k, v in first.state_dict().items())
    assert not all(torch.equal(got[k], v) for k, v in last.state_dict().items())
    with pytest.raises(ExportError, match=r"no checkpoint of epoch 7; allowed: 1, 2"):
        export_run(store, run_id, "onnx", tmp_path, epoch=7)


def cli(capsys, *args: str) -> tuple[int, str, str]:
    try:
        code = main(["export", *args])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(err: str, *words: str) -> None:
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err


def test_bad_input_is_one_line_and_exit_2(trained, tmp_path, capsys) -> None:
    store, ids = trained
    runs = str(store.root)
    code, _, err = cli(
        capsys, "0123456789ab", "--format", "onnx", "--out", str(tmp_path), "--runs-dir", runs
    )
    assert code == 2
    assert_one_line(err, "RUN_ID", "runs list")

    code, _, err = cli(capsys, ids["mlp-vae"], "--format", "pickle", "--out", str(tmp_path))
    assert code == 2
    assert_one_line(err, "--format", "onnx", "safetensors", "torchscript")

    queued = store.create_run(CONFIGS["mlp-vae"], status="queued")
    code, _, err = cli(
        capsys, queued, "--format", "onnx", "--out", str(tmp_path), "--runs-dir", runs
    )
    assert code == 2
    assert_one_line(err, "no checkpoint yet")

    code, _, err = cli(
        capsys, ids["mlp-vae"], "--format", "onnx", "--out", str(tmp_path), "--epoch", "last"
    )
    assert code == 2
    assert_one_line(err, "--epoch", "allowed: an epoch")

    code, _, err = cli(
        capsys,
        ids["mlp-vae"],
        "--format",
        "onnx",
        "--out",
        str(tmp_path),
        "--epoch",
        "9",
        "--runs-dir",
        runs,
    )
    assert code == 2
    assert_one_line(err, "--epoch", "allowed: 1, 2")

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = str(blocker / "sub")
    code, _, err = cli(
        capsys, ids["conv-ae"], "--format", "torchscript", "--out", out, "--runs-dir", runs
    )
    assert code == 2
    assert_one_line(err, "--out", "a folder you can write to")


def test_a_missing_package_names_the_pip_install(trained, tmp_path, capsys, monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "safetensors" else real(name, *a),
    )
    store, ids = trained
    args = ("--format", "safetensors", "--out", str(tmp_path), "--runs-dir", str(store.root))
    code, _, err = cli(capsys, ids["mlp-vae"], *args)
    assert code == 2
    assert_one_line(err, "--format", "python -m pip install safetensors")
    assert not list(tmp_path.iterdir())


def test_the_command_line_writes_the_files(trained, tmp_path) -> None:
    """The real ``python -m aevae_core export`` in a subprocess; its stdout lists the files."""
    store, ids = trained
    env = dict(os.environ, AEVAE_RUNS_DIR=str(store.root))
    proc = subprocess.run(
        [sys.executable, "-m", "aevae_core", "export", ids["conv-ae"], "--format", "onnx",
         "--out", str(tmp_path / "out")],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    written = [Path(line) for line in proc.stdout.split()]
    assert sorted(p.name for p in written) == [
        "README.md",
        "config.json",
        "decoder.onnx",
        "encoder.onnx",
    ]
    assert all(p.stat().st_size > 0 for p in written)
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert build_model(TrainConfig.from_json(json.dumps(config)), (1, 8, 8)).latent_dim == 4
