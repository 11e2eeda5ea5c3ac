"""Selections: functions that return a bool mask [N] over a scene's splats.

Combine a mask with the current selection through :meth:`engine.edit.state.EditSession.select`
(modes replace / add / subtract / intersect); it never selects hidden or deleted splats.

- on screen, for a camera: :func:`rectangle`, :func:`polygon` (lasso), :func:`brush` (a stroke of
  circles) by each splat's projected centre; pass ``front_only=True`` (with the session's visible
  mask) to keep only the visible front layer (:func:`front_layer`: a depth test of the centre
  against the rendered depth of the visible scene);
- in the world: :func:`sphere`, :func:`box` (oriented);
- by attribute range: :func:`attribute_values` / :func:`attribute_range` (opacity, each scale,
  volume, colour and hue from the SH DC term, distance from a point, SH energy of bands >= 1, ...);
- :func:`similar_colour` to a picked splat (CIE Lab distance, "Delta E 1976"; :func:`pick` finds
  the splat under a pixel);
- :func:`select_all`, :func:`select_none`, :func:`invert` (over the visible splats);
- :func:`grow` / :func:`shrink` by k nearest neighbours or a radius (scipy's cKDTree); their masks
  alone (:func:`grown`, :func:`border`) for a front end that computes them off its GUI thread.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from engine.camera import Camera, project_points
from engine.edit.state import EditSession
from engine.scene import SH_C0, GaussianScene

BAND_EDGES = 16  # polygons with more edges than this test each edge on its y band only
NEAR = 0.01  # splats closer to the camera than this (or behind it) are never on screen


# ---------------------------------------------------------------------- screen shapes
def project(scene: GaussianScene, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates [N, 2] of the splat centres (pixel centres at integer + 0.5, the
    renderer's convention) and their camera-space depth [N] (OpenCV: +z forward), float32
    (engine.camera.project_points; the selection tools compare against whole pixels)."""
    return project_points(camera, scene.means.detach().cpu().float().numpy())


def _on_screen(uv: np.ndarray, z: np.ndarray) -> np.ndarray:
    return (z > NEAR) & np.isfinite(uv[:, 0]) & np.isfinite(uv[:, 1])  # per column: .all(1) is slow


def _in_box(uv: np.ndarray, z: np.ndarray, lo, hi) -> np.ndarray:
    """[N] bool: on screen and inside the pixel box [lo, hi] (each [2])."""
    u, v = uv[:, 0], uv[:, 1]
    return (z > NEAR) & (u >= lo[0]) & (u <= hi[0]) & (v >= lo[1]) & (v <= hi[1])


def rectangle(scene: GaussianScene, camera: Camera, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Splats whose centre projects inside the pixel rectangle (corners in any order)."""
    uv, z = project(scene, camera)
    (xa, xb), (ya, yb) = sorted((x0, x1)), sorted((y0, y1))
    return _in_box(uv, z, (xa, ya), (xb, yb))


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd rule: bool [P] for points [P, 2] inside the closed polygon [M, 2] (any winding,
    self-intersections allowed), vectorised over the points, one pass per edge. A hand-drawn
    lasso has hundreds of edges: the points are then sorted by y once, and each edge visits only
    the points in its own y band (the same test, so the same answer)."""
    poly = np.asarray(polygon, np.float64).reshape(-1, 2)
    inside = np.zeros(points.shape[0], dtype=bool)
    if poly.shape[0] < 3:
        return inside
    px, py = points[:, 0], points[:, 1]
    banded = poly.shape[0] > BAND_EDGES
    if banded:
        order = np.argsort(py, kind="stable")
        ys = py[order]
    for (xi, yi), (xj, yj) in zip(poly, np.roll(poly, -1, axis=0)):
        if banded:
            band = order[np.searchsorted(ys, min(yi, yj), "left"):np.searchsorted(ys, max(yi, yj), "right")]
            idx = band[(yi > py[band]) != (yj > py[band])]
        else:
            idx = np.flatnonzero((yi > py) != (yj > py))  # the points whose rightward ray the edge crosses
        if not len(idx):
            continue
        qx, qy = px[idx], py[idx]
        x_at = xi + (qy - yi) * ((xj - xi) / (yj - yi))  # yi != yj: the edge crosses a ray
        inside[idx] ^= qx < x_at
    return inside


def polygon(scene: GaussianScene, camera: Camera, vertices) -> np.ndarray:
    """Lasso / polygon selection: splats whose centre projects inside ``vertices`` [M, 2] px."""
    uv, z = project(scene, camera)
    poly = np.asarray(vertices, np.float64).reshape(-1, 2)
    in_box = _in_box(uv, z, poly.min(0), poly.max(0))  # [N]
    if 2 * int(np.count_nonzero(in_box)) > scene.count:  # most splats: test them all, no gather
        return in_box & points_in_polygon(uv, poly)
    cand = np.flatnonzero(in_box)
    out = np.zeros(scene.count, dtype=bool)
    out[cand] = points_in_polygon(uv[cand], poly)
    return out


def brush(scene: GaussianScene, camera: Camera, stroke, radius: float) -> np.ndarray:
    """Splats whose centre projects within ``radius`` px of the stroke ``stroke`` [M, 2] (a
    polyline; one point is a circle)."""
    uv, z = project(scene, camera)
    pts = np.asarray(stroke, np.float64).reshape(-1, 2)
    cand = np.flatnonzero(_in_box(uv, z, pts.min(0) - radius, pts.max(0) + radius))
    q = uv[cand]  # [C, 2]
    hit = np.zeros(cand.shape[0], dtype=bool)
    segments = zip(pts, pts[1:]) if pts.shape[0] > 1 else [(pts[0], pts[0])]
    for a, b in segments:
        ab = b - a
        denom = float(ab @ ab)
        t = np.clip(((q - a) @ ab) / denom, 0.0, 1.0) if denom > 0 else np.zeros(q.shape[0])
        nearest = a + t[:, None] * ab
        hit |= ((q - nearest) ** 2).sum(1) <= radius * radius
    out = np.zeros(scene.count, dtype=bool)
    out[cand] = hit
    return out


def render_depth(scene: GaussianScene, camera: Camera, visible: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Depth [H, W] (expected camera-space z) and alpha [H, W] of the visible splats, rendered
    by engine.render (a front end with its own depth buffer can pass that instead)."""
    from engine.render import render

    shown = scene if visible is None else scene.subset(torch.from_numpy(np.asarray(visible, dtype=bool)))
    with torch.no_grad():
        res = render(shown, camera, with_depth=True, sh_degree=0)
    return res.depths[0, ..., 0].cpu().numpy(), res.alphas[0, ..., 0].cpu().numpy()


def front_layer(scene: GaussianScene, camera: Camera, mask: np.ndarray, visible: np.ndarray | None = None, *,
                depth: np.ndarray | None = None, alpha: np.ndarray | None = None, tolerance: float = 0.05,
                min_alpha: float = 0.5) -> np.ndarray:  # fmt: skip
    """The splats of ``mask`` that are not behind the visible surface: those whose centre depth is
    at most (1 + ``tolerance``) times the rendered depth at their pixel. Pixels where the rendered
    alpha is under ``min_alpha`` have no surface: everything there counts as in front. ``depth``
    and ``alpha`` [H, W]: a depth image already at hand (default: :func:`render_depth` of the
    ``visible`` splats)."""
    if depth is None:
        depth, alpha = render_depth(scene, camera, visible)
    if alpha is None:
        alpha = np.ones_like(depth)
    uv, z = project(scene, camera)
    idx = np.flatnonzero(np.asarray(mask, dtype=bool) & _on_screen(uv, z))
    h, w = depth.shape
    px = np.clip(np.floor(uv[idx, 0]).astype(np.int64), 0, w - 1)
    py = np.clip(np.floor(uv[idx, 1]).astype(np.int64), 0, h - 1)
    d, a = depth[py, px], alpha[py, px]
    keep = (a < min_alpha) | ~np.isfinite(d) | (z[idx] <= d * (1.0 + tolerance))
    out = np.zeros(scene.count, dtype=bool)
    out[idx[keep]] = True
    return out


def screen_select(session: EditSession, camera: Camera, shape: str, *args, mode: str = "replace",
                  front_only: bool = False, **kw):  # fmt: skip
    """One screen selection on a session: ``shape`` "rectangle" (x0, y0, x1, y1), "polygon"
    (vertices) or "brush" (stroke, radius); ``front_only``: only the visible front layer."""
    fn = {"rectangle": rectangle, "polygon": polygon, "brush": brush}[shape]
    mask = fn(session.scene, camera, *args)
    if front_only:
        mask = front_layer(session.scene, camera, mask, session.visible_mask, **kw)
    return session.select(mask, mode, label=f"select {shape}")


def pick(scene: GaussianScene, camera: Camera, x: float, y: float, visible: np.ndarray | None = None, *,
         depth: np.ndarray | None = None, alpha: np.ndarray | None = None, radius: float = 6.0) -> int | None:  # fmt: skip
    """Index of the splat under pixel (x, y), or None: among the ``visible`` splats whose centre
    projects within ``radius`` pixels, those of the front layer (:func:`front_layer`, with a
    ``depth`` [H, W] image at hand, else all of them), and of those the nearest to the camera."""
    uv, z = project(scene, camera)
    near = _on_screen(uv, z) & (((uv - np.array([x, y])) ** 2).sum(1) <= radius * radius)
    if visible is not None:
        near &= np.asarray(visible, dtype=bool)
    if not near.any():
        return None
    if depth is not None:
        front = front_layer(scene, camera, near, depth=depth, alpha=alpha)
        near = front if front.any() else near
    idx = np.flatnonzero(near)
    return int(idx[np.argmin(z[idx])])


# ---------------------------------------------------------------------- world volumes
def sphere(scene: GaussianScene, center, radius: float) -> np.ndarray:
    p = scene.means.detach().cpu().numpy().astype(np.float64)
    return ((p - np.asarray(center, np.float64)) ** 2).sum(1) <= float(radius) ** 2


def box(scene: GaussianScene, center, half_size, rotation=None) -> np.ndarray:
    """Splats inside the box of centre [3], half side lengths [3] and orientation ``rotation``
    [3, 3] (columns: the box's axes in the world; default axis-aligned)."""
    p = scene.means.detach().cpu().numpy().astype(np.float64) - np.asarray(center, np.float64)
    if rotation is not None:
        p = p @ np.asarray(rotation, np.float64)  # world -> box axes
    return (np.abs(p) <= np.asarray(half_size, np.float64)).all(1)


def aabb(scene: GaussianScene, lo, hi) -> np.ndarray:
    """Splats inside the axis-aligned box with corners ``lo`` [3] and ``hi`` [3]."""
    p = scene.means.detach().cpu().numpy().astype(np.float64)
    return (p >= np.asarray(lo, np.float64)).all(1) & (p <= np.asarray(hi, np.float64)).all(1)


# ---------------------------------------------------------------------- attributes
ATTRIBUTES = {
    "x": "position x", "y": "position y", "z": "position z",
    "opacity": "opacity in [0, 1] (sigmoid of the stored logit)",
    "scale_0": "size along the first axis (linear)", "scale_1": "size along the second axis", "scale_2": "size along the third axis",
    "scale_max": "largest of the three sizes", "scale_min": "smallest of the three sizes",
    "volume": "ellipsoid volume 4/3 pi s0 s1 s2",
    "red": "base colour red in [0, 1] (SH DC)", "green": "base colour green", "blue": "base colour blue",
    "hue": "base colour hue in degrees [0, 360)", "saturation": "base colour HSV saturation [0, 1]",
    "brightness": "base colour HSV value [0, 1]",
    "distance": "distance from a point (default the origin)",
    "sh_energy": "sum of squares of the SH coefficients of bands >= 1 (view-dependence)",
}  # fmt: skip


def base_colour(scene: GaussianScene) -> np.ndarray:
    """[N, 3] RGB in [0, 1] from the SH DC term (what the splat shows on average)."""
    dc = scene.sh[:, 0, :].detach().cpu().numpy().astype(np.float64)
    return np.clip(dc * SH_C0 + 0.5, 0.0, 1.0)


def _hsv(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mx, mn = rgb.max(1), rgb.min(1)
    c = mx - mn
    r, g, b = rgb.T
    safe = np.where(c > 0, c, 1.0)
    h = np.where(mx == r, ((g - b) / safe) % 6, np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4))
    h = np.where(c > 0, 60.0 * h, 0.0)
    s = np.where(mx > 0, c / np.where(mx > 0, mx, 1.0), 0.0)
    return h, s, mx


def attribute_values(scene: GaussianScene, name: str, point=None) -> np.ndarray:
    """Per-splat values [N] float64 of attribute ``name`` (see :data:`ATTRIBUTES`); ``point`` [3]
    is where ``distance`` is measured from. Unknown names raise KeyError."""
    if name in ("x", "y", "z"):
        return scene.means[:, "xyz".index(name)].detach().cpu().numpy().astype(np.float64)
    if name == "opacity":
        return torch.sigmoid(scene.opacity_logits.detach().double()).cpu().numpy()
    if name.startswith("scale_") or name == "volume":
        s = torch.exp(scene.log_scales.detach().double()).cpu().numpy()  # [N, 3]
        if name == "volume":
            return 4.0 / 3.0 * math.pi * s.prod(1)
        if name == "scale_max":
            return s.max(1)
        if name == "scale_min":
            return s.min(1)
        if name in ("scale_0", "scale_1", "scale_2"):
            return s[:, int(name[-1])]
    if name in ("red", "green", "blue"):
        return base_colour(scene)[:, ("red", "green", "blue").index(name)]
    if name in ("hue", "saturation", "brightness"):
        return _hsv(base_colour(scene))[("hue", "saturation", "brightness").index(name)]
    if name == "distance":
        p = scene.means.detach().cpu().numpy().astype(np.float64)
        return np.linalg.norm(p - (np.zeros(3) if point is None else np.asarray(point, np.float64)), axis=1)
    if name == "sh_energy":
        rest = scene.sh[:, 1:].detach().double()
        return (rest * rest).sum((1, 2)).cpu().numpy() if rest.shape[1] else np.zeros(scene.count)
    raise KeyError(f"unknown attribute {name!r} (known: {', '.join(ATTRIBUTES)})")


def attribute_range(scene: GaussianScene, name: str, lo: float | None = None, hi: float | None = None,
                    point=None) -> np.ndarray:  # fmt: skip
    """Splats with ``lo <= value <= hi`` (either bound may be None). For ``hue`` a range with
    lo > hi wraps through 0 (e.g. 330..30: the reds)."""
    v = attribute_values(scene, name, point)
    lo = -np.inf if lo is None else lo
    hi = np.inf if hi is None else hi
    if name == "hue" and lo > hi:
        return (v >= lo) | (v <= hi)
    return (v >= lo) & (v <= hi)


def _lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 1] [N, 3] -> CIE L*a*b* (D65)."""
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    eps = 216 / 24389
    f = np.where(xyz > eps, np.cbrt(xyz), (24389 / 27 * xyz + 16) / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


def similar_colour(scene: GaussianScene, index: int, tolerance: float = 10.0) -> np.ndarray:
    """Splats whose base colour is within ``tolerance`` (CIE76 Delta E: 1 is a just-noticeable
    difference, 10 "similar") of splat ``index``'s."""
    lab = _lab(base_colour(scene))
    return np.linalg.norm(lab - lab[int(index)], axis=1) <= tolerance


# ---------------------------------------------------------------------- whole-set operations
def select_all(session: EditSession):
    return session.select(np.ones(session.total, dtype=bool), "replace", "select all")


def select_none(session: EditSession):
    return session.select(np.zeros(session.total, dtype=bool), "replace", "select none")


def invert(session: EditSession):
    """Select exactly the visible splats that are not selected."""
    return session.select(~session.selected, "replace", "invert selection")


def _neighbour_mask(points: np.ndarray, sources: np.ndarray, k: int | None, radius: float | None) -> np.ndarray:
    """bool [P]: points that are among the k nearest of, or within ``radius`` of, some source
    point (``sources``: bool [P])."""
    from scipy.spatial import cKDTree

    out = sources.copy()
    if not sources.any() or points.shape[0] < 2:
        return out
    tree = cKDTree(points)
    q = points[sources]
    if radius is not None:
        hits = tree.query_ball_point(q, r=radius, workers=1)
        out[np.fromiter(itertools.chain.from_iterable(hits), dtype=np.int64)] = True
    else:
        kk = min(int(k) + 1, points.shape[0])  # +1: each point finds itself first
        _, nn = tree.query(q, k=kk, workers=1)
        out[np.asarray(nn).ravel()] = True
    return out


def _eligible_points(scene: GaussianScene, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices [M] of the visible splats with finite centres, and those centres [M, 3]."""
    p = scene.means.detach().cpu().numpy().astype(np.float64)
    idx = np.flatnonzero(np.asarray(visible, dtype=bool) & np.isfinite(p).all(1))
    return idx, p[idx]


def grown(scene: GaussianScene, selected: np.ndarray, visible: np.ndarray, k: int | None = 8,
          radius: float | None = None) -> np.ndarray:  # fmt: skip
    """bool [N]: the ``selected`` splats and the k nearest ``visible`` neighbours of each (or,
    with ``radius``, every visible splat within it). Pure: reads the scene, changes nothing."""
    idx, pts = _eligible_points(scene, visible)
    near = _neighbour_mask(pts, np.asarray(selected, dtype=bool)[idx], k, radius)
    mask = np.zeros(scene.count, dtype=bool)
    mask[idx[near]] = True
    return mask


def border(scene: GaussianScene, selected: np.ndarray, visible: np.ndarray, k: int | None = 8,
           radius: float | None = None) -> np.ndarray:  # fmt: skip
    """bool [N]: the selected splats among the k nearest (or within ``radius``) of a visible
    unselected splat, the selection's border that :func:`shrink` drops."""
    idx, pts = _eligible_points(scene, visible)
    sel = np.asarray(selected, dtype=bool)[idx]
    edge = _neighbour_mask(pts, ~sel, k, radius) & sel
    mask = np.zeros(scene.count, dtype=bool)
    mask[idx[edge]] = True
    return mask


def grow(session: EditSession, k: int | None = 8, radius: float | None = None):
    """Add to the selection the k nearest visible neighbours of each selected splat (or, with
    ``radius``, every visible splat within it)."""
    return session.select(grown(session.scene, session.selected, session.visible_mask, k, radius), "add", "grow selection")


def shrink(session: EditSession, k: int | None = 8, radius: float | None = None):
    """The dual of :func:`grow`: drop selected splats that are among the k nearest (or within
    ``radius``) of a visible unselected splat: the selection's border."""
    mask = border(session.scene, session.selected, session.visible_mask, k, radius)
    return session.select(mask, "subtract", "shrink selection")
