"""Tiling for ultra-high-resolution images, with seams that do not show (requirement 3).

The image is cut into a grid of *cores* of at most ``tile_size`` px a side (equal sizes, the
remainder spread). Tiles are coded in raster order. Each tile's *window* is its core plus a
``margin`` px band over the tiles coded before it (left and top), and its Gaussians live and
render only inside that window (their contribution is cut at the window's edge, on the encoder
and the decoder alike). The decoded image is the sum of every tile's window render, clamped.

A tile is trained against the image with the already decoded (quantised) earlier tiles as a
fixed background, and its loss covers its whole window, so in each margin band the last tile
to touch it fits the image *given* what the earlier tiles left there: across a band the result
goes from one tile's fit to the next tile's joint fit without a step, and every pixel is part of
some fitted window. An image no larger than one tile is a single tile with no margin.

SmartSplat itself keeps one set of Gaussians for the whole image and only tiles the importance
sampling at 1024² (§4.4 A.1); per-tile windows are what lets a 24 MP image fit in memory and be
coded tile by tile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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
    wx0: int  # window origin: the core grown by the margin towards earlier tiles
    wy0: int

    @property
    def width(self) -> int:  # of the window
        return self.x1 - self.wx0

    @property
    def height(self) -> int:
        return self.y1 - self.wy0

    def window(self, image: Tensor) -> Tensor:
        """The window of an image [H, W, ...]."""
        return image[self.wy0 : self.y1, self.wx0 : self.x1]

    def core_mask(self) -> Tensor:
        """[h, w] bool over the window: True on the core (where the tile's Gaussians start)."""
        m = torch.zeros(self.height, self.width, dtype=torch.bool)
        m[self.y0 - self.wy0 :, self.x0 - self.wx0 :] = True
        return m


def _cuts(side: int, n: int) -> list[int]:
    base, extra = divmod(side, n)
    cuts = [0]
    for i in range(n):
        cuts.append(cuts[-1] + base + (1 if i < extra else 0))
    return cuts


def layout(width: int, height: int, tile_size: int = DEFAULT_TILE, margin: int = DEFAULT_MARGIN) -> list[Tile]:
    """Tiles in coding (raster) order."""
    nx, ny = math.ceil(width / tile_size), math.ceil(height / tile_size)
    xs, ys = _cuts(width, nx), _cuts(height, ny)
    tiles = []
    for r in range(ny):
        for c in range(nx):
            x0, x1, y0, y1 = xs[c], xs[c + 1], ys[r], ys[r + 1]
            wx0 = max(0, x0 - margin) if c > 0 else x0
            wy0 = max(0, y0 - margin) if r > 0 else y0
            tiles.append(Tile(len(tiles), r, c, x0, y0, x1, y1, wx0, wy0))
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
