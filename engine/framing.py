"""Which way is up, and what to frame: the inputs of a scene's home view (engine.camera).

Scenes carry no "up": INRIA-style trainers keep COLMAP's axes (up is -y, roughly: COLMAP's frame
is its first camera's), Blender/NeRF-synthetic scenes are z-up, other tools differ. The home view
decides, in this order:

1. the user's choice (``--up``, the studio's View > Up Axis, remembered per file);
2. the scene's cameras, when known: a capture, or a ``cameras.json`` (INRIA's layout, which
   ``splatlab train`` writes too) beside the scene or up to two folders above it (INRIA keeps
   ``point_cloud/iteration_N/point_cloud.ply`` under the folder with ``cameras.json``). Up is the
   mean of the cameras' up vectors (-y of each OpenCV camera), and the home view looks from a
   capture camera at the point the cameras look at;
3. a dominant plane (a floor or a table top holding at least ``FLOOR_MIN_SHARE`` of the splats,
   found by RANSAC on a sample, with at least ``FLOOR_SIDE_SHARE`` of the others on one side):
   up is its normal, pointing to the side where the rest of the scene stands;
4. a flat scene (its thinnest principal extent under ``FLAT_RATIO`` of the next, within 20
   degrees of a coordinate axis) lies on its flat side: up is that axis, signed by convention
   (-y, +z, +x: COLMAP scenes are y-down, Blender's z-up);
5. the convention: -y (COLMAP/INRIA, what SuperSplat assumes too).

Without cameras the home view frames the scene's *dense core* (``dense_core``): floaters out,
and when a small, much denser subject sits inside a big scene (an object in a room-scale
capture), that subject, seen from inside the room rather than the room from outside.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

import numpy as np

from engine.errors import InputError

CONVENTION_UP = np.array([0.0, -1.0, 0.0])  # COLMAP / INRIA: y points down
AXIS_NAMES = ("+x", "-x", "+y", "-y", "+z", "-z")
FLOOR_MIN_SHARE = 0.2  # a plane holding this share of the (sampled) splats counts as the floor
FLAT_RATIO = 0.6  # a scene this much thinner along one axis than the next is lying flat
FLOOR_SIDE_SHARE = 0.7  # ... with at least this share of the other splats on one side of it
FLOOR_TOLERANCE = 0.01  # inlier distance, as a fraction of the robust box's diagonal
CORE_DENSITY_SHARE = 0.25  # dense core: voxels at least this crowded, relative to the median splat's
SUBJECT_SHARE = 0.25  # a subject: the most crowded voxels holding this share of the core's splats...
SUBJECT_MAX_VOLUME = 0.01  # ... that fill less than this share of the core's box
SAMPLE = 50_000


@dataclass(frozen=True)
class Orientation:
    """The scene's up vector (unit, world axes) and where it came from (shown to the user)."""

    up: np.ndarray  # [3]
    source: str  # "user", "cameras", "floor plane", "convention"

    @property
    def label(self) -> str:
        return f"{axis_label(self.up)} ({self.source})"


def parse_up(text: str) -> np.ndarray:
    """``+y`` / ``-y`` / ``y`` / ... -> a unit axis [3]; anything else is bad input."""
    t = text.strip().lower()
    if t in ("x", "y", "z"):
        t = "+" + t
    if t not in AXIS_NAMES:
        raise InputError(None, f"up axis {text!r} is not one of {', '.join(AXIS_NAMES)}")
    v = np.zeros(3)
    v["xyz".index(t[1])] = 1.0 if t[0] == "+" else -1.0
    return v


def axis_label(up: np.ndarray) -> str:
    """``-y`` for an up within 10 degrees of an axis, else the vector rounded."""
    up = np.asarray(up, np.float64) / max(np.linalg.norm(up), 1e-12)
    i = int(np.argmax(np.abs(up)))
    if abs(up[i]) >= math.cos(math.radians(10)):
        return ("+" if up[i] > 0 else "-") + "xyz"[i]
    return "(" + ", ".join(f"{v:.2f}" for v in up) + ")"


# ---------------------------------------------------------------------- cameras
def up_from_cameras(camera_to_world: np.ndarray) -> np.ndarray | None:
    """Mean up vector [3] of OpenCV cameras [K, 4, 4] (camera -y in world), or None if they
    disagree so much that the mean vanishes."""
    ups = -np.asarray(camera_to_world, np.float64)[:, :3, 1]  # [K, 3]
    mean = ups.mean(0)
    n = np.linalg.norm(mean)
    return mean / n if n > 0.3 else None


def focus_point(camera_to_world: np.ndarray) -> np.ndarray:
    """The point [3] nearest (least squares) to every camera's optical axis: what they look at.
    Falls back to the cameras' centre when the axes are all parallel."""
    c2w = np.asarray(camera_to_world, np.float64)
    centers, dirs = c2w[:, :3, 3], c2w[:, :3, 2]  # [K, 3], [K, 3]
    dirs = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
    proj = np.eye(3)[None] - dirs[:, :, None] * dirs[:, None, :]  # [K, 3, 3] onto each axis' normal plane
    a, b = proj.sum(0), np.einsum("kij,kj->i", proj, centers)
    if np.linalg.cond(a) > 1e6:
        return centers.mean(0)
    return np.linalg.solve(a, b)


def cameras_beside(scene_path: str | os.PathLike | None) -> np.ndarray | None:
    """Camera-to-world matrices [K, 4, 4] from a ``cameras.json`` (INRIA layout: ``position``
    and the world ``rotation`` of each OpenCV camera) in the scene's folder or up to two above.
    None when there is none; a broken one is ignored (it only helps choose a view)."""
    if not scene_path:
        return None
    folder = os.path.dirname(os.path.abspath(os.fspath(scene_path)))
    for _ in range(3):
        path = os.path.join(folder, "cameras.json")
        if os.path.isfile(path):
            c2w = _read_inria_cameras(path)
            if c2w is not None:
                return c2w
        folder = os.path.dirname(folder)
    return None


def _read_inria_cameras(path: str) -> np.ndarray | None:
    try:
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
        c2w = np.tile(np.eye(4), (len(entries), 1, 1))
        for i, e in enumerate(entries):
            c2w[i, :3, :3] = np.asarray(e["rotation"], np.float64).reshape(3, 3)
            c2w[i, :3, 3] = np.asarray(e["position"], np.float64).reshape(3)
    except (OSError, ValueError, TypeError, KeyError, IndexError):
        return None
    return c2w if len(c2w) and np.isfinite(c2w).all() else None


# ---------------------------------------------------------------------- splats alone
def _sample(means: np.ndarray, n: int = SAMPLE) -> np.ndarray:
    means = np.asarray(means, np.float64)
    return means[:: max(1, len(means) // n)] if len(means) > n else means


def estimate_up(means: np.ndarray, seed: int = 0) -> Orientation:
    """Up from the splat positions [N, 3] alone: a dominant plane's normal, else the convention."""
    pts = _sample(means)
    if len(pts) >= 50:
        plane = dominant_plane(pts, seed)
        if plane is not None:
            return Orientation(plane, "floor plane")
        flat = flat_axis(pts)
        if flat is not None:
            return Orientation(flat, "flat side")
    return Orientation(CONVENTION_UP.copy(), "convention")


def flat_axis(pts: np.ndarray) -> np.ndarray | None:
    """The coordinate axis [3] (signed -y, +z or +x) along which a flat point set is thin, or
    None when it is not flat or its thin direction is not near an axis."""
    centred = pts - np.median(pts, axis=0)
    _, vecs = np.linalg.eigh(np.cov(centred.T))  # columns: principal axes, by variance ascending
    extents = np.array([np.subtract(*np.percentile(centred @ vecs[:, i], [98, 2])) for i in range(3)])
    if extents[1] <= 0 or extents[0] > FLAT_RATIO * extents[1]:
        return None
    thin = vecs[:, 0]
    i = int(np.argmax(np.abs(thin)))
    if abs(thin[i]) < math.cos(math.radians(20)):
        return None
    return {0: np.array([1.0, 0.0, 0.0]), 1: CONVENTION_UP.copy(), 2: np.array([0.0, 0.0, 1.0])}[i]


def dominant_plane(pts: np.ndarray, seed: int = 0, hypotheses: int = 200) -> np.ndarray | None:
    """RANSAC: the normal [3] of the plane that holds the most points (at least FLOOR_MIN_SHARE),
    oriented towards the side holding most of the others; None when no plane is that big."""
    lo, hi = np.percentile(pts, 2, axis=0), np.percentile(pts, 98, axis=0)
    tol = FLOOR_TOLERANCE * max(float(np.linalg.norm(hi - lo)), 1e-12)
    rng = np.random.default_rng(seed)
    triples = rng.integers(0, len(pts), size=(hypotheses, 3))
    a, b, c = pts[triples[:, 0]], pts[triples[:, 1]], pts[triples[:, 2]]
    normals = np.cross(b - a, c - a)  # [H, 3]
    norm = np.linalg.norm(normals, axis=1)
    ok = norm > 1e-12
    if not ok.any():
        return None
    normals, a = normals[ok] / norm[ok, None], a[ok]
    offsets = (normals * a).sum(1)  # [H]
    best, best_count = None, 0
    for start in range(0, len(normals), 50):  # [50, P] distances at a time
        dist = np.abs(pts @ normals[start : start + 50].T - offsets[start : start + 50])
        counts = (dist <= tol).sum(0)
        j = int(np.argmax(counts))
        if counts[j] > best_count:
            best, best_count = start + j, int(counts[j])
    if best is None or best_count < FLOOR_MIN_SHARE * len(pts):
        return None
    normal, offset = normals[best], offsets[best]
    side = pts @ normal - offset
    others = side[np.abs(side) > tol]
    above = (others > 0).sum() / max(len(others), 1)
    if len(others) == 0 or 1 - FLOOR_SIDE_SHARE < above < FLOOR_SIDE_SHARE:
        return None  # splats on both sides: a mid-plane of a thin object, not a floor
    return normal if above >= 0.5 else -normal


def _voxel_crowding(pts: np.ndarray, grid: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Per point: its voxel's id and how many points share it [P], on a grid of ``grid`` cubic
    cells along the longest side of the 1st-99th percentile box; and the box's volume in cells."""
    lo, hi = np.percentile(pts, 1, axis=0), np.percentile(pts, 99, axis=0)
    cell = max(float((hi - lo).max()) / grid, 1e-12)
    keys = np.minimum(np.floor((np.clip(pts, lo, hi) - lo) / cell).astype(np.int64), grid)  # [P, 3]
    flat = (keys[:, 0] * (grid + 1) + keys[:, 1]) * (grid + 1) + keys[:, 2]
    _, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
    cells = float(np.prod(np.maximum(np.ceil((hi - lo) / cell), 1)))
    return inverse, counts, cells


def dense_core(means: np.ndarray, grid: int = 32) -> tuple[np.ndarray, float]:
    """Centre [3] and radius of what the home view frames (2nd-98th percentile box):

    1. the splats in voxels at least ``CORE_DENSITY_SHARE`` as crowded as the median splat's
       (floaters and stray splats out);
    2. of those, a *subject*: when the most crowded voxels holding ``SUBJECT_SHARE`` of them fill
       under ``SUBJECT_MAX_VOLUME`` of the box (a small object in a room-scale capture), those.
    """
    pts = _sample(means)
    if len(pts) == 0:
        return np.zeros(3), 1e-6
    inverse, counts, _ = _voxel_crowding(pts, grid)
    crowding = counts[inverse]  # [P] splats sharing each splat's voxel
    core = pts[crowding >= CORE_DENSITY_SHARE * np.median(crowding)]
    if len(core) < 0.05 * len(pts):
        core = pts
    inverse, counts, cells = _voxel_crowding(core, grid)
    order = np.argsort(-counts, kind="stable")
    taken = int(np.searchsorted(np.cumsum(counts[order]), SUBJECT_SHARE * len(core))) + 1
    if taken < SUBJECT_MAX_VOLUME * cells:
        core = core[np.isin(inverse, order[:taken])]
    lo, hi = np.percentile(core, 2, axis=0), np.percentile(core, 98, axis=0)
    return 0.5 * (lo + hi), max(0.5 * float(np.linalg.norm(hi - lo)), 1e-6)
