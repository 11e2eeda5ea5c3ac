"""render(scene, cameras) -> images, alphas, depths and per-Gaussian screen data.

Two backends with the same arguments and the same outputs:

- ``"torch"``: the project's own differentiable tile rasterizer (CPU or any device);
- ``"gsplat"``: gsplat's CUDA kernels, used on CUDA machines.

``backend="auto"`` picks gsplat when the tensors are on a CUDA device, torch otherwise.

A backend honours every argument or rejects it: gsplat cannot change its alpha clamp, so the
default ``alpha_max`` is the value it hard-codes (``ALPHA_MAX`` = 0.999, defined and explained in
``engine.render.projection``), and it raises ValueError for any other value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from engine.camera import Camera
from engine.render.projection import ALPHA_MAX
from engine.scene import GaussianScene

BACKENDS = ("torch", "gsplat")


@dataclass
class RenderResult:
    colors: Tensor  # [C, H, W, D] background composited
    alphas: Tensor  # [C, H, W, 1]
    depths: Tensor | None  # [C, H, W, 1] expected camera-space depth, where alpha > 0
    # gsplat-style screen data for densification: "means2d" [C, N, 2] (call .retain_grad()
    # before backward to read its gradient), "radii" [C, N, 2] int32 (0 = not visible),
    # "depths" [C, N], "width", "height", "n_cameras".
    meta: dict

    @property
    def visible(self) -> Tensor:  # [C, N] bool
        return (self.meta["radii"] > 0).any(-1)

    def image_uint8(self, index: int = 0) -> np.ndarray:
        """[H, W, 3] uint8 for saving or display."""
        img = self.colors[index, ..., :3].detach().clamp(0, 1).cpu().numpy()
        return (img * 255.0 + 0.5).astype(np.uint8)


def default_backend(device: torch.device | str) -> str:
    device = torch.device(device)
    return "gsplat" if device.type == "cuda" and torch.cuda.is_available() else "torch"


def rasterize(
    means: Tensor,  # [N, 3]
    quats: Tensor,  # [N, 4] wxyz (normalised here)
    scales: Tensor,  # [N, 3] linear
    opacities: Tensor,  # [N] in [0, 1]
    colors: Tensor,  # [N, K, 3] SH coefficients when sh_degree is set, else [N, D] features
    viewmats: Tensor,  # [C, 4, 4] world -> camera (OpenCV)
    Ks: Tensor,  # [C, 3, 3]
    width: int,
    height: int,
    *,
    sh_degree: int | None = None,
    backgrounds: Tensor | None = None,  # [C, D] or [D]
    near_plane: float = 0.01,
    far_plane: float = 1e10,
    eps2d: float = 0.3,
    antialiased: bool = False,
    backend: str = "auto",
    tile_size: int = 16,
    alpha_max: float = ALPHA_MAX,
    with_depth: bool = True,
) -> RenderResult:
    if backend == "auto":
        backend = default_backend(means.device)
    if backend not in BACKENDS:
        raise ValueError(f"unknown render backend {backend!r} (choose from {', '.join(BACKENDS)})")
    if backend == "gsplat" and not (means.is_cuda and torch.cuda.is_available()):
        raise RuntimeError("the gsplat backend needs CUDA tensors on a machine with a CUDA GPU")
    if sh_degree is not None and sh_degree > 3:
        raise ValueError(f"SH degree {sh_degree} is not supported (0-3)")
    quats = torch.nn.functional.normalize(quats, dim=-1)
    kw = dict(sh_degree=sh_degree, near_plane=near_plane, far_plane=far_plane, eps2d=eps2d, antialiased=antialiased,
              tile_size=tile_size, alpha_max=alpha_max, with_depth=with_depth)  # fmt: skip
    if backend == "gsplat":
        from engine.render.gsplat_backend import rasterize_gsplat as impl
    else:
        from engine.render.torch_backend import rasterize_torch as impl
    feats, alphas, depths, meta = impl(means, quats, scales, opacities, colors, viewmats, Ks, width, height, **kw)
    if backgrounds is not None:
        bg = backgrounds.to(feats).reshape(-1, 1, 1, feats.shape[-1]) if backgrounds.ndim == 2 else backgrounds.to(feats)
        feats = feats + (1.0 - alphas) * bg
    return RenderResult(feats, alphas, depths, meta)


def camera_tensors(cameras: Sequence[Camera], device, dtype=torch.float32) -> tuple[Tensor, Tensor]:
    """(viewmats [C, 4, 4], Ks [C, 3, 3]) from engine cameras."""
    viewmats = torch.tensor(np.stack([c.world_to_camera for c in cameras]), dtype=dtype, device=device)
    Ks = torch.tensor(np.stack([c.K for c in cameras]), dtype=dtype, device=device)
    return viewmats, Ks


def render(
    scene: GaussianScene,
    cameras: Camera | Sequence[Camera],
    width: int | None = None,
    height: int | None = None,
    *,
    sh_degree: int | None = None,
    background: Sequence[float] | Tensor = (0.0, 0.0, 0.0),
    backend: str = "auto",
    antialiased: bool | None = None,
    with_depth: bool = True,
    alpha_max: float = ALPHA_MAX,
    baked: bool = False,
) -> RenderResult:
    """Render a scene from one or more cameras (all at one size: width x height, default the
    first camera's). ``sh_degree`` limits the SH bands used (default: all the scene has).

    A scene baked from a view-dependent representation (``scene.neural``, e.g. Smol-GS) is
    rendered exactly from that representation unless ``baked=True``."""
    cams = [cameras] if isinstance(cameras, Camera) else list(cameras)
    width = width or cams[0].width
    height = height or cams[0].height
    if scene.neural is not None and not baked:
        return scene.neural.render(cams, width, height, background=background, with_depth=with_depth)
    cams = [c if (c.width, c.height) == (width, height) else c.scaled(width, height) for c in cams]
    g = scene.activated()
    degree = scene.sh_degree if sh_degree is None else min(sh_degree, scene.sh_degree)
    viewmats, Ks = camera_tensors(cams, g.means.device, g.means.dtype)
    bg = torch.as_tensor(background, dtype=g.means.dtype, device=g.means.device)
    if antialiased is None:
        antialiased = bool(scene.meta.get("antialiased", False))
    return rasterize(
        g.means, g.quats, g.scales, g.opacities, g.sh, viewmats, Ks, width, height,
        sh_degree=degree, backgrounds=bg, backend=backend, antialiased=antialiased,
        with_depth=with_depth, alpha_max=alpha_max,
    )  # fmt: skip
