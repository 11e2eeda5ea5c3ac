"""Importance of each Gaussian over the training views, and pruning by it (Mini-Splatting
arXiv 2403.14166 §4.2, as Distilled-3DGS arXiv 2508.14037 §3.3 uses it).

indoor:  sum over views of the blending weight (sum_pixels alpha T);
outdoor: sum over the views where it wins a pixel of weight / pixels reached.
Either way 0 for a Gaussian that is never the top contributor of any pixel.
"""

from __future__ import annotations

import torch
from torch import Tensor

from engine.render.contributions import contributions

MODES = ("indoor", "outdoor")


@torch.no_grad()
def importance_score(
    means: Tensor,  # [N, 3]
    quats: Tensor,  # [N, 4]
    scales: Tensor,  # [N, 3] linear
    opacities: Tensor,  # [N] in [0, 1]
    cameras,  # the training views (engine.camera.Camera)
    mode: str = "indoor",
) -> Tensor:
    """[N] float64 importance (see the module docstring)."""
    if mode not in MODES:
        raise ValueError(f"unknown importance mode {mode!r} (choose from {', '.join(MODES)})")
    n = means.shape[0]
    score = torch.zeros(n, dtype=torch.float64, device=means.device)
    ever_top = torch.zeros(n, dtype=torch.bool, device=means.device)
    for cam in cameras:
        c = contributions(means, quats, scales, opacities, cam)
        won = c.area_max > 0
        ever_top |= won
        if mode == "indoor":
            score += c.weight
        else:
            score += torch.where(won, c.weight / c.area.clamp_min(1), torch.zeros_like(c.weight))
    return score * ever_top


def sample_survivors(score: Tensor, keep: int, generator: torch.Generator) -> Tensor:
    """[N] bool: ``keep`` Gaussians drawn without replacement with probability proportional to
    ``score`` (Mini-Splatting's sampling); zero-score ones only if fewer than ``keep`` score."""
    n = score.numel()
    mask = torch.zeros(n, dtype=torch.bool, device=score.device)
    positive = int((score > 0).sum())
    if keep >= n:
        mask[:] = True
        return mask
    if positive <= keep:
        mask[torch.argsort(score, descending=True, stable=True)[:keep]] = True
        return mask
    idx = torch.multinomial(score.double().cpu(), keep, replacement=False, generator=generator)
    mask[idx.to(score.device)] = True
    return mask


def cdf_prune_mask(score: Tensor, drop_mass: float = 0.01) -> Tensor:
    """[N] bool survivors: drop the least important Gaussians holding ``drop_mass`` of the total
    score, and every zero-score one (Mini-Splatting's CDF pruning at 20k)."""
    order = torch.argsort(score, stable=True)  # ascending
    cum = torch.cumsum(score[order], 0)
    total = float(cum[-1]) if cum.numel() else 0.0
    keep_sorted = cum > drop_mass * total
    mask = torch.zeros_like(score, dtype=torch.bool)
    mask[order[keep_sorted]] = True
    return mask & (score > 0)


def budget_prune_mask(score: Tensor, budget: int, drop_mass: float = 0.01) -> Tensor:
    """[N] bool survivors: the CDF prune (``cdf_prune_mask``), then, while more than ``budget``
    remain, the least important of them go too, so the count ends at the budget."""
    mask = cdf_prune_mask(score, drop_mass)
    if int(mask.sum()) > budget:
        ranked = torch.argsort(torch.where(mask, score, torch.full_like(score, -1.0)), descending=True, stable=True)
        mask = torch.zeros_like(mask)
        mask[ranked[:budget]] = True
    return mask
