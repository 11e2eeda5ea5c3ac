"""The Distill dock under Xvfb: one tiny distillation run from the dock's buttons (shared by the
module), its result table and per-view chart, teacher | student in the viewport (split and
difference), a chart click looking through that test camera, opening a finished output folder,
cancel, and a corrupt teacher."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
from PySide6.QtCore import QEventLoop, QPointF, QSettings, Qt, QTimer
from PySide6.QtTest import QTest

from app.documents import Document
from engine.distill.report import load_report
from engine.errors import InputError
from engine.train.trainer import partial_dir
from tests.app.conftest import open_and_wait, wait_until_drawn
from tests.app.test_studio import _image
from tests.conftest import data_path

pytestmark = [pytest.mark.gui, pytest.mark.filterwarnings("ignore::engine.io.captures.CaptureWarning")]  # lego lists absent images

LEGO = "captures/lego_nerf_synthetic"
TINY = dict(keep=0.3, iterations=30, max_side=32, init_points=300, device="cpu", seed=0, pseudo_views=8)
RUN_TIMEOUT = 600_000  # ms; the tiny run takes ~20 s on 2 cores, a few minutes on heavily loaded ones
# Waits block in a QEventLoop until a signal (qtbot.waitSignal), never by polling: a polling wait
# (QTest.qWait in a loop, qtbot.waitUntil) wakes the GUI thread every few ms, and on a loaded
# machine the worker thread then loses the GIL so often that the run takes 40x longer.


class _Events:
    """Collects the controller's signals so a test never misses one that fired early."""

    def __init__(self, distiller):
        self.previews, self.finished, self.shown, self.cancelled, self.failed, self.states = [], [], [], [], [], []
        self.stages: set[str] = set()
        distiller.preview_shown.connect(lambda doc: self.previews.append(doc.name))
        distiller.finished.connect(self.finished.append)
        distiller.result_shown.connect(self.shown.append)
        distiller.cancelled.connect(lambda: self.cancelled.append(True))
        distiller.failed.connect(self.failed.append)
        distiller.state_changed.connect(self.states.append)

    def watch(self, job) -> None:
        job.progress.connect(lambda p: self.stages.add((p.metrics or {}).get("stage", "")))


def _wait_signal(signals, timeout_ms: int) -> None:
    """Run the event loop until one of ``signals`` fires (or the timeout)."""
    loop = QEventLoop()
    for signal in signals:
        signal.connect(loop.quit)
    QTimer.singleShot(timeout_ms, loop.quit)
    loop.exec()


def _start(window, capture, out, **settings) -> _Events:
    ev = _Events(window.distiller)
    panel = window.distill_panel
    panel.set_settings(capture=str(capture), output=str(out), **dict(TINY, **settings))
    assert panel.start_button.isEnabled()
    panel.start_button.click()
    assert window.distiller.job is not None
    ev.watch(window.distiller.job)
    return ev


@pytest.fixture(scope="module")
def distilled(qapp, tmp_path_factory):
    """A window of its own (kept for the module) that ran one tiny distillation from the dock."""
    from app import workers
    from app.main_window import MainWindow

    capture = data_path(LEGO)
    tmp = tmp_path_factory.mktemp("distill")
    # collect garbage in the GUI thread only, as the studio does (app.workers); older trees hold it in MainWindow
    gc_block = workers.gui_thread_gc() if hasattr(workers, "gui_thread_gc") else contextlib.nullcontext()
    gc_block.__enter__()
    win = MainWindow(QSettings(str(tmp / "settings.ini"), QSettings.IniFormat))
    win.viewport.setFixedSize(320, 240)
    win.resize(1400, 900)
    win.show()
    win.errors = []
    win.report_error = lambda title, message: win.errors.append((title, message))
    out = tmp / "lego-distilled"
    d = win.distiller
    ev = _start(win, capture, out)  # what it emits arrives through the event loop: nothing is missed
    _wait_signal([d.result_shown, d.failed, d.cancelled], RUN_TIMEOUT)
    assert ev.shown, f"the run did not finish: {win.errors or ev.failed or 'timed out'}"
    assert not win.errors and not ev.failed
    state = SimpleNamespace(window=win, out=out, events=ev, a_after_run=win.workspace.a,
                            live={k: lab.text() for k, lab in win.distill_panel.live.items()})  # fmt: skip
    yield state
    win.close()
    win.deleteLater()
    QTest.qWait(10)
    gc_block.__exit__(None, None, None)


def test_the_dock_runs_a_distillation_and_shows_the_table_and_the_chart(distilled):
    win, out, ev = distilled.window, distilled.out, distilled.events
    panel = win.distill_panel
    view_menu = next(a.menu() for a in win.menuBar().actions() if a.text().replace("&", "") == "View")
    assert "Distill" in win.docks and win.docks["Distill"].toggleViewAction() in view_menu.actions()
    # it trained three teachers, then the student, live in the viewport, and measured them
    assert {"teacher 1/3 (standard)", "teacher 2/3 (noise)", "teacher 3/3 (dropout)", "teacher means",
            "teacher means at pseudo-views"} <= ev.stages  # fmt: skip
    assert any(s.startswith("student") for s in ev.stages) and "evaluate student" in ev.stages
    assert ev.previews and all(name.startswith("distilling: ") for name in ev.previews)
    assert ev.states[0] == "running" and "evaluating" in ev.states and ev.states[-1] == "idle"
    assert distilled.live["gaussians"] != "—" and distilled.live["loss"] != "—" and distilled.live["elapsed"] != "—"
    assert panel.progress.format() == "done" and panel.progress.value() == panel.progress.maximum()
    # the output folder, and the student is now the current scene (the preview is gone)
    assert (out / "point_cloud.ply").exists() and (out / "metrics.json").exists()
    assert json.loads((out / "config.json").read_text())["pseudo_views"] == TINY["pseudo_views"]  # the panel's field
    assert not os.path.exists(partial_dir(str(out)))
    assert distilled.a_after_run.name.startswith("student") and distilled.a_after_run.path == str(out / "point_cloud.ply")
    assert not any(d.name.startswith("distilling: ") for d in win.workspace.documents)
    # the table: 3 teachers and the student, whose count keeps to the budget
    assert panel.table.rowCount() == 4
    labels = [panel.table.item(r, 0).text() for r in range(4)]
    assert labels == ["teacher (standard)", "teacher (noise)", "teacher (dropout)", "student"]
    counts = [int(panel.table.item(r, 1).text().split()[0].replace(",", "")) for r in range(4)]
    assert counts[3] <= TINY["keep"] * counts[0]
    report = load_report(out)
    assert counts == [m["count"] for m in report["models"]]
    assert all(panel.table.item(r, 4).text().endswith("dB") for r in range(4))
    # the chart: one line per model, a point per test view
    views = len(report["test_views"])
    assert views > 0 and len(panel.curves) == 4
    assert [y for _, y in panel.plotted_points(-1)] == pytest.approx(report["student"]["psnr_per_view"])
    assert panel.view_table.rowCount() == views


def test_compare_shows_teacher_as_a_and_student_as_b_and_their_difference(qtbot, distilled):
    win = distilled.window
    panel = win.distill_panel
    win.act_show_cameras.setChecked(False)  # frusta would draw over the heat map
    panel.view_chosen.emit(0)  # look through a test camera: the scene fills the view
    panel.compare_button.click()  # the standard teacher, split
    assert win.workspace.a.name.startswith("teacher (standard)") and win.workspace.b.name.startswith("student")
    assert win.viewport.compare_mode == "split"
    # the difference view: a heat map where teacher and student differ ...
    panel.compare_mode.setCurrentIndex(panel.compare_mode.findData("difference"))
    panel.compare_button.click()
    assert win.viewport.compare_mode == "difference" and win.compare_actions["difference"].isChecked()
    differ = _difference_image(qtbot, win)
    assert win.viewport.compare_metrics["mae"] > 0
    assert (differ.max(-1) > 40).mean() > 0.01
    # ... and black where they agree (the teacher against itself)
    same = Document("the same teacher", win.workspace.a.scene.replace())
    win.workspace.add(same, make_current=False)
    win.workspace.set_b(same)
    agree = _difference_image(qtbot, win)
    assert win.viewport.compare_metrics["mae"] == pytest.approx(0.0, abs=1e-6)
    assert agree.max() <= 8
    win.workspace.remove(same)


def _difference_image(qtbot, window) -> np.ndarray:
    """The viewport once the difference for this view is measured, the colour bar masked out."""
    vp = window.viewport
    before = vp.compare_metrics  # the numbers of what was shown before (if any) do not count
    wait_until_drawn(qtbot, window)
    qtbot.waitUntil(lambda: vp.compare_metrics is not None and vp.compare_metrics is not before, timeout=60_000)
    img = _image(vp.grab_image())
    x, y, bw, bh = vp._colorbar_rect
    img[y - 2 : y + bh + 2, : x + bw + 2] = 0
    return img


def test_clicking_a_view_in_the_chart_or_the_table_looks_through_that_test_camera(qtbot, distilled):
    win = distilled.window
    panel = win.distill_panel
    report = win.distiller.report
    panel.views_tabs.setCurrentWidget(panel.plot)
    qtbot.wait(200)
    k = len(report["test_views"]) - 1
    x, y = panel.plotted_points(-1)[k]  # the student's point of the last test view
    pos = panel.plot.mapFromScene(panel.plot.getPlotItem().vb.mapViewToScene(QPointF(x, y)))
    with qtbot.waitSignal(win.distiller.view_shown, timeout=5000) as blocker:
        QTest.mouseClick(panel.plot.viewport(), Qt.LeftButton, Qt.NoModifier, pos)
    assert blocker.args == [k]
    frame = win.capture.frames[report["test_view_indices"][k]]
    assert np.allclose(win.viewport.current_camera().camera_to_world, frame.camera.camera_to_world, atol=1e-6)
    assert win.viewport.highlighted_camera == report["test_view_indices"][k]
    # a row of the per-view table does the same
    panel.views_tabs.setCurrentWidget(panel.view_table)
    with qtbot.waitSignal(win.distiller.view_shown, timeout=5000) as blocker:
        panel.view_table.selectRow(1)
    assert blocker.args == [1]
    frame = win.capture.frames[report["test_view_indices"][1]]
    assert np.allclose(win.viewport.current_camera().camera_to_world, frame.camera.camera_to_world, atol=1e-6)


def test_open_a_finished_result_then_export_or_send_the_student_to_compress(qtbot, window, distilled, tmp_path):
    out = distilled.out
    shown = []
    window.distiller.result_shown.connect(shown.append)
    with qtbot.waitSignal(window.distiller.result_shown, timeout=120_000):
        assert window.distiller.open_result(str(out))
    panel = window.distill_panel
    assert panel.table.rowCount() == 4 and len(panel.curves) == 4
    assert window.workspace.a.name.startswith("student") and window.capture is not None
    assert panel.capture.text() == str(data_path(LEGO))  # the run's capture, to distil it again
    window.distiller.compare(1, "side")  # the noise teacher, side by side
    assert window.workspace.a.name.startswith("teacher (noise)") and window.viewport.compare_mode == "side"
    panel.compress_button.click()  # Send to Compress: the student alone is the current scene
    assert window.workspace.a.name.startswith("student") and window.workspace.b is None
    assert window.docks["Compress"].isVisible() and not window.docks["Compress"].visibleRegion().isEmpty()
    window.export_dialog = lambda: shown.append("export")  # the dialog itself is File > Export…'s
    window.distiller.compare(0, "split")
    panel.export_button.click()
    assert shown[-1] == "export" and window.workspace.a.name.startswith("student")
    # a folder that is not a distillation: an error names its metrics.json; what was open stays
    bad = tmp_path / "bad"
    shutil.copytree(out, bad)
    data = json.loads((bad / "metrics.json").read_text())
    (bad / "metrics.json").write_text(json.dumps(dict(data, format="splatlab.train/1")))
    before = window.workspace.a
    assert not window.distiller.open_result(str(bad))
    assert window.errors and "metrics.json" in window.errors[-1][1] and window.workspace.a is before
    with pytest.raises(InputError, match="no distillation metrics"):
        load_report(tmp_path)


def _training_progress(qtbot, window):
    """Wait for a training step of the running job."""
    with qtbot.waitSignal(window.distiller.job.progress, timeout=RUN_TIMEOUT,
                          check_params_cb=lambda p: "loss" in (p.metrics or {})):  # fmt: skip
        pass


def test_pause_resume_then_cancel_leaves_no_output_folder(qtbot, window, tmp_path):
    out = tmp_path / "cancelled"
    panel = window.distill_panel
    ev = _start(window, data_path(LEGO), out)
    _training_progress(qtbot, window)
    assert os.path.exists(partial_dir(str(out))) and panel.pause_button.isEnabled()
    with qtbot.waitSignal(window.distiller.paused, timeout=RUN_TIMEOUT):
        panel.pause_button.click()
    qtbot.waitUntil(lambda: not window.distiller.is_running(), timeout=30_000)
    assert panel.state == "paused" and panel.pause_button.text() == "Resume"
    assert os.path.isdir(partial_dir(str(out))) and not out.exists()  # kept for Resume
    panel.pause_button.click()  # Resume: the same run continues from OUT.partial
    assert window.distiller.job is not None and panel.state == "running"
    _training_progress(qtbot, window)
    with qtbot.waitSignal(window.distiller.cancelled, timeout=RUN_TIMEOUT):
        panel.cancel_button.click()
    qtbot.waitUntil(lambda: not window.distiller.is_running(), timeout=30_000)
    assert ev.cancelled and ev.states[:4] == ["running", "pausing", "paused", "running"]
    assert not out.exists() and not os.path.exists(partial_dir(str(out)))
    assert panel.state == "idle" and panel.progress.format() == "cancelled"
    assert not any(d.name.startswith("distilling: ") for d in window.workspace.documents)
    assert not window.errors


def test_a_corrupt_teacher_shows_an_error_and_the_open_scene_stays(qtbot, window, tmp_path, donut_path):
    doc = open_and_wait(qtbot, window, donut_path)
    bad = tmp_path / "teacher.ply"
    bad.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 1000\nproperty float x\nend_header\n\0\0")
    out = tmp_path / "out"
    with qtbot.waitSignal(window.distiller.failed, timeout=RUN_TIMEOUT):
        ev = _start(window, data_path(LEGO), out, teachers=[str(bad)])
    assert ev.failed and len(window.errors) == 1 and str(bad) in window.errors[0][1]
    assert window.workspace.a is doc and window.workspace.documents == [doc]
    assert not out.exists() and not os.path.exists(partial_dir(str(out)))
