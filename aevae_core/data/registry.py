"""The one list of datasets: names, titles, image shapes, sizes and descriptions, no torch.

The config (its allowed names), the CLI, the pre-flight, the lessons and every page read
it; ``datasets.load_dataset`` turns a name into tensors. ``DatasetError`` is the message a
user gets for bad data, raised by every loader.
"""

from __future__ import annotations


class DatasetError(ValueError):
    """Clear, user-facing message: names the problem and what is allowed."""


# fmt: off
DATASET_NAMES: tuple[str, ...] = (
    "digits", "sprites", "mnist", "fashion-mnist", "kmnist", "cifar10", "custom",
)
_REGISTRY = {  # name: (title, shape, size, download, description, form label)
    "digits": ("Digits (8x8)", (1, 8, 8), 1797, False,
               "Tiny 8x8 handwritten digits bundled with scikit-learn; trains in seconds."),
    "sprites": ("Sprites (shapes)", (1, 32, 32), 20000, False,
                "Generated squares, ellipses and triangles with known shape, scale, "
                "rotation (within each shape's symmetry period) and position."),
    "mnist": ("MNIST", (1, 28, 28), 70000, True,
              "The classic 28x28 handwritten digits, 0 to 9."),
    "fashion-mnist": ("Fashion-MNIST", (1, 28, 28), 70000, True,
                      "28x28 pictures of clothes and shoes in 10 categories."),
    "kmnist": ("Kuzushiji-MNIST", (1, 28, 28), 70000, True,
               "28x28 handwritten cursive Japanese characters in 10 classes."),
    "cifar10": ("CIFAR-10", (3, 32, 32), 60000, True,
                "Small 32x32 colour photos of 10 kinds of objects; much harder to reconstruct."),
    "custom": ("Your own images", None, None, False,
               "A folder of PNG/JPEG images (sub-folders = classes) or an .npz file of arrays."),
}
DATASET_INFO: dict[str, dict] = {
    name: dict(zip(("title", "shape", "size", "download", "description"), row, strict=True))
    for name, row in _REGISTRY.items()
}
# fmt: on
# The Train form's words for each (what it is, and whether it ships with aevae).
FORM_LABELS = {
    "digits": "digits · 8x8 handwritten digits (built in)",
    "sprites": "sprites · 32x32 shapes with known factors (built in)",
    "mnist": "mnist · 28x28 handwritten digits",
    "fashion-mnist": "fashion-mnist · 28x28 clothes",
    "kmnist": "kmnist · 28x28 Japanese characters",
    "cifar10": "cifar10 · 32x32 colour photos",
    "custom": "custom · your own images (.npz, .zip or a folder)",
}
# Sets with a fixed shape: what a run can be paired with (Compare) or fed (same-shape data).
BUILTIN = tuple(name for name in DATASET_NAMES if DATASET_INFO[name]["shape"] is not None)


def same_shape(name: str) -> tuple[str, ...]:
    """The other datasets whose images have ``name``'s shape (e.g. mnist: fashion-mnist, kmnist)."""
    shape = DATASET_INFO.get(name, {}).get("shape")
    return tuple(n for n in BUILTIN if n != name and shape and DATASET_INFO[n]["shape"] == shape)
