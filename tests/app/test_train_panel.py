"""The Train panel under Xvfb: real (tiny) training runs driven from the panel's buttons, and
capture cameras drawn as frusta in the viewport."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.panels.train_panel import default_output
from app.viewport.frusta import HIGHLIGHT_COLOR, TEST_COLOR, TRAIN_COLOR, frustum_lines
from engine.train.trainer import CHECKPOINT, partial_dir
from tests.app.conftest import open_and_wait, wait_until_drawn
from tests.app.test_studio import _image
from tests.conftest import data_path

pytestmark = pytest.mark.gui

LEGO = "captures/lego_nerf_synthetic"
RUN_TIMEOUT = 300_000  # ms; a 30-step run at 32 px takes ~15-60 s on 2 busy cores


def _tiny(panel, capture, out, iterations=30):
    panel.set_settings(capture=str(capture))
    panel.set_settings(output=str(out), iterations=iterations, max_side=32, init_points=1500, device="cpu", seed=0)


class _Events:
    """Collects the controller's signals so a test never misses one that fired early."""

    def __init__(self, trainer):
        self.previews, self.paused, self.finished, self.opened = [], [], [], []
        self.cancelled, self.failed, self.states = [], [], []
        trainer.preview_shown.connect(self.previews.append)
        trainer.paused.connect(self.paused.append)
        trainer.finished.connect(self.finished.append)
        trainer.scene_opened.connect(self.opened.append)
        trainer.cancelled.connect(lambda: self.cancelled.append(True))
        trainer.failed.connect(self.failed.append)
        trainer.state_changed.connect(self.states.append)


def _plotted(curve) -> int:
    x = curve.getData()[0]
    return 0 if x is None else len(x)


def _buttons(panel):
    return (panel.start_button.isEnabled(), panel.pause_button.isEnabled(), panel.cancel_button.isEnabled())


def test_the_default_output_moves_to_the_home_folder_when_the_capture_folder_is_read_only(tmp_path, monkeypatch):
    capture = tmp_path / "data" / "lego"
    capture.mkdir(parents=True)
    assert default_output(str(capture)) == str(tmp_path / "data" / "lego-trained")  # beside it when writable
    writable = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(tmp_path / "data") else writable(p, mode))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # (root may write anywhere, so the check is faked)
    assert default_output(str(capture)) == str(tmp_path / "home" / "SplatLab" / "lego-trained")


def test_train_from_the_panel_and_open_the_result(qtbot, window, tmp_path):
    capture = data_path(LEGO)
    panel = window.train_panel
    panel.set_settings(capture=str(capture))
    assert panel.output.text() == default_output(str(capture)) == str(capture) + "-trained"
    out = tmp_path / "lego-trained"
    _tiny(panel, capture, out, iterations=30)
    assert _buttons(panel) == (True, False, False)
    ev = _Events(window.trainer)

    qtbot.mouseClick(panel.start_button, Qt.LeftButton)
    assert panel.state == "running" and _buttons(panel) == (False, True, True)
    assert not panel.iterations.isEnabled()  # settings are locked while training
    # progress: labels, curves, and a live "training" document that is A
    qtbot.waitUntil(lambda: bool(ev.previews and _plotted(panel.loss_curve) >= 2), timeout=RUN_TIMEOUT)
    doc = ev.previews[0]
    assert doc.name == "training: lego_nerf_synthetic"
    assert doc in window.workspace.documents and window.workspace.a is doc and doc.path is None
    if panel.state == "running":
        assert "step" in panel.status.text() and "PSNR" in panel.status.text() and "ETA" in panel.status.text()
    xs, ys = panel.psnr_curve.getData()
    assert len(xs) >= 2 and np.all(np.diff(xs) > 0) and np.all(np.isfinite(ys))
    assert len(window.viewport.capture_cameras) == 50  # the capture being trained shows its cameras
    assert window.camera_panel.capture_list.count() == 50

    qtbot.waitUntil(lambda: bool(ev.opened or ev.failed), timeout=RUN_TIMEOUT)
    assert not ev.failed and not window.errors
    opened = ev.opened[0]
    assert opened.path == str(out / "point_cloud.ply")
    assert window.workspace.a is opened and window.workspace.documents == [opened]  # the preview is gone
    result = ev.finished[0]
    assert result.status == "done" and result.metrics["iterations"] == 30
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["psnr"] == pytest.approx(result.metrics["psnr"]) and metrics["psnr"] > 10
    assert f"{metrics['psnr']:.2f}" in panel.result.text() and "SSIM" in panel.result.text()
    assert not os.path.exists(partial_dir(str(out)))
    assert panel.state == "idle" and _buttons(panel) == (True, False, False)
    assert panel.curve_points() == 30 and panel.loss_curve.getData()[0][-1] == 30
    assert ev.states[0] == "running" and "evaluating" in ev.states and ev.states[-1] == "idle"
    wait_until_drawn(qtbot, window)
    assert window.viewport.slots["A"].prepared.count == opened.scene.count


def test_cancel_leaves_nothing_and_keeps_the_open_scene(qtbot, window, tmp_path, donut_path):
    capture = data_path(LEGO)
    donut = open_and_wait(qtbot, window, donut_path)
    out = tmp_path / "cancelled"
    _tiny(window.train_panel, capture, out, iterations=400)
    ev = _Events(window.trainer)
    window.train_panel.start_button.click()
    qtbot.waitUntil(lambda: bool(window.train_panel.curve_points() >= 1 or ev.failed), timeout=RUN_TIMEOUT)
    qtbot.waitUntil(lambda: bool(ev.previews), timeout=RUN_TIMEOUT)
    assert window.workspace.a is ev.previews[0]
    assert os.path.isdir(partial_dir(str(out)))  # the engine works in OUT.partial
    window.train_panel.cancel_button.click()
    assert window.train_panel.state == "cancelling" and _buttons(window.train_panel) == (False, False, False)
    qtbot.waitUntil(lambda: bool(ev.cancelled and not window.trainer.is_running()), timeout=RUN_TIMEOUT)
    assert not out.exists() and not os.path.exists(partial_dir(str(out)))
    assert window.workspace.documents == [donut] and window.workspace.a is donut
    assert window.train_panel.state == "idle" and not window.errors and not ev.finished


def test_pause_then_resume_finishes(qtbot, window, tmp_path):
    capture = data_path(LEGO)
    panel = window.train_panel
    out = tmp_path / "paused"
    _tiny(panel, capture, out, iterations=40)
    ev = _Events(window.trainer)
    panel.start_button.click()
    qtbot.waitUntil(lambda: bool(panel.curve_points() >= 2 or ev.failed), timeout=RUN_TIMEOUT)
    panel.pause_button.click()
    assert panel.state == "pausing" and _buttons(panel) == (False, False, True)
    qtbot.waitUntil(lambda: bool(ev.paused or ev.failed or ev.finished), timeout=RUN_TIMEOUT)
    assert ev.paused and not ev.finished, "the run ended before the pause took effect"
    step = ev.paused[0].metrics["step"]
    assert 2 <= step < 40
    qtbot.waitUntil(lambda: bool(not window.trainer.is_running()), timeout=10_000)
    assert panel.state == "paused" and panel.pause_button.text() == "Resume"
    assert _buttons(panel) == (True, True, True)
    assert os.path.exists(os.path.join(partial_dir(str(out)), CHECKPOINT)) and not out.exists()
    assert window.trainer.document is not None and window.workspace.a is window.trainer.document
    assert "Paused at step" in panel.status.text()

    panel.pause_button.click()  # Resume
    assert panel.state == "running"
    qtbot.waitUntil(lambda: bool(ev.opened or ev.failed), timeout=RUN_TIMEOUT)
    assert not ev.failed and not window.errors
    assert ev.finished[0].metrics["iterations"] == 40
    assert (out / "point_cloud.ply").exists() and not os.path.exists(partial_dir(str(out)))
    steps = panel.loss_curve.getData()[0]
    assert steps[-1] == 40 and np.all(np.diff(steps) > 0)  # the curve continues after the pause
    assert window.workspace.a is ev.opened[0] and len(window.workspace.documents) == 1


def test_closing_the_window_while_training_cancels_cleanly(qtbot, window, tmp_path):
    import time

    capture = data_path(LEGO)
    out = tmp_path / "closed"
    _tiny(window.train_panel, capture, out, iterations=400)
    ev = _Events(window.trainer)
    window.train_panel.start_button.click()
    qtbot.waitUntil(lambda: bool(window.train_panel.curve_points() >= 1 or ev.failed), timeout=RUN_TIMEOUT)
    assert os.path.isdir(partial_dir(str(out)))
    job = window.trainer.job
    t0 = time.monotonic()
    window.close()  # cancels the job and waits for its current step
    assert time.monotonic() - t0 < 60 and not job.is_running()
    assert not out.exists() and not os.path.exists(partial_dir(str(out)))


def test_wait_all_joins_a_running_job(qtbot):
    """workers.wait_all (window close) cancels and joins jobs while the GUI thread blocks."""
    import time

    from app import workers

    def job(token):
        for _ in range(1000):
            time.sleep(0.01)
            yield None

    handle = workers.start(job)
    qtbot.waitUntil(handle.is_running, timeout=5000)
    t0 = time.monotonic()
    workers.wait_all(10_000)
    assert not handle.is_running() and time.monotonic() - t0 < 5


def test_garbage_is_collected_in_the_gui_thread_only(qtbot):
    """GUI tests run as the studio does (app.main.run; tests/app/conftest.py): inside
    workers.gui_thread_gc no worker thread collects garbage, however much it allocates; the GUI
    thread does. The block is scoped: nested, it changes nothing; left, the collector is back on."""
    import gc
    import threading

    from app import workers

    assert not gc.isenabled()
    freed_in = []

    class Cycle:
        def __init__(self):
            self.me = self

        def __del__(self):
            freed_in.append(threading.current_thread() is threading.main_thread())

    def job(token):
        for _ in range(5):
            Cycle()  # unreachable, but only a collection frees it
        keep = [[] for _ in range(20 * gc.get_threshold()[0])]  # would set off a collection here
        return len(keep)

    handle = workers.start(job)
    with qtbot.waitSignal(handle.done, timeout=10_000):
        pass
    assert freed_in == []
    gc.collect()
    assert freed_in == [True] * 5

    with workers.gui_thread_gc():  # nested: no change
        assert not gc.isenabled()
    assert not gc.isenabled()
    gc.enable()  # as outside the studio's block
    try:
        with workers.gui_thread_gc():
            assert not gc.isenabled()
        assert gc.isenabled()
    finally:
        gc.disable()


def test_bad_settings_and_bad_capture_show_errors(qtbot, window, tmp_path, donut_path):
    donut = open_and_wait(qtbot, window, donut_path)
    panel = window.train_panel
    panel.set_settings(capture=str(tmp_path / "nothing-here"), max_side=4)
    panel.start_button.click()  # max side 4 is out of range: refused before anything runs
    assert window.errors[-1][0] == "Cannot start training" and "max-side" in window.errors[-1][1]
    assert not window.trainer.is_running() and panel.state == "idle"
    panel.set_settings(max_side=32)
    ev = _Events(window.trainer)
    panel.start_button.click()
    qtbot.waitUntil(lambda: bool(ev.failed), timeout=60_000)
    assert window.errors[-1][0] == "Training failed" and "nothing-here" in window.errors[-1][1]
    assert panel.state == "idle" and window.workspace.a is donut and window.workspace.documents == [donut]
    assert not (tmp_path / "nothing-here-trained").exists()


def test_frustum_corners_project_to_the_image_corners():
    from engine.camera import Camera

    cam = Camera.look_at(np.array([1.0, -2.0, -4.0]), np.zeros(3), 64, 48, 50.0)
    pts = frustum_lines([cam], depth=0.5).astype(np.float64)  # [20, 3]
    w2c = cam.world_to_camera
    t = pts @ w2c[:3, :3].T + w2c[:3, 3]
    corners = t[[1, 3, 5, 7]]  # the far ends of the centre-to-corner segments
    assert np.allclose(corners[:, 2], 0.5)
    uv = np.stack([cam.fx * corners[:, 0] / corners[:, 2] + cam.cx, cam.fy * corners[:, 1] / corners[:, 2] + cam.cy], 1)
    assert np.allclose(uv, [[0, 0], [64, 0], [64, 48], [0, 48]], atol=1e-3)  # float32 points
    assert np.allclose(t[[0, 2, 4, 6]], 0, atol=1e-5)  # and start at the camera centre


def _segment_mask(points: np.ndarray, cam, radius: int = 2) -> np.ndarray:
    """Pixels within ``radius`` of the projected line segments (pairs of world points)."""
    mask = np.zeros((cam.height, cam.width), bool)
    w2c = cam.world_to_camera
    a, b = points[0::2].astype(np.float64), points[1::2].astype(np.float64)
    s = np.linspace(0, 1, 400)[:, None, None]
    p = (a[None] * (1 - s) + b[None] * s).reshape(-1, 3) @ w2c[:3, :3].T + w2c[:3, 3]
    p = p[p[:, 2] > 0.01]
    u = np.floor(cam.fx * p[:, 0] / p[:, 2] + cam.cx).astype(np.int64)
    v = np.floor(cam.fy * p[:, 1] / p[:, 2] + cam.cy).astype(np.int64)
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            uu, vv = u + dx, v + dy
            ok = (uu >= 0) & (uu < cam.width) & (vv >= 0) & (vv < cam.height)
            mask[vv[ok], uu[ok]] = True
    return mask


def _count(img: np.ndarray, rgb) -> int:
    target = np.round(np.asarray(rgb) * 255).astype(np.int16)
    return int((np.abs(img.astype(np.int16) - target).max(axis=2) <= 1).sum())


def test_capture_cameras_are_drawn_as_frusta(qtbot, window, donut_path):
    from engine.io.captures import load_capture

    capture_dir = data_path(LEGO)
    open_and_wait(qtbot, window, donut_path)
    vp = window.viewport
    centers = np.stack([f.camera.center for f in load_capture(str(capture_dir)).frames])
    vp.frame_box(centers.min(0), centers.max(0))  # a view that sees the capture's cameras
    wait_until_drawn(qtbot, window)
    base = _image(vp.grab_image())

    with qtbot.waitSignal(window.capture_opened, timeout=30_000):
        window.open_capture(str(capture_dir))
    assert len(vp.capture_cameras) == 50 and window.act_show_cameras.isChecked()
    wait_until_drawn(qtbot, window)
    on = _image(vp.grab_image())
    changed = (on != base).any(axis=2)
    assert changed.sum() > 300
    cam = vp.controller.camera(on.shape[1], on.shape[0])
    near_lines = _segment_mask(frustum_lines(vp.capture_cameras, vp._frusta_depth), cam)
    assert near_lines[changed].mean() > 0.97  # the pixels that changed are where the frusta project
    assert _count(on, TRAIN_COLOR) > 100 and _count(on, TEST_COLOR) > 10  # test views in their colour

    window.act_show_cameras.setChecked(False)  # View > Show Capture Cameras off: the splat image exactly
    wait_until_drawn(qtbot, window)
    assert np.array_equal(_image(vp.grab_image()), base)

    window.act_show_cameras.setChecked(True)
    item = window.camera_panel.capture_list.item(3)
    window.camera_panel.capture_camera_chosen.emit(item.data(Qt.UserRole))  # look through camera 3
    assert vp.highlighted_camera == 3
    assert np.allclose(vp.controller.c2w, vp.capture_cameras[3].camera_to_world)
    vp.frame_box(centers.min(0), centers.max(0))
    wait_until_drawn(qtbot, window)
    img = _image(vp.grab_image())
    assert _count(img, HIGHLIGHT_COLOR) > 10 and _count(on, HIGHLIGHT_COLOR) == 0
