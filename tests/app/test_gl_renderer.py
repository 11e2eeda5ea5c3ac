"""The GL viewport renderer on a standalone EGL context (no Qt, no display): parity with the engine
render (PSNR >= 35 dB), depth sorting, the background sorter, scissor
for the A/B split, display modes.
"""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch

from engine import io
from engine.camera import Camera, home_view
from engine.metrics import psnr
from engine.render import render
from tests.conftest import DONUT, data_path, random_scene

moderngl = pytest.importorskip("moderngl")

from app.viewport.gl_renderer import DisplaySettings, SplatRenderer, prepare_splats  # noqa: E402
from app.viewport.offscreen import offscreen_lock, render_offscreen  # noqa: E402
from app.viewport.sorting import BackgroundSorter, depth_order, view_changed_enough, view_depths  # noqa: E402

MIN_PSNR = 35.0



def _sh3_scene(n: int = 3000, seed: int = 1):
    s = random_scene(n, sh_degree=3, seed=seed)
    s.sh[:, 1:] *= 2.0  # strong view dependence
    return s


def _parity(scene, cam, settings=None, **engine_kw) -> float:
    ref = render(scene, cam, **engine_kw).image_uint8()
    img = render_offscreen(scene, cam, settings)
    assert img.shape == ref.shape and img.dtype == np.uint8
    return psnr(img, ref)


# ---------------------------------------------------------------------- parity with the engine
def test_parity_donut(egl):
    scene = io.load(DONUT)
    db = _parity(scene, home_view(scene, 384, 384))
    print(f"donut: {db:.2f} dB")
    assert db >= MIN_PSNR


def test_parity_biker(egl):
    scene = io.load(data_path("scenes/biker_playcanvas/biker.spz"))
    db = _parity(scene, home_view(scene, 400, 400))
    print(f"biker: {db:.2f} dB")
    assert db >= MIN_PSNR


def test_parity_random_sh3(egl):
    """SH evaluation (all bands and the degree limit), antialiasing, background, splat scale, an
    off-centre principal point with fx != fy, and a camera inside the cloud (near plane, guard band)."""
    s = _sh3_scene()
    cam = home_view(s, 320, 240)
    off = Camera(cam.camera_to_world, cam.fx * 1.1, cam.fy * 0.9, cam.cx + 37.3, cam.cy - 21.7, 320, 240)
    inside = Camera.look_at(np.array([0.3, 0.2, -0.4]), np.zeros(3), 256, 200, 70.0)
    cases = {
        "sh3": (s, cam, None, {}),
        "sh limit 1": (s, cam, DisplaySettings(sh_degree_limit=1), {"sh_degree": 1}),
        "sh2 scene": (s.with_sh_degree(2), cam, None, {}),
        "antialiased": (s, cam, DisplaySettings(antialiased=True), {"antialiased": True}),
        "background": (s, cam, DisplaySettings(background=(0.2, 0.5, 1.0)), {"background": (0.2, 0.5, 1.0)}),
        "off-centre": (s, off, None, {}),
        "inside": (s, inside, None, {}),
    }
    for name, (scene, c, settings, kw) in cases.items():
        db = _parity(scene, c, settings, **kw)
        print(f"{name}: {db:.2f} dB")
        assert db >= MIN_PSNR, name
    scaled = s.replace(log_scales=s.log_scales + math.log(1.7))
    db = psnr(render_offscreen(s, cam, DisplaySettings(splat_scale=1.7)), render(scaled, cam).image_uint8())
    print(f"splat_scale 1.7: {db:.2f} dB")
    assert db >= MIN_PSNR


def test_antialiased_flag_from_scene_meta(egl):
    s = random_scene(3000, seed=3)
    s = s.replace(log_scales=s.log_scales - 2.5)  # small splats: compensation matters
    s.meta["antialiased"] = True
    cam = home_view(s, 200, 200)
    auto = render_offscreen(s, cam)
    assert psnr(auto, render(s, cam).image_uint8()) >= MIN_PSNR  # engine reads the same flag
    assert np.array_equal(auto, render_offscreen(s, cam, DisplaySettings(antialiased=True)))
    assert not np.array_equal(auto, render_offscreen(s, cam, DisplaySettings(antialiased=False)))


def test_empty_scene_and_view_from_behind(egl):
    s = random_scene(100)
    cam = home_view(s, 64, 48)
    bg = (0.25, 0.5, 0.75)
    empty = render_offscreen(s.subset(slice(0, 0)), cam, DisplaySettings(background=bg))
    assert (empty == np.round(np.array(bg) * 255).astype(np.uint8)).all()
    c2w = cam.camera_to_world.copy()
    c2w[:3, 0] *= -1
    c2w[:3, 2] *= -1  # turn around
    away = Camera(c2w, cam.fx, cam.fy, cam.cx, cam.cy, 64, 48)
    assert (render_offscreen(s, away) == 0).all()


# ---------------------------------------------------------------------- sorting
def test_depth_order_near_to_far():
    rng = np.random.default_rng(0)
    means = rng.normal(size=(50_000, 3)).astype(np.float32) * [3.0, 2.0, 4.0]
    cam = Camera.look_at(np.array([0.0, -1.0, -12.0]), np.zeros(3), 640, 480)
    z = view_depths(means, cam).astype(np.float64)
    order = depth_order(means, cam)
    assert order.dtype == np.uint32 and order.shape == (50_000,)
    assert np.array_equal(np.sort(order), np.arange(50_000))
    zs = z[order]
    front = zs > 0.01
    assert not front[np.argmin(front):].any() or front.all()  # behind-the-camera splats go last
    zf = zs[front]
    # non-decreasing up to the 16-bit key's relative resolution
    assert np.all(np.diff(zf) >= -2e-3 * zf[1:])
    ref = np.argsort(np.where(z > 0.01, z, np.inf), kind="stable")  # behind the camera: last
    rank = np.empty(50_000, np.int64)
    rank[ref] = np.arange(50_000)
    assert np.abs(rank[order] - np.arange(50_000)).max() < 200  # only near-ties move
    # well-separated depths (one per key bucket): exactly np.argsort
    zz = np.geomspace(0.5, 50.0, 2000)[rng.permutation(2000)]
    pts = np.stack([np.zeros(2000), np.zeros(2000), zz - 12.0], 1).astype(np.float32)
    assert np.array_equal(depth_order(pts, cam), np.argsort(view_depths(pts, cam), kind="stable"))


def test_view_changed_enough():
    cam = Camera.look_at(np.array([0.0, 0.0, -10.0]), np.zeros(3), 100, 100)
    assert view_changed_enough(None, cam)
    assert not view_changed_enough(cam, cam)
    moved = Camera.look_at(np.array([0.0, 0.0, -10.05]), np.array([0.0, 0.0, -0.05]), 100, 100)
    assert not view_changed_enough(cam, moved, scene_scale=10.0)  # 0.5 % of the scene
    assert view_changed_enough(cam, moved, scene_scale=1.0)  # 5 %
    turned = Camera.look_at(np.array([0.0, 0.0, -10.0]), np.array([0.2, 0.0, 0.0]), 100, 100)  # 1.1 deg
    assert view_changed_enough(cam, turned, scene_scale=10.0)
    small_turn = Camera.look_at(np.array([0.0, 0.0, -10.0]), np.array([0.05, 0.0, 0.0]), 100, 100)
    assert not view_changed_enough(cam, small_turn, scene_scale=10.0)


def test_background_sorter_keeps_latest():
    rng = np.random.default_rng(1)
    means = rng.normal(size=(1000, 3)).astype(np.float32)
    cams = [Camera.look_at(np.array([math.cos(a) * 8, 0.0, math.sin(a) * 8]), np.zeros(3), 64, 64) for a in (0, 1, 2, 3)]
    results, gate, first_started = [], threading.Event(), threading.Event()
    caller = threading.get_ident()

    def on_done(order, token, seconds):
        results.append((order, token, seconds, threading.get_ident()))
        first_started.set()
        gate.wait(5.0)  # hold the worker so the next requests pile up

    with BackgroundSorter(on_done) as sorter:
        sorter.request(means, cams[0], token=0)
        assert first_started.wait(5.0)
        for i in (1, 2, 3):  # 1 and 2 are superseded before the worker is free
            sorter.request(means, cams[i], token=i)
        gate.set()
        assert sorter.wait_idle(5.0)
    assert [r[1] for r in results] == [0, 3]
    for order, token, seconds, thread in results:
        assert np.array_equal(order, depth_order(means, cams[token]))
        assert seconds >= 0 and thread != caller
    with pytest.raises(RuntimeError):
        sorter.request(means, cams[0])


# ---------------------------------------------------------------------- renderer features
def _draw(renderer: SplatRenderer, cam: Camera, fbo, **kw) -> np.ndarray:
    """Render, then read the whole target back, top row first."""
    renderer.render(cam, fbo, **kw)
    w, h = fbo.size
    data = fbo.read(viewport=(0, 0, w, h), components=3, alignment=1)
    return np.frombuffer(data, np.uint8).reshape(h, w, 3)[::-1]


def test_scissor_split_view(egl):
    """Scene A in the left half, scene B in the right half of one target (A/B split view)."""
    a, b = random_scene(2000, seed=4), _sh3_scene(2000, seed=5)
    cam = home_view(a, 160, 120)
    with offscreen_lock(), egl.ctx:
        ra, rb = SplatRenderer(egl.ctx), SplatRenderer(egl.ctx)
        try:
            for r, s in ((ra, a), (rb, b)):
                p = prepare_splats(s)
                r.set_splats(p)
                r.set_order(depth_order(p.means, cam))
            fbo = egl.framebuffer(160, 120)
            full_a = _draw(ra, cam, fbo).copy()
            full_b = _draw(rb, cam, fbo).copy()
            ra.render(cam, fbo, DisplaySettings(), scissor=(0, 0, 80, 120), clear=True)
            split = _draw(rb, cam, fbo, settings=DisplaySettings(), scissor=(80, 0, 80, 120), clear=False)
            # clear=False outside the scissor: B drawn on a cleared target leaves its left half alone
            fbo.clear(1.0, 0.0, 0.0, 1.0)
            red = _draw(rb, cam, fbo, scissor=(80, 0, 80, 120), clear=False)
        finally:
            ra.release()
            rb.release()
    assert not np.array_equal(full_a, full_b)
    assert np.array_equal(split[:, :80], full_a[:, :80])
    assert np.array_equal(split[:, 80:], full_b[:, 80:])
    assert (red[:, :80] == [255, 0, 0]).all()
    assert np.array_equal(red[:, 80:], full_b[:, 80:])


def test_viewport_side_by_side(egl):
    """Each scene in its own half of the target, at the half's size (``viewport=``)."""
    a, b = random_scene(2000, seed=7), _sh3_scene(2000, seed=8)
    cam = home_view(a, 90, 100)
    alone_a, alone_b = render_offscreen(a, cam), render_offscreen(b, cam)
    with offscreen_lock(), egl.ctx:
        ra, rb = SplatRenderer(egl.ctx), SplatRenderer(egl.ctx)
        try:
            for r, s in ((ra, a), (rb, b)):
                p = prepare_splats(s)
                r.set_splats(p)
                r.set_order(depth_order(p.means, cam))
            fbo = egl.framebuffer(180, 100)
            ra.render(cam, fbo, viewport=(0, 0, 90, 100))
            both = _draw(rb, cam, fbo, viewport=(90, 0, 90, 100), clear=False)
            with pytest.raises(ValueError):
                ra.render(cam, fbo, viewport=(0, 0, 100, 100))
        finally:
            ra.release()
            rb.release()
    assert np.array_equal(both[:, :90], alone_a)
    assert np.array_equal(both[:, 90:], alone_b)


def test_display_modes_and_settings(egl):
    s = _sh3_scene(3000, seed=6)
    cam = home_view(s, 160, 160)
    images = {m: render_offscreen(s, cam, DisplaySettings(mode=m)) for m in ("color", "depth", "points", "ellipses")}
    for m, img in images.items():
        assert (img > 0).any(axis=-1).mean() > 0.02, f"{m} is empty"
    names = list(images)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            assert psnr(images[names[i]], images[names[j]]) < 30, (names[i], names[j])
    bigger = render_offscreen(s, cam, DisplaySettings(splat_scale=2.0))
    assert psnr(bigger, images["color"]) < 30
    dc_only = render_offscreen(s, cam, DisplaySettings(sh_degree_limit=0))
    assert psnr(dc_only, images["color"]) < 35
    with pytest.raises(ValueError):
        render_offscreen(s, cam, DisplaySettings(mode="wireframe"))


def test_prepared_payloads_are_compact():
    dc, sh3 = prepare_splats(random_scene(10)), prepare_splats(_sh3_scene(10))
    assert dc.sh.shape == (10, 4) and dc.sh_stride == 1  # DC-only pays for one texel
    assert sh3.sh.shape == (120, 4) and sh3.sh_stride == 12  # 48 floats
    assert dc.geom.shape == (30, 4) and dc.means.dtype == np.float32
    s = _sh3_scene(10)
    assert np.allclose(sh3.sh.reshape(10, 48), s.sh.reshape(10, 48).numpy())
    assert np.allclose(sh3.geom.reshape(10, 12)[:, 3], torch.sigmoid(s.opacity_logits).numpy())
