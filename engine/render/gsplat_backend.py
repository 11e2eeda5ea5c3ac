"""gsplat's CUDA rasterizer behind the engine's rasterize() signature (CUDA machines only).

The backend is chosen from ``torch.cuda.is_available()``, never by trying: on a CPU machine
gsplat's rasterizer fails at once, and its kernels JIT-compile on first use on a GPU.
"""

from __future__ import annotations

from torch import Tensor


def rasterize_gsplat(
    means: Tensor,  # [N, 3]
    quats: Tensor,  # [N, 4]
    scales: Tensor,  # [N, 3]
    opacities: Tensor,  # [N]
    colors: Tensor,  # [N, K, 3] or [N, D]
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
    from gsplat import rasterization  # imported lazily: only on CUDA

    del alpha_max  # gsplat clamps alpha at 0.999 in its kernel
    out, alphas, meta = rasterization(
        means, quats, scales, opacities, colors, viewmats, Ks, width, height,
        near_plane=near_plane, far_plane=far_plane, eps2d=eps2d, sh_degree=sh_degree,
        packed=False, tile_size=tile_size,
        rasterize_mode="antialiased" if antialiased else "classic",
        render_mode="RGB+ED" if with_depth else "RGB",
    )  # fmt: skip
    depths = None
    if with_depth:
        out, depths = out[..., :-1], out[..., -1:]
    meta = dict(meta)
    meta.setdefault("n_cameras", viewmats.shape[0])
    return out, alphas, depths, meta
