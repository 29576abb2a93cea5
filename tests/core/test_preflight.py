"""The memory pre-flight refuses configs that cannot fit, before allocating anything."""

import pytest

from aevae_core import preflight
from aevae_core.config import TrainConfig
from aevae_core.models import build_model, count_parameters
from aevae_core.preflight import ResourceError, check_memory, estimate_memory


def test_estimate_counts_exact_parameters():
    config = TrainConfig(dataset="mnist", hidden=(400,), latent_dim=20)
    est = estimate_memory(config, (1, 28, 28), 10_000)
    assert est.parameters == count_parameters(build_model(config, (1, 28, 28)))
    assert est.data_bytes == 10_000 * 784 * 4
    assert est.total_bytes > est.weights_bytes + est.activation_bytes + est.data_bytes


def test_activations_grow_with_batch_and_adam_costs_more_than_sgd():
    small = estimate_memory(TrainConfig(batch_size=32), (1, 8, 8), 100)
    large = estimate_memory(TrainConfig(batch_size=320), (1, 8, 8), 100)
    assert large.activation_bytes == pytest.approx(10 * small.activation_bytes)
    sgd = estimate_memory(TrainConfig(optimizer="sgd"), (1, 8, 8), 100)
    assert sgd.weights_bytes < small.weights_bytes


def test_small_config_passes_and_huge_one_is_refused_with_the_estimate():
    assert check_memory(TrainConfig()).total_bytes > 0
    huge = TrainConfig(dataset="cifar10", arch="conv", hidden=(512, 512, 512), batch_size=65536)
    with pytest.raises(ResourceError) as info:
        check_memory(huge)
    assert info.value.field == "batch_size"
    assert "GiB" in info.value.message and "free" in info.value.message


def test_refuses_against_the_free_memory_it_is_given(monkeypatch):
    monkeypatch.setattr(preflight, "free_memory", lambda device: 100 * 2**20)
    with pytest.raises(ResourceError, match="MiB of CPU memory is free"):
        check_memory(TrainConfig(), device="cpu")
    monkeypatch.setattr(preflight, "free_memory", lambda device: None)
    check_memory(TrainConfig(), device="cpu")  # unknown free memory: no refusal
