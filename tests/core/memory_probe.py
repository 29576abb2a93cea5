"""Measure what one training run's steps really allocate, for test_preflight_measured.py.

    python tests/core/memory_probe.py '<config json>' STEPS   ->  one JSON line

Run in a fresh interpreter, as a worker is: torch and the engine imported and warmed up (the
forkserver's preload, aevae_core.jobs.worker), so lazily loaded libraries are not counted. Then,
on the CPU, with the peak-RSS counter reset (``/proc/self/clear_refs`` 5) before each part:

* ``data``: the RSS increase from loading the dataset (the tensors the run trains on);
* ``step``: the peak RSS during ``STEPS`` training steps (train.fit stopped after them, so
  no evaluation) minus the RSS before them: weights, gradients, optimiser state,
  activations and the step's temporaries, which is what the pre-flight adds up.

On a GPU (``--device cuda``) both come from ``torch.cuda.max_memory_allocated``, which
counts exactly the tensors (no allocator cache, no CUDA context).
"""

from __future__ import annotations

import json
import sys


def rss_bytes(field: str = "VmRSS") -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)


def main(config_json: str, steps: int) -> dict:
    import torch

    import aevae_core.jobs.worker  # noqa: F401  (the forkserver's preload: imports and warms up)
    from aevae_core.config import TrainConfig
    from aevae_core.data import datasets as data
    from aevae_core.engine import fit as train

    config = TrainConfig.from_json(config_json)
    cuda = config.device == "cuda"
    torch.set_num_threads(1)
    done = [0]

    class Count(train.Callbacks):
        def on_step(self, metrics: dict) -> None:
            done[0] = metrics["step"]

    def stop() -> bool:
        return done[0] >= steps

    config = config.replace(log_every=1)
    if cuda:
        torch.cuda.init()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        reset_peak()
        base = rss_bytes()
    dataset = data.load_dataset(
        config.dataset, max_samples=config.max_samples, val_fraction=config.val_fraction
    )
    n_images = len(dataset.train_x) + len(dataset.val_x)
    if cuda:  # the run moves its data to the GPU; count it as the data part
        on_gpu = (dataset.train_x.cuda(), dataset.val_x.cuda())
        data_bytes = torch.cuda.memory_allocated() - base
        del on_gpu
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        data_bytes = rss_bytes() - base
        reset_peak()
        base = rss_bytes()
    train.fit(config, dataset, Count(), stop)
    if cuda:  # fit's own copy of the data is on the GPU too: not part of the step
        peak = torch.cuda.max_memory_allocated() - base - data_bytes
    else:
        peak = rss_bytes("VmHWM") - base
    return {"data": data_bytes, "step": peak, "n_images": n_images, "steps": done[0],
            "shape": list(dataset.shape)}  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]))))
