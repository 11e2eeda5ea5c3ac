"""The studio's editing tools beyond selection shapes (issue 17, 2) under Xvfb with real OpenGL:
volumes dragged and sized in the viewport with the panel's numbers following, grow / shrink in
the worker, mirror / set up axis / select similar colour with undo, and the edit shortcuts left to
lists and fields."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from app.viewport.volume_drag import WHEEL_STEP
from engine.camera import project_points
from engine.edit import select, transform, volume
from tests.app.conftest import wait_until_drawn
from tests.app.test_edit_panel import _drag, _mouse, _open, _same, _scene_arrays, answers  # noqa: F401 (answers: a fixture)

pytestmark = pytest.mark.gui


def _pixel(cam, point) -> tuple[float, float]:
    uv, _ = project_points(cam, point)
    return float(uv[0, 0]), float(uv[0, 1])


def _wheel(widget, pos, steps: float, modifiers=Qt.ControlModifier):
    p = QPointF(*pos)
    QApplication.sendEvent(widget, QWheelEvent(p, widget.mapToGlobal(p), QPoint(), QPoint(0, int(120 * steps)), Qt.NoButton,
                                               modifiers, Qt.NoScrollPhase, False))  # fmt: skip


def _values(panel, kind):
    v = panel.volume_values(kind)
    return np.array(v["center"]), (v["radius"] if kind == "sphere" else np.array(v["size"]))


def test_box_and_sphere_are_dragged_and_sized_in_the_viewport(qtbot, window, donut_path):
    doc = _open(qtbot, window, donut_path)
    vp, panel, overlay = window.viewport, window.edit_panel, window.viewport.volumes
    lo, hi = doc.scene.robust_bounds()
    panel.set_volume("box", {"center": (lo + hi) / 2, "size": (hi - lo) / 2})
    panel.show_volume["box"].setChecked(True)
    assert overlay.isVisible() and set(overlay.volumes) == {"box"}
    start = panel.volume_values("box")
    cam = overlay.camera()
    c0, size0 = _values(panel, "box")
    x, y = _pixel(cam, c0)
    version = vp.controller.version

    # drag the centre dot: the centre moves in the screen plane; the panel follows while dragging
    live = []
    overlay.changed.connect(lambda kind, values: live.append(np.array(panel.volume_values(kind)["center"])))
    _mouse(vp, QEvent.MouseButtonPress, (x, y), Qt.LeftButton, Qt.LeftButton)
    _mouse(vp, QEvent.MouseMove, (x + 15, y - 5), Qt.NoButton, Qt.LeftButton)
    half = np.array(panel.volume_values("box")["center"])
    assert not np.allclose(half, c0) and overlay.dragging  # live, before the release
    _mouse(vp, QEvent.MouseMove, (x + 30, y - 10), Qt.NoButton, Qt.LeftButton)
    _mouse(vp, QEvent.MouseButtonRelease, (x + 30, y - 10), Qt.LeftButton, Qt.NoButton)
    expected = volume.drag("box", start, "center", cam, 30, -10)
    c1, size1 = _values(panel, "box")
    assert np.allclose(c1, expected["center"], atol=1e-4) and np.allclose(size1, size0)
    assert len(live) == 2 and not overlay.dragging
    assert vp.controller.version == version  # the drag moved the volume, not the camera
    assert np.allclose(_pixel(cam, c1), (x + 30, y - 10), atol=0.5)
    assert overlay.volumes["box"]["center"] == panel.volume_values("box")["center"]  # shows the panel's numbers

    # drag the +x face dot outwards: that face follows, the -x face stays
    face = volume.handles("box", panel.volume_values("box"), cam)["+x"]
    fx, fy = _pixel(cam, face)
    tx, ty = _pixel(cam, face + np.array([0.02, 0.0, 0.0]))
    before = panel.volume_values("box")
    _drag(vp, [(fx, fy), (tx, ty)])
    c2, size2 = _values(panel, "box")
    assert size2[0] == pytest.approx(size1[0] + 0.02, abs=2e-4) and np.allclose(size2[1:], size1[1:])
    assert c2[0] - size2[0] / 2 == pytest.approx(before["center"][0] - before["size"][0] / 2, abs=2e-4)

    # Ctrl+wheel sizes it about its centre; a plain wheel still zooms
    _wheel(vp, (x, y), 2)
    _, size3 = _values(panel, "box")
    assert np.allclose(size3, size2 * WHEEL_STEP**2, atol=2e-4)
    version = vp.controller.version
    _wheel(vp, (x, y), 1, Qt.NoModifier)
    assert vp.controller.version != version and np.allclose(_values(panel, "box")[1], size3)

    # Select inside box takes the dragged numbers; moving the volume is not an edit
    assert doc.session is None or len(doc.session.history.edits) == 0
    panel.buttons["box_select"].click()
    c, s = _values(panel, "box")
    assert np.array_equal(doc.session.selected, select.box(doc.scene, c, s / 2))

    # numbers typed in the panel move the shown volume; the sphere's rim dot sizes it
    panel.box_center[0].setValue(c[0] + 0.01)
    assert overlay.volumes["box"]["center"][0] == pytest.approx(c[0] + 0.01)
    panel.show_volume["sphere"].setChecked(True)
    panel.set_volume("sphere", {"center": c, "radius": 0.03})
    panel.volume_edited.emit("sphere", panel.volume_values("sphere"))
    cam = overlay.camera()
    rim = volume.handles("sphere", panel.volume_values("sphere"), cam)["radius"]
    rx, ry = _pixel(cam, rim)
    cx, _ = _pixel(cam, c)
    _drag(vp, [(rx, ry), (rx + (rx - cx), ry)])  # twice as far from the centre
    assert panel.sphere_radius.value() == pytest.approx(0.06, abs=2e-4)
    assert overlay.active == "sphere"

    # with a selection tool on, the dots still grab but the outline does not (a shape may start there)
    window.editor.set_tool("rectangle")
    c = np.array(panel.volume_values("sphere")["center"])
    _drag(vp, [_pixel(cam, c), np.add(_pixel(cam, c), (12, 0))])
    assert not np.allclose(panel.volume_values("sphere")["center"], c)
    seg = volume.project_segments(cam, volume.outline("box", panel.volume_values("box"), cam))
    on_edge = next(tuple(p) for a, b in seg for p in [(a + b) / 2] if overlay.hit(*p) is None)
    assert on_edge is not None  # an outline point that only grabs while navigating
    window.editor.set_tool(None)
    assert overlay.hit(*on_edge) is not None

    # away from the volumes a left drag orbits as before
    far = next((px, py) for px in range(4, 320, 12) for py in range(4, 240, 12) if overlay.hit(px, py) is None)
    version = vp.controller.version
    _drag(vp, [far, (far[0] + 30, far[1] + 20)])
    assert vp.controller.version != version
    panel.show_volume["box"].setChecked(False)
    panel.show_volume["sphere"].setChecked(False)
    assert not overlay.isVisible() and not overlay.volumes


def test_grow_and_shrink_run_in_the_worker(qtbot, window, donut_path, monkeypatch):
    doc = _open(qtbot, window, donut_path)
    ed = window.editor
    ed.select_range("opacity", 0.98, 1.0, "replace")
    session = doc.session
    sel0 = session.selected.copy()
    threads = []
    real = select.grown
    monkeypatch.setattr(select, "grown", lambda *a, **k: threads.append(threading.current_thread()) or real(*a, **k))
    with qtbot.waitSignal(ed.selection_done, timeout=60_000):
        ed.command("grow")
        assert np.array_equal(session.selected, sel0) and ed.is_busy()  # not on the GUI thread: the result comes later
        ed.command("undo")  # refused while the worker reads the splats
        assert np.array_equal(session.selected, sel0)
    assert threads and threads[0] is not threading.main_thread()
    expected = real(doc.scene, sel0, session.visible_mask, 8)
    assert np.array_equal(session.selected, expected) and expected.sum() > sel0.sum()
    assert "grow selection" in session.history.undo_label
    with qtbot.waitSignal(ed.selection_done, timeout=60_000):
        window.edit_panel.buttons["shrink"].click()
    assert np.array_equal(session.selected, expected & ~select.border(doc.scene, expected, session.visible_mask, 8))
    qtbot.waitUntil(lambda: not ed.is_busy())
    ed.command("undo")
    assert np.array_equal(session.selected, expected)


def test_mirror_set_up_and_similar_colour_with_undo(qtbot, window, donut_path):
    doc = _open(qtbot, window, donut_path)
    vp, ed, panel = window.viewport, window.editor, window.edit_panel
    menu_texts = [a.text() for a in window.menuBar().actions()[1].menu().actions()]
    assert {"Mirror X", "Mirror Y", "Mirror Z", "Select Similar Colour"} <= set(menu_texts)
    assert any(t.startswith("Set Up Axis") for t in menu_texts)

    # mirror the selection across x through its centre
    ed.select_range("opacity", 0.0, 0.3, "replace")
    session = doc.session
    sel = session.selected.copy()
    scene0 = _scene_arrays(doc.scene)
    cx = scene0[0][sel, 0].astype(np.float64).mean()
    with qtbot.waitSignal(vp.scene_ready, timeout=30_000):
        panel.buttons["mirror_x"].click()
    means = doc.scene.means.numpy()
    assert np.allclose(means[sel, 0], 2 * cx - scene0[0][sel, 0], atol=1e-6) and np.array_equal(means[~sel], scene0[0][~sel])
    assert np.array_equal(means[sel, 1:], scene0[0][sel, 1:])
    ed.command("undo")
    assert _same(_scene_arrays(doc.scene), scene0)

    # set up axis: the donut's up is +z; the whole scene turns so that +z becomes -y
    ed.command("none")
    panel.up_axis.setCurrentIndex(panel.up_axis.findData("+z"))
    with qtbot.waitSignal(vp.scene_ready, timeout=30_000):
        panel.buttons["set_up"].click()
    r = transform.up_rotation("+z")
    assert np.allclose(doc.scene.means.numpy(), scene0[0].astype(np.float64) @ r.T, atol=1e-6)
    assert np.array_equal(doc.up, [0.0, -1.0, 0.0]) and "set up" in session.history.undo_label
    ed.command("undo")
    assert _same(_scene_arrays(doc.scene), scene0)
    wait_until_drawn(qtbot, window)

    # pick a colour: click a splat with the picker; the similar ones are selected
    qtbot.keyClick(vp, Qt.Key_I)
    assert vp.selection.tool == "pick" and panel.buttons["pick"].isChecked()
    cam = ed.selection_camera()
    _, alpha = vp.front_depth(cam)  # [H, W]: click where the scene covers the pixel, nearest the middle
    rows, cols = np.nonzero(alpha > 0.95)
    i = int(np.argmin((rows - cam.height / 2) ** 2 + (cols - cam.width / 2) ** 2))
    x, y = cols[i] + 0.5, rows[i] + 0.5
    with qtbot.waitSignal(ed.selection_done, timeout=30_000):
        _drag(vp, [(x, y)])
    d, a = vp.front_depth(cam)
    index = select.pick(doc.scene, cam, x, y, session.visible_mask, depth=d, alpha=a)
    assert index is not None and ed.picked == index
    expected = select.similar_colour(doc.scene, index, 10.0)
    assert np.array_equal(session.selected, expected) and 0 < expected.sum() < doc.scene.count
    assert f"Splat {index:,}" in panel.picked.text()
    panel.colour_tolerance.setValue(4.0)
    with qtbot.waitSignal(ed.selection_done, timeout=30_000):
        panel.buttons["similar"].click()
    assert np.array_equal(session.selected, select.similar_colour(doc.scene, index, 4.0))
    ed.command("undo")
    assert np.array_equal(session.selected, expected)
    qtbot.keyClick(vp, Qt.Key_Escape)
    assert vp.selection.tool is None and not panel.buttons["pick"].isChecked()


def test_edit_shortcuts_leave_lists_and_fields_alone(qtbot, window, donut_path, monkeypatch):
    doc = _open(qtbot, window, donut_path)
    vp, panel = window.viewport, window.edit_panel
    window.docks["Edit"].raise_()  # its fields can take the focus
    opened = []
    monkeypatch.setattr("app.edit_controller.TransformDialog", lambda *a, **k: opened.append(a) or None)
    qtbot.keyClick(vp, Qt.Key_A, Qt.ControlModifier)
    session = doc.session
    assert session.selected_count == doc.scene.count

    scenes = window.scene_panel.list
    scenes.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is scenes)
    for key, mods in [(Qt.Key_Delete, Qt.NoModifier), (Qt.Key_H, Qt.NoModifier), (Qt.Key_I, Qt.ControlModifier),
                      (Qt.Key_R, Qt.NoModifier), (Qt.Key_1, Qt.NoModifier), (Qt.Key_BracketRight, Qt.NoModifier)]:  # fmt: skip
        qtbot.keyClick(scenes, key, mods)
    assert session.deleted_count == 0 and session.hidden_count == 0 and session.selected_count == doc.scene.count
    assert vp.selection.tool is None and not opened and doc in window.workspace.documents

    spin = panel.colour_tolerance
    spin.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is spin)
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin, "3")
    qtbot.keyClick(spin, Qt.Key_Delete)
    qtbot.keyClick(spin, Qt.Key_Return)
    assert not opened and session.deleted_count == 0 and vp.selection.tool is None
    assert spin.value() == 3.0  # the keys went to the field

    # a click in the viewport gives it the keys back
    _drag(vp, [(5, 5)])
    assert QApplication.focusWidget() is vp
    qtbot.keyClick(vp, Qt.Key_H)
    assert session.hidden_count == doc.scene.count
    qtbot.keyClick(vp, Qt.Key_H, Qt.ShiftModifier)
    qtbot.keyClick(vp, Qt.Key_A, Qt.ControlModifier)
    qtbot.keyClick(vp, Qt.Key_Delete)
    assert session.deleted_count == doc.scene.count
    # a button of the panel (not a field) leaves the shortcuts on
    panel.buttons["undo"].setFocus()
    qtbot.keyClick(panel.buttons["undo"], Qt.Key_Z, Qt.ControlModifier)
    assert session.deleted_count == 0
    qtbot.keyClick(panel.buttons["undo"], Qt.Key_R)
    assert vp.selection.tool == "rectangle"
