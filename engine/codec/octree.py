"""Occupancy octree of quantised positions (Smol-GS, arXiv 2512.00850; G-PCC style).

Positions are quantised to a grid of 2^R cells per axis over the scene box. Starting from the
root, every occupied cell is split in 8; each split emits one occupancy byte (bit i set when
child i, in Morton order, is occupied). The bytes are listed breadth-first, depth by depth.
The decoder rebuilds the occupied leaves from them, in Morton order, which is therefore the
order the other attributes are stored in. Leaves holding several splats are kept with a count.

Everything is vectorised with numpy (no Python loop per node). The codecs that store positions
this way (ladder, Smol-GS, feed-forward) share the coding of the bytes and of the leaf counts:
:func:`encode_occupancy` / :func:`decode_leaves` and :func:`encode_positions` /
:func:`decode_cells` (engine.codec.entropy, one fitted model per depth).
"""

from __future__ import annotations

import numpy as np

from engine.codec import entropy
from engine.errors import InputError

MAX_BITS = 21  # 3 x 21 = 63 bits of Morton code fit an int64


def _spread(v: np.ndarray) -> np.ndarray:
    """Insert two zero bits between the bits of v (< 2^21): x -> x0 0x1 ..."""
    v = v.astype(np.uint64) & np.uint64(0x1FFFFF)
    v = (v | (v << np.uint64(32))) & np.uint64(0x1F00000000FFFF)
    v = (v | (v << np.uint64(16))) & np.uint64(0x1F0000FF0000FF)
    v = (v | (v << np.uint64(8))) & np.uint64(0x100F00F00F00F00F)
    v = (v | (v << np.uint64(4))) & np.uint64(0x10C30C30C30C30C3)
    v = (v | (v << np.uint64(2))) & np.uint64(0x1249249249249249)
    return v


def _compact(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.uint64) & np.uint64(0x1249249249249249)
    v = (v | (v >> np.uint64(2))) & np.uint64(0x10C30C30C30C30C3)
    v = (v | (v >> np.uint64(4))) & np.uint64(0x100F00F00F00F00F)
    v = (v | (v >> np.uint64(8))) & np.uint64(0x1F0000FF0000FF)
    v = (v | (v >> np.uint64(16))) & np.uint64(0x1F00000000FFFF)
    v = (v | (v >> np.uint64(32))) & np.uint64(0x1FFFFF)
    return v


def morton_encode(cells: np.ndarray) -> np.ndarray:
    """[N, 3] non-negative ints (< 2^21) -> [N] uint64 Morton codes (x lowest bit)."""
    return _spread(cells[:, 0]) | (_spread(cells[:, 1]) << np.uint64(1)) | (_spread(cells[:, 2]) << np.uint64(2))


def morton_decode(codes: np.ndarray) -> np.ndarray:
    """[N] uint64 -> [N, 3] int64 cells."""
    codes = codes.astype(np.uint64)
    return np.stack([_compact(codes), _compact(codes >> np.uint64(1)), _compact(codes >> np.uint64(2))], 1).astype(np.int64)


def build(codes: np.ndarray, bits: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Octree of ``codes`` ([N] uint64 Morton codes of ``bits`` bits per axis).

    Returns (occupancy bytes per depth [list of uint8 arrays, depth 1..bits], the sorted unique
    leaf codes [L], and how many input codes fall in each leaf [L])."""
    leaves, counts = np.unique(codes.astype(np.uint64), return_counts=True)
    occupancy = []
    nodes = leaves
    levels = []
    for d in range(bits, 0, -1):  # from the leaves up: parent of a node at depth d is node >> 3
        parents = nodes >> np.uint64(3)
        child = (nodes & np.uint64(7)).astype(np.uint8)
        uniq, start = np.unique(parents, return_index=True)
        bytes_ = np.bitwise_or.reduceat(np.left_shift(np.uint8(1), child), start).astype(np.uint8)
        levels.append(bytes_)
        nodes = uniq
    occupancy = levels[::-1]  # depth 1 (the root's byte) first
    return occupancy, leaves, counts


def rebuild(occupancy: list[np.ndarray], bits: int) -> np.ndarray:
    """Leaf codes [L] (sorted Morton order) from occupancy bytes, depth by depth."""
    nodes = np.zeros(1, np.uint64)
    bit_table = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little")  # [256, 8]
    for d in range(bits):
        occ = occupancy[d]
        if len(occ) != len(nodes):
            raise ValueError(f"depth {d + 1} has {len(occ)} occupancy bytes for {len(nodes)} nodes")
        mask = bit_table[occ].astype(bool)  # [n, 8]
        parent_idx, child = np.nonzero(mask)
        nodes = (nodes[parent_idx] << np.uint64(3)) | child.astype(np.uint64)
    return nodes


def children_per_byte(occupancy: np.ndarray) -> np.ndarray:
    """Number of occupied children in each occupancy byte ([n] int)."""
    return np.unpackbits(occupancy[:, None], axis=1).sum(1)


# ---------------------------------------------------------------------------- coded sections
def encode_occupancy(occupancy: list[np.ndarray], bits: int) -> bytes:
    """The occupancy bytes of all depths, entropy-coded with one model per depth."""
    if not occupancy:
        return entropy.encode(np.zeros(0), np.zeros(0), bits)
    depth_ctx = np.concatenate([np.full(len(o), d) for d, o in enumerate(occupancy)])
    return entropy.encode(np.concatenate(occupancy), depth_ctx, bits)


def decode_leaves(data: bytes, per_depth: list[int], bits: int, path: str | None) -> np.ndarray:
    """Sorted leaf codes [L] from :func:`encode_occupancy`'s bytes and the byte count of each
    depth (none for an empty scene); InputError naming ``path`` when they are corrupt."""
    depth_ctx = np.concatenate([np.full(m, d) for d, m in enumerate(per_depth)]) if per_depth else np.zeros(0, np.int64)
    flat = entropy.decode(data, depth_ctx, len(depth_ctx), path)
    if not per_depth:
        return np.zeros(0, np.uint64)
    if (flat < 1).any() or (flat > 255).any():
        raise InputError(path, "corrupt octree data")
    occupancy = [a.astype(np.uint8) for a in np.split(flat, np.cumsum(per_depth)[:-1])]
    try:
        return rebuild(occupancy, bits)
    except ValueError as e:
        raise InputError(path, f"corrupt octree ({e})") from None


def encode_positions(sorted_codes: np.ndarray, bits: int) -> tuple[dict[str, bytes], dict]:
    """Lossless positions: ``sorted_codes`` [N] (sorted Morton codes, repeats allowed) as the
    sections {"occ", "count" (splats per leaf, minus one)} and the meta {"leaves",
    "occupancy_per_depth"} that :func:`decode_cells` needs."""
    if len(sorted_codes):
        occupancy, leaves, counts = build(sorted_codes, bits)
    else:
        occupancy, leaves, counts = [], np.zeros(0, np.uint64), np.zeros(0, np.int64)
    sections = {"occ": encode_occupancy(occupancy, bits), "count": entropy.encode(counts - 1)}
    return sections, {"leaves": int(len(leaves)), "occupancy_per_depth": [int(len(o)) for o in occupancy]}


def decode_cells(occ: bytes, count: bytes, per_depth: list[int], leaves_n: int, n: int, bits: int,
                 path: str | None) -> np.ndarray:  # fmt: skip
    """Inverse of :func:`encode_positions`: the ``n`` cells [n, 3] int64 in Morton order."""
    leaves = decode_leaves(occ, per_depth, bits, path)
    if len(leaves) != leaves_n:
        raise InputError(path, "corrupt octree: wrong number of leaves")
    counts = entropy.decode(count, None, leaves_n, path) + 1
    if (counts < 1).any() or counts.sum() != n:
        raise InputError(path, "corrupt leaf counts")
    return morton_decode(np.repeat(leaves, counts))
