"""Training loss of SmartSplat: 0.8·L1 + 0.2·(1 − SSIM) (ALGORITHMS.md §4.5).

SSIM uses the usual 11-tap Gaussian window (σ 1.5, K1 0.01, K2 0.03) with "same" zero padding,
as the reference does, computed with two grouped 1-D convolutions over the five local moments.
(``engine.metrics.ssim`` is the evaluation metric: valid-region windows, float64.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

WINDOW, SIGMA = 11, 1.5
C1, C2 = 0.01**2, 0.03**2
L1_WEIGHT = 0.8


def _window(dtype, device) -> Tensor:
    t = torch.arange(WINDOW, dtype=dtype, device=device) - WINDOW // 2
    g = torch.exp(-(t * t) / (2 * SIGMA * SIGMA))
    return g / g.sum()


def ssim_same(x: Tensor, y: Tensor) -> Tensor:
    """Mean SSIM of x, y [H, W, C] in [0, 1] ("same" zero padding), differentiable in x."""
    c = x.shape[-1]
    a = x.permute(2, 0, 1)[None]  # [1, C, H, W]
    b = y.permute(2, 0, 1)[None]
    z = torch.cat([a, b, a * a, b * b, a * b], 1)  # [1, 5C, H, W]
    g = _window(x.dtype, x.device)
    k = g.view(1, 1, 1, WINDOW).expand(5 * c, 1, 1, WINDOW)
    z = F.conv2d(z, k, padding=(0, WINDOW // 2), groups=5 * c)
    z = F.conv2d(z, k.transpose(2, 3), padding=(WINDOW // 2, 0), groups=5 * c)
    mx, my, xx, yy, xy = z.split(c, 1)
    vx, vy, cov = xx - mx * mx, yy - my * my, xy - mx * my
    s = ((2 * mx * my + C1) * (2 * cov + C2)) / ((mx * mx + my * my + C1) * (vx + vy + C2))
    return s.mean()


def loss_fn(pred: Tensor, target: Tensor, ssim_weight: float = 1.0 - L1_WEIGHT) -> Tensor:
    """(1 − w)·L1 + w·(1 − SSIM); pred and target [H, W, 3] in [0, 1]."""
    l1 = (pred - target).abs().mean()
    if ssim_weight <= 0:
        return l1
    return (1.0 - ssim_weight) * l1 + ssim_weight * (1.0 - ssim_same(pred, target))
