"""EWA projection of 3D Gaussians to the image plane (Zwicker et al. 2001; 3DGS, arXiv 2308.04079 §4).

Same conventions as gsplat 1.5.3's ``fully_fused_projection`` (OpenCV camera, pixel centres at
integer + 0.5, the 1.3x-ish guard band clamp before the Jacobian, 0.3 px^2 dilation, opacity-aware
bounding radius) so the torch and CUDA backends agree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

ALPHA_THRESHOLD = 1.0 / 255.0
# The one default alpha clamp of every renderer: alpha = min(ALPHA_MAX, o exp(-sigma)).
# INRIA's rasterizer clamps at 0.99, but gsplat 1.5.3 hard-codes min(0.999f, ...) in its CUDA
# kernels (RasterizeToPixels3DGSFwd.cu / Bwd.cu; no argument changes it), so 0.99 is a value the
# CUDA backend cannot honour. 0.999 is the value both backends can render, which keeps CPU == CUDA
# by default (the two backends agree). The torch backend honours any other alpha_max (0.99
# for INRIA-exact renders); the gsplat backend rejects anything but this value.
ALPHA_MAX = 0.999


def quat_to_rotmat(quats: Tensor) -> Tensor:
    """Unit wxyz quaternions [N, 4] -> rotation matrices [N, 3, 3]."""
    w, x, y, z = quats.unbind(-1)
    r = torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    )  # fmt: skip
    return r.reshape(quats.shape[:-1] + (3, 3))


def covariance_3d(quats: Tensor, scales: Tensor) -> Tensor:
    """Sigma = R S S^T R^T  [N, 3, 3] from unit quats [N, 4] and linear scales [N, 3]."""
    m = quat_to_rotmat(quats) * scales.unsqueeze(-2)  # R @ diag(s)
    return m @ m.transpose(-1, -2)


@dataclass
class Projected:
    """Per-Gaussian screen-space data for one camera."""

    means2d: Tensor  # [N, 2] pixel coordinates of the centres
    conics: Tensor  # [N, 3] inverse 2D covariance (a, b, c): q = a dx^2 + 2 b dx dy + c dy^2
    depths: Tensor  # [N] camera-space z
    radii: Tensor  # [N, 2] int32 bounding half-extents in pixels; 0 = culled
    compensations: Tensor | None  # [N] antialiasing opacity factor sqrt(det/det_blur), if asked


def project(
    means: Tensor,  # [N, 3]
    covars: Tensor,  # [N, 3, 3]
    opacities: Tensor,  # [N] activated
    viewmat: Tensor,  # [4, 4] world -> camera
    K: Tensor,  # [3, 3]
    width: int,
    height: int,
    eps2d: float = 0.3,
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    antialiased: bool = False,
) -> Projected:
    R, t = viewmat[:3, :3], viewmat[:3, 3]
    mc = means @ R.T + t  # [N, 3] camera space
    cov_c = R @ covars @ R.T  # [N, 3, 3]
    tx, ty, tz = mc.unbind(-1)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    # Gaussians at or behind the near plane are culled below; give them depth 1 in the
    # differentiable path so that a camera-plane point (tz = 0) cannot make inf covariances
    # whose backward is 0 x inf = NaN (it poisoned quats and scales on the fox capture).
    tz_safe = torch.where(tz > near_plane, tz, torch.ones_like(tz))
    tan_fovx = 0.5 * width / fx
    tan_fovy = 0.5 * height / fy
    lim_x_pos = (width - cx) / fx + 0.3 * tan_fovx
    lim_x_neg = cx / fx + 0.3 * tan_fovx
    lim_y_pos = (height - cy) / fy + 0.3 * tan_fovy
    lim_y_neg = cy / fy + 0.3 * tan_fovy
    txc = tz_safe * torch.clamp(tx / tz_safe, -lim_x_neg, lim_x_pos)
    tyc = tz_safe * torch.clamp(ty / tz_safe, -lim_y_neg, lim_y_pos)
    zero = torch.zeros_like(tz)
    J = torch.stack(
        [fx / tz_safe, zero, -fx * txc / tz_safe**2, zero, fy / tz_safe, -fy * tyc / tz_safe**2], dim=-1
    ).reshape(-1, 2, 3)
    cov2d = J @ cov_c @ J.transpose(-1, -2)  # [N, 2, 2]
    a0, b0, c0 = cov2d[:, 0, 0], 0.5 * (cov2d[:, 0, 1] + cov2d[:, 1, 0]), cov2d[:, 1, 1]
    det_orig = a0 * c0 - b0 * b0
    a, c = a0 + eps2d, c0 + eps2d
    det = a * c - b0 * b0
    det_safe = det.clamp_min(1e-10)
    conics = torch.stack([c / det_safe, -b0 / det_safe, a / det_safe], dim=-1)
    means2d = torch.stack([fx * tx / tz_safe + cx, fy * ty / tz_safe + cy], dim=-1)
    compensations = torch.sqrt(torch.clamp(det_orig / det_safe, min=0.0)) if antialiased else None

    with torch.no_grad():
        op = opacities * compensations if compensations is not None else opacities
        extend = torch.sqrt(2.0 * torch.log(torch.clamp(op, min=ALPHA_THRESHOLD) / ALPHA_THRESHOLD))
        extend = torch.clamp(extend, max=3.33)
        rx = torch.ceil(extend * torch.sqrt(a.clamp_min(0)))
        ry = torch.ceil(extend * torch.sqrt(c.clamp_min(0)))
        valid = (det > 0) & (tz > near_plane) & (tz < far_plane) & (op >= ALPHA_THRESHOLD)
        valid &= (rx > 0) | (ry > 0)
        mx, my = means2d[:, 0], means2d[:, 1]
        valid &= (mx + rx > 0) & (mx - rx < width) & (my + ry > 0) & (my - ry < height)
        valid &= torch.isfinite(means2d).all(-1) & torch.isfinite(conics).all(-1)
        radii = torch.stack([rx, ry], -1).masked_fill(~valid[:, None], 0).to(torch.int32)
    return Projected(means2d, conics, tz, radii, compensations)


def fov_to_focal(fov_rad: float, pixels: int) -> float:
    return 0.5 * pixels / math.tan(0.5 * fov_rad)
