"""What each Gaussian contributes to a view: blending weight, pixels reached, pixels it wins.

The statistics behind importance-based pruning (Mini-Splatting, arXiv 2403.14166 §4; used by
Distilled-3DGS, arXiv 2508.14037 §3.3). Computed by the project's own
rasterizer with the same fragments as its forward pass, on any device (pure torch).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from engine.camera import Camera
from engine.render import camera_tensors
from engine.render.composite import blend_statistics
from engine.render.projection import ALPHA_MAX, covariance_3d, project
from engine.render.tiles import bin_gaussians


@dataclass
class Contributions:
    weight: Tensor  # [N] float64: sum over pixels of alpha T
    area: Tensor  # [N] int64: pixels with alpha T > 0
    area_max: Tensor  # [N] int64: pixels where this Gaussian has the largest alpha T


@torch.no_grad()
def contributions(
    means: Tensor,  # [N, 3]
    quats: Tensor,  # [N, 4] wxyz (normalised here)
    scales: Tensor,  # [N, 3] linear
    opacities: Tensor,  # [N] in [0, 1]
    camera: Camera,
    alpha_max: float = ALPHA_MAX,
    tile_size: int = 16,
) -> Contributions:
    n = means.shape[0]
    viewmats, Ks = camera_tensors([camera], means.device, means.dtype)
    quats = torch.nn.functional.normalize(quats, dim=-1)
    p = project(means, covariance_3d(quats, scales), opacities, viewmats[0], Ks[0], camera.width, camera.height)
    vis = torch.nonzero((p.radii > 0).any(-1)).flatten()  # [M]
    out = Contributions(torch.zeros(n, dtype=torch.float64, device=means.device),
                        torch.zeros(n, dtype=torch.long, device=means.device),
                        torch.zeros(n, dtype=torch.long, device=means.device))  # fmt: skip
    if vis.numel() == 0:
        return out
    bins = bin_gaussians(p.means2d[vis], p.radii[vis], p.depths[vis], camera.width, camera.height, tile_size)
    w, a, amax = blend_statistics(p.means2d[vis], p.conics[vis], opacities[vis], bins, camera.width, camera.height,
                                  alpha_max)  # fmt: skip
    out.weight[vis], out.area[vis], out.area_max[vis] = w, a, amax
    return out
