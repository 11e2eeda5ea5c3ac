"""How much each Gaussian contributes to renders: the blending weight sum_pixels alpha T it
gives a set of orbit views (LightGaussian arXiv 2311.17245 §3.2 / Mini-Splatting arXiv
2403.14166 §4.2 importance). Ladder levels 4-8 prune by it.

The weights come from engine.render.contributions, the renderer's own fragments; engine.distill
sums the same statistics over a capture's training views instead.
"""

from __future__ import annotations

import torch

from engine.camera import orbit_views
from engine.render.contributions import contributions
from engine.scene import GaussianScene

DEFAULT_VIEWS = 6
DEFAULT_SIZE = 192


@torch.no_grad()
def importance(scene: GaussianScene, views: int = DEFAULT_VIEWS, size: int = DEFAULT_SIZE) -> torch.Tensor:
    """[N] float64: accumulated blending weight over ``views`` orbit views of ``size`` px."""
    if scene.count == 0:
        return torch.zeros(0, dtype=torch.float64)
    g = scene.activated()
    total = torch.zeros(scene.count, dtype=torch.float64)
    for cam in orbit_views(scene, views, size, size):
        total += contributions(g.means, g.quats, g.scales, g.opacities, cam).weight.cpu()
    return total
