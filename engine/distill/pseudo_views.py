"""Views between the training cameras, where the teachers supervise the student.

Distilled-3DGS (arXiv 2508.14037 §3.3) distils on the training views only, where the photo is
already there and the teacher mean adds little beyond it. A frozen ensemble's real knowledge is
how the scene looks *between* the photos (LightGaussian, arXiv 2311.17245 §4.2, distils on such
pseudo-views). A pseudo-view here is a training camera moved part of the way towards its nearest
neighbour: the centre interpolated linearly, the orientation by spherical interpolation
(scipy's Slerp), the intrinsics of the first. Deterministic for a seed.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from engine.camera import Camera


def pseudo_views(cameras: list[Camera], count: int, seed: int = 0, spread: tuple[float, float] = (0.25, 0.75)) -> list[Camera]:
    """``count`` cameras, each between a random training camera and its nearest other one, a
    fraction t ~ U(spread) of the way."""
    if count <= 0 or len(cameras) < 2:
        return []
    rng = np.random.default_rng(seed)
    centres = np.stack([c.center for c in cameras])  # [V, 3]
    dist = np.linalg.norm(centres[:, None] - centres[None], axis=-1)  # [V, V]
    np.fill_diagonal(dist, np.inf)
    nearest = dist.argmin(axis=1)  # [V]
    views = []
    for k in range(count):
        a = int(rng.integers(len(cameras)))
        b = int(nearest[a])
        t = float(rng.uniform(*spread))
        ca, cb = cameras[a], cameras[b]
        rots = Rotation.from_matrix(np.stack([ca.camera_to_world[:3, :3], cb.camera_to_world[:3, :3]]))
        c2w = np.eye(4)
        c2w[:3, :3] = Slerp([0.0, 1.0], rots)(t).as_matrix()
        c2w[:3, 3] = (1 - t) * ca.center + t * cb.center
        views.append(dataclasses.replace(ca, camera_to_world=c2w, name=f"pseudo {k} ({ca.name} -> {cb.name}, {t:.2f})", extra={}))
    return views
