"""A/B compare: which open scene is B, and how the two are shown."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QButtonGroup, QComboBox, QFormLayout, QLabel, QPushButton, QRadioButton, QSlider, QVBoxLayout, QWidget

from app.documents import Workspace

MODES = [("Off", "off"), ("Split (drag the divider)", "split"), ("Side by side", "side"), ("Flicker (X toggles)", "flicker")]


class ComparePanel(QWidget):
    mode_changed = Signal(str)
    divider_changed = Signal(float)
    toggle_requested = Signal()

    def __init__(self, workspace: Workspace, parent=None):
        super().__init__(parent)
        self.workspace = workspace
        self.b_choice = QComboBox()
        self.b_choice.setObjectName("compareB")
        self.group = QButtonGroup(self)
        self.radios = {}
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.a_label = QLabel("A: —")
        form.addRow(self.a_label)
        form.addRow("B", self.b_choice)
        layout.addLayout(form)
        for label, key in MODES:
            r = QRadioButton(label)
            r.setProperty("mode", key)
            self.group.addButton(r)
            self.radios[key] = r
            layout.addWidget(r)
        self.radios["off"].setChecked(True)
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
        swap.clicked.connect(workspace.swap)
        toggle.clicked.connect(self.toggle_requested.emit)
        self.b_choice.activated.connect(self._b_chosen)
        workspace.subscribe(self.refresh)

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

    def show_divider(self, fraction: float) -> None:
        self.divider.blockSignals(True)
        self.divider.setValue(int(round(fraction * 100)))
        self.divider.blockSignals(False)
