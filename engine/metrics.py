"""Image quality metrics: PSNR, SSIM and MS-SSIM (+ the differentiable SSIM and the photometric
loss used in training).

SSIM and MS-SSIM come from ``pytorch_msssim`` (Wang et al. 2004 / 2003: 11-tap Gaussian window,
sigma 1.5, K1 0.01, K2 0.03, valid-region means). Images are float in [0, 1], laid out
[H, W, C] or [B, H, W, C] (numpy arrays or tensors). Tests check them against scikit-image
and an independent MS-SSIM written from the paper.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pytorch_msssim
import torch
from torch import Tensor

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003, five scales
WINDOW = 11


def _nchw(img) -> Tensor:
    t = img if isinstance(img, Tensor) else torch.from_numpy(np.array(img, copy=True))
    if t.dtype == torch.uint8:
        t = t.double() / 255.0
    t = t.float() if t.dtype not in (torch.float32, torch.float64) else t
    if t.ndim == 2:
        t = t[..., None]
    if t.ndim == 3:
        t = t[None]
    if t.ndim != 4:
        raise ValueError(f"expected an image [H, W, C] or [B, H, W, C], got shape {tuple(t.shape)}")
    return t.permute(0, 3, 1, 2)


def _pair(a, b) -> tuple[Tensor, Tensor]:
    x, y = _nchw(a), _nchw(b)
    if x.shape != y.shape:
        raise ValueError(f"images differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
    dtype = torch.promote_types(x.dtype, y.dtype)
    return x.to(dtype), y.to(y.device if y.is_cuda else x.device).to(dtype)


def mse(a, b) -> float:
    x, y = _pair(a, b)
    return float(torch.mean((x.double() - y.double()) ** 2))


def mae(a, b) -> float:
    """Mean absolute error over all pixels and channels (what the viewport's A/B difference heat
    map shows per pixel, averaged over RGB, summarised over the image)."""
    x, y = _pair(a, b)
    return float(torch.mean(torch.abs(x.double() - y.double())))


def psnr_from_mse(mse_value: float, data_range: float = 1.0) -> float:
    """10 log10(range^2 / MSE) in dB.

    The project's one convention for identical images (MSE 0): ``math.inf``, the true limit, in
    every measurement (evaluation, RD sweeps, the trainers' per-step PSNR, image coding), never a
    stand-in like 99 or a 120 dB cap. Means over views skip infinite views (engine.evaluate). JSON
    has no infinity: the JSON writers (``engine.io.atomic.json_text``: ``--json`` output, RD JSON,
    a training run's metrics.json and train_log.jsonl) write non-finite numbers as ``null``.
    """
    return math.inf if mse_value <= 0 else 10.0 * math.log10(data_range**2 / mse_value)


def psnr(a, b, data_range: float = 1.0) -> float:
    """PSNR over all pixels and channels (:func:`psnr_from_mse`: inf for identical images)."""
    return psnr_from_mse(mse(a, b), data_range)


def ssim(a, b, data_range: float = 1.0) -> float:
    x, y = _pair(a, b)
    return float(pytorch_msssim.ssim(x.double(), y.double(), data_range=data_range, size_average=True))


def ms_ssim(a, b, data_range: float = 1.0) -> float:
    """Five-scale MS-SSIM. Each scale halves the image and the 11-tap window must still fit at
    the coarsest, so both sides must exceed 160 px."""
    x, y = _pair(a, b)
    side = min(x.shape[-2:])
    if side <= (WINDOW - 1) * 2**4:
        raise ValueError(f"MS-SSIM needs images larger than 160 px on each side (got {side} px)")
    return float(pytorch_msssim.ms_ssim(x.double(), y.double(), data_range=data_range, size_average=True))


def ssim_differentiable(pred: Tensor, target: Tensor) -> Tensor:
    """Mean SSIM for training losses; ``pred``/``target`` [B, H, W, C] or [H, W, C] tensors."""
    x, y = _nchw(pred), _nchw(target)
    return pytorch_msssim.ssim(x, y, data_range=1.0, size_average=True)


# ---------------------------------------------------------------------------- the training loss
SSIM_WEIGHT = 0.2  # 3DGS (Kerbl et al.), Smol-GS and SmartSplat all train on 0.8 L1 + 0.2 (1 - SSIM)


def l1_ssim_loss(l1: Tensor, ssim_value: Tensor, ssim_weight: float = SSIM_WEIGHT) -> Tensor:
    """(1 - w) L1 + w (1 - SSIM) from the two terms (for losses that compute SSIM their own way,
    e.g. engine.image.loss.TargetLoss)."""
    return (1 - ssim_weight) * l1 + ssim_weight * (1 - ssim_value)


def photometric_loss(pred: Tensor, target: Tensor, ssim_weight: float = SSIM_WEIGHT,
                     ssim_fn: Callable[[Tensor, Tensor], Tensor] = ssim_differentiable) -> Tensor:  # fmt: skip
    """The one training loss of every trainer: (1 - w) mean|pred - target| + w (1 - SSIM).

    ``pred``/``target`` [H, W, C] (or [B, H, W, C]) in [0, 1]; ``ssim_fn`` the differentiable
    SSIM to use (default :func:`ssim_differentiable`; the image codec passes its "same"-padded
    one). A weight of 0 or less is plain L1 (SSIM is not computed)."""
    l1 = (pred - target).abs().mean()
    if ssim_weight <= 0:
        return l1
    return l1_ssim_loss(l1, ssim_fn(pred, target), ssim_weight)
