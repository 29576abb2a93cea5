"""Uploads of the user's own images: every bad file is refused with a clear message.

``save_upload`` is the path the Train page takes with the bytes of ``st.file_uploader``: it
must answer each bad file with an ``UploadError`` naming the problem and what is allowed,
keep nothing of a refused file, and never let another exception through. The folder loader
(``load_images`` on a directory, used by the CLI's ``--data-path``) is checked for the
cases a folder adds: an empty folder, non-image files, a corrupt PNG, and mixed sizes and
channel counts, which are accepted and converted. tests/core/test_data.py covers the
loaders' other cases in detail.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from aevae_core.data.datasets import load_dataset
from aevae_core.data.registry import DatasetError
from aevae_core.data.user_images import load_images
from aevae_core.store import uploads
from aevae_core.store.uploads import UploadError, save_upload


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def zip_bytes(**members: bytes | str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name.replace("__", "."), data)
    return buffer.getvalue()


def png_bytes(size: tuple[int, int] = (8, 8), mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, format="PNG")
    return buffer.getvalue()


def stored(runs_dir: Path) -> list[Path]:
    folder = runs_dir / "uploads"
    return sorted(folder.iterdir()) if folder.exists() else []


GOOD = npz_bytes(x=np.zeros((4, 8, 8), np.uint8), y=np.array([0, 1, 0, 1]))

# (payload, words the message must hold): each is a file a user could upload by mistake.
BAD_UPLOADS = {
    "empty file": (b"", ["empty", "allowed"]),
    "text file": (b"just some notes, not numpy", ["not a valid .npz", "allowed"]),
    "a PNG, not an npz": (png_bytes(), ["not a valid .npz", "allowed"]),
    "corrupt PNG": (png_bytes()[:20], ["not a valid .npz", "allowed"]),
    "zip of a text file": (zip_bytes(readme__txt="hello"), ["not an .npz", "allowed"]),
    "zip of a PNG": (zip_bytes(image__png=png_bytes()), ["not an .npz", "allowed"]),
    "zip with a broken .npy": (zip_bytes(x__npy=b"garbage"), ["not a numpy array", "allowed"]),
    "empty zip": (zip_bytes(), ["no arrays", "'x'"]),
    "NaN": (npz_bytes(x=np.full((3, 8, 8), np.nan, np.float32)), ["NaN", "allowed"]),
    "inf": (npz_bytes(x=np.full((3, 8, 8), np.inf)), ["infinite", "allowed"]),
    "strings": (npz_bytes(x=np.full((3, 8, 8), "ab")), ["dtype <U2", "allowed"]),
    "complex": (npz_bytes(x=np.zeros((3, 8, 8), np.complex64)), ["dtype complex64", "allowed"]),
    "bool": (npz_bytes(x=np.zeros((3, 8, 8), bool)), ["dtype bool", "allowed"]),
    "datetime": (npz_bytes(x=np.zeros((3, 8, 8), "M8[s]")), ["dtype datetime64", "allowed"]),
    "object array (pickle)": (
        npz_bytes(x=np.array([np.zeros(3), "a"], dtype=object)),
        ["pickle", "allowed"],
    ),
    "object labels (pickle)": (
        npz_bytes(x=np.zeros((3, 8, 8), np.uint8), y=np.array([1, "a", None], dtype=object)),
        ["pickle", "allowed"],
    ),
    "values above 1": (npz_bytes(x=np.full((3, 8, 8), 1.5)), ["[0, 1]", "allowed"]),
    "values above 255": (npz_bytes(x=np.full((3, 8, 8), 300, np.int32)), ["0..255", "allowed"]),
    "a scalar": (npz_bytes(x=np.array(5)), ["shape ()", "allowed"]),
    "one image": (npz_bytes(x=np.zeros((1, 8, 8), np.uint8)), ["1 images", "at least 2"]),
    "four channels": (npz_bytes(x=np.zeros((3, 8, 8, 4), np.uint8)), ["channel", "1 or 3"]),
    "images too big": (npz_bytes(x=np.zeros((2, 300, 300), np.uint8)), ["300x300", "allowed"]),
    "NaN labels": (
        npz_bytes(x=np.zeros((3, 8, 8), np.uint8), y=np.array([np.nan, 1, 2])),
        ["Labels", "allowed"],
    ),
    "labels of the wrong length": (
        npz_bytes(x=np.zeros((3, 8, 8), np.uint8), y=np.arange(2)),
        ["Labels", "one per image"],
    ),
}


@pytest.mark.parametrize("payload, words", BAD_UPLOADS.values(), ids=list(BAD_UPLOADS))
def test_a_bad_upload_is_refused_with_a_clear_message(tmp_path, payload, words) -> None:
    with pytest.raises(UploadError) as info:
        save_upload(payload, runs_dir=tmp_path, name="mydata.npz")
    message = str(info.value)
    for word in words:
        assert word in message, message
    assert "\n" not in message
    if payload:  # the message speaks of the user's file, not of the name it was stored under
        assert "mydata.npz" in message or "Array" in message or "Labels" in message, message
    assert not stored(tmp_path), "a refused upload must not be kept"


def test_a_file_over_the_size_limit_is_refused_before_it_is_written(tmp_path, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", len(GOOD) - 1)
    with pytest.raises(UploadError, match=r"MB; allowed: at most"):
        save_upload(GOOD, runs_dir=tmp_path)
    assert not stored(tmp_path)


def test_a_compressed_npz_that_unpacks_past_the_limit_is_refused(tmp_path, monkeypatch):
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=np.zeros((100, 64, 64), np.uint8))  # 400 kB inside
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 100_000)
    with pytest.raises(UploadError, match="unpacks to"):
        save_upload(buffer.getvalue(), runs_dir=tmp_path)
    assert not stored(tmp_path)


@pytest.mark.parametrize("suffix", [".png", ".npy", "", "/../../x.npz", None])
def test_only_npz_is_accepted(tmp_path, suffix) -> None:
    with pytest.raises(UploadError, match="not accepted; allowed: an .npz"):
        save_upload(GOOD, suffix=suffix, runs_dir=tmp_path)
    assert not stored(tmp_path)


def test_a_good_upload_is_stored_once_under_a_generated_name(tmp_path) -> None:
    path = Path(save_upload(GOOD, runs_dir=tmp_path, name="../../etc/passwd"))
    assert path.parent == tmp_path / "uploads" and path.suffix == ".npz"
    assert path.read_bytes() == GOOD
    assert save_upload(GOOD, runs_dir=tmp_path) == str(path), "a rerun reuses the same file"
    assert stored(tmp_path) == [path]
    data = load_dataset("custom", path=path)
    assert data.shape == (1, 8, 8) and data.class_names == ["0", "1"]


@pytest.mark.parametrize(
    "array, shape",
    [
        (np.zeros((3, 8, 8), np.uint8), (1, 8, 8)),
        (np.zeros((3, 8, 8, 3), np.uint8), (3, 8, 8)),  # channels last
        (np.zeros((3, 3, 8, 8), np.float32), (3, 8, 8)),  # channels first
        (np.ones((3, 8, 8, 1), np.float16), (1, 8, 8)),
        (np.full((3, 8, 8), 7, np.int64), (1, 8, 8)),
    ],
)
def test_accepted_layouts_and_dtypes_are_converted(tmp_path, array, shape) -> None:
    path = save_upload(npz_bytes(x=array), runs_dir=tmp_path)
    images, labels, _ = load_images(path)
    assert images.dtype == torch.float32 and tuple(images.shape[1:]) == shape
    assert labels is None and float(images.min()) >= 0 and float(images.max()) <= 1


@pytest.mark.parametrize("value", ["abc", "-5", "0", "nan", "inf", "", "12.5"])
def test_a_bad_size_limit_setting_falls_back_to_the_default(monkeypatch, value) -> None:
    monkeypatch.setenv("AEVAE_MAX_UPLOAD_MB", value)
    expected = 12.5 * 2**20 if value == "12.5" else uploads.DEFAULT_MAX_UPLOAD_MB * 2**20
    assert uploads._max_upload_bytes() == int(expected)


def test_an_unexpected_loader_error_becomes_an_upload_error(tmp_path, monkeypatch) -> None:
    import aevae_core.data.user_images as user_images

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(user_images, "load_images", broken)
    with pytest.raises(UploadError, match="could not be read"):
        save_upload(GOOD, runs_dir=tmp_path)
    assert not stored(tmp_path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(min_size=1, max_size=200),
        st.binary(max_size=100).map(lambda tail: GOOD[: len(GOOD) // 2] + tail),  # truncated
        st.integers(0, len(GOOD) - 1).map(
            lambda i: GOOD[:i] + bytes([GOOD[i] ^ 0xFF]) + GOOD[i + 1 :]
        ),
    )
)
def test_any_bytes_are_stored_or_refused_with_an_upload_error(tmp_path_factory, payload) -> None:
    runs_dir = tmp_path_factory.mktemp("fuzz")
    try:
        path = save_upload(payload, runs_dir=runs_dir)
    except UploadError as exc:
        assert str(exc) and "\n" not in str(exc)
        assert not stored(runs_dir)
        return
    images, _, _ = load_images(path)  # what was kept, training can read
    assert torch.isfinite(images).all()


# ----------------------------------------------------------------------------- folders


def save_png(path: Path, size: tuple[int, int], mode: str, value: int = 128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode in ("L", "P", "I", "1") else (value,) * len(mode)
    Image.new(mode, size, color).save(path)


def test_folder_with_mixed_sizes_and_channels_is_converted(tmp_path) -> None:
    for i, mode in enumerate(["L", "RGB", "RGBA", "LA", "P", "1"]):
        save_png(tmp_path / f"{i}.png", (8, 8), mode)
    save_png(tmp_path / "wide.png", (12, 6), "RGB")
    (tmp_path / "notes.txt").write_text("not an image: ignored")
    images, labels, names = load_images(tmp_path)
    assert images.shape == (7, 3, 8, 8), "colour wins; the most common size wins"
    assert images.dtype == torch.float32 and labels is None and names == []
    assert float(images.min()) >= 0 and float(images.max()) <= 1


@pytest.mark.parametrize(
    "layout, words",
    [
        ("empty folder", ["No .png"]),
        ("only other files", ["No .png"]),
        ("a text file named .png", ["fake.png", "not a readable PNG/JPEG"]),
        ("a corrupt PNG", ["broken.png", "not a readable PNG/JPEG"]),
        ("an empty .png", ["empty.png", "not a readable PNG/JPEG"]),
        ("empty class folders", ["No .png"]),
    ],
)
def test_folder_bad_input(tmp_path, layout, words) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    if layout == "only other files":
        (folder / "notes.txt").write_text("hello")
        (folder / "data.csv").write_text("1,2")
    elif layout == "a text file named .png":
        save_png(folder / "good.png", (8, 8), "L")
        (folder / "fake.png").write_text("hello")
    elif layout == "a corrupt PNG":
        save_png(folder / "good.png", (8, 8), "L")
        (folder / "broken.png").write_bytes(png_bytes()[:30])
    elif layout == "an empty .png":
        save_png(folder / "good.png", (8, 8), "L")
        (folder / "empty.png").write_bytes(b"")
    elif layout == "empty class folders":
        (folder / "cats").mkdir()
        (folder / "dogs").mkdir()
    with pytest.raises(DatasetError) as info:
        load_images(folder)
    for word in words:
        assert word in str(info.value)


# ----------------------------------------------------------------------------- zips


def zip_of(members: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    """A zip with these members (names as given, unchecked) and these symlink members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16  # a symlink, as `zip --symlinks` writes it
            archive.writestr(info, "/etc/passwd")
    return buffer.getvalue()


CLASSES = {f"mydata/{c}/{i}.png": png_bytes() for c in ("cats", "dogs") for i in range(3)}


def test_a_zip_of_class_folders_is_unpacked_and_loads_with_labels(tmp_path) -> None:
    payload = zip_of({**CLASSES, "mydata/README.txt": b"hi", "__MACOSX/._x.png": b"junk"})
    path = Path(save_upload(payload, suffix=".zip", runs_dir=tmp_path, name="pets.zip"))
    assert path.parent == tmp_path / "uploads" and path.is_dir()
    assert sorted(p.name for p in path.iterdir()) == ["cats", "dogs"], "one folder stripped"
    images, labels, names = load_images(path)
    assert images.shape == (6, 1, 8, 8) and names == ["cats", "dogs"]
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert save_upload(payload, suffix=".zip", runs_dir=tmp_path) == str(path), "reused"
    assert stored(tmp_path) == [path]
    data = load_dataset("custom", path=str(path), download=False)
    assert len(data.train_x) + len(data.val_x) == 6


@pytest.mark.parametrize(
    "members, links, words",
    [
        ({**CLASSES, "../evil.png": png_bytes()}, (), "outside its folder"),
        ({**CLASSES, "/tmp/evil.png": png_bytes()}, (), "outside its folder"),
        ({**CLASSES, "a/../../evil.png": png_bytes()}, (), "outside its folder"),
        ({**CLASSES, "C:/evil.png": png_bytes()}, (), "outside its folder"),
        (CLASSES, ("mydata/cats/link.png",), "a link"),
        ({"a/b/c/1.png": png_bytes(), "a/b/d/2.png": png_bytes(), "x/3.png": png_bytes()}, (),
         "folders inside folders"),
        ({"notes.txt": b"hello"}, (), "no .png/.jpg images"),
        ({"a.png": b"not a png", "b.png": b"nor this"}, (), "(?i)allowed"),
        ({"a.png": png_bytes()}, (), "at least 2"),
    ],
)  # fmt: skip
def test_an_unsafe_or_bad_zip_is_refused_and_nothing_is_kept(
    tmp_path, members, links, words
) -> None:
    with pytest.raises(UploadError, match=words) as exc:
        save_upload(zip_of(members, links), suffix=".zip", runs_dir=tmp_path, name="x.zip")
    assert "'x.zip'" in str(exc.value) and "\n" not in str(exc.value)
    assert not stored(tmp_path), "something was kept from a refused zip"
    assert not (tmp_path.parent / "evil.png").exists() and not Path("/tmp/evil.png").exists()


def test_a_zip_that_unpacks_past_the_limit_is_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(uploads, "MAX_UPLOAD_BYTES", 4096)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.png", png_bytes())
        archive.writestr("b.png", b"\0" * 100_000)  # compresses to ~100 bytes: a small bomb
    assert len(buffer.getvalue()) < 4096
    with pytest.raises(UploadError, match="at most 0 MB|unpacks to"):
        save_upload(buffer.getvalue(), suffix=".zip", runs_dir=tmp_path)
    assert not stored(tmp_path)


def test_bytes_that_are_not_a_zip_are_refused(tmp_path) -> None:
    with pytest.raises(UploadError, match="not a zip archive; allowed"):
        save_upload(b"PK\x03\x04 garbage", suffix=".zip", runs_dir=tmp_path, name="x.zip")
    assert not stored(tmp_path)
