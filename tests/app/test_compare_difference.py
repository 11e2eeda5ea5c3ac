"""The studio's A/B difference view and ground-truth photos, under Xvfb with real OpenGL:
|A - B| heat map (black where equal), its numbers (engine.metrics of the two sides' images),
and a capture camera's photo as a side only while the view is exactly that camera."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from app.documents import Document
from engine.metrics import mae, psnr
from tests.app.conftest import open_and_wait, wait_until_drawn
from tests.conftest import REPO, data_path

pytestmark = pytest.mark.gui

DONUT = REPO / "resources" / "scenes" / "donut" / "fused.ply"


def _image(qimage) -> np.ndarray:  # QImage -> [H, W, 3] uint8
    img = qimage.convertToFormat(qimage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    arr = np.frombuffer(img.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)
    return arr[:, : w * 3].reshape(h, w, 3).copy()


def _drag(widget, start, end, steps=4):
    def send(kind, pos, button, buttons):
        p = QPointF(*pos)
        QApplication.sendEvent(widget, QMouseEvent(kind, p, widget.mapToGlobal(p), button, buttons, Qt.NoModifier))

    send(QEvent.MouseButtonPress, start, Qt.LeftButton, Qt.LeftButton)
    for i in range(1, steps + 1):
        t = i / steps
        pos = (start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t)
        send(QEvent.MouseMove, pos, Qt.NoButton, Qt.LeftButton)
    send(QEvent.MouseButtonRelease, end, Qt.LeftButton, Qt.NoButton)


def _difference_image(qtbot, window) -> np.ndarray:
    """The viewport in difference mode once the numbers for this view are in, colour bar masked out."""
    wait_until_drawn(qtbot, window)
    qtbot.waitUntil(lambda: window.viewport.compare_metrics is not None, timeout=30_000)
    img = _image(window.viewport.grab_image())
    x, y, bw, bh = window.viewport._colorbar_rect
    img[y - 2 : y + bh + 2, : x + bw + 2] = 0  # the colour bar (bottom left) is not part of the map
    return img


def _with_block_removed(qtbot, window, doc, half=28):
    """B = A without the splats whose centres project into a square on the donut; returns the
    square (x0, y0, x1, y1) in viewport pixels."""
    cam = window.viewport.controller.camera(window.viewport.width(), window.viewport.height())
    means = doc.scene.means.double().numpy()
    w2c = cam.world_to_camera
    t = means @ w2c[:3, :3].T + w2c[:3, 3]
    u = cam.fx * t[:, 0] / t[:, 2] + cam.cx
    v = cam.fy * t[:, 1] / t[:, 2] + cam.cy
    inside = (t[:, 2] > 0) & (u >= 0) & (u < cam.width) & (v >= 0) & (v < cam.height)
    cx, cy = np.percentile(u[inside], 80), np.median(v[inside])  # a point on the right of the ring
    box = (int(cx - half), int(cy - half), int(cx + half), int(cy + half))
    gone = (u >= box[0]) & (u < box[2]) & (v >= box[1]) & (v < box[3])
    assert 200 < gone.sum() < doc.scene.count // 3
    holed = Document("donut with a hole", doc.scene.subset(torch.nonzero(torch.from_numpy(~gone))[:, 0]))
    window.workspace.add(holed, make_current=False)
    window.workspace.set_b(holed)
    return box


def test_difference_of_a_scene_with_itself_is_black(qtbot, window):
    doc = open_and_wait(qtbot, window, DONUT)
    same = Document("the same donut", doc.scene.replace())
    window.workspace.add(same, make_current=False)
    window.workspace.set_b(same)
    window.compare_actions["difference"].trigger()  # View > A/B Compare > Difference
    assert window.viewport.compare_mode == "difference" and window.compare_panel.radios["difference"].isChecked()
    img = _difference_image(qtbot, window)
    assert img.max() <= 2  # black everywhere
    m = window.viewport.compare_metrics
    assert m["mae"] == 0.0 and m["psnr"] == float("inf")
    a, b = window.viewport.compare_images()
    assert a.shape == (240, 320, 3) and (a.max(axis=2) > 30).mean() > 0.05  # A was drawn (not two empty views)
    assert "∞ dB" in window.compare_panel.metrics.text()
    assert window.viewport._scale_hi.isVisible() and window.viewport._scale_hi.text() == "0.25"


def test_difference_lights_up_where_b_differs_and_its_numbers_are_engine_metrics(qtbot, window):
    doc = open_and_wait(qtbot, window, DONUT)
    x0, y0, x1, y1 = _with_block_removed(qtbot, window, doc)
    # the two renders as flicker shows them
    window.set_compare_mode("flicker")
    vp = window.viewport
    vp.flicker_show_b = False
    vp.toggle_flicker()
    vp.toggle_flicker()
    wait_until_drawn(qtbot, window)
    render_a = _image(vp.grab_image())
    qtbot.keyClick(vp, Qt.Key_X)
    wait_until_drawn(qtbot, window)
    render_b = _image(vp.grab_image())
    assert not np.array_equal(render_a, render_b)

    window.set_compare_mode("difference")
    img = _difference_image(qtbot, window).astype(np.float32)
    heat = img.max(axis=2)
    core = heat[y0 + 6 : y1 - 6, x0 + 6 : x1 - 6]
    far = np.ones_like(heat, bool)
    far[max(0, y0 - 24) : y1 + 24, max(0, x0 - 24) : x1 + 24] = False
    print(f"heat: removed block mean {core.mean():.1f}, elsewhere mean {heat[far].mean():.2f}, "
          f"non-black elsewhere {(heat[far] > 8).mean():.4f}")  # fmt: skip
    assert core.mean() > 60 and (core > 30).mean() > 0.5  # a bright patch where the splats are gone
    assert (heat[far] > 8).mean() < 0.01  # black elsewhere
    # the numbers are engine.metrics of the two images the map was made of: the flicker renders
    a, b = vp.compare_images()
    assert np.array_equal(a, render_a) and np.array_equal(b, render_b)
    m = vp.compare_metrics
    assert m["psnr"] == pytest.approx(psnr(render_a, render_b), abs=1e-9)
    assert m["mae"] == pytest.approx(mae(render_a, render_b), abs=1e-12)
    assert f"{psnr(render_a, render_b):.2f} dB" in window.compare_panel.metrics.text()
    assert f"{m['mae']:.4f}" in window.compare_panel.metrics.text()

    # the scale: a larger full-scale value draws the same errors darker; max over RGB brighter
    window.compare_panel.full_scale.setValue(1.0)
    assert vp.difference_scale == 1.0 and vp._scale_hi.text() == "1"
    dim = _difference_image(qtbot, window).astype(np.float32).max(axis=2)
    assert dim[y0 + 6 : y1 - 6, x0 + 6 : x1 - 6].mean() < core.mean() - 20
    window.compare_panel.reduce.setCurrentIndex(1)
    window.compare_panel.reduce.activated.emit(1)
    assert vp.difference_reduce == "max"
    bright = _difference_image(qtbot, window).astype(np.float32).max(axis=2)
    assert bright[y0 + 6 : y1 - 6, x0 + 6 : x1 - 6].mean() > dim[y0 + 6 : y1 - 6, x0 + 6 : x1 - 6].mean()

    # orbiting invalidates the numbers until the camera stops again
    _drag(vp, (100, 100), (130, 100))
    assert vp.compare_metrics is None and "camera stops" in window.compare_panel.metrics.text()
    qtbot.waitUntil(lambda: vp.compare_metrics is not None, timeout=30_000)


def _open_lego(qtbot, window):
    capture = data_path("captures/lego_nerf_synthetic")
    with qtbot.waitSignal(window.capture_opened, timeout=60_000) as blocker:
        window.open_capture(str(capture))
    window.act_show_cameras.setChecked(False)  # no frusta over the pixels compared below
    return blocker.args[0]


def _expected_photo(capture, index, size, background=(0.0, 0.0, 0.0)) -> np.ndarray:
    """The photo as the viewport should show it on its rectangle: over the view's background,
    scaled to ``size``."""
    from PIL import Image

    rgb = capture.image(index).numpy()
    alpha = capture.alpha(index)
    if alpha is not None:
        rgb = rgb + (1.0 - alpha.numpy()[..., None]) * (np.array(background) - np.array(capture.background))
    img = Image.fromarray(np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8))
    return np.asarray(img.resize(size, Image.Resampling.BOX))


def test_photo_as_b_shows_only_when_looking_through_a_capture_camera(qtbot, window):
    open_and_wait(qtbot, window, DONUT)
    capture = _open_lego(qtbot, window)
    vp = window.viewport
    assert window.photo_actions["B"].isEnabled() and window.compare_panel.photo_choice.isEnabled()
    window.compare_panel.photo_choice.setCurrentIndex(1)  # "As B"
    window.compare_panel.photo_choice.activated.emit(1)
    assert vp.photo_slot == "B" and vp.compare_mode == "split" and window.photo_actions["B"].isChecked()
    wait_until_drawn(qtbot, window)
    # the home view is no capture camera: B draws nothing and says so
    assert vp.photo_for_view() is None
    assert vp._notice.isVisible() and "No photo for this view" in vp._notice.text()
    assert "No photo for this view" in window.compare_panel.photo_status.text()
    img = _image(vp.grab_image())
    assert img[:, 170:].max() <= 2  # right of the divider: background only

    # look through capture camera 3: B is its photo, on the rectangle where the view shows the
    # camera's image (800 x 800 fitted into 320 x 240: the centred 240 x 240 square), black around
    index = 3
    cam = capture.frames[index].camera
    assert (cam.width, cam.height) == (800, 800) and cam.image_rect(320, 240) == (40, 0, 240, 240)
    with qtbot.waitSignal(vp.photo_changed, timeout=10_000) as changed:
        window.camera_panel.capture_camera_chosen.emit(cam)
    assert changed.args == [capture.frames[index].name]
    vp.set_divider(0.02)  # nearly all of the view is B
    wait_until_drawn(qtbot, window)
    assert vp.photo_for_view() == index and not vp._notice.isVisible()
    assert window.compare_panel.photo_status.text() == f"Photo of {capture.frames[index].name}"
    assert vp._labels["B"].text() == f"B: photo {capture.frames[index].name}"
    img = _image(vp.grab_image())
    want = _expected_photo(capture, index, (240, 240))
    db = psnr(img[:, 40:280], want)
    print(f"photo in the viewport vs the photo box-resized: {db:.2f} dB")
    assert db > 24.0
    assert psnr(img[:, 40:276], want[:, 4:]) < db - 3  # and it is not shifted
    assert img[:, 8:40].max() <= 2 and img[:, 280:].max() <= 2  # background beside the photo
    assert vp.controller.camera(320, 240).fx == pytest.approx(cam.fx * 0.3)  # the render is fitted too

    # difference against the photo: the donut is not the lego
    window.set_compare_mode("difference")
    img = _difference_image(qtbot, window)
    heat = img[:, 40:280].max(axis=2)
    assert (heat > 40).mean() > 0.05
    assert (img[:150, :40] == 64).all() and (img[:, 280:] == 64).all()  # grey: not compared (no photo there)
    m = vp.compare_metrics
    assert m["photo"] == capture.frames[index].name and m["psnr"] < 20
    assert (m["width"], m["height"]) == (240, 240)
    a, b = vp.compare_images()
    assert psnr(b, want) > 24.0  # B of the numbers is the photo as shown, on its rectangle

    # one step off the capture camera: no photo, no heat map, no numbers
    _drag(vp, (160, 120), (175, 120))
    assert vp.photo_for_view() is None and vp.compare_metrics is None
    wait_until_drawn(qtbot, window)
    assert vp._notice.isVisible()
    assert _image(vp.grab_image()).max() <= 2
    assert vp.compare_images() is None
    # back through the camera: the photo again
    window.camera_panel.capture_camera_chosen.emit(cam)
    wait_until_drawn(qtbot, window)
    assert vp.photo_for_view() == index and not vp._notice.isVisible()
    qtbot.waitUntil(lambda: vp.compare_metrics is not None, timeout=30_000)
    # a field of view changed after looking through is not the camera any more
    window.camera_panel.fov.setValue(30)
    assert vp.photo_for_view() is None


def test_photo_as_a_and_swap(qtbot, window):
    doc = open_and_wait(qtbot, window, DONUT)
    _open_lego(qtbot, window)
    vp = window.viewport
    window.photo_actions["A"].trigger()  # View > A/B Compare > Ground-Truth Photo as A
    assert vp.photo_slot == "A" and window.compare_panel.photo_choice.currentData() == "A"
    wait_until_drawn(qtbot, window)
    # the lone scene moves to B's side; the photo side is on the left
    assert vp._labels["B"].text().startswith("B: fused.ply")
    assert vp._labels["A"].text() == "A: photo (none for this view)"
    window.swap_ab()
    assert vp.photo_slot == "B" and window.workspace.a is doc and window.workspace.b is None
    assert vp._labels["A"].text().startswith("A: fused.ply")
    window.photo_actions["B"].trigger()  # unchecking the checked one: scenes only
    assert vp.photo_slot is None and window.compare_panel.photo_choice.currentData() is None
    assert not vp._notice.isVisible()
