"""Tiling for ultra-high-resolution images, with seams that do not show (requirement 3).

The image is cut into a grid of *cores* of at most ``tile_size`` px a side (equal sizes, the
remainder spread). Across every border between two cores lies a *blend band* ``margin`` px wide
(half on each side). Each tile's *window* is its core grown by half a band on every side that
faces another tile, and its Gaussians live and render only inside that window, multiplied by a
fixed weight ω_t [h, w]: 1 inside the core away from the bands, a raised-cosine ramp across each
band (separable in x and y). The ramps of two neighbours sum to one, so the weights are a
partition of unity, and no tile's contribution ever stops with a step: the decoded image is
clamp(Σ_t ω_t · R_t), R_t the tile's render.

Tiles are coded in raster order. Tile t is trained against its window of the image with
pred = B_t + ω_t R_t + F_t · I (the loss sees it before the decoder's clamp, ``engine.image.train``
item 3): B_t the already decoded (quantised) earlier tiles, and
F_t = 1 − Σ_{s<=t} ω_s the weight still to come from later tiles, stood in for by the image I
itself (as if later tiles were exact). In a band towards a later tile, R_t therefore fits the
image, and the later tile fits what is left; in a band towards an earlier tile it corrects the
earlier tile's error with a weight that fades to zero at the window's edge. An earlier version
cut each tile's render at a hard window edge: the next tile then had to draw a step there, which
2D Gaussians cannot, and the borders showed as lines (README, Benchmarks, "Design measurements").

An image no larger than one tile is a single tile with ω = 1 and no band. SmartSplat itself
keeps one set of Gaussians for the whole image and only tiles the importance sampling at 1024²
(engine.image.init, A); per-tile windows are what lets a 24 MP image fit in memory and be coded tile by tile.
The weights are computed in float64 NumPy and rounded to float32 once, so the encoder and the
decoder use the same values on any device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

DEFAULT_TILE = 1024
DEFAULT_MARGIN = 32


@dataclass(frozen=True)
class Tile:
    index: int
    row: int
    col: int
    x0: int  # core [x0, x1) x [y0, y1) in image pixels
    y0: int
    x1: int
    y1: int
    wx0: int  # window [wx0, wx1) x [wy0, wy1): the core grown by half a blend band towards neighbours
    wy0: int
    wx1: int
    wy1: int
    band: int  # blend band width (px)

    @property
    def width(self) -> int:  # of the window
        return self.wx1 - self.wx0

    @property
    def height(self) -> int:
        return self.wy1 - self.wy0

    @property
    def blended(self) -> bool:
        """Whether the window reaches past the core into blend bands (ω_t is not all ones)."""
        return (self.wx0, self.wy0, self.wx1, self.wy1) != (self.x0, self.y0, self.x1, self.y1)

    def window(self, image: Tensor) -> Tensor:
        """The window of an image [H, W, ...]."""
        return image[self.wy0 : self.wy1, self.wx0 : self.wx1]

    def core_mask(self) -> Tensor:
        """[h, w] bool over the window: True on the core (where the tile's Gaussians start)."""
        m = torch.zeros(self.height, self.width, dtype=torch.bool)
        m[self.y0 - self.wy0 : self.y1 - self.wy0, self.x0 - self.wx0 : self.x1 - self.wx0] = True
        return m

    def weight(self) -> Tensor:
        """ω_t over the window, [h, w, 1] float32 (see the module docstring)."""
        wx = _ramp_1d(self.wx0, self.wx1, self.x0, self.x1, self.wx0 < self.x0, self.wx1 > self.x1, self.band)
        wy = _ramp_1d(self.wy0, self.wy1, self.y0, self.y1, self.wy0 < self.y0, self.wy1 > self.y1, self.band)
        return torch.from_numpy((wy[:, None] * wx[None, :]).astype(np.float32))[..., None]


def _smooth(u: np.ndarray) -> np.ndarray:
    """0 -> 1 raised cosine over u in [0, 1] (clamped outside)."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(u, 0.0, 1.0))


def _ramp_1d(w0: int, w1: int, c0: int, c1: int, low: bool, high: bool, band: int) -> np.ndarray:
    """Weights [w1 - w0] of one axis: rising across [c0 - band/2, c0 + band/2) when a neighbour
    lies below, falling across [c1 - band/2, c1 + band/2) when one lies above (pixel centres)."""
    x = np.arange(w0, w1, dtype=np.float64) + 0.5
    w = np.ones(w1 - w0)
    half = band / 2.0
    if low and band > 0:
        w *= _smooth((x - (c0 - half)) / band)
    if high and band > 0:
        w *= 1.0 - _smooth((x - (c1 - half)) / band)
    return w


def _cuts(side: int, n: int) -> list[int]:
    base, extra = divmod(side, n)
    cuts = [0]
    for i in range(n):
        cuts.append(cuts[-1] + base + (1 if i < extra else 0))
    return cuts


def layout(width: int, height: int, tile_size: int = DEFAULT_TILE, margin: int = DEFAULT_MARGIN) -> list[Tile]:
    """Tiles in coding (raster) order; ``margin`` is the width of the blend band between cores."""
    nx, ny = math.ceil(width / tile_size), math.ceil(height / tile_size)
    xs, ys = _cuts(width, nx), _cuts(height, ny)
    lo, hi = margin // 2, margin - margin // 2  # the band [edge - lo, edge + hi)
    tiles = []
    for r in range(ny):
        for c in range(nx):
            x0, x1, y0, y1 = xs[c], xs[c + 1], ys[r], ys[r + 1]
            wx0 = x0 - lo if c > 0 else x0
            wx1 = x1 + hi if c < nx - 1 else x1
            wy0 = y0 - lo if r > 0 else y0
            wy1 = y1 + hi if r < ny - 1 else y1
            tiles.append(Tile(len(tiles), r, c, x0, y0, x1, y1, wx0, wy0, wx1, wy1, margin))
    return tiles


def complexity_weights(image: Tensor, tiles: list[Tile], share: float = 0.5) -> list[float]:
    """Share of the bit budget per tile: ``1 - share`` by core area, ``share`` by the core's total
    gradient magnitude (busy tiles need more Gaussians). image [H, W, 3] in [0, 1]."""
    gray = image.float().mean(-1)
    gx = F.pad((gray[:, 1:] - gray[:, :-1]).abs(), (0, 1))
    gy = F.pad((gray[1:] - gray[:-1]).abs(), (0, 0, 0, 1))
    grad = gx + gy
    areas = [float((t.x1 - t.x0) * (t.y1 - t.y0)) for t in tiles]
    grads = [float(grad[t.y0 : t.y1, t.x0 : t.x1].sum()) for t in tiles]
    ta, tg = sum(areas), max(sum(grads), 1e-12)
    return [(1 - share) * a / ta + share * g / tg for a, g in zip(areas, grads)]
