"""Differentiable 2D Gaussian rasterizer: sum of colours, no alpha (ALGORITHMS.md §4.2).

For pixel p (centre at integer + 0.5) and Gaussians n with mean μₙ, conic Σₙ⁻¹ = (a, b, c):

    σₙ(p) = ½(a dx² + c dy²) + b dx dy,  d = p − μₙ
    αₙ(p) = exp(−σₙ(p)),                  skipped when αₙ < 1/255  (σ > ln 255)
    I(p)  = Σₙ cₙ αₙ(p)                   no transmittance, no normalisation, no background

Every Gaussian is summed (the GaussianImage code sums only a tile's first 256: §4.2, item 3).
The caller clamps I to [0, 1].

How it is vectorised (no Python loop per pixel or per Gaussian): the α >= 1/255 ellipse of a
Gaussian lies in a box of half-extents 3.33·(√Σxx, √Σyy). Each Gaussian gets a rectangular
*patch* of pixels covering that box (cut to the image), and Gaussians are grouped by patch size
into buckets whose sides grow by about √2, so the patches of a bucket form one dense tensor
[n, Ky, Kx]: the exponent is a broadcast sum of [n, 1, Kx] and [n, Ky, 1] terms, and the patch
is added into the image with one ``index_add_`` per bucket. Patches are placed inside the image
(their origin is clamped), so no pixel index needs a bounds test. Buckets are cut into chunks of
at most ``CHUNK_ELEMENTS`` pixels, which bounds the working memory on large tiles.

The backward pass is written by hand: with G = ∂L/∂I gathered over each patch,

    ∂L/∂cₙ = Σ_p αₙ G,   ∂L/∂σₙ = −αₙ (G · cₙ),
    ∂L/∂a = ½ Σ ∂L/∂σ dx², ∂L/∂c = ½ Σ ∂L/∂σ dy², ∂L/∂b = Σ ∂L/∂σ dx dy,
    ∂L/∂μ = −Σ_p ∂L/∂σ Σ⁻¹ d,

where the sums over a patch reduce rows and columns first (dx depends only on the column, dy
only on the row). ``engine.image.reference`` is the dense pure-autograd twin used to test it.

The same code runs on CUDA tensors (the "CUDA path" is this vectorised torch implementation on
the GPU; no custom kernel). On CUDA the scatter uses ``index_put_(accumulate=True)``, which is
deterministic under ``torch.use_deterministic_algorithms`` (see :func:`deterministic`).
"""

from __future__ import annotations

import contextlib
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
    ids: Tensor  # [n] Gaussian indices
    kx: int
    ky: int
    ox: Tensor  # [n] patch origin (column of the first pixel)
    oy: Tensor  # [n]


def _bucket(k: Tensor, limit: int) -> Tensor:
    """Smallest listed size >= k, capped at the image side."""
    sizes = torch.tensor(_SIZES, device=k.device)
    i = torch.searchsorted(sizes, k.clamp_max(_SIZES[-1]))
    return torch.minimum(sizes[i], torch.full_like(k, limit))


@torch.no_grad()
def plan(xy: Tensor, conics: Tensor, width: int, height: int) -> list[_Chunk]:
    """Patches and buckets for every visible Gaussian. xy [N, 2] pixels, conics [N, 3]."""
    a, b, c = conics.double().unbind(-1)
    det = (a * c - b * b).clamp_min(1e-30)
    half = CUTOFF_SIGMA * torch.sqrt(torch.stack([c / det, a / det], -1))  # [N, 2] box half-extents
    m = xy.detach().double()
    # pixel i is covered when its centre i + 0.5 lies in [μ - r, μ + r]
    lo = torch.ceil(m - half - 0.5).long()
    hi = torch.floor(m + half - 0.5).long()
    size = torch.tensor([width, height], device=xy.device)
    lo_c = lo.clamp_min(0)
    hi_c = torch.minimum(hi, size - 1)
    visible = ((hi_c >= lo_c).all(-1)) & torch.isfinite(m).all(-1)
    ids = torch.nonzero(visible).flatten()
    if ids.numel() == 0:
        return []
    lo_c, hi_c = lo_c[ids], hi_c[ids]
    k = torch.stack([_bucket(hi_c[:, 0] - lo_c[:, 0] + 1, width), _bucket(hi_c[:, 1] - lo_c[:, 1] + 1, height)], -1)
    origin = torch.minimum(lo_c, size - k)  # the patch stays inside the image and still covers [lo, hi]
    key = k[:, 0] * 8192 + k[:, 1]
    key_sorted, order = torch.sort(key, stable=True)
    ids, k, origin = ids[order], k[order], origin[order]
    _, counts = torch.unique_consecutive(key_sorted, return_counts=True)
    chunks, start = [], 0
    for n in counts.tolist():
        kx, ky = int(k[start, 0]), int(k[start, 1])
        step = max(1, CHUNK_ELEMENTS // (kx * ky))
        for s in range(start, start + n, step):
            e = min(s + step, start + n)
            chunks.append(_Chunk(ids[s:e], kx, ky, origin[s:e, 0].contiguous(), origin[s:e, 1].contiguous()))
        start += n
    return chunks


def _patch(ch: _Chunk, xy: Tensor, conics: Tensor, width: int):
    """α over the chunk's patches [n, Ky, Kx], flat pixel indices [n*Ky*Kx], dx [n, Kx], dy [n, Ky]."""
    dev, dt = xy.device, xy.dtype
    m = torch.index_select(xy, 0, ch.ids)  # [n, 2]
    q = torch.index_select(conics, 0, ch.ids)  # [n, 3]
    cx = ch.ox[:, None] + torch.arange(ch.kx, device=dev)  # [n, Kx] pixel columns
    cy = ch.oy[:, None] + torch.arange(ch.ky, device=dev)  # [n, Ky] pixel rows
    dx = cx.to(dt) + 0.5 - m[:, :1]
    dy = cy.to(dt) + 0.5 - m[:, 1:]
    a, b, c = q[:, 0:1], q[:, 1:2], q[:, 2:3]
    sigma = (0.5 * a * dx * dx)[:, None, :] + (0.5 * c * dy * dy)[:, :, None] + (b * dy)[:, :, None] * dx[:, None, :]
    alpha = torch.exp(-sigma)
    alpha = alpha.masked_fill_(sigma > SIGMA_CUT, 0.0)  # [n, Ky, Kx]
    pix = (cy * width)[:, :, None] + cx[:, None, :]  # [n, Ky, Kx]
    return alpha, pix.reshape(-1), dx, dy


def _scatter_add(out: Tensor, index: Tensor, src: Tensor) -> None:
    if out.is_cuda:  # deterministic under torch.use_deterministic_algorithms (see deterministic())
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
            alpha, pix, dx, dy = _patch(ch, xy, conics, width)
            col = torch.index_select(colors, 0, ch.ids)  # [n, C]
            contrib = alpha.reshape(len(ch.ids), -1, 1) * col[:, None, :]  # [n, P, C]
            _scatter_add(image, pix, contrib.reshape(-1, n_ch))
            saved.append((alpha, pix, dx, dy))
        if any(ctx.needs_input_grad[:3]):
            ctx.chunks, ctx.saved = chunks, saved
            ctx.save_for_backward(conics, colors)
        return image.reshape(height, width, n_ch)

    @staticmethod
    def backward(ctx, g_image):
        conics, colors = ctx.saved_tensors
        n_ch = colors.shape[-1]
        g_flat = g_image.reshape(-1, n_ch).contiguous()  # [HW, C]
        g_xy = colors.new_zeros(colors.shape[0], 2)
        g_con = colors.new_zeros(colors.shape[0], 3)
        g_col = colors.new_zeros(colors.shape)
        for ch, (alpha, pix, dx, dy) in zip(ctx.chunks, ctx.saved):
            n = len(ch.ids)
            g = torch.index_select(g_flat, 0, pix).reshape(n, -1, n_ch)  # [n, P, C]
            w = alpha.reshape(n, 1, -1)  # [n, 1, P]
            col = torch.index_select(colors, 0, ch.ids)  # [n, C]
            g_col.index_add_(0, ch.ids, torch.bmm(w, g).reshape(n, n_ch))
            gs = -(torch.bmm(g, col[:, :, None]).reshape(n, ch.ky, ch.kx) * alpha)  # ∂L/∂σ [n, Ky, Kx]
            rows = gs.sum(2)  # [n, Ky]
            cols = gs.sum(1)  # [n, Kx]
            sxy = ((gs * dx[:, None, :]).sum(2) * dy).sum(1)  # Σ gs dx dy
            sxx = (cols * dx * dx).sum(1)
            syy = (rows * dy * dy).sum(1)
            sx = (cols * dx).sum(1)
            sy = (rows * dy).sum(1)
            q = torch.index_select(conics, 0, ch.ids)
            a, b, c = q.unbind(-1)
            g_con.index_add_(0, ch.ids, torch.stack([0.5 * sxx, sxy, 0.5 * syy], -1))
            g_xy.index_add_(0, ch.ids, torch.stack([-(a * sx + b * sy), -(b * sx + c * sy)], -1))
        ctx.chunks = ctx.saved = None
        return g_xy, g_con, g_col, None, None


def rasterize(xy: Tensor, conics: Tensor, colors: Tensor, width: int, height: int) -> Tensor:
    """The image [H, W, C] (not clamped) of Gaussians xy [N, 2] px, conics [N, 3], colors [N, C]."""
    if xy.shape[0] == 0:
        return colors.new_zeros(height, width, colors.shape[-1]) + 0.0 * colors.sum()
    return _Rasterize.apply(xy, conics, colors, int(width), int(height))


def render(g, width: int, height: int) -> Tensor:
    """Render a :class:`~engine.image.gaussians.Gaussians2D` into [H, W, 3] (not clamped)."""
    from engine.image.gaussians import conic

    return rasterize(g.xy, conic(g.log_scale, g.theta), g.color, width, height)


@contextlib.contextmanager
def deterministic(device: torch.device | str):
    """On CUDA, make the scatter deterministic for the duration (decoding); a no-op on CPU,
    where ``index_add_`` is already deterministic."""
    if torch.device(device).type != "cuda":
        yield
        return
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)
