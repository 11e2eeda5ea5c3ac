"""Quantisation of 2D Gaussians, with straight-through estimators for quantisation-aware training.

SmartSplat (arXiv 2512.20377) has no codec; this follows GaussianImage's layout (arXiv 2403.08551) with
changes that measured better at Kodak rates:

| attribute | quantiser | symbols |
|---|---|---|
| position | fixed point on a 2^-k px grid of the tile's window (k = ``pos_frac_bits``; GaussianImage: FP16) | qx, qy |
| shape | 6-bit uniform, learned offset β and step s shared by both log-scales (GaussianImage: learned 6-bit per channel); angle on a fixed 64-step grid over [0, π) | q₁ >= q₂, θ |
| colour (default) | YCoCg, uniform step 2^-``color_bits`` per channel, straight-through | qY, qCo, qCg |
| colour (``color_bits=0``) | GaussianImage's residual VQ, ``stages`` × ``codes`` RGB codewords (k-means init, Lloyd updates) stored as 8-bit values | one index per stage |

Why scalar YCoCg colours by default: at Kodak rates they lose less PSNR than the residual VQ for
a few more bits per Gaussian and no codebooks (README, Benchmarks, "Design measurements"), and a uniform grid trains well
with straight-through rounding, where the codebooks keep moving.

Every dequantised value is computed by :func:`dequantize` from the integer symbols and the side
information, on the encoder and the decoder alike, so both see the same Gaussians.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from engine.image.gaussians import MAX_LOG_SCALE, MIN_LOG_SCALE, Gaussians2D

SHAPE_LEVELS = 64  # 6-bit shape (GaussianImage's)
ANGLE_STEP = math.pi / SHAPE_LEVELS  # π/2 is a whole number of steps, so swapping axes stays on the grid
CODEBOOK_LEVELS = 255  # codewords are stored as 8-bit values within [lo, hi] per stage


def ste_round(x: Tensor) -> Tensor:
    """round(x) forward, identity backward (straight-through)."""
    return x + (torch.round(x) - x).detach()


@dataclass
class QuantSpec:
    """Fixed quantiser settings of a file (stored in its meta)."""

    pos_frac_bits: int = 2  # position grid 2^-k px
    color_bits: int = 6  # YCoCg colour step 2^-b; 0: residual VQ (GaussianImage) instead
    stages: int = 2  # residual VQ stages for colour (color_bits = 0)
    codes: int = 64  # codewords per stage (color_bits = 0)

    @property
    def vq(self) -> bool:
        return self.color_bits == 0


@dataclass
class Side:
    """Per-tile side information the decoder needs besides the symbols."""

    beta: float  # log-scale offset (float32)
    step: float  # log-scale step (float32)
    codebooks: np.ndarray  # [stages, codes, 3] uint8 (empty for YCoCg colours)
    lo: np.ndarray  # [stages] float16: codebook value range
    hi: np.ndarray  # [stages] float16


def color_width(spec: QuantSpec) -> int:
    """Colour symbols per Gaussian: 3 (qY, qCo, qCg) or one index per VQ stage."""
    return spec.stages if spec.vq else 3


# YCoCg (Malvar & Sullivan): Y = (R + 2G + B)/4, Co = (R − B)/2, Cg = (−R + 2G − B)/4
YCOCG = torch.tensor([[0.25, 0.5, 0.25], [0.5, 0.0, -0.5], [-0.25, 0.5, -0.25]])


def rgb_from_ycocg(ycc: Tensor) -> Tensor:
    """[N, 3] YCoCg -> RGB: R = Y + Co − Cg, G = Y + Cg, B = Y − Co − Cg (exact on a 2^-b grid)."""
    y, co, cg = ycc.unbind(-1)
    return torch.stack([y + co - cg, y + cg, y - co - cg], -1)


def codebook_values(side: Side) -> Tensor:
    """The codewords [stages, codes, 3] as float32, exactly as the decoder computes them."""
    lo = torch.from_numpy(side.lo.astype(np.float32))[:, None, None]
    hi = torch.from_numpy(side.hi.astype(np.float32))[:, None, None]
    return lo + (hi - lo) * (torch.from_numpy(side.codebooks.astype(np.float32)) / CODEBOOK_LEVELS)


def _store_codebooks(cb: Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float codebooks [S, K, 3] -> (uint8 values, float16 lo, float16 hi)."""
    c = cb.detach().cpu().float().numpy()
    lo = c.reshape(len(c), -1).min(1)
    hi = c.reshape(len(c), -1).max(1)
    lo16 = lo.astype(np.float16)
    hi16 = hi.astype(np.float16)
    lo16 = np.where(lo16.astype(np.float32) > lo, np.nextafter(lo16, np.float16(-np.inf)), lo16).astype(np.float16)
    hi16 = np.where(hi16.astype(np.float32) < hi, np.nextafter(hi16, np.float16(np.inf)), hi16).astype(np.float16)
    hi16 = np.where(hi16 <= lo16, np.nextafter(lo16, np.float16(np.inf)), hi16).astype(np.float16)
    span = (hi16.astype(np.float32) - lo16.astype(np.float32))[:, None, None]
    u = np.clip(np.rint((c - lo16.astype(np.float32)[:, None, None]) / span * CODEBOOK_LEVELS), 0, CODEBOOK_LEVELS)
    return u.astype(np.uint8), lo16, hi16


def _nearest(x: Tensor, cb: Tensor) -> Tensor:
    """Index [N] of the nearest codeword in cb [K, 3] for each row of x [N, 3]."""
    d = (x * x).sum(1, keepdim=True) - 2.0 * x @ cb.t() + (cb * cb).sum(1)[None]
    return torch.argmin(d, 1)


def _kmeans(x: Tensor, k: int, gen: torch.Generator, iters: int = 15) -> Tensor:
    """k-means++ seeding and Lloyd iterations; returns [k, 3] (duplicates when N < k)."""
    n = x.shape[0]
    if n == 0:
        return x.new_zeros(k, x.shape[1])
    centres = [x[int(torch.randint(n, (1,), generator=gen))]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        total = float(d2.sum())
        i = int(torch.multinomial(d2 / total, 1, generator=gen)) if total > 0 else int(torch.randint(n, (1,), generator=gen))
        centres.append(x[i])
        d2 = torch.minimum(d2, ((x - x[i]) ** 2).sum(1))
    cb = torch.stack(centres)
    for _ in range(iters):
        cb = _lloyd(x, cb)
    return cb


def _lloyd(x: Tensor, cb: Tensor) -> Tensor:
    idx = _nearest(x, cb)
    sums = torch.zeros_like(cb).index_add_(0, idx, x)
    counts = torch.bincount(idx, minlength=cb.shape[0]).to(x.dtype)[:, None]
    return torch.where(counts > 0, sums / counts.clamp_min(1), cb)


class Quantizer:
    """The quantisers of one tile during quantisation-aware training (QAT).

    ``apply(g)`` returns straight-through quantised Gaussians (the forward pass sees exactly
    what the decoder will); ``beta``/``step`` are trained with the Gaussians; codebooks follow
    the colours by one Lloyd step per :meth:`update`. ``finalize`` gives symbols + side info.
    """

    def __init__(self, g: Gaussians2D, spec: QuantSpec, window: tuple[int, int], seed: int = 0,
                 device: str | torch.device = "cpu"):  # fmt: skip
        self.spec = spec
        self.device = torch.device(device)
        self.width, self.height = window
        self.pos_step = 2.0 ** -spec.pos_frac_bits
        ls = g.log_scale.detach().flatten()
        lo = float(torch.quantile(ls, 0.002)) if ls.numel() else 0.0
        hi = float(torch.quantile(ls, 0.998)) if ls.numel() else 1.0
        lo, hi = max(lo, MIN_LOG_SCALE), min(max(hi, lo + 0.5), MAX_LOG_SCALE)
        self.beta = torch.tensor(lo, device=self.device, requires_grad=True)
        self.step = torch.tensor((hi - lo) / (SHAPE_LEVELS - 1), device=self.device, requires_grad=True)
        self.opt = torch.optim.Adam([self.beta, self.step], lr=1e-3)  # the learned quantiser (GaussianImage's)
        self.color_step = 2.0**-spec.color_bits
        if spec.vq:
            gen = torch.Generator().manual_seed(seed)
            colors = g.color.detach().float().cpu()
            books, residual = [], colors
            for _ in range(spec.stages):
                cb = _kmeans(residual, spec.codes, gen)
                books.append(cb)
                residual = residual - cb[_nearest(residual, cb)]
            self._set_codebooks(torch.stack(books))
        else:
            self.books_u8 = np.zeros((0, 0, 3), np.uint8)
            self.lo = self.hi = np.zeros(0, np.float16)

    def params(self) -> list[Tensor]:
        return [self.beta, self.step]

    def _set_codebooks(self, cb: Tensor) -> None:
        """Keep only codebooks the file can store (8-bit values in a float16 range)."""
        self.books_u8, self.lo, self.hi = _store_codebooks(cb)
        self.codebooks = codebook_values(self._side_codebooks()).to(self.device)

    def _side_codebooks(self) -> Side:
        return Side(0.0, 1.0, self.books_u8, self.lo, self.hi)

    # ------------------------------------------------------------------ forward with STE
    def _xy(self, xy: Tensor) -> Tensor:
        limit = xy.new_tensor([self.width, self.height]) - self.pos_step
        return (ste_round(xy / self.pos_step) * self.pos_step).clamp(xy.new_zeros(2), limit)

    def _log_scale(self, ls: Tensor) -> Tensor:
        step = self.step.abs().clamp_min(1e-4)
        q = ste_round((ls - self.beta) / step).clamp(0, SHAPE_LEVELS - 1)
        return self.beta + step * q

    def _color_indices(self, color: Tensor) -> list[Tensor]:
        idx, residual = [], color.detach()
        for cb in self.codebooks:
            i = _nearest(residual, cb)
            idx.append(i)
            residual = residual - cb[i]
        return idx

    def _ycocg_symbols(self, color: Tensor) -> Tensor:
        return color @ YCOCG.to(color).t() / self.color_step  # [N, 3] in steps

    def _color(self, color: Tensor) -> Tensor:
        if not self.spec.vq:  # straight-through rounding on the YCoCg grid
            return rgb_from_ycocg(ste_round(self._ycocg_symbols(color)) * self.color_step)
        idx = self._color_indices(color)
        q = sum(cb[i] for cb, i in zip(self.codebooks, idx))
        return color + (q - color).detach()

    def apply(self, g: Gaussians2D) -> Gaussians2D:
        theta = ste_round(g.theta / ANGLE_STEP) * ANGLE_STEP
        return Gaussians2D(self._xy(g.xy), self._log_scale(g.log_scale), theta, self._color(g.color))

    @torch.no_grad()
    def update(self, g: Gaussians2D) -> None:
        """One Lloyd step per residual stage, so the codebooks follow the trained colours (VQ only)."""
        if not self.spec.vq:
            return
        books, residual = [], g.color.detach().float()
        for cb in self.codebooks:  # [K, 3] on the colours' device
            cb = _lloyd(residual, cb)
            books.append(cb)
            residual = residual - cb[_nearest(residual, cb)]
        self._set_codebooks(torch.stack(books))

    # ------------------------------------------------------------------ symbols
    @torch.no_grad()
    def finalize(self, g: Gaussians2D) -> tuple[dict[str, np.ndarray], Side]:
        """Integer symbols (canonical form, sorted by position) and the side information."""
        beta = float(np.float32(float(self.beta)))
        step = float(np.float32(max(abs(float(self.step)), 1e-4)))
        side = Side(beta, step, self.books_u8, self.lo, self.hi)
        qx = torch.round(g.xy[:, 0] / self.pos_step).clamp(0, self.width / self.pos_step - 1).long()
        qy = torch.round(g.xy[:, 1] / self.pos_step).clamp(0, self.height / self.pos_step - 1).long()
        qs = torch.round((g.log_scale - beta) / step).clamp(0, SHAPE_LEVELS - 1).long()  # [N, 2]
        qt = torch.round(g.theta / ANGLE_STEP).long()
        swap = qs[:, 1] > qs[:, 0]  # canonical: q1 >= q2, the angle turned by π/2
        qs = torch.where(swap[:, None], qs.flip(-1), qs)
        qt = torch.remainder(qt + swap.long() * (SHAPE_LEVELS // 2), SHAPE_LEVELS)
        qt = torch.where(qs[:, 0] == qs[:, 1], torch.zeros_like(qt), qt)  # a circle has no angle
        if self.spec.vq:
            idx = torch.stack(self._color_indices(g.color), -1)  # [N, stages]
        else:
            idx = torch.round(self._ycocg_symbols(g.color.float())).long()  # [N, 3] qY qCo qCg
        order = torch.argsort(qy * (self.width / self.pos_step) + qx, stable=True)
        sym = {"qx": qx, "qy": qy, "q1": qs[:, 0], "q2": qs[:, 1], "theta": qt, "color": idx}
        return {k: v[order].cpu().numpy() for k, v in sym.items()}, side


def dequantize(sym: dict[str, np.ndarray], side: Side, spec: QuantSpec) -> Gaussians2D:
    """The Gaussians the symbols describe (float32, CPU): the decoder's and the encoder's view."""
    step_p = 2.0 ** -spec.pos_frac_bits
    xy = torch.from_numpy(np.stack([sym["qx"], sym["qy"]], -1).astype(np.float32)) * step_p
    beta = torch.tensor(side.beta, dtype=torch.float32)
    step = torch.tensor(side.step, dtype=torch.float32)
    qs = torch.from_numpy(np.stack([sym["q1"], sym["q2"]], -1).astype(np.float32))
    log_scale = beta + step * qs
    theta = torch.from_numpy(sym["theta"].astype(np.float32)) * ANGLE_STEP
    if not spec.vq:
        q = torch.from_numpy(sym["color"].astype(np.float32)).reshape(len(xy), 3)
        return Gaussians2D(xy, log_scale, theta, rgb_from_ycocg(q * 2.0**-spec.color_bits))
    books = codebook_values(side)  # [S, K, 3]
    idx = torch.from_numpy(sym["color"].astype(np.int64)).reshape(len(xy), spec.stages)
    color = sum(books[s][idx[:, s]] for s in range(books.shape[0])) if len(xy) else torch.zeros(0, 3)
    return Gaussians2D(xy, log_scale, theta, color)
