"""Training configuration: one frozen dataclass, validated with messages a student can act on.

A ``TrainConfig`` is what the Train page's form, the CLI's flags and a background job all
share. It round-trips through JSON (``to_json`` / ``from_json``) and is saved as
``config.json`` next to every checkpoint so a run can always be rebuilt.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from aevae_core.data.registry import DATASET_NAMES

MODELS = ("ae", "vae", "dae")
ARCHS = ("mlp", "conv")
RECONS = ("bce", "mse")
OPTIMIZERS = ("adam", "sgd", "momentum", "adagrad")
NOISE_TYPES = ("gaussian", "mask")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
# The Gaussian decoder's std that the earlier SSE-only loss implied: SSE = SSE / (2 sigma^2)
# with sigma^2 = 1/2 (runs trained before sigma was a setting; checkpoint.py, the live panel).
LEGACY_SIGMA = math.sqrt(0.5)
DATASETS = DATASET_NAMES  # the one registry (data/registry.py)

MODEL_TITLES = {
    "ae": "Autoencoder (AE)",
    "vae": "Variational autoencoder (VAE / beta-VAE)",
    "dae": "Denoising autoencoder (DAE)",
}
OPTIMIZER_TITLES = {
    "adam": "Adam",
    "sgd": "SGD",
    "momentum": "SGD with momentum",
    "adagrad": "Adagrad",
}


class ConfigError(ValueError):
    """A setting is invalid. ``field`` names it; the message says what is allowed."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run. Defaults finish in seconds on a laptop CPU."""

    dataset: str = "digits"
    data_path: str | None = None  # folder or .npz for dataset "custom"
    max_samples: int = 0  # 0 = the whole dataset
    val_fraction: float = 0.1
    model: str = "vae"
    arch: str = "mlp"
    latent_dim: int = 2
    hidden: tuple[int, ...] = (256, 128)
    # conv only: width of a fully-connected layer between the conv features and the code
    # (0 = none). When set, the decoder follows the Keras VAE example: Dense back to the conv
    # features, one stride-2 transposed conv per channel, then a stride-1 transposed conv to
    # the image channels.
    conv_dense: int = 0
    beta: float = 1.0
    kl_warmup: int = 0  # epochs over which beta ramps linearly from 0
    recon: str = "bce"
    # Bernoulli only: binarise pixels (a fresh Bernoulli sample of each grey level every
    # training step, one fixed sample for evaluation), so the NLL is a true likelihood.
    binarize: bool = False
    # Gaussian only: the decoder's std sigma; 0 = learned (one shared sigma, as in the
    # sigma-VAE of Rybkin et al. 2021), > 0 = fixed at this value.
    sigma: float = 0.0
    l1_code: float = 0.0  # L1 penalty on the code (sparse AE)
    noise: float = 0.0  # input corruption: std (gaussian) or drop probability (mask)
    noise_type: str = "gaussian"
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9  # used by optimizer "momentum"
    weight_decay: float = 0.0  # L2
    batch_size: int = 128
    epochs: int = 10
    seed: int = 0
    device: str = "auto"
    threads: int = 0  # torch CPU threads; 0 = leave torch's default
    # Training-step arithmetic: "auto" = bf16 matrix products (autocast) on a CPU with native
    # bf16 (avx512_bf16 / AMX), fp32 elsewhere; weights, losses and evaluation stay fp32.
    precision: str = "auto"
    log_every: int = 10  # steps between logged metric rows

    @property
    def variational(self) -> bool:
        return self.model == "vae"

    @property
    def effective_noise(self) -> float:
        """A DAE with no noise set gets a sensible default corruption."""
        if self.model == "dae" and self.noise == 0.0:
            return 0.3
        return self.noise

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        if not isinstance(data, dict):
            raise ConfigError(
                "config", f"{show(data)} is not a set of settings; allowed: a JSON object"
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(key) for key in data if key not in known)
        if unknown:
            raise ConfigError(unknown[0], f"unknown setting; allowed: {', '.join(sorted(known))}")
        values = dict(data)
        if "hidden" in values:
            values["hidden"] = parse_hidden(values["hidden"])
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        try:
            data = json.loads(text)
        except (TypeError, ValueError) as exc:  # JSONDecodeError is a ValueError
            raise ConfigError("config", f"not valid JSON ({exc}); allowed: a JSON object") from None
        return cls.from_dict(data)

    def replace(self, **changes: Any) -> TrainConfig:
        return replace(self, **changes)


def show(value: Any, limit: int = 60) -> str:
    """A value for an error message: repr, shortened; a huge integer by its size.

    Python refuses to print integers of more than 4300 digits, and a message should fit on
    a line whatever a user typed.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        digits = int(value.bit_length() * math.log10(2)) + 1
        return f"{'-' if value < 0 else ''}an integer of about {digits} digits"
    try:
        text = repr(value)
    except Exception:  # a repr that fails must not hide the real problem
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_hidden(value: Any) -> tuple[int, ...]:
    """'256,128' or [256, 128] -> (256, 128); '' or [] -> () (a linear encoder)."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace(" ", ",").split(",") if p.strip()]
        try:
            return tuple(int(p) for p in parts)
        except ValueError:
            raise ConfigError(
                "hidden",
                f"{show(value)} is not a list of layer sizes; allowed: comma-separated integers, "
                "e.g. 256,128",
            ) from None
    if isinstance(value, (list, tuple)):
        out = []
        for v in value:
            whole = isinstance(v, int) or (isinstance(v, float) and v.is_integer())
            if isinstance(v, bool) or not whole:
                raise ConfigError(
                    "hidden", f"{show(v)} is not an integer layer size; allowed: integers, e.g. 256"
                )
            out.append(int(v))
        return tuple(out)
    raise ConfigError(
        "hidden", f"{show(value)} is not a list of layer sizes; allowed: a list of integers"
    )


def _check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(name, f"{show(value)} is not an integer; allowed: {lo} to {hi}")
    if not lo <= value <= hi:
        raise ConfigError(name, f"{show(value)} is out of range; allowed: {lo} to {hi}")


def _check_float(name: str, value: Any, lo: float, hi: float, *, lo_open: bool = False) -> None:
    allowed = f"allowed: {'(' if lo_open else '['}{lo:g}, {hi:g}]"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(name, f"{show(value)} is not a number; {allowed}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(name, f"{value} is not a finite number; {allowed}")
    bad_lo = value <= lo if lo_open else value < lo
    if bad_lo or value > hi:  # compared exactly: a huge int is not converted to float
        raise ConfigError(name, f"{show(value, 20)} is out of range; {allowed}")


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(name, f"{show(value)} is not a choice; allowed: {', '.join(allowed)}")


def validate(config: TrainConfig) -> TrainConfig:
    """Raise ConfigError for the first invalid setting; return the config unchanged otherwise.

    Checks that need the data (e.g. a conv net on tiny images) happen in ``models.build_model``.
    """
    _check_choice("dataset", config.dataset, DATASETS)
    if config.data_path is not None and not isinstance(config.data_path, str):
        raise ConfigError(
            "data_path", f"{show(config.data_path)} is not a path; allowed: a folder or .npz path"
        )
    if config.dataset == "custom" and not (config.data_path or "").strip():
        raise ConfigError(
            "data_path",
            "dataset 'custom' needs your own images; allowed: a folder of PNG/JPEG images or "
            "an .npz file",
        )
    _check_int("max_samples", config.max_samples, 0, 10_000_000)
    if config.max_samples == 1:
        raise ConfigError("max_samples", "1 image cannot be split; allowed: 0 (all) or 2 or more")
    _check_float("val_fraction", config.val_fraction, 0.0, 0.5, lo_open=True)
    _check_choice("model", config.model, MODELS)
    _check_choice("arch", config.arch, ARCHS)
    _check_int("latent_dim", config.latent_dim, 1, 128)
    if not isinstance(config.hidden, tuple):
        raise ConfigError("hidden", "must be a tuple of layer sizes; allowed: e.g. (256, 128)")
    if len(config.hidden) > 6:
        raise ConfigError("hidden", f"{len(config.hidden)} layers; allowed: at most 6")
    for size in config.hidden:
        _check_int("hidden", size, 1, 4096)
    _check_int("conv_dense", config.conv_dense, 0, 4096)
    if config.conv_dense and config.arch != "conv":
        raise ConfigError("conv_dense", "a dense bottleneck layer needs arch 'conv'; allowed: 0")
    _check_float("beta", config.beta, 0.0, 1000.0)
    _check_int("kl_warmup", config.kl_warmup, 0, 1000)
    _check_choice("recon", config.recon, RECONS)
    if not isinstance(config.binarize, bool):
        raise ConfigError(
            "binarize", f"{show(config.binarize)} is not true or false; allowed: true, false"
        )
    if config.binarize and config.recon != "bce":
        raise ConfigError(
            "binarize", "binarised pixels need the Bernoulli likelihood; allowed: recon 'bce'"
        )
    _check_float("sigma", config.sigma, 0.0, 10.0)
    _check_float("l1_code", config.l1_code, 0.0, 100.0)
    _check_choice("noise_type", config.noise_type, NOISE_TYPES)
    high = 0.95 if config.noise_type == "mask" else 2.0
    _check_float("noise", config.noise, 0.0, high)
    _check_choice("optimizer", config.optimizer, OPTIMIZERS)
    _check_float("lr", config.lr, 0.0, 100.0, lo_open=True)
    _check_float("momentum", config.momentum, 0.0, 0.999)
    _check_float("weight_decay", config.weight_decay, 0.0, 1.0)
    _check_int("batch_size", config.batch_size, 1, 65536)
    _check_int("epochs", config.epochs, 1, 10_000)
    _check_int("seed", config.seed, 0, 2**31 - 1)
    _check_choice("device", config.device, DEVICES)
    _check_int("threads", config.threads, 0, 256)
    _check_choice("precision", config.precision, PRECISIONS)
    _check_int("log_every", config.log_every, 1, 100_000)
    return config


# One-line explanations for students, shared by the CLI and the Train page.
HELP: dict[str, str] = {
    "dataset": "Which images to learn from.",
    "model": "AE compresses and rebuilds; VAE also learns a smooth, sampleable latent "
    "space; DAE learns to remove noise.",
    "arch": "MLP treats pixels as a flat list; conv uses filters that see local patterns.",
    "latent_dim": "Size of the code (bottleneck). 2 lets you plot it directly.",
    "hidden": "Neurons in each hidden layer of the encoder (the decoder mirrors it).",
    "beta": "Weight of the KL term: >1 pushes codes towards N(0, I), <1 favours "
    "sharper reconstructions.",
    "kl_warmup": "Epochs over which beta grows from 0, which helps avoid posterior collapse.",
    "recon": "The decoder's likelihood p(x|z): Bernoulli (BCE) or Gaussian (MSE with its "
    "normaliser and a std sigma).",
    "binarize": "Bernoulli only: turn grey pixels into 0/1 samples (a new sample every step, a "
    "fixed one for evaluation), so -log p(x|z), the ELBO and bits/dim are true likelihoods.",
    "sigma": "Gaussian only: the decoder's std; 0 learns one shared sigma (sigma-VAE).",
    "conv_dense": "conv only: a fully-connected layer of this width before the code, as in "
    "the Keras VAE example (0 = none).",
    "l1_code": "Penalty on the size of the code (sparse AE); 0 turns it off.",
    "noise": "Corruption added to inputs during training; the target stays clean.",
    "noise_type": "Gaussian adds random noise; mask sets random pixels to zero.",
    "optimizer": "The rule that updates the weights from the gradients.",
    "lr": "Step size of each update: too high diverges, too low learns slowly.",
    "momentum": "How much of the previous update SGD with momentum keeps.",
    "weight_decay": "L2 penalty that keeps weights small.",
    "batch_size": "Images per update step.",
    "epochs": "Passes over the training images.",
    "seed": "Fixes the random choices so a run can be reproduced.",
    "device": "Where to train: auto picks the GPU when there is one.",
    "threads": "CPU threads for this run (0 = default).",
    "precision": "Arithmetic of the training steps: auto uses bfloat16 matrix products on a CPU "
    "that has them natively (about 2x faster); weights and reported losses stay float32.",
    "max_samples": "Use only this many images (0 = all); smaller is faster.",
    "val_fraction": "Share of images held out to measure generalisation.",
    "data_path": "For your own images: a folder of PNG/JPEG files or an .npz file.",
    "log_every": "Training steps between two points of the live loss curve.",
}
