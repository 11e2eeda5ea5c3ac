"""Distill: a small student under several teachers (Distilled-3DGS): settings, the run's
progress, and the result as a table and a per-view chart.

Thin: the panel gathers settings and shows what app/distill_controller.py gives it (engine
Progress while a run goes; a report from engine.distill.report.load_report once it is done or
when a finished output folder is opened). Clicking a point of the per-view chart, or a row of the
per-view table, asks for that test view (``view_chosen``: its position in the report's test views).
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout,
                               QFrame, QGridLayout, QHBoxLayout, QHeaderView, QLabel, QListWidget,
                               QLineEdit, QListWidgetItem, QPushButton, QRadioButton, QScrollArea, QSpinBox,
                               QSplitter, QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout,
                               QWidget)  # fmt: skip

from app.documents import human_bytes
from app.panels.progress_mixin import CaptureRunMixin, DefaultSplitMixin, duration, output_beside, result_plot
from engine.device import DISTILL
from engine.distill.config import DistillConfig

REDRAW_HZ = 4
# engine.device.DISTILL, as the panel's fields show them (max side 0: full size)
CPU_DEFAULTS = {"iterations": DISTILL.cpu_iterations, "max_side": DISTILL.cpu_max_side or 0}
CUDA_DEFAULTS = {"iterations": DISTILL.cuda_iterations, "max_side": DISTILL.cuda_max_side or 0}
DEFAULT_KEEP = 0.15
OUTPUT_SUFFIX = "-distilled"
LIVE = (("stage", "Stage"), ("step", "Step"), ("loss", "Loss"), ("psnr", "PSNR"), ("gaussians", "Gaussians"),
        ("elapsed", "Elapsed"), ("eta", "ETA"))  # fmt: skip
COLUMNS = ["Model", "Gaussians", "Size", "Render/frame", "PSNR", "SSIM"]
COMPARE_MODES = [("split", "Split"), ("side", "Side by side"), ("flicker", "Flicker"), ("difference", "Difference")]
TEACHER_COLORS = [(90, 170, 255), (120, 220, 160), (200, 150, 255), (170, 170, 170)]
STUDENT_COLOR = (255, 140, 40)
CURRENT_COLOR = (255, 230, 0)
SETTINGS_MAX_SHARE = 0.45  # default split: the settings take at most this share of the height
MIN_SPLIT_HEIGHT = 240  # below this the panel is being laid out, not shown: no default split yet
MIN_CHART_HEIGHT = 160


def default_output(capture: str) -> str:
    """``<capture>-distilled`` beside the capture folder."""
    return output_beside(capture, OUTPUT_SUFFIX)


def _db(v: float) -> str:
    return f"{v:.2f} dB" if math.isfinite(v) else ("lossless" if v > 0 else "—")


def _cell(text: str, right: bool = True, tip: str = "") -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if right:
        item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
    if tip:
        item.setToolTip(tip)
    return item


def _table(name: str, columns: list[str]) -> QTableWidget:
    t = QTableWidget(0, len(columns), objectName=name)
    t.setHorizontalHeaderLabels(columns)
    t.verticalHeader().hide()
    t.setEditTriggers(QAbstractItemView.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectRows)
    t.setSelectionMode(QAbstractItemView.SingleSelection)
    t.setAlternatingRowColors(True)
    t.setWordWrap(False)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    return t


class DistillPanel(CaptureRunMixin, DefaultSplitMixin, QWidget):
    start_requested = Signal(dict)  # settings(): capture, output, keep, teachers, iterations, max_side, ...
    pause_requested = Signal()
    resume_requested = Signal()
    cancel_requested = Signal()
    capture_chosen = Signal(str)  # a capture folder picked with Browse… (to show its cameras)
    open_result_requested = Signal()
    compare_requested = Signal(int, str)  # teacher (position among the report's teachers), compare mode
    export_requested = Signal()
    compress_requested = Signal()
    view_chosen = Signal(int)  # position in the report's test views
    CPU_DEFAULTS, CUDA_DEFAULTS, OUTPUT_SUFFIX = CPU_DEFAULTS, CUDA_DEFAULTS, OUTPUT_SUFFIX

    def __init__(self, cuda: bool = False, parent=None):
        super().__init__(parent)
        self._cuda = cuda
        self.state = "idle"
        self.report: dict | None = None
        self.current_view: int | None = None
        # ------------------------------------------------------------------ settings
        self.capture = QLineEdit(objectName="distillCapture")
        self.capture.setPlaceholderText("capture folder (COLMAP, NeRF-synthetic, instant-ngp)")
        self.output = QLineEdit(objectName="distillOutput")
        self.output.setPlaceholderText("<capture>-distilled beside the capture")
        self._auto_output = ""
        browse_capture = QPushButton("Browse…")
        browse_output = QPushButton("Browse…")
        browse_capture.clicked.connect(self._browse_capture)
        browse_output.clicked.connect(self._browse_output)
        self.keep = QDoubleSpinBox(objectName="distillKeep", decimals=1, minimum=0.1, maximum=100.0, singleStep=5.0,
                                   suffix=" %", value=DEFAULT_KEEP * 100)  # fmt: skip
        self.keep.setToolTip("The student keeps at most this share of the standard teacher's Gaussians")
        self.train_teachers = QRadioButton("Train standard, noise and dropout teachers here")
        self.given_teachers = QRadioButton("Use trained teachers (the first is the standard one):")
        self.train_teachers.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.train_teachers)
        group.addButton(self.given_teachers)
        self.teacher_list = QListWidget(objectName="distillTeachers")
        self.teacher_list.setMaximumHeight(72)
        self.teacher_list.setToolTip("PLY files or `splatlab train` output folders; the first is the standard "
                                     "teacher whose point distribution the student follows")  # fmt: skip
        self.add_ply = QPushButton("Add PLY…")
        self.add_folder = QPushButton("Add train folder…")
        self.remove_teacher = QPushButton("Remove")
        self.first_teacher = QPushButton("Make first")
        self.add_ply.clicked.connect(self._browse_ply)
        self.add_folder.clicked.connect(self._browse_folder)
        self.remove_teacher.clicked.connect(self._remove_teacher)
        self.first_teacher.clicked.connect(self._make_first)
        self.iterations = QSpinBox(objectName="distillIterations", minimum=10, maximum=10_000_000, singleStep=500)
        self.iterations.setGroupSeparatorShown(True)
        self.iterations.setToolTip("Steps of each teacher trained here and of the student")
        self.max_side = QSpinBox(objectName="distillMaxSide", minimum=0, maximum=16384, singleStep=100, suffix=" px",
                                 specialValueText="full size")  # fmt: skip
        self.max_side.setToolTip("Downsample images so their longest side is at most this (0: full size)")
        self.device = QComboBox(objectName="distillDevice")
        for d in ("auto", "cpu", "cuda"):
            self.device.addItem(d, d)
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1)
        self.init_points = QSpinBox(minimum=0, maximum=10_000_000, singleStep=10_000, specialValueText="engine default")
        self.init_points.setGroupSeparatorShown(True)
        self.init_points.setToolTip("Random initial points when the capture has no SfM points (0: the engine's default)")
        self.pseudo_views = QSpinBox(objectName="distillPseudoViews", minimum=0, maximum=4096, singleStep=16,
                                     value=DistillConfig.pseudo_views, specialValueText="none (the paper's scheme)")  # fmt: skip
        self.pseudo_views.setToolTip("Views between the training cameras where the student also matches the "
                                     "teachers' mean image (0: the training views only)")  # fmt: skip
        self._apply_defaults(self._effective_cuda())

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        for label, edit, button in (("Capture", self.capture, browse_capture), ("Output", self.output, browse_output)):
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            row.addWidget(button)
            form.addRow(label, row)
        row = QHBoxLayout()
        row.addWidget(self.keep)
        row.addWidget(QLabel("of the standard teacher's Gaussians"), 1)
        form.addRow("Keep", row)
        form.addRow("Pseudo-views", self.pseudo_views)
        teachers = QVBoxLayout()
        teachers.setSpacing(2)
        teachers.addWidget(self.train_teachers)
        teachers.addWidget(self.given_teachers)
        self.teacher_box = QWidget()  # the list and its buttons, shown while "use trained teachers" is chosen
        box = QVBoxLayout(self.teacher_box)
        box.setContentsMargins(18, 0, 0, 0)
        box.addWidget(self.teacher_list)
        row = QHBoxLayout()
        for b in (self.add_ply, self.add_folder, self.remove_teacher, self.first_teacher):
            row.addWidget(b)
        box.addLayout(row)
        teachers.addWidget(self.teacher_box)
        form.addRow("Teachers", teachers)
        row = QHBoxLayout()
        row.addWidget(self.iterations, 1)
        row.addWidget(QLabel("Max side"))
        row.addWidget(self.max_side, 1)
        form.addRow("Iterations", row)
        row = QHBoxLayout()
        row.addWidget(self.device)
        row.addWidget(QLabel("Seed"))
        row.addWidget(self.seed)
        row.addWidget(QLabel("Init points"))
        row.addWidget(self.init_points, 1)
        form.addRow("Device", row)
        self._settings_widgets = [self.capture, self.output, browse_capture, browse_output, self.keep,
                                  self.train_teachers, self.given_teachers, self.iterations, self.max_side,
                                  self.device, self.seed, self.init_points, self.pseudo_views]  # fmt: skip

        # ------------------------------------------------------------------ controls and progress
        buttons = self._run_controls("distill", "distillProgress")
        self.status = QLabel("Pick a capture and a student budget, then press Start.", objectName="distillStatus")
        self.status.setWordWrap(True)
        self.live: dict[str, QLabel] = {}
        live = QGridLayout()
        live.setHorizontalSpacing(10)
        live.setVerticalSpacing(1)
        for i, (key, title) in enumerate(LIVE):
            caption = QLabel(title)
            caption.setStyleSheet("color: gray;")
            value = QLabel("—", objectName=f"distillLive_{key}")
            value.setTextInteractionFlags(Qt.TextSelectableByMouse)
            self.live[key] = value
            if key == "stage":  # the stage's name is long: a row of its own
                live.addWidget(caption, 0, 0)
                live.addWidget(value, 0, 1, 1, 5)
            else:
                r, c = divmod(i - 1, 3)
                live.addWidget(caption, 1 + r, 2 * c)
                live.addWidget(value, 1 + r, 2 * c + 1)
        live.setColumnStretch(1, 1)
        live.setColumnStretch(3, 1)
        live.setColumnStretch(5, 1)

        settings = QWidget()
        settings.setLayout(form)
        self.settings_area = QScrollArea(objectName="distillSettings", widgetResizable=True)
        self.settings_area.setFrameShape(QFrame.NoFrame)
        self.settings_area.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.settings_area.setWidget(settings)
        run = QWidget()  # the settings (they scroll when the dock is short), then the run: always in view
        top = QVBoxLayout(run)
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.settings_area)
        top.addLayout(buttons)
        top.addWidget(self.progress)
        top.addLayout(live)
        top.addWidget(self.status)
        top.addStretch(1)
        self._run_area = run

        # ------------------------------------------------------------------ the result
        self.summary = QLabel("No result yet: run a distillation, or open a finished one.", objectName="distillSummary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.table = _table("distillTable", COLUMNS)
        self.table.horizontalHeaderItem(3).setToolTip("engine render time per frame (median over test views)")
        self.table.itemSelectionChanged.connect(self._model_row_chosen)
        self.plot = result_plot("distillPlot", "test PSNR (dB)", "test view")
        self.plot.setMouseEnabled(x=True, y=False)
        self.legend = self.plot.addLegend(offset=(5, 3), labelTextSize="7pt", brush=pg.mkBrush(0, 0, 0, 160),
                                          colCount=2)  # above the lines (the y range leaves room)
        self.view_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(CURRENT_COLOR, width=1, style=Qt.DashLine))
        self.view_line.setZValue(-5)
        self.view_line.hide()
        self.plot.addItem(self.view_line)
        self.curves: list[pg.PlotDataItem] = []
        self.view_table = _table("distillViews", ["View"])
        self.view_table.itemSelectionChanged.connect(self._view_row_chosen)
        self.views_tabs = QTabWidget(objectName="distillViewTabs")
        self.views_tabs.addTab(self.plot, "PSNR per view")
        self.views_tabs.addTab(self.view_table, "Per-view table")

        self.compare_teacher = QComboBox(objectName="distillCompareTeacher")
        self.compare_mode = QComboBox(objectName="distillCompareMode")
        for key, label in COMPARE_MODES:
            self.compare_mode.addItem(label, key)
        self.compare_button = QPushButton("Compare teacher | student", objectName="distillCompare")
        self.compare_button.setToolTip("A = the teacher, B = the student, in the same camera")
        self.compare_button.clicked.connect(
            lambda: self.compare_requested.emit(max(self.compare_teacher.currentIndex(), 0), self.compare_mode.currentData()))
        self.export_button = QPushButton("Export student…", objectName="distillExport")
        self.export_button.setToolTip("Make the student the current scene and export it (File > Export…)")
        self.compress_button = QPushButton("Send to Compress", objectName="distillSendCompress")
        self.compress_button.setToolTip("Make the student the current scene and open the Compress panel")
        self.open_button = QPushButton("Open result…", objectName="distillOpenResult")
        self.open_button.setToolTip("Show a finished distillation's output folder (its metrics.json)")
        self.export_button.clicked.connect(self.export_requested.emit)
        self.compress_button.clicked.connect(self.compress_requested.emit)
        self.open_button.clicked.connect(self.open_result_requested.emit)
        compare_row = QHBoxLayout()
        compare_row.addWidget(self.compare_button)
        compare_row.addWidget(self.compare_teacher, 1)
        compare_row.addWidget(self.compare_mode)
        action_row = QHBoxLayout()
        action_row.addWidget(self.export_button)
        action_row.addWidget(self.compress_button)
        action_row.addStretch(1)
        action_row.addWidget(self.open_button)

        head = QWidget()
        head_layout = QVBoxLayout(head)
        head_layout.setContentsMargins(0, 0, 0, 0)
        head_layout.addWidget(self.summary)
        head_layout.addWidget(self.table, 1)
        head_layout.addLayout(compare_row)
        head_layout.addLayout(action_row)
        self.results = QSplitter(Qt.Vertical, objectName="distillResults", childrenCollapsible=False)
        self.results.addWidget(head)
        self.results.addWidget(self.views_tabs)
        self.splitter = QSplitter(Qt.Vertical, objectName="distillSplitter", childrenCollapsible=False)
        self.splitter.addWidget(run)
        self.splitter.addWidget(self.results)
        self._sized = False  # False: the default proportions follow the panel's size (nothing dragged)
        self.splitter.splitterMoved.connect(self._dragged)
        self.results.splitterMoved.connect(self._dragged)
        self._head = head
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.addWidget(self.splitter)

        self._last = None  # the latest Progress, shown by the next redraw
        self._started = 0.0  # time.monotonic() and the step when this run (or resumed part) began
        self._start_step = 0
        self._elapsed_before = 0.0  # seconds of the earlier parts of a paused run
        self._redraw = QTimer(self, interval=int(1000 / REDRAW_HZ), timeout=self.redraw)
        self.capture.textChanged.connect(self._capture_edited)
        self.device.currentIndexChanged.connect(self._device_changed)
        self.train_teachers.toggled.connect(self._teachers_mode_changed)
        self.teacher_list.itemSelectionChanged.connect(self._teachers_mode_changed)
        self.set_state("idle")
        self.show_report(None)

    # ------------------------------------------------------------------ layout (resize, drag: DefaultSplitMixin)
    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._sized:
            QTimer.singleShot(0, self._default_sizes)

    def _default_sizes(self) -> None:
        """Until the user drags a handle: the settings take their natural height (at most
        SETTINGS_MAX_SHARE), the result's summary, table (every row) and buttons theirs, the
        per-view chart the rest."""
        total, width = self.splitter.height(), self.splitter.width()
        if total < MIN_SPLIT_HEIGHT:
            return
        settings = self.settings_area.widget()
        run = self._run_area.layout()
        below = sum(run.itemAt(i).sizeHint().height() + run.spacing() for i in range(1, run.count() - 1))
        below += self.status.heightForWidth(width) - self.status.sizeHint().height()  # a wrapped status
        natural = max(settings.sizeHint().height(), settings.heightForWidth(width)) + below
        top = int(min(natural, total * SETTINGS_MAX_SHARE))
        rest = total - top - self.splitter.handleWidth()
        t = self.table
        rows = max(t.rowCount(), 2)
        table = t.horizontalHeader().sizeHint().height() + rows * t.verticalHeader().defaultSectionSize() + 2 * t.frameWidth()
        t.setMinimumHeight(min(table, 200))
        head = self._head.sizeHint().height() - t.sizeHint().height() + table
        head = max(min(head, rest - MIN_CHART_HEIGHT), 0)
        self.splitter.setSizes([top, rest])
        self.results.setSizes([head, rest - head - self.results.handleWidth()])

    # ------------------------------------------------------------------ settings (the rest: CaptureRunMixin)
    def _teachers_mode_changed(self) -> None:
        editable = self.state in ("idle", "paused")
        self.teacher_box.setVisible(self.given_teachers.isChecked())
        given = self.given_teachers.isChecked() and editable
        self.teacher_list.setEnabled(given)
        self.add_ply.setEnabled(given)
        self.add_folder.setEnabled(given)
        selected = self.teacher_list.currentRow()
        self.remove_teacher.setEnabled(given and selected >= 0)
        self.first_teacher.setEnabled(given and selected > 0)
        self.start_button.setEnabled(self._can_start())

    def _browse_ply(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Teacher PLY files", os.getcwd(), "PLY scenes (*.ply);;All files (*)")
        for p in paths:
            self.add_teacher(p)

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A `splatlab train` output folder", os.getcwd())
        if folder:
            self.add_teacher(folder)

    def add_teacher(self, path: str) -> None:
        """A teacher PLY file or train output folder (its point_cloud.ply); the first added is the
        standard teacher. Adding one chooses "use trained teachers"."""
        path = os.path.abspath(path)
        label = f"{path}{os.sep}  (train folder)" if os.path.isdir(path) else path
        item = QListWidgetItem(label)
        item.setData(Qt.UserRole, path)
        item.setToolTip(path)
        self.teacher_list.addItem(item)
        self.given_teachers.setChecked(True)
        self._teachers_mode_changed()

    def _remove_teacher(self) -> None:
        row = self.teacher_list.currentRow()
        if row >= 0:
            self.teacher_list.takeItem(row)
        self._teachers_mode_changed()

    def _make_first(self) -> None:
        row = self.teacher_list.currentRow()
        if row > 0:
            self.teacher_list.insertItem(0, self.teacher_list.takeItem(row))
            self.teacher_list.setCurrentRow(0)
        self._teachers_mode_changed()

    def teachers(self) -> list[str] | None:
        """The given teachers in order (None: train them here)."""
        if self.train_teachers.isChecked():
            return None
        return [self.teacher_list.item(i).data(Qt.UserRole) for i in range(self.teacher_list.count())]

    def settings(self) -> dict:
        """capture, output, keep, teachers, pseudo_views, iterations, max_side, device, seed, init_points."""
        return {**self._run_settings(), "keep": round(self.keep.value() / 100.0, 6), "teachers": self.teachers(),
                "pseudo_views": self.pseudo_views.value()}  # fmt: skip

    def set_settings(self, **values) -> None:
        """Set fields by settings() key (tests, restored sessions); ``teachers`` None trains them."""
        for key, v in values.items():
            if self._set_run_setting(key, v):
                continue
            if key == "keep":
                self.keep.setValue(float(v) * 100.0)
            elif key == "pseudo_views":
                self.pseudo_views.setValue(int(v))
            elif key == "teachers":
                self.teacher_list.clear()
                for p in v or []:
                    self.add_teacher(p)
                (self.given_teachers if v else self.train_teachers).setChecked(True)
            else:
                raise KeyError(key)

    # ------------------------------------------------------------------ state
    def _can_start(self) -> bool:
        return (self.state in ("idle", "paused") and bool(self.capture.text().strip())
                and (self.train_teachers.isChecked() or self.teacher_list.count() > 0))  # fmt: skip

    def _settings_enabled(self) -> None:
        self._teachers_mode_changed()

    def set_state(self, state: str) -> None:
        """idle | running | pausing | paused | evaluating | cancelling: which buttons work."""
        was = self.state
        self._show_run_state(state)
        self.open_button.setEnabled(state in ("idle", "paused"))
        if state == "running" and was in ("idle", "paused"):  # a run (or its resumed part) begins
            self._started, self._start_step = time.monotonic(), -1
        if state == "paused" and self._started:
            self._elapsed_before += time.monotonic() - self._started
            self._started = 0.0
        if state in ("running", "evaluating", "pausing"):
            self._redraw.start()
        else:
            self._redraw.stop()
            self.redraw()

    # ------------------------------------------------------------------ progress
    def reset_progress(self) -> None:
        """A fresh run: no progress, no old result."""
        self._last = None
        self._elapsed_before = 0.0
        self._started = 0.0
        for lab in self.live.values():
            lab.setText("—")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("%p%")
        self.show_report(None)

    def show_progress(self, p) -> None:
        """An engine.jobs.Progress of distill_job; cheap: the labels follow on the redraw timer."""
        if self._start_step < 0:
            self._start_step = int(p.step)
        self._last = p

    def show_ended(self, how: str) -> None:
        """The bar after a run: "done" (full), "cancelled" or "failed" (empty); no ETA."""
        super().show_ended(how)
        self.live["eta"].setText("—")

    def elapsed(self) -> float:
        return self._elapsed_before + (time.monotonic() - self._started if self._started else 0.0)

    def redraw(self) -> None:
        p = self._take_progress()
        if p is None:
            return
        total = max(int(p.total), 1)
        self.progress.setFormat("%p%")
        m = p.metrics or {}
        elapsed = self.elapsed()
        done = int(p.step) - max(self._start_step, 0)
        eta = (time.monotonic() - self._started) / done * (total - int(p.step)) if done > 0 and self._started else math.nan
        self.live["stage"].setText(m.get("stage", "—"))
        self.live["step"].setText(f"{int(p.step):,} / {total:,}")
        if "loss" in m:
            self.live["loss"].setText(f"{float(m['loss']):.4f}")
        if "psnr" in m:
            self.live["psnr"].setText(_db(float(m["psnr"])))
        count = m.get("count", m.get("num_gaussians"))  # (older engines: num_gaussians)
        if count is not None:
            self.live["gaussians"].setText(f"{int(count):,}")
        self.live["elapsed"].setText(duration(elapsed))
        self.live["eta"].setText(duration(eta))
        self.status.setText(p.message)

    # ------------------------------------------------------------------ the result
    def show_report(self, report: dict | None) -> None:
        """A report of engine.distill.report.load_report (None: no result)."""
        self.report = report
        self.current_view = None
        self.table.blockSignals(True)
        self.view_table.blockSignals(True)
        self.table.setRowCount(0)
        self.view_table.setRowCount(0)
        self.compare_teacher.clear()
        for curve in self.curves:
            self.plot.removeItem(curve)
        self.curves.clear()
        self.legend.clear()
        self.view_line.hide()
        for b in (self.compare_button, self.compare_teacher, self.compare_mode, self.export_button,
                  self.compress_button):  # fmt: skip
            b.setEnabled(report is not None)
        if report is None:
            self.summary.setText("No result yet: run a distillation, or open a finished one (Open result…).")
            self.table.blockSignals(False)
            self.view_table.blockSignals(False)
            return
        models = report["models"]
        teacher, student = report["teachers"][0], report["student"]
        base = teacher["count"] or 1
        self.table.setRowCount(len(models))
        for r, m in enumerate(models):
            share = f" ({m['count'] / base:.0%})" if m is not teacher else ""
            cells = [_cell(m["label"], right=False, tip=m["file"]), _cell(f"{m['count']:,}{share}"),
                     _cell(human_bytes(m["bytes"])), _cell(f"{m['render_ms']:.0f} ms" if math.isfinite(m["render_ms"]) else "—"),
                     _cell(_db(m["psnr"])), _cell(f"{m['ssim']:.4f}" if math.isfinite(m["ssim"]) else "—")]  # fmt: skip
            for c, item in enumerate(cells):
                if m is student:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(r, c, item)
        for t in report["teachers"]:
            self.compare_teacher.addItem(f"vs {t['label']}", t["index"])
        dpsnr = student["psnr"] - teacher["psnr"]
        self.summary.setText(
            f"<b>Student</b>: {student['count']:,} Gaussians ({student['count'] / base:.1%} of the standard "
            f"teacher's {teacher['count']:,}; budget {report.get('keep', math.nan):.0%}), "
            f"{human_bytes(student['bytes'])} vs {human_bytes(teacher['bytes'])}; test PSNR "
            f"{_db(student['psnr'])} ({dpsnr:+.2f} dB vs the teacher) on {len(report['test_views'])} views."
            f"<br><span style='color:gray'>{report['out_dir']}</span>")  # fmt: skip
        # the per-view chart: one line per model, teachers first, the student on top
        views = report["test_views"]
        x = np.arange(len(views), dtype=np.float64)
        for k, m in enumerate(models):
            color = STUDENT_COLOR if m is student else TEACHER_COLORS[min(m["index"], len(TEACHER_COLORS) - 1)]
            y = np.asarray(m["psnr_per_view"], np.float64)
            curve = pg.PlotDataItem(x, np.where(np.isfinite(y), y, np.nan), pen=pg.mkPen(color, width=2 if m is student else 1),
                                    symbol="o" if m is student else "t", symbolSize=8 if m is student else 6,
                                    symbolBrush=pg.mkBrush(color), symbolPen=pg.mkPen("k", width=0.5),
                                    name=m["label"], connect="finite")  # fmt: skip
            curve.setZValue(10 if m is student else k)
            curve.sigPointsClicked.connect(self._plot_clicked)
            self.plot.addItem(curve)
            self.curves.append(curve)
        step = max(1, int(math.ceil(len(views) / 12)))
        self.plot.getAxis("bottom").setTicks([[(i, str(i)) for i in range(0, len(views), step)], []])
        values = np.asarray([v for m in models for v in m["psnr_per_view"] if math.isfinite(v)], np.float64)
        if values.size:
            lo, hi = float(values.min()), float(values.max())
            pad = max(hi - lo, 1.0)
            self.plot.setXRange(-0.5, len(views) - 0.5, padding=0)
            self.plot.setYRange(lo - 0.08 * pad, hi + 0.45 * pad, padding=0)  # the top for the legend
        if not self._sized:
            self._default_sizes()
        # the per-view table: a row per test view, a PSNR column per model and the student's difference
        self.view_table.setColumnCount(len(models) + 2)
        self.view_table.setHorizontalHeaderLabels(["View"] + [m["label"] for m in models] + ["Δ student"])
        self.view_table.setRowCount(len(views))
        for r, name in enumerate(views):
            self.view_table.setItem(r, 0, _cell(f"{r}  {name}", right=False))
            for c, m in enumerate(models):
                self.view_table.setItem(r, 1 + c, _cell(_db(m["psnr_per_view"][r]).replace(" dB", "")))
            d = student["psnr_per_view"][r] - teacher["psnr_per_view"][r]
            self.view_table.setItem(r, len(models) + 1, _cell(f"{d:+.2f}" if math.isfinite(d) else "—"))
        self.table.blockSignals(False)
        self.view_table.blockSignals(False)

    def _plot_clicked(self, item, points, ev=None) -> None:
        if len(points):
            self.view_chosen.emit(int(points[0].index()))

    def _view_row_chosen(self) -> None:
        rows = self.view_table.selectionModel().selectedRows()
        if rows and rows[0].row() != self.current_view:
            self.view_chosen.emit(rows[0].row())

    def _model_row_chosen(self) -> None:
        """Choosing a teacher's row in the table makes it the one to compare with."""
        rows = self.table.selectionModel().selectedRows()
        if rows and self.report is not None:
            m = self.report["models"][rows[0].row()]
            if m["role"] == "teacher":
                self.compare_teacher.setCurrentIndex(m["index"])

    def show_view(self, k: int | None) -> None:
        """Mark test view ``k`` (the camera looks through it) in the chart and the per-view table."""
        self.current_view = k
        self.view_table.blockSignals(True)
        if k is None:
            self.view_line.hide()
            self.view_table.clearSelection()
        else:
            self.view_line.setValue(k)
            self.view_line.show()
            self.view_table.selectRow(k)
        self.view_table.blockSignals(False)

    def plotted_points(self, model: int = -1) -> list[tuple[float, float]]:
        """(x, y) of the chart's points for model ``model`` (the report's order; -1: the last, the student)."""
        x, y = self.curves[model].getData()
        return [] if x is None else list(zip(x.tolist(), y.tolist()))
