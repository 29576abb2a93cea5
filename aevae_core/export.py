"""Export a trained run's encoder and decoder as ONNX, safetensors or TorchScript files.

    paths = export_run(store, run_id, "onnx", "out/")  # out/encoder.onnx, out/decoder.onnx, ...

The exported nets compute what the app computes (``analysis.encode`` and ``analysis.decode``:
the model in eval mode, so a VAE's code is its mean):

* encoder: ``x`` float32 (N, C, H, W), pixel values in [0, 1] -> ``mu`` float32 (N, D), and for
  a VAE also ``logvar`` float32 (N, D), q(z|x) = N(mu, exp(logvar)) (Kingma & Welling 2014);
* decoder: ``z`` float32 (N, D) -> ``x_hat`` float32 (N, C, H, W) in [0, 1], the sigmoid of the
  decoder's logits (the Bernoulli means, or the Gaussian decoder's mean image).

Every export also writes ``config.json`` (the run's TrainConfig) and ``README.md`` (the
inputs and outputs with this run's shapes). ONNX uses torch's TorchScript-based exporter
(``dynamo=False``): it needs only the ``onnx`` package, where the newer exporter also needs
``onnxscript``. TorchScript files come from ``torch.jit.trace`` (deprecated by PyTorch in
favour of ``torch.export``, but still what C++ and older runtimes load).
"""

from __future__ import annotations

import importlib.util
import io
import json
import warnings
from pathlib import Path

import torch
from torch import nn

from aevae_core.config import ConfigError, TrainConfig
from aevae_core.files import atomic_write_bytes
from aevae_core.model.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint
from aevae_core.model.networks import Autoencoder, build_model
from aevae_core.store.runs import RunNotFound, RunStore

FORMATS = ("onnx", "safetensors", "torchscript")
SUFFIX = {"onnx": "onnx", "safetensors": "safetensors", "torchscript": "pt"}
NEEDS = {"onnx": "onnx", "safetensors": "safetensors"}  # format -> the pip package it needs
OPSET = 17
# Parameter names of the encoder half of Autoencoder's state dict (the rest is the decoder).
ENCODER_KEYS = ("encoder.", "to_mu.", "to_logvar.")


class ExportError(ConfigError):
    """The export cannot be made: ``field`` names the setting, the message what is allowed."""


class EncoderNet(nn.Module):
    """x (N, C, H, W) in [0, 1] -> mu (N, D), or (mu, logvar) for a VAE."""

    def __init__(self, model: Autoencoder) -> None:
        super().__init__()
        # Only the encoder's layers, so the file holds no decoder weights.
        self.encoder, self.to_mu, self.to_logvar = model.encoder, model.to_mu, model.to_logvar

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        # The model's own encode (with its logvar clamp) run on these layers, not a copy of it.
        mu, logvar = Autoencoder.encode(self, x)  # type: ignore[arg-type]
        return mu if logvar is None else (mu, logvar)


class DecoderNet(nn.Module):
    """z (N, D) -> x_hat (N, C, H, W) in [0, 1]: ``Autoencoder.decode_images``."""

    def __init__(self, model: Autoencoder) -> None:
        super().__init__()
        self.decoder = model.decoder

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))


def require(fmt: str) -> None:
    """ExportError naming the format and the pip install when its package is missing."""
    if fmt not in FORMATS:
        raise ExportError("format", f"{fmt!r} is not a format; allowed: {', '.join(FORMATS)}")
    package = NEEDS.get(fmt)
    if package and importlib.util.find_spec(package) is None:
        raise ExportError(
            "format", f"{fmt} needs the {package} package: python -m pip install {package} "
            "(or -r requirements-export.txt)",
        )  # fmt: skip


def checkpoint_for(store: RunStore, run_id: str, epoch: int | None = None) -> Path:
    """The run's ``latest.pt``, or the checkpoint of exactly ``epoch`` (else ExportError)."""
    try:
        store.get_run(run_id)
    except RunNotFound as exc:
        raise ExportError("run", f"{exc.args[0]}; allowed: an id from `runs list`") from None
    latest = store.checkpoint_path(run_id, "latest")
    if epoch is None or (latest.exists() and _epoch_of(latest) == epoch):
        if not latest.exists():
            raise ExportError("run", f"run {run_id} has no checkpoint yet: it is written at "
                              "the end of the first epoch")  # fmt: skip
        return latest
    path = store.epoch_checkpoint_path(run_id, epoch)
    if not path.exists():
        kept = sorted({*store.checkpoint_epochs(run_id), *_latest_epoch(latest)})
        allowed = ", ".join(map(str, kept)) or "none yet"
        raise ExportError("epoch", f"run {run_id} has no checkpoint of epoch {epoch}; "
                          f"allowed: {allowed}")  # fmt: skip
    return path


def _epoch_of(path: Path) -> int:
    return int(load_checkpoint(path)["epoch"])


def _latest_epoch(latest: Path) -> list[int]:
    return [_epoch_of(latest)] if latest.exists() else []


def export_run(
    store: RunStore, run_id: str, fmt: str, out_dir: str | Path, epoch: int | None = None
) -> list[Path]:
    """Write ``encoder.*``, ``decoder.*``, ``config.json`` and ``README.md`` into ``out_dir``
    (created if needed); returns their paths. ExportError for anything that cannot be done."""
    require(fmt)
    path = checkpoint_for(store, run_id, epoch)
    try:
        ckpt = load_checkpoint(path)
        model, config = model_from_checkpoint(ckpt)
    except CheckpointError as exc:
        raise ExportError("run", str(exc)) from None
    model.requires_grad_(False)
    out = Path(out_dir)
    files = {
        f"encoder.{SUFFIX[fmt]}": _WRITERS[fmt](model, "encoder", config, int(ckpt["epoch"])),
        f"decoder.{SUFFIX[fmt]}": _WRITERS[fmt](model, "decoder", config, int(ckpt["epoch"])),
        "config.json": config.to_json().encode(),
        "README.md": readme(model, fmt, run_id, int(ckpt["epoch"])).encode(),
    }
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, payload in files.items():
            atomic_write_bytes(out / name, payload)
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise ExportError("out", f"cannot write to {str(out)!r} ({why}); "
                          "allowed: a folder you can write to") from None  # fmt: skip
    return [out / name for name in files]


def _nets(model: Autoencoder, part: str) -> tuple[nn.Module, torch.Tensor]:
    """The wrapper of ``part`` and an example input (a batch of 2) to trace it with."""
    if part == "encoder":
        return EncoderNet(model).eval(), torch.rand(2, *model.shape)
    return DecoderNet(model).eval(), torch.randn(2, model.latent_dim)


def _names(model: Autoencoder, part: str) -> tuple[list[str], list[str]]:
    if part == "decoder":
        return ["z"], ["x_hat"]
    return ["x"], ["mu", "logvar"] if model.variational else ["mu"]


def _onnx(model: Autoencoder, part: str, config: TrainConfig, epoch: int) -> bytes:
    import onnx

    net, example = _nets(model, part)
    inputs, outputs = _names(model, part)
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the legacy exporter's deprecation notice
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net, (example,), buf, dynamo=False, opset_version=OPSET, input_names=inputs,
            output_names=outputs, dynamic_axes={n: {0: "batch"} for n in inputs + outputs},
        )  # fmt: skip
    proto = onnx.load_from_string(buf.getvalue())
    onnx.checker.check_model(proto)
    for key, value in {"aevae_config": config.to_json(), "aevae_epoch": str(epoch)}.items():
        proto.metadata_props.add(key=key, value=value)
    return proto.SerializeToString()


def _torchscript(model: Autoencoder, part: str, config: TrainConfig, epoch: int) -> bytes:
    net, example = _nets(model, part)
    with warnings.catch_warnings():  # torch.jit's deprecation notice
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(net, example)
        buf = io.BytesIO()
        extra = {"config.json": config.to_json(), "epoch": str(epoch)}
        torch.jit.save(traced, buf, _extra_files=extra)
    return buf.getvalue()


def _safetensors(model: Autoencoder, part: str, config: TrainConfig, epoch: int) -> bytes:
    """The half of the model's state dict under its own names, so that the two files together
    load back with ``Autoencoder.load_state_dict`` (see ``load_safetensors``)."""
    from safetensors.torch import save

    state = model.state_dict()
    keep = {
        k: v.contiguous()
        for k, v in state.items()
        if k.startswith(ENCODER_KEYS) == (part == "encoder")
    }
    meta = {"config": config.to_json(), "shape": json.dumps(list(model.shape)),
            "epoch": str(epoch), "part": part}  # fmt: skip
    return save(keep, metadata=meta)


_WRITERS = {"onnx": _onnx, "torchscript": _torchscript, "safetensors": _safetensors}


def load_safetensors(folder: str | Path) -> Autoencoder:
    """The Autoencoder (eval mode, CPU) of an export's encoder.safetensors + decoder.safetensors."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    folder = Path(folder)
    with safe_open(str(folder / "encoder.safetensors"), "pt") as f:
        meta = f.metadata()
    config = TrainConfig.from_json(meta["config"])
    model = build_model(config, tuple(json.loads(meta["shape"])))
    state = {
        k: v
        for part in ("encoder", "decoder")
        for k, v in load_file(folder / f"{part}.safetensors").items()
    }
    model.load_state_dict(state)
    return model.eval()


def readme(model: Autoencoder, fmt: str, run_id: str, epoch: int) -> str:
    """What the exported files take and give, with this model's shapes."""
    c, h, w = model.shape
    d, s = model.latent_dim, SUFFIX[fmt]
    enc_out = (
        f"`mu` and `logvar`, float32 (N, {d}) each: q(z|x) = N(mu, exp(logvar)); the app "
        "uses mu as the code"
        if model.variational
        else f"`mu`, float32 (N, {d}): the code (an AE)"
    )
    noise = (
        f"\nThe Gaussian decoder's std (recon mse) is sigma = {model.sigma:.6g}, not an output: "
        "p(x|z) = N(x_hat, sigma^2 I).\n"
        if model.sigma is not None
        else ""
    )
    how = {
        "onnx": "onnxruntime.InferenceSession('encoder.onnx').run(None, {'x': x})",
        "torchscript": "torch.jit.load('encoder.pt')(x)",
        "safetensors": "aevae_core.export.load_safetensors(folder).encode(x) (mu, logvar)",
    }[fmt]
    return (
        f"# Run {run_id}, epoch {epoch}, exported as {fmt}\n\n"
        f"* `encoder.{s}`: input `x`, float32 (N, {c}, {h}, {w}), pixel values in [0, 1] "
        f"(uint8 / 255); output {enc_out}.\n"
        f"* `decoder.{s}`: input `z`, float32 (N, {d}); output `x_hat`, float32 "
        f"(N, {c}, {h}, {w}) in [0, 1] (the sigmoid of the decoder's logits).\n"
        "* `config.json`: the run's settings (`TrainConfig.from_json`).\n\n"
        f"N is any batch size. In Python: `{how}`.\n{noise}"
    )
