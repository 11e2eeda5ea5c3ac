"""Differentiable 2D Gaussian rasterizer: sum of colours, no alpha (GaussianImage's kernel,
arXiv 2403.08551, which SmartSplat, arXiv 2512.20377, uses).

For pixel p (centre at integer + 0.5) and Gaussians n with mean μₙ, conic Σₙ⁻¹ = (a, b, c):

    σₙ(p) = ½(a dx² + c dy²) + b dx dy,  d = p − μₙ
    αₙ(p) = exp(−σₙ(p)),                  skipped when αₙ < 1/255  (σ > ln 255)
    I(p)  = Σₙ cₙ αₙ(p)                   no transmittance, no normalisation, no background

Every Gaussian is summed (the GaussianImage code sums only a tile's first 256: its issue #26).
The caller clamps I to [0, 1].

How it is vectorised (no Python loop per pixel or per Gaussian): the α >= 1/255 region of a
Gaussian is an ellipse. For every pixel row it crosses, the exact span of columns inside it is
solved from the quadratic in dx, so a Gaussian becomes a set of *row spans* (about as many pixels
as the ellipse's area, whatever its rotation). Spans are grouped by width into buckets whose
sizes grow by about √2 (a "row tile" of K pixels), and each bucket is one dense tensor [R, K]
(R spans): the exponent is ½a dx² + (b dy) dx + ½c dy² per element, and the bucket is added into
the image with one ``index_add_``. Spans are placed inside the image (their origin is clamped),
so no pixel index needs a bounds test; pixels of a span beyond the ellipse are zeroed by the
α test. Buckets are cut into chunks of at most ``CHUNK_ELEMENTS`` pixels, which bounds the
working memory on large tiles.

The backward pass is written by hand: with G = ∂L/∂I gathered over each span,

    ∂L/∂cₙ = Σ_p αₙ G,   ∂L/∂σₙ = −αₙ (G · cₙ),
    ∂L/∂a = ½ Σ ∂L/∂σ dx², ∂L/∂c = ½ Σ ∂L/∂σ dy², ∂L/∂b = Σ ∂L/∂σ dx dy,
    ∂L/∂μ = −Σ_p ∂L/∂σ Σ⁻¹ d,

where each span first reduces Σ ∂L/∂σ·{1, dx, dx²} over its pixels (dy is constant along a
row) and the per-span sums are added per Gaussian with one ``index_add_``.
``engine.image.reference`` is the dense pure-autograd twin used to test it.

The same code runs on CUDA tensors (the "CUDA path" is this vectorised torch implementation on
the GPU; no custom kernel). The forward pass is deterministic on either device without any
global switch (see ``_scatter_add``), so decoding a file gives the same bytes every time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from engine.image.gaussians import CUTOFF_SIGMA

SIGMA_CUT = math.log(255.0)  # α >= 1/255  <=>  σ <= ln 255
CHUNK_ELEMENTS = 1 << 21  # patch pixels per chunk: bounds the working memory
_SIZES = [4, 6, 8, 11, 16, 23, 32, 45, 64, 91, 128, 181, 256, 362, 512, 724, 1024, 1448, 2048, 2896, 4096]


@dataclass
class _Chunk:
    gid: Tensor  # [R] Gaussian of each span
    row: Tensor  # [R] pixel row
    ox: Tensor  # [R] column of the span's first pixel
    k: int  # span length (pixels)


def _bucket(k: Tensor, limit: int) -> Tensor:
    """Smallest listed size >= k, capped at the image width."""
    sizes = torch.tensor(_SIZES, device=k.device)
    i = torch.searchsorted(sizes, k.clamp_max(_SIZES[-1]))
    return torch.minimum(sizes[i], torch.full_like(k, limit))


@torch.no_grad()
def plan(xy: Tensor, conics: Tensor, width: int, height: int) -> list[_Chunk]:
    """Row spans of every visible Gaussian, bucketed by length. xy [N, 2] px, conics [N, 3]."""
    dev = xy.device
    a, b, c = conics.detach().double().unbind(-1)
    m = xy.detach().double()
    det = (a * c - b * b).clamp_min(1e-30)
    ry = CUTOFF_SIGMA * torch.sqrt(a / det)  # half-height of the ellipse (√Σyy·3.33)
    ok = torch.isfinite(m).all(-1) & torch.isfinite(ry) & (a > 0)
    # pixel row j is crossed when its centre j + 0.5 lies within [my - ry, my + ry]
    y0 = torch.ceil(m[:, 1] - ry - 0.5).clamp(0, height).nan_to_num(0).long()
    y1 = torch.floor(m[:, 1] + ry - 0.5).clamp(-1, height - 1).nan_to_num(-1).long()
    n_rows = torch.where(ok, (y1 - y0 + 1).clamp_min(0), torch.zeros_like(y0))  # [N]
    total = int(n_rows.sum())
    if total == 0:
        return []
    gid = torch.repeat_interleave(torch.arange(len(n_rows), device=dev), n_rows)  # [R]
    row = y0[gid] + torch.arange(total, device=dev) - torch.repeat_interleave(torch.cumsum(n_rows, 0) - n_rows, n_rows)
    ga, gb, gc, mx, my = a[gid], b[gid], c[gid], m[gid, 0], m[gid, 1]
    dy = row.double() + 0.5 - my
    # σ <= ln 255 along the row: ½a dx² + b dy dx + ½c dy² - ln 255 <= 0
    disc = dy * dy * (gb * gb - ga * gc) + 2.0 * ga * SIGMA_CUT
    root = torch.sqrt(disc.clamp_min(0.0))
    lo = torch.ceil(mx + (-gb * dy - root) / ga - 0.5 - 1e-6).clamp(0, width).long()
    hi = torch.floor(mx + (-gb * dy + root) / ga - 0.5 + 1e-6).clamp(-1, width - 1).long()
    keep = (disc >= 0) & (hi >= lo)
    gid, row, lo, hi = gid[keep], row[keep], lo[keep], hi[keep]
    if gid.numel() == 0:
        return []
    k = _bucket(hi - lo + 1, width)
    ox = torch.minimum(lo, width - k)  # the span stays inside the image and still covers [lo, hi]
    k_sorted, order = torch.sort(k, stable=True)
    gid, row, ox = gid[order], row[order], ox[order]
    sizes, counts = torch.unique_consecutive(k_sorted, return_counts=True)
    chunks, start = [], 0
    for size, n in zip(sizes.tolist(), counts.tolist()):
        step = max(1, CHUNK_ELEMENTS // size)
        for s in range(start, start + n, step):
            e = min(s + step, start + n)
            chunks.append(_Chunk(gid[s:e], row[s:e], ox[s:e], size))
        start += n
    return chunks


def _spans(ch: _Chunk, xy: Tensor, conics: Tensor, width: int):
    """α over the chunk's spans [R, K], flat pixel indices [R*K], dx [R, K], dy [R], conic [R, 3]."""
    m = torch.index_select(xy, 0, ch.gid)  # [R, 2]
    q = torch.index_select(conics, 0, ch.gid)  # [R, 3]
    cols = ch.ox[:, None] + torch.arange(ch.k, device=xy.device)  # [R, K]
    dx = cols.to(xy.dtype) + 0.5 - m[:, :1]
    dy = ch.row.to(xy.dtype) + 0.5 - m[:, 1]  # [R]
    a, b, c = q.unbind(-1)
    sigma = (0.5 * a[:, None] * dx + (b * dy)[:, None]) * dx + (0.5 * c * dy * dy)[:, None]
    alpha = torch.exp(-sigma).masked_fill_(sigma > SIGMA_CUT, 0.0)  # [R, K]
    pix = (ch.row * width)[:, None] + cols
    return alpha, pix.reshape(-1), dx, dy, q


def _scatter_add(out: Tensor, index: Tensor, src: Tensor) -> None:
    """out[index] += src, in the same order every time. On the CPU ``index_add_`` is sequential.
    On CUDA ``index_add_`` adds with atomics (the order, hence the float sum, varies), but
    ``index_put_(accumulate=True)`` always runs ATen's sort-based kernel (index_put_with_sort:
    a stable sort of the indices, then each pixel's values summed in their original order),
    whatever ``torch.use_deterministic_algorithms`` says. So no process-wide switch is needed
    (one would also change every other thread's CUDA work while it is on)."""
    if out.is_cuda:
        out.index_put_((index,), src, accumulate=True)
    else:
        out.index_add_(0, index, src)


class _Rasterize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xy, conics, colors, width: int, height: int):
        # xy [N, 2], conics [N, 3], colors [N, C] -> image [H, W, C]
        n_ch = colors.shape[-1]
        image = colors.new_zeros(height * width, n_ch)
        chunks = plan(xy, conics, width, height)
        saved = []
        for ch in chunks:
            alpha, pix, dx, dy, q = _spans(ch, xy, conics, width)
            col = torch.index_select(colors, 0, ch.gid)  # [R, C]
            _scatter_add(image, pix, (alpha[:, :, None] * col[:, None, :]).reshape(-1, n_ch))
            saved.append((alpha, pix, dx, dy, q, col))
        if any(ctx.needs_input_grad[:3]):
            ctx.chunks, ctx.saved = chunks, saved
            ctx.n = colors.shape[0]
        return image.reshape(height, width, n_ch)

    @staticmethod
    def backward(ctx, g_image):
        n_ch = g_image.shape[-1]
        g_flat = g_image.reshape(-1, n_ch).contiguous()  # [HW, C]
        per_span, gids = [], []
        for ch, (alpha, pix, dx, dy, q, col) in zip(ctx.chunks, ctx.saved):
            r = alpha.shape[0]
            g = torch.index_select(g_flat, 0, pix).reshape(r, ch.k, n_ch)  # [R, K, C]
            g_col = torch.bmm(alpha[:, None, :], g)[:, 0]  # [R, C]
            gs = -(torch.bmm(g, col[:, :, None])[:, :, 0] * alpha)  # ∂L/∂σ [R, K]
            s0 = gs.sum(1)
            gdx = gs * dx
            s1 = gdx.sum(1)
            s2 = (gdx * dx).sum(1)
            a, b, c = q.unbind(-1)
            per_span.append(torch.cat([torch.stack([-(a * s1 + b * dy * s0), -(b * s1 + c * dy * s0),
                                                    0.5 * s2, dy * s1, 0.5 * dy * dy * s0], -1), g_col], -1))  # fmt: skip
            gids.append(ch.gid)
        acc = g_image.new_zeros(ctx.n, 5 + n_ch)
        if per_span:
            acc.index_add_(0, torch.cat(gids), torch.cat(per_span))
        return acc[:, 0:2], acc[:, 2:5], acc[:, 5:], None, None


def rasterize(xy: Tensor, conics: Tensor, colors: Tensor, width: int, height: int) -> Tensor:
    """The image [H, W, C] (not clamped) of Gaussians xy [N, 2] px, conics [N, 3], colors [N, C]."""
    if xy.shape[0] == 0:
        return colors.new_zeros(height, width, colors.shape[-1]) + 0.0 * colors.sum()
    return _Rasterize.apply(xy, conics, colors, int(width), int(height))


def render(g, width: int, height: int) -> Tensor:
    """Render a :class:`~engine.image.gaussians.Gaussians2D` into [H, W, 3] (not clamped)."""
    from engine.image.gaussians import conic

    return rasterize(g.xy, conic(g.log_scale, g.theta), g.color, width, height)

