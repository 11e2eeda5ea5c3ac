"""The Compress panel under Xvfb: a real (small) rd_sweep prepared from the panel, the level
slider driven through every level, the RD plot, A/B compare, RD JSON, and the Export dialog's
.smol option with atomic writes."""

from __future__ import annotations

import json
import math
import os
import time
import types

import pytest
import torch
from PySide6.QtCore import QPointF, Qt

from app.dialogs import EXPORT_FORMATS, ExportDialog
from app.panels.compress_panel import PLOT_PSNR_MAX
from app.documents import Document
from engine import io
from engine.codec import ladder
from engine.rd import validate_rd
from tests.app.conftest import export_dialog, wait_until_drawn
from tests.conftest import DONUT, data_path

pytestmark = pytest.mark.gui

STORED_SMOL = os.path.join(os.path.dirname(__file__), os.pardir, "data", "tiny_lego.smol")
BASELINES = ("fp16_ply", "spz", "compressed_ply")  # SOG needs Node.js; the panel takes what the sweep gives
SWEEP_TIMEOUT = 120_000  # ms; the sweep below takes ~5 s on 2 busy cores


@pytest.fixture(scope="module")
def donut_quarter():
    """Every 4th splat of the donut (11,406), padded to SH degree 3 so the levels differ in SH."""
    scene = io.load(DONUT)
    return scene.subset(torch.arange(0, scene.count, 4)).with_sh_degree(3)


def _expected(scene, level: int) -> tuple[int, int]:
    """(count, SH degree) of ``scene`` decoded at ``level`` (ladder.LEVELS)."""
    spec = ladder.LEVELS[level]
    count = scene.count if spec.keep >= 1.0 else max(1, math.ceil(scene.count * spec.keep))
    return count, min(spec.sh_degree, scene.sh_degree)


def _small_sweeps(window, views=2, size=128):
    """Small sweeps of the ladder alone (the feed-forward codec, when installed, has its own tests:
    test_compress_feedforward.py)."""
    c = window.compressor
    c.views, c.size, c.baselines, c.codecs = views, size, BASELINES, ("ladder",)
    return c


def _add(window, scene, name="donut/4") -> Document:
    doc = Document(name, scene)
    window.workspace.add(doc)
    return doc


class _Events:
    def __init__(self, c):
        self.ready, self.measured, self.shown, self.states, self.finished, self.cancelled = [], [], [], [], [], []
        c.point_ready.connect(self.ready.append)
        c.point_measured.connect(self.measured.append)
        c.shown.connect(self.shown.append)
        c.state_changed.connect(self.states.append)
        c.finished.connect(self.finished.append)
        c.cancelled.connect(lambda: self.cancelled.append(True))


def _prepare_and_finish(qtbot, window, doc):
    c = window.compressor
    ev = _Events(c)
    window.compress_panel.prepare_button.click()
    qtbot.waitUntil(lambda: bool(ev.finished or window.errors), timeout=SWEEP_TIMEOUT)
    assert not window.errors
    qtbot.waitUntil(lambda: not c.is_running(), timeout=10_000)
    return ev


def _level_doc_checks(window, level, scene):
    c = window.compressor
    a = window.workspace.a
    assert a is c.document and a.name == f"compressed: donut/4 L{level}"
    assert a.scene is c.scenes[("ladder", level)]
    assert (a.scene.count, a.scene.sh_degree) == _expected(scene, level)
    assert a.file_bytes == c.points[("ladder", level)]["bytes"]
    # the Scenes panel says what the level is (issue 13: it said "format: unknown")
    text = window.scene_panel.info.text()
    assert f"format: SplatLab ladder, level {level} (.smol)" in text and "unknown" not in text


def test_slider_scrubs_every_level_live_while_psnr_is_measured(qtbot, window, donut_quarter):
    window.resize(1400, 900)
    c = _small_sweeps(window)
    panel = window.compress_panel
    doc = _add(window, donut_quarter)
    ev = _Events(c)
    panel.slider.setValue(8)  # before anything is prepared: nothing happens, nothing blocks
    assert window.workspace.a is doc and "Prepare" in panel.status.text()

    panel.prepare_button.click()
    assert c.is_running() and panel.state == "preparing" and not panel.prepare_button.isEnabled()
    assert window.docks["Compress"].isVisible()
    # level 8 is not decoded yet: the panel says so and the document follows when it arrives
    qtbot.waitUntil(lambda: ("ladder", 8) in ev.shown, timeout=SWEEP_TIMEOUT)
    _level_doc_checks(window, 8, donut_quarter)
    assert [k for k in ev.ready if k[0] == "ladder"] == [("ladder", lv) for lv in range(1, 9)]

    # pass 1 done, pass 2 (PSNR) running: scrub 1..8 with the keyboard; each step is immediate
    qtbot.waitUntil(lambda: panel.state == "measuring", timeout=SWEEP_TIMEOUT)
    assert set(c.scenes) == {("ladder", lv) for lv in range(1, 9)} | {(b, None) for b in BASELINES}
    panel.slider.setFocus()
    slowest = 0.0
    for level in range(1, 9):
        t = time.perf_counter()
        qtbot.keyClick(panel.slider, Qt.Key_Home if level == 1 else Qt.Key_Right)
        slowest = max(slowest, time.perf_counter() - t)
        assert panel.slider.value() == level
        _level_doc_checks(window, level, donut_quarter)
    assert c.is_running() and c.measured() < len(c.points), "pass 2 ended before the scrub: nothing was shown live"
    assert slowest < 1.0
    assert len(window.workspace.documents) == 2  # one compressed document, reused

    # and through every level again, each one drawn by the viewport
    vp = window.viewport
    for level in range(1, 9):
        qtbot.keyClick(panel.slider, Qt.Key_Home if level == 1 else Qt.Key_Right)
        wait_until_drawn(qtbot, window)
        slot = vp.slots["A"]
        assert slot.document is c.document and slot.scene is c.scenes[("ladder", level)]
        assert (slot.prepared.count, slot.prepared.sh_degree) == _expected(donut_quarter, level)
        assert panel.current.text().startswith(f"L{level} · ")
        assert vp._labels["A"].text().startswith(f"A: compressed: donut/4 L{level} · ")

    qtbot.waitUntil(lambda: bool(ev.finished), timeout=SWEEP_TIMEOUT)
    qtbot.waitUntil(lambda: panel.state == "idle", timeout=10_000)
    assert not window.errors and c.measured() == len(c.points) == 11
    assert panel.table.rowCount() == 11 and panel.save_button.isEnabled()
    for r in range(11):
        assert panel.table.item(r, 5).text().endswith("dB") or panel.table.item(r, 5).text() == "lossless"
    # the sizes shrink and the fidelity falls along the ladder
    ladder_points = [c.points[("ladder", lv)] for lv in range(1, 9)]
    assert all(a["bytes"] > b["bytes"] for a, b in zip(ladder_points, ladder_points[1:]))
    assert ladder_points[0]["psnr"] > ladder_points[-1]["psnr"]
    assert "PSNR" in panel.current.text() and "dB" in panel.current.text()


def test_rd_plot_highlight_click_compare_and_save(qtbot, window, donut_quarter, tmp_path):
    window.resize(1400, 900)
    c = _small_sweeps(window)
    panel = window.compress_panel
    doc = _add(window, donut_quarter)
    _prepare_and_finish(qtbot, window, doc)
    qtbot.waitUntil(lambda: panel.plot.isVisible() and panel.plot.height() > 100, timeout=10_000)

    # every curve, the ladder's with all eight levels
    assert set(panel.curves) == {"ladder", *BASELINES}
    assert [k for k, _, _ in panel.plotted_points("ladder")] == [("ladder", lv) for lv in range(1, 9)]
    for b in BASELINES:
        assert [k for k, _, _ in panel.plotted_points(b)] == [(b, None)]
    xs, _ = panel.curves["ladder"].getData()
    assert len(xs) == 8

    # the highlight follows the slider
    def ring_at(key):
        p = c.points[key]
        assert panel.highlighted() == pytest.approx((p["bits_per_gaussian"], min(p["psnr"], PLOT_PSNR_MAX)))

    for level in (2, 5, 7):
        panel.slider.setValue(level)
        ring_at(("ladder", level))
    panel.x_axis.setCurrentIndex(panel.x_axis.findData("ratio"))
    assert panel.highlighted() == pytest.approx((c.points[("ladder", 7)]["ratio"], c.points[("ladder", 7)]["psnr"]))
    panel.x_axis.setCurrentIndex(panel.x_axis.findData("bits_per_gaussian"))

    # clicking a plot point selects that level (or baseline) and shows it
    vb = panel.plot.getPlotItem().vb

    def click(key):
        p = c.points[key]
        scene_pos = vb.mapViewToScene(QPointF(math.log10(p["bits_per_gaussian"]), p["psnr"]))
        pos = panel.plot.mapFromScene(scene_pos)
        qtbot.mouseClick(panel.plot.viewport(), Qt.LeftButton, pos=pos)

    click(("ladder", 3))
    assert c.selected == ("ladder", 3) and panel.slider.value() == 3
    _level_doc_checks(window, 3, donut_quarter)
    ring_at(("ladder", 3))
    click(("spz", None))
    assert c.selected == ("spz", None) and window.workspace.a.name == "compressed: donut/4 SPZ v4"
    assert window.workspace.a.scene is c.scenes[("spz", None)]
    ring_at(("spz", None))
    # a table row chooses too
    panel.table.selectRow(panel._rows.index(("ladder", 6)))
    assert c.selected == ("ladder", 6) and panel.slider.value() == 6
    _level_doc_checks(window, 6, donut_quarter)

    # one click: original (A) against the current level (B), split
    qtbot.mouseClick(panel.compare_button, Qt.LeftButton)
    ws, vp = window.workspace, window.viewport
    assert ws.a is doc and ws.b is c.document and vp.compare_mode == "split"
    assert window.compare_panel.radios["split"].isChecked()
    wait_until_drawn(qtbot, window)
    assert vp.slots["A"].prepared.count == donut_quarter.count
    assert vp.slots["B"].prepared.count == _expected(donut_quarter, 6)[0]
    # the slider now scrubs B; the source stays A and the cache is kept
    panel.slider.setValue(8)
    assert ws.a is doc and ws.b is c.document and ws.b.scene is c.scenes[("ladder", 8)]
    wait_until_drawn(qtbot, window)
    assert vp.slots["B"].prepared.count == _expected(donut_quarter, 8)[0]

    # Save RD JSON… (the dialog's answer replaced), written atomically
    out = tmp_path / "rd" / "donut-rd.json"
    c.ask_save_path = lambda: str(out)
    panel.save_button.click()
    data = json.loads(out.read_text())
    validate_rd(data)
    assert {cv["codec"] for cv in data["curves"]} == {"ladder", *BASELINES}
    assert data["reference"] == {"mode": "orbit", "views": 2, "size": 128}
    assert sorted(os.listdir(out.parent)) == ["donut-rd.json"]
    assert not window.errors


def test_export_dialog_offers_smol_levels_with_estimates_and_warnings(qtbot, window, donut_quarter, tmp_path,
                                                                     monkeypatch):
    c = _small_sweeps(window)
    doc = _add(window, donut_quarter)
    formats = [f for _, f, _ in EXPORT_FORMATS]
    assert {"ply", "spz", "compressed.ply", "splat", "smol"} <= set(formats)
    assert [o.get("version") for _, f, o in EXPORT_FORMATS if f == "spz"] == [4, 3]

    dlg = ExportDialog(doc, str(tmp_path), window)
    qtbot.addWidget(dlg)
    assert not dlg.level.isEnabled()
    dlg.format.setCurrentIndex(formats.index("smol"))
    assert dlg.level.isEnabled() and dlg.level.count() == 8
    for level in range(1, 9):
        dlg.level.setCurrentIndex(dlg.level.findData(level))
        fmt, opts, degree, path = dlg.choice()
        assert fmt == "smol" and opts == {"codec": "ladder", "level": level}
        assert path == str(tmp_path / "donut-4.smol")
        warning = dlg.warning.text()
        spec = ladder.LEVELS[level]
        assert ("SH bands" in warning) == (spec.sh_degree < 3), (level, warning)
        assert ("prunes" in warning) == (spec.keep < 1.0), (level, warning)
        if spec.keep < 1.0:
            assert f"keeps {_expected(donut_quarter, level)[0]:,} of 11,406" in warning
    qtbot.waitUntil(lambda: dlg.estimate.text().startswith("≈"), timeout=60_000)  # level 8, estimated
    estimate_l8 = dlg.estimate.text()
    dlg.sh.setCurrentIndex(0)  # fewer SH bands: warned about too
    assert "SH bands 1-3 are dropped" in dlg.warning.text()
    dlg.format.setCurrentIndex(formats.index("splat"))
    assert not dlg.level.isEnabled() and "keeps only the base colour" not in dlg.warning.text()  # SH 0 chosen
    dlg.sh.setCurrentIndex(3)
    assert "keeps only the base colour" in dlg.warning.text()

    # after a sweep, the exact sizes are known: the estimate is exact and the export matches it
    _prepare_and_finish(qtbot, window, doc)
    exact = c.points[("ladder", 5)]["bytes"]
    window.workspace.set_a(doc)
    captured = {}

    def fake_exec(self):
        captured["dlg"] = self
        self.level.setCurrentIndex(self.level.findData(5))
        self.format.setCurrentIndex(formats.index("smol"))
        self.path.setText(str(tmp_path / "out" / "donut-5.smol"))
        return 1

    monkeypatch.setattr(ExportDialog, "exec", fake_exec)
    window.act_export.trigger()  # File > Export… on the original
    estimate = captured["dlg"].estimate.text()
    assert estimate.startswith("= ") and f"{exact / 1000:.1f} KB" in estimate
    out = tmp_path / "out" / "donut-5.smol"
    qtbot.waitUntil(out.exists, timeout=60_000)
    assert os.path.getsize(out) == exact
    assert sorted(os.listdir(out.parent)) == ["donut-5.smol"]  # no temporary file left
    back = io.load(out)
    assert (back.count, back.sh_degree) == _expected(donut_quarter, 5)

    # File > Export… while A shows a level: .smol at that level is preselected, named after it
    window.compress_panel.slider.setValue(6)
    assert window.workspace.a is c.document

    dlg6 = export_dialog(window, monkeypatch, tmp_path / "out")
    fmt, opts, degree, path = dlg6.choice()
    assert fmt == "smol" and opts["level"] == 6 and os.path.basename(path) == "donut-4-L6.smol"
    assert "prunes" not in dlg6.warning.text()  # the decoded level 6 is already pruned
    exact6 = c.points[("ladder", 6)]["bytes"]
    assert dlg6.estimate.text().startswith("= ")
    qtbot.waitUntil(lambda: os.path.exists(path), timeout=60_000)
    assert os.path.getsize(path) == exact6  # re-encoding a decoded level reproduces its bytes
    assert estimate_l8 and not window.errors


def _errors_as_dialogs(window, monkeypatch):
    """Use the window's real report_error (a QMessageBox) with the box itself recorded."""
    import app.dialogs

    shown = []
    del window.report_error  # the conftest's replacement; the class method shows the dialog
    monkeypatch.setattr(app.dialogs.QMessageBox, "critical", lambda parent, title, text: shown.append((title, text)))
    return shown


@pytest.mark.parametrize("how", ["read-only folder", "folder is a file", "rename fails"])
def test_failing_export_leaves_nothing_and_shows_an_error(qtbot, window, donut_quarter, tmp_path, monkeypatch, how):
    doc = _add(window, donut_quarter)
    shown = _errors_as_dialogs(window, monkeypatch)
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "x.smol"
    if how == "read-only folder":
        folder.chmod(0o555)
        try:
            (folder / "probe").write_text("")
        except OSError:
            pass
        else:
            folder.chmod(0o755)
            pytest.skip("this user writes into read-only folders (root)")
    elif how == "folder is a file":
        (folder / "file").write_text("not a folder")
        target = folder / "file" / "x.smol"
    else:
        import engine.io.atomic as atomic

        def replace(src, dst):
            raise OSError(28, "No space left on device")

        fake_os = {k: getattr(os, k) for k in dir(os) if not k.startswith("__")}
        fake_os["replace"] = replace
        monkeypatch.setattr(atomic, "os", types.SimpleNamespace(**fake_os))
    try:
        job = window.export(doc, str(target), 3, {"codec": "ladder", "level": 4})
        with qtbot.waitSignal(job.done, timeout=60_000):
            pass
        assert shown and shown[-1][0] == "Export failed" and str(target) in shown[-1][1]
        assert window.workspace.a is doc  # the scene stays open
        names = sorted(os.listdir(folder))
        assert names == (["file"] if how == "folder is a file" else []), names
    finally:
        folder.chmod(0o755)


def test_scene_change_and_window_close_cancel_the_sweep(qtbot, window, donut_quarter):
    c = _small_sweeps(window, views=4, size=256)
    panel = window.compress_panel
    _add(window, donut_quarter)
    ev = _Events(c)
    panel.prepare_button.click()
    qtbot.waitUntil(lambda: ("ladder", 3) in ev.shown, timeout=SWEEP_TIMEOUT)
    job = c.job
    other = _add(window, donut_quarter.subset(torch.arange(0, donut_quarter.count, 3)), name="other")
    # another scene became A: the sweep stops, the cache goes, the compressed document stays as it is
    assert ev.cancelled and c.job is None and not c.scenes and c.source is None and panel.state == "idle"
    assert panel.table.rowCount() == 0 and panel.highlighted() is None
    assert "other" in panel.source.text()
    qtbot.waitUntil(lambda: not job.is_running(), timeout=60_000)
    assert len(window.workspace.documents) == 3 and window.workspace.a is other

    # preparing the new scene, then closing the window while pass 2 runs: the job is stopped
    ev2 = _Events(c)
    panel.prepare_button.click()
    qtbot.waitUntil(lambda: panel.state == "measuring", timeout=SWEEP_TIMEOUT)
    assert c.source is other and not window.errors
    job = c.job
    t0 = time.monotonic()
    window.close()
    assert not job.is_running() and time.monotonic() - t0 < 60
    assert not ev2.finished


def test_smol_gs_trains_from_the_capture_and_joins_the_plot(qtbot, window, tmp_path):
    """With a capture known, Train Smol-GS runs in the background from the current scene; its
    point joins the table and the plot, the viewport shows its SH bake (labelled so), and the
    trained file can be saved."""
    import warnings

    from engine.io.captures import load_capture

    c = _small_sweeps(window)
    panel = window.compress_panel
    assert not panel.smol_button.isEnabled()  # no capture yet
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        capture = load_capture(data_path("captures/lego_nerf_synthetic"), max_side=24)
    source = io.load(STORED_SMOL).replace(neural=None)  # a tiny lego scene to start from
    doc = _add(window, source, "tiny_lego.ply")
    window.set_capture(capture)
    assert panel.smol_button.isEnabled() and capture.path in panel.smol_capture.text()
    panel.smol_iterations.setValue(40)
    panel.smol_max_side.setValue(24)
    panel.smol_max_splats.setValue(200)
    states = []
    c.state_changed.connect(states.append)
    panel.smol_button.click()
    assert c.is_running() and panel.state == "training" and not panel.smol_button.isEnabled()
    qtbot.waitUntil(lambda: ("smol", None) in panel.points or bool(window.errors), timeout=SWEEP_TIMEOUT)
    assert not window.errors
    qtbot.waitUntil(lambda: not c.is_running(), timeout=10_000)
    point = panel.points[("smol", None)]
    assert point["count"] <= 200
    assert point["bytes"] == os.path.getsize(c.smol_file) and point["ratio"] > 1
    assert math.isfinite(point["psnr"]) and math.isfinite(point["test_psnr"]) and math.isfinite(point["test_psnr_sh_bake"])
    assert [k for k, _, _ in panel.plotted_points("smol")] == [("smol", None)]
    assert "test PSNR" in panel.current.text() and "SH bake" in panel.current.text()
    a = window.workspace.a
    assert a is c.document and "(SH bake)" in a.name and a.scene.neural is not None
    assert panel.smol_save_button.isEnabled()
    out = tmp_path / "lego-smol.smol"
    assert c.save_smol(str(out))
    assert io.load(out).meta["codec"] == "smol"
    c.compare_with_original()
    assert window.workspace.a is doc and window.workspace.b is c.document


# ---------------------------------------------------------------------- the dock's layout (issue 13)
def _fill_points(panel):
    """Eleven made-up points (ladder 1-8 and three baselines), as a sweep's results fill the panel."""
    for lv in range(1, 9):
        size = 300_000 / 1.6**lv
        panel.set_point(("ladder", lv), {"bytes": int(size), "ratio": 2 * 1.6**lv, "bits_per_gaussian": size * 8 / 11406,
                                         "count": 11406, "psnr": 60.0 - 4 * lv, "ssim": 0.99 - 0.01 * lv})  # fmt: skip
    for i, codec in enumerate(BASELINES):
        panel.set_point((codec, None), {"bytes": 200_000 // (i + 1), "ratio": 2.0 * (i + 1), "count": 11406,
                                        "bits_per_gaussian": 140 / (i + 1), "psnr": 50.0 - i, "ssim": 0.98})  # fmt: skip


def _show_compress_at(qtbot, window, width=1800, height=1000):
    window.viewport.setMinimumSize(1, 1)  # the fixture pins the viewport to 320x240: let the window lay out freely
    window.viewport.setMaximumSize(16_777_215, 16_777_215)
    window.resize(width, height)
    window.docks["Compress"].show()
    window.docks["Compress"].raise_()
    panel = window.compress_panel
    qtbot.waitUntil(lambda: panel.isVisible() and abs(window.height() - height) < 2 and panel.table.isVisible())
    return panel


def _rows_shown(table) -> float:
    return table.viewport().height() / table.rowHeight(0)


def test_rd_table_and_plot_get_the_docks_height_at_1800x1000(qtbot, window):
    panel = _show_compress_at(qtbot, window)
    _fill_points(panel)
    qtbot.wait(50)
    assert panel.table.rowCount() == 11
    shown = f"{_rows_shown(panel.table):.1f} rows, plot {panel.plot.width()}x{panel.plot.height()} px"
    assert _rows_shown(panel.table) >= 5 and panel.plot.height() >= 280, shown  # (the Edit toolbar takes ~30 px of the 1000)
    # the settings are whole (no scrolling needed by default), and the table and the plot have most of the height
    assert not panel.settings_area.verticalScrollBar().isVisible()
    settings, results = panel.splitter.sizes()
    assert results > settings


def _drag_handle(qtbot, splitter, index: int, dy: int) -> None:
    """Drag splitter handle ``index`` by ``dy`` pixels with the mouse, as a user does."""
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    handle = splitter.handle(index)
    local = QPointF(handle.width() / 2, handle.height() / 2)
    start = QPointF(handle.mapToGlobal(local.toPoint()))
    for kind, offset, buttons in ((QEvent.MouseButtonPress, 0, Qt.LeftButton), (QEvent.MouseMove, dy, Qt.LeftButton),
                                  (QEvent.MouseButtonRelease, dy, Qt.NoButton)):  # fmt: skip
        glob = start + QPointF(0, offset)
        pos = QPointF(handle.mapFromGlobal(glob.toPoint()))
        QApplication.sendEvent(handle, QMouseEvent(kind, pos, glob, Qt.LeftButton, buttons, Qt.NoModifier))
    qtbot.wait(20)


def test_compress_splitter_sizes_survive_closing_and_reopening_the_window(qtbot, window, settings):
    from app.main_window import MainWindow

    panel = _show_compress_at(qtbot, window)
    _fill_points(panel)
    before = panel.splitter.sizes()
    _drag_handle(qtbot, panel.splitter, 1, -60)  # the settings give 60 px to the results (they scroll)
    assert panel.splitter.sizes()[0] == pytest.approx(before[0] - 60, abs=2)
    before = panel.results.sizes()
    _drag_handle(qtbot, panel.results, 1, 80)  # the table takes 80 px from the plot
    assert panel.results.sizes()[0] == pytest.approx(before[0] + 80, abs=2)
    dragged = {"panel": panel.splitter.sizes(), "results": panel.results.sizes()}
    window.close()
    assert json.loads(settings.value("compressSplitters")) == dragged

    again = MainWindow(settings)
    qtbot.addWidget(again)
    again.report_error = lambda title, message: window.errors.append((title, message))
    again.show()
    qtbot.waitExposed(again)
    assert again.size() == window.size()  # the geometry came back too
    again.docks["Compress"].raise_()
    qtbot.waitUntil(lambda: again.compress_panel.isVisible())
    qtbot.wait(50)
    restored = again.compress_panel
    for key, splitter in (("panel", restored.splitter), ("results", restored.results)):
        assert splitter.sizes() == pytest.approx(dragged[key], abs=2), key
    # a sweep's results arriving do not undo the user's sizes
    _fill_points(restored)
    qtbot.wait(20)
    assert restored.splitter.sizes() == pytest.approx(dragged["panel"], abs=2)
    again.close()
    assert not window.errors
