"""A decoded (or training) Smol-GS scene and the two ways to show it.

- **Exact** (``SmolScene.render``): the heads run per view, then the usual rasterizer. This is
  what ``splatlab render`` / ``eval`` / the RD sweeps measure.
- **Baked** (``SmolScene.to_gaussians``): a plain GaussianScene for the OpenGL viewport and for
  other file formats. Opacity, rotation and scale are averaged over a fixed set of viewing
  directions, and each splat's colour over those directions is fitted with SH (degree 2 by
  default, least squares). The PSNR this costs is measured in tests/bench/bench_smol.py; the
  studio labels such a scene "(SH bake)" so A/B views say which one is shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from engine.codec.smol.model import SmolDecoder, code_bits
from engine.render import RenderResult, camera_tensors, rasterize
from engine.render.sh import sh_basis
from engine.scene import GaussianScene

BAKE_DIRECTIONS = 48
BAKE_SH_DEGREE = 2


def fibonacci_directions(n: int) -> Tensor:
    """[n, 3] unit vectors spread evenly over the sphere."""
    i = torch.arange(n, dtype=torch.float64) + 0.5
    z = 1 - 2 * i / n
    r = torch.sqrt(1 - z * z)
    phi = math.pi * (1 + 5**0.5) * i
    return torch.stack([r * torch.cos(phi), r * torch.sin(phi), z], 1).float()


@dataclass
class SmolScene:
    means: Tensor  # [N, 3]
    features: Tensor  # [N, 8] (quantised when decoded)
    log_scale_bounds: Tensor  # [N, 3]
    decoder: SmolDecoder
    lo: Tensor  # [3] octree box corner
    side: float  # octree box side
    extent: float  # distance normaliser of the heads' input

    @property
    def count(self) -> int:
        return int(self.means.shape[0])

    def oct_embed(self) -> Tensor:  # [N, 8]
        return self.decoder.mlp_oct(code_bits(self.means, self.lo, self.side))

    def attributes(self, cam_center: Tensor, oct_embed: Tensor | None = None):
        """Per-view (opacities [N], rgb [N, 3], quats [N, 4], scales [N, 3])."""
        emb = self.oct_embed() if oct_embed is None else oct_embed
        return self.decoder(self.features, emb, torch.exp(self.log_scale_bounds), self.means, cam_center, self.extent)

    @torch.no_grad()
    def render(self, cameras, width: int, height: int, background=(0.0, 0.0, 0.0), with_depth: bool = False) -> RenderResult:
        """Exact render: the heads evaluated for each camera."""
        emb = self.oct_embed()
        outs = []
        for cam in cameras:
            cam = cam if (cam.width, cam.height) == (width, height) else cam.scaled(width, height)
            center = torch.tensor(cam.center, dtype=torch.float32)
            opac, rgb, quats, scales = self.attributes(center, emb)
            viewmats, Ks = camera_tensors([cam], "cpu")
            bg = torch.as_tensor(background, dtype=torch.float32)
            outs.append(rasterize(self.means, quats, scales, opac, rgb, viewmats, Ks, width, height,
                                  sh_degree=None, backgrounds=bg, with_depth=with_depth))  # fmt: skip
        if len(outs) == 1:
            return outs[0]
        cat = lambda k: torch.cat([getattr(o, k) for o in outs]) if getattr(outs[0], k) is not None else None  # noqa: E731
        return RenderResult(cat("colors"), cat("alphas"), cat("depths"), outs[0].meta)

    @torch.no_grad()
    def to_gaussians(self, sh_degree: int = BAKE_SH_DEGREE, directions: int = BAKE_DIRECTIONS) -> GaussianScene:
        """Bake to a plain GaussianScene: view-averaged geometry and an SH fit of the colour."""
        emb = self.oct_embed()
        dirs = fibonacci_directions(directions)  # [D, 3]
        center = self.means.mean(0)
        radius = self.extent
        basis = sh_basis(sh_degree, -dirs.double()).float()  # renderers evaluate SH at (splat - camera)
        colours, opac, quats, scales = [], 0.0, 0.0, 0.0
        for d in dirs:
            o, rgb, q, s = self.attributes(center + d * radius, emb)
            colours.append(rgb)
            opac = opac + o
            q = torch.where(q[:, :1] < 0, -q, q)  # one hemisphere (w >= 0) before averaging
            quats = quats + q
            scales = scales + torch.log(s.clamp_min(1e-12))
        colours = torch.stack(colours, 1)  # [N, D, 3]
        # least squares per splat: basis [D, k] @ coeffs [k, 3] ~ (colour - 0.5)
        pinv = torch.linalg.pinv(basis)  # [k, D]
        coeffs = torch.einsum("kd,ndc->nkc", pinv, colours - 0.5)  # [N, k, 3]
        opac = (opac / directions).clamp(1e-4, 1 - 1e-4)
        return GaussianScene(
            means=self.means.clone(),
            quats=torch.nn.functional.normalize(quats, dim=1),
            log_scales=scales / directions,
            opacity_logits=torch.log(opac) - torch.log1p(-opac),
            sh=coeffs,
            meta={"baked_from": "smol", "bake_sh_degree": sh_degree},
        )

