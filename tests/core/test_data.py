"""Tests for aevae_core.data.datasets: built-in datasets, splits, MNIST files, user images."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aevae_core.data.arrays import default_data_dir
from aevae_core.data.datasets import load_dataset
from aevae_core.data.registry import DATASET_INFO, DATASET_NAMES, DatasetError
from aevae_core.data.sprites import (
    ROTATION_PERIODS,
    SPRITE_SHAPES,
    generate_sprites,
    render_sprites,
)
from aevae_core.data.user_images import load_images
from aevae_core.explore.metrics import mig_score

SHARED_DATA = Path(
    os.environ.get("AEVAE_TEST_DATA_DIR") or Path(__file__).resolve().parents[3] / "shared" / "data"
)
HAS_MNIST_TEST = (SHARED_DATA / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz").exists()


def assert_images(x: torch.Tensor, shape: tuple[int, int, int]) -> None:
    assert x.dtype == torch.float32 and x.is_contiguous()
    assert tuple(x.shape[1:]) == shape
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0


def image_counts(x: torch.Tensor) -> Counter:
    """Images as a multiset of their bytes, to compare splits across loads."""
    return Counter(row.numpy().tobytes() for row in x.flatten(1))


# ----------------------------------------------------------------------------- registry


def test_registry_is_consistent():
    assert set(DATASET_INFO) == set(DATASET_NAMES)
    for name, info in DATASET_INFO.items():
        assert {"title", "description", "shape", "size", "download"} <= set(info), name
    assert DATASET_INFO["custom"]["shape"] is None


def test_import_is_light():
    """The web app imports this module: no torchvision, sklearn, PIL or streamlit at import."""
    code = (
        "import sys, aevae_core.data.datasets; "
        "print([m for m in ('torchvision', 'sklearn', 'PIL', 'streamlit') if m in sys.modules])"
    )
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_unknown_name_lists_allowed():
    with pytest.raises(DatasetError, match="imagenet") as err:
        load_dataset("imagenet")
    assert "digits" in str(err.value) and "sprites" in str(err.value)


@pytest.mark.parametrize("fraction", [0.0, -0.1, 0.6, 1.0])
def test_bad_val_fraction(fraction):
    with pytest.raises(DatasetError, match="val_fraction"):
        load_dataset("digits", val_fraction=fraction)


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("AEVAE_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path.resolve()
    monkeypatch.delenv("AEVAE_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    assert default_data_dir() == (tmp_path / "data").resolve()


# ----------------------------------------------------------------------------- digits


def test_digits_shapes_and_labels():
    data = load_dataset("digits", seed=0, val_fraction=0.1)
    assert data.shape == (1, 8, 8) and data.n_pixels == 64
    assert_images(data.train_x, (1, 8, 8))
    assert len(data.train_x) + len(data.val_x) == 1797
    assert len(data.val_x) == round(1797 * 0.1)
    assert data.class_names == [str(d) for d in range(10)]
    labels = torch.cat([data.train_y, data.val_y])
    assert labels.dtype == torch.int64 and set(labels.tolist()) == set(range(10))
    assert float(data.train_x.max()) == 1.0  # 16/16 occurs


def test_split_deterministic_and_disjoint():
    a, b = load_dataset("digits", seed=3), load_dataset("digits", seed=3)
    c = load_dataset("digits", seed=4)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.val_y, b.val_y)
    assert not torch.equal(a.val_x, c.val_x)
    # train and val partition the whole set: together they are every image exactly once
    whole = load_dataset("digits", val_fraction=0.5)
    assert image_counts(a.train_x) + image_counts(a.val_x) == image_counts(
        whole.train_x
    ) + image_counts(whole.val_x)


def test_sprites_split_disjoint():
    data = load_dataset("sprites", max_samples=600, val_fraction=0.25, seed=9)
    rows = lambda f: {tuple(r) for r in f.tolist()}  # noqa: E731
    train, val = rows(data.train_factors), rows(data.val_factors)
    assert len(train) == 450 and len(val) == 150 and not train & val


def test_returned_tensors_are_fresh():
    a = load_dataset("digits")
    a.train_x.zero_()
    assert float(load_dataset("digits").train_x.max()) == 1.0


@pytest.mark.parametrize("max_samples", [2, 100, 1797, 5000])
def test_max_samples_caps(max_samples):
    data = load_dataset("digits", max_samples=max_samples, val_fraction=0.2)
    total = min(max_samples, 1797)
    assert len(data.train_x) + len(data.val_x) == total
    assert len(data.val_x) == max(1, round(total * 0.2))
    assert len(data.train_x) >= 1


# ----------------------------------------------------------------------------- sprites


def test_sprites_shapes_ranges_and_factors():
    images, factors = generate_sprites(3000, seed=1)
    assert images.shape == (3000, 1, 32, 32) and factors.shape == (3000, 5)
    assert images.dtype == torch.float32 and factors.dtype == torch.float32
    assert float(images.min()) == 0.0 and float(images.max()) == 1.0
    shape, scale, rotation, x, y = factors.T
    assert set(shape.tolist()) == {0.0, 1.0, 2.0}
    assert float(scale.min()) >= 0.5 and float(scale.max()) <= 1.0
    assert float(rotation.min()) >= 0.0 and float(rotation.max()) < 2 * math.pi
    for kind, name in enumerate(SPRITE_SHAPES):  # within each shape's symmetry period
        turns = rotation[shape == kind]
        period = ROTATION_PERIODS[name]
        assert float(turns.max()) < period and float(turns.max()) > 0.95 * period, name
    for pos in (x, y):
        assert float(pos.min()) >= 0.2 and float(pos.max()) <= 0.8
    # every object covers the pixel at its centre, and nothing is empty
    rows, cols = (y * 32).long(), (x * 32).long()
    assert bool((images[torch.arange(3000), 0, rows, cols] == 1).all())
    assert bool((images.flatten(1).sum(1) > 0).all())


def test_sprites_deterministic_and_prefix_stable():
    a_x, a_f = generate_sprites(500, seed=5)
    b_x, b_f = generate_sprites(500, seed=5)
    c_x, _ = generate_sprites(500, seed=6)
    assert torch.equal(a_x, b_x) and torch.equal(a_f, b_f)
    assert not torch.equal(a_x, c_x)
    small_x, small_f = generate_sprites(100, seed=5)
    assert torch.equal(small_x, a_x[:100]) and torch.equal(small_f, a_f[:100])


def test_square_at_rotation_zero_lights_expected_pixels():
    # square, scale 1, no rotation, centred: half-size 0.18 * 32 = 5.76 px around pixel 16,
    # so pixel centres 10.5 .. 21.5 (pixels 10..21) are inside: a 12 x 12 block.
    image = render_sprites(torch.tensor([[0.0, 1.0, 0.0, 0.5, 0.5]]), size=32)[0, 0]
    expected = torch.zeros(32, 32)
    expected[10:22, 10:22] = 1
    assert torch.equal(image, expected)
    # rotated by 45 degrees it becomes a diamond: corners of the block go dark, tips appear
    diamond = render_sprites(torch.tensor([[0.0, 1.0, math.pi / 4, 0.5, 0.5]]), size=32)[0, 0]
    assert diamond[10, 10] == 0 and diamond[16, 8] == 1 and diamond[8, 16] == 1


def test_ellipse_is_wider_than_tall_and_rotates():
    flat = render_sprites(torch.tensor([[1.0, 1.0, 0.0, 0.5, 0.5]]))[0, 0]
    upright = render_sprites(torch.tensor([[1.0, 1.0, math.pi / 2, 0.5, 0.5]]))[0, 0]
    width, height = int(flat.sum(0).gt(0).sum()), int(flat.sum(1).gt(0).sum())
    assert width > height
    assert torch.equal(upright, flat.T)


@pytest.mark.parametrize("kind", range(3), ids=SPRITE_SHAPES)
def test_a_turn_by_the_symmetry_period_gives_the_same_image(kind):
    # So the pixels only show the rotation modulo the period: drawing beyond it is invisible.
    period = ROTATION_PERIODS[SPRITE_SHAPES[kind]]
    angles = torch.linspace(0.1, period - 0.1, 7)
    rows = torch.stack([torch.tensor([float(kind), 1.0, float(a), 0.5, 0.5]) for a in angles])
    turned = rows.clone()
    turned[:, 2] += period
    a, b = render_sprites(rows), render_sprites(turned)
    assert float((a != b).float().mean()) < 0.002  # a few edge pixels of float rounding
    half = rows.clone()  # while half a period is a visibly different image
    half[:, 2] += period / 2
    assert float((a != render_sprites(half)).float().sum((1, 2, 3)).min()) >= 8


def test_rotation_mig_is_no_longer_capped_by_symmetry():
    """A code holding all the pixels can show (the rotation modulo the period) gets MIG 1 on
    the rotation factor; with the old [0, 2 pi) draw for squares it was capped near 0.54."""
    _, factors = generate_sprites(6000, seed=3)
    squares = factors[factors[:, 0] == 0]
    visible = torch.remainder(squares[:, 2], ROTATION_PERIODS["square"])
    mig = mig_score(visible[:, None].numpy(), squares[:, 2:3].numpy())
    assert mig > 0.99
    old_draw = torch.rand(len(squares), generator=torch.Generator().manual_seed(0)) * 2 * math.pi
    old_visible = torch.remainder(old_draw, ROTATION_PERIODS["square"])
    capped = mig_score(old_visible[:, None].numpy(), old_draw[:, None].numpy())
    assert 0.45 < capped < 0.6  # log 5 / log 20 = 0.537 with 20 equal-width bins


def test_sprite_area_grows_with_scale():
    images, factors = generate_sprites(2000, seed=2)
    area = images.flatten(1).sum(1)
    for shape in range(3):
        chosen = factors[:, 0] == shape
        corr = torch.corrcoef(torch.stack([area[chosen], factors[chosen, 1]]))[0, 1]
        assert float(corr) > 0.9, shape


def test_load_sprites_dataset_keeps_factors():
    data = load_dataset("sprites", max_samples=1000, seed=0)
    assert len(data.train_x) == 900 and len(data.val_x) == 100
    assert data.class_names == ["square", "ellipse", "triangle"]
    assert data.factor_names == ["shape", "scale", "rotation", "x", "y"]
    assert data.train_factors.shape == (900, 5) and data.val_factors.shape == (100, 5)
    assert torch.equal(data.train_factors[:, 0].long(), data.train_y)
    # the factors still describe their own images after the split
    assert torch.equal(render_sprites(data.val_factors), data.val_x)


# ----------------------------------------------------------------------------- MNIST


@pytest.mark.skipif(not HAS_MNIST_TEST, reason=f"MNIST test split not found in {SHARED_DATA}")
def test_mnist_test_split_only():
    data = load_dataset("mnist", data_dir=SHARED_DATA, val_fraction=0.1, download=False)
    assert len(data.train_x) == 9000 and len(data.val_x) == 1000
    assert_images(data.train_x, (1, 28, 28))
    assert set(torch.cat([data.train_y, data.val_y]).tolist()) == set(range(10))
    capped = load_dataset("mnist", data_dir=SHARED_DATA, max_samples=500, download=False)
    assert len(capped.train_x) + len(capped.val_x) == 500


def write_idx(path: Path, array: np.ndarray, magic: int) -> None:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_mnist_both_splits_use_official_split(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 60), ("t10k", 20)):
        write_idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), 0x803)
        write_idx(raw / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, n), 0x801)
    data = load_dataset("fashion-mnist", data_dir=tmp_path, download=False, val_fraction=0.5)
    assert (len(data.train_x), len(data.val_x)) == (60, 20)
    assert data.class_names[0] == "T-shirt/top"
    capped = load_dataset("fashion-mnist", data_dir=tmp_path, download=False, max_samples=40)
    assert (len(capped.train_x), len(capped.val_x)) == (30, 10)


def test_mnist_corrupt_file(tmp_path):
    raw = tmp_path / "KMNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx(raw / "t10k-images-idx3-ubyte", np.zeros((5, 28, 28)), 0x803)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x09abc")
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        load_dataset("kmnist", data_dir=tmp_path, download=False)
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    (raw / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError, match="t10k-labels"):
        load_dataset("kmnist", data_dir=tmp_path, download=False)


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "kmnist"])
def test_missing_dataset_offline_names_files(tmp_path, name):
    with pytest.raises(DatasetError) as err:
        load_dataset(name, data_dir=tmp_path, download=False)
    message = str(err.value)
    assert "t10k-images-idx3-ubyte" in message and "AEVAE_DATA_DIR" in message
    assert str(tmp_path) in message


def test_partial_files_never_download(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    write_idx(raw / "t10k-images-idx3-ubyte", np.zeros((5, 28, 28)), 0x803)
    with pytest.raises(DatasetError, match="some files are there"):
        load_dataset("mnist", data_dir=tmp_path, download=True)


def test_missing_cifar_offline(tmp_path):
    with pytest.raises(DatasetError, match="cifar-10-batches-py"):
        load_dataset("cifar10", data_dir=tmp_path, download=False)
    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"junk")
    with pytest.raises(DatasetError, match="corrupt"):  # present: no download attempted
        load_dataset("cifar10", data_dir=tmp_path, download=True)


# ----------------------------------------------------------------------------- custom images


def save_png(path: Path, size: tuple[int, int], value: int, mode: str = "L") -> None:
    color = value if mode == "L" else (value, 255 - value, 0)
    Image.new(mode, size, color).save(path)


def test_custom_folder_resizes_to_most_common_size(tmp_path):
    for i, size in enumerate([(16, 12), (16, 12), (16, 12), (30, 30)]):
        save_png(tmp_path / f"img{i}.png", size, 40 * i)
    (tmp_path / "notes.txt").write_text("ignored")
    images, labels, names = load_images(tmp_path)
    assert images.shape == (4, 1, 12, 16) and labels is None and names == []
    assert_images(images, (1, 12, 16))
    assert math.isclose(float(images[1].mean()), 40 / 255, abs_tol=1e-6)
    resized, _, _ = load_images(tmp_path, size=8)
    assert resized.shape == (4, 1, 8, 8)


def test_custom_folder_mixed_modes_become_rgb(tmp_path):
    save_png(tmp_path / "a.png", (10, 10), 10, "L")
    save_png(tmp_path / "b.JPG", (10, 10), 200, "RGB")
    images, _, _ = load_images(tmp_path)
    assert images.shape == (2, 3, 10, 10)


def test_custom_subfolders_are_classes(tmp_path):
    for cls, count in (("cats", 3), ("dogs", 2)):
        (tmp_path / cls).mkdir()
        for i in range(count):
            save_png(tmp_path / cls / f"{i}.png", (8, 8), 50)
    data = load_dataset("custom", path=tmp_path, val_fraction=0.2, seed=1)
    assert data.class_names == ["cats", "dogs"]
    assert sorted(torch.cat([data.train_y, data.val_y]).tolist()) == [0, 0, 0, 1, 1]
    assert data.shape == (1, 8, 8) and len(data.val_x) == 1


def test_custom_folder_16bit_grey_is_rescaled(tmp_path):
    for i, value in enumerate((1000, 65535)):
        Image.fromarray(np.full((8, 8), value, np.uint16)).save(tmp_path / f"{i}.png")
    (tmp_path / "._0.png").write_bytes(b"macOS metadata, skipped")
    images, _, _ = load_images(tmp_path)
    assert images.shape == (2, 1, 8, 8)
    assert 0 < float(images[0].mean()) < 0.05 and float(images[1].mean()) == 1.0


def test_custom_folder_truncated_jpeg_and_decoded_size(tmp_path):
    for i in range(3):
        Image.new("RGB", (64, 64), (i, 2 * i, 3 * i)).save(tmp_path / f"{i}.jpg", quality=90)
    with pytest.raises(DatasetError, match="Decoded"):
        load_images(tmp_path, max_bytes=8000)
    whole = (tmp_path / "1.jpg").read_bytes()
    (tmp_path / "1.jpg").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DatasetError, match="1.jpg"):
        load_images(tmp_path)


def test_custom_needs_path():
    with pytest.raises(DatasetError, match="path"):
        load_dataset("custom")


@pytest.mark.parametrize(
    "layout, word",
    [
        ("empty", "No .png"),
        ("missing", "does not exist"),
        ("text_file", "not supported"),
        ("broken_png", "broken.png"),
        ("one_image", "at least 2"),
        ("too_big", "256x256"),
    ],
)
def test_custom_folder_bad_input(tmp_path, layout, word):
    path = tmp_path / "images"
    path.mkdir()
    if layout == "missing":
        path = tmp_path / "nowhere"
    elif layout == "text_file":
        path = tmp_path / "readme.txt"
        path.write_text("hello")
    elif layout == "broken_png":
        save_png(path / "good.png", (8, 8), 1)
        (path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    elif layout == "one_image":
        save_png(path / "only.png", (8, 8), 1)
    elif layout == "too_big":
        for i in range(2):
            save_png(path / f"{i}.png", (300, 300), 1)
    with pytest.raises(DatasetError, match=word):
        load_images(path)


def test_custom_folder_byte_limit(tmp_path):
    for i in range(3):
        save_png(tmp_path / f"{i}.png", (8, 8), i)
    with pytest.raises(DatasetError, match="MiB"):
        load_images(tmp_path, max_bytes=10)
    with pytest.raises(DatasetError, match="at most 2"):
        load_images(tmp_path, max_images=2)


# ----------------------------------------------------------------------------- .npz


@pytest.mark.parametrize(
    "array, shape",
    [
        (np.zeros((5, 10, 12), np.uint8), (1, 10, 12)),
        (np.full((5, 10, 12, 3), 255, np.uint8), (3, 10, 12)),
        (np.full((5, 1, 9, 9), 0.5, np.float32), (1, 9, 9)),
        (np.ones((5, 9, 9, 1), np.float64), (1, 9, 9)),
    ],
)
def test_npz_layouts(tmp_path, array, shape):
    file = tmp_path / "data.npz"
    np.savez(file, x=array, y=np.arange(5) % 2)
    images, labels, names = load_images(file)
    assert_images(images, shape)
    assert len(images) == 5 and names == ["0", "1"] and labels.tolist() == [0, 1, 0, 1, 0]
    expected = array.astype(np.float64) / (255 if array.dtype == np.uint8 else 1)
    assert math.isclose(float(images.mean()), float(expected.mean()), abs_tol=1e-6)


def test_npz_other_keys_and_resize(tmp_path):
    file = tmp_path / "data.npz"
    np.savez(file, pictures=np.zeros((4, 300, 300), np.uint8), labels=np.array(list("abab")))
    with pytest.raises(DatasetError, match="256x256"):
        load_images(file)
    images, labels, names = load_images(file, size=32)
    assert images.shape == (4, 1, 32, 32) and names == ["a", "b"]
    assert labels.tolist() == [0, 1, 0, 1]
    np.savez(file, np.zeros((6, 8, 8), np.uint8))  # unnamed: key "arr_0"
    data = load_dataset("custom", path=file, max_samples=5, val_fraction=0.4)
    assert (len(data.train_x), len(data.val_x)) == (3, 2) and data.train_y is None


@pytest.mark.parametrize(
    "arrays, word",
    [
        ({"x": np.array([np.zeros(3), "a"], dtype=object)}, "pickle"),
        ({"x": np.full((3, 8, 8), np.nan, np.float32)}, "NaN"),
        ({"x": np.full((3, 8, 8), np.inf)}, "NaN"),
        ({"x": np.full((3, 8, 8), 1.5, np.float32)}, "[0, 1]"),
        ({"x": np.full((3, 8, 8), -0.5, np.float32)}, "[0, 1]"),
        ({"x": np.full((3, 8, 8), 300, np.int32)}, "0..255"),
        ({"x": np.zeros((3, 8, 8), np.complex64)}, "dtype"),
        ({"x": np.zeros((3, 8, 8), bool)}, "dtype"),
        ({"x": np.array([["ab"] * 8] * 8 * 3).reshape(3, 8, 8)}, "dtype"),
        ({"x": np.zeros((8, 8), np.uint8)}, "shape"),
        ({"x": np.zeros((2, 2, 8, 8, 1), np.uint8)}, "shape"),
        ({"x": np.zeros((3, 8, 8, 5), np.uint8)}, "channel"),
        ({"x": np.zeros((0, 8, 8), np.uint8)}, "empty"),
        ({"x": np.zeros((1, 8, 8), np.uint8)}, "at least 2"),
        ({"x": np.zeros((3, 3, 3), np.uint8)}, "4x4"),
        ({"x": np.zeros((3, 257, 8), np.uint8)}, "256x256"),
        ({"x": np.zeros((3, 8, 8), np.uint8), "y": np.arange(2)}, "one per image"),
        ({"x": np.zeros((3, 8, 8), np.uint8), "y": np.full(3, 0.5)}, "integers"),
        ({}, "no arrays"),
    ],
)
def test_npz_bad_input(tmp_path, arrays, word):
    file = tmp_path / "bad.npz"
    np.savez(file, **arrays)
    with pytest.raises(DatasetError) as err:
        load_images(file)
    assert word in str(err.value)


def test_npz_not_a_zip_and_too_large(tmp_path):
    file = tmp_path / "fake.npz"
    file.write_bytes(b"just text, not numpy")
    with pytest.raises(DatasetError, match="not a valid .npz"):
        load_images(file)
    np.savez(file, x=np.zeros((4, 8, 8), np.uint8))
    with pytest.raises(DatasetError, match="MiB"):
        load_images(file, max_bytes=100)
    np.savez_compressed(file, x=np.zeros((100, 64, 64), np.uint8))  # tiny file, 400 kB inside
    assert os.path.getsize(file) < 10_000
    with pytest.raises(DatasetError, match="unpacks to"):
        load_images(file, max_bytes=100_000)
    np.save(tmp_path / "plain.npy", np.zeros((4, 8, 8)))
    with pytest.raises(DatasetError, match="not supported"):
        load_images(tmp_path / "plain.npy")


# ----------------------------------------------------------------------------- arrays.preview


def test_the_raw_arrays_module_imports_no_torch():
    """The Train page previews digits and MNIST-like files before the server imports torch."""
    import subprocess
    import sys

    code = "import sys, aevae_core.data.arrays; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("max_samples", [0, 2, 100, 5000])
def test_the_torch_free_preview_has_load_datasets_sizes_for_digits(max_samples):
    from aevae_core.data.arrays import digits_arrays, preview

    info = preview("digits", max_samples=max_samples)
    data = load_dataset("digits", max_samples=max_samples)
    assert (info["n_train"], info["n_val"]) == (len(data.train_x), len(data.val_x))
    assert info["shape"] == data.shape and info["classes"] == data.class_names
    assert info["images"].shape == (32, 1, 8, 8) and info["images"].dtype == np.float32
    np.testing.assert_array_equal(info["images"], digits_arrays()[0][:32])


def test_the_torch_free_preview_has_load_datasets_sizes_for_idx_files(tmp_path):
    from aevae_core.data.arrays import preview

    raw = tmp_path / "KMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def add_split(split: str, n: int) -> None:
        write_idx(raw / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), 0x803)
        write_idx(raw / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, n), 0x801)

    def same_sizes(max_samples: int, val_fraction: float) -> None:
        info = preview("kmnist", data_dir=tmp_path, max_samples=max_samples,
                       val_fraction=val_fraction)  # fmt: skip
        data = load_dataset("kmnist", data_dir=tmp_path, max_samples=max_samples,
                            val_fraction=val_fraction, download=False)  # fmt: skip
        assert (info["n_train"], info["n_val"]) == (len(data.train_x), len(data.val_x))
        assert info["shape"] == data.shape == (1, 28, 28)
        assert info["classes"] == data.class_names

    add_split("t10k", 60)  # one split: divided by the seed
    same_sizes(0, 0.1)
    same_sizes(30, 0.5)
    add_split("train", 80)  # both: the official split, max_samples shared in proportion
    for max_samples in (0, 40, 139):
        same_sizes(max_samples, 0.1)
    first = preview("kmnist", data_dir=tmp_path, n=4)["images"]
    assert first.min() >= 0 and first.max() <= 1 and first.shape == (4, 1, 28, 28)


def test_no_torch_free_preview_for_missing_files_or_generated_sets(tmp_path):
    from aevae_core.data.arrays import preview

    assert preview("mnist", data_dir=tmp_path) is None  # load_dataset says what is missing
    assert preview("sprites") is None and preview("cifar10", data_dir=tmp_path) is None
