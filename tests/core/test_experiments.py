"""The pair action queues valid, comparable runs (the lessons: test_lessons.py)."""

from dataclasses import asdict

import pytest

from aevae_core.config import TrainConfig, validate
from aevae_core.jobs.admission import submit_to_store
from aevae_core.jobs.runner import execute_run
from aevae_core.lessons.experiments import QUICK_START, pair_configs
from aevae_core.store.runs import RunStore

BASE = TrainConfig(dataset="sprites", arch="conv", hidden=(16, 32), latent_dim=6, epochs=3,
                   seed=7, noise=0.2, l1_code=0.1, kl_warmup=2)  # fmt: skip


def _without(config: TrainConfig, *names: str) -> dict:
    d = asdict(config)
    for name in names:
        d.pop(name)
    return d


@pytest.mark.parametrize("betas", [(), (4.0,), (0.5, 4.0, 16.0)])
def test_pair_differs_only_in_model_and_beta(betas):
    configs = pair_configs(BASE, betas)
    assert [c.model for c in configs] == ["ae", "vae"] + ["vae"] * len(betas)
    assert [c.beta for c in configs[1:]] == [1.0, *betas]
    shared = {str(_without(c, "model", "beta")) for c in configs}
    assert len(shared) == 1, "data, architecture, latent dim, seed and epochs must be identical"
    assert all(c.noise == 0 and c.l1_code == 0 and c.kl_warmup == 0 for c in configs)
    for c in configs:
        validate(c)


def test_beta_one_is_not_duplicated():
    assert len(pair_configs(BASE, (1.0, 2.0))) == 3


def test_pair_is_queued_as_one_group(tmp_path):
    store = RunStore(tmp_path)
    ids = [submit_to_store(store, c, group_id="g1") for c in pair_configs(BASE, (4.0,))]
    runs = {r["id"]: r for r in store.list_runs()}
    assert [runs[i]["group_id"] for i in ids] == ["g1"] * 3
    assert [runs[i]["status"] for i in ids] == ["queued"] * 3
    assert [r["id"] for r in store.queued()] == ids  # FIFO: AE first


def test_quick_start_learns_a_latent_structure(tmp_path):
    """Home's one-click run must not collapse: with too few updates a 2-D digits VAE ends
    with a KL of ~0 and a latent scatter that is one blob."""
    assert (QUICK_START.dataset, QUICK_START.model, QUICK_START.latent_dim) == ("digits", "vae", 2)
    assert QUICK_START.beta == 1.0 and QUICK_START.kl_warmup == 0
    validate(QUICK_START)
    store = RunStore(tmp_path)
    run_id = store.create_run(QUICK_START, status="running")
    execute_run(store, run_id)  # ~2 s on an idle 2-core CPU
    assert store.get_run(run_id)["status"] == "completed"
    last = store.metrics(run_id, "epoch")[-1]
    assert last["val_kl"] > 1.5, f"the quick start collapsed: KL {last['val_kl']:.3f} nats/image"
    assert last["active_units"] == 2
