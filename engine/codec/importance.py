"""How much each Gaussian contributes to renders: the blending weight sum_pixels alpha T it
gives a set of orbit views (LightGaussian arXiv 2311.17245 §3.2 / Mini-Splatting arXiv
2403.14166 §4.2 importance). Levels 4-8 of the ladder and of the feed-forward codec prune by it
(:func:`prune_to_share`).

The weights come from engine.render.contributions, the renderer's own fragments; engine.distill
sums the same statistics over a capture's training views instead.
"""

from __future__ import annotations

import math

import numpy as np
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


def prune_to_share(scene: GaussianScene, keep: float, importance_scores: torch.Tensor | None = None) -> GaussianScene:
    """The ``ceil(keep x N)`` most important Gaussians (at least one), in their input order.
    ``importance_scores`` ([N], from :func:`importance`) may be passed in when several levels of
    one scene are encoded."""
    imp = importance_scores if importance_scores is not None else importance(scene)
    k = max(1, int(math.ceil(scene.count * keep)))
    kept = np.sort(np.argsort(-imp.numpy(), kind="stable")[:k])
    return scene.subset(torch.from_numpy(kept))
