"""Front-to-back alpha compositing over tile batches, with an analytic backward
(3DGS, arXiv 2308.04079 §6).

For a pixel p and the Gaussians l = 1..L covering it, sorted near to far:

    sigma_l = 1/2 (a dx^2 + c dy^2) + b dx dy,      d = p - mu_l   (p at pixel centre +0.5)
    alpha_l = min(alpha_max, o_l exp(-sigma_l)),    skipped when < 1/255 or sigma_l < 0
                                                    (alpha_max defaults to projection.ALPHA_MAX)
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

from engine.render.projection import ALPHA_MAX, ALPHA_THRESHOLD
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


def _plan_batches(bins: TileBins, pair_rows: Tensor) -> list[tuple[int, int]]:
    """Contiguous tile ranges [t0, t1) whose candidate rows fit the fragment budget."""
    if pair_rows.numel() == 0:
        return []
    per_tile = torch.zeros(bins.num_tiles, dtype=torch.long, device=pair_rows.device)
    tile_of_pair = torch.repeat_interleave(torch.arange(bins.num_tiles, device=pair_rows.device), bins.counts)
    per_tile.index_add_(0, tile_of_pair, pair_rows * bins.tile_size)  # rows x at most a tile width
    cum = torch.cumsum(per_tile, 0).tolist()
    ranges, start, base = [], 0, 0
    for t in range(bins.num_tiles):
        if cum[t] - base > BATCH_FRAGMENTS and t > start:
            ranges.append((start, t))
            start, base = t, cum[t - 1]
    ranges.append((start, bins.num_tiles))
    return ranges


def _pair_rects(bins: TileBins, means2d: Tensor, radii: Tensor, width: int, height: int):
    """Pixel rectangle (x0, x1, y0, y1), inclusive, of every (tile, Gaussian) pair: the tile cut
    by the Gaussian's bounding box. Empty rectangles have y1 < y0."""
    ts = bins.tile_size
    m = means2d.detach()
    r = radii.to(m.dtype)
    # pixel x is covered when its centre x + 0.5 lies within [mx - rx, mx + rx]
    gx0 = torch.ceil(m[:, 0] - r[:, 0] - 0.5).clamp(0, width - 1)
    gx1 = torch.floor(m[:, 0] + r[:, 0] - 0.5).clamp(-1, width - 1)
    gy0 = torch.ceil(m[:, 1] - r[:, 1] - 0.5).clamp(0, height - 1)
    gy1 = torch.floor(m[:, 1] + r[:, 1] - 0.5).clamp(-1, height - 1)
    tile = torch.repeat_interleave(torch.arange(bins.num_tiles, device=m.device), bins.counts)
    box = torch.index_select(torch.stack([gx0, gx1, gy0, gy1], -1).long(), 0, bins.flat_ids)  # [P, 4]
    tx0 = (tile % bins.tiles_x) * ts
    ty0 = torch.div(tile, bins.tiles_x, rounding_mode="floor") * ts
    x0 = torch.maximum(box[:, 0], tx0)
    x1 = torch.minimum(box[:, 1], tx0 + ts - 1)
    y0 = torch.maximum(box[:, 2], ty0)
    y1 = torch.minimum(box[:, 3], ty0 + ts - 1)
    y1 = torch.where(x1 < x0, y0 - 1, y1)  # no columns: no rows
    return x0, x1, y0, y1


def _batch_fragments(p0, p1, rects, bins, means2d, conics, opacities, width, alpha_max) -> _Fragments | None:
    take = torch.index_select  # much faster than advanced indexing on CPU
    device, dtype = means2d.device, means2d.dtype
    x0, x1, y0, y1 = (t[p0:p1] for t in rects)
    n_rows = (y1 - y0 + 1).clamp_min(0)  # [P]
    total_rows = int(n_rows.sum())
    if total_rows == 0:
        return None
    # rows: one per (pair, pixel row of its rectangle)
    pair = torch.repeat_interleave(torch.arange(p1 - p0, device=device), n_rows)  # [R]
    row_y = take(y0, 0, pair) + torch.arange(total_rows, device=device) - take(torch.cumsum(n_rows, 0) - n_rows, 0, pair)
    gid_row = take(bins.flat_ids[p0:p1], 0, pair)
    per_g = torch.cat([means2d, conics, opacities[:, None]], -1)  # [M, 6]: mx my a b c o
    g_row = take(per_g, 0, gid_row)  # [R, 6]
    mx, my, a, b, c, o = g_row.unbind(-1)
    # alpha >= 1/255  <=>  sigma <= ln(255 o): solve the quadratic in dx for this row's dy
    dy = row_y.to(dtype) + 0.5 - my
    level = torch.log(o.clamp_min(ALPHA_THRESHOLD) / ALPHA_THRESHOLD)
    disc = dy * dy * (b * b - a * c) + 2.0 * a * level
    root = torch.sqrt(disc.clamp_min(0.0))
    a_safe = a.clamp_min(1e-12)
    lo = mx + (-b * dy - root) / a_safe - 0.5
    hi = mx + (-b * dy + root) / a_safe - 0.5
    # widen by a hair so rounding never loses a fragment; the exact test below decides
    xs = torch.maximum(torch.ceil(lo - 1e-3).long(), take(x0, 0, pair))
    xe = torch.minimum(torch.floor(hi + 1e-3).long(), take(x1, 0, pair))
    n_frag = torch.where(disc >= 0, (xe - xs + 1).clamp_min(0), torch.zeros_like(xs))  # [R]
    total = int(n_frag.sum())
    if total == 0:
        return None
    row = torch.repeat_interleave(torch.arange(total_rows, device=device), n_frag)  # [F]
    fx = take(xs - (torch.cumsum(n_frag, 0) - n_frag), 0, row) + torch.arange(total, device=device)
    pix = (take(row_y, 0, row) * width + fx).to(torch.int32)  # int32 keys sort about 2x faster
    # pairs arrive tile by tile, near to far: a stable sort by pixel keeps depth order per pixel.
    # Sorting before computing anything means one row-major gather per fragment afterwards.
    pix, order = torch.sort(pix, stable=True)
    pix = pix.long()
    row = take(row, 0, order)
    fx = take(fx, 0, order)
    # one row-major gather; the columns are used as strided views (a transpose costs more)
    mxf, af, bf, cf, of, dy = take(torch.stack([mx, a, b, c, o, dy], -1), 0, row).unbind(1)  # [F] each
    gid = take(gid_row, 0, row)
    dx = fx.to(dtype) + 0.5 - mxf
    sigma = 0.5 * (af * dx * dx + cf * dy * dy) + bf * dx * dy
    gauss = torch.exp(-sigma)
    raw = of * gauss
    alpha = raw.clamp(max=alpha_max)
    # the row intervals are exact up to rounding: zero the few boundary misses in place
    alpha = alpha * ((sigma >= 0) & (alpha >= ALPHA_THRESHOLD))

    n = pix.numel()
    starts = torch.ones(n, dtype=torch.bool, device=device)
    starts[1:] = pix[1:] != pix[:-1]
    start_idx = torch.nonzero(starts).flatten()  # first fragment of each pixel's run
    run_len = torch.diff(start_idx, append=torch.tensor([n], device=device))
    log1m = torch.log1p(-alpha)
    cs = torch.cumsum(log1m.double(), 0)  # float64: the running sum spans every run of the batch
    cs_excl = cs - log1m
    base = torch.repeat_interleave(take(cs_excl, 0, start_idx), run_len)  # log T where the run starts
    t_excl = torch.exp((cs_excl - base).to(dtype))  # transmittance in front of each fragment
    keep = (t_excl * (1.0 - alpha) > T_MIN) & (alpha > 0)  # done-ness is a prefix of each run
    alpha = alpha * keep
    return _Fragments(
        gid=gid, pix=pix, dx=dx, dy=dy, gauss=gauss, raw=raw, alpha=alpha, t_excl=t_excl,
        seg_end=torch.repeat_interleave(start_idx + run_len - 1, run_len), grad_mask=keep & (raw <= alpha_max),
    )  # fmt: skip


def _fragments(means2d, conics, opacities, bins: TileBins, width: int, height: int, alpha_max: float):
    """The contributing fragments of every tile batch in turn (see the module docstring)."""
    rects = _pair_rects(bins, means2d, bins.radii, width, height)
    rows = (rects[3] - rects[2] + 1).clamp_min(0)
    for t0, t1 in _plan_batches(bins, rows):
        p0, p1 = int(bins.offsets[t0]), int(bins.offsets[t1])
        f = _batch_fragments(p0, p1, rects, bins, means2d, conics, opacities, width, alpha_max)
        if f is not None:
            yield f


class CompositeTiles(torch.autograd.Function):
    @staticmethod
    def forward(ctx, means2d, conics, colors, opacities, bins: TileBins, width: int, height: int, alpha_max: float):
        # means2d [M, 2], conics [M, 3], colors [M, D], opacities [M], radii in bins.radii
        d = colors.shape[-1]
        colors_t = colors.t().contiguous()  # [D, M]: component-major, fast index_add along dim 1
        image_t = colors.new_zeros(d, height * width)
        log_t_final = torch.zeros(height * width, dtype=torch.float64, device=colors.device)
        frags = []
        for f in _fragments(means2d, conics, opacities, bins, width, height, alpha_max):
            weights = f.alpha * f.t_excl  # [F]
            image_t.index_add_(1, f.pix, torch.index_select(colors_t, 1, f.gid) * weights)
            log_t_final.index_add_(0, f.pix, torch.log1p(-f.alpha.double()))
            frags.append(f)
        t_final = torch.exp(log_t_final).to(colors.dtype)
        if any(ctx.needs_input_grad[:4]):
            ctx.frags = frags
            ctx.t_final = t_final
            ctx.save_for_backward(conics, colors)
        return image_t.t().reshape(height, width, d), (1.0 - t_final).reshape(height, width)

    @staticmethod
    def backward(ctx, g_image, g_alpha):
        conics, colors = ctx.saved_tensors
        M, D = colors.shape
        take = torch.index_select
        g_t = g_image.reshape(-1, D).t().contiguous()  # [D, HW]
        behind = g_alpha.reshape(-1) * ctx.t_final  # [HW] dL/dA * T_final per pixel
        colors_t = colors.t().contiguous()  # [D, M]
        # per Gaussian, component-major: [opacity, dsigma*dx^2/2, dsigma*dx*dy, dsigma*dy^2/2,
        # dsigma*dx, dsigma*dy, colour 0..D-1]
        acc = colors.new_zeros(6 + D, M)
        for f in ctx.frags:
            n = f.pix.numel()
            weights = f.alpha * f.t_excl
            g_pix = take(g_t, 1, f.pix)  # [D, F] (pixels are sorted: a cheap gather)
            col = take(colors_t, 1, f.gid)  # [D, F]
            gc = (g_pix * col).sum(0)  # G . c per fragment
            cq = torch.cumsum((weights * gc).double(), 0)
            suffix = (take(cq, 0, f.seg_end) - cq).to(colors.dtype)  # later fragments of the pixel
            g_al = f.t_excl * gc - (suffix - take(behind, 0, f.pix)) / (1.0 - f.alpha)
            g_raw = g_al * f.grad_mask
            g_sig = -g_raw * f.raw
            parts = colors.new_empty(6 + D, n)
            torch.mul(g_raw, f.gauss, out=parts[0])
            torch.mul(g_sig, f.dx, out=parts[4])
            torch.mul(g_sig, f.dy, out=parts[5])
            torch.mul(parts[4], f.dx, out=parts[1]).mul_(0.5)
            torch.mul(parts[4], f.dy, out=parts[2])
            torch.mul(parts[5], f.dy, out=parts[3]).mul_(0.5)
            torch.mul(g_pix, weights, out=parts[6:])
            acc.index_add_(1, f.gid, parts)
        a, b, c = conics.unbind(-1)
        sx, sy = acc[4], acc[5]
        g_means2d = torch.stack([-(a * sx + b * sy), -(b * sx + c * sy)], -1)
        return g_means2d, acc[1:4].t(), acc[6:].t(), acc[0], None, None, None, None


def composite(means2d, conics, colors, opacities, bins: TileBins, width: int, height: int, alpha_max: float = ALPHA_MAX):
    """Rendered features [H, W, D] and alpha [H, W] (no background)."""
    return CompositeTiles.apply(means2d, conics, colors, opacities, bins, width, height, alpha_max)


@torch.no_grad()
def blend_statistics(means2d, conics, opacities, bins: TileBins, width: int, height: int,
                     alpha_max: float = ALPHA_MAX) -> tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """Per Gaussian [M], with the forward pass's exact fragments: the blending weight it gives
    (sum over pixels of alpha T, float64), the pixels it reaches (alpha T > 0) and the pixels
    where its weight is the largest of all Gaussians there (Mini-Splatting's accum_weights,
    area_proj and area_max; Mini-Splatting, arXiv 2403.14166 §4). A tile's pixels all lie in one
    batch, so the per-pixel maximum is complete within a batch."""
    m = means2d.shape[0]
    device = means2d.device
    weight = torch.zeros(m, dtype=torch.float64, device=device)
    area = torch.zeros(m, dtype=torch.long, device=device)
    area_max = torch.zeros(m, dtype=torch.long, device=device)
    for f in _fragments(means2d, conics, opacities, bins, width, height, alpha_max):
        w = f.alpha * f.t_excl  # [F]
        hit = w > 0
        weight.index_add_(0, f.gid, w.double())
        area.index_add_(0, f.gid[hit], torch.ones_like(f.gid[hit]))
        best = torch.zeros(height * width, dtype=w.dtype, device=device).scatter_reduce_(0, f.pix, w, "amax")
        top = hit & (w == torch.index_select(best, 0, f.pix))
        area_max.index_add_(0, f.gid[top], torch.ones_like(f.gid[top]))
    return weight, area, area_max
