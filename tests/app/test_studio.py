"""The studio window under Xvfb with real OpenGL (llvmpipe): opening, camera, A/B, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

from app.documents import Document
from engine import io
from engine.metrics import psnr
from tests.app.conftest import open_and_wait, wait_until_drawn
from tests.conftest import DONUT, REPO, data_path

pytestmark = pytest.mark.gui


def _image(qimage) -> np.ndarray:  # QImage -> [H, W, 3] uint8
    img = qimage.convertToFormat(qimage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    arr = np.frombuffer(img.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)
    return arr[:, : w * 3].reshape(h, w, 3).copy()


def _mouse(widget, kind, pos, button=Qt.NoButton, buttons=Qt.NoButton, modifiers=Qt.NoModifier):
    p = QPointF(*pos)
    ev = QMouseEvent(kind, p, widget.mapToGlobal(p), button, buttons, modifiers)
    QApplication.sendEvent(widget, ev)


def _drag(widget, start, end, button=Qt.LeftButton, modifiers=Qt.NoModifier, steps=5):
    _mouse(widget, QEvent.MouseButtonPress, start, button, button, modifiers)
    for i in range(1, steps + 1):
        t = i / steps
        pos = (start[0] + (end[0] - start[0]) * t, start[1] + (end[1] - start[1]) * t)
        _mouse(widget, QEvent.MouseMove, pos, Qt.NoButton, button, modifiers)
    _mouse(widget, QEvent.MouseButtonRelease, end, button, Qt.NoButton, modifiers)


def test_open_via_menu_action(qtbot, window, monkeypatch, donut_path):
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(donut_path), ""))
    with qtbot.waitSignal(window.scene_opened, timeout=60_000):
        window.act_open.trigger()
    wait_until_drawn(qtbot, window)
    assert window.workspace.a.name == "fused.ply"
    assert window.workspace.a.scene.count == 45624
    img = _image(window.viewport.grab_image())
    assert (img.max(axis=2) > 30).mean() > 0.05  # the donut is drawn
    recent = window.qsettings.value("recentFiles")
    assert os.path.abspath(str(donut_path)) in (recent if isinstance(recent, list) else [recent])


def test_drag_and_drop_opens_file(qtbot, window, donut_path):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(donut_path))])
    # as a real drag does: the enter event makes the window the drop target, then the drop
    enter = QDragEnterEvent(QPoint(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(50, 50), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    with qtbot.waitSignal(window.scene_opened, timeout=60_000):
        QApplication.sendEvent(window, drop)
    assert window.workspace.a.path == os.path.abspath(str(donut_path))


def test_mouse_drags_wheel_and_keys_move_the_camera(qtbot, window, donut_path):
    open_and_wait(qtbot, window, donut_path)
    vp = window.viewport
    ctl = vp.controller
    home = ctl.c2w.copy()
    _drag(vp, (100, 100), (160, 120))  # orbit
    assert not np.allclose(ctl.c2w, home)
    assert np.linalg.norm(ctl.eye - ctl.pivot) == pytest.approx(np.linalg.norm(home[:3, 3] - ctl.pivot), rel=1e-6)
    before = ctl.c2w.copy()
    _drag(vp, (100, 100), (140, 100), button=Qt.MiddleButton)  # pan moves eye and pivot together
    assert np.allclose(ctl.c2w[:3, :3], before[:3, :3]) and not np.allclose(ctl.eye, before[:3, 3])
    d0 = ctl.distance
    QApplication.sendEvent(vp, QWheelEvent(QPointF(100, 100), vp.mapToGlobal(QPointF(100, 100)), QPoint(0, 0),
                                           QPoint(0, 120), Qt.NoButton, Qt.NoModifier, Qt.NoScrollPhase, False))  # fmt: skip
    assert ctl.distance < d0
    eye = ctl.eye
    forward = ctl.c2w[:3, 2].copy()
    qtbot.keyPress(vp, Qt.Key_W)
    qtbot.wait(100)
    qtbot.keyRelease(vp, Qt.Key_W)
    assert np.dot(ctl.eye - eye, forward) > 0  # flew forward
    qtbot.keyClick(vp, Qt.Key_Home)  # (R is the rectangle selection tool)
    assert np.allclose(ctl.c2w, home, atol=1e-9)  # reset to the home view
    wait_until_drawn(qtbot, window)  # and the still image is sorted for the exact view


def test_corrupt_file_shows_error_and_keeps_the_scene(qtbot, window, donut_path, tmp_path):
    open_and_wait(qtbot, window, donut_path)
    bad = tmp_path / "broken.ply"
    bad.write_bytes(donut_path.read_bytes()[:5000])
    with qtbot.waitSignal(window.open_failed, timeout=30_000):
        window.open_path(str(bad))
    assert window.errors and "broken.ply" in window.errors[-1][1] and "truncated" in window.errors[-1][1]
    assert window.workspace.a.name == "fused.ply"
    assert len(window.workspace.documents) == 1
    wait_until_drawn(qtbot, window)
    assert (_image(window.viewport.grab_image()).max(axis=2) > 30).mean() > 0.05


def test_scenes_panel_says_what_a_smol_scene_is(qtbot, window):
    """A .smol opened from disk and a level decoded in memory (as the Compress panel makes it)
    both describe themselves; neither says "format: unknown" (issue 13)."""
    from engine.codec import decode_bytes, ladder

    stored = REPO / "tests" / "data" / "tiny_lego.smol"  # a Smol-GS file (tests/data/make_tiny_smol.py)
    doc = open_and_wait(qtbot, window, stored)
    assert "format: Smol-GS (.smol)" in window.scene_panel.info.text()
    level = decode_bytes(ladder.encode(doc.scene, 5))
    window.workspace.add(Document("compressed: tiny_lego.smol L5", level, None, 0))
    text = window.scene_panel.info.text()
    assert "format: SplatLab ladder, level 5 (.smol)" in text and "unknown" not in text


def _tinted(scene, rgb):
    from engine.scene import rgb_to_sh_dc

    sh = scene.sh.clone()
    sh[:, 0, :] = rgb_to_sh_dc(torch.tensor(rgb, dtype=torch.float32))
    return scene.replace(sh=sh)


def test_ab_split_shows_a_left_and_b_right(qtbot, window, donut_path):
    doc = open_and_wait(qtbot, window, donut_path)
    green = Document("green donut", _tinted(doc.scene, (0.1, 0.9, 0.1)))
    window.workspace.add(green, make_current=False)
    window.workspace.set_b(green)
    window.set_compare_mode("split")
    window.viewport.set_divider(0.5)
    wait_until_drawn(qtbot, window)
    img = _image(window.viewport.grab_image()).astype(np.float32)
    h, w, _ = img.shape
    mask = img.max(axis=2) > 40
    left, right = img[:, : w // 2 - 2][mask[:, : w // 2 - 2]], img[:, w // 2 + 2 :][mask[:, w // 2 + 2 :]]
    assert len(left) > 200 and len(right) > 200
    # A (pink icing, brown dough) is not green-dominant; B is uniformly green
    assert (left[:, 1] > left[:, 0] + 30).mean() < 0.2
    assert (right[:, 1] > right[:, 0] + 30).mean() > 0.9
    # moving the divider to the far left shows B almost everywhere
    window.viewport.set_divider(0.05)
    wait_until_drawn(qtbot, window)
    img = _image(window.viewport.grab_image()).astype(np.float32)
    inside = img[img.max(axis=2) > 40]
    assert (inside[:, 1] > inside[:, 0] + 30).mean() > 0.85


def test_side_by_side_and_flicker(qtbot, window, donut_path):
    doc = open_and_wait(qtbot, window, donut_path)
    green = Document("green donut", _tinted(doc.scene, (0.1, 0.9, 0.1)))
    window.workspace.add(green, make_current=False)
    window.workspace.set_b(green)
    window.set_compare_mode("flicker")
    wait_until_drawn(qtbot, window)
    a = _image(window.viewport.grab_image()).astype(np.float32)
    qtbot.keyClick(window.viewport, Qt.Key_X)  # toggle to B
    wait_until_drawn(qtbot, window)
    b = _image(window.viewport.grab_image()).astype(np.float32)
    assert (b[..., 1] - b[..., 0]).mean() > (a[..., 1] - a[..., 0]).mean() + 5
    window.set_compare_mode("side")
    wait_until_drawn(qtbot, window)
    img = _image(window.viewport.grab_image()).astype(np.float32)
    w = img.shape[1]
    lg = img[:, : w // 2][..., 1] - img[:, : w // 2][..., 0]
    rg = img[:, w // 2 :][..., 1] - img[:, w // 2 :][..., 0]
    assert rg.mean() > lg.mean() + 5  # the green scene is on the right half


def test_display_modes_and_scale_change_the_image(qtbot, window, donut_path):
    open_and_wait(qtbot, window, donut_path)
    base = _image(window.viewport.grab_image())
    images = {}
    for mode in ("depth", "points", "ellipses"):
        window.display_panel.set_mode(mode)
        wait_until_drawn(qtbot, window)
        images[mode] = _image(window.viewport.grab_image())
        assert images[mode].max() > 0
        assert psnr(images[mode], base) < 30
    window.display_panel.set_mode("color")
    window.display_panel.scale.setValue(15)
    wait_until_drawn(qtbot, window)
    assert psnr(_image(window.viewport.grab_image()), base) < 30


def test_camera_save_load_and_copy(qtbot, window, donut_path, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    open_and_wait(qtbot, window, donut_path)
    _drag(window.viewport, (100, 100), (180, 130))
    saved = window.viewport.controller.c2w.copy()
    path = tmp_path / "cam.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))
    window.save_camera_dialog()
    data = json.loads(path.read_text())
    assert data["width"] == 320 and np.allclose(data["camera_to_world"], saved)
    window.viewport.reset_camera()
    window.load_camera(str(path))
    assert np.allclose(window.viewport.controller.c2w, saved)
    window.copy_camera()
    assert np.allclose(json.loads(QApplication.clipboard().text())["camera_to_world"], saved)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    window.load_camera(str(bad))
    assert "bad.json" in window.errors[-1][1]


def test_capture_cameras_can_be_looked_through(qtbot, window, donut_path):
    capture = data_path("captures/lego_nerf_synthetic")
    open_and_wait(qtbot, window, donut_path)
    with qtbot.waitSignal(window.camera_panel.capture_list.model().rowsInserted, timeout=30_000):
        window.open_capture(str(capture))
    qtbot.waitUntil(lambda: window.camera_panel.capture_list.count() == 50, timeout=30_000)
    item = window.camera_panel.capture_list.item(3)
    cam = item.data(Qt.UserRole)
    window.camera_panel.capture_camera_chosen.emit(cam)
    assert np.allclose(window.viewport.controller.c2w, cam.camera_to_world)


def test_export_dialog_estimates_size_and_warns_about_sh(qtbot, window, donut_path, tmp_path):
    from app.dialogs import ExportDialog

    doc = open_and_wait(qtbot, window, donut_path)
    sh3 = Document("sh3", doc.scene.with_sh_degree(3))
    dlg = ExportDialog(sh3, str(tmp_path), window)
    qtbot.addWidget(dlg)
    dlg.format.setCurrentIndex([f for _, f, _ in __import__("app.dialogs", fromlist=["x"]).EXPORT_FORMATS].index("splat"))
    qtbot.waitUntil(lambda: dlg.estimate.text().startswith("= "), timeout=30_000)  # fixed layout: exact
    assert "1.5 MB" in dlg.estimate.text()  # 32 B x 45,624 splats
    assert "SH" in dlg.warning.text()
    fmt, opts, degree, path = dlg.choice()
    assert path.endswith(".splat")
    job = window.export(sh3, path, degree, opts)
    with qtbot.waitSignal(job.done, timeout=30_000):
        pass
    assert io.load(path).count == 45624
    assert os.path.getsize(path) == 32 * 45624  # what the dialog said, to the byte
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".part")]


def test_live_scene_replacement_keeps_the_view_responsive(qtbot, window, donut_path):
    doc = open_and_wait(qtbot, window, donut_path)
    cam_before = window.viewport.controller.c2w.copy()
    smaller = doc.scene.subset(torch.arange(0, doc.scene.count, 2))
    window.workspace.replace_scene(doc, smaller)
    wait_until_drawn(qtbot, window)
    assert window.viewport.slots["A"].prepared.count == smaller.count
    assert np.allclose(window.viewport.controller.c2w, cam_before)  # the camera stays


def test_a_sort_of_the_replaced_scene_is_not_applied_to_the_new_one(qtbot, window, donut_path, monkeypatch):
    """A depth order of the old scene that arrives while the new one is being prepared, and is
    not yet drawn when the new scene is uploaded (seen in CI under load), is dropped: drawing it
    with the new scene raised in paintGL."""
    doc = open_and_wait(qtbot, window, donut_path)
    vp = window.viewport
    slot = vp.slots["A"]
    old_count = slot.prepared.count
    smaller = doc.scene.subset(torch.arange(0, doc.scene.count, 3))
    sort_requests = []
    monkeypatch.setattr(vp, "_request_sort", lambda s, force=False: sort_requests.append(s.name))  # hold the new sort
    vp.setUpdatesEnabled(False)  # and every paint until the new scene is prepared
    window.workspace.replace_scene(doc, smaller)
    vp._on_sorted("A", np.arange(old_count, dtype=np.int64)[::-1].copy(), vp.controller.version, 0.0)
    assert slot.pending_order is not None  # accepted: it matches the scene still on screen
    qtbot.waitUntil(lambda: slot.prepare_job is None and slot.prepared.count == smaller.count, timeout=60_000)
    assert sort_requests == ["A"]
    vp.setUpdatesEnabled(True)
    vp.grab_image()  # the new scene is uploaded with no order of the old one
    monkeypatch.undo()
    vp._request_sort(slot, force=True)
    wait_until_drawn(qtbot, window)
    assert len(slot.order) == smaller.count


def test_process_events_many_times_does_not_crash(qtbot, window):
    """Regression for PySide6 6.12 (a reference to None dropped on every void call)."""
    app = QApplication.instance()
    for _ in range(20_000):
        app.processEvents()
    assert window.isVisible()


def _cli(*args, **kw):
    env = dict(os.environ, QT_QPA_PLATFORM="xcb")
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=REPO, capture_output=True, text=True,
                          env=env, timeout=600, **kw)  # fmt: skip


@pytest.mark.parametrize("scene_rel,size", [(DONUT, "480x360"),
                                            ("scenes/biker_playcanvas/biker.spz", "400x400")])  # fmt: skip
def test_gui_screenshot_matches_engine_render(tmp_path, scene_rel, size):
    scene_path = scene_rel if isinstance(scene_rel, Path) else data_path(scene_rel)
    w, h = (int(v) for v in size.split("x"))
    from engine.camera import home_view

    scene = io.load(scene_path)
    cam = home_view(scene, w, h)
    cam.save(tmp_path / "cam.json")
    shot = tmp_path / "gui.png"
    r = _cli("gui", str(scene_path), "--camera", str(tmp_path / "cam.json"), "--size", size, "--screenshot", str(shot))
    assert r.returncode == 0, r.stderr
    ref = tmp_path / "engine.png"
    r = _cli("render", str(scene_path), "-o", str(ref), "--camera", str(tmp_path / "cam.json"))
    assert r.returncode == 0, r.stderr
    from PIL import Image

    a = np.asarray(Image.open(shot).convert("RGB"))
    b = np.asarray(Image.open(ref).convert("RGB"))
    assert a.shape == b.shape == (h, w, 3)
    assert psnr(a, b) >= 35.0


def test_gui_screenshot_of_a_corrupt_file_exits_2(tmp_path, donut_path):
    bad = tmp_path / "bad.ply"
    bad.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 10\nend_header\n")
    r = _cli("gui", str(bad), "--screenshot", str(tmp_path / "x.png"))
    assert r.returncode == 2
    assert "bad.ply" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.png").exists()


def test_up_axis_is_chosen_set_from_the_view_menu_flipped_and_remembered_per_file(qtbot, window, settings, tmp_path):
    """The donut is z-up: found from its flat side; View > Up Axis overrides it for this file only."""
    import shutil

    from app.main_window import MainWindow
    from engine.framing import axis_label

    path = tmp_path / "donut.ply"
    shutil.copy(REPO / "resources" / "scenes" / "donut" / "fused.ply", path)
    open_and_wait(qtbot, window, path)
    ctl = window.viewport.controller
    assert window.up_description() == "+z (flat side)"
    assert window.up_actions[None].isChecked()
    window.up_actions["-y"].trigger()
    assert axis_label(ctl.up) == "-y" and axis_label(-ctl.camera().camera_to_world[:3, 1]) != "+z"
    window.flip_up()
    assert axis_label(ctl.up) == "+y" and window.up_actions["+y"].isChecked()
    window.close()

    again = MainWindow(settings)
    qtbot.addWidget(again)
    again.viewport.setFixedSize(160, 120)
    again.show()
    open_and_wait(qtbot, again, path)
    assert axis_label(again.viewport.controller.up) == "+y" and again.up_actions["+y"].isChecked()
    again.up_actions[None].trigger()  # back to automatic: forgotten for the file
    assert again.up_description() == "+z (flat side)"
    assert str(path) not in json.loads(settings.value("upAxes", "{}"))
    again.close()
