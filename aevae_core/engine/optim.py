"""The optimizers of the training loop: torch's fused implementations, and ``fast_step``,
the fused Adam kernel called without ``Optimizer.step``'s per-call Python bookkeeping."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from aevae_core.config import TrainConfig


def make_optimizer(config: TrainConfig, params: Any) -> torch.optim.Optimizer:
    """SGD, SGD with momentum, Adagrad or Adam; weight_decay is the L2 penalty on weights.

    The fused implementations (one kernel per step for all parameters) are used where torch
    has them: on a CPU, the default per-parameter Adam loop costs about as much as the
    forward and backward passes of a small MLP. Same update rule, same hyperparameters.
    """
    params = list(params)
    kwargs: dict[str, Any] = {"lr": config.lr, "weight_decay": config.weight_decay}
    if config.optimizer in ("sgd", "momentum"):
        cls: type[torch.optim.Optimizer] = torch.optim.SGD
        if config.optimizer == "momentum":
            kwargs["momentum"] = config.momentum
    elif config.optimizer == "adagrad":
        cls = torch.optim.Adagrad
    else:
        cls = torch.optim.Adam
    try:
        return cls(params, fused=True, **kwargs)
    except (RuntimeError, ValueError, TypeError):  # a device or dtype without a fused kernel
        return cls(params, **kwargs)


def fast_step(optimizer: torch.optim.Optimizer) -> Callable[[], None]:
    """``optimizer.step`` minus the Python bookkeeping around torch's fused Adam kernel.

    On a CPU, ``Optimizer.step`` spends about half a millisecond per call on hooks, profiler
    records and regrouping tensors by device, some 5% of a step of the classic 784-400-20 VAE.
    This calls the same kernel on the same state tensors, so the update is bit-for-bit the
    one ``optimizer.step()`` makes (tests/core/test_train.py checks it). Everything else goes
    through ``optimizer.step()``: other optimizers, several parameter groups, devices or
    dtypes, the first step (it creates the state), a parameter without a gradient.
    """
    kernel = getattr(torch, "_fused_adam_", None)
    groups = optimizer.param_groups
    group = groups[0]
    eligible = (
        kernel is not None
        and type(optimizer) is torch.optim.Adam
        and len(groups) == 1
        and bool(group.get("fused"))
        and not any(group.get(k) for k in ("amsgrad", "maximize", "capturable", "differentiable"))
        and not group.get("decoupled_weight_decay", False)
        and len({(p.device, p.dtype) for p in group["params"]}) == 1
    )
    if not eligible:
        return optimizer.step
    params = list(group["params"])
    cache: dict[str, Any] = {"state": None, "off": False}

    def step() -> None:
        grads = [p.grad for p in params]
        if cache["state"] is None or cache["off"] or any(g is None for g in grads):
            optimizer.step()
            states = [optimizer.state.get(p, {}) for p in params]
            if cache["state"] is None and all("exp_avg" in st and "step" in st for st in states):
                keys = ("exp_avg", "exp_avg_sq", "step")
                cache["state"] = tuple([st[key] for st in states] for key in keys)
            return
        exp_avgs, exp_avg_sqs, steps = cache["state"]
        hp = optimizer.param_groups[0]  # read each time: a caller may change the lr
        beta1, beta2 = hp["betas"]
        torch._foreach_add_(steps, 1)
        try:
            kernel(
                params, grads, exp_avgs, exp_avg_sqs, [], steps, amsgrad=False, lr=hp["lr"],
                beta1=beta1, beta2=beta2, weight_decay=hp["weight_decay"], eps=hp["eps"],
                maximize=False, grad_scale=None, found_inf=None,
            )  # fmt: skip
        except (RuntimeError, TypeError):  # a torch whose private kernel differs: the slow path
            torch._foreach_sub_(steps, 1)
            cache["off"] = True
            optimizer.step()

    return step
