"""Lens distortion: the OpenCV radial-tangential model and undistortion of whole images.

Distorted images are undistorted on load into a pinhole image with the same K and size: for each
output pixel the forward distortion model gives its source location, sampled bilinearly (edge
pixels are replicated where that location falls outside the source). Pixel centres sit at
integer + 0.5 (COLMAP, instant-ngp, 3DGS and gsplat all agree).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["Distortion", "distort_normalized", "undistort_image", "undistort_normalized"]


@dataclass(frozen=True)
class Distortion:
    """OpenCV radial-tangential ("plumb bob") coefficients, as in COLMAP's OPENCV model.

    ``x_d = x·(1 + k1 r² + k2 r⁴ + k3 r⁶) + 2 p1 x y + p2 (r² + 2 x²)``
    ``y_d = y·(1 + k1 r² + k2 r⁴ + k3 r⁶) + p1 (r² + 2 y²) + 2 p2 x y``   (normalized coordinates)
    """

    k1: float = 0.0
    k2: float = 0.0
    p1: float = 0.0
    p2: float = 0.0
    k3: float = 0.0

    @property
    def is_identity(self) -> bool:
        return not any((self.k1, self.k2, self.p1, self.p2, self.k3))

    def to_dict(self) -> dict:
        return {"k1": self.k1, "k2": self.k2, "p1": self.p1, "p2": self.p2, "k3": self.k3}


def distort_normalized(x: np.ndarray, y: np.ndarray, d: Distortion) -> tuple[np.ndarray, np.ndarray]:
    """Forward model: ideal normalized coordinates -> distorted normalized coordinates."""
    x2, y2, xy = x * x, y * y, x * y
    r2 = x2 + y2
    radial = 1.0 + r2 * (d.k1 + r2 * (d.k2 + r2 * d.k3))
    xd = x * radial + 2.0 * d.p1 * xy + d.p2 * (r2 + 2.0 * x2)
    yd = y * radial + d.p1 * (r2 + 2.0 * y2) + 2.0 * d.p2 * xy
    return xd, yd


def undistort_normalized(
    xd: np.ndarray, yd: np.ndarray, d: Distortion, iterations: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`distort_normalized` by fixed-point iteration (as cv::undistortPoints).

    Accurate for the mild distortion of real lenses; not used when loading images (that needs
    only the forward model) but handy for projecting points and for tests.
    """
    x, y = np.array(xd, dtype=np.float64), np.array(yd, dtype=np.float64)
    for _ in range(iterations):
        x2, y2, xy = x * x, y * y, x * y
        r2 = x2 + y2
        radial = 1.0 + r2 * (d.k1 + r2 * (d.k2 + r2 * d.k3))
        dx = 2.0 * d.p1 * xy + d.p2 * (r2 + 2.0 * x2)
        dy = d.p1 * (r2 + 2.0 * y2) + 2.0 * d.p2 * xy
        x, y = (xd - dx) / radial, (yd - dy) / radial
    return x, y


@functools.lru_cache(maxsize=8)
def _undistort_grid(width: int, height: int, fx: float, fy: float, cx: float, cy: float, d: Distortion) -> torch.Tensor:
    """grid_sample grid [1, H, W, 2]: for each pinhole output pixel, its source location."""
    u = (np.arange(width, dtype=np.float64) + 0.5 - cx) / fx  # [W] normalized x of pixel centres
    v = (np.arange(height, dtype=np.float64) + 0.5 - cy) / fy  # [H]
    x, y = np.meshgrid(u, v)  # [H, W] each
    xd, yd = distort_normalized(x, y, d)
    us, vs = fx * xd + cx, fy * yd + cy  # source pixel coordinates (centres at +0.5)
    # align_corners=False: -1 and +1 are the outer edges of the first and last pixels.
    grid = np.stack([2.0 * us / width - 1.0, 2.0 * vs / height - 1.0], axis=-1)  # [H, W, 2]
    return torch.from_numpy(grid.astype(np.float32))[None]


def undistort_image(image: np.ndarray, fx: float, fy: float, cx: float, cy: float, d: Distortion) -> np.ndarray:
    """Resample a distorted image [H, W, C] (float32) into the pinhole image with the same K.

    Output pixel ``(u, v)`` takes the bilinear sample of the input at
    ``K · distort(K⁻¹ (u, v, 1))``; locations outside the input replicate the edge.
    """
    if d.is_identity:
        return image
    h, w = image.shape[:2]
    grid = _undistort_grid(w, h, float(fx), float(fy), float(cx), float(cy), d)  # [1, H, W, 2]
    src = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))[None]  # [1, C, H, W]
    out = torch.nn.functional.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return np.ascontiguousarray(out[0].numpy().transpose(1, 2, 0))  # [H, W, C]
