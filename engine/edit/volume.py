"""World volumes as the studio shows them and drags them: a sphere and an axis-aligned box.

A volume is a dict, as the Edit panel's numbers hold it: ``{"center": [3], "radius": r}`` for a
sphere, ``{"center": [3], "size": [3]}`` (side lengths) for a box; :func:`engine.edit.select.sphere`
/ ``box`` and :func:`engine.edit.ops.crop_sphere` / ``crop_oriented_box`` take the same numbers.

The viewport draws :func:`outline` (world segments, projected and clipped by
:func:`project_segments`) and :func:`handles` (points to grab) for its camera; a drag of a handle
by (dx, dy) pixels gives the new volume through :func:`drag`, always from the values at the press
(so rounding on the way never accumulates):

- ``"center"`` (the centre dot, or the outline itself): the centre moves in the plane through it
  parallel to the screen (engine.camera.view_plane_offset);
- ``"radius"`` (a sphere's dot on its screen-right rim): the radius is the distance from the
  centre to the dragged point in that plane;
- ``"+x"`` ... ``"-z"`` (a box's face centres): that face moves along its axis to follow the
  pointer (engine.camera.axis_offset), the opposite face stays.

:func:`scaled` sizes a volume about its centre (the viewport's Ctrl+wheel).
"""

from __future__ import annotations

import math

import numpy as np

from engine.camera import Camera, axis_offset, project_points, view_plane_offset

KINDS = ("sphere", "box")
MIN_SIZE = 1e-6  # world units: a radius or side never shrinks below this
NEAR = 1e-3  # camera-space depth at which segments are clipped
FACES = ("+x", "-x", "+y", "-y", "+z", "-z")


def _center(values: dict) -> np.ndarray:  # [3]
    return np.asarray(values["center"], np.float64).reshape(3)


def _check(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown volume {kind!r} (choose from {', '.join(KINDS)})")


def _face_axis(face: str) -> tuple[int, float]:
    return "xyz".index(face[1]), 1.0 if face[0] == "+" else -1.0


def handles(kind: str, values: dict, camera: Camera) -> dict[str, np.ndarray]:
    """The grabbable points (world [3] each) of a volume seen by ``camera``: "center", and
    "radius" (a sphere: its rim to the right on screen) or the six face centres "+x" ... "-z"."""
    _check(kind)
    c = _center(values)
    out = {"center": c}
    if kind == "sphere":
        right = camera.camera_to_world[:3, 0]
        out["radius"] = c + float(values["radius"]) * right
    else:
        half = np.asarray(values["size"], np.float64).reshape(3) / 2
        for face in FACES:
            i, sign = _face_axis(face)
            p = c.copy()
            p[i] += sign * half[i]
            out[face] = p
    return out


def _circle(center: np.ndarray, u: np.ndarray, v: np.ndarray, radius: float, n: int) -> np.ndarray:
    """Segments [n, 2, 3] of the circle of ``radius`` about ``center`` in the plane of unit u, v."""
    t = np.linspace(0.0, 2 * math.pi, n + 1)
    pts = center + radius * (np.cos(t)[:, None] * u + np.sin(t)[:, None] * v)  # [n + 1, 3]
    return np.stack([pts[:-1], pts[1:]], 1)


def outline(kind: str, values: dict, camera: Camera, n: int = 64) -> np.ndarray:
    """World segments [M, 2, 3] that draw a volume: a box's 12 edges; a sphere's silhouette seen
    from ``camera`` (when the camera is outside it) and its three great circles about the axes."""
    _check(kind)
    c = _center(values)
    if kind == "box":
        half = np.asarray(values["size"], np.float64).reshape(3) / 2
        corners = c + half * np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], np.float64)
        edges = [(i, j) for i in range(8) for j in range(i + 1, 8) if bin(i ^ j).count("1") == 1]  # differ in one axis
        return np.stack([np.stack([corners[i], corners[j]]) for i, j in edges])
    r = float(values["radius"])
    eye = np.eye(3)
    parts = [_circle(c, eye[(a + 1) % 3], eye[(a + 2) % 3], r, n) for a in range(3)]
    to_c = c - camera.center
    d = float(np.linalg.norm(to_c))
    if d > r > 0:  # the silhouette: the circle of tangent points, nearer the eye than the centre
        w = to_c / d
        u = np.cross(w, camera.camera_to_world[:3, 1])
        if np.linalg.norm(u) < 1e-9:
            u = np.cross(w, camera.camera_to_world[:3, 0])
        u /= np.linalg.norm(u)
        v = np.cross(w, u)
        parts.append(_circle(c - (r * r / d) * w, u, v, r * math.sqrt(d * d - r * r) / d, n))
    return np.concatenate(parts)


def project_segments(camera: Camera, segments: np.ndarray, near: float = NEAR) -> np.ndarray:
    """Pixel segments [K, 2, 2] of world segments [M, 2, 3], clipped to depth >= ``near`` (the
    parts behind the camera are cut off; segments wholly behind it are dropped)."""
    seg = np.asarray(segments, np.float64).reshape(-1, 2, 3)
    w2c = camera.world_to_camera
    pc = seg @ w2c[:3, :3].T + w2c[:3, 3]  # [M, 2, 3] camera space
    z0, z1 = pc[:, 0, 2], pc[:, 1, 2]
    keep = (z0 >= near) | (z1 >= near)
    pc, z0, z1 = pc[keep], z0[keep], z1[keep]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.clip((near - z0) / (z1 - z0), 0.0, 1.0)  # where the segment crosses the near plane
    cut = pc[:, 0] + t[:, None] * (pc[:, 1] - pc[:, 0])
    a = np.where((z0 < near)[:, None], cut, pc[:, 0])
    b = np.where((z1 < near)[:, None], cut, pc[:, 1])
    ends = np.stack([a, b], 1)  # [K, 2, 3]
    uv = np.stack([camera.fx * ends[..., 0] / ends[..., 2] + camera.cx, camera.fy * ends[..., 1] / ends[..., 2] + camera.cy], -1)
    return uv


def _distance_to_segments(p: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Pixel distance [K] from point p [2] to each segment [K, 2, 2]."""
    a, b = seg[:, 0], seg[:, 1]
    ab = b - a
    t = np.clip(((p - a) * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-12), 0.0, 1.0)
    return np.linalg.norm(a + t[:, None] * ab - p, axis=1)


def pick(kind: str, values: dict, camera: Camera, x: float, y: float, tolerance: float = 8.0,
         outline_moves: bool = True) -> tuple[str, float] | None:  # fmt: skip
    """The part of a volume under pixel (x, y): (handle name, pixel distance) of the nearest
    handle within ``tolerance``, else ("center", distance) when the outline passes within it and
    ``outline_moves`` (the outline moves the volume), else None."""
    p = np.array([x, y], np.float64)
    names, points = zip(*handles(kind, values, camera).items())
    uv, z = project_points(camera, np.stack(points))
    dist = np.where(z > NEAR, np.linalg.norm(uv - p, axis=1), np.inf)
    i = int(np.argmin(dist))
    if dist[i] <= tolerance:
        return names[i], float(dist[i])
    seg = project_segments(camera, outline(kind, values, camera)) if outline_moves else np.zeros((0, 2, 2))
    if len(seg):
        d = float(_distance_to_segments(p, seg).min())
        if d <= tolerance:
            return "center", d
    return None


def drag(kind: str, values: dict, handle: str, camera: Camera, dx: float, dy: float) -> dict:
    """The volume after dragging ``handle`` (:func:`handles`) of ``values`` (as at the press) by
    (dx, dy) pixels of ``camera``; a new dict, ``values`` is left as it is."""
    _check(kind)
    c = _center(values)
    if handle == "center":
        return {**values, "center": c + view_plane_offset(camera, c, dx, dy)}
    if kind == "sphere" and handle == "radius":
        h = handles(kind, values, camera)["radius"]
        moved = h + view_plane_offset(camera, h, dx, dy)
        return {**values, "radius": max(float(np.linalg.norm(moved - c)), MIN_SIZE)}
    if kind == "box" and handle in FACES:
        i, sign = _face_axis(handle)
        size = np.asarray(values["size"], np.float64).reshape(3).copy()
        face = handles(kind, values, camera)[handle]
        axis = np.zeros(3)
        axis[i] = sign
        new = max(size[i] + axis_offset(camera, face, axis, dx, dy), MIN_SIZE)
        c = c.copy()
        c[i] += sign * (new - size[i]) / 2  # the opposite face stays where it was
        size[i] = new
        return {**values, "center": c, "size": size}
    raise ValueError(f"a {kind} has no handle {handle!r}")


def scaled(kind: str, values: dict, factor: float) -> dict:
    """The volume sized by ``factor`` (> 0) about its centre."""
    _check(kind)
    if not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"the factor must be a positive number, not {factor!r}")
    if kind == "sphere":
        return {**values, "radius": max(float(values["radius"]) * factor, MIN_SIZE)}
    return {**values, "size": np.maximum(np.asarray(values["size"], np.float64).reshape(3) * factor, MIN_SIZE)}
