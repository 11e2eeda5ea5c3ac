"""Front-to-back alpha compositing over tile batches, with an analytic backward (3DGS §6).

For a pixel p and the Gaussians l = 1..L covering it, sorted near to far:

    sigma_l = 1/2 (a dx^2 + c dy^2) + b dx dy,      d = p - mu_l   (p at pixel centre +0.5)
    alpha_l = min(alpha_max, o_l exp(-sigma_l)),    skipped when < 1/255 or sigma_l < 0
    T_l     = prod_{j<l} (1 - alpha_j)              the pixel stops before T would drop <= 1e-4
    C       = sum_l alpha_l T_l c_l,                A = 1 - T_final

How it is vectorised (no Python loop per pixel or per Gaussian): tiles are taken in batches;
every (tile, Gaussian) pair from ``tiles.bin_gaussians`` expands into *fragments*, one per pixel
of the tile inside the Gaussian's tight bounding box. Fragments with alpha < 1/255 are dropped,
the rest are stable-sorted by pixel (pairs arrive near to far, so each pixel's run stays in depth
order), and transmittance is a segmented cumulative sum of log(1 - alpha) in float64. Work is
proportional to the Gaussians' real footprints, not to tile area.

Backward, per fragment, with suffix sums within each pixel's run:

    dC/dalpha_k = T_k c_k - (sum_{l>k} w_l c_l) / (1 - alpha_k),   dA/dalpha_k = T_final / (1 - alpha_k)

``engine.render.reference`` is the dense pure-autograd twin used to test this.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from engine.render.projection import ALPHA_THRESHOLD
from engine.render.tiles import TileBins

T_MIN = 1e-4  # a pixel is done when its transmittance would fall to this
BATCH_FRAGMENTS = 1 << 22  # candidate fragments per batch: bounds the working memory


@dataclass
class _Fragments:
    """The contributing fragments of one tile batch, sorted by pixel then depth. [F] each."""

    gid: Tensor  # Gaussian index (into the composite inputs)
    pix: Tensor  # flat pixel index y * W + x
    dx: Tensor  # pixel centre - Gaussian centre
    dy: Tensor
    gauss: Tensor  # exp(-sigma)
    raw: Tensor  # o * exp(-sigma), before the alpha_max clamp
    alpha: Tensor  # effective alpha (0 after the pixel is done)
    t_excl: Tensor  # transmittance in front of this fragment
    seg_end: Tensor  # index of the last fragment of this fragment's pixel run
    grad_mask: Tensor  # bool: d alpha / d raw = 1 here


def _plan_batches(bins: TileBins, pair_area: Tensor) -> list[tuple[int, int]]:
    """Contiguous tile ranges [t0, t1) whose candidate fragments fit BATCH_FRAGMENTS."""
    if pair_area.numel() == 0:
        return []
    per_tile = torch.zeros(bins.num_tiles, dtype=torch.long, device=pair_area.device)
    tile_of_pair = torch.repeat_interleave(torch.arange(bins.num_tiles, device=pair_area.device), bins.counts)
    per_tile.index_add_(0, tile_of_pair, pair_area)
    cum = torch.cumsum(per_tile, 0).tolist()
    ranges, start, base = [], 0, 0
    for t in range(bins.num_tiles):
        if cum[t] - base > BATCH_FRAGMENTS and t > start:
            ranges.append((start, t))
            start, base = t, cum[t - 1]
    ranges.append((start, bins.num_tiles))
    return ranges


def _pair_rects(bins: TileBins, means2d: Tensor, radii: Tensor, width: int, height: int):
    """Pixel rectangle (x0, y0, w, h) of every (tile, Gaussian) pair: the tile cut by the box."""
    ts = bins.tile_size
    m = means2d.detach()
    r = radii.to(m.dtype)
    # pixel x is covered when its centre x + 0.5 lies within [mx - rx, mx + rx]
    gx0 = torch.ceil(m[:, 0] - r[:, 0] - 0.5).clamp(0, width - 1).long()
    gx1 = torch.floor(m[:, 0] + r[:, 0] - 0.5).clamp(-1, width - 1).long()
    gy0 = torch.ceil(m[:, 1] - r[:, 1] - 0.5).clamp(0, height - 1).long()
    gy1 = torch.floor(m[:, 1] + r[:, 1] - 0.5).clamp(-1, height - 1).long()
    tile = torch.repeat_interleave(torch.arange(bins.num_tiles, device=m.device), bins.counts)
    g = bins.flat_ids
    tx0 = (tile % bins.tiles_x) * ts
    ty0 = torch.div(tile, bins.tiles_x, rounding_mode="floor") * ts
    box = torch.index_select(torch.stack([gx0, gx1, gy0, gy1], -1), 0, g)  # [P, 4]
    x0 = torch.maximum(box[:, 0], tx0)
    x1 = torch.minimum(box[:, 1], tx0 + ts - 1)
    y0 = torch.maximum(box[:, 2], ty0)
    y1 = torch.minimum(box[:, 3], ty0 + ts - 1)
    w = (x1 - x0 + 1).clamp_min(0)
    h = (y1 - y0 + 1).clamp_min(0)
    return x0, y0, w, h


def _batch_fragments(p0, p1, rects, bins, means2d, conics, opacities, width, alpha_max) -> _Fragments | None:
    x0, y0, w, h = (t[p0:p1] for t in rects)
    area = w * h
    total = int(area.sum())
    if total == 0:
        return None
    device, dtype = means2d.device, means2d.dtype
    pair = torch.repeat_interleave(torch.arange(p1 - p0, device=device), area)  # [F0]
    local = torch.arange(total, device=device) - torch.repeat_interleave(torch.cumsum(area, 0) - area, area)
    take = torch.index_select  # much faster than advanced indexing on CPU
    wp = take(w, 0, pair)
    fx = take(x0, 0, pair) + local % wp
    fy = take(y0, 0, pair) + torch.div(local, wp, rounding_mode="floor")
    gid = take(bins.flat_ids[p0:p1], 0, pair)
    # one gather for all per-Gaussian values: [mx, my, a, b, c, o]
    per_g = take(torch.cat([means2d, conics, opacities[:, None]], -1), 0, gid)
    dx = fx.to(dtype) + 0.5 - per_g[:, 0]
    dy = fy.to(dtype) + 0.5 - per_g[:, 1]
    sigma = 0.5 * (per_g[:, 2] * dx * dx + per_g[:, 4] * dy * dy) + per_g[:, 3] * dx * dy
    gauss = torch.exp(-sigma)
    raw = per_g[:, 5] * gauss
    alpha = raw.clamp(max=alpha_max)
    live = torch.nonzero((sigma >= 0) & (alpha >= ALPHA_THRESHOLD)).flatten()
    if live.numel() == 0:
        return None
    pix = take(fy * width + fx, 0, live).to(torch.int32)  # int32 keys sort about 2x faster
    # pairs arrive tile by tile, near to far: a stable sort by pixel keeps depth order per pixel
    pix, order = torch.sort(pix, stable=True)
    pix = pix.long()
    sel = take(live, 0, order)
    gid = take(gid, 0, sel)
    dx, dy, gauss, raw, alpha = take(torch.stack([dx, dy, gauss, raw, alpha]), 1, sel).unbind(0)

    n = pix.numel()
    starts = torch.ones(n, dtype=torch.bool, device=device)
    starts[1:] = pix[1:] != pix[:-1]
    seg = torch.cumsum(starts, 0) - 1  # run index per fragment
    start_idx = torch.nonzero(starts).flatten()
    end_idx = torch.cat([start_idx[1:], torch.tensor([n], device=device)]) - 1
    log1m = torch.log1p(-alpha.double())
    cs = torch.cumsum(log1m, 0)
    base = take(take(cs - log1m, 0, start_idx), 0, seg)  # log T before the run starts
    t_incl = torch.exp(cs - base)
    keep = t_incl > T_MIN  # a prefix of each run: T only decreases
    alpha = alpha * keep
    t_excl = torch.exp(cs - log1m - base).to(dtype)
    return _Fragments(
        gid=gid, pix=pix, dx=dx, dy=dy, gauss=gauss, raw=raw, alpha=alpha, t_excl=t_excl,
        seg_end=take(end_idx, 0, seg), grad_mask=keep & (raw <= alpha_max),
    )  # fmt: skip


class CompositeTiles(torch.autograd.Function):
    @staticmethod
    def forward(ctx, means2d, conics, colors, opacities, bins: TileBins, width: int, height: int, alpha_max: float):
        # means2d [M, 2], conics [M, 3], colors [M, D], opacities [M], radii in bins.radii
        d = colors.shape[-1]
        image = colors.new_zeros(height * width, d)
        log_t_final = torch.zeros(height * width, dtype=torch.float64, device=colors.device)
        rects = _pair_rects(bins, means2d, bins.radii, width, height)
        frags = []
        for t0, t1 in _plan_batches(bins, rects[2] * rects[3]):
            p0, p1 = int(bins.offsets[t0]), int(bins.offsets[t1])
            f = _batch_fragments(p0, p1, rects, bins, means2d, conics, opacities, width, alpha_max)
            if f is None:
                continue
            weights = f.alpha * f.t_excl  # [F]
            image.index_add_(0, f.pix, weights[:, None] * torch.index_select(colors, 0, f.gid))
            log_t_final.index_add_(0, f.pix, torch.log1p(-f.alpha.double()))
            frags.append(f)
        t_final = torch.exp(log_t_final).to(colors.dtype)
        if any(ctx.needs_input_grad[:4]):
            ctx.frags = frags
            ctx.t_final = t_final
            ctx.save_for_backward(conics, colors)
        return image.reshape(height, width, d), (1.0 - t_final).reshape(height, width)

    @staticmethod
    def backward(ctx, g_image, g_alpha):
        conics, colors = ctx.saved_tensors
        M, D = colors.shape
        G = g_image.reshape(-1, D)  # [HW, D]
        gA = g_alpha.reshape(-1)  # [HW]
        # per Gaussian: [opacity, dsigma*dx^2/2, dsigma*dx*dy, dsigma*dy^2/2, dsigma*dx, dsigma*dy, colour D]
        acc = colors.new_zeros(M, 6 + D)
        for f in ctx.frags:
            take = torch.index_select
            g_pix = take(G, 0, f.pix)  # [F, D]
            col = take(colors, 0, f.gid)  # [F, D]
            weights = f.alpha * f.t_excl
            gc = (g_pix * col).sum(-1)  # G . c
            cq = torch.cumsum((weights * gc).double(), 0)
            suffix = (take(cq, 0, f.seg_end) - cq).to(colors.dtype)  # sum over later fragments of the pixel
            behind = take(gA * ctx.t_final, 0, f.pix)  # dL/dA * T_final of the fragment's pixel
            g_al = f.t_excl * gc - (suffix - behind) / (1.0 - f.alpha)
            g_raw = g_al * f.grad_mask
            g_sig = -g_raw * f.raw
            sx, sy = g_sig * f.dx, g_sig * f.dy
            parts = [g_raw * f.gauss, 0.5 * sx * f.dx, sx * f.dy, 0.5 * sy * f.dy, sx, sy]
            acc.index_add_(0, f.gid, torch.cat([torch.stack(parts, -1), weights[:, None] * g_pix], -1))
        a, b, c = conics.unbind(-1)
        sx, sy = acc[:, 4], acc[:, 5]
        g_means2d = torch.stack([-(a * sx + b * sy), -(b * sx + c * sy)], -1)
        return g_means2d, acc[:, 1:4], acc[:, 6:], acc[:, 0], None, None, None, None


def composite(means2d, conics, colors, opacities, bins: TileBins, width: int, height: int, alpha_max: float = 0.99):
    """Rendered features [H, W, D] and alpha [H, W] (no background)."""
    return CompositeTiles.apply(means2d, conics, colors, opacities, bins, width, height, alpha_max)
