"""Pinhole cameras in the OpenCV convention (+x right, +y down, +z forward).

Loaders convert NeRF/Blender/OpenGL axes once, at the edge (engine.io.captures). A camera
serialises to JSON with ``camera_to_world`` (4x4) and ``fx fy cx cy width height`` so a view can
be saved, shared and re-rendered (``splatlab render --camera CAM.json``).

Also here: the *home view* of a scene (``render``'s default and the studio's reset; engine.framing
chooses its up axis and what it frames) and the fixed *orbit* of K views that ``eval --reference``
and ``rd`` measure at.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

import numpy as np

from engine.errors import InputError

# The conventional world "up" (COLMAP/INRIA scenes are y-down, so up is -y); a scene's own up is
# chosen by engine.framing, and the fixed measurement views (orbit_views) use this one.
WORLD_UP = np.array([0.0, -1.0, 0.0])
# The fixed direction (scene centre -> eye) of the home view: a three-quarter view from above
# for y-down scenes, and from above for z-up scenes (the donut), so both read naturally.
HOME_DIRECTION = np.array([0.55, -0.55, 0.63])
HOME_FOV_Y_DEG = 45.0


@dataclass
class Camera:
    camera_to_world: np.ndarray  # [4, 4] float64, OpenCV axes
    fx: float  # focal lengths in pixels
    fy: float
    cx: float  # principal point in pixels (pixel centres at integer + 0.5)
    cy: float
    width: int
    height: int
    name: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.camera_to_world = np.asarray(self.camera_to_world, dtype=np.float64).reshape(4, 4)
        self.width = int(self.width)
        self.height = int(self.height)

    # ------------------------------------------------------------------ derived
    @property
    def world_to_camera(self) -> np.ndarray:  # [4, 4]
        r = self.camera_to_world[:3, :3]
        t = self.camera_to_world[:3, 3]
        w2c = np.eye(4)
        w2c[:3, :3] = r.T
        w2c[:3, 3] = -r.T @ t
        return w2c

    @property
    def K(self) -> np.ndarray:  # [3, 3]
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def center(self) -> np.ndarray:  # [3]
        return self.camera_to_world[:3, 3].copy()

    @property
    def forward(self) -> np.ndarray:  # [3] unit, camera +z in world
        return self.camera_to_world[:3, 2].copy()

    @property
    def fov_y(self) -> float:
        return 2.0 * math.atan(0.5 * self.height / self.fy)

    def scaled(self, width: int, height: int) -> "Camera":
        """The same view at another resolution (intrinsics scaled per axis)."""
        sx, sy = width / self.width, height / self.height
        return Camera(
            self.camera_to_world.copy(),
            self.fx * sx,
            self.fy * sy,
            self.cx * sx,
            self.cy * sy,
            width,
            height,
            self.name,
            dict(self.extra),
        )

    def image_rect(self, width: int, height: int) -> tuple[float, float, float, float]:
        """Where this camera's image lies in a ``width`` x ``height`` image of the same view
        (:meth:`fitted`): (x, y, w, h) in pixels, origin top-left; centred, and as large as fits."""
        s = min(width / self.width, height / self.height)
        w, h = self.width * s, self.height * s
        return (0.5 * (width - w), 0.5 * (height - h), w, h)

    def fitted(self, width: int, height: int) -> "Camera":
        """The same view in a ``width`` x ``height`` image of any aspect without distortion: the
        image is scaled uniformly to fit and centred (:meth:`image_rect`), the margins show more
        of the world. Equals :meth:`scaled` when the aspect is the same."""
        x, y, w, _ = self.image_rect(width, height)
        s = w / self.width
        return Camera(
            self.camera_to_world.copy(),
            self.fx * s,
            self.fy * s,
            self.cx * s + x,
            self.cy * s + y,
            width,
            height,
            self.name,
            dict(self.extra),
        )

    # ------------------------------------------------------------------ construction
    @classmethod
    def look_at(
        cls,
        eye: np.ndarray,
        target: np.ndarray,
        width: int,
        height: int,
        fov_y_deg: float = HOME_FOV_Y_DEG,
        up: np.ndarray = WORLD_UP,
        name: str = "",
    ) -> "Camera":
        eye = np.asarray(eye, np.float64)
        z = np.asarray(target, np.float64) - eye
        z /= max(np.linalg.norm(z), 1e-12)
        x = np.cross(z, up)
        if np.linalg.norm(x) < 1e-6:  # looking straight along the up axis
            x = np.cross(z, np.array([0.0, 0.0, 1.0]))
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        c2w = np.eye(4)
        c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = x, y, z, eye
        fy = 0.5 * height / math.tan(math.radians(fov_y_deg) / 2)
        return cls(c2w, fy, fy, width / 2.0, height / 2.0, width, height, name)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        return {
            "convention": "opencv",
            "camera_to_world": self.camera_to_world.tolist(),
            "fx": self.fx,
            "fy": self.fy,
            "cx": self.cx,
            "cy": self.cy,
            "width": self.width,
            "height": self.height,
            **({"name": self.name} if self.name else {}),
        }

    @classmethod
    def from_dict(cls, d: dict, path: str | None = None) -> "Camera":
        if not isinstance(d, dict):
            raise InputError(path, "camera JSON must be an object")
        missing = [k for k in ("camera_to_world", "fx", "fy", "cx", "cy", "width", "height") if k not in d]
        if missing:
            raise InputError(path, f"camera JSON lacks {', '.join(missing)}")
        conv = d.get("convention", "opencv")
        if conv != "opencv":
            raise InputError(path, f"camera convention {conv!r} is not supported (expected 'opencv')")
        try:
            c2w = np.asarray(d["camera_to_world"], dtype=np.float64)
            vals = [float(d[k]) for k in ("fx", "fy", "cx", "cy")]
            w, h = int(d["width"]), int(d["height"])
        except (TypeError, ValueError) as e:
            raise InputError(path, f"camera JSON has a malformed value ({e})") from None
        if c2w.shape != (4, 4) or not np.isfinite(c2w).all():
            raise InputError(path, "camera_to_world must be a finite 4x4 matrix")
        if abs(np.linalg.det(c2w[:3, :3])) < 1e-6:
            raise InputError(path, "camera_to_world has a singular rotation")
        if not all(math.isfinite(v) for v in vals) or vals[0] <= 0 or vals[1] <= 0:
            raise InputError(path, "fx and fy must be positive numbers")
        if not (0 < w <= 16384 and 0 < h <= 16384):
            raise InputError(path, f"image size {w}x{h} is out of range")
        return cls(c2w, *vals, w, h, str(d.get("name", "")))

    def save(self, path: str | os.PathLike) -> None:
        from engine.io.atomic import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Camera":
        path = os.fspath(path)
        try:
            with open(path, encoding="utf-8") as f:
                d = json.load(f)
        except FileNotFoundError:
            raise InputError(path, "no such file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise InputError(path, f"not a camera JSON file ({e})") from None
        return cls.from_dict(d, path)


# ---------------------------------------------------------------------- scene views
def _frame_scene(scene) -> tuple[np.ndarray, float]:
    """Centre and radius of the scene's robust (2nd-98th percentile) box."""
    lo, hi = scene.robust_bounds()
    center = 0.5 * (lo + hi)
    radius = 0.5 * float(np.linalg.norm(hi - lo))
    return center, max(radius, 1e-6)


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # [3, 3], maps unit a onto unit b
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    v, c = np.cross(a, b), float(np.dot(a, b))
    if c < -1 + 1e-9:  # opposite: half a turn about z (or x when a is along z), as SuperSplat flips
        axis = np.array([0.0, 0.0, 1.0]) if abs(a[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        axis = axis - a * np.dot(axis, a)
        axis /= np.linalg.norm(axis)
        return 2 * np.outer(axis, axis) - np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


def framed_view(center: np.ndarray, radius: float, width: int, height: int, fov_y_deg: float = HOME_FOV_Y_DEG,
                up: np.ndarray = WORLD_UP, name: str = "home") -> Camera:
    """A sphere (centre, radius) seen whole from HOME_DIRECTION, turned so that ``up`` (world)
    plays the part that -y plays for HOME_DIRECTION: a three-quarter view from above."""
    fov = math.radians(min(fov_y_deg, fov_y_deg * width / height if width < height else fov_y_deg))
    dist = radius / math.sin(fov / 2) * 1.05
    up = np.asarray(up, np.float64) / np.linalg.norm(up)
    d = _rotation_between(WORLD_UP, up) @ (HOME_DIRECTION / np.linalg.norm(HOME_DIRECTION))
    return Camera.look_at(center + d * dist, center, width, height, fov_y_deg, up=up, name=name)


def home_view(scene, width: int = 800, height: int = 800, fov_y_deg: float = HOME_FOV_Y_DEG, *,
              up: np.ndarray | None = None, cameras: np.ndarray | None = None) -> Camera:
    """The scene's default view (engine.framing says how it is chosen).

    ``up``: the user's up axis (None: from the cameras, a floor plane or the -y convention);
    ``cameras``: camera-to-world matrices [K, 4, 4] of the scene's capture, when known. With
    cameras the view looks from the capture camera nearest their median position at the point
    they all look at; without, it frames the scene's dense core. ``extra`` of the result holds
    ``up`` [3], ``up_source`` and ``target`` [3] (the pivot an interactive camera orbits).
    """
    from engine import framing

    means = scene.means.detach().cpu().numpy()
    if cameras is not None and len(cameras):
        cam_up = up if up is not None else framing.up_from_cameras(cameras)
        if cam_up is not None:
            source = "user" if up is not None else "cameras"
            return _view_from_cameras(np.asarray(cameras, np.float64), np.asarray(cam_up, np.float64), means,
                                      width, height, fov_y_deg, source)  # fmt: skip
    orientation = framing.Orientation(np.asarray(up, np.float64), "user") if up is not None else framing.estimate_up(means)
    center, radius = framing.dense_core(means)
    cam = framed_view(center, radius, width, height, fov_y_deg, orientation.up)
    cam.extra.update(up=orientation.up / np.linalg.norm(orientation.up), up_source=orientation.source, target=center)
    return cam


def _view_from_cameras(c2w: np.ndarray, up: np.ndarray, means: np.ndarray, width: int, height: int,
                       fov_y_deg: float, source: str) -> Camera:  # fmt: skip
    from engine import framing

    centers = c2w[:, :3, 3]  # [K, 3]
    eye = centers[int(np.argmin(np.linalg.norm(centers - np.median(centers, 0), axis=1)))]
    target = framing.focus_point(c2w)
    if np.linalg.norm(target - eye) < 1e-9:  # cameras all in one place: look at the splats
        target = framing.dense_core(means)[0] if len(means) else eye + c2w[0, :3, 2]
    cam = Camera.look_at(eye, target, width, height, fov_y_deg, up=up / np.linalg.norm(up), name="home")
    cam.extra.update(up=up / np.linalg.norm(up), up_source=source, target=target)
    return cam


def orbit_views(scene, k: int = 8, width: int = 512, height: int = 512, fov_y_deg: float = HOME_FOV_Y_DEG) -> list[Camera]:
    """K views on a circle around -y through the eye of the robust box's view from HOME_DIRECTION.

    The measurement protocol of ``eval --reference``, ``rd`` and the importance pass: fixed (no
    up estimate, no dense core), so RD figures stay comparable whatever the home view does."""
    center, radius = _frame_scene(scene)
    home = framed_view(center, radius, width, height, fov_y_deg)
    up = WORLD_UP / np.linalg.norm(WORLD_UP)
    offset = home.center - center
    cams = []
    for i in range(k):
        a = 2 * math.pi * i / k
        # Rodrigues rotation of the home offset around the up axis
        rot = (
            offset * math.cos(a)
            + np.cross(up, offset) * math.sin(a)
            + up * np.dot(up, offset) * (1 - math.cos(a))
        )
        cams.append(Camera.look_at(center + rot, center, width, height, fov_y_deg, name=f"orbit_{i:02d}"))
    return cams


# ---------------------------------------------------------------------- screen <-> world (dragging)
def project_points(camera: Camera, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates [P, 2] (pixel centres at integer + 0.5) and camera-space depth [P] of
    world points [P, 3], in the points' precision when they are float32 (a million splat centres
    project in milliseconds), else float64; points at or behind the camera plane give non-finite
    or negative-depth pixels (check ``z > 0``)."""
    p = np.asarray(points)
    p = p.reshape(-1, 3) if p.dtype == np.float32 else p.astype(np.float64).reshape(-1, 3)
    w2c = camera.world_to_camera.astype(p.dtype)
    pc = p @ w2c[:3, :3].T + w2c[:3, 3]  # [P, 3]
    z = pc[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = np.stack([camera.fx * pc[:, 0] / z + camera.cx, camera.fy * pc[:, 1] / z + camera.cy], 1)
    return uv, z


def pixel_ray(camera: Camera, x: float, y: float) -> tuple[np.ndarray, np.ndarray]:
    """Origin [3] and unit direction [3] (world) of the ray through pixel position (x, y)."""
    d = camera.camera_to_world[:3, :3] @ np.array([(x - camera.cx) / camera.fx, (y - camera.cy) / camera.fy, 1.0])
    return camera.center, d / np.linalg.norm(d)


def view_plane_offset(camera: Camera, anchor, dx: float, dy: float) -> np.ndarray:
    """The world displacement [3] in the plane through ``anchor`` [3] parallel to the image that
    moves anchor's projection by (dx, dy) pixels: exact for a pinhole camera (the depth stays the
    same, so a pixel is depth / f world units). Zero when the anchor is not in front."""
    pc = camera.world_to_camera[:3, :3] @ np.asarray(anchor, np.float64) + camera.world_to_camera[:3, 3]
    z = float(pc[2])
    if not z > 0:
        return np.zeros(3)
    return camera.camera_to_world[:3, :3] @ np.array([dx * z / camera.fx, dy * z / camera.fy, 0.0])


def axis_offset(camera: Camera, anchor, axis, dx: float, dy: float, min_foreshortening: float = 0.05) -> float:
    """How far (world units, signed) to move ``anchor`` [3] along ``axis`` [3] so that it lies
    under the pixel its projection reaches after a drag of (dx, dy) pixels: the point of the axis
    line closest to that pixel's ray. Only the drag's component along the axis' on-screen direction
    counts. 0 when the anchor is not in front or the axis points (nearly) at the camera: its screen
length is under ``min_foreshortening`` times that of a direction parallel to the screen."""
    a = np.asarray(axis, np.float64)
    a = a / np.linalg.norm(a)
    anchor = np.asarray(anchor, np.float64)
    w2c = camera.world_to_camera
    x, y, z = w2c[:3, :3] @ anchor + w2c[:3, 3]  # the anchor in camera space
    if not z > 0:
        return 0.0
    ax, ay, az = w2c[:3, :3] @ a
    sd = np.array([camera.fx * (ax * z - x * az), camera.fy * (ay * z - y * az)]) / (z * z)  # pixels per unit along a
    if not np.isfinite(sd).all() or np.linalg.norm(sd) < min_foreshortening * min(camera.fx, camera.fy) / z:
        return 0.0
    u0, v0 = camera.fx * x / z + camera.cx, camera.fy * y / z + camera.cy
    drag = np.array([dx, dy], np.float64)
    along = sd * (drag @ sd) / (sd @ sd)  # the drag projected on the axis' screen direction
    origin, r = pixel_ray(camera, u0 + along[0], v0 + along[1])
    w0 = anchor - origin
    b, d, e = float(a @ r), float(a @ w0), float(r @ w0)
    denom = 1.0 - b * b
    if denom < 1e-12:
        return 0.0
    return (b * e - d) / denom
