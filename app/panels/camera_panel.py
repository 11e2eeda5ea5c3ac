"""Camera tools: field of view, reset, focus, fly mode, save/load/copy, capture cameras."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QFormLayout, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QPushButton, QSlider, QVBoxLayout, QWidget)  # fmt: skip

from engine.camera import Camera


class CameraPanel(QWidget):
    fov_changed = Signal(float)
    reset_requested = Signal()
    focus_requested = Signal()
    fly_toggled = Signal(bool)
    save_requested = Signal()
    load_requested = Signal()
    copy_requested = Signal()
    open_capture_requested = Signal()
    capture_camera_chosen = Signal(object)  # Camera

    def __init__(self, parent=None):
        super().__init__(parent)
        self.fov = QSlider(Qt.Horizontal)
        self.fov.setRange(10, 120)
        self.fov.setValue(45)
        self.fov_label = QLabel("45°")
        self.fly = QCheckBox("Fly mode (drag looks around; WASD/QE move, shift faster)")
        buttons = QHBoxLayout()
        for text, sig in (("Reset", self.reset_requested), ("Focus", self.focus_requested)):
            b = QPushButton(text)
            b.clicked.connect(sig.emit)
            buttons.addWidget(b)
        io_buttons = QHBoxLayout()
        for text, sig in (("Save…", self.save_requested), ("Load…", self.load_requested), ("Copy", self.copy_requested)):
            b = QPushButton(text)
            b.clicked.connect(sig.emit)
            io_buttons.addWidget(b)
        self.capture_button = QPushButton("Open capture cameras…")
        self.capture_button.clicked.connect(self.open_capture_requested.emit)
        self.capture_list = QListWidget()
        self.capture_list.setObjectName("captureCameras")
        self.capture_list.itemActivated.connect(lambda item: self.capture_camera_chosen.emit(item.data(Qt.UserRole)))
        self.capture_list.itemDoubleClicked.connect(lambda item: self.capture_camera_chosen.emit(item.data(Qt.UserRole)))
        form = QFormLayout()
        form.addRow("Field of view", self.fov)
        form.addRow("", self.fov_label)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.fly)
        layout.addLayout(io_buttons)
        layout.addWidget(self.capture_button)
        layout.addWidget(self.capture_list)
        self.fov.valueChanged.connect(self._fov)
        self.fly.toggled.connect(self.fly_toggled.emit)

    def _fov(self, v: int) -> None:
        self.fov_label.setText(f"{v}°")
        self.fov_changed.emit(float(v))

    def show_fov(self, degrees: float) -> None:
        self.fov.blockSignals(True)
        self.fov.setValue(int(round(degrees)))
        self.fov_label.setText(f"{degrees:.0f}°")
        self.fov.blockSignals(False)

    def set_capture_cameras(self, frames: list[tuple[str, Camera, str]]) -> None:
        """(name, camera, split) per capture frame."""
        self.capture_list.clear()
        for name, cam, split in frames:
            item = QListWidgetItem(f"{name}  ({split})")
            item.setData(Qt.UserRole, cam)
            self.capture_list.addItem(item)
