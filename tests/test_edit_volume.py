"""Dragging volumes in a view (engine.camera screen <-> world maths, engine.edit.volume), picking
the splat under a pixel, grow / shrink masks off the session, and mirrors about a plane."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.camera import Camera, axis_offset, pixel_ray, project_points, view_plane_offset
from engine.edit import EditSession, select, transform, volume
from tests.conftest import random_scene


def _camera(eye=(0.3, -0.8, -3.0), target=(0.0, 0.0, 0.0), size=(320, 240)) -> Camera:
    return Camera.look_at(np.array(eye), np.array(target), *size, fov_y_deg=50.0)


def _px(cam: Camera, point) -> tuple[float, float, float]:
    """Pixel x, y and depth of one world point."""
    uv, z = project_points(cam, point)
    return float(uv[0, 0]), float(uv[0, 1]), float(z[0])


def test_view_plane_offset_moves_the_projection_by_the_drag_and_keeps_the_depth():
    cam = _camera()
    anchor = np.array([0.2, 0.1, 0.3])
    u0, v0, z0 = _px(cam, anchor)
    for dx, dy in [(10.0, 0.0), (0.0, -25.0), (37.5, 12.25), (-200.0, 90.0)]:
        u1, v1, z1 = _px(cam, anchor + view_plane_offset(cam, anchor, dx, dy))
        assert (u1 - u0, v1 - v0) == pytest.approx((dx, dy), abs=1e-9)  # exact for a pinhole
        assert z1 == pytest.approx(z0, rel=1e-12)  # in the plane parallel to the screen
    assert np.array_equal(view_plane_offset(cam, cam.center - 2 * cam.forward, 5, 5), np.zeros(3))  # behind: no move


def test_axis_offset_follows_the_pointer_along_the_axis():
    cam = _camera()
    anchor = np.array([0.1, 0.0, 0.2])
    axis = np.array([1.0, 0.0, 0.0])
    u0, v0, _ = _px(cam, anchor)
    t = 0.37
    u1, v1, _ = _px(cam, anchor + t * axis)
    dx, dy = u1 - u0, v1 - v0
    assert axis_offset(cam, anchor, axis, dx, dy) == pytest.approx(t, rel=1e-9)  # exact, not linearised
    assert axis_offset(cam, anchor, -axis, dx, dy) == pytest.approx(-t, rel=1e-9)
    # a drag across the axis' screen direction does not move along it
    sx, sy = dx / np.hypot(dx, dy), dy / np.hypot(dx, dy)
    assert axis_offset(cam, anchor, axis, -sy * 40, sx * 40) == pytest.approx(0.0, abs=1e-9)
    # an axis pointing at the camera cannot be dragged
    assert axis_offset(cam, anchor, anchor - cam.center, 30, 10) == 0.0
    origin, d = pixel_ray(cam, cam.cx, cam.cy)
    assert np.allclose(origin, cam.center) and np.allclose(d, cam.forward)


def test_drag_moves_the_centre_and_sizes_by_the_handles():
    cam = _camera()
    box = {"center": [0.0, 0.0, 0.0], "size": [1.0, 0.5, 0.8]}
    moved = volume.drag("box", box, "center", cam, 30, -10)
    assert np.allclose(moved["size"], box["size"]) and box["center"] == [0.0, 0.0, 0.0]  # the input is kept
    u0, v0, _ = _px(cam, np.zeros(3))
    u1, v1, _ = _px(cam, moved["center"])
    assert (u1 - u0, v1 - v0) == pytest.approx((30, -10))
    # the +x face follows the pointer; the -x face stays
    face = volume.handles("box", box, cam)["+x"]
    fu, fv, _ = _px(cam, face + np.array([0.25, 0, 0]))
    f0u, f0v, _ = _px(cam, face)
    grown = volume.drag("box", box, "+x", cam, fu - f0u, fv - f0v)
    assert grown["size"][0] == pytest.approx(1.25) and grown["center"][0] == pytest.approx(0.125)
    assert grown["center"][0] - grown["size"][0] / 2 == pytest.approx(-0.5)
    shrunk = volume.drag("box", box, "-y", cam, 0, 0)
    assert np.allclose(shrunk["size"], box["size"]) and np.allclose(shrunk["center"], 0)
    tiny = volume.drag("box", box, "+x", cam, -(fu - f0u) * 100, -(fv - f0v) * 100)
    assert tiny["size"][0] == volume.MIN_SIZE

    sphere = {"center": [0.1, 0.0, 0.0], "radius": 0.5}
    h = volume.handles("sphere", sphere, cam)["radius"]
    hu, _, hz = _px(cam, h)
    cu, _, cz = _px(cam, sphere["center"])
    assert hu > cu and hz == pytest.approx(cz)  # on the right, at the centre's depth
    pixels_per_unit = (hu - cu) / 0.5
    bigger = volume.drag("sphere", sphere, "radius", cam, 0.25 * pixels_per_unit, 0)
    assert bigger["radius"] == pytest.approx(0.75) and bigger["center"] == sphere["center"]
    assert volume.scaled("sphere", sphere, 2.0)["radius"] == 1.0
    assert np.allclose(volume.scaled("box", box, 0.5)["size"], [0.5, 0.25, 0.4])
    with pytest.raises(ValueError):
        volume.drag("sphere", sphere, "+x", cam, 1, 1)
    with pytest.raises(ValueError):
        volume.scaled("box", box, 0.0)


def test_pick_outline_and_clipping():
    cam = _camera()
    box = {"center": [0.0, 0.0, 0.0], "size": [1.0, 1.0, 1.0]}
    cu, cv, _ = _px(cam, np.zeros(3))
    assert volume.pick("box", box, cam, cu + 2, cv - 1)[0] == "center"
    fu, fv, _ = _px(cam, volume.handles("box", box, cam)["-z"])
    assert volume.pick("box", box, cam, fu, fv)[0] == "-z"
    assert volume.pick("box", box, cam, 2, 2) is None  # far from everything
    seg = volume.project_segments(cam, volume.outline("box", box, cam))
    assert seg.shape == (12, 2, 2)
    mid = seg[0].mean(0)  # on an edge, away from the handles: grabs the whole volume
    hit = volume.pick("box", box, cam, *mid)
    assert hit is not None and hit[0] in ("center", *volume.FACES)
    if hit[0] == "center":  # by the outline: not when only the dots grab
        assert volume.pick("box", box, cam, *mid, outline_moves=False) is None
    sphere = volume.outline("sphere", {"center": [0, 0, 0], "radius": 0.5}, cam, n=32)
    assert sphere.shape == (4 * 32, 2, 3)  # three great circles and the silhouette
    # a segment through the camera plane is cut at the near plane; one behind it is dropped
    behind = cam.center - cam.forward
    clipped = volume.project_segments(cam, np.stack([np.stack([behind, np.zeros(3)]), np.stack([behind, behind * 1.01])]))
    assert clipped.shape == (1, 2, 2) and np.isfinite(clipped).all()


def test_pick_takes_the_front_splat_under_the_pixel():
    scene = random_scene(3, seed=1)
    with torch.no_grad():
        scene.means[:] = torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.0, 0.0]])
    cam = Camera.look_at(np.array([0.0, 0.0, -3.0]), np.zeros(3), 200, 200, 40.0)
    u, v, _ = _px(cam, np.zeros(3))
    assert select.pick(scene, cam, u + 1, v) == 0  # splat 1 is behind splat 0 on the same pixel
    assert select.pick(scene, cam, u, v, visible=np.array([False, True, True])) == 1
    assert select.pick(scene, cam, 5, 5) is None


def test_grown_and_border_are_the_masks_grow_and_shrink_apply():
    s = EditSession(random_scene(300, seed=3))
    s.select(np.arange(300) < 40)
    sel, vis = s.selected, s.visible_mask
    mask = select.grown(s.scene, sel, vis, k=4)
    edge = select.border(s.scene, sel, vis, k=4)
    assert (mask & sel).sum() == sel.sum() and mask.sum() > sel.sum() and not (edge & ~sel).any()
    select.grow(s, k=4)
    assert np.array_equal(s.selected, mask)
    s.undo()
    select.shrink(s, k=4)
    assert np.array_equal(s.selected, sel & ~edge)


def test_mirror_about_a_plane_and_undo_bit_for_bit():
    s = EditSession(random_scene(500, sh_degree=2, seed=5))
    before = [t.clone() for t in (s.scene.means, s.scene.quats, s.scene.sh)]
    edit = transform.mirror(s, "x", plane=0.25)
    assert "x = 0.25" in edit.label
    assert torch.allclose(s.scene.means[:, 0], 0.5 - before[0][:, 0], atol=1e-6)
    assert torch.equal(s.scene.means[:, 1:], before[0][:, 1:])
    mirrored_origin = EditSession(random_scene(500, sh_degree=2, seed=5))
    transform.mirror(mirrored_origin, "x")
    assert torch.equal(s.scene.sh, mirrored_origin.scene.sh) and torch.equal(s.scene.quats, mirrored_origin.scene.quats)
    s.undo()
    assert all(torch.equal(a, b) for a, b in zip(before, (s.scene.means, s.scene.quats, s.scene.sh)))
    with pytest.raises(ValueError):
        transform.mirror(s, "y", plane=float("nan"))
