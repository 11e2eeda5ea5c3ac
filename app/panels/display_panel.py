"""Display settings: mode, splat scale, SH degree limit, background colour."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QColorDialog, QComboBox, QFormLayout, QLabel, QPushButton, QSlider, QSpinBox, QWidget

DISPLAY_MODES = [("Colour", "color"), ("Depth", "depth"), ("Centres as points", "points"), ("Ellipse outlines", "ellipses")]


class DisplayPanel(QWidget):
    changed = Signal(dict)  # DisplaySettings fields that changed

    def __init__(self, parent=None):
        super().__init__(parent)
        self.mode = QComboBox()
        for label, key in DISPLAY_MODES:
            self.mode.addItem(label, key)
        self.scale = QSlider(Qt.Horizontal)
        self.scale.setRange(5, 200)  # percent
        self.scale.setValue(100)
        self.scale_label = QLabel("100%")
        self.sh = QSpinBox()
        self.sh.setRange(0, 3)
        self.sh.setValue(3)
        self.background = QPushButton()
        self._bg = (0.0, 0.0, 0.0)
        self._paint_bg()
        form = QFormLayout(self)
        form.addRow("Mode", self.mode)
        form.addRow("Splat scale", self.scale)
        form.addRow("", self.scale_label)
        form.addRow("SH degree limit", self.sh)
        form.addRow("Background", self.background)
        self.mode.currentIndexChanged.connect(lambda: self.changed.emit({"mode": self.mode.currentData()}))
        self.scale.valueChanged.connect(self._scale_changed)
        self.sh.valueChanged.connect(lambda v: self.changed.emit({"sh_degree_limit": int(v)}))
        self.background.clicked.connect(self._pick_background)

    def _scale_changed(self, v: int) -> None:
        self.scale_label.setText(f"{v}%")
        self.changed.emit({"splat_scale": v / 100.0})

    def _paint_bg(self) -> None:
        r, g, b = (int(c * 255) for c in self._bg)
        self.background.setText(f"#{r:02x}{g:02x}{b:02x}")
        self.background.setStyleSheet(f"background: rgb({r},{g},{b}); color: {'black' if r + g + b > 380 else 'white'};")

    def _pick_background(self) -> None:
        c = QColorDialog.getColor(QColor.fromRgbF(*self._bg), self, "Background colour")
        if c.isValid():
            self.set_background((c.redF(), c.greenF(), c.blueF()))

    def set_background(self, rgb) -> None:
        self._bg = tuple(float(v) for v in rgb)
        self._paint_bg()
        self.changed.emit({"background": self._bg})

    def set_mode(self, key: str) -> None:
        i = self.mode.findData(key)
        if i >= 0:
            self.mode.setCurrentIndex(i)

    def values(self) -> dict:
        return {"mode": self.mode.currentData(), "splat_scale": self.scale.value() / 100.0,
                "sh_degree_limit": self.sh.value(), "background": self._bg}  # fmt: skip
