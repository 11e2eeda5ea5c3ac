"""Real spherical harmonics up to degree 3, as the INRIA rasterizer evaluates them
(repo graphdeco-inria/diff-gaussian-rasterization, cuda_rasterizer/auxiliary.h).

colour = sum_k SH_k(d) * coeff_k + 0.5, clamped at 0, with d the unit vector from the camera
centre to the Gaussian.
"""

from __future__ import annotations

import torch
from torch import Tensor

C0 = 0.28209479177387814
C1 = 0.4886025119029199
C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
C3 = (-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154,
      -0.4570457994644658, 1.445305721320277, -0.5900435899266435)  # fmt: skip


def sh_basis(degree: int, dirs: Tensor) -> Tensor:
    """Basis values [..., (degree+1)^2] for unit directions ``dirs`` [..., 3]."""
    x, y, z = dirs.unbind(-1)
    out = [torch.full_like(x, C0)]
    if degree >= 1:
        out += [-C1 * y, C1 * z, -C1 * x]
    if degree >= 2:
        xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
        out += [
            C2[0] * xy,
            C2[1] * yz,
            C2[2] * (2 * zz - xx - yy),
            C2[3] * xz,
            C2[4] * (xx - yy),
        ]
    if degree >= 3:
        out += [
            C3[0] * y * (3 * xx - yy),
            C3[1] * xy * z,
            C3[2] * y * (4 * zz - xx - yy),
            C3[3] * z * (2 * zz - 3 * xx - 3 * yy),
            C3[4] * x * (4 * zz - xx - yy),
            C3[5] * z * (xx - yy),
            C3[6] * x * (xx - 3 * yy),
        ]
    if degree > 3:
        raise ValueError(f"SH degree {degree} is not supported (0-3)")
    return torch.stack(out, dim=-1)


def eval_sh(degree: int, coeffs: Tensor, dirs: Tensor) -> Tensor:
    """RGB [..., 3] from SH ``coeffs`` [..., K, 3] (K >= (degree+1)^2) seen along ``dirs`` [..., 3].

    ``dirs`` need not be normalised. Returns 0.5 + sum, clamped at 0 (not at 1: the
    compositor sums, and the INRIA rasterizer clamps only the lower end).
    """
    k = (degree + 1) ** 2
    d = torch.nn.functional.normalize(dirs, dim=-1)
    basis = sh_basis(degree, d)  # [..., k]
    rgb = (basis.unsqueeze(-1) * coeffs[..., :k, :]).sum(-2)
    return torch.clamp_min(rgb + 0.5, 0.0)
