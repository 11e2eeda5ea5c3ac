"""Structural similarity loss between two point sets (Distilled-3DGS, arXiv 2508.14037 §3.3;
the released code's definition in lt-xiang/Distilled-3DGS).

Both sets are binned softly into a G^3 grid over the box holding both (plus a margin): each
point adds exp(-(u - g)^2 / (2 sigma^2)) to bin g of each axis, u being its coordinate in voxel
units. The 3-D histogram is the outer product of the three marginals, so the cosine of two such
histograms is the product of the marginals' cosines:

    loss = 1 - cos(H_s, H_t) = 1 - prod_a cos(h_a^s, h_a^t)

and the G^3 tensor is never built. The [N, G] kernel per axis is built in point chunks under
activation checkpointing, so memory stays bounded for any N.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

BINS = 256  # G: bins per axis
SIGMA = 0.5  # kernel width in voxels
MARGIN = 0.01  # added to each side of the box, in scene units
CHUNK = 16_384  # points per kernel chunk


def box(*point_sets: Tensor, margin: float = MARGIN, bins: int = BINS) -> tuple[Tensor, Tensor]:
    """Lower corner [3] and voxel size [3] of the axis-aligned box around every point set."""
    pts = torch.cat([p.detach() for p in point_sets])
    lo = pts.min(0).values - margin
    hi = pts.max(0).values + margin
    return lo, (hi - lo) / bins


def _chunk_marginals(points: Tensor, lo: Tensor, voxel: Tensor, bins: int, sigma: float) -> Tensor:
    u = (points - lo) / voxel  # [C, 3] in voxel units
    g = torch.arange(bins, dtype=points.dtype, device=points.device)  # [G]
    return torch.exp(-((u[:, :, None] - g) ** 2) / (2 * sigma * sigma)).sum(0)  # [3, G]


def soft_marginals(points: Tensor, lo: Tensor, voxel: Tensor, bins: int = BINS, sigma: float = SIGMA,
                   chunk: int = CHUNK) -> Tensor:  # fmt: skip
    """[3, G] soft histogram of ``points`` [N, 3] along each axis."""
    total = points.new_zeros(3, bins)
    for s in range(0, points.shape[0], chunk):
        part = points[s : s + chunk]
        if part.requires_grad:
            total = total + checkpoint(_chunk_marginals, part, lo, voxel, bins, sigma, use_reentrant=False)
        else:
            total = total + _chunk_marginals(part, lo, voxel, bins, sigma)
    return total


def structural_loss(student: Tensor, teacher: Tensor, bins: int = BINS, sigma: float = SIGMA) -> Tensor:
    """1 - cos(H_student, H_teacher) for means [N, 3] (with gradient) and [M, 3] (detached)."""
    lo, voxel = box(student, teacher, bins=bins)
    h_s = soft_marginals(student, lo, voxel, bins, sigma)
    with torch.no_grad():
        h_t = soft_marginals(teacher.detach(), lo, voxel, bins, sigma)
    cos = torch.nn.functional.cosine_similarity(h_s, h_t, dim=1, eps=1e-12)  # [3]
    return 1.0 - cos.prod()


def structural_loss_dense(student: Tensor, teacher: Tensor, bins: int, sigma: float = SIGMA) -> Tensor:
    """The definition itself, for tests: both normalised G^3 outer-product histograms, 1 - cos."""
    lo, voxel = box(student, teacher, bins=bins)

    def hist(points: Tensor) -> Tensor:
        hx, hy, hz = _chunk_marginals(points, lo, voxel, bins, sigma)
        h = hx[:, None, None] * hy[None, :, None] * hz[None, None, :]  # [G, G, G]
        return (h / h.sum()).flatten()

    return 1.0 - torch.nn.functional.cosine_similarity(hist(student), hist(teacher), dim=0, eps=1e-12)
