"""Least-squares colours for fixed Gaussian geometry (conjugate gradients through the rasterizer).

The image is linear in the colours (engine.image.rasterize: I(p) = Σₙ cₙ αₙ(p), no alpha blending), so once the
positions and shapes are fixed, the colours that minimise the squared error — the PSNR the codec
is judged by — solve a linear least-squares problem:

    min_C ‖ ω ⊙ (A C) − R ‖²,   A [HW, N] the footprints αₙ(p), C [N, 3], R [HW, 3] the residual
                                 the tile must explain, ω [HW] its blend weight (``tiles``)

Its normal equations Aᵀ ω² A C = Aᵀ ω R are solved by conjugate gradients, the three channels
at once (they share A). Each iteration costs one render (A C) and one backward pass of the
rasterizer (Aᵀ G is the gradient of ⟨A C, G⟩ with respect to C), so no N × N matrix is formed.
SmartSplat trains the colours with the rest by Adam on L1 + SSIM; this solve is the
project's addition, used once the geometry has settled (``engine.image.train``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from engine.image.rasterize import rasterize


def _render_and_adjoint(xy: Tensor, conics: Tensor, colors: Tensor, width: int, height: int, image_to_grad) -> Tensor:
    """Aᵀ G with G = ``image_to_grad``(A C): one render of C [N, 3] and one backward pass of the
    rasterizer (Aᵀ G is the gradient of ⟨A C, G⟩ with respect to C). Returns [N, 3]."""
    c = colors.detach().requires_grad_()
    with torch.enable_grad():
        img = rasterize(xy, conics, c, width, height)  # [h, w, 3]
        (grad,) = torch.autograd.grad(img, c, grad_outputs=image_to_grad(img.detach()))
    return grad


@torch.no_grad()
def least_squares_colors(xy: Tensor, conics: Tensor, colors: Tensor, residual: Tensor,
                         weight: Tensor | None = None, iterations: int = 24) -> Tensor:  # fmt: skip
    """Colours [N, 3] minimising ‖ω (A C) − residual‖², starting from ``colors``.

    xy [N, 2] px, conics [N, 3] (detached geometry), residual [h, w, 3] what the tile must
    explain, weight [h, w, 1] ω or None. CG on the normal equations, ``iterations`` steps at most;
    a Gaussian that draws nothing keeps its colour; a breakdown (non-finite colours) returns the
    start.
    """
    h, w = residual.shape[:2]
    xy, conics = xy.detach(), conics.detach()
    weight2 = None if weight is None else weight * weight
    weighted = residual if weight is None else residual * weight  # ω R [h, w, 3]
    rhs = _render_and_adjoint(xy, conics, torch.zeros_like(colors), w, h, lambda _: weighted)  # Aᵀ ω R [N, 3]

    def normal(c: Tensor) -> Tensor:  # Aᵀ ω² A C [N, 3]
        return _render_and_adjoint(xy, conics, c, w, h, lambda img: img if weight2 is None else img * weight2)

    x = colors.detach().clone()
    r = rhs - normal(x)  # [N, 3] per-channel residual of the normal equations
    p = r.clone()
    rr = (r * r).sum(0)  # [3]
    rr0 = rr.clone()
    for _ in range(iterations):
        q = normal(p)
        pq = (p * q).sum(0)
        alpha = torch.where(pq > 0, rr / pq.clamp_min(1e-30), torch.zeros_like(pq))
        x = x + alpha * p
        r = r - alpha * q
        rr_new = (r * r).sum(0)
        if bool((rr_new <= 1e-12 * rr0).all()):
            break
        p = r + (rr_new / rr.clamp_min(1e-30)) * p
        rr = rr_new
    if not torch.isfinite(x).all():
        return colors.detach().clone()
    return x
