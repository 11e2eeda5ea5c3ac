"""Editing in the studio (issue 17, 2) under Xvfb with real OpenGL: the selection tools in the
viewport against engine.edit.select for the same camera, Delete / undo / redo bit for bit, the
tint and hidden splats in the GL image, the histogram range, the clean-up previews, transforms,
Save (the file has the kept splats), the title's unsaved mark and the question on close."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QMessageBox

from app.documents import Document
from engine import io
from engine.edit import cleanup, select
from tests.app.conftest import open_and_wait, wait_until_drawn
from tests.conftest import random_scene

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def answers(monkeypatch):
    """QMessageBox.question answers from this list (then Discard), so no test waits on a modal
    dialog (the window fixture's close asks about unsaved edits); the questions are recorded."""
    state = {"answers": [], "asked": []}

    def question(parent, title, text, *args, **kw):
        state["asked"].append(text)
        return state["answers"].pop(0) if state["answers"] else QMessageBox.Discard

    monkeypatch.setattr(QMessageBox, "question", question)
    return state


def _image(qimage) -> np.ndarray:  # QImage -> [H, W, 3] uint8
    img = qimage.convertToFormat(qimage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    return np.frombuffer(img.constBits(), np.uint8, count=bpl * h).reshape(h, bpl)[:, : w * 3].reshape(h, w, 3).copy()


def _mouse(widget, kind, pos, button=Qt.NoButton, buttons=Qt.NoButton, modifiers=Qt.NoModifier):
    p = QPointF(*pos)
    QApplication.sendEvent(widget, QMouseEvent(kind, p, widget.mapToGlobal(p), button, buttons, modifiers))


def _drag(widget, points, modifiers=Qt.NoModifier):
    _mouse(widget, QEvent.MouseButtonPress, points[0], Qt.LeftButton, Qt.LeftButton, modifiers)
    for p in points[1:]:
        _mouse(widget, QEvent.MouseMove, p, Qt.NoButton, Qt.LeftButton, modifiers)
    _mouse(widget, QEvent.MouseButtonRelease, points[-1], Qt.LeftButton, Qt.NoButton, modifiers)


def _select_by_drag(qtbot, window, points, modifiers=Qt.NoModifier):
    """Drag with the current tool; returns the shape the controller got (shape, args, mode)."""
    got = []
    window.viewport.selection.shape_drawn.connect(lambda *a: got.append(a))
    with qtbot.waitSignal(window.editor.selection_done, timeout=30_000):
        _drag(window.viewport, points, modifiers)
    return got[-1]


def _scene_arrays(scene) -> list[np.ndarray]:
    return [t.detach().cpu().numpy().copy() for t in (scene.means, scene.quats, scene.log_scales, scene.opacity_logits, scene.sh)]


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return all(x.tobytes() == y.tobytes() for x, y in zip(a, b))


def _open(qtbot, window, path, front_only=False):
    """Open a scene in an active window (shortcuts work in the active window only)."""
    doc = open_and_wait(qtbot, window, path)
    with warnings.catch_warnings():  # Xvfb has no window manager to activate the window
        warnings.simplefilter("ignore", DeprecationWarning)
        QApplication.setActiveWindow(window)
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    window.viewport.setFocus()
    window.editor.set_front_only(front_only)
    return doc


def test_rectangle_delete_undo_redo_save(qtbot, window, donut_path, tmp_path):
    doc = _open(qtbot, window, donut_path)
    vp, ed = window.viewport, window.editor
    assert window.windowTitle() == "SplatLab — fused.ply"
    before_img = _image(vp.grab_image())
    qtbot.keyClick(vp, Qt.Key_R)
    assert vp.selection.tool == "rectangle" and ed.actions["rectangle"].isChecked()
    cam = vp.current_camera()
    shape, args, mode = _select_by_drag(qtbot, window, [(90, 60), (150, 120), (230, 180)])
    assert (shape, tuple(args), mode) == ("rectangle", (90.0, 60.0, 230.0, 180.0), "replace")
    session = doc.session
    expected = select.rectangle(doc.scene, cam, 90, 60, 230, 180)
    assert 1000 < expected.sum() < doc.scene.count
    assert np.array_equal(session.selected, expected)  # the same splats as the engine's, for the same camera
    assert f"Selected {int(expected.sum()):,}" in window.edit_panel.counts.text()
    assert window.windowTitle().endswith("*")
    wait_until_drawn(qtbot, window)
    tinted = _image(vp.grab_image())
    inside = np.s_[70:170, 100:220]
    assert np.abs(tinted[inside].astype(int) - before_img[inside]).mean() > 5  # the selection is tinted
    assert (tinted[inside][..., 0].astype(int) - tinted[inside][..., 2]).mean() > (before_img[inside][..., 0].astype(int)
                                                                                  - before_img[inside][..., 2]).mean()  # fmt: skip

    state0, scene0 = session.state.copy(), _scene_arrays(doc.scene)
    qtbot.keyClick(vp, Qt.Key_Delete)
    assert session.deleted_count == expected.sum() and session.selected_count == 0
    assert f"deleted {int(expected.sum()):,}" in window.edit_panel.counts.text()
    wait_until_drawn(qtbot, window)
    deleted_img = _image(vp.grab_image())
    assert deleted_img[inside].mean() < before_img[inside].mean() - 5  # the deleted splats are not drawn

    qtbot.keyClick(vp, Qt.Key_Z, Qt.ControlModifier)
    assert session.state.tobytes() == state0.tobytes() and _same(_scene_arrays(doc.scene), scene0)  # bit for bit
    qtbot.keyClick(vp, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)  # redo the delete
    assert session.deleted_count == expected.sum()

    out = tmp_path / "edited.ply"
    with qtbot.waitSignal(ed.saved, timeout=60_000):
        ed.save(doc, str(out))
    saved = io.load(out)
    assert saved.count == doc.scene.count - int(expected.sum())
    kept = torch.from_numpy(~expected)
    assert torch.equal(saved.means, doc.scene.means[kept])
    assert not window.windowTitle().endswith("*") and window.windowTitle() == "SplatLab — edited.ply"
    assert doc.path == str(out)
    qtbot.keyClick(vp, Qt.Key_Z, Qt.ControlModifier)  # undoing past the save: unsaved again
    assert window.windowTitle().endswith("*")


def test_front_layer_keeps_only_what_is_seen(qtbot, window, donut_path):
    doc = _open(qtbot, window, donut_path, front_only=True)
    vp, ed = window.viewport, window.editor
    assert ed.front_only and window.edit_panel.front_only.isChecked()  # the default
    ed.set_tool("rectangle")
    cam = vp.current_camera()
    _select_by_drag(qtbot, window, [(40, 30), (280, 210)])
    everything = select.rectangle(doc.scene, cam, 40, 30, 280, 210)
    depth, alpha = select.render_depth(doc.scene, cam)  # the engine's depth at the same camera
    engine_front = select.front_layer(doc.scene, cam, everything, depth=depth, alpha=alpha)
    got = doc.session.selected
    assert got.sum() < 0.8 * everything.sum()  # the splats behind the front surface are left out
    assert not (got & ~everything).any()
    assert (got != engine_front).sum() <= 0.005 * everything.sum()  # the GL depth agrees with the engine's


def test_lasso_brush_and_modifiers(qtbot, window, donut_path):
    doc = _open(qtbot, window, donut_path)
    vp, ed = window.viewport, window.editor
    qtbot.keyClick(vp, Qt.Key_L)
    cam = vp.current_camera()
    shape, poly, mode = _select_by_drag(qtbot, window, [(160, 40), (260, 120), (160, 200), (60, 120), (150, 45)])
    assert shape == "polygon" and mode == "replace"
    lasso = select.polygon(doc.scene, cam, poly)
    assert lasso.sum() > 500 and np.array_equal(doc.session.selected, lasso)

    qtbot.keyClick(vp, Qt.Key_B)
    assert vp.selection.tool == "brush"
    r0 = vp.selection.brush_radius
    qtbot.keyClick(vp, Qt.Key_BracketRight)
    assert vp.selection.brush_radius > r0
    qtbot.keyClick(vp, Qt.Key_BracketLeft)
    assert vp.selection.brush_radius == pytest.approx(r0)
    shape, (stroke, radius), mode = _select_by_drag(qtbot, window, [(40, 30), (90, 60), (140, 90)], Qt.ShiftModifier)
    assert shape == "brush" and mode == "add" and radius == r0
    brushed = select.brush(doc.scene, cam, stroke, radius)
    assert np.array_equal(doc.session.selected, lasso | brushed)

    ed.set_tool("rectangle")
    _select_by_drag(qtbot, window, [(100, 80), (220, 160)], Qt.ControlModifier)
    rect = select.rectangle(doc.scene, cam, 100, 80, 220, 160)
    assert np.array_equal(doc.session.selected, (lasso | brushed) & ~rect)
    _select_by_drag(qtbot, window, [(60, 40), (200, 200)], Qt.ControlModifier | Qt.ShiftModifier)
    rect2 = select.rectangle(doc.scene, cam, 60, 40, 200, 200)
    assert np.array_equal(doc.session.selected, (lasso | brushed) & ~rect & rect2)
    qtbot.keyClick(vp, Qt.Key_Escape)
    assert vp.selection.tool is None and not ed.actions["rectangle"].isChecked()

    # Ctrl+A / Ctrl+I / Ctrl+Shift+A, H / Shift+H
    qtbot.keyClick(vp, Qt.Key_A, Qt.ControlModifier)
    assert doc.session.selected_count == doc.scene.count
    qtbot.keyClick(vp, Qt.Key_A, Qt.ControlModifier | Qt.ShiftModifier)
    assert doc.session.selected_count == 0
    ed.select_range("opacity", 0.0, 0.5, "replace")
    low = doc.session.selected.copy()
    qtbot.keyClick(vp, Qt.Key_I, Qt.ControlModifier)
    assert np.array_equal(doc.session.selected, ~low)
    qtbot.keyClick(vp, Qt.Key_H)
    assert np.array_equal(doc.session.hidden, ~low) and doc.session.selected_count == 0
    qtbot.keyClick(vp, Qt.Key_H, Qt.ShiftModifier)
    assert doc.session.hidden_count == 0


def test_side_by_side_selects_with_the_left_half_camera(qtbot, window, donut_path):
    doc = _open(qtbot, window, donut_path)
    other = Document("random", random_scene(500, seed=4))
    window.workspace.add(other, make_current=False)
    window.workspace.set_b(other)
    window.set_compare_mode("side")
    wait_until_drawn(qtbot, window)
    vp = window.viewport
    window.editor.set_tool("rectangle")
    _select_by_drag(qtbot, window, [(20, 60), (150, 180)])
    half = vp.controller.camera(vp.width() // 2, vp.height())  # A is drawn in the left half
    expected = select.rectangle(doc.scene, half, 20, 60, 150, 180)
    assert expected.sum() > 100 and not np.array_equal(expected, select.rectangle(doc.scene, vp.current_camera(), 20, 60, 150, 180))
    assert np.array_equal(doc.session.selected, expected)
    assert other.session is None  # B is not edited


def test_histogram_range_selects(qtbot, window, donut_path):
    doc = _open(qtbot, window, donut_path)
    panel = window.edit_panel
    panel.attribute.setCurrentIndex(panel.attribute.findData("opacity"))
    with qtbot.waitSignal(panel.range_selected) as blocker:
        panel.set_region(0.3, 0.7)
    name, lo, hi, mode = blocker.args
    assert (name, mode) == ("opacity", "replace") and lo == pytest.approx(0.3) and hi == pytest.approx(0.7)
    expected = select.attribute_range(doc.scene, "opacity", lo, hi)
    assert 0 < expected.sum() < doc.scene.count
    assert np.array_equal(doc.session.selected, expected)
    assert f"{int(expected.sum()):,} splats" in panel.range_label.text()

    # a log-scaled attribute; the panel's mode combo: intersect with the opacity range
    panel.attribute.setCurrentIndex(panel.attribute.findData("volume"))
    panel.mode.setCurrentIndex(panel.mode.findData("intersect"))
    v = select.attribute_values(doc.scene, "volume")
    a, b = np.percentile(v, [20, 80])
    with qtbot.waitSignal(panel.range_selected) as blocker:
        panel.set_region(a, b)
    _, lo2, hi2, mode = blocker.args
    assert mode == "intersect" and lo2 == pytest.approx(a) and hi2 == pytest.approx(b)
    assert np.array_equal(doc.session.selected, expected & select.attribute_range(doc.scene, "volume", lo2, hi2))

    # hidden splats leave the histogram
    counts_all = panel.bars.yData.sum()
    window.editor.command("hide")
    assert panel.bars.yData.sum() == counts_all - int((expected & select.attribute_range(doc.scene, "volume", lo2, hi2)).sum())


def test_cleanup_previews_count_what_the_engine_removes(qtbot, window, donut_path):
    doc = _open(qtbot, window, donut_path)
    panel, ed = window.edit_panel, window.editor
    panel.floater_k.setValue(10)
    panel.floater_std.setValue(1.5)
    with qtbot.waitSignal(ed.preview_done, timeout=60_000) as blocker:
        panel.buttons["preview_floaters"].click()
    expected = cleanup.statistical_outliers(doc.scene, 10, 1.5)
    assert blocker.args == ["floaters", int(expected.sum())] and expected.sum() > 0
    assert np.array_equal(doc.session.selected, expected)
    assert panel.preview_counts["floaters"].text() == f"{int(expected.sum()):,} would go"
    panel.buttons["cleanup_delete"].click()
    assert np.array_equal(doc.session.deleted, expected)

    panel.cluster_voxel.setValue(0.02)
    with qtbot.waitSignal(ed.preview_done, timeout=60_000) as blocker:
        panel.buttons["preview_cluster"].click()
    cluster = cleanup.outside_largest_cluster(doc.scene, 0.02, candidates=~expected)
    assert blocker.args == ["cluster", int(cluster.sum())]
    with qtbot.waitSignal(ed.preview_done, timeout=60_000) as blocker:
        panel.buttons["preview_prune"].click()
    assert blocker.args == ["prune", int(cleanup.prune_preset(doc.scene, "inria", candidates=~expected).sum())]


def test_volumes_and_transforms(qtbot, window, donut_path, monkeypatch):
    doc = _open(qtbot, window, donut_path)
    panel = window.edit_panel
    lo, hi = doc.scene.robust_bounds()
    c = (lo + hi) / 2
    for spin, v in zip(panel.sphere_center, c):
        spin.setValue(float(v))
    panel.sphere_radius.setValue(0.3 * float(np.linalg.norm(hi - lo)))
    panel.buttons["sphere_select"].click()
    sphere = select.sphere(doc.scene, [s.value() for s in panel.sphere_center], panel.sphere_radius.value())
    assert 0 < sphere.sum() < doc.scene.count and np.array_equal(doc.session.selected, sphere)

    # 2: rotate the selection through the dialog; the viewport prepares the moved splats again
    class FakeDialog:
        def __init__(self, kind, target, parent=None):
            self.kind, self.target = kind, target

        def exec(self):
            return True

        def values(self):
            return [0.0, 0.0, 90.0] if self.kind == "rotate" else [1.5]

    monkeypatch.setattr("app.edit_controller.TransformDialog", FakeDialog)
    scene0 = _scene_arrays(doc.scene)
    with qtbot.waitSignal(window.viewport.scene_ready, timeout=30_000):
        qtbot.keyClick(window.viewport, Qt.Key_2)
    moved = doc.scene.means.numpy()
    assert not np.array_equal(moved[sphere], scene0[0][sphere]) and np.array_equal(moved[~sphere], scene0[0][~sphere])
    assert np.allclose(window.viewport.slots["A"].prepared.means, moved)
    qtbot.keyClick(window.viewport, Qt.Key_3)  # scale 1.5 about the selection's centre
    qtbot.keyClick(window.viewport, Qt.Key_Z, Qt.ControlModifier)
    qtbot.keyClick(window.viewport, Qt.Key_Z, Qt.ControlModifier)
    assert _same(_scene_arrays(doc.scene), scene0)  # undone bit for bit
    wait_until_drawn(qtbot, window)

    # crop to a box: everything outside is deleted
    for spin, v in zip(panel.box_center, c):
        spin.setValue(float(v))
    for spin, v in zip(panel.box_size, hi - lo):
        spin.setValue(0.5 * float(v))
    panel.buttons["box_crop"].click()
    inside = select.box(doc.scene, [s.value() for s in panel.box_center], np.array([s.value() for s in panel.box_size]) / 2)
    assert np.array_equal(doc.session.deleted, ~inside)
    assert doc.result_scene().count == int(inside.sum())


def test_compress_works_on_the_edited_scene(qtbot, window, donut_path, monkeypatch):
    doc = _open(qtbot, window, donut_path)
    window.editor.select_range("opacity", 0.0, 0.2, "replace")
    window.editor.command("delete")
    kept = doc.scene.count - doc.session.deleted_count
    got = []

    def fake_sweep(scene, *a, **k):
        got.append(scene)
        raise RuntimeError("stop here")

    monkeypatch.setattr("app.compress_controller.rd_sweep", fake_sweep)
    window.compressor.prepare()
    qtbot.waitUntil(lambda: got and not window.compressor.is_running(), timeout=30_000)
    assert got[0].count == kept < doc.scene.count  # the sweep got the scene without the deleted splats
    assert window.compressor._source_revision == doc.edit_revision


def test_title_and_closing_with_unsaved_edits(qtbot, answers, window, donut_path, tmp_path):
    doc = _open(qtbot, window, donut_path)
    qtbot.keyClick(window.viewport, Qt.Key_A, Qt.ControlModifier)
    assert window.windowTitle() == "SplatLab — fused.ply*"
    answers["answers"] = [QMessageBox.Cancel]
    window.close()
    assert window.isVisible() and answers["asked"] and "fused.ply has unsaved edits" in answers["asked"][-1]
    answers["answers"] = [QMessageBox.Cancel]
    window.close_document(doc)
    assert doc in window.workspace.documents  # cancelled: the scene and its edits stay
    # Save from the question: written, then closed
    doc.path = str(tmp_path / "kept.ply")  # Save writes to the document's own file
    answers["answers"] = [QMessageBox.Save]
    window.close_document(doc)
    assert doc not in window.workspace.documents and io.load(tmp_path / "kept.ply").count == doc.scene.count
    assert window.windowTitle() == "SplatLab"


def test_bad_save_path_reports_and_keeps_the_edits(qtbot, window, donut_path, tmp_path):
    doc = _open(qtbot, window, donut_path)
    window.editor.command("all")
    assert window.editor.save(doc, str(tmp_path / "scene.txt")) is False
    assert window.errors and "scene.txt" in window.errors[-1][1]
    (tmp_path / "a-file").write_text("not a folder")
    assert not window.editor.save(doc, str(tmp_path / "a-file" / "x.ply"), wait=True)
    assert "a-file" in window.errors[-1][1]
    assert doc.modified and window.windowTitle().endswith("*")
