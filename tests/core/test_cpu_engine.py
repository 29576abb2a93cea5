"""The CPU training step's BCE sum (losses._BCEWithLogitsSum): the value of torch's
binary_cross_entropy_with_logits to float32 rounding, the very same gradient, and NaN kept
(the divergence guard reads it)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from aevae_core.model.losses import reconstruction_sum


def test_cpu_bce_sum_matches_torch_in_value_and_gradient() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 784, generator=gen) * 6
    logits[0, :6] = torch.tensor([100.0, -100.0, 0.0, 30.0, -30.0, 17.0])
    target = torch.rand(64, 784, generator=gen)
    target[0, :6] = torch.tensor([1.0, 1.0, 0.5, 0.0, 0.0, 1.0])
    exact = F.binary_cross_entropy_with_logits(logits.double(), target.double(), reduction="sum")

    ours_l = logits.clone().requires_grad_()
    ours = reconstruction_sum(ours_l, target, "bce")
    ours.backward()
    ref_l = logits.clone().requires_grad_()
    ref = F.binary_cross_entropy_with_logits(ref_l, target, reduction="sum")
    ref.backward()
    # As close to the float64 value as torch's own float32 op is (a sum of 50,176 pixels).
    assert abs(ours.item() - exact.item()) <= max(2 * abs(ref.item() - exact.item()), 1e-6 * exact)
    assert torch.equal(ours_l.grad, ref_l.grad), "the same gradient: the same training steps"

    nan = logits.clone()
    nan[3, 3] = math.nan
    assert math.isnan(reconstruction_sum(nan, target, "bce").item())
