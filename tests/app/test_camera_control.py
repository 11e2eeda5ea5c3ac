"""The viewport's camera controller (pure Python: no display needed)."""

from __future__ import annotations

import numpy as np
import pytest

from app.viewport.camera_control import CameraController, nearest_splat_on_ray
from engine import io
from engine.camera import Camera, home_view


@pytest.fixture
def ctl(donut_path):
    c = CameraController(640, 480)
    scene = io.load(donut_path)
    c.frame_scene(scene)
    c.scene = scene
    return c


def test_frame_scene_is_the_engine_home_view(ctl):
    home = home_view(ctl.scene, 640, 480)
    assert np.allclose(ctl.camera().camera_to_world, home.camera_to_world)
    assert ctl.camera().fy == pytest.approx(home.fy)


def test_orbit_keeps_distance_and_looks_at_the_pivot(ctl):
    d = ctl.distance
    ctl.orbit(120, -40)
    assert ctl.distance == pytest.approx(d, rel=1e-9)
    to_pivot = (ctl.pivot - ctl.eye) / d
    assert np.allclose(ctl.c2w[:3, 2], to_pivot, atol=1e-9)
    r = ctl.c2w[:3, :3]
    assert np.allclose(r.T @ r, np.eye(3), atol=1e-9) and np.linalg.det(r) == pytest.approx(1.0)


def test_orbit_never_flips_over_the_pole(ctl):
    for _ in range(50):
        ctl.orbit(0, -200)
    up = ctl.up
    assert abs(np.dot(ctl.c2w[:3, 2], up)) < 0.999
    assert np.dot(-ctl.c2w[:3, 1], up) > -1e-6  # image up still points roughly world-up


def test_pan_moves_eye_and_pivot_by_the_same_amount(ctl):
    e0, p0 = ctl.eye, ctl.pivot.copy()
    ctl.pan(30, -10)
    assert np.allclose(ctl.eye - e0, ctl.pivot - p0)
    assert np.linalg.norm(ctl.eye - e0) > 0


def test_zoom_moves_toward_the_pivot(ctl):
    d = ctl.distance
    ctl.zoom(2)
    assert ctl.distance == pytest.approx(d * 0.85**2)
    ctl.zoom(-2)
    assert ctl.distance == pytest.approx(d)


def test_fly_moves_along_the_view_and_shift_is_faster(ctl):
    e0 = ctl.eye
    ctl.fly(1, 0, 0, 0.1)
    slow = ctl.eye - e0
    assert np.dot(slow, ctl.c2w[:3, 2]) > 0
    e1 = ctl.eye
    ctl.fly(1, 0, 0, 0.1, fast=True)
    assert np.linalg.norm(ctl.eye - e1) == pytest.approx(4 * np.linalg.norm(slow))


def test_set_camera_shows_an_exact_camera(ctl):
    cam = Camera.look_at(np.array([0.3, -0.2, 0.4]), np.zeros(3), 800, 600, 30.0)
    cam.cx += 7  # off-centre principal point survives
    ctl.set_camera(cam)
    got = ctl.camera(800, 600)
    assert np.allclose(got.camera_to_world, cam.camera_to_world)
    assert (got.fx, got.fy, got.cx, got.cy) == pytest.approx((cam.fx, cam.fy, cam.cx, cam.cy))
    half = ctl.camera(400, 300)
    assert half.cx == pytest.approx(cam.cx / 2)
    # another aspect: fitted, not stretched (square pixels, the image centred in the view)
    wide = ctl.camera(1000, 600)
    assert wide.fx / wide.fy == pytest.approx(cam.fx / cam.fy)
    assert (wide.fy, wide.cx, wide.cy) == pytest.approx((cam.fy, cam.cx + 100, cam.cy))
    assert cam.image_rect(1000, 600) == pytest.approx((100, 0, 800, 600))
    assert ctl.exact_camera().width == 800
    ctl.set_fov(40)
    assert ctl.exact_camera() is None


def test_focus_and_ray_pick_a_splat(ctl):
    means = ctl.scene.means.numpy()
    origin, direction = ctl.ray(320, 240)
    idx = nearest_splat_on_ray(means, origin, direction, max_angle_deg=5)
    assert idx is not None
    ctl.focus(means[idx])
    assert np.allclose(ctl.pivot, means[idx])
    assert np.allclose(ctl.c2w[:3, 2], (ctl.pivot - ctl.eye) / ctl.distance, atol=1e-9)


def test_version_counts_changes(ctl):
    v = ctl.version
    ctl.orbit(1, 1)
    ctl.resize(100, 100)
    ctl.resize(100, 100)  # no change
    assert ctl.version == v + 2
