"""Interactive camera for the viewport: orbit, pan, zoom, fly and focus (no Qt here).

The state is an OpenCV camera-to-world matrix plus a pivot point the camera orbits around, so a
camera loaded from JSON or a capture is shown exactly; the first orbit re-levels it against the
world up axis. Mouse amounts are in pixels, fly amounts in seconds.
"""

from __future__ import annotations

import math

import numpy as np

from engine.camera import HOME_FOV_Y_DEG, WORLD_UP, Camera, framed_view, home_view

ORBIT_DEG_PER_PX = 0.3
ZOOM_FACTOR_PER_STEP = 0.85  # one wheel notch moves the eye 15% closer to the pivot
FLY_SPEED_RADII_PER_S = 0.5  # scene radii per second; shift makes it 4x
MIN_DISTANCE = 1e-4


def _rotation(axis: np.ndarray, angle: float) -> np.ndarray:  # [3, 3] Rodrigues
    a = axis / max(np.linalg.norm(axis), 1e-12)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * (k @ k)


class CameraController:
    def __init__(self, width: int = 800, height: int = 600, fov_y_deg: float = HOME_FOV_Y_DEG):
        self.width, self.height = width, height
        self.fov_y_deg = fov_y_deg
        self.up = WORLD_UP / np.linalg.norm(WORLD_UP)  # the scene's up (its home view sets it)
        self.up_source = "convention"  # where self.up came from (engine.framing)
        self.c2w = np.eye(4)
        self.c2w[:3, 3] = (0.0, 0.0, -3.0)
        self.pivot = np.zeros(3)
        self.scene_radius = 1.0
        # intrinsics of an exact camera (JSON, capture); None: a symmetric pinhole from fov_y_deg
        self._exact_intrinsics: tuple[float, float, float, float, int, int] | None = None
        self.version = 0  # bumped on every change, so views know when to re-sort and redraw

    # ------------------------------------------------------------------ state in / out
    def _changed(self) -> None:
        self.version += 1

    def camera(self, width: int | None = None, height: int | None = None) -> Camera:
        """The current view as an engine Camera at ``width`` x ``height`` (default: the view's).
        An exact camera (set_camera) of another aspect is fitted, not stretched: its image is the
        centred rectangle ``Camera.image_rect`` of the view, undistorted, with more of the world
        around it (Camera.fitted)."""
        w, h = width or self.width, height or self.height
        if self._exact_intrinsics is not None:
            cam = self.exact_camera()
            return cam if (cam.width, cam.height) == (w, h) else cam.fitted(w, h)
        fy = 0.5 * h / math.tan(math.radians(self.fov_y_deg) / 2)
        return Camera(self.c2w.copy(), fy, fy, w / 2.0, h / 2.0, w, h)

    def exact_camera(self) -> Camera | None:
        """The exact camera being looked through (set_camera: its own intrinsics and image size,
        the current pose), or None when the view is the interactive pinhole."""
        if self._exact_intrinsics is None:
            return None
        fx, fy, cx, cy, ew, eh = self._exact_intrinsics
        return Camera(self.c2w.copy(), fx, fy, cx, cy, ew, eh)

    def set_camera(self, cam: Camera, keep_size: bool = True) -> None:
        """Look exactly through ``cam`` (intrinsics included) until the user changes the FOV."""
        self.c2w = cam.camera_to_world.copy()
        dist = max(np.linalg.norm(cam.center - self.pivot), self.scene_radius)
        self.pivot = cam.center + cam.forward * dist
        self._exact_intrinsics = (cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height)
        self.fov_y_deg = math.degrees(cam.fov_y)
        if not keep_size:
            self.width, self.height = cam.width, cam.height
        self._changed()

    def frame_scene(self, scene, up: np.ndarray | None = None, cameras: np.ndarray | None = None) -> None:
        """Reset to the scene's home view (engine.camera.home_view, with the user's ``up`` and the
        scene's capture ``cameras`` [K, 4, 4] when known); orbit about its up, around its target."""
        home = home_view(scene, self.width, self.height, HOME_FOV_Y_DEG, up=up, cameras=cameras)
        lo, hi = scene.robust_bounds()
        self._set_home(home, max(0.5 * float(np.linalg.norm(np.asarray(hi) - np.asarray(lo))), 1e-6))

    def frame_box(self, lo: np.ndarray, hi: np.ndarray) -> None:
        """A three-quarter view of an axis-aligned box (e.g. around a capture's cameras)."""
        lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
        radius = max(0.5 * float(np.linalg.norm(hi - lo)), 1e-6)
        home = framed_view(0.5 * (lo + hi), radius, self.width, self.height, HOME_FOV_Y_DEG, self.up)
        home.extra["target"] = 0.5 * (lo + hi)
        self._set_home(home, radius)

    def _set_home(self, home: Camera, radius: float) -> None:
        self.scene_radius = radius
        self.pivot = np.asarray(home.extra["target"], np.float64)
        if "up" in home.extra:
            self.up = np.asarray(home.extra["up"], np.float64)
        self.up_source = home.extra.get("up_source", self.up_source)
        self._exact_intrinsics = None
        self.fov_y_deg = HOME_FOV_Y_DEG
        self.c2w = home.camera_to_world.copy()
        self._changed()

    def resize(self, width: int, height: int) -> None:
        if (width, height) != (self.width, self.height):
            self.width, self.height = max(1, width), max(1, height)
            self._changed()

    def set_fov(self, fov_y_deg: float) -> None:
        self._exact_intrinsics = None
        self.fov_y_deg = float(np.clip(fov_y_deg, 5.0, 150.0))
        self._changed()

    # ------------------------------------------------------------------ geometry helpers
    @property
    def eye(self) -> np.ndarray:
        return self.c2w[:3, 3].copy()

    @property
    def distance(self) -> float:
        return float(np.linalg.norm(self.eye - self.pivot))

    def _look_at(self, eye: np.ndarray, target: np.ndarray) -> None:
        z = target - eye
        z /= max(np.linalg.norm(z), 1e-12)
        x = np.cross(z, self.up)
        if np.linalg.norm(x) < 1e-6:  # looking along the up axis: keep the old right vector
            x = self.c2w[:3, 0] - z * np.dot(self.c2w[:3, 0], z)
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        self.c2w[:3, 0], self.c2w[:3, 1], self.c2w[:3, 2], self.c2w[:3, 3] = x, y, z, eye

    # ------------------------------------------------------------------ interactions
    def orbit(self, dx_px: float, dy_px: float) -> None:
        """Left drag: turn around the pivot (yaw about world up, pitch about the camera's right)."""
        yaw = -math.radians(dx_px * ORBIT_DEG_PER_PX)
        pitch = -math.radians(dy_px * ORBIT_DEG_PER_PX)
        offset = self.eye - self.pivot
        offset = _rotation(self.up, yaw) @ offset
        right = np.cross(offset, self.up)
        if np.linalg.norm(right) > 1e-9:
            new = _rotation(right, pitch) @ offset
            # stop short of the poles so the view never flips over
            if abs(np.dot(new / np.linalg.norm(new), self.up)) < 0.995:
                offset = new
        self._look_at(self.pivot + offset, self.pivot)
        self._changed()

    def pan(self, dx_px: float, dy_px: float) -> None:
        """Middle drag (or shift + left): move eye and pivot in the image plane."""
        cam = self.camera()
        per_px = max(self.distance, MIN_DISTANCE) / cam.fy
        shift = -self.c2w[:3, 0] * dx_px * per_px - self.c2w[:3, 1] * dy_px * per_px
        self.c2w[:3, 3] += shift
        self.pivot = self.pivot + shift
        self._changed()

    def zoom(self, steps: float) -> None:
        """Wheel: move toward (steps > 0) or away from the pivot."""
        offset = self.eye - self.pivot
        dist = max(np.linalg.norm(offset) * ZOOM_FACTOR_PER_STEP**steps, MIN_DISTANCE)
        self.c2w[:3, 3] = self.pivot + offset / max(np.linalg.norm(offset), 1e-12) * dist
        self._changed()

    def look(self, dx_px: float, dy_px: float) -> None:
        """Fly mode drag: turn the camera about its own position; the pivot moves with it."""
        eye = self.eye
        fwd = self.c2w[:3, 2]
        fwd = _rotation(self.up, -math.radians(dx_px * ORBIT_DEG_PER_PX)) @ fwd
        right = np.cross(fwd, self.up)
        new = _rotation(right, -math.radians(dy_px * ORBIT_DEG_PER_PX)) @ fwd
        if abs(np.dot(new, self.up)) < 0.995:
            fwd = new
        dist = max(self.distance, MIN_DISTANCE)
        self._look_at(eye, eye + fwd)
        self.pivot = eye + fwd * dist
        self._changed()

    def fly(self, forward: float, right: float, up: float, seconds: float, fast: bool = False) -> None:
        """WASD/QE: move along the view (forward, right) and world up, in scene radii per second."""
        speed = FLY_SPEED_RADII_PER_S * self.scene_radius * (4.0 if fast else 1.0)
        move = (self.c2w[:3, 2] * forward + self.c2w[:3, 0] * right + self.up * up) * speed * seconds
        self.c2w[:3, 3] += move
        self.pivot = self.pivot + move
        self._changed()

    def focus(self, point: np.ndarray, radius: float | None = None) -> None:
        """F: turn to ``point`` and make it the pivot; with ``radius``, frame a sphere that size."""
        point = np.asarray(point, np.float64)
        dist = self.distance if radius is None else radius / math.sin(math.radians(self.fov_y_deg) / 2) * 1.1
        direction = self.c2w[:3, 2]
        self.pivot = point
        self._look_at(point - direction * max(dist, MIN_DISTANCE), point)
        self._changed()

    def ray(self, x_px: float, y_px: float) -> tuple[np.ndarray, np.ndarray]:
        """World ray (origin, unit direction) through a viewport pixel position."""
        cam = self.camera()
        d_cam = np.array([(x_px - cam.cx) / cam.fx, (y_px - cam.cy) / cam.fy, 1.0])
        d = self.c2w[:3, :3] @ d_cam
        return self.eye, d / np.linalg.norm(d)


def nearest_splat_on_ray(means: np.ndarray, origin: np.ndarray, direction: np.ndarray, max_angle_deg: float = 2.0):
    """Index of the splat centre closest to a ray (within a small cone in front), or None.

    means: [N, 3]. Used by "focus on the splat under the cursor".
    """
    if len(means) == 0:
        return None
    rel = means.astype(np.float64) - origin  # [N, 3]
    t = rel @ direction
    perp = np.linalg.norm(rel - t[:, None] * direction, axis=1)
    ok = (t > 0) & (perp <= t * math.tan(math.radians(max_angle_deg)))
    if not ok.any():
        return None
    idx = np.nonzero(ok)[0]
    return int(idx[np.argmin(t[idx])])
