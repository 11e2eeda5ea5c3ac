"""The A/B compare's GL passes on a standalone EGL context (no Qt): the difference heat map, its
colour bar, and a capture photo drawn where its camera's image lies."""

from __future__ import annotations

import numpy as np
import pytest

from engine.camera import Camera, home_view
from engine.metrics import psnr
from engine.render import render
from tests.conftest import random_scene

moderngl = pytest.importorskip("moderngl")

from app.viewport.compare_gl import CompareCompositor, photo_texels  # noqa: E402
from app.viewport.gl_renderer import DisplaySettings, prepare_splats  # noqa: E402
from app.viewport.offscreen import offscreen_context, offscreen_lock  # noqa: E402
from app.viewport.sorting import depth_order  # noqa: E402

# inferno (matplotlib's table) at 0, 0.5 and 1
INFERNO = {0.0: (0.001462, 0.000466, 0.013866), 0.5: (0.735683, 0.215906, 0.330245),
           1.0: (0.988362, 0.998364, 0.644924)}  # fmt: skip


@pytest.fixture(scope="module")
def egl():
    try:
        st = offscreen_context()
    except Exception as e:  # no libEGL, no Mesa driver, ...
        pytest.skip(f"cannot create a standalone EGL OpenGL context: {e}")
    with offscreen_lock(), st.ctx:
        comp = CompareCompositor(st.ctx)
        yield st, comp
        comp.release()


def _fill(comp, index, rgb_u8, w, h):
    """Side ``index`` filled with an [h, w, 3] uint8 image (top row first)."""
    fbo = comp.side_framebuffer(index, w, h)
    rgba = np.concatenate([rgb_u8, np.full((h, w, 1), 255, np.uint8)], axis=2)[::-1]
    fbo.color_attachments[0].write(np.ascontiguousarray(rgba))
    return fbo


def _read(fbo, w, h) -> np.ndarray:
    return np.frombuffer(fbo.read(viewport=(0, 0, w, h), components=3, alignment=1), np.uint8).reshape(h, w, 3)[::-1]


def test_difference_is_black_where_equal_and_follows_inferno(egl):
    st, comp = egl
    w, h = 64, 32
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    b = a.copy()
    b[:, w // 2 :] = np.clip(a[:, w // 2 :].astype(int) + 32, 0, 255).astype(np.uint8)  # right half differs
    _fill(comp, 0, a, w, h)
    _fill(comp, 1, b, w, h)
    assert np.array_equal(comp.read_side(0), a) and np.array_equal(comp.read_side(1), b)
    fbo = st.framebuffer(w, h)
    comp.draw_difference(fbo, full_scale=0.25)
    img = _read(fbo, w, h)
    assert (img[:, : w // 2] == 0).all()  # black where A and B agree
    right = img[:, w // 2 :].astype(float)
    assert right.max(axis=2).mean() > 60
    # one known error in every channel: at full scale the top of the colormap, at half of it the middle
    for err, t in ((64, 1.0), (32, 0.5)):
        _fill(comp, 0, np.zeros((h, w, 3), np.uint8), w, h)
        _fill(comp, 1, np.full((h, w, 3), err, np.uint8), w, h)
        comp.draw_difference(fbo, full_scale=64 / 255)
        got = _read(fbo, w, h)[h // 2, w // 2] / 255.0
        assert np.abs(got - INFERNO[t]).max() < 0.03, (err, got)
    # max over RGB: an error in one channel only counts fully
    _fill(comp, 0, np.zeros((h, w, 3), np.uint8), w, h)
    _fill(comp, 1, np.tile(np.array([96, 0, 0], np.uint8), (h, w, 1)), w, h)
    comp.draw_difference(fbo, full_scale=0.25, reduce="mean")
    mean = _read(fbo, w, h)[0, 0].astype(int)
    comp.draw_difference(fbo, full_scale=0.25, reduce="max")
    mx = _read(fbo, w, h)[0, 0].astype(int)
    assert mx.sum() > mean.sum() + 100
    with pytest.raises(ValueError):
        comp.draw_difference(fbo, reduce="median")


def test_colour_bar_runs_from_black_to_pale_yellow(egl):
    st, comp = egl
    w, h = 200, 40
    fbo = st.framebuffer(w, h)
    fbo.use()
    fbo.clear(0.0, 0.0, 1.0, 1.0)
    comp.draw_colorbar(fbo, (20, 10, 160, 12))
    img = _read(fbo, w, h).astype(int)
    row = img[h - 1 - 16]  # GL y = 16 lies inside the bar
    assert row[20].max() < 10 and row[179].min() > 150 and row[179][0] > 240  # black ... pale yellow
    assert (row[19] == 153).all()  # the grey frame
    assert (img[0, 0] == (0, 0, 255)).all()  # the rest is untouched
    luminance = row[20:180].sum(axis=1)
    assert (np.diff(luminance) >= -3).all()  # brighter from left to right


def test_photo_fills_its_rectangle_and_takes_the_view_background(egl):
    st, comp = egl
    ph, pw = 30, 40
    rgb = np.zeros((ph, pw, 3), np.float32)
    rgb[: ph // 2, :, 0] = 1.0  # top half red
    rgb[ph // 2 :, :, 2] = 1.0  # bottom half blue
    alpha = np.ones((ph, pw), np.float32)
    alpha[:, : pw // 4] = 0.0  # left quarter transparent: it shows the photo's background (white)
    rgb[:, : pw // 4] = 1.0
    comp.set_photo(photo_texels(rgb, alpha), background=(1.0, 1.0, 1.0))
    assert comp.photo_size == (pw, ph)
    w, h = 80, 90  # another aspect: stretched per axis like Camera.scaled
    fbo = st.framebuffer(w, h)
    comp.draw_photo(fbo, (0, 0, w, h), background=(0.0, 1.0, 0.0))
    img = _read(fbo, w, h).astype(int)
    assert (img[10, 40] == (255, 0, 0)).all() and (img[80, 40] == (0, 0, 255)).all()
    assert (img[10, 5] == (0, 255, 0)).all()  # transparent: the view's background (green), not white
    # a rectangle and a scissor (the right half of a split view): the rest keeps what was there
    fbo.use()
    fbo.clear(0.5, 0.5, 0.5, 1.0)
    comp.draw_photo(fbo, (40, 0, 40, 90), background=(0.0, 0.0, 0.0), scissor=(60, 0, 20, 90), clear=False)
    img = _read(fbo, w, h).astype(int)
    assert (img[10, 50] == 128).all() and (img[10, 70] == (255, 0, 0)).all()
    comp.set_photo(None)
    comp.draw_photo(fbo, (0, 0, w, h), background=(0.2, 0.2, 0.2))
    assert (_read(fbo, w, h) == 51).all()  # no photo: the background


def test_photo_lines_up_with_the_render_of_its_camera_in_a_view_of_another_aspect(egl):
    """A photo (here the engine's render at the camera's own size) drawn onto the camera's
    image_rect of a view of another size and aspect lines up with the GL render of the camera
    fitted to that view, as the viewport shows a capture camera (CameraController.camera ->
    Camera.fitted); around the rectangle the photo side is background."""
    st, comp = egl
    scene = random_scene(3000, seed=4)
    cam = home_view(scene, 200, 150)
    cam = Camera(cam.camera_to_world, cam.fx, cam.fy * 1.05, cam.cx + 7.0, cam.cy - 5.0, 200, 150)
    photo = render(scene, cam).colors[0, ..., :3].clamp(0, 1).numpy()
    comp.set_photo(photo_texels(photo))
    w, h = 300, 260
    view = cam.fitted(w, h)
    rx, ry, rw, rh = cam.image_rect(w, h)
    assert (rx, ry, rw, rh) == pytest.approx((0, 17.5, 300, 225))
    renderer = st.renderer
    renderer.set_splats(prepare_splats(scene))
    renderer.set_order(depth_order(renderer.prepared.means, view))
    rendered = _render(renderer, view, st.framebuffer(w, h), w, h)
    renderer.set_splats(None)
    fbo = st.framebuffer(w, h)
    comp.draw_photo(fbo, (0, 0, w, h), background=(0.0, 0.0, 1.0), rect=(rx, h - ry - rh, rw, rh))
    drawn = _read(fbo, w, h)
    assert (drawn[:17] == (0, 0, 255)).all() and (drawn[-17:] == (0, 0, 255)).all()  # the margins
    y0, y1 = 20, 240  # rows inside the photo's rectangle (17.5 ... 242.5)

    def shifted(dy, dx):  # PSNR with the drawn photo moved by (dy, dx) pixels (borders cropped)
        return psnr(drawn[y0 + 2 + dy : y1 - 2 + dy, 2 + dx : w - 2 + dx], rendered[y0 + 2 : y1 - 2, 2 : w - 2])

    scores = {(dy, dx): shifted(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
    print("photo vs render, by pixel shift:", {k: round(v, 2) for k, v in scores.items()})
    assert scores[0, 0] > 30.0
    assert max(scores, key=scores.get) == (0, 0)  # no half-pixel or one-pixel offset
    comp.set_photo(None)


def test_difference_compares_only_the_given_pixels(egl):
    st, comp = egl
    w, h = 40, 30
    _fill(comp, 0, np.zeros((h, w, 3), np.uint8), w, h)
    _fill(comp, 1, np.full((h, w, 3), 200, np.uint8), w, h)
    fbo = st.framebuffer(w, h)
    comp.draw_difference(fbo, compared=(10, 5, 20, 10))  # GL: x 10..29, y 5..14 from the bottom
    img = _read(fbo, w, h).astype(int)
    inside = img[h - 15 : h - 5, 10:30]
    assert (inside.max(axis=2) > 200).all()
    outside = np.ones((h, w), bool)
    outside[h - 15 : h - 5, 10:30] = False
    assert (img[outside] == 64).all()  # grey: not compared


def _render(renderer, cam, fbo, w, h) -> np.ndarray:
    renderer.render(cam, fbo, DisplaySettings())
    return _read(fbo, w, h)
