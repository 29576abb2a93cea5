"""Tests for aevae_core.engine.fit: steps, evaluation, fit, the divergence guard, stop, resume."""

from __future__ import annotations

import math
import threading

import pytest
import torch

from aevae_core.config import TrainConfig
from aevae_core.engine import fit as train_module
from aevae_core.engine.evaluate import evaluate
from aevae_core.engine.fit import Callbacks, autocast_dtype, beta_at, corrupt, explosion_limit, fit
from aevae_core.engine.optim import make_optimizer
from aevae_core.jobs import runner
from aevae_core.model.checkpoint import load_checkpoint
from aevae_core.model.losses import loss_terms
from aevae_core.model.networks import build_model
from aevae_core.store.runs import RunStore

TIMING_KEYS = {"epoch_time_s", "time"}


def small(**kw) -> TrainConfig:
    base = {"hidden": (32,), "latent_dim": 4, "epochs": 2, "batch_size": 64, "threads": 1}
    base.update(kw)
    return TrainConfig(**base)


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def train_step(model, optimizer, x: torch.Tensor, config: TrainConfig) -> float:
    out = model(x)
    terms = loss_terms(out, x, recon=config.recon, beta=config.beta)
    optimizer.zero_grad(set_to_none=True)
    (terms.loss / x.shape[0]).backward()
    optimizer.step()
    return terms.loss.item() / x.shape[0]


def test_a_training_step_changes_the_weights(digits_data) -> None:
    config = small()
    torch.manual_seed(0)
    model = build_model(config, digits_data.shape)
    before = weights(model)
    train_step(model, make_optimizer(config, model.parameters()), digits_data.train_x[:64], config)
    after = weights(model)
    for name in before:
        assert not torch.equal(before[name], after[name]), name


def test_evaluate_does_not_change_the_model(digits_data) -> None:
    config = small()
    model = build_model(config, digits_data.shape)
    model.train()
    before = weights(model)
    metrics = evaluate(model, digits_data.val_x, config)
    assert model.training  # mode restored
    for name, value in weights(model).items():
        assert torch.equal(before[name], value), name
    for key in ("val_loss", "val_recon", "val_kl", "val_mse", "val_elbo"):
        assert math.isfinite(metrics[key]), key
    assert "val_bits_per_dim" not in metrics  # BCE on grey pixels is not a likelihood
    assert "val_sigma" not in metrics  # a Bernoulli decoder has no sigma
    assert metrics["val_loss"] == pytest.approx(metrics["val_recon"] + metrics["val_kl"])
    assert len(metrics["val_kl_per_dim"]) == 4
    assert sum(metrics["val_kl_per_dim"]) == pytest.approx(metrics["val_kl"])
    assert 0 <= metrics["active_units"] <= 4


def test_evaluate_of_an_autoencoder_is_deterministic(digits_data) -> None:
    config = small(model="ae")
    model = build_model(config, digits_data.shape)
    a = evaluate(model, digits_data.val_x, config)
    b = evaluate(model, digits_data.val_x, config)
    assert a == b
    assert a["val_kl"] == 0.0 and "val_elbo" not in a


def test_training_lowers_the_validation_loss(digits_data) -> None:
    result = fit(small(epochs=5, hidden=(64,), latent_dim=8, lr=3e-3), digits_data)
    assert result.status == "completed" and result.reason is None
    assert [h["epoch"] for h in result.history] == [1, 2, 3, 4, 5]
    first, last = result.history[0], result.history[-1]
    assert last["val_loss"] < first["val_loss"] - 1.0
    assert last["train_loss"] < first["train_loss"]
    assert result.epoch == 5
    assert result.train_samples_per_s > 0


def test_seeded_runs_reproduce_on_cpu(digits_data) -> None:
    config = small(device="cpu", seed=7)
    a, b = fit(config, digits_data), fit(config, digits_data)

    def strip(history):
        return [{k: v for k, v in h.items() if k not in TIMING_KEYS} for h in history]

    assert strip(a.history) == strip(b.history)
    for name, value in weights(a.model).items():
        assert torch.equal(value, weights(b.model)[name]), name
    c = fit(config.replace(seed=8), digits_data)
    assert strip(c.history) != strip(a.history)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_seeded_runs_reproduce_in_either_precision(digits_data, precision: str) -> None:
    config = small(device="cpu", seed=3, precision=precision, epochs=1)
    a, b = fit(config, digits_data), fit(config, digits_data)
    for name, value in weights(a.model).items():
        assert value.dtype == torch.float32, name  # autocast never changes the weights
        assert torch.equal(value, weights(b.model)[name]), name


def test_precision_auto_follows_the_cpu(monkeypatch) -> None:
    """auto: bf16 products only on a CPU that has them natively; fp32 stays fp32."""
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    monkeypatch.setattr(train_module, "cpu_has_native_bf16", lambda: True)
    assert autocast_dtype(small(precision="auto"), cpu) is torch.bfloat16
    assert autocast_dtype(small(precision="auto"), cuda) is None
    assert autocast_dtype(small(precision="fp32"), cpu) is None
    monkeypatch.setattr(train_module, "cpu_has_native_bf16", lambda: False)
    assert autocast_dtype(small(precision="auto"), cpu) is None
    assert autocast_dtype(small(precision="bf16"), cpu) is torch.bfloat16


def test_bf16_steps_learn_as_well_as_fp32(digits_data) -> None:
    """The same run in bf16 and fp32 products ends within 2% of each other's validation
    loss (evaluation is fp32 in both), and the bf16 one really used bf16."""
    fp32 = fit(small(device="cpu", precision="fp32", epochs=3), digits_data)
    bf16 = fit(small(device="cpu", precision="bf16", epochs=3), digits_data)
    a, b = fp32.history[-1]["val_loss"], bf16.history[-1]["val_loss"]
    assert abs(b - a) / a < 0.02, (a, b)
    assert fp32.history != bf16.history  # not silently the same arithmetic


@pytest.mark.parametrize("model_name, arch", [("ae", "conv"), ("dae", "mlp"), ("vae", "conv")])
def test_every_model_kind_trains(digits_data, model_name: str, arch: str) -> None:
    hidden = (8, 16) if arch == "conv" else (32,)
    result = fit(small(model=model_name, arch=arch, hidden=hidden, epochs=1), digits_data)
    assert result.status == "completed"
    assert math.isfinite(result.history[0]["val_loss"])


# -- the divergence guard --------------------------------------------------------------------


def _run_in_store(tmp_path, config: TrainConfig):
    store = RunStore(tmp_path / "runs")
    run_id = store.create_run(config, status="running")
    result = runner.execute_run(store, run_id, stop=lambda: False)
    return store, run_id, result


def _assert_checkpoint_finite(store: RunStore, run_id: str) -> int:
    path = store.checkpoint_path(run_id, "latest")
    if not path.exists():
        return 0
    ckpt = load_checkpoint(path)
    for name, tensor in ckpt["model"].items():
        assert torch.isfinite(tensor).all(), name
    return int(ckpt["epoch"])


@pytest.mark.parametrize(
    "overrides", [{"lr": 10.0}, {"lr": 100.0, "optimizer": "sgd"}], ids=["adam-10", "sgd-100"]
)
def test_a_huge_learning_rate_ends_diverged(tmp_path, overrides) -> None:
    config = small(epochs=3, **overrides)
    store, run_id, result = _run_in_store(tmp_path, config)
    run = store.get_run(run_id)
    assert run["status"] == "diverged" and result.status == "diverged"
    assert "learning rate" in run["reason"]
    _assert_checkpoint_finite(store, run_id)
    for tensor in result.model.state_dict().values():  # the guard runs before the update
        assert torch.isfinite(tensor).all()


def test_divergence_after_an_epoch_keeps_the_last_good_checkpoint(tmp_path, monkeypatch) -> None:
    """Epoch 1 trains normally; then the learning rate jumps and epoch 2 diverges."""

    class Sabotage(runner.StoreRecorder):
        def on_epoch_end(self, record, model, optimizer) -> None:
            super().on_epoch_end(record, model, optimizer)
            for group in optimizer.param_groups:
                group["lr"] = 1e4

    monkeypatch.setattr(runner, "StoreRecorder", Sabotage)
    store, run_id, result = _run_in_store(tmp_path, small(epochs=3, optimizer="sgd", lr=0.05))
    assert result.status == "diverged"
    assert store.get_run(run_id)["status"] == "diverged"
    assert "epoch 2" in result.reason and "learning rate" in result.reason
    assert [h["epoch"] for h in result.history] == [1]
    assert _assert_checkpoint_finite(store, run_id) == 1


def test_explosion_limit_leaves_room_for_normal_training() -> None:
    assert explosion_limit(44.0, 64) == 64_000.0
    assert explosion_limit(1e4, 64) == 1e6


def test_a_stop_flag_stops_fit(digits_data) -> None:
    stopped = fit(small(), digits_data, stop=lambda: True)
    assert stopped.status == "stopped" and stopped.history == [] and "stopped" in stopped.reason

    event = threading.Event()

    class StopAfterFirstEpoch(Callbacks):
        def on_epoch_end(self, record, model, optimizer) -> None:
            event.set()

    result = fit(small(epochs=5), digits_data, StopAfterFirstEpoch(), stop=event)
    assert result.status == "stopped"
    assert [h["epoch"] for h in result.history] == [1]
    assert result.epoch == 1


def test_callbacks_see_steps_and_epochs(digits_data) -> None:
    seen: dict[str, list] = {"start": [], "step": [], "epoch": []}

    class Spy(Callbacks):
        def on_fit_start(self, model, data, total_steps) -> None:
            seen["start"].append(total_steps)

        def on_step(self, metrics) -> None:
            seen["step"].append(metrics)

        def on_epoch_end(self, record, model, optimizer) -> None:
            seen["epoch"].append(record)

    config = small(epochs=2, log_every=5)
    fit(config, digits_data, Spy())
    steps_per_epoch = math.ceil(len(digits_data.train_x) / config.batch_size)
    assert seen["start"] == [2 * steps_per_epoch]
    logged = [m["step"] for m in seen["step"]]
    expected = sorted({1, steps_per_epoch + 1} | set(range(5, 2 * steps_per_epoch + 1, 5)))
    assert logged == expected
    assert all(math.isfinite(m["loss"]) and m["samples_per_s"] >= 0 for m in seen["step"])
    assert [r["epoch"] for r in seen["epoch"]] == [1, 2]
    assert seen["epoch"][-1]["step"] == 2 * steps_per_epoch


def test_resume_continues_from_a_checkpoint(digits_data) -> None:
    config = small(epochs=3)
    captured = {}

    class Keep(Callbacks):
        def on_epoch_end(self, record, model, optimizer) -> None:
            if record["epoch"] == 1:
                captured["ckpt"] = {
                    "model": weights(model),
                    "optimizer": optimizer.state_dict(),
                    "epoch": 1,
                    "history": [dict(record)],
                }

    fit(config, digits_data, Keep(), stop=lambda: "ckpt" in captured)
    resumed = fit(config, digits_data, resume=captured["ckpt"])
    assert resumed.status == "completed"
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    assert resumed.history[-1]["val_loss"] < resumed.history[0]["val_loss"]


# -- pieces of the loop ----------------------------------------------------------------------


def test_kl_warmup_ramps_beta_linearly() -> None:
    config = TrainConfig(beta=2.0, kl_warmup=4)
    assert [beta_at(config, p) for p in (0, 1, 2, 3, 4, 10)] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]
    assert beta_at(config, 0.5) == pytest.approx(0.25)
    assert beta_at(TrainConfig(beta=3.0, kl_warmup=0), 0.0) == 3.0


def test_kl_warmup_is_used_by_fit(digits_data) -> None:
    betas: list[float] = []

    class Spy(Callbacks):
        def on_step(self, metrics) -> None:
            betas.append(metrics["beta"])

    result = fit(small(epochs=2, kl_warmup=2, beta=1.0, log_every=1), digits_data, Spy())
    assert betas[0] == 0.0
    assert all(b2 > b1 for b1, b2 in zip(betas, betas[1:], strict=False))
    assert betas[-1] < 1.0
    assert [h["beta"] for h in result.history] == [0.5, 1.0]


def test_mask_corruption_zeroes_pixels_with_the_given_probability() -> None:
    x = torch.full((200, 1, 10, 10), 0.7)
    gen = torch.Generator().manual_seed(0)
    out = corrupt(x, 0.3, "mask", gen)
    assert out.shape == x.shape
    assert torch.all((out == 0) | (out == x))  # kept pixels are untouched
    assert (out == 0).float().mean().item() == pytest.approx(0.3, abs=0.01)
    assert torch.equal(x, torch.full((200, 1, 10, 10), 0.7))  # the input is not modified


def test_gaussian_corruption_adds_clamped_noise() -> None:
    x = torch.full((200, 1, 10, 10), 0.5)
    out = corrupt(x, 0.1, "gaussian", torch.Generator().manual_seed(0))
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    noise = out - x
    assert noise.mean().item() == pytest.approx(0.0, abs=0.005)
    assert noise.std().item() == pytest.approx(0.1, rel=0.03)
    assert torch.equal(x, torch.full((200, 1, 10, 10), 0.5))
    big = corrupt(torch.zeros(1000), 1.0, "gaussian")
    assert float(big.min()) == 0.0 and float(big.max()) <= 1.0


def test_no_noise_means_no_corruption() -> None:
    x = torch.rand(3, 1, 4, 4)
    assert corrupt(x, 0.0, "mask") is x
    assert corrupt(x, 0.0, "gaussian") is x


def test_corruption_is_reproducible_with_a_generator() -> None:
    x = torch.rand(5, 1, 4, 4)
    a = corrupt(x, 0.5, "mask", torch.Generator().manual_seed(3))
    b = corrupt(x, 0.5, "mask", torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["adam", "sgd", "momentum", "adagrad"])
def test_every_optimizer_trains(digits_data, name: str) -> None:
    config = small(optimizer=name, lr=0.05 if name in ("sgd", "momentum") else 3e-3)
    torch.manual_seed(0)
    model = build_model(config, digits_data.shape)
    optimizer = make_optimizer(config, model.parameters())
    x = digits_data.train_x[:64]
    before = weights(model)
    losses = [train_step(model, optimizer, x, config) for _ in range(8)]
    assert losses[-1] < losses[0]
    assert any(not torch.equal(before[k], v) for k, v in weights(model).items())


def test_optimizers_use_the_public_fused_kernels_where_torch_has_them(monkeypatch) -> None:
    """fused=True on a CPU (torch >= 2.4 has all four); a torch without one falls back."""
    params = [torch.nn.Parameter(torch.ones(3))]
    for name in ("sgd", "momentum", "adagrad", "adam"):
        optimizer = make_optimizer(TrainConfig(optimizer=name), params)
        assert optimizer.param_groups[0]["fused"] is True, name

    def no_fused(params, *, fused: bool = False, **kwargs):
        if fused:
            raise RuntimeError("`fused=True` requires all the params to be floating point")
        return real_adam(params, **kwargs)

    real_adam = torch.optim.Adam
    monkeypatch.setattr(torch.optim, "Adam", no_fused)
    optimizer = make_optimizer(TrainConfig(optimizer="adam"), params)
    assert isinstance(optimizer, real_adam) and not optimizer.param_groups[0]["fused"]


def test_fit_updates_through_optimizer_step(digits_data, monkeypatch) -> None:
    """The loop's update is ``optimizer.step()``, once per batch: no private kernel call."""
    calls = []
    original = torch.optim.Adam.step
    monkeypatch.setattr(
        torch.optim.Adam, "step", lambda self, *a, **k: calls.append(1) or original(self, *a, **k)
    )
    config = small(optimizer="adam", epochs=1, batch_size=256)
    result = fit(config, digits_data)
    assert len(calls) == math.ceil(digits_data.train_x.shape[0] / 256)
    assert result.status == "completed"


def test_optimizer_settings_are_applied() -> None:
    params = [torch.nn.Parameter(torch.ones(3))]
    momentum = make_optimizer(TrainConfig(optimizer="momentum", momentum=0.8), params)
    assert isinstance(momentum, torch.optim.SGD)
    assert momentum.param_groups[0]["momentum"] == 0.8
    sgd = make_optimizer(TrainConfig(optimizer="sgd", lr=0.2, weight_decay=0.01), params)
    assert sgd.param_groups[0]["momentum"] == 0 and sgd.param_groups[0]["lr"] == 0.2
    assert sgd.param_groups[0]["weight_decay"] == 0.01
    assert isinstance(make_optimizer(TrainConfig(optimizer="adagrad"), params), torch.optim.Adagrad)
    assert isinstance(make_optimizer(TrainConfig(optimizer="adam"), params), torch.optim.Adam)


def test_weight_decay_changes_the_update(digits_data) -> None:
    x = digits_data.train_x[:32]
    results = {}
    for wd in (0.0, 0.1):
        config = small(optimizer="sgd", lr=0.1, weight_decay=wd)
        torch.manual_seed(0)
        model = build_model(config, digits_data.shape).eval()  # eval: no sampling noise
        start = weights(model)
        train_step(model, make_optimizer(config, model.parameters()), x, config)
        results[wd] = (start, weights(model))
    (start0, after0), (start1, after1) = results[0.0], results[0.1]
    for name in start0:
        assert torch.equal(start0[name], start1[name])
        # SGD with L2: w <- w - lr * (g + wd * w); the difference is exactly lr * wd * w.
        assert torch.allclose(after0[name] - after1[name], 0.1 * 0.1 * start0[name], atol=1e-6)


def test_mnist_one_epoch(shared_data_dir) -> None:
    from aevae_core.data.datasets import load_dataset

    data = load_dataset("mnist", data_dir=shared_data_dir, seed=0, max_samples=2000)
    assert data.shape == (1, 28, 28) and len(data.train_x) + len(data.val_x) == 2000
    config = TrainConfig(dataset="mnist", max_samples=2000, hidden=(128,), latent_dim=8,
                         epochs=1, threads=1)  # fmt: skip
    result = fit(config, data)
    assert result.status == "completed"
    val = result.history[0]["val_loss"]
    assert math.isfinite(val) and val < 784 * math.log(2.0)  # better than predicting 0.5
