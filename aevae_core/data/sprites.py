"""Procedural dSprites-style sprites: squares, ellipses and triangles with known generative
factors (shape, scale, rotation, x, y), for measuring disentanglement (MIG).

Rotation is drawn within each shape's symmetry period (square [0, pi/2), ellipse [0, pi),
equilateral triangle [0, 2 pi/3)): a square turned by pi/2 is the same image, so drawing
it from [0, 2 pi) would leave 3/4 of the factor's values invisible in the pixels and cap
any encoder's MIG on rotation (at about 0.54 with 20 bins: log 5 / log 20). dSprites
(Matthey et al. 2017) has the same issue; Locatello et al. (2019) discuss it.

    images, factors = generate_sprites(1000, seed=0)  # (1000, 1, 32, 32), (1000, 5)
"""

from __future__ import annotations

import functools
import math

import torch

SPRITE_SHAPES = ["square", "ellipse", "triangle"]
SPRITE_FACTORS = ["shape", "scale", "rotation", "x", "y"]
# The smallest turn that maps each shape onto itself (its rotational symmetry period).
ROTATION_PERIODS = {"square": math.pi / 2, "ellipse": math.pi, "triangle": 2 * math.pi / 3}
SPRITE_FACTOR_INFO = {
    "shape": "0 = square, 1 = ellipse, 2 = triangle.",
    "scale": "Size, from 0.5 to 1.",
    "rotation": "Angle in radians, drawn within the shape's symmetry period (square "
    "0 to π/2, ellipse 0 to π, triangle 0 to 2π/3): a turn by a full period gives the same "
    "image, so larger angles could not be read from the pixels.",
    "x": "Horizontal position of the centre, 0.2 to 0.8 of the width.",
    "y": "Vertical position of the centre, 0.2 to 0.8 of the height.",
}
_SPRITE_HALF_SIZE = 0.18  # object half-size as a fraction of the image, times scale


def generate_sprites(
    n: int = 20000, *, seed: int = 0, size: int = 32
) -> tuple[torch.Tensor, torch.Tensor]:
    """dSprites-style shapes: images float32 (n,1,size,size) in {0,1}, factors float32 (n,5).

    Factor columns: shape (0=square, 1=ellipse, 2=triangle, as float), scale in [0.5, 1],
    rotation in [0, period) radians with the shape's ``ROTATION_PERIODS``, x and y (centre
    column/row as a fraction of the image, in [0.2, 0.8]). Factors are drawn row by row,
    so the first k of n equal those of k.
    """
    if int(n) < 1 or int(size) < 4:
        from aevae_core.data.registry import DatasetError

        raise DatasetError(f"generate_sprites needs n >= 1 and size >= 4, got {n} and {size}.")
    u = torch.rand(int(n), 5, generator=torch.Generator().manual_seed(seed))
    low = torch.tensor([0.0, 0.5, 0.0, 0.2, 0.2])
    factors = low + u * torch.tensor([3.0, 0.5, 1.0, 0.6, 0.6])
    factors[:, 0] = factors[:, 0].floor().clamp(max=2)
    periods = torch.tensor([ROTATION_PERIODS[s] for s in SPRITE_SHAPES])
    factors[:, 2] = u[:, 2] * periods[factors[:, 0].long()]
    return render_sprites(factors, size=int(size)), factors


def render_sprites(factors: torch.Tensor, *, size: int = 32, chunk: int = 2000) -> torch.Tensor:
    """Rasterise factor rows (shape, scale, rotation, x, y) to (n,1,size,size) float32.

    Each pixel centre is moved into the shape's rotated local frame (u, v) and tested
    against the shape's implicit inside-function, vectorised over a chunk of images.
    """
    factors = factors.to(torch.float32)
    images = torch.zeros(len(factors), 1, size, size)
    centres = (torch.arange(size, dtype=torch.float32) + 0.5) / size
    grid_x, grid_y = centres.view(1, 1, size), centres.view(1, size, 1)
    for start in range(0, len(factors), chunk):
        block, out = factors[start : start + chunk], images[start : start + chunk, 0]
        for kind in range(len(SPRITE_SHAPES)):  # test each image against its own shape only
            rows = (block[:, 0] == kind).nonzero().squeeze(1)
            _, scale, rotation, x, y = block[rows, :, None, None].unbind(1)
            dx, dy, cos, sin = grid_x - x, grid_y - y, rotation.cos(), rotation.sin()
            out[rows] = _inside(
                kind, cos * dx + sin * dy, cos * dy - sin * dx, _SPRITE_HALF_SIZE * scale
            ).float()
    return images


_TRIANGLE_NORMALS = [(math.cos(math.radians(d)), math.sin(math.radians(d))) for d in (90, 210, 330)]


def _inside(kind: int, u: torch.Tensor, v: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Implicit inside-test in the shape's local frame (u, v); s is the half-size."""
    if kind == 0:  # square
        return torch.maximum(u.abs(), v.abs()) <= s
    if kind == 1:  # ellipse, minor axis 0.6 of the major
        return (u / s) ** 2 + (v / (0.6 * s)) ** 2 <= 1
    # equilateral triangle, circumradius 1.3 s (an area like the other shapes): inside all
    # three edge half-planes n.(u, v) <= inradius = 0.65 s, edge normals at 90/210/330 deg
    tests = [u * a + v * b <= 0.65 * s for a, b in _TRIANGLE_NORMALS]
    return functools.reduce(torch.logical_and, tests)
