"""A/B compare: which open scene is B (or a capture's ground-truth photo), and how the two are
shown; the difference view's scale and its numbers for the current view."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QDoubleSpinBox, QFormLayout, QLabel, QPushButton,
                               QRadioButton, QSlider, QVBoxLayout, QWidget)  # fmt: skip

from app.documents import Workspace
from app.viewport.compare_gl import DEFAULT_FULL_SCALE, format_psnr

MODES = [("Off", "off"), ("Split (drag the divider)", "split"), ("Side by side", "side"),
         ("Flicker (X toggles)", "flicker"), ("Difference (|A − B| heat map)", "difference")]  # fmt: skip
PHOTO_CHOICES = [("Off", None), ("As B (scene A vs photo)", "B"), ("As A (photo vs scene B)", "A")]
REDUCE_CHOICES = [("mean over RGB", "mean"), ("max over RGB", "max")]


def format_metrics(metrics: dict | None) -> str:
    if metrics is None:
        return ""
    return f"MAE {metrics['mae']:.4f} · PSNR {format_psnr(metrics['psnr'])}"


class ComparePanel(QWidget):
    mode_changed = Signal(str)
    divider_changed = Signal(float)
    toggle_requested = Signal()
    photo_slot_changed = Signal(object)  # "A", "B" or None
    difference_changed = Signal(dict)  # {"full_scale": float} and/or {"reduce": "mean" | "max"}
    swap_requested = Signal()

    def __init__(self, workspace: Workspace, parent=None):
        super().__init__(parent)
        self.workspace = workspace
        self.b_choice = QComboBox()
        self.b_choice.setObjectName("compareB")
        self.photo_choice = QComboBox()
        self.photo_choice.setObjectName("comparePhoto")
        for label, slot in PHOTO_CHOICES:
            self.photo_choice.addItem(label, slot)
        self.photo_status = QLabel()
        self.photo_status.setWordWrap(True)
        self.group = QButtonGroup(self)
        self.radios = {}
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.a_label = QLabel("A: —")
        form.addRow(self.a_label)
        form.addRow("B", self.b_choice)
        form.addRow("Photo", self.photo_choice)
        form.addRow(self.photo_status)
        layout.addLayout(form)
        for label, key in MODES:
            r = QRadioButton(label)
            r.setProperty("mode", key)
            self.group.addButton(r)
            self.radios[key] = r
            layout.addWidget(r)
        self.radios["off"].setChecked(True)
        self.full_scale = QDoubleSpinBox()
        self.full_scale.setObjectName("differenceScale")
        self.full_scale.setDecimals(3)
        self.full_scale.setRange(0.005, 1.0)
        self.full_scale.setSingleStep(0.05)
        self.full_scale.setValue(DEFAULT_FULL_SCALE)
        self.full_scale.setToolTip("The |A − B| per channel (images in 0…1) drawn at the top of the colour bar")
        self.reduce = QComboBox()
        self.reduce.setObjectName("differenceReduce")
        for label, key in REDUCE_CHOICES:
            self.reduce.addItem(label, key)
        self.metrics = QLabel()
        self.metrics.setObjectName("compareMetrics")
        self.metrics.setWordWrap(True)
        self.metrics.setTextInteractionFlags(Qt.TextSelectableByMouse)
        diff_form = QFormLayout()
        diff_form.addRow("Full scale", self.full_scale)
        diff_form.addRow("Error", self.reduce)
        diff_form.addRow(self.metrics)
        layout.addLayout(diff_form)
        self.divider = QSlider(Qt.Horizontal)
        self.divider.setRange(2, 98)
        self.divider.setValue(50)
        swap = QPushButton("Swap A and B")
        toggle = QPushButton("Toggle A/B (flicker)")
        layout.addWidget(QLabel("Divider"))
        layout.addWidget(self.divider)
        layout.addWidget(toggle)
        layout.addWidget(swap)
        layout.addStretch(1)
        self.group.buttonToggled.connect(lambda b, on: on and self.mode_changed.emit(b.property("mode")))
        self.divider.valueChanged.connect(lambda v: self.divider_changed.emit(v / 100.0))
        swap.clicked.connect(self.swap_requested.emit)
        toggle.clicked.connect(self.toggle_requested.emit)
        self.b_choice.activated.connect(self._b_chosen)
        self.photo_choice.activated.connect(lambda i: self.photo_slot_changed.emit(self.photo_choice.itemData(i)))
        self.full_scale.valueChanged.connect(lambda v: self.difference_changed.emit({"full_scale": float(v)}))
        self.reduce.activated.connect(lambda i: self.difference_changed.emit({"reduce": self.reduce.itemData(i)}))
        self._mode = "off"
        self._photo_source = ""  # what the photos are of ("" : no capture open)
        self._photo_name: str | None = None
        self._metrics: dict | None = None
        workspace.subscribe(self.refresh)
        self.show_photo_source(None)
        self._update_metrics_text()

    def _b_chosen(self, index: int) -> None:
        self.workspace.set_b(self.b_choice.itemData(index))

    def refresh(self) -> None:
        ws = self.workspace
        self.a_label.setText(f"A: {ws.a.label}" if ws.a else "A: —")
        self.b_choice.blockSignals(True)
        self.b_choice.clear()
        self.b_choice.addItem("(none)", None)
        for doc in ws.documents:
            if doc is not ws.a:
                self.b_choice.addItem(doc.label, doc)
        idx = self.b_choice.findData(ws.b) if ws.b is not None else 0
        self.b_choice.setCurrentIndex(max(idx, 0))
        self.b_choice.blockSignals(False)

    def show_mode(self, mode: str) -> None:
        self.radios[mode].blockSignals(True)
        self.radios[mode].setChecked(True)
        self.radios[mode].blockSignals(False)
        self._mode = mode
        self._update_metrics_text()

    def show_divider(self, fraction: float) -> None:
        self.divider.blockSignals(True)
        self.divider.setValue(int(round(fraction * 100)))
        self.divider.blockSignals(False)

    # ------------------------------------------------------------------ photo
    def show_photo_source(self, label: str | None) -> None:
        """Photos are available from ``label`` (a capture), or not at all (None)."""
        self._photo_source = label or ""
        self.photo_choice.setEnabled(label is not None)
        tip = "" if label is not None else "Open a capture (File > Open Capture Cameras…) first"
        self.photo_choice.setToolTip(tip)
        self._update_photo_text()

    def show_photo_slot(self, slot: str | None) -> None:
        i = self.photo_choice.findData(slot)
        self.photo_choice.setCurrentIndex(max(i, 0))
        self._update_photo_text()

    def show_photo(self, name: str | None) -> None:
        """The capture camera whose photo is shown (None: the view is not a capture camera)."""
        self._photo_name = name
        self._update_photo_text()

    def _update_photo_text(self) -> None:
        if not self.photo_choice.isEnabled():
            text = ""  # the combo's tooltip says to open a capture
        elif self.photo_choice.currentData() is None:
            text = ""
        elif self._photo_name is None:
            text = "No photo for this view: look through a capture camera"
        else:
            text = f"Photo of {self._photo_name}"
        self.photo_status.setText(text)
        self.photo_status.setVisible(bool(text))

    # ------------------------------------------------------------------ difference
    def show_metrics(self, metrics: dict | None) -> None:
        self._metrics = metrics
        self._update_metrics_text()

    def _update_metrics_text(self) -> None:
        if self._mode != "difference":
            text = "Difference mode measures A against B here"
        elif self._metrics is None:
            text = "A vs B: measured when the camera stops"
        else:
            text = f"A vs B: {format_metrics(self._metrics)}"
        self.metrics.setText(text)
        self.metrics.setToolTip("" if self._metrics is None else
                                f"engine.metrics of the two {self._metrics['width']}×{self._metrics['height']} images "
                                "the heat map was made of, at this view")  # fmt: skip
