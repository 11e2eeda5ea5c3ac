"""Compress: prepare the levels of the current scene, scrub them with a slider, read their size
and fidelity in a table and an RD plot, compare one with the original, save the sweep.

Thin: the panel only shows what app/compress_controller.py gives it (points keyed by
``(codec, level)``: ``("ladder", 1..8)`` and ``("feedforward", 1..8)`` for the levelled codecs,
``(codec, None)`` for a baseline) and emits what the user asks for. The codec chooser says whose
levels the slider scrubs (the feed-forward codec's only when it is available: its weights are
installed, or the sweep has its points). The plot is pyqtgraph: x = bits per Gaussian or compression ratio
(log axis), y = PSNR; one curve per codec, the current point ringed; clicking a point (or a table
row) chooses it. Settings | (table | plot) are splitters the user drags; by default the table
and the plot get most of the height, and the window saves the sizes (splitter_sizes).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFrame, QGroupBox, QHBoxLayout, QHeaderView,
                               QLabel, QProgressBar, QPushButton, QScrollArea, QSlider, QSpinBox, QSplitter,
                               QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)  # fmt: skip

from app.documents import human_bytes
from app.panels.progress_mixin import DefaultSplitMixin, JobStatusMixin, result_plot
from engine.codec import DEFAULT_LEVEL, ladder
from engine.device import SMOL
from engine.rd import BASELINES, LABELS

LEVELLED = ("ladder", "feedforward")  # codecs with levels 1-8: the slider scrubs the chosen one
CODEC_CHOICES = [("Ladder", "ladder"), ("Feed-forward", "feedforward")]
FF_MISSING = "The feed-forward codec's weights are not installed (resources/codecs/feedforward_v1.pt)"
STATES = ("idle", "preparing", "measuring", "training", "cancelling")  # training: a Smol-GS run
X_AXES = [("bits per Gaussian", "bits_per_gaussian"), ("compression ratio (vs PLY)", "ratio")]
COLUMNS = ["Point", "Size", "Ratio", "Bits/G", "Splats", "PSNR", "SSIM"]
SHORT = {"ladder": "L", "feedforward": "FF", "fp16_ply": "PLY fp16", "spz": "SPZ v4", "compressed_ply": "compressed.ply", "sog": "SOG",
         "smol": "Smol-GS"}  # fmt: skip
COLORS = {"ladder": (255, 170, 60), "feedforward": (40, 210, 200), "fp16_ply": (150, 150, 150), "spz": (90, 170, 255),
          "compressed_ply": (120, 220, 120), "sog": (220, 120, 220), "smol": (255, 80, 80)}  # fmt: skip
SYMBOLS = {"ladder": "o", "feedforward": "h", "fp16_ply": "s", "spz": "t", "compressed_ply": "d", "sog": "star", "smol": "p"}
SMOL_ITERATIONS = SMOL.cpu_iterations  # the CPU defaults of a Smol-GS run (engine.device.SMOL) start the panel
SMOL_MAX_SIDE = SMOL.cpu_max_side
SMOL_MAX_SPLATS = 18000
HIGHLIGHT = (255, 230, 0)
PLOT_PSNR_MAX = 80.0
SETTINGS_MAX_SHARE = 0.45  # default split: the settings take at most this share of the height
MIN_SPLIT_HEIGHT = 240  # below this the panel is being laid out, not shown: no default split yet
TABLE_ROWS = 6  # the table's default height in rows (the plot takes the rest)
LOG_TICKS = [m * 10.0**e for e in range(-1, 6) for m in (1, 2, 5)]


def _row_order(key) -> tuple:
    """Ladder levels first (1..8), then the feed-forward levels, then Smol-GS, then the baselines
    in BASELINES order."""
    codec, level = key
    if codec in LEVELLED:
        return (LEVELLED.index(codec), level)
    if codec == "smol":
        return (len(LEVELLED), 0)
    return (len(LEVELLED) + 1, BASELINES.index(codec) if codec in BASELINES else len(BASELINES))


def point_name(key) -> str:
    """("ladder", 6) -> "L6"; ("feedforward", 6) -> "FF L6"; ("spz", None) -> "SPZ v4"."""
    codec, level = key
    if codec == "ladder":
        return f"L{level}"
    if codec in LEVELLED:
        return f"{SHORT.get(codec, codec)} L{level}"
    return SHORT.get(codec, codec)


def _finite(v) -> bool:
    return v is not None and math.isfinite(float(v))


def _db(v) -> str:
    if v is None:
        return "…"
    return f"{v:.2f} dB" if math.isfinite(v) else "lossless"


def describe(key, point: dict | None) -> str:
    """One line about a point: size, ratio, bits per Gaussian, PSNR/SSIM as far as known."""
    if point is None:
        return f"{point_name(key)}: preparing…"
    parts = [point_name(key), human_bytes(point["bytes"]), f"{point['ratio']:.1f}x smaller than PLY",
             f"{point['bits_per_gaussian']:.1f} bits/Gaussian", f"{point['count']:,} splats"]  # fmt: skip
    if point.get("psnr") is None:
        parts.append("PSNR measuring…")
    else:
        parts.append(f"PSNR {_db(point['psnr'])}")
        if _finite(point.get("ssim")):
            parts.append(f"SSIM {point['ssim']:.4f}")
    if _finite(point.get("test_psnr")):  # Smol-GS: measured on the capture's test photos too
        parts.append(f"test PSNR {point['test_psnr']:.2f} dB (exact MLP render; the viewport draws the SH bake: "
                     f"{point['test_psnr_sh_bake']:.2f} dB)")
    return " · ".join(parts)


class CompressPanel(JobStatusMixin, DefaultSplitMixin, QWidget):
    prepare_requested = Signal()
    cancel_requested = Signal()
    level_changed = Signal(int)  # the slider (1..8)
    codec_changed = Signal(str)  # the codec chooser: whose levels the slider scrubs (LEVELLED)
    point_chosen = Signal(object)  # (codec, level) from the plot or the table
    compare_requested = Signal()
    save_requested = Signal()
    smol_requested = Signal(object)  # {"iterations", "max_side", "max_splats"}: train Smol-GS from the capture
    smol_save_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.state = "idle"
        self.source = QLabel("No scene open.")
        self.source.setObjectName("compressSource")
        self.source.setWordWrap(True)
        self.prepare_button = QPushButton("Prepare levels")
        self.prepare_button.setObjectName("compressPrepare")
        self.prepare_button.setToolTip("Encode and decode the current scene at every level of the ladder (and of the "
                                       "feed-forward codec, when its weights are installed) and with the baseline "
                                       "codecs (seconds), then measure PSNR/SSIM in the background")  # fmt: skip
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("compressCancel")
        self.prepare_button.clicked.connect(self.prepare_requested.emit)
        self.cancel_button.clicked.connect(self.cancel_requested.emit)
        buttons = QHBoxLayout()
        buttons.addWidget(self.prepare_button)
        buttons.addWidget(self.cancel_button)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status = QLabel("Press Prepare levels to compress the current scene at levels "
                             f"{ladder.MIN_LEVEL}-{ladder.MAX_LEVEL}.")  # fmt: skip
        self.status.setObjectName("compressStatus")
        self.status.setWordWrap(True)

        # ------------------------------------------------------------------ the codec and its level slider
        self.codec_box = QComboBox(objectName="compressCodec")
        for label, codec in CODEC_CHOICES:
            self.codec_box.addItem(label, codec)
            self.codec_box.setItemData(self.codec_box.count() - 1, LABELS.get(codec, codec), Qt.ToolTipRole)
        self.codec_box.setToolTip("Whose levels the slider scrubs")
        self.codec_box.currentIndexChanged.connect(self._codec_chosen)
        self.set_codecs(("ladder",))
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setObjectName("compressLevel")
        self.slider.setRange(ladder.MIN_LEVEL, ladder.MAX_LEVEL)
        self.slider.setValue(DEFAULT_LEVEL)
        self.slider.setPageStep(1)
        self.slider.setTickPosition(QSlider.TicksBelow)
        self.slider.setTickInterval(1)
        self.slider.valueChanged.connect(self.level_changed.emit)
        ends = QHBoxLayout()
        self.best_end = QLabel(f"{ladder.MIN_LEVEL} (near-lossless)")
        ends.addWidget(self.best_end)
        ends.addStretch(1)
        ends.addWidget(QLabel(f"{ladder.MAX_LEVEL} (smallest)"))
        self.current = QLabel(describe(("ladder", DEFAULT_LEVEL), None))
        self.current.setObjectName("compressCurrent")
        self.current.setWordWrap(True)
        self.current.setStyleSheet("font-weight: bold;")
        self.compare_button = QPushButton("Compare with original")
        self.compare_button.setObjectName("compressCompare")
        self.compare_button.setToolTip("A = the original, B = the level shown, split view")
        self.save_button = QPushButton("Save RD JSON…")
        self.save_button.setObjectName("compressSave")
        self.compare_button.clicked.connect(self.compare_requested.emit)
        self.save_button.clicked.connect(self.save_requested.emit)
        actions = QHBoxLayout()
        actions.addWidget(self.compare_button)
        actions.addWidget(self.save_button)

        # ------------------------------------------------------------------ Smol-GS (needs a capture)
        self.smol_box = QGroupBox("Smol-GS: a compact codec trained from the capture's photos")
        self.smol_capture = QLabel("No capture: open one (File > Open Capture Cameras…) or train a scene.")
        self.smol_capture.setObjectName("smolCapture")
        self.smol_capture.setWordWrap(True)
        self.smol_iterations = QSpinBox(objectName="smolIterations", minimum=10, maximum=100_000, singleStep=500,
                                        value=SMOL_ITERATIONS)  # fmt: skip
        self.smol_max_side = QSpinBox(objectName="smolMaxSide", minimum=0, maximum=8192, singleStep=50,
                                      value=SMOL_MAX_SIDE, specialValueText="full size")  # fmt: skip
        self.smol_max_splats = QSpinBox(objectName="smolMaxSplats", minimum=0, maximum=10_000_000, singleStep=5000,
                                        value=SMOL_MAX_SPLATS, specialValueText="no limit")  # fmt: skip
        self.smol_max_splats.setToolTip("Compaction prunes the least contributing splats down to this count")
        self.smol_button = QPushButton("Train Smol-GS", objectName="compressSmol")
        self.smol_button.setToolTip("Train Smol-GS from the capture, starting from the current scene, in the "
                                    "background (minutes on the CPU); its point joins the table and the plot")
        self.smol_button.clicked.connect(lambda: self.smol_requested.emit(self.smol_settings()))
        self.smol_save_button = QPushButton("Save Smol-GS file…", objectName="compressSmolSave", enabled=False)
        self.smol_save_button.clicked.connect(self.smol_save_requested.emit)
        smol_buttons = QHBoxLayout()
        smol_buttons.addWidget(self.smol_button)
        smol_buttons.addWidget(self.smol_save_button)
        form = QHBoxLayout()  # one row: the panel's height goes to the table and the plot
        for label, box in (("Iterations", self.smol_iterations), ("Side", self.smol_max_side),
                           ("Max splats", self.smol_max_splats)):  # fmt: skip
            form.addWidget(QLabel(label))
            form.addWidget(box, 1)
        smol_layout = QVBoxLayout(self.smol_box)
        smol_layout.addWidget(self.smol_capture)
        smol_layout.addLayout(form)
        smol_layout.addLayout(smol_buttons)
        self._capture_path: str | None = None

        # ------------------------------------------------------------------ table
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("compressTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._row_chosen)
        self._rows: list[tuple] = []  # row -> key

        # ------------------------------------------------------------------ RD plot
        self.x_axis = QComboBox()
        self.x_axis.setObjectName("compressXAxis")
        for label, key in X_AXES:
            self.x_axis.addItem(label, key)
        self.x_axis.currentIndexChanged.connect(self._x_axis_changed)
        self.plot = result_plot("compressPlot", "PSNR (dB)", min_height=160)
        self.plot.setLogMode(x=True, y=False)
        # 1-2-5 labels on the log axis (pyqtgraph's own minor labels run into each other)
        self.plot.getAxis("bottom").setTicks([[(math.log10(v), f"{v:g}") for v in LOG_TICKS], []])
        self.legend = self.plot.addLegend(offset=(5, 5), labelTextSize="7pt", brush=pg.mkBrush(0, 0, 0, 160))
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._curve_keys: dict[str, list[tuple]] = {}  # codec -> key of each plotted point, in order
        self.highlight = pg.PlotDataItem([], [], pen=None, symbol="o", symbolSize=18, symbolBrush=None,
                                         symbolPen=pg.mkPen(HIGHLIGHT, width=3))  # fmt: skip
        self.highlight.setZValue(10)
        self._highlight_xy: tuple[float, float] | None = None
        self.plot.addItem(self.highlight)
        self.points: dict[tuple, dict] = {}
        self.selected: tuple = ("ladder", DEFAULT_LEVEL)
        self._x_axis_changed()

        # ------------------------------------------------------------------ layout
        # settings (scrollable, so the user may shrink them) | results (table | plot), each a
        # splitter the user drags; the window saves their sizes (splitter_sizes / set_splitter_sizes)
        settings = QWidget()
        layout = QVBoxLayout(settings)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.source)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        level_row = QHBoxLayout()  # one row: "Level of <codec>" (the height goes to the table and the plot)
        level_row.addWidget(QLabel("Level of"))
        level_row.addWidget(self.codec_box)
        level_row.addStretch(1)
        layout.addLayout(level_row)
        layout.addWidget(self.slider)
        layout.addLayout(ends)
        layout.addWidget(self.current)
        layout.addLayout(actions)
        layout.addWidget(self.smol_box)
        layout.addStretch(1)
        self.settings_area = QScrollArea(objectName="compressSettings", widgetResizable=True)
        self.settings_area.setFrameShape(QFrame.NoFrame)
        self.settings_area.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.settings_area.setWidget(settings)
        settings.installEventFilter(self)
        plot_box = QWidget()
        plot_layout = QVBoxLayout(plot_box)
        plot_layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("x axis"))
        row.addWidget(self.x_axis, 1)
        plot_layout.addLayout(row)
        plot_layout.addWidget(self.plot, 1)
        self.results = QSplitter(Qt.Vertical, objectName="compressResults", childrenCollapsible=False)
        self.results.addWidget(self.table)
        self.results.addWidget(plot_box)
        self.splitter = QSplitter(Qt.Vertical, objectName="compressSplitter", childrenCollapsible=False)
        self.splitter.addWidget(self.settings_area)
        self.splitter.addWidget(self.results)
        self._sized = False  # False: default proportions follow the panel's size (not dragged, not restored)
        self.splitter.splitterMoved.connect(self._dragged)
        self.results.splitterMoved.connect(self._dragged)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.addWidget(self.splitter)
        self.set_state("idle")
        self.set_result_ready(False)

    # ------------------------------------------------------------------ layout (saved by the window; resize, drag: DefaultSplitMixin)
    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.LayoutRequest and not self._sized and self.isVisible():
            self._default_sizes()  # the settings' labels grew or shrank (wrapping): follow them
        return super().eventFilter(watched, event)

    def _default_sizes(self) -> None:
        """Until the user drags a handle (or sizes are restored): the settings take their natural
        height (at most SETTINGS_MAX_SHARE), the table TABLE_ROWS rows (at most half the rest) and
        the plot the remainder."""
        total, width = self.splitter.height(), self.splitter.width()
        if total < MIN_SPLIT_HEIGHT:
            return
        settings = self.settings_area.widget()
        natural = max(settings.sizeHint().height(), settings.heightForWidth(width))  # labels wrap: keep the larger
        top = int(min(natural, total * SETTINGS_MAX_SHARE))
        rest = total - top - self.splitter.handleWidth()
        t = self.table
        rows = t.horizontalHeader().sizeHint().height() + TABLE_ROWS * t.verticalHeader().defaultSectionSize()
        table = min(rows + 2 * t.frameWidth(), rest // 2)
        self.splitter.setSizes([top, rest])
        self.results.setSizes([table, rest - table - self.results.handleWidth()])

    def splitter_sizes(self) -> dict | None:
        """{"panel": [settings, results], "results": [table, plot]} in pixels, or None while the
        default proportions hold (nothing dragged, nothing restored: nothing worth saving)."""
        if not self._sized:
            return None
        return {"panel": self.splitter.sizes(), "results": self.results.sizes()}

    def set_splitter_sizes(self, sizes) -> bool:
        """Restore what splitter_sizes() gave (ignored unless well formed)."""
        try:
            pairs = [[int(v) for v in sizes[k]] for k in ("panel", "results")]
        except (TypeError, KeyError, ValueError):
            return False
        if not all(len(p) == 2 and min(p) > 0 for p in pairs):
            return False
        self.splitter.setSizes(pairs[0])
        self.results.setSizes(pairs[1])
        self._sized = True
        return True

    # ------------------------------------------------------------------ state
    def set_state(self, state: str) -> None:
        """idle | preparing (pass 1: encoding) | measuring (pass 2: PSNR) | cancelling."""
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        self.state = state
        self.prepare_button.setEnabled(state == "idle")
        self.cancel_button.setEnabled(state in ("preparing", "measuring", "training"))
        self.smol_button.setEnabled(state == "idle" and self._capture_path is not None)
        if state == "idle":
            self.progress.setRange(0, 1)
            self.progress.setValue(1 if self.points else 0)

    def set_result_ready(self, ready: bool) -> None:
        self.save_button.setEnabled(ready)

    def level(self) -> int:
        return self.slider.value()

    def codec(self) -> str:
        """The codec whose levels the slider scrubs ("ladder" or "feedforward")."""
        return self.codec_box.currentData()

    def set_codecs(self, available) -> None:
        """Enable the chooser's codecs in ``available`` (the ladder always); a chosen codec that is
        no longer available falls back to the ladder (codec_changed says so)."""
        model = self.codec_box.model()
        for i in range(self.codec_box.count()):
            codec = self.codec_box.itemData(i)
            on = codec == "ladder" or codec in available
            model.item(i).setEnabled(on)
            tip = LABELS.get(codec, codec) if on else FF_MISSING if codec == "feedforward" else "not available"
            self.codec_box.setItemData(i, tip, Qt.ToolTipRole)
        if self.codec() not in available and self.codec() != "ladder":
            self.codec_box.setCurrentIndex(self.codec_box.findData("ladder"))

    def _codec_chosen(self) -> None:
        self._update_ends()
        self.codec_changed.emit(self.codec())

    def _update_ends(self) -> None:
        """The slider's best end: the ladder's level 1 is near-lossless, the feed-forward codec's is not."""
        self.best_end.setText(f"{ladder.MIN_LEVEL} " + ("(near-lossless)" if self.codec() == "ladder" else "(best)"))

    def codec_available(self, codec: str) -> bool:
        i = self.codec_box.findData(codec)
        return i >= 0 and self.codec_box.model().item(i).isEnabled()

    def set_capture(self, path: str | None, frames: int = 0) -> None:
        """The capture Smol-GS would train from (None: none known, the button stays off)."""
        self._capture_path = path
        self.smol_capture.setText(f"Capture: {path} ({frames} images)" if path else
                                  "No capture: open one (File > Open Capture Cameras…) or train a scene.")  # fmt: skip
        self.set_state(self.state)

    def set_smol_ready(self, ready: bool) -> None:
        self.smol_save_button.setEnabled(ready)

    def smol_settings(self) -> dict:
        return {"iterations": self.smol_iterations.value(), "max_side": self.smol_max_side.value() or None,
                "max_splats": self.smol_max_splats.value() or None}

    # ------------------------------------------------------------------ points
    def clear_points(self) -> None:
        self.points.clear()
        self._rows.clear()
        self.table.setRowCount(0)
        for curve in self.curves.values():
            self.plot.removeItem(curve)
        self.curves.clear()
        self._curve_keys.clear()
        self.legend.clear()
        self.highlight.setData([], [])
        self.show_selected(self.selected)

    def set_point(self, key: tuple, point: dict) -> None:
        """A point arrived (pass 1: size) or was measured (pass 2: PSNR/SSIM)."""
        self.points[key] = point
        if key not in self._rows:
            self._rows.append(key)
            self._rows.sort(key=_row_order)
            self.table.setRowCount(len(self._rows))
            for r, k in enumerate(self._rows):
                self._fill_row(r, k)
        else:
            self._fill_row(self._rows.index(key), key)
        self._replot(key[0])
        self.show_selected(self.selected)

    def _fill_row(self, r: int, key: tuple) -> None:
        p = self.points.get(key)
        cells = [point_name(key), "", "", "", "", "", ""]
        if p is not None:
            cells[1:] = [human_bytes(p["bytes"]), f"{p['ratio']:.1f}x", f"{p['bits_per_gaussian']:.1f}",
                         f"{p['count']:,}", _db(p.get("psnr")),
                         "…" if p.get("ssim") is None else f"{p['ssim']:.4f}"]  # fmt: skip
        for c, text in enumerate(cells):
            item = QTableWidgetItem(text)
            if c:
                item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
            if key[0] != "ladder":
                item.setToolTip(LABELS.get(key[0], key[0]))
            self.table.setItem(r, c, item)

    def _x_axis_changed(self) -> None:
        self.plot.setLabel("bottom", self.x_axis.currentText())
        # the legend goes where no codec reaches: high PSNR at few bits (top left) / a large ratio (top right)
        self.legend.setOffset((5, 5) if self.x_axis.currentData() == "bits_per_gaussian" else (-5, 5))
        for codec in list(self.curves):
            self._replot(codec)
        self._update_highlight()

    def _xy(self, point: dict) -> tuple[float, float] | None:
        """Plot coordinates; a PSNR above PLOT_PSNR_MAX (visually lossless, e.g. an SPZ of an SPZ
        scene) is drawn at that height so the lossy points keep the axis (the table has the value)."""
        x, y = point.get(self.x_axis.currentData()), point.get("psnr")
        if not (_finite(x) and _finite(y)) or float(x) <= 0:
            return None
        return float(x), min(float(y), PLOT_PSNR_MAX)

    def _replot(self, codec: str) -> None:
        keys = sorted((k for k in self.points if k[0] == codec), key=lambda k: (k[1] is None, k[1] or 0))
        xs, ys, plotted = [], [], []
        for k in keys:
            xy = self._xy(self.points[k])
            if xy is not None:
                xs.append(xy[0])
                ys.append(xy[1])
                plotted.append(k)
        curve = self.curves.get(codec)
        if curve is None:
            color = COLORS.get(codec, (200, 200, 200))
            curve = pg.PlotDataItem(pen=pg.mkPen(color, width=1.5) if codec in LEVELLED else None,
                                    symbol=SYMBOLS.get(codec, "o"), symbolSize=9, symbolBrush=pg.mkBrush(color),
                                    symbolPen=pg.mkPen("k", width=0.5), name=LABELS.get(codec, codec))  # fmt: skip
            curve.sigPointsClicked.connect(lambda item, points, ev, codec=codec: self._plot_clicked(codec, points))
            self.plot.addItem(curve)
            self.curves[codec] = curve
        curve.setData(np.asarray(xs, np.float64), np.asarray(ys, np.float64))
        self._curve_keys[codec] = plotted

    def _plot_clicked(self, codec: str, points) -> None:
        if len(points) == 0:
            return
        keys = self._curve_keys.get(codec, [])
        i = points[0].index()
        if 0 <= i < len(keys):
            self.point_chosen.emit(keys[i])

    def _row_chosen(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows and rows[0].row() < len(self._rows):
            key = self._rows[rows[0].row()]
            if key != self.selected:
                self.point_chosen.emit(key)

    def plotted_points(self, codec: str) -> list[tuple[tuple, float, float]]:
        """(key, x, y) of each point the plot shows for ``codec`` (data coordinates, not log)."""
        out = []
        for k in self._curve_keys.get(codec, []):
            xy = self._xy(self.points[k])
            if xy is not None:
                out.append((k, *xy))
        return out

    # ------------------------------------------------------------------ the current point
    def show_selected(self, key: tuple) -> None:
        """The point the viewport shows (or will show when it is ready): slider, table row,
        the label under the slider and the ring in the plot follow it."""
        self.selected = key
        if key[0] in LEVELLED:
            i = self.codec_box.findData(key[0])
            if self.codec_box.currentIndex() != i:
                self.codec_box.blockSignals(True)
                self.codec_box.setCurrentIndex(i)
                self.codec_box.blockSignals(False)
                self._update_ends()
            if self.slider.value() != key[1]:
                self.slider.blockSignals(True)
                self.slider.setValue(key[1])
                self.slider.blockSignals(False)
        self.current.setText(describe(key, self.points.get(key)))
        self.table.blockSignals(True)
        if key in self._rows:
            self.table.selectRow(self._rows.index(key))
        else:
            self.table.clearSelection()
        self.table.blockSignals(False)
        self._update_highlight()

    def _update_highlight(self) -> None:
        p = self.points.get(self.selected)
        xy = self._xy(p) if p is not None else None
        self._highlight_xy = xy
        if xy is None:
            self.highlight.setData([], [])
        else:
            self.highlight.setData([xy[0]], [xy[1]])

    def highlighted(self) -> tuple[float, float] | None:
        """The ringed point in data coordinates (not log), or None when it is not plotted yet."""
        return self._highlight_xy
