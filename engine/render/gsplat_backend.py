"""gsplat's CUDA rasterizer behind the engine's rasterize() signature (CUDA machines only).

The backend is chosen from ``torch.cuda.is_available()``, never by trying: on a CPU machine
gsplat's rasterizer fails at once, and its kernels JIT-compile on first use on a GPU.

Every argument of the engine's signature is honoured or rejected (``gsplat_kwargs``): gsplat 1.5.3
clamps alpha with a constant in its kernels (``min(0.999f, opac * exp(-sigma))``), so the only
``alpha_max`` it can render is ``GSPLAT_ALPHA_MAX``, which is the engine's default
(``engine.render.projection.ALPHA_MAX``); any other value raises ValueError instead of being
silently ignored.
"""

from __future__ import annotations

from torch import Tensor

from engine.render.projection import ALPHA_MAX

GSPLAT_ALPHA_MAX = 0.999  # hard-coded in gsplat 1.5.3's rasterize_to_pixels kernels (fwd and bwd)


def gsplat_kwargs(
    *,
    sh_degree: int | None,
    near_plane: float,
    far_plane: float,
    eps2d: float,
    antialiased: bool,
    tile_size: int,
    alpha_max: float,
    with_depth: bool,
) -> dict:
    """The keyword arguments of ``gsplat.rasterization`` for the engine's options; raises
    ValueError for an option gsplat cannot honour."""
    if alpha_max != GSPLAT_ALPHA_MAX:
        raise ValueError(
            f"the gsplat backend cannot honour alpha_max={alpha_max}: gsplat clamps alpha at "
            f"{GSPLAT_ALPHA_MAX} in its CUDA kernels; use the default ({ALPHA_MAX}) or backend='torch'"
        )
    return dict(
        near_plane=near_plane, far_plane=far_plane, eps2d=eps2d, sh_degree=sh_degree,
        packed=False, tile_size=tile_size,
        rasterize_mode="antialiased" if antialiased else "classic",
        render_mode="RGB+ED" if with_depth else "RGB",
    )  # fmt: skip


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
    kw = gsplat_kwargs(sh_degree=sh_degree, near_plane=near_plane, far_plane=far_plane, eps2d=eps2d,
                       antialiased=antialiased, tile_size=tile_size, alpha_max=alpha_max, with_depth=with_depth)  # fmt: skip
    from gsplat import rasterization  # imported lazily: only on CUDA

    out, alphas, meta = rasterization(means, quats, scales, opacities, colors, viewmats, Ks, width, height, **kw)
    depths = None
    if with_depth:
        out, depths = out[..., :-1], out[..., -1:]
    meta = dict(meta)
    meta.setdefault("n_cameras", viewmats.shape[0])
    return out, alphas, depths, meta
