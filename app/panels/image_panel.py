"""Image: compress a photo with 2D Gaussians (SmartSplat, ``.sgi``) and compare it with classic
codecs at the same rate.

Thin: the panel shows what app/image_controller.py gives it and emits what the user asks for.

- Open an image (or a ``.sgi`` file to decode it), choose the rate in bits per pixel and the
  training steps, Compress / Cancel, a progress bar with the live PSNR;
- a split view: the original left of a divider, the decoded image right of it; the divider
  follows the slider (or a drag with the right mouse button), the wheel zooms about the cursor,
  a left drag pans, double-click fits;
- PSNR / MS-SSIM / true rate of the result, and a table of SmartSplat next to JPEG, WebP and
  AVIF at the matched rate;
- an RD plot (pyqtgraph): PSNR against bpp, one curve per codec, every run on this image adds
  a SmartSplat point and its matched baseline points.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import (QAbstractItemView, QDoubleSpinBox, QFormLayout, QHBoxLayout, QHeaderView, QLabel,
                               QProgressBar, QPushButton, QSlider, QSpinBox, QSplitter, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)  # fmt: skip

from app.panels.progress_mixin import JobStatusMixin, result_plot
from engine.image.baselines import LABELS

STATES = ("idle", "loading", "compressing", "measuring", "decoding", "cancelling")
CODEC_ORDER = ("smartsplat", "jpeg", "webp", "avif")
COLORS = {"smartsplat": (255, 170, 60), "jpeg": (150, 150, 150), "webp": (90, 170, 255), "avif": (120, 220, 120)}
SYMBOLS = {"smartsplat": "o", "jpeg": "s", "webp": "t", "avif": "d"}
TABLE_COLUMNS = ["Codec", "bpp", "PSNR", "MS-SSIM", "Bytes"]


def to_qimage(image: np.ndarray) -> QImage:
    """[H, W, 3] uint8 -> a QImage that owns its pixels."""
    a = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
    h, w = a.shape[:2]
    return QImage(a.data, w, h, 3 * w, QImage.Format_RGB888).copy()


class SplitView(QWidget):
    """Two images of one size, A left and B right of a vertical divider, with zoom and pan."""

    divider_changed = Signal(float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("imageSplitView")
        self.setMinimumSize(200, 150)
        self.setMouseTracking(False)
        self.a: QImage | None = None
        self.b: QImage | None = None
        self.labels = ("original", "decoded")
        self.divider = 0.5  # fraction of the image width
        self.zoom: float | None = None  # screen px per image px; None: fit
        self.center = QPointF(0, 0)  # image point at the widget's centre
        self._drag: tuple[str, QPointF, QPointF] | None = None

    # ------------------------------------------------------------------ content
    def set_images(self, a: np.ndarray | None, b: np.ndarray | None) -> None:
        size_before = None if self.a is None else (self.a.width(), self.a.height())
        self.a = None if a is None else to_qimage(a)
        self.b = None if b is None else to_qimage(b)
        if self.a is not None and (self.a.width(), self.a.height()) != size_before:
            self.fit()
        self.update()

    def set_b(self, b: np.ndarray | None) -> None:
        self.b = None if b is None else to_qimage(b)
        self.update()

    def set_divider(self, fraction: float) -> None:
        self.divider = min(max(float(fraction), 0.0), 1.0)
        self.update()

    def fit(self) -> None:
        self.zoom = None
        if self.a is not None:
            self.center = QPointF(self.a.width() / 2, self.a.height() / 2)
        self.update()

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Zoom (screen px per image px) keeping the image point under ``anchor`` in place."""
        if self.a is None:
            return
        old = self.scale()
        zoom = min(max(zoom, 0.02), 64.0)
        if anchor is not None:
            p = self.to_image(anchor)
            self.center = p + (self.center - p) * (old / zoom)
        self.zoom = zoom
        self.update()

    def scale(self) -> float:
        if self.a is None:
            return 1.0
        if self.zoom is not None:
            return self.zoom
        return min(self.width() / self.a.width(), self.height() / self.a.height())

    def to_image(self, p: QPointF) -> QPointF:
        s = self.scale()
        return self.center + (QPointF(p) - QPointF(self.width() / 2, self.height() / 2)) / s

    def image_rect(self) -> QRectF:
        """Where the whole image lies on the widget."""
        s = self.scale()
        w, h = self.a.width() * s, self.a.height() * s
        x = self.width() / 2 - self.center.x() * s
        y = self.height() / 2 - self.center.y() * s
        return QRectF(x, y, w, h)

    # ------------------------------------------------------------------ painting
    def paintEvent(self, event) -> None:  # noqa: N802 - Qt
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(40, 40, 40))
        if self.a is None:
            p.setPen(QColor(200, 200, 200))
            p.drawText(self.rect(), Qt.AlignCenter, "Open an image")
            return
        p.setRenderHint(QPainter.SmoothPixmapTransform, self.scale() < 1.0)
        r = self.image_rect()
        split_x = r.left() + self.divider * r.width()
        p.save()
        p.setClipRect(QRectF(0, 0, split_x, self.height()))
        p.drawImage(r, self.a)
        p.restore()
        if self.b is not None:
            p.save()
            p.setClipRect(QRectF(split_x, 0, self.width() - split_x, self.height()))
            p.drawImage(r, self.b)
            p.restore()
            p.setPen(QPen(QColor(255, 230, 0), 2))
            p.drawLine(QPointF(split_x, 0), QPointF(split_x, self.height()))
        p.setPen(QColor(255, 255, 255))
        p.drawText(QRectF(6, 4, 200, 20), Qt.AlignLeft, self.labels[0])
        if self.b is not None:
            p.drawText(QRectF(self.width() - 206, 4, 200, 20), Qt.AlignRight, self.labels[1])
        p.drawText(QRectF(6, self.height() - 22, 200, 20), Qt.AlignLeft, f"{self.scale() * 100:.0f} %")

    # ------------------------------------------------------------------ mouse
    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.set_zoom(self.scale() * (1.25**steps), event.position())

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt
        if self.a is None:
            return
        kind = "divider" if event.button() == Qt.RightButton else "pan"
        self._drag = (kind, event.position(), QPointF(self.center))
        if kind == "divider":
            self._move_divider(event.position())

    def mouseMoveEvent(self, event) -> None:  # noqa: N802 - Qt
        if self._drag is None:
            return
        kind, start, centre = self._drag
        if kind == "divider":
            self._move_divider(event.position())
        else:
            self.center = centre - (event.position() - start) / self.scale()
            self.update()

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt
        self._drag = None

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 - Qt
        self.fit()

    def _move_divider(self, pos: QPointF) -> None:
        r = self.image_rect()
        if r.width() > 0:
            self.set_divider((pos.x() - r.left()) / r.width())
            self.divider_changed.emit(self.divider)


class ImagePanel(JobStatusMixin, QWidget):
    open_requested = Signal()  # an image or a .sgi file, chosen by the controller's dialog
    compress_requested = Signal()
    cancel_requested = Signal()
    save_requested = Signal()

    def __init__(self, default_iterations: int = 500, parent=None):
        super().__init__(parent)
        self.state = "idle"
        self._can_compress = False
        self.source = QLabel("No image open.")
        self.source.setObjectName("imageSource")
        self.source.setWordWrap(True)
        self.open_button = QPushButton("Open image…")
        self.open_button.setObjectName("imageOpen")
        self.open_button.setToolTip("An image to compress, or a .sgi file to decode")
        self.open_button.clicked.connect(self.open_requested.emit)

        self.bpp = QDoubleSpinBox()
        self.bpp.setObjectName("imageBpp")
        self.bpp.setDecimals(3)
        self.bpp.setRange(0.01, 8.0)
        self.bpp.setSingleStep(0.05)
        self.bpp.setValue(0.2)
        self.bpp.setSuffix(" bpp")
        self.bpp.setToolTip("Target rate: the .sgi file's true size × 8 / pixels (24 bpp = raw RGB)")
        self.iterations = QSpinBox()
        self.iterations.setObjectName("imageIterations")
        self.iterations.setRange(1, 1_000_000)
        self.iterations.setValue(default_iterations)
        self.iterations.setToolTip("Training steps per tile (the last quarter with quantisation in the loop)")
        form = QFormLayout()
        form.addRow("Rate", self.bpp)
        form.addRow("Steps", self.iterations)

        self.compress_button = QPushButton("Compress")
        self.compress_button.setObjectName("imageCompress")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("imageCancel")
        self.save_button = QPushButton("Save .sgi…")
        self.save_button.setObjectName("imageSave")
        self.compress_button.clicked.connect(self.compress_requested.emit)
        self.cancel_button.clicked.connect(self.cancel_requested.emit)
        self.save_button.clicked.connect(self.save_requested.emit)
        buttons = QHBoxLayout()
        for b in (self.open_button, self.compress_button, self.cancel_button, self.save_button):
            buttons.addWidget(b)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.status = QLabel("Open an image, choose a rate and press Compress.")
        self.status.setObjectName("imageStatus")
        self.status.setWordWrap(True)
        self.metrics = QLabel("")
        self.metrics.setObjectName("imageMetrics")
        self.metrics.setWordWrap(True)
        self.metrics.setStyleSheet("font-weight: bold;")

        # ------------------------------------------------------------------ split view
        self.view = SplitView()
        self.split = QSlider(Qt.Horizontal)
        self.split.setObjectName("imageSplit")
        self.split.setRange(0, 1000)
        self.split.setValue(500)
        self.split.valueChanged.connect(lambda v: self.view.set_divider(v / 1000.0))
        self.view.divider_changed.connect(self._divider_dragged)
        self.fit_button = QPushButton("Fit")
        self.one_button = QPushButton("1:1")
        self.two_button = QPushButton("4:1")
        self.fit_button.clicked.connect(self.view.fit)
        self.one_button.clicked.connect(lambda: self.view.set_zoom(1.0))
        self.two_button.clicked.connect(lambda: self.view.set_zoom(4.0))
        view_row = QHBoxLayout()
        view_row.addWidget(QLabel("original"))
        view_row.addWidget(self.split, 1)
        view_row.addWidget(QLabel("decoded"))
        for b in (self.fit_button, self.one_button, self.two_button):
            b.setMaximumWidth(44)
            view_row.addWidget(b)

        # ------------------------------------------------------------------ table and RD plot
        self.table = QTableWidget(0, len(TABLE_COLUMNS))
        self.table.setObjectName("imageTable")
        self.table.setHorizontalHeaderLabels(TABLE_COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMaximumHeight(130)
        self.plot = result_plot("imagePlot", "PSNR (dB)", "bits per pixel (true file size)")
        self.legend = self.plot.addLegend(offset=(-5, -5), labelTextSize="7pt", brush=pg.mkBrush(0, 0, 0, 160))
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.rd: dict[str, list[dict]] = {}  # codec -> points (bpp, psnr, ms_ssim, bytes, ...)

        viewer = QWidget()
        vl = QVBoxLayout(viewer)
        vl.setContentsMargins(0, 0, 0, 0)
        vl.addWidget(self.view, 1)
        vl.addLayout(view_row)
        lower = QWidget()
        ll = QVBoxLayout(lower)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.table)
        ll.addWidget(self.plot, 1)
        splitter = QSplitter(Qt.Vertical)
        splitter.addWidget(viewer)
        splitter.addWidget(lower)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)

        layout = QVBoxLayout(self)
        layout.addWidget(self.source)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.metrics)
        layout.addWidget(splitter, 1)
        self.set_state("idle")
        self.set_can_compress(False)
        self.set_can_save(False)

    # ------------------------------------------------------------------ state
    def set_state(self, state: str) -> None:
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        self.state = state
        idle = state == "idle"
        self.open_button.setEnabled(idle)
        self.compress_button.setEnabled(idle and self._can_compress)
        self.cancel_button.setEnabled(state in ("compressing", "measuring", "decoding"))
        self.bpp.setEnabled(idle)
        self.iterations.setEnabled(idle)
        if idle:
            self.progress.setRange(0, 1)

    def set_can_compress(self, ok: bool) -> None:
        self._can_compress = ok
        self.compress_button.setEnabled(ok and self.state == "idle")

    def set_can_save(self, ok: bool) -> None:
        self.save_button.setEnabled(ok)

    def settings(self) -> dict:
        return {"bpp": float(self.bpp.value()), "iterations": int(self.iterations.value())}

    def show_metrics(self, text: str) -> None:
        self.metrics.setText(text)

    def _divider_dragged(self, fraction: float) -> None:
        self.split.blockSignals(True)
        self.split.setValue(round(fraction * 1000))
        self.split.blockSignals(False)

    # ------------------------------------------------------------------ images
    def show_images(self, original: np.ndarray | None, decoded: np.ndarray | None) -> None:
        self.view.set_images(original, decoded)

    def show_decoded(self, decoded: np.ndarray | None) -> None:
        self.view.set_b(decoded)

    # ------------------------------------------------------------------ matched-rate table and RD plot
    def clear_rd(self) -> None:
        self.rd.clear()
        for c in self.curves.values():
            self.plot.removeItem(c)
        self.curves.clear()
        self.legend.clear()
        self.table.setRowCount(0)

    def show_matched(self, points: list[dict]) -> None:
        """The table: one row per codec at the matched rate (``codec``, ``bpp``, ``psnr``, ...)."""
        points = sorted(points, key=lambda p: CODEC_ORDER.index(p["codec"]) if p["codec"] in CODEC_ORDER else 99)
        self.table.setRowCount(len(points))
        for r, p in enumerate(points):
            bpp = f"{p['bpp']:.3f}" + ("" if p.get("reached", True) else " (min)")
            msim = "—" if p.get("ms_ssim") is None else f"{p['ms_ssim']:.4f}"
            cells = [LABELS.get(p["codec"], p["codec"]), bpp, f"{p['psnr']:.2f} dB", msim, f"{p['bytes']:,}"]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if not p.get("reached", True):
                    item.setToolTip("even the lowest quality is above the target rate")
                self.table.setItem(r, c, item)

    def add_rd_points(self, points: list[dict]) -> None:
        """Add points (dicts with ``codec``, ``bpp``, ``psnr``) to the RD plot, one curve per codec."""
        for p in points:
            if not (math.isfinite(p.get("bpp", math.nan)) and math.isfinite(p.get("psnr", math.nan))):
                continue
            self.rd.setdefault(p["codec"], []).append(p)
        for codec in sorted(self.rd, key=lambda c: CODEC_ORDER.index(c) if c in CODEC_ORDER else 99):
            pts = sorted(self.rd[codec], key=lambda p: p["bpp"])
            xs = np.array([p["bpp"] for p in pts], np.float64)
            ys = np.array([p["psnr"] for p in pts], np.float64)
            curve = self.curves.get(codec)
            if curve is None:
                color = COLORS.get(codec, (200, 200, 200))
                curve = pg.PlotDataItem(pen=pg.mkPen(color, width=2 if codec == "smartsplat" else 1.2),
                                        symbol=SYMBOLS.get(codec, "o"), symbolSize=8, symbolBrush=pg.mkBrush(color),
                                        symbolPen=pg.mkPen("k", width=0.5), name=LABELS.get(codec, codec))  # fmt: skip
                self.plot.addItem(curve)
                self.curves[codec] = curve
            curve.setData(xs, ys)

    def plotted(self, codec: str) -> list[tuple[float, float]]:
        """(bpp, PSNR) of each point the plot shows for ``codec``."""
        curve = self.curves.get(codec)
        if curve is None:
            return []
        xs, ys = curve.getData()
        return [] if xs is None else list(zip(map(float, xs), map(float, ys)))
