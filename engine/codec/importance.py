"""How much each Gaussian contributes to renders: the blending weight sum_pixels alpha T it
receives over a set of orbit views (LightGaussian / Mini-Splatting importance, ALGORITHMS.md §3.4).

Computed with the renderer itself: render colour 1 for every Gaussian and back-propagate the
image sum; the gradient with respect to each Gaussian's colour is exactly its accumulated weight.
"""

from __future__ import annotations

import torch

from engine.camera import orbit_views
from engine.render import camera_tensors, rasterize
from engine.scene import GaussianScene

DEFAULT_VIEWS = 6
DEFAULT_SIZE = 192


def importance(scene: GaussianScene, views: int = DEFAULT_VIEWS, size: int = DEFAULT_SIZE) -> torch.Tensor:
    """[N] float64: accumulated blending weight over ``views`` orbit views of ``size`` px."""
    if scene.count == 0:
        return torch.zeros(0, dtype=torch.float64)
    g = scene.activated()
    total = torch.zeros(scene.count, dtype=torch.float64)
    for cam in orbit_views(scene, views, size, size):
        colors = torch.ones(scene.count, 1, requires_grad=True)
        viewmats, Ks = camera_tensors([cam], "cpu")
        out = rasterize(g.means.detach(), g.quats.detach(), g.scales.detach(), g.opacities.detach(), colors,
                        viewmats, Ks, size, size, sh_degree=None, with_depth=False)  # fmt: skip
        out.colors.sum().backward()
        total += colors.grad[:, 0].double()
    return total
