"""Open scenes: pick what A shows and what B compares against; facts about the current scene."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from app.documents import Document, Workspace, human_bytes
from engine.info import scene_info


class ScenePanel(QWidget):
    close_requested = Signal(object)  # Document

    def __init__(self, workspace: Workspace, parent=None):
        super().__init__(parent)
        self.workspace = workspace
        self.list = QListWidget()
        self.list.setObjectName("sceneList")
        self.info = QLabel("No scene open. File > Open, or drop a file on the window.")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextSelectableByMouse)
        show_a = QPushButton("Show as A")
        show_b = QPushButton("Compare as B")
        close = QPushButton("Close")
        show_a.clicked.connect(lambda: self._with_selected(workspace.set_a))
        show_b.clicked.connect(lambda: self._with_selected(workspace.set_b))
        close.clicked.connect(lambda: self._with_selected(self.close_requested.emit))
        self.list.itemDoubleClicked.connect(lambda item: workspace.set_a(item.data(Qt.UserRole)))
        buttons = QHBoxLayout()
        for b in (show_a, show_b, close):
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        layout.addWidget(self.info)
        layout.addStretch(1)
        workspace.subscribe(self.refresh)

    def _with_selected(self, fn) -> None:
        item = self.list.currentItem()
        if item is not None:
            fn(item.data(Qt.UserRole))

    def refresh(self) -> None:
        ws = self.workspace
        self.list.clear()
        for doc in ws.documents:
            tag = " [A]" if doc is ws.a else " [B]" if doc is ws.b else ""
            item = QListWidgetItem(doc.label + tag)
            item.setData(Qt.UserRole, doc)
            self.list.addItem(item)
            if doc is ws.a:
                self.list.setCurrentItem(item)
        self.info.setText(self._describe(ws.a) if ws.a else "No scene open. File > Open, or drop a file on the window.")

    @staticmethod
    def _describe(doc: Document) -> str:
        info = scene_info(doc.scene, doc.path)
        b = info["bounds"]
        bps = f"{info['bytes_per_splat']:.1f} B/splat" if info.get("bytes_per_splat") else ""
        lines = [
            f"<b>{doc.name}</b>",
            f"format: {info['description']}",
            f"splats: {info['count']:,} · SH degree {info['sh_degree']}",
            f"size: {human_bytes(doc.file_bytes)} {bps}",
            "bounds: (" + ", ".join(f"{v:.3g}" for v in b["min"]) + ") – (" + ", ".join(f"{v:.3g}" for v in b["max"]) + ")",
        ]
        if info["extras"]:
            lines.append("extra properties: " + ", ".join(info["extras"]))
        if info.get("dropped_invalid"):
            lines.append(f"dropped {info['dropped_invalid']} invalid splats on load")
        return "<br>".join(lines)
