"""Tests for aevae_core.explore.analysis: codes, reconstructions, traversals, interpolation, prior
samples, the manifold grid, active units, anomaly/compression reports, drawn images, and the
cached loaders on a real (tiny) run."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from aevae_core.config import TrainConfig
from aevae_core.explore import analysis as A
from aevae_core.explore import reports
from aevae_core.jobs.runner import execute_run
from aevae_core.model.checkpoint import save_checkpoint
from aevae_core.model.losses import active_units, kl_per_dim, reconstruction_per_image
from aevae_core.model.networks import build_model
from aevae_core.store.runs import RunStore

SHAPE = (1, 8, 8)


def tiny_model(variational: bool = True, latent_dim: int = 3):
    torch.manual_seed(0)
    config = TrainConfig(model="vae" if variational else "ae", latent_dim=latent_dim, hidden=(16,))
    return build_model(config, SHAPE).eval()


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).random((40, *SHAPE)).astype(np.float32)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A real two-epoch run on 300 digits, trained once for the module."""
    store = RunStore(tmp_path_factory.mktemp("runs"))
    config = TrainConfig(dataset="digits", max_samples=300, epochs=2, hidden=(32,), latent_dim=2)
    run_id = store.create_run(config, status="running")
    result = execute_run(store, run_id, stop=lambda: False)
    assert result is not None and result.status == "completed"
    return store, run_id


# -- running the model ------------------------------------------------------------------
@pytest.mark.parametrize("variational", [True, False])
def test_encode_shapes_and_logvar(images, variational):
    model = tiny_model(variational)
    mu, logvar = A.encode(model, images, batch=16)  # several batches
    assert mu.shape == (40, 3) and mu.dtype == np.float32
    assert (logvar is not None) == variational
    with torch.no_grad():
        expected = model.encode(torch.from_numpy(images))[0].numpy()
    np.testing.assert_allclose(mu, expected, rtol=1e-5, atol=1e-6)


def test_reconstruction_errors_match_losses(images):
    model = tiny_model()
    recons = A.reconstruct(model, images)
    assert recons.shape == images.shape and recons.min() >= 0 and recons.max() <= 1
    np.testing.assert_array_equal(recons, A.reconstruct(model, images))  # deterministic
    x = torch.from_numpy(images)
    with torch.no_grad():
        logits = model.decode(model.encode(x)[0])
    expected = reconstruction_per_image(logits, x, "bce").numpy()
    np.testing.assert_allclose(A.reconstruction_errors(model, images, "bce"), expected, rtol=1e-5)
    assert np.isnan(A.reconstruction_errors(model, images, "mse")).all()  # no Gaussian sigma
    torch.manual_seed(0)
    gaussian = build_model(TrainConfig(latent_dim=3, hidden=(16,), recon="mse", sigma=0.2), SHAPE)
    with torch.no_grad():
        g_logits = gaussian.eval().decode(gaussian.encode(x)[0])
    g_expected = reconstruction_per_image(g_logits, x, "mse", log_sigma=math.log(0.2)).numpy()
    np.testing.assert_allclose(
        A.reconstruction_errors(gaussian, images, "mse"), g_expected, rtol=1e-5
    )
    mse = A.mse_per_image(model, images)
    np.testing.assert_allclose(mse, ((recons - images) ** 2).reshape(40, -1).mean(1), rtol=1e-5)


def test_read_only_inputs_need_no_copy_by_the_caller(images, recwarn):
    frozen = images.copy()
    frozen.setflags(write=False)  # as load_split returns them
    model = tiny_model()
    np.testing.assert_array_equal(A.encode(model, frozen)[0], A.encode(model, images)[0])
    assert not [w for w in recwarn if "not writable" in str(w.message)]


def test_empty_inputs():
    model = tiny_model()
    empty = np.zeros((0, *SHAPE), np.float32)
    assert A.encode(model, empty)[0].shape == (0, 3)
    assert A.reconstruct(model, empty).shape == (0, *SHAPE)
    assert A.decode(model, np.zeros((0, 3))).shape == (0, *SHAPE)


def test_corrupt_images(images):
    for kind in ("gaussian", "mask"):
        a = reports.corrupt_images(images, 0.5, kind, seed=1)
        np.testing.assert_array_equal(a, reports.corrupt_images(images, 0.5, kind, seed=1))
        assert not np.array_equal(a, reports.corrupt_images(images, 0.5, kind, seed=2))
        assert a.shape == images.shape and a.min() >= 0 and a.max() <= 1
    np.testing.assert_array_equal(reports.corrupt_images(images, 0.0, "mask"), images)
    masked = reports.corrupt_images(np.ones((100, 1, 8, 8), np.float32), 0.3, "mask")
    assert 0.25 < (masked == 0).mean() < 0.35
    with pytest.raises(ValueError, match="noise_type"):
        reports.corrupt_images(images, 0.1, "salt")


# -- the latent space -------------------------------------------------------------------
def test_code_scale_and_dims_order():
    mu = np.array([[0.0, 1.0, 0.0], [0.0, -1.0, 2.0], [0.0, 1.0, -2.0]], np.float32)
    np.testing.assert_array_equal(A.code_scale(mu, variational=True), np.ones(3))
    scale = A.code_scale(mu, variational=False)
    np.testing.assert_allclose(scale[1:], mu.std(0)[1:], rtol=1e-6)
    assert scale[0] > 0  # a dead dimension still gets a positive unit
    assert A.dims_by_kl([0.1, 3.0, 1.0]) == [1, 2, 0]
    assert A.dims_by_kl(None, mu) == [2, 1, 0]
    with pytest.raises(ValueError):
        A.dims_by_kl(None)


def test_active_units_on_constructed_codes():
    rng = np.random.default_rng(0)
    mu = np.stack([rng.normal(0, 1, 500), rng.normal(0, 0.01, 500), np.full(500, 3.0)], 1)
    mask = A.active_mask(mu)
    np.testing.assert_array_equal(mask, [True, False, False])
    np.testing.assert_array_equal(mask, active_units(torch.from_numpy(mu)).numpy())


def test_kl_per_dimension(images):
    assert A.kl_per_dimension(tiny_model(False), images) is None
    model = tiny_model()
    mu, logvar = model.encode(torch.from_numpy(images))
    expected = kl_per_dim(mu, logvar).mean(0).detach().numpy()
    np.testing.assert_allclose(A.kl_per_dimension(model, images), expected, rtol=1e-5)


@pytest.mark.parametrize("n_steps", [5, 7])
def test_traversal_grid_shape_and_content(n_steps):
    model = tiny_model()
    z0 = np.array([0.5, -1.0, 0.2], np.float32)
    scale = np.array([1.0, 2.0, 0.5], np.float32)
    grid = A.traversal_grid(model, z0, [2, 0], n_steps=n_steps, span=3.0, scale=scale)
    assert grid.shape == (2, n_steps, *SHAPE)
    offsets = A.traversal_offsets(n_steps, 3.0)
    assert offsets[0] == -3.0 and offsets[-1] == 3.0
    z = np.repeat(z0[None], n_steps, 0)
    z[:, 2] = z0[2] + offsets * scale[2]
    np.testing.assert_allclose(grid[0], A.decode(model, z), atol=1e-6)
    np.testing.assert_allclose(grid[1, n_steps // 2], A.decode(model, z0[None])[0], atol=1e-6)


@pytest.mark.parametrize("method", ["linear", "slerp"])
def test_interpolation_endpoints_are_the_codes(method):
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=5).astype(np.float32), rng.normal(size=5).astype(np.float32)
    path = A.interpolate(a, b, 9, method)
    assert path.shape == (9, 5)
    np.testing.assert_array_equal(path[0], a)
    np.testing.assert_array_equal(path[-1], b)


def test_interpolation_linear_and_slerp_geometry():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    np.testing.assert_allclose(A.interpolate(a, b, 3, "linear")[1], [0.5, 0.5])
    slerp = A.interpolate(a, b, 5, "slerp")
    np.testing.assert_allclose(np.linalg.norm(slerp, axis=1), 1.0, atol=1e-6)  # on the circle
    np.testing.assert_allclose(slerp[2], [math.sqrt(0.5)] * 2, atol=1e-6)
    # degenerate cases fall back to linear
    for a, b in (([1.0, 1.0], [2.0, 2.0]), ([1.0, 0.0], [-1.0, 0.0]), ([0.0, 0.0], [1.0, 2.0])):
        np.testing.assert_allclose(
            A.interpolate(a, b, 4, "slerp"), A.interpolate(a, b, 4, "linear"), atol=1e-6
        )
    with pytest.raises(ValueError):
        A.interpolate(a, b, 1)
    with pytest.raises(ValueError):
        A.interpolate(a, b, 3, "cubic")


def test_prior_samples():
    model = tiny_model()
    s = A.prior_samples(model, 6, temperature=1.0, seed=4)
    assert s.shape == (6, *SHAPE)
    np.testing.assert_array_equal(s, A.prior_samples(model, 6, seed=4))
    cold = A.prior_samples(model, 3, temperature=0.0)
    np.testing.assert_allclose(cold, np.repeat(A.decode(model, np.zeros((1, 3))), 3, 0), atol=1e-6)
    z = A.prior_codes(20000, 2, temperature=0.5)
    assert abs(z.std() - 0.5) < 0.02


def test_manifold_grid_shape_and_orientation():
    model = tiny_model()
    n = 5
    grid = A.manifold_grid(model, n, dims=(0, 2), base=np.array([0.0, 0.7, 0.0]))
    assert grid.shape == (n, n, *SHAPE)
    q = A.manifold_axis(n)
    assert np.all(np.diff(q) > 0)
    np.testing.assert_allclose(q, -q[::-1], atol=1e-6)
    top_left = A.decode(model, np.array([[q[0], 0.7, q[-1]]]))[0]
    np.testing.assert_allclose(grid[0, 0], top_left, atol=1e-6)
    with pytest.raises(ValueError):
        A.manifold_grid(tiny_model(latent_dim=1), n)


def test_posterior_collapsed():
    assert A.posterior_collapsed(None, 0) is None  # an AE
    assert "collapse" in A.posterior_collapsed([0.01, 0.02], active=0).lower()
    assert A.posterior_collapsed([0.01, 0.02], active=1) is not None  # KL below 0.1 nats
    assert A.posterior_collapsed([3.0, 0.01], active=0) is not None
    assert A.posterior_collapsed([3.0, 0.01], active=1) is None


# -- reports -----------------------------------------------------------------------------
def test_anomaly_report_separated_scores():
    rep = reports.anomaly_report(np.linspace(0, 1, 50), np.linspace(2, 3, 30), threshold=1.5)
    assert rep["roc_auc"] == 1.0
    assert rep["precision"] == rep["recall"] == rep["f1"] == 1.0
    assert rep["false_positive_rate"] == 0.0
    assert rep["default_threshold"] == pytest.approx(np.percentile(np.linspace(0, 1, 50), 95))
    assert rep["fpr"][0] == 0 and rep["tpr"][-1] == 1 and len(rep["fpr"]) == len(rep["tpr"])
    none_flagged = reports.anomaly_report([0.0, 1.0], [2.0, 3.0], threshold=10)
    assert none_flagged["recall"] == 0.0 and none_flagged["precision"] == 0.0


def test_anomaly_report_counts_by_hand():
    # in: 1 2 3 4, out: 3.5 5 ; threshold 2.5 flags in {3,4} and out {3.5,5}
    rep = reports.anomaly_report([1, 2, 3, 4], [3.5, 5], threshold=2.5)
    assert rep["precision"] == 0.5 and rep["recall"] == 1.0
    assert rep["f1"] == pytest.approx(2 / 3)
    assert rep["roc_auc"] == pytest.approx(7 / 8)  # pairs (out > in): 3 + 4 of 8
    with pytest.raises(ValueError):
        reports.anomaly_report([], [1.0], 0.5)


def test_compression_report():
    rep = reports.compression_report((1, 28, 28), 2, 0.01)
    assert rep["image_bytes"] == 784 and rep["code_bytes_float32"] == 8
    assert rep["code_bytes_float16"] == 4 and rep["ratio_float32"] == 98.0
    assert rep["psnr_db"] == pytest.approx(20.0)
    assert reports.compression_report((3, 32, 32), 16, 0.0)["psnr_db"] == math.inf


def test_manifold_grid_of_an_ae_spans_its_codes_empirical_quantiles():
    # An AE's codes are not N(0, I): here std 2.4 around (3, -1), as the issue measured.
    model = tiny_model(variational=False, latent_dim=2)
    rng = np.random.default_rng(0)
    codes = (np.array([3.0, -1.0]) + 2.4 * rng.standard_normal((4000, 2))).astype(np.float32)
    n = 5
    probs = np.linspace(0.05, 0.95, n)
    qx, qy = (np.quantile(codes[:, k].astype(np.float64), probs) for k in (0, 1))
    np.testing.assert_allclose(A.manifold_axis(n, codes=codes[:, 0]), qx, rtol=1e-6)
    grid = A.manifold_grid(model, n, codes=codes)
    top_left = A.decode(model, np.array([[qx[0], qy[-1]]], np.float32))[0]
    bottom_right = A.decode(model, np.array([[qx[-1], qy[0]]], np.float32))[0]
    np.testing.assert_allclose(grid[0, 0], top_left, atol=1e-6)
    np.testing.assert_allclose(grid[-1, -1], bottom_right, atol=1e-6)
    # the grid covers the codes' 5%-95% range (about 3 +- 3.9), not the prior's +-1.64
    assert qx[0] < 3 - 3.5 and qx[-1] > 3 + 3.5
    prior = A.manifold_grid(model, n)
    assert not np.allclose(prior[0, 0], grid[0, 0], atol=1e-3)


def test_compression_counts_the_information_of_the_image_not_one_byte_per_pixel():
    # 8x8 digits have 17 grey levels: 64 * log2(17) bits = 32.7 bytes, not 64.
    rep = reports.compression_report((1, 8, 8), 32, 0.01, levels=17)
    assert rep["bits_per_value"] == pytest.approx(4.0875, abs=1e-4)
    assert rep["image_bytes"] == pytest.approx(64 * math.log2(17) / 8)
    assert rep["image_bytes"] == pytest.approx(32.70, abs=0.01) and rep["stored_bytes"] == 64
    # A 32-number float32 code is 128 bytes: 3.9x LARGER than the image, not "0.5x smaller".
    assert rep["code_bytes_float32"] == 128
    assert rep["ratio_float32"] == pytest.approx(32.70 / 128, abs=1e-3)
    assert reports.size_change(rep["ratio_float32"]) == "3.9x larger"
    assert reports.size_change(rep["ratio_float16"]) == "2.0x larger"  # 64 B vs 32.7 B
    small = reports.compression_report((1, 8, 8), 2, 0.01, levels=17)
    assert reports.size_change(small["ratio_float32"]) == "4.1x smaller"  # 32.7 B vs 8 B
    # MNIST: 256 levels, 8 bits, one byte per pixel; sprites: 2 levels, 1 bit per pixel.
    assert reports.compression_report((1, 28, 28), 20, 0.01, levels=256)["image_bytes"] == 784
    assert reports.compression_report((1, 32, 32), 8, 0.01, levels=2)["image_bytes"] == 128
    assert reports.size_change(1.0) == reports.size_change(1.04) == "about the same size"
    assert reports.size_change(2.0) == "2.0x smaller" and reports.size_change(0.5) == "2.0x larger"
    with pytest.raises(ValueError, match="levels"):
        reports.compression_report((1, 8, 8), 2, 0.01, levels=1)


def test_pixel_levels_of_the_datasets(digits_data):
    assert reports.pixel_levels(digits_data.train_x.numpy()) == 17  # 0..16 / 16
    x = A.load_split(TrainConfig(dataset="sprites", max_samples=200), "val", 100)[0]
    assert reports.pixel_levels(x) == 2
    assert reports.pixel_levels(np.arange(256, dtype=np.float32) / 255) == 256


def test_pixel_levels_of_mnist(shared_data_dir):
    from aevae_core.data.datasets import load_dataset

    data = load_dataset("mnist", data_dir=shared_data_dir, max_samples=1000, download=False)
    assert reports.pixel_levels(data.train_x.numpy()) == 256


def test_embed_image_inverts_a_light_canvas_and_resizes():
    canvas = np.full((280, 280), 255, np.uint8)
    canvas[60:220, 130:150] = 0  # a dark vertical stroke on white
    x = reports.embed_image(canvas, (1, 28, 28))
    assert x.shape == (1, 1, 28, 28) and x.dtype == np.float32
    assert x[0, 0, 0, 0] == 0.0 and x[0, 0, 14, 14] > 0.9  # light ink on a dark background
    dark = 255 - canvas  # already light on dark: unchanged polarity
    np.testing.assert_allclose(reports.embed_image(dark, (1, 28, 28)), x, atol=1e-6)


def test_embed_image_rgba_rgb_and_centering():
    rgba = np.zeros((100, 100, 4), np.uint8)  # a transparent canvas ...
    rgba[10:30, 10:30] = (0, 0, 0, 255)  # ... with black ink in a corner
    x = reports.embed_image(rgba, (1, 10, 10))
    assert x[0, 0, 2, 2] > 0.9 and x[0, 0, 8, 8] == 0.0
    centred = reports.embed_image(rgba, (1, 28, 28), center=True)[0, 0]
    rows, cols = np.nonzero(centred > 0.5)
    assert abs(rows.mean() - 13.5) < 1.5 and abs(cols.mean() - 13.5) < 1.5
    rgb = reports.embed_image(np.zeros((16, 16), np.float32), (3, 8, 8))
    assert rgb.shape == (1, 3, 8, 8)
    with pytest.raises(ValueError):
        reports.embed_image(np.zeros((4, 4, 2)), (1, 8, 8))


# -- loaders on a real run --------------------------------------------------------------
def test_load_model_cached_and_per_epoch(trained_run):
    store, run_id = trained_run
    model, config, epoch = A.load_model(store, run_id)
    assert epoch == 2 and not model.training and config.latent_dim == 2
    assert A.load_model(store, run_id)[0] is model  # cached
    assert A.load_model(store, run_id, epoch=1)[2] == 1  # the runner's epoch_0001.pt
    per_epoch = store.run_dir(run_id) / "checkpoints" / "epoch_0001.pt"
    per_epoch.unlink()
    assert A.load_model(store, run_id, epoch=1)[2] == 2  # the nearest one left: epoch 2
    save_checkpoint(per_epoch, model=model, optimizer=None, config=config, epoch=1, history=[])
    first, _, e1 = A.load_model(store, run_id, epoch=1)
    assert e1 == 1 and first is not model
    stat = per_epoch.stat()
    os.utime(per_epoch, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # rewritten file
    assert A.load_model(store, run_id, epoch=1)[0] is not first


def test_load_model_without_checkpoint(tmp_path):
    store = RunStore(tmp_path)
    run_id = store.create_run(TrainConfig(), status="queued")
    with pytest.raises(ValueError, match="no checkpoint"):
        A.load_model(store, run_id)


def test_load_split_matches_training_split(trained_run):
    store, run_id = trained_run
    config = store.config(run_id)
    x, y, factors, class_names, factor_names = A.load_split(config, "val")
    assert x.shape == (30, 1, 8, 8) and y.shape == (30,) and factors is None
    assert class_names == [str(d) for d in range(10)] and factor_names == []
    assert not x.flags.writeable
    assert A.load_split(config, "val")[0] is x  # cached
    capped = A.load_split(config, "train", max_images=50)[0]
    assert capped.shape == (50, 1, 8, 8)
    snap = store.read_snapshot(run_id, 2)
    model = A.load_model(store, run_id)[0]
    np.testing.assert_allclose(A.encode(model, x[snap["code_idx"]])[0], snap["codes"], atol=1e-5)
    with pytest.raises(ValueError):
        A.load_split(config, "test")
