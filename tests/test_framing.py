"""The home view: which way is up and what it frames (engine.framing, engine.camera.home_view)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from engine import framing
from engine.camera import home_view
from engine.cli import main
from engine.errors import InputError
from engine.scene import GaussianScene


def _scene(points: np.ndarray) -> GaussianScene:
    n = len(points)
    return GaussianScene.from_activated(
        torch.as_tensor(points, dtype=torch.float32),
        torch.tensor([[1.0, 0, 0, 0]]).repeat(n, 1),
        torch.full((n, 3), 0.01),
        torch.full((n,), 0.8),
        torch.zeros(n, 1, 3),
    )


def _figure_on_a_floor(rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A person-like column standing on a floor, in COLMAP axes (up is -y): points [N, 3], and
    the head and the feet [3]."""
    floor = np.c_[rng.uniform(-1, 1, 3000), np.full(3000, 1.0), rng.uniform(-1, 1, 3000)]
    body = np.c_[rng.normal(0, 0.05, 2000), rng.uniform(-1.0, 1.0, 2000), rng.normal(0, 0.05, 2000)]
    return np.r_[floor, body], np.array([0.0, -1.0, 0.0]), np.array([0.0, 1.0, 0.0])


ROTATIONS = {  # world -> world, taking COLMAP's up (-y) to the named up
    "-y": np.eye(3),
    "+y": np.diag([-1.0, -1.0, 1.0]),  # half a turn about z (what SuperSplat does on load)
    "+z": np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]]),  # a quarter turn about x
    "-x": np.array([[0.0, 1, 0], [-1, 0, 0], [0, 0, 1]]),  # a quarter turn about z
}


def _pixel(cam, point: np.ndarray) -> np.ndarray:
    p = cam.world_to_camera @ np.r_[point, 1.0]
    return np.array([cam.fx * p[0] / p[2] + cam.cx, cam.fy * p[1] / p[2] + cam.cy])


@pytest.mark.parametrize("up", list(ROTATIONS))
def test_a_figure_stands_head_up_in_the_home_view_whatever_its_up_axis(up):
    rng = np.random.default_rng(0)
    pts, head, feet = _figure_on_a_floor(rng)
    r = ROTATIONS[up]
    scene = _scene(pts @ r.T)
    cam = home_view(scene, 200, 200)
    assert framing.axis_label(cam.extra["up"]) == up
    assert cam.extra["up_source"] == "floor plane"
    head_px, feet_px = _pixel(cam, r @ head), _pixel(cam, r @ feet)
    assert head_px[1] < feet_px[1] - 40, (up, head_px, feet_px)  # the head is drawn above the feet
    assert abs(head_px[0] - feet_px[0]) < 0.5 * abs(head_px[1] - feet_px[1])  # and upright


def test_a_flat_object_lies_on_its_flat_side_and_no_evidence_keeps_the_convention():
    rng = np.random.default_rng(1)
    ring = rng.normal(size=(4000, 3)) * [1.0, 1.0, 0.2]  # a flat z-up blob (like the donut)
    assert framing.estimate_up(ring).source == "flat side"
    assert framing.axis_label(framing.estimate_up(ring).up) == "+z"
    ball = rng.normal(size=(4000, 3))
    assert framing.estimate_up(ball).source == "convention"
    assert framing.axis_label(framing.estimate_up(ball).up) == "-y"


def test_the_users_up_wins_and_bad_names_are_bad_input():
    scene = _scene(np.random.default_rng(2).normal(size=(500, 3)))
    cam = home_view(scene, 100, 100, up=framing.parse_up("+x"))
    assert cam.extra["up_source"] == "user" and framing.axis_label(cam.extra["up"]) == "+x"
    assert np.allclose(framing.parse_up("z"), [0, 0, 1])
    with pytest.raises(InputError, match="up axis"):
        framing.parse_up("up")


def _ring_of_cameras(center: np.ndarray, radius: float, up: np.ndarray, height: float, k: int = 12) -> np.ndarray:
    """Camera-to-world matrices [k, 4, 4] (OpenCV) on a ring around ``up`` looking at ``center``."""
    from engine.camera import Camera

    a = np.cross(up, [1.0, 0.3, 0.1])
    a /= np.linalg.norm(a)
    b = np.cross(up, a)
    out = []
    for i in range(k):
        t = 2 * math.pi * i / k
        eye = center + radius * (math.cos(t) * a + math.sin(t) * b) + height * up
        out.append(Camera.look_at(eye, center, 64, 64, up=up).camera_to_world)
    return np.stack(out)


def test_cameras_beside_the_scene_give_its_up_and_a_view_from_where_they_stood(tmp_path):
    """A cameras.json (INRIA layout, as splatlab train writes) two folders above the PLY."""
    rng = np.random.default_rng(3)
    scene = _scene(rng.normal(size=(2000, 3)) * 0.3)
    up = np.array([0.0, 0.0, 1.0])
    c2w = _ring_of_cameras(np.zeros(3), 4.0, up, 1.0)
    entries = [{"id": i, "position": m[:3, 3].tolist(), "rotation": m[:3, :3].tolist()} for i, m in enumerate(c2w)]
    (tmp_path / "cameras.json").write_text(json.dumps(entries))
    ply = tmp_path / "point_cloud" / "iteration_7000" / "point_cloud.ply"
    ply.parent.mkdir(parents=True)
    found = framing.cameras_beside(ply)
    assert found is not None and np.allclose(found, c2w)
    cam = home_view(scene, 100, 100, cameras=found)
    assert cam.extra["up_source"] == "cameras" and np.allclose(cam.extra["up"], up, atol=1e-6)
    assert min(np.linalg.norm(c2w[:, :3, 3] - cam.center, axis=1)) < 1e-9  # from a capture camera
    assert np.linalg.norm(cam.extra["target"]) < 1e-6  # looking at what the cameras look at
    assert framing.cameras_beside(tmp_path / "elsewhere" / "a" / "b" / "c.ply") is None


def _room_with_a_small_object(rng) -> tuple[np.ndarray, float]:
    """A 10 x 4 x 10 room (walls, floor, ceiling) around a dense object of radius 0.3 at the
    origin, plus floaters far outside: points [N, 3] and the object's radius."""
    obj = rng.normal(size=(30_000, 3))
    obj = obj / np.linalg.norm(obj, axis=1, keepdims=True) * 0.3 * rng.uniform(0.8, 1.0, (30_000, 1))
    walls = []
    for axis, lim in ((0, 5.0), (1, 2.0), (2, 5.0)):
        for sign in (-1, 1):
            p = rng.uniform(-1, 1, (6000, 3)) * [5.0, 2.0, 5.0]
            p[:, axis] = sign * lim
            walls.append(p)
    floaters = rng.uniform(-40, 40, (3000, 3))
    return np.r_[(obj, *walls, floaters)], 0.3


def test_a_room_scale_scene_frames_its_dense_core_not_the_room_from_outside():
    pts, obj_radius = _room_with_a_small_object(np.random.default_rng(4))
    scene = _scene(pts)
    cam = home_view(scene, 400, 400)
    assert np.linalg.norm(cam.extra["target"]) < 0.5
    on_screen = obj_radius * cam.fy / np.linalg.norm(cam.center)  # the object's radius in pixels
    assert on_screen > 0.15 * cam.height
    # the old framing (2nd-98th percentile box of every splat) put the eye outside the room
    lo, hi = scene.robust_bounds()
    assert 0.5 * np.linalg.norm(hi - lo) > 6


def test_a_room_scale_scene_with_cameras_is_seen_from_inside_the_room():
    pts, _ = _room_with_a_small_object(np.random.default_rng(5))
    c2w = _ring_of_cameras(np.zeros(3), 2.0, np.array([0.0, -1.0, 0.0]), 0.8)
    cam = home_view(_scene(pts), 200, 200, cameras=c2w)
    assert np.all(np.abs(cam.center) < [5, 2, 5])  # inside the walls
    assert np.linalg.norm(cam.extra["target"]) < 1e-6


def test_cli_render_takes_an_up_axis_and_refuses_a_bad_one(tmp_path, capsys):
    from engine import io

    rng = np.random.default_rng(6)
    pts, _, _ = _figure_on_a_floor(rng)
    path = tmp_path / "figure.ply"
    io.save(_scene(pts), path)
    assert main(["render", str(path), "-o", str(tmp_path / "a.png"), "--width", "64", "--up", "-z"]) == 0
    assert main(["render", str(path), "-o", str(tmp_path / "b.png"), "--up", "sideways"]) == 2
    assert "up axis 'sideways'" in capsys.readouterr().err
