"""Morton serialisation, duplicates, windows and lossless positions of the feed-forward codec.

Long-context codec (arXiv 2512.00877, §3.1 "Morton serialisation"; ALGORITHMS.md §2.2 items 1-2):
positions are voxelised to 16 bits per axis over the scene box, as FCGS does (arXiv 2410.08017,
§4.1), sorted by the Z-order (Morton) code of their cells and the sequence is cut into windows
of ``W`` consecutive Gaussians, each coded independently (so windows run in parallel and a window
decodes alone).

- **Box**: the ladder's rule (engine.codec.ladder): ``lo`` = the minimum corner, ``side`` = the
  longest extent slightly enlarged, both rounded to float32 so that the JSON in the file and the
  arithmetic agree on every machine.
- **Grid per level**: levels 1-3 voxelise at 16 bits, levels 4-8 at the ladder's 15..12 bits
  (``POSITION_BITS``); the networks always see positions in 16-bit units (a coarse cell's centre,
  :func:`network_cells`), so one set of weights serves every grid.
- **Positions** are coded losslessly on the occupancy octree (engine.codec.octree) with the
  ladder's coder: occupancy bytes through engine.codec.entropy with one fitted model per depth.
  The papers use MPEG G-PCC for the same job; the octree is this project's stand-in.
- **Duplicates** (several Gaussians in one 16-bit cell): *kept*, as the ladder keeps them, with a
  per-leaf count coded beside the octree. FCGS removes them; at 16 bits per axis they are rare
  in trained scenes, but dropping them would silently lose Gaussians (and their colour) that a
  user may care about, and the count costs almost nothing when it is nearly always 1. Gaussians
  of one cell are consecutive in the serial order (a stable sort keeps their input order) and
  decode to the same cell centre.
- **Windows**: ``n // W`` windows of ``W`` (at least one); the short rest is merged into the
  last window, so a window holds between ``W`` and ``2W - 1`` Gaussians (fewer only when the
  whole scene is smaller than ``W``).
- **Spatial groups** inside a window (the space half of the space-channel context, §3.4): the
  ``k``-th Gaussian of a window belongs to group ``INTERLEAVE[k % 4]`` = 0, 2, 1, 3, 0, 2, ...
  Group 0 (every fourth) is coded first, group 1 (the midpoints) has decoded neighbours two
  places away on both sides, groups 2 and 3 have decoded neighbours one place away on both
  sides. The paper groups in Morton order too; FCGS shuffles randomly (arXiv 2410.08017 §4.3).
"""

from __future__ import annotations

import numpy as np

from engine.codec import octree
from engine.errors import InputError

BITS = 16  # cells per axis = 2^16 (FCGS, arXiv 2410.08017 §4.1): the finest grid, what the networks see
# The grid of each level: levels 1-3 keep FCGS' 16 bits, the smaller levels the ladder's grids
# (engine.codec.ladder), since at 16 bits the octree alone costs more than a small level's budget.
POSITION_BITS = {1: 16, 2: 16, 3: 16, 4: 15, 5: 14, 6: 14, 7: 13, 8: 12}
MIN_WINDOW = 1024  # the window length reviewers cite for arXiv 2512.00877
MAX_WINDOW = 2048  # keeps every window below 4096 Gaussians (the exact-arithmetic budget, exact.py)
GROUPS = 4
INTERLEAVE = np.array([0, 2, 1, 3])  # group of the k-th Gaussian of a window: INTERLEAVE[k % 4]
NEIGHBOUR_OFFSETS = np.array([-4, -3, -2, -1, 1, 2, 3, 4])  # Morton neighbours used as context


def _f32(x) -> float:
    return float(np.float32(x))


def grid_box(means: np.ndarray) -> dict:
    """{"lo": [3 float32], "side": float32}: the voxel box (the ladder's rule)."""
    means = np.asarray(means, np.float64)
    if len(means) == 0:
        return {"lo": [0.0, 0.0, 0.0], "side": 1.0}
    lo = means.min(0)
    side = float((means.max(0) - lo).max()) * (1 + 2**-20) + 1e-12
    return {"lo": [_f32(v) for v in lo], "side": _f32(side)}


def voxelise(means: np.ndarray, box: dict, bits: int = BITS) -> np.ndarray:
    """means [N, 3] -> cells [N, 3] int64 in [0, 2^bits)."""
    n = 1 << bits
    rel = (np.asarray(means, np.float64) - np.asarray(box["lo"], np.float64)) / float(box["side"])
    return np.clip(np.floor(rel * n), 0, n - 1).astype(np.int64)


def cell_centres(cells: np.ndarray, box: dict, bits: int = BITS) -> np.ndarray:
    """cells [N, 3] of a ``bits`` grid -> world positions [N, 3] float64 (cell centres)."""
    return np.asarray(box["lo"], np.float64) + (cells + 0.5) * (float(box["side"]) / (1 << bits))


def network_cells(cells: np.ndarray, bits: int) -> np.ndarray:
    """cells [N, 3] of a ``bits`` grid -> the 16-bit cells [N, 3] the networks see (the coarse
    cell's centre, rounded down)."""
    k = BITS - bits
    return np.asarray(cells, np.int64) * (1 << k) + ((1 << k) >> 1)


def serial_order(means: np.ndarray, box: dict, bits: int = BITS) -> tuple[np.ndarray, np.ndarray]:
    """(order [N]: the input index of each serial position, codes [N] uint64 in serial order).

    Stable: Gaussians sharing a cell keep their input order."""
    codes = octree.morton_encode(voxelise(means, box, bits))
    order = np.argsort(codes, kind="stable")
    return order, codes[order]


def windows(n: int, size: int) -> list[tuple[int, int]]:
    """[(start, end)] of the windows of ``n`` serial Gaussians (the last takes the short rest)."""
    if size < 1:
        raise ValueError(f"window size {size} must be positive")
    if n == 0:
        return []
    count = max(1, n // size)
    starts = [i * size for i in range(count)]
    return [(s, (starts[i + 1] if i + 1 < count else n)) for i, s in enumerate(starts)]


def groups(n: int) -> np.ndarray:
    """[n] int64: the spatial group of each Gaussian of a window of ``n``."""
    return INTERLEAVE[np.arange(n) % GROUPS].astype(np.int64)


def neighbours(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Morton neighbours inside a window of ``n``: (index [n, K] clamped into the window, valid
    [n, K] bool), K = len(NEIGHBOUR_OFFSETS). Invalid slots point at the Gaussian itself."""
    i = np.arange(n)[:, None]
    j = i + NEIGHBOUR_OFFSETS[None, :]
    valid = (j >= 0) & (j < n)
    return np.where(valid, j, i), valid


# ---------------------------------------------------------------------------- positions
def encode_positions(codes: np.ndarray, bits: int = BITS) -> tuple[dict[str, bytes], dict]:
    """Lossless octree coding of the sorted Morton ``codes`` [N] of a ``bits`` grid (the
    ladder's coder). Returns (sections {"occ", "count"}, meta {"leaves", "occupancy_per_depth"})."""
    return octree.encode_positions(codes, bits)


def decode_positions(occ_data: bytes, count_data: bytes, meta: dict, n: int, path: str | None,
                     bits: int = BITS) -> np.ndarray:  # fmt: skip
    """Inverse of :func:`encode_positions`: cells [n, 3] int64 in serial order."""
    try:
        per_depth = [int(v) for v in meta["occupancy_per_depth"]]
        leaves_n = int(meta["leaves"])
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(path, f"corrupt feed-forward position metadata ({e})") from None
    if len(per_depth) != bits or not 0 < leaves_n <= n or sum(per_depth) > 8 * n * bits:
        raise InputError(path, "corrupt feed-forward position metadata (sizes)")
    return octree.decode_cells(occ_data, count_data, per_depth, leaves_n, n, bits, path)
