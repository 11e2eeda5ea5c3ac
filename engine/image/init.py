"""SmartSplat initialisation: where Gaussians start, how large, and with which colour
(SmartSplat, arXiv 2512.20377: its three sampling strategies).

A. Gradient-Color Guided Variational Sampling: ⌊0.7 N⌋ pixels drawn without replacement with
   probability ∝ w = 0.9 g/max g + 0.1 v/max v (g: 3×3 Sobel magnitude of the channel mean,
   v: unbiased 5×5 local variance, channel-averaged), per 1024² tile with an equal count per
   tile; scale s = s_base·exp(−0.5 w).
B. Exclusion-based Uniform Sampling: the remaining points, uniform candidates accepted when
   farther than r = max(s_base, median of A's scales) from every point accepted so far (up to 50
   rounds of min(10 000, 5·remaining) candidates; candidates of one round are not checked
   against each other; if the rounds run out N shrinks, as in the reference). Scale from the
   3 nearest neighbours including the point itself: √((0 + d₁² + d₂²)/3). A k-d tree
   (scipy.spatial.cKDTree) replaces faiss.
C. Scale-Adaptive Gaussian Color Sampling: a 9×9 lattice of offsets k·s/4 (|k| <= 4.5) sampled
   bilinearly at pixel centres, weights exp(−|k|²/(2s²)) (the reference's mixed units), colour =
   per-channel weighted median, clamped to [0, 1].

Rotations start at 0 and scales are isotropic. ``region`` ([H, W], bool or float weights in
[0, 1]) says where points may start: the importance map is multiplied by it, and uniform
candidates are kept where it is >= 0.5 (a tile's blend weight, ``engine.image.tiles``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import cKDTree
from torch import Tensor

from engine.image.gaussians import MAX_LOG_SCALE, MIN_LOG_SCALE, Gaussians2D, base_scale

IMPORTANCE_SHARE = 0.7
IMPORTANCE_TILE = 1024
EXCLUSION_ROUNDS = 50
EXCLUSION_BATCH = 10_000


def importance_map(image: Tensor) -> Tensor:
    """w [H, W] in [0, 1] of one tile (A, steps 2-3). image [H, W, 3] in [0, 1]."""
    gray = image.mean(-1)[None, None]  # [1, 1, H, W]
    sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=image.dtype, device=image.device)
    kernels = torch.stack([sobel_x, sobel_x.t()])[:, None]  # [2, 1, 3, 3]
    gxy = F.conv2d(gray, kernels, padding=1)  # zero padding
    g = torch.sqrt((gxy * gxy).sum(1))[0]  # [H, W]
    chw = image.permute(2, 0, 1)[None]  # [1, 3, H, W]
    mean = F.avg_pool2d(chw, 5, 1, 2, count_include_pad=False)
    mean_sq = F.avg_pool2d(chw * chw, 5, 1, 2, count_include_pad=False)
    n = F.avg_pool2d(torch.ones_like(chw[:, :1]), 5, 1, 2, count_include_pad=True) * 25  # valid neighbours
    v = ((mean_sq - mean * mean).clamp_min(0) * n / (n - 1)).mean(1)[0]  # unbiased, channel mean
    return 0.9 * g / g.max().clamp_min(1e-8) + 0.1 * v / v.max().clamp_min(1e-8)


def _tile_origins(side: int) -> list[int]:
    """1024-px tiles over one side: ⌈side/1024⌉ tiles stepping (side − 1024)//(n − 1) (A, step 1)."""
    n = math.ceil(side / IMPORTANCE_TILE)
    if n <= 1:
        return [0]
    step = (side - IMPORTANCE_TILE) // (n - 1)
    return [i * step for i in range(n - 1)] + [side - IMPORTANCE_TILE]


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def importance_sampling(image: Tensor, count: int, s_base: float, region: Tensor | None, gen: torch.Generator):
    """Part A: positions [n, 2] (pixel centres) and isotropic scales [n]."""
    h, w = image.shape[:2]
    xs, ys = _tile_origins(w), _tile_origins(h)
    counts = _split(count, len(xs) * len(ys))  # every tile gets an equal count
    pos, scales, i = [], [], 0
    for y0 in ys:
        for x0 in xs:
            tile = image[y0 : y0 + IMPORTANCE_TILE, x0 : x0 + IMPORTANCE_TILE]
            wmap = importance_map(tile)  # [h_t, w_t]
            if region is not None:
                wmap = wmap * region[y0 : y0 + IMPORTANCE_TILE, x0 : x0 + IMPORTANCE_TILE]
            k = min(counts[i], int((wmap > 0).sum()))
            i += 1
            if k <= 0:
                continue
            # sampling ∝ w without replacement = the top k of log w + Gumbel noise
            u = torch.rand(wmap.numel(), generator=gen, dtype=torch.float64).clamp_min(1e-300)
            keys = torch.log(wmap.flatten().double()) - torch.log(-torch.log(u))
            idx = torch.topk(keys, k).indices
            ty, tx = idx // wmap.shape[1], idx % wmap.shape[1]
            pos.append(torch.stack([tx + x0, ty + y0], -1).to(image.dtype) + 0.5)
            scales.append(s_base * torch.exp(-0.5 * wmap.flatten()[idx]))
    if not pos:
        return image.new_zeros(0, 2), image.new_zeros(0)
    return torch.cat(pos), torch.cat(scales)


def exclusion_sampling(existing: np.ndarray, count: int, radius: float, width: int, height: int,
                       region: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:  # fmt: skip
    """Part B: up to ``count`` positions [n, 2] at least ``radius`` from every earlier point."""
    accepted = [existing.reshape(-1, 2)]
    remaining = count
    for _ in range(EXCLUSION_ROUNDS):
        if remaining <= 0:
            break
        cand = rng.random((min(EXCLUSION_BATCH, 5 * remaining), 2)) * (width, height)
        if region is not None:
            cand = cand[region[cand[:, 1].astype(int), cand[:, 0].astype(int)] >= 0.5]
        pts = np.concatenate(accepted)
        if len(pts):
            d, _ = cKDTree(pts).query(cand, k=1, distance_upper_bound=radius)
            cand = cand[d > radius]  # np.inf where nothing lies within the radius
        cand = cand[:remaining]
        accepted.append(cand)
        remaining -= len(cand)
    return np.concatenate(accepted[1:]) if len(accepted) > 1 else np.zeros((0, 2))


def knn_scale(points: np.ndarray, query: np.ndarray) -> np.ndarray:
    """√((0 + d₁² + d₂²)/3) over the 3 nearest neighbours of ``query`` including itself (B.4)."""
    if len(query) == 0:
        return np.zeros(0)
    k = min(3, len(points))
    d, _ = cKDTree(points).query(query, k=k)
    d = d.reshape(len(query), k)
    return np.sqrt((d * d).sum(1) / 3.0)


def sample_colors(image: Tensor, xy: Tensor, scale: Tensor) -> Tensor:
    """Part C: colours [n, 3], weighted median over a 9×9 lattice of offsets k·s/4, |k| <= 4.5."""
    h, w = image.shape[:2]
    k = torch.stack(torch.meshgrid(torch.arange(-4, 5), torch.arange(-4, 5), indexing="xy"), -1).reshape(-1, 2)
    k = k[(k * k).sum(-1) <= 4.5**2].to(image.dtype).to(image.device)  # [K, 2]
    pts = xy[:, None, :] + k[None] * (scale[:, None, None] / 4.0)  # [n, K, 2] pixels
    # bilinear at pixel centres (align_corners=True over centre coordinates), clamped at borders
    grid = torch.stack([(pts[..., 0] - 0.5) / max(w - 1, 1), (pts[..., 1] - 0.5) / max(h - 1, 1)], -1) * 2 - 1
    samples = F.grid_sample(image.permute(2, 0, 1)[None], grid[None], mode="bilinear", padding_mode="border",
                            align_corners=True)[0]  # [3, n, K]  # fmt: skip
    weights = torch.exp(-(k * k).sum(-1)[None, :] / (2.0 * scale[:, None] ** 2))  # [n, K]
    vals, order = torch.sort(samples, dim=-1)  # per channel
    wsorted = torch.gather(weights[None].expand_as(samples), -1, order)
    cum = torch.cumsum(wsorted, -1)
    half = 0.5 * cum[..., -1:]
    first = torch.searchsorted(cum.contiguous(), half.contiguous()).clamp_max(samples.shape[-1] - 1)  # [3, n, 1]
    return torch.gather(vals, -1, first)[..., 0].t().clamp(0.0, 1.0)  # [n, 3]


def initialize(image: Tensor, count: int, seed: int = 0, region: Tensor | None = None) -> Gaussians2D:
    """``count`` Gaussians for ``image`` [H, W, 3] in [0, 1] (A: 70 %, B: 30 %, colours by C)."""
    h, w = image.shape[:2]
    image = image.float()
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    area = float(region.sum()) if region is not None else float(h * w)
    s_base = base_scale(area, count)
    n_a = int(IMPORTANCE_SHARE * count)
    xy_a, s_a = importance_sampling(image, n_a, s_base, region, gen)
    radius = max(s_base, float(s_a.median()) if len(s_a) else 0.0)
    region_np = region.cpu().float().numpy() if region is not None else None
    xy_b = exclusion_sampling(xy_a.numpy().astype(np.float64), count - len(xy_a), radius, w, h, region_np, rng)
    all_pts = np.concatenate([xy_a.numpy().astype(np.float64), xy_b])
    s_b = torch.from_numpy(knn_scale(all_pts, xy_b)).float()
    xy = torch.cat([xy_a, torch.from_numpy(xy_b).float()])
    scale = torch.cat([s_a, s_b]).clamp(math.exp(MIN_LOG_SCALE), math.exp(MAX_LOG_SCALE))
    color = sample_colors(image, xy, scale)
    log_scale = torch.log(scale)[:, None].repeat(1, 2)
    return Gaussians2D(xy, log_scale, torch.zeros(len(xy)), color)
