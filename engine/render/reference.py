"""Dense pure-autograd twin of the tiled compositor: every pixel against every Gaussian.

O(H*W*N) memory: for tests on tiny images only. It shares the projection and SH code with the
torch backend and re-implements the compositing rule of ``composite.py`` with plain torch ops,
so autograd supplies the gradients the tiled renderer's hand-written backward must match.
"""

from __future__ import annotations

import torch
from torch import Tensor

from engine.render.composite import T_MIN
from engine.render.projection import ALPHA_MAX, ALPHA_THRESHOLD


def composite_dense(
    means2d: Tensor,  # [M, 2]
    conics: Tensor,  # [M, 3]
    colors: Tensor,  # [M, D]
    opacities: Tensor,  # [M]
    depths: Tensor,  # [M] sort key
    width: int,
    height: int,
    alpha_max: float = ALPHA_MAX,
) -> tuple[Tensor, Tensor]:
    order = torch.argsort(depths.detach(), stable=True)
    m, q, col, o = means2d[order], conics[order], colors[order], opacities[order]
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=m.dtype) + 0.5, torch.arange(width, dtype=m.dtype) + 0.5, indexing="ij"
    )
    dx = xs.reshape(-1, 1) - m[None, :, 0]  # [HW, M]
    dy = ys.reshape(-1, 1) - m[None, :, 1]
    sigma = 0.5 * (q[None, :, 0] * dx * dx + q[None, :, 2] * dy * dy) + q[None, :, 1] * dx * dy
    alpha = torch.clamp(o[None] * torch.exp(-sigma), max=alpha_max)
    alpha = torch.where((sigma >= 0) & (alpha >= ALPHA_THRESHOLD), alpha, torch.zeros_like(alpha))
    with torch.no_grad():
        keep = torch.cumprod(1 - alpha, dim=1) > T_MIN
    alpha = alpha * keep
    t = torch.cumprod(1 - alpha, dim=1)
    t_excl = torch.cat([torch.ones_like(t[:, :1]), t[:, :-1]], dim=1)
    w = alpha * t_excl
    img = (w @ col).reshape(height, width, -1)
    return img, (1 - t[:, -1]).reshape(height, width)
