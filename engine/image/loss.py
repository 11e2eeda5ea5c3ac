"""Training loss of SmartSplat: 0.8·L1 + 0.2·(1 − SSIM) (SmartSplat, arXiv 2512.20377), the project's one
photometric loss (``engine.metrics.photometric_loss``) with this module's SSIM.

SSIM uses the usual 11-tap Gaussian window (σ 1.5, K1 0.01, K2 0.03) with "same" zero padding,
as the reference does, computed with two grouped 1-D convolutions over the local moments.
(``engine.metrics.ssim`` is the evaluation metric: valid-region windows, float64.)

Training calls :class:`TargetLoss`, which blurs the target's moments once and, per step, only the
prediction's (x, x², x·y: 9 channels instead of 15). Its blur has a hand-written backward: a
symmetric kernel with zero padding is self-adjoint, so the gradient is the same blur of the
incoming gradient (torch's grouped-convolution backward is several times slower on the CPU).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from engine.metrics import SSIM_WEIGHT, l1_ssim_loss, photometric_loss

WINDOW, SIGMA = 11, 1.5
C1, C2 = 0.01**2, 0.03**2


def _window(dtype, device) -> Tensor:
    t = torch.arange(WINDOW, dtype=dtype, device=device) - WINDOW // 2
    g = torch.exp(-(t * t) / (2 * SIGMA * SIGMA))
    return g / g.sum()


def ssim_same(x: Tensor, y: Tensor) -> Tensor:
    """Mean SSIM of x, y [H, W, C] in [0, 1] ("same" zero padding), differentiable in x."""
    c = x.shape[-1]
    a = x.permute(2, 0, 1)[None]  # [1, C, H, W]
    b = y.permute(2, 0, 1)[None]
    z = torch.cat([a, b, a * a, b * b, a * b], 1)  # [1, 5C, H, W]
    g = _window(x.dtype, x.device)
    k = g.view(1, 1, 1, WINDOW).expand(5 * c, 1, 1, WINDOW)
    z = F.conv2d(z, k, padding=(0, WINDOW // 2), groups=5 * c)
    z = F.conv2d(z, k.transpose(2, 3), padding=(WINDOW // 2, 0), groups=5 * c)
    mx, my, xx, yy, xy = z.split(c, 1)
    vx, vy, cov = xx - mx * mx, yy - my * my, xy - mx * my
    s = ((2 * mx * my + C1) * (2 * cov + C2)) / ((mx * mx + my * my + C1) * (vx + vy + C2))
    return s.mean()


class _Blur(torch.autograd.Function):
    """Separable Gaussian blur of z [1, C, H, W] ("same" zero padding); self-adjoint."""

    @staticmethod
    def forward(ctx, z, k):
        ctx.k = k
        return _blur(z, k)

    @staticmethod
    def backward(ctx, g):
        return _blur(g, ctx.k), None


def _blur(z: Tensor, k: Tensor) -> Tensor:
    c = z.shape[1]
    kk = k.view(1, 1, 1, WINDOW).expand(c, 1, 1, WINDOW)
    z = z.contiguous(memory_format=torch.channels_last)  # about 2x faster on the CPU than NCHW
    z = F.conv2d(z, kk, padding=(0, WINDOW // 2), groups=c)
    return F.conv2d(z, kk.transpose(2, 3), padding=(WINDOW // 2, 0), groups=c)


class TargetLoss:
    """(1 − w)·L1 + w·(1 − SSIM) against a fixed target [H, W, C] (the same value as
    :func:`loss_fn`); the target's blurred moments are computed once."""

    def __init__(self, target: Tensor, ssim_weight: float = SSIM_WEIGHT):
        self.target = target
        self.w = ssim_weight
        self.c = target.shape[-1]
        self.k = _window(target.dtype, target.device)
        b = target.permute(2, 0, 1)[None]  # [1, C, H, W]
        self.b = b
        my, yy = _blur(torch.cat([b, b * b], 1), self.k).split(self.c, 1)
        self.my, self.vy = my, yy - my * my

    def __call__(self, pred: Tensor) -> Tensor:
        l1 = (pred - self.target).abs().mean()
        if self.w <= 0:
            return l1
        a = pred.permute(2, 0, 1)[None]  # [1, C, H, W]
        mx, xx, xy = _Blur.apply(torch.cat([a, a * a, a * self.b], 1), self.k).split(self.c, 1)
        my = self.my
        vx, cov = xx - mx * mx, xy - mx * my
        s = ((2 * mx * my + C1) * (2 * cov + C2)) / ((mx * mx + my * my + C1) * (vx + self.vy + C2))
        return l1_ssim_loss(l1, s.mean(), self.w)


def loss_fn(pred: Tensor, target: Tensor, ssim_weight: float = SSIM_WEIGHT) -> Tensor:
    """(1 − w)·L1 + w·(1 − SSIM); pred and target [H, W, 3] in [0, 1]."""
    return photometric_loss(pred, target, ssim_weight, ssim_same)
