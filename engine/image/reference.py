"""Dense pure-autograd twin of the 2D rasterizer: every pixel against every Gaussian.

O(H·W·N) memory, for tests on tiny images only. It re-implements the rule of
``engine.image.rasterize`` (sum of colours, α = exp(−σ) cut below 1/255; the GaussianImage kernel) with
plain torch ops, so autograd supplies the gradients the hand-written backward must match.
"""

from __future__ import annotations

import torch
from torch import Tensor

from engine.image.rasterize import SIGMA_CUT


def rasterize_dense(xy: Tensor, conics: Tensor, colors: Tensor, width: int, height: int) -> Tensor:
    """xy [N, 2] px, conics [N, 3] (a, b, c), colors [N, C] -> image [H, W, C]."""
    ys, xs = torch.meshgrid(torch.arange(height, dtype=xy.dtype, device=xy.device) + 0.5,
                            torch.arange(width, dtype=xy.dtype, device=xy.device) + 0.5, indexing="ij")  # fmt: skip
    dx = xs.reshape(-1, 1) - xy[None, :, 0]  # [HW, N]
    dy = ys.reshape(-1, 1) - xy[None, :, 1]
    sigma = 0.5 * (conics[None, :, 0] * dx * dx + conics[None, :, 2] * dy * dy) + conics[None, :, 1] * dx * dy
    alpha = torch.where(sigma <= SIGMA_CUT, torch.exp(-sigma), torch.zeros_like(sigma))  # [HW, N]
    return (alpha @ colors).reshape(height, width, -1)
