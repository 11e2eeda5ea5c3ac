"""The project's own differentiable CPU rasterizer: projection -> SH -> tile binning ->
front-to-back compositing. Same arguments and outputs as the gsplat backend.
"""

from __future__ import annotations

import torch
from torch import Tensor

from engine.render.composite import composite
from engine.render.projection import covariance_3d, project
from engine.render.sh import eval_sh
from engine.render.tiles import bin_gaussians


def rasterize_torch(
    means: Tensor,  # [N, 3]
    quats: Tensor,  # [N, 4] unit wxyz
    scales: Tensor,  # [N, 3] linear
    opacities: Tensor,  # [N]
    colors: Tensor,  # [N, K, 3] SH if sh_degree is not None, else [N, D] features
    viewmats: Tensor,  # [C, 4, 4]
    Ks: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
    *,
    sh_degree: int | None,
    near_plane: float,
    far_plane: float,
    eps2d: float,
    antialiased: bool,
    tile_size: int,
    alpha_max: float,
    with_depth: bool,
) -> tuple[Tensor, Tensor, Tensor | None, dict]:
    """Returns (features [C, H, W, D], alphas [C, H, W, 1], depths [C, H, W, 1] | None, meta)."""
    covars = covariance_3d(quats, scales)  # [N, 3, 3]
    cam_centres = torch.linalg.inv(viewmats)[:, :3, 3]  # [C, 3]
    proj = [
        project(means, covars, opacities, viewmats[ci], Ks[ci], width, height, eps2d, near_plane, far_plane, antialiased)
        for ci in range(viewmats.shape[0])
    ]
    # One tensor for all cameras so callers can retain_grad() on it for densification.
    means2d = torch.stack([p.means2d for p in proj])  # [C, N, 2]
    feats, alphas, depths = [], [], []
    for ci, p in enumerate(proj):
        vis = torch.nonzero((p.radii > 0).any(-1)).flatten()  # [M] visible Gaussians
        m2d = means2d[ci][vis]  # [M, 2]
        op = opacities[vis] if p.compensations is None else opacities[vis] * p.compensations[vis]
        if sh_degree is not None:
            col = eval_sh(sh_degree, colors[vis], means[vis] - cam_centres[ci])  # [M, 3]
        else:
            col = colors[vis]  # [M, D]
        d = p.depths[vis]
        if with_depth:
            col = torch.cat([col, d[:, None]], dim=-1)
        bins = bin_gaussians(m2d, p.radii[vis], d, width, height, tile_size)
        img, alpha = composite(m2d, p.conics[vis], col, op, bins, width, height, alpha_max)
        if with_depth:
            depths.append(img[..., -1:] / alpha[..., None].clamp_min(1e-10))  # expected depth
            img = img[..., :-1]
        feats.append(img)
        alphas.append(alpha[..., None])
    meta = {
        "means2d": means2d,
        "radii": torch.stack([p.radii for p in proj]),  # [C, N, 2] int32, 0 = culled
        "depths": torch.stack([p.depths for p in proj]).detach(),  # [C, N]
        "width": width,
        "height": height,
        "n_cameras": viewmats.shape[0],
        "tile_size": tile_size,
    }
    return torch.stack(feats), torch.stack(alphas), (torch.stack(depths) if with_depth else None), meta
