"""2D Gaussians for images (SmartSplat, arXiv 2512.20377) and its Gaussian budget.

A Gaussian has a position, a covariance Σ = R S Sᵀ Rᵀ (two scales and a rotation) and a colour;
opacity is fixed at 1 and the image is the plain sum of colours (GaussianImage's kernel). Differences from the
reference parameterisation, chosen for training and for quantisation:

- positions are in pixels of the Gaussian's window (pixel (i, j) has its centre at (i + 0.5,
  j + 0.5)), not in [-1, 1]; the codec quantises them on a sub-pixel grid;
- scales are stored as logarithms (SmartSplat stores |s| in pixels), so they stay positive and the
  6-bit shape quantiser is uniform in relative size;
- the rotation is a raw angle θ in radians (SmartSplat: θ = sigmoid(r)·2π); :meth:`canonical` folds
  it into [0, π) with s₁ ≥ s₂, which describes the same ellipse.

Shapes: N Gaussians; ``xy`` [N, 2], ``log_scale`` [N, 2], ``theta`` [N], ``color`` [N, 3].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from engine.errors import InputError

BITS_PER_GAUSSIAN_NOMINAL = 56  # SmartSplat's budget rule N = 3HW / (7 CR) assumes 56 bits
CUTOFF_SIGMA = math.sqrt(2.0 * math.log(255.0))  # α = exp(-d²/2) >= 1/255  <=>  d <= 3.33 (the 1/255 cut)
MIN_LOG_SCALE = math.log(0.3)  # px; thinner Gaussians fall between pixel centres
MAX_LOG_SCALE = math.log(64.0)  # px; bounds the rasterizer's patch size


@dataclass
class Gaussians2D:
    xy: Tensor  # [N, 2] pixels in the window, centres of pixels at integer + 0.5
    log_scale: Tensor  # [N, 2] natural log of the two standard deviations, pixels
    theta: Tensor  # [N] rotation of the first axis from +x, radians
    color: Tensor  # [N, 3] RGB weights summed without alpha (may leave [0, 1])

    @property
    def count(self) -> int:
        return int(self.xy.shape[0])

    def detach(self) -> "Gaussians2D":
        return Gaussians2D(*(t.detach().clone() for t in (self.xy, self.log_scale, self.theta, self.color)))

    def to(self, device) -> "Gaussians2D":
        return Gaussians2D(*(t.to(device) for t in (self.xy, self.log_scale, self.theta, self.color)))

    def select(self, index: Tensor) -> "Gaussians2D":
        return Gaussians2D(self.xy[index], self.log_scale[index], self.theta[index], self.color[index])

    def canonical(self) -> "Gaussians2D":
        """The same ellipses with s₁ >= s₂ and θ in [0, π) (a unique form for quantisation)."""
        swap = self.log_scale[:, 1] > self.log_scale[:, 0]
        ls = torch.where(swap[:, None], self.log_scale.flip(-1), self.log_scale)
        th = torch.remainder(self.theta + swap.to(self.theta.dtype) * (math.pi / 2), math.pi)
        return Gaussians2D(self.xy, ls, th, self.color)

    @staticmethod
    def cat(parts: list["Gaussians2D"]) -> "Gaussians2D":
        return Gaussians2D(*(torch.cat([getattr(p, k) for p in parts]) for k in ("xy", "log_scale", "theta", "color")))


def covariance(log_scale: Tensor, theta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Σ = R diag(s²) Rᵀ as its entries (Σxx, Σxy, Σyy), each [N]."""
    s2 = torch.exp(2.0 * log_scale)  # [N, 2]
    c, s = torch.cos(theta), torch.sin(theta)
    cc, ss, cs = c * c, s * s, c * s
    return cc * s2[:, 0] + ss * s2[:, 1], cs * (s2[:, 0] - s2[:, 1]), ss * s2[:, 0] + cc * s2[:, 1]


def conic(log_scale: Tensor, theta: Tensor) -> Tensor:
    """Σ⁻¹ = R diag(1/s²) Rᵀ as [N, 3] = (a, b, c): the exponent is ½(a dx² + c dy²) + b dx dy."""
    inv = torch.exp(-2.0 * log_scale)  # [N, 2]
    c, s = torch.cos(theta), torch.sin(theta)
    cc, ss, cs = c * c, s * s, c * s
    return torch.stack([cc * inv[:, 0] + ss * inv[:, 1], cs * (inv[:, 0] - inv[:, 1]), ss * inv[:, 0] + cc * inv[:, 1]], -1)


def extents(log_scale: Tensor, theta: Tensor) -> Tensor:
    """Half-extents [N, 2] (x, y) in pixels of the box around the α >= 1/255 ellipse."""
    sxx, _, syy = covariance(log_scale, theta)
    return CUTOFF_SIGMA * torch.sqrt(torch.stack([sxx, syy], -1))


# ---------------------------------------------------------------------------- budget (SmartSplat)
def parse_rate(bpp: float | None = None, ratio: float | None = None, path: str | None = None) -> float:
    """Target bits per pixel from ``--bpp`` or ``--ratio`` (24-bit RGB: bpp = 24 / ratio)."""
    if (bpp is None) == (ratio is None):
        raise InputError(path, "give exactly one of a target bpp or a compression ratio")
    if ratio is not None:
        if not (isinstance(ratio, (int, float)) and math.isfinite(ratio) and 1.0 <= ratio <= 1e6):
            raise InputError(path, f"compression ratio {ratio!r} is out of range (1 to 1,000,000)")
        bpp = 24.0 / ratio
    if not (isinstance(bpp, (int, float)) and math.isfinite(bpp) and 1e-4 <= bpp <= 24.0):
        raise InputError(path, f"target bpp {bpp!r} is out of range (0.0001 to 24)")
    return float(bpp)


def nominal_count(width: int, height: int, ratio: float) -> int:
    """SmartSplat's budget N = ⌊3HW / (7 CR)⌋ (56 bits per Gaussian, no entropy coding)."""
    return int(3 * width * height // (7 * ratio))


def base_scale(pixels: float, count: int) -> float:
    """s_base = √(HW / (N π)) / 3 pixels (SmartSplat): N discs of radius 3 s_base tile the image."""
    return math.sqrt(pixels / (max(count, 1) * math.pi)) / 3.0
