"""Tile binning: which Gaussians touch which 16x16 tile, front to back (3DGS, arXiv 2308.04079 §6).

Each projected Gaussian covers a rectangle of tiles given by its bounding radius. We emit one
(tile, Gaussian) pair per covered tile, in depth order, then stable-sort the pairs by tile, so
every tile's list is contiguous and sorted near to far. Vectorised: no Python loop per Gaussian.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class TileBins:
    tile_size: int
    tiles_x: int
    tiles_y: int
    offsets: Tensor  # [T + 1] int64: pairs of tile t are flat_ids[offsets[t]:offsets[t+1]]
    flat_ids: Tensor  # [P] int64 Gaussian index per pair, near to far within a tile
    radii: Tensor  # [M, 2] the bounding half-extents the pairs were built from

    @property
    def num_tiles(self) -> int:
        return self.tiles_x * self.tiles_y

    @property
    def counts(self) -> Tensor:  # [T]
        return self.offsets[1:] - self.offsets[:-1]


@torch.no_grad()
def bin_gaussians(
    means2d: Tensor,  # [M, 2] pixels
    radii: Tensor,  # [M, 2] int, > 0 for every row (culled rows already removed)
    depths: Tensor,  # [M]
    width: int,
    height: int,
    tile_size: int = 16,
) -> TileBins:
    tiles_x = (width + tile_size - 1) // tile_size
    tiles_y = (height + tile_size - 1) // tile_size
    num_tiles = tiles_x * tiles_y
    device = means2d.device
    m = means2d.detach().double()
    r = radii.double()
    # pixel x is covered when its centre x + 0.5 lies in [mx - rx, mx + rx]
    x0 = torch.floor((m[:, 0] - r[:, 0] - 0.5) / tile_size).clamp(0, tiles_x - 1).long()
    x1 = torch.floor((m[:, 0] + r[:, 0] - 0.5) / tile_size).clamp(0, tiles_x - 1).long()
    y0 = torch.floor((m[:, 1] - r[:, 1] - 0.5) / tile_size).clamp(0, tiles_y - 1).long()
    y1 = torch.floor((m[:, 1] + r[:, 1] - 0.5) / tile_size).clamp(0, tiles_y - 1).long()
    nx = x1 - x0 + 1
    ny = y1 - y0 + 1
    n_per = nx * ny  # [M]

    order = torch.argsort(depths.detach(), stable=True)  # near to far
    n_sorted = n_per[order]
    total = int(n_sorted.sum())
    if total == 0:
        return TileBins(tile_size, tiles_x, tiles_y, torch.zeros(num_tiles + 1, dtype=torch.long, device=device),
                        torch.zeros(0, dtype=torch.long, device=device), radii)  # fmt: skip
    gid = torch.repeat_interleave(order, n_sorted)  # [P]
    starts = torch.cumsum(n_sorted, 0) - n_sorted
    local = torch.arange(total, device=device) - torch.repeat_interleave(starts, n_sorted)
    w = nx[gid]
    tx = x0[gid] + local % w
    ty = y0[gid] + torch.div(local, w, rounding_mode="floor")
    tile = ty * tiles_x + tx
    tile_sorted, perm = torch.sort(tile.to(torch.int32), stable=True)  # int32: faster keys
    tile_sorted = tile_sorted.long()
    flat_ids = gid[perm]
    counts = torch.bincount(tile_sorted, minlength=num_tiles)
    offsets = torch.zeros(num_tiles + 1, dtype=torch.long, device=device)
    offsets[1:] = torch.cumsum(counts, 0)
    return TileBins(tile_size, tiles_x, tiles_y, offsets, flat_ids, radii)
