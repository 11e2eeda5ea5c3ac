"""Dialogs: export with an estimated size, and error reporting."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QMessageBox, QPushButton, QVBoxLayout, QWidget)  # fmt: skip

from app import workers
from app.documents import Document, human_bytes
from engine import io

# (label, format, writer options)
EXPORT_FORMATS = [
    ("PLY (INRIA 3DGS, float32)", "ply", {}),
    ("SPZ v4 (zstd)", "spz", {"version": 4}),
    ("SPZ v3 (gzip)", "spz", {"version": 3}),
    ("PlayCanvas compressed.ply", "compressed.ply", {}),
    ("antimatter15 .splat", "splat", {}),
]


def show_error(parent: QWidget | None, title: str, message: str) -> None:
    """The one way the studio reports a problem: a modal dialog; the open scene stays."""
    QMessageBox.critical(parent, title, message)


class ExportDialog(QDialog):
    """Choose format, SH bands and file; shows the estimated size and what the format drops."""

    def __init__(self, doc: Document, start_dir: str = "", parent=None):
        super().__init__(parent)
        self.setWindowTitle(f"Export {doc.name}")
        self.doc = doc
        self.format = QComboBox()
        for label, fmt, opts in EXPORT_FORMATS:
            self.format.addItem(label, (fmt, opts))
        self.sh = QComboBox()
        for d in range(doc.scene.sh_degree + 1):
            self.sh.addItem(f"{d} ({(d + 1) ** 2 * 3} coefficients)", d)
        self.sh.setCurrentIndex(doc.scene.sh_degree)
        self.path = QLineEdit(os.path.join(start_dir or os.getcwd(), os.path.splitext(doc.name)[0] + ".ply"))
        browse = QPushButton("…")
        browse.clicked.connect(self._browse)
        self.estimate = QLabel("")
        self.estimate.setObjectName("estimate")
        self.warning = QLabel("")
        self.warning.setObjectName("warning")
        self.warning.setStyleSheet("color: #b35900;")
        self.warning.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.path)
        row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Format", self.format)
        form.addRow("SH degree", self.sh)
        form.addRow("File", row)
        form.addRow("Estimated size", self.estimate)
        buttons = QDialogButtonBox(QDialogButtonBox.Save | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.warning)
        layout.addWidget(buttons)
        self._estimate_job = None
        self.format.currentIndexChanged.connect(self._options_changed)
        self.sh.currentIndexChanged.connect(self._options_changed)
        self._options_changed()

    def choice(self) -> tuple[str, dict, int, str]:
        fmt, opts = self.format.currentData()
        return fmt, dict(opts), int(self.sh.currentData()), self.path.text()

    def _scene(self):
        fmt, _, degree, _ = self.choice()
        return self.doc.scene.with_sh_degree(degree)

    def _options_changed(self) -> None:
        fmt, opts, degree, path = self.choice()
        stem = path
        for f in sorted(io.FORMATS, key=len, reverse=True):
            if stem.lower().endswith("." + f):
                stem = stem[: -len(f) - 1]
                break
        self.path.setText(f"{stem}.{fmt}")
        scene = self._scene()
        notes = io.conversion_warnings(scene, fmt)
        if degree < self.doc.scene.sh_degree:
            notes.insert(0, f"SH bands {degree + 1}-{self.doc.scene.sh_degree} are dropped (view-dependent colour)")
        self.warning.setText("\n".join("⚠ " + n for n in notes))
        self.estimate.setText("estimating…")
        if self._estimate_job is not None:
            self._estimate_job.cancel()
        job = workers.start(lambda token: io.estimate_bytes(scene, fmt, **opts), self)
        self._estimate_job = job
        ratio_base = self.doc.file_bytes

        def done(n, job=job):
            if self._estimate_job is job:
                extra = f" ({ratio_base / n:.1f}x smaller than the open file)" if ratio_base and n else ""
                self.estimate.setText(f"≈ {human_bytes(n)}{extra}")

        job.finished.connect(done)
        job.failed.connect(lambda msg, bad, job=job: self._estimate_job is job and self.estimate.setText(f"cannot estimate: {msg}"))

    def _browse(self) -> None:
        fmt, _, _, path = self.choice()
        chosen, _ = QFileDialog.getSaveFileName(self, "Export to", path, f"{fmt} files (*.{fmt})")
        if chosen:
            self.path.setText(chosen)

    def _accept(self) -> None:
        fmt, _, _, path = self.choice()
        if io.format_from_extension(path) != fmt:
            show_error(self, "Export", f"The file name must end in .{fmt}")
            return
        self.accept()
