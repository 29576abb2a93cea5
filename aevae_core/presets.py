"""Presets: the classic autoencoders of the material we teach from, as ready TrainConfigs.

Each preset is a full ``TrainConfig`` (every field not named keeps ``TrainConfig``'s default),
its parameter count on MNIST's 1x28x28 images as the original reports it, and a one-line note
saying where it comes from and what, if anything, differs from the original. The Train form's
"Preset" box and the CLI's ``train --preset NAME`` read this one table.

    config = get_preset("keras-conv").config.replace(epochs=5)
    config = start_config(None, "runs/abc/config.json")   # what ``train --config`` starts from
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from aevae_core.config import ConfigError, TrainConfig

MNIST_SHAPE = (1, 28, 28)


@dataclass(frozen=True)
class Preset:
    key: str
    title: str
    source: str  # one line: where it comes from, and how we differ
    config: TrainConfig
    parameters: int  # on MNIST (1x28x28), as the original reports; a test rebuilds the count

    def changes(self) -> dict[str, Any]:
        """The settings that differ from ``TrainConfig()``, e.g. to show next to the title."""
        base = TrainConfig()
        return {
            f.name: getattr(self.config, f.name)
            for f in fields(TrainConfig)
            if getattr(self.config, f.name) != getattr(base, f.name)
        }


PRESETS: dict[str, Preset] = {
    p.key: p
    for p in (
        Preset(
            key="pytorch-examples",
            title="PyTorch examples VAE (MLP 784-400-20)",
            source="github.com/pytorch/examples vae/main.py: fc1 784-400, fc21/fc22 400-20, "
            "fc3 20-400, fc4 400-784; BCE summed over pixels + KL; Adam 1e-3, batch 128, 10 "
            "epochs.",
            config=TrainConfig(
                dataset="mnist",
                model="vae",
                arch="mlp",
                hidden=(400,),
                latent_dim=20,
                recon="bce",
                optimizer="adam",
                lr=1e-3,
                batch_size=128,
                epochs=10,
            ),  # fmt: skip
            parameters=652_824,
        ),
        Preset(
            key="keras-conv",
            title="Keras VAE example (conv, 2-D latent)",
            source="keras.io/examples/generative/vae: Conv 32 and 64 (3x3, stride 2), Dense 16, "
            "z=2; Dense 7x7x64, ConvT 64, 32 (stride 2), ConvT 1 (stride 1); Adam (lr 1e-3), "
            "batch 128, 30 epochs. Keras trains on train+test; we hold out 10% to validate.",
            config=TrainConfig(
                dataset="mnist",
                model="vae",
                arch="conv",
                hidden=(32, 64),
                conv_dense=16,
                latent_dim=2,
                recon="bce",
                optimizer="adam",
                lr=1e-3,
                batch_size=128,
                epochs=30,
            ),  # fmt: skip
            parameters=134_165,
        ),
        Preset(
            key="dense-ae",
            title="Dense autoencoder (784-32-784, Keras blog)",
            source="blog.keras.io 'Building Autoencoders in Keras', the simplest one: Dense 32 "
            "code, sigmoid output, BCE, Adam, batch 256, 50 epochs. Its code has a ReLU; ours is "
            "linear (same 50,992 parameters).",
            config=TrainConfig(
                dataset="mnist",
                model="ae",
                arch="mlp",
                hidden=(),
                latent_dim=32,
                recon="bce",
                optimizer="adam",
                lr=1e-3,
                batch_size=256,
                epochs=50,
            ),  # fmt: skip
            parameters=50_992,
        ),
    )
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; ConfigError naming the allowed names otherwise."""
    if name not in PRESETS:
        raise ConfigError("preset", f"{name!r} is not a preset; allowed: {', '.join(PRESETS)}")
    return PRESETS[name]


def start_config(preset: str | None = None, path: str | None = None) -> TrainConfig:
    """What a run's settings start from before flags override them: a preset, a saved
    ``config.json`` (as ``train --config`` reads it), or the defaults.

    A file that cannot be read or holds no valid config raises ConfigError("config", ...)
    whose message names the file and the problem in one line.
    """
    if preset:
        return get_preset(preset).config
    if not path:
        return TrainConfig()
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError(
            "config", f"cannot read {path!r} ({why}); allowed: a config.json file"
        ) from None
    try:
        return TrainConfig.from_json(text)
    except ConfigError as exc:
        raise ConfigError("config", f"{path}: {exc.field}: {exc.message}") from None
