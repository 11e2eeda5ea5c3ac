"""Floater clean-up filters. Each returns a selection mask [N] bool of the splats that would go,
so a front end shows them before they are deleted (``ops.delete_mask``).

- :func:`statistical_outliers`: splats whose mean distance to their k nearest neighbours is more
  than ``std_ratio`` standard deviations above the mean of that distance (the "statistical outlier
  removal" of PCL / Open3D; scipy's cKDTree);
- :func:`prune_preset`: the thresholds the INRIA trainer (graphdeco-inria/gaussian-splatting,
  ``densify_and_prune``) and gsplat's ``DefaultStrategy`` prune with: opacity under 0.005, or
  largest world-space scale over 0.1 x the scene extent (:func:`scene_extent`);
- :func:`outside_largest_cluster`: splats outside the largest 26-connected cluster of occupied
  voxels (scipy.ndimage.label on a dense grid; a sparse graph when the grid would be too big).

Splats not in ``candidates`` (default: all with finite positions) are never returned; pass
``session.visible_mask`` (or ``~session.deleted``) to leave out what is already gone.
"""

from __future__ import annotations

import numpy as np

PRUNE_OPACITY = 0.005  # INRIA min_opacity, gsplat prune_opa
PRUNE_SCALE = 0.1  # INRIA: scale > 0.1 * cameras_extent; gsplat: prune_scale3d * scene_scale
PRESETS = {
    "inria": {"opacity": PRUNE_OPACITY, "scale": PRUNE_SCALE},
    "gsplat": {"opacity": PRUNE_OPACITY, "scale": PRUNE_SCALE},
}
DENSE_GRID_LIMIT = 1 << 24  # voxels; above this the clustering runs on a sparse graph


def _points(scene) -> np.ndarray:
    return scene.means.detach().cpu().numpy().astype(np.float64)  # [N, 3]


def _candidates(points: np.ndarray, candidates: np.ndarray | None) -> np.ndarray:
    ok = np.isfinite(points).all(1)
    return ok if candidates is None else ok & np.asarray(candidates, dtype=bool)


def statistical_outliers(scene, k: int = 20, std_ratio: float = 2.0, candidates: np.ndarray | None = None) -> np.ndarray:
    """Outliers by the mean distance to the ``k`` nearest neighbours (among the candidates)."""
    from scipy.spatial import cKDTree

    p = _points(scene)
    idx = np.flatnonzero(_candidates(p, candidates))
    out = np.zeros(scene.count, dtype=bool)
    if idx.shape[0] <= k:
        return out
    pts = p[idx]
    dist, _ = cKDTree(pts).query(pts, k=k + 1, workers=1)  # [P, k+1]; column 0 is the point itself
    mean_d = dist[:, 1:].mean(1)
    limit = mean_d.mean() + std_ratio * mean_d.std()
    out[idx[mean_d > limit]] = True
    return out


def scene_extent(scene, cameras=None) -> float:
    """The radius the prune thresholds are relative to. With cameras (camera-to-world matrices
    [K, 4, 4] or engine Cameras): 1.1 x the largest distance of a camera centre from their mean,
    as INRIA's ``getNerfppNorm`` and gsplat's ``scene_scale`` compute it. Without: 1.1 x half the
    diagonal of the splats' 2nd-98th percentile box (robust to floaters)."""
    if cameras is not None and len(cameras):
        c2w = np.stack([getattr(c, "camera_to_world", c) for c in cameras]).astype(np.float64)
        centres = c2w[:, :3, 3]
        return 1.1 * float(np.linalg.norm(centres - centres.mean(0), axis=1).max())
    lo, hi = scene.robust_bounds(2.0, 98.0)
    return 1.1 * 0.5 * float(np.linalg.norm(hi - lo))


def low_opacity(scene, threshold: float = PRUNE_OPACITY, candidates: np.ndarray | None = None) -> np.ndarray:
    """Splats with opacity (sigmoid of the logit) under ``threshold``."""
    import torch

    op = torch.sigmoid(scene.opacity_logits.detach().double()).cpu().numpy()
    return (op < threshold) & _candidates(_points(scene), candidates)


def oversized(scene, factor: float = PRUNE_SCALE, extent: float | None = None, cameras=None,
              candidates: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """Splats whose largest scale exceeds ``factor`` x the scene extent (:func:`scene_extent`)."""
    import torch

    extent = scene_extent(scene, cameras) if extent is None else extent
    big = torch.exp(scene.log_scales.detach().double()).max(1).values.cpu().numpy() > factor * extent
    return big & _candidates(_points(scene), candidates)


def prune_preset(scene, preset: str = "inria", cameras=None, candidates: np.ndarray | None = None) -> np.ndarray:
    """Low-opacity or oversized splats by a trainer's prune thresholds (:data:`PRESETS`)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown prune preset {preset!r} (choose from {', '.join(PRESETS)})")
    t = PRESETS[preset]
    return (low_opacity(scene, t["opacity"], candidates)
            | oversized(scene, t["scale"], cameras=cameras, candidates=candidates))  # fmt: skip


def voxel_clusters(points: np.ndarray, voxel: float, dense_limit: int = DENSE_GRID_LIMIT) -> np.ndarray:
    """Cluster id [P] of each point: 26-connected components of the occupied voxels of side
    ``voxel``. Ids are arbitrary non-negative integers."""
    if voxel <= 0 or not np.isfinite(voxel):
        raise ValueError("the voxel size must be a positive number")
    keys = np.floor((points - points.min(0)) / voxel).astype(np.int64)  # [P, 3]
    dims = keys.max(0) + 1
    if int(np.prod(dims.astype(np.float64))) <= dense_limit:
        from scipy import ndimage

        grid = np.zeros(tuple(dims), dtype=bool)
        grid[keys[:, 0], keys[:, 1], keys[:, 2]] = True
        labels, _ = ndimage.label(grid, structure=np.ones((3, 3, 3), dtype=bool))
        return labels[keys[:, 0], keys[:, 1], keys[:, 2]].astype(np.int64)
    return _sparse_clusters(keys, dims)


def _sparse_clusters(keys: np.ndarray, dims: np.ndarray) -> np.ndarray:
    """:func:`voxel_clusters` without a dense grid: occupied voxels as graph nodes, edges to the
    13 'forward' neighbours found by binary search, scipy.sparse.csgraph components."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    d = dims + 2  # a margin of one voxel so neighbour codes never wrap into another row
    code = lambda k: ((k[:, 0] + 1) * d[1] + (k[:, 1] + 1)) * d[2] + (k[:, 2] + 1)  # noqa: E731
    point_codes = code(keys)
    voxels, inverse = np.unique(point_codes, return_inverse=True)  # sorted codes [V]
    coords = keys[np.unique(inverse, return_index=True)[1]]  # [V, 3], same order as voxels
    rows, cols = [], []
    offsets = [(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1) if (a, b, c) > (0, 0, 0)]
    for off in offsets:
        nb = code(coords + np.array(off))
        pos = np.clip(np.searchsorted(voxels, nb), 0, voxels.shape[0] - 1)
        hit = voxels[pos] == nb
        rows.append(np.flatnonzero(hit))
        cols.append(pos[hit])
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(r.shape[0], dtype=np.int8), (r, c)), shape=(voxels.shape[0],) * 2)
    _, labels = connected_components(graph, directed=False)
    return labels[inverse].astype(np.int64)


def outside_largest_cluster(scene, voxel: float, candidates: np.ndarray | None = None,
                            dense_limit: int = DENSE_GRID_LIMIT) -> np.ndarray:  # fmt: skip
    """Candidate splats outside the cluster (of :func:`voxel_clusters`) holding the most splats."""
    p = _points(scene)
    idx = np.flatnonzero(_candidates(p, candidates))
    out = np.zeros(scene.count, dtype=bool)
    if idx.shape[0] == 0:
        return out
    labels = voxel_clusters(p[idx], voxel, dense_limit)
    largest = np.argmax(np.bincount(labels))
    out[idx[labels != largest]] = True
    return out
