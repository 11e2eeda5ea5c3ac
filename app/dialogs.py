"""Dialogs: export with an estimated size, and error reporting."""

from __future__ import annotations

import math
import os
import re

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QMessageBox, QPushButton, QVBoxLayout, QWidget)  # fmt: skip

from app import workers
from app.documents import Document, human_bytes
from engine import io
from engine.codec import DEFAULT_LEVEL, ladder

# (label, format, writer options); .smol also takes the level chosen in the dialog
EXPORT_FORMATS = [
    ("PLY (INRIA 3DGS, float32)", "ply", {}),
    ("SPZ v4 (zstd)", "spz", {"version": 4}),
    ("SPZ v3 (gzip)", "spz", {"version": 3}),
    ("PlayCanvas compressed.ply", "compressed.ply", {}),
    ("antimatter15 .splat", "splat", {}),
    (".smol (SplatLab ladder)", "smol", {"codec": "ladder"}),
]


def smol_warnings(scene, level: int) -> list[str]:
    """What writing ``scene`` at ladder ``level`` drops (ladder.LEVELS: SH bands, pruning)."""
    spec = ladder.LEVELS[level]
    notes = []
    if spec.sh_degree < scene.sh_degree:
        notes.append(f"level {level} keeps SH bands up to {spec.sh_degree}: bands {spec.sh_degree + 1}-"
                     f"{scene.sh_degree} (view-dependent colour) are dropped")  # fmt: skip
    already = scene.meta.get("ladder_level")
    if spec.keep < 1.0 and already != level and scene.count > 1:
        kept = max(1, math.ceil(scene.count * spec.keep))
        notes.append(f"level {level} prunes the least important splats: keeps {kept:,} of {scene.count:,} "
                     f"({spec.keep:.0%})")  # fmt: skip
    if isinstance(already, int) and level < already:
        notes.append(f"this scene was decoded from level {already}: a lower level makes the file larger "
                     "without bringing back what was dropped")  # fmt: skip
    return notes


def show_error(parent: QWidget | None, title: str, message: str) -> None:
    """The one way the studio reports a problem: a modal dialog; the open scene stays."""
    QMessageBox.critical(parent, title, message)


class ExportDialog(QDialog):
    """Choose format (and .smol level), SH bands and file; shows the file size ("=" where it is
    exact: ``io.estimate_size`` says so for the fixed-layout formats; "≈" where it is estimated)
    and what the format drops.

    ``level`` preselects .smol at that ladder level (the Compress panel's current level);
    ``name`` is the default file name stem; ``known_bytes`` maps ladder levels to the exact .smol
    size of this scene at its full SH degree (measured by the Compress panel), shown instead of an
    estimate."""

    def __init__(self, doc: Document, start_dir: str = "", parent=None, level: int | None = None,
                 name: str | None = None, known_bytes: dict[int, int] | None = None):  # fmt: skip
        super().__init__(parent)
        self.setWindowTitle(f"Export {doc.name}")
        self.doc = doc
        self.known_bytes = {k: v for k, v in (known_bytes or {}).items() if v}
        self.format = QComboBox()
        for label, fmt, opts in EXPORT_FORMATS:
            self.format.addItem(label, (fmt, opts))
        self.level = QComboBox()
        self.level.setObjectName("exportLevel")
        for lv, spec in sorted(ladder.LEVELS.items()):
            tag = " (near-lossless)" if lv == ladder.MIN_LEVEL else " (smallest)" if lv == ladder.MAX_LEVEL else ""
            self.level.addItem(f"{lv}{tag}: {spec.keep:.0%} of the splats, SH up to {spec.sh_degree}", lv)
        self.level.setCurrentIndex(self.level.findData(level if level in ladder.LEVELS else DEFAULT_LEVEL))
        if level in ladder.LEVELS:
            self.format.setCurrentIndex([f for _, f, _ in EXPORT_FORMATS].index("smol"))
        self.sh = QComboBox()
        for d in range(doc.scene.sh_degree + 1):
            self.sh.addItem(f"{d} ({(d + 1) ** 2 * 3} coefficients)", d)
        self.sh.setCurrentIndex(doc.scene.sh_degree)
        stem = name or (os.path.splitext(os.path.basename(doc.path))[0] if doc.path else os.path.splitext(doc.name)[0])
        stem = re.sub(r'[\\/:*?"<>|]+', "-", stem).strip("-.") or "scene"  # a file name, not a path
        self.path = QLineEdit(os.path.join(start_dir or os.getcwd(), stem + ".ply"))
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
        form.addRow("Level", self.level)
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
        self.level.currentIndexChanged.connect(self._options_changed)
        self.sh.currentIndexChanged.connect(self._options_changed)
        self._options_changed()

    def choice(self) -> tuple[str, dict, int, str]:
        """(format, writer options, SH degree, path); for .smol the options carry the level."""
        fmt, opts = self.format.currentData()
        opts = dict(opts)
        if fmt == "smol":
            opts["level"] = int(self.level.currentData())
        return fmt, opts, int(self.sh.currentData()), self.path.text()

    def _scene(self):
        fmt, _, degree, _ = self.choice()
        return self.doc.result_scene().with_sh_degree(degree)  # edited: without the deleted splats

    def _options_changed(self) -> None:
        fmt, opts, degree, path = self.choice()
        stem = path
        for f in sorted(io.FORMATS, key=len, reverse=True):
            if stem.lower().endswith("." + f):
                stem = stem[: -len(f) - 1]
                break
        self.path.setText(f"{stem}.{fmt}")
        self.level.setEnabled(fmt == "smol")
        scene = self._scene()
        notes = io.conversion_warnings(scene, fmt)
        if degree < self.doc.scene.sh_degree:
            notes.insert(0, f"SH bands {degree + 1}-{self.doc.scene.sh_degree} are dropped (view-dependent colour)")
        if fmt == "smol":
            notes += smol_warnings(scene, opts["level"])
        self.warning.setText("\n".join("⚠ " + n for n in notes))
        if self._estimate_job is not None:
            self._estimate_job.cancel()
            self._estimate_job = None
        ratio_base = self.doc.file_bytes

        def show(n: int, sign: str) -> None:
            extra = f" ({ratio_base / n:.1f}x smaller than the open file)" if ratio_base and n else ""
            self.estimate.setText(f"{sign} {human_bytes(n)}{extra}")

        full_sh = degree == self.doc.scene.sh_degree
        exact = self.known_bytes.get(opts["level"]) if fmt == "smol" and full_sh else None
        if exact:
            show(exact, "=")  # measured by the Compress panel: the file will be exactly this size
            return
        self.estimate.setText("estimating…")
        job = workers.start(lambda token: io.estimate_size(scene, fmt, **opts), self)
        self._estimate_job = job

        def done(est, job=job):
            if self._estimate_job is job:
                show(est.bytes, "=" if est.exact else "≈")  # the engine says whether the size is exact

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


class TransformDialog(QDialog):
    """Numbers for a transform of the selection (or the whole scene): "move" (offset x, y, z),
    "rotate" (degrees about x, then y, then z, about the splats' centre) or "scale" (a factor
    about their centre). ``values()`` gives [x, y, z] or [factor]."""

    TITLES = {"move": "Move", "rotate": "Rotate", "scale": "Scale"}

    def __init__(self, kind: str, target: str, parent=None):
        from PySide6.QtWidgets import QDoubleSpinBox

        super().__init__(parent)
        if kind not in self.TITLES:
            raise ValueError(f"unknown transform {kind!r}")
        self.kind = kind
        self.setWindowTitle(f"{self.TITLES[kind]} {target}")
        form = QFormLayout(self)
        self.spins = []
        labels = ["Factor"] if kind == "scale" else (["About x (°)", "About y (°)", "About z (°)"] if kind == "rotate"
                                                      else ["x", "y", "z"])  # fmt: skip
        for label in labels:
            s = QDoubleSpinBox()
            s.setDecimals(4)
            if kind == "scale":
                s.setRange(1e-4, 1e4)
                s.setValue(1.0)
                s.setSingleStep(0.1)
            else:
                s.setRange(-360.0, 360.0) if kind == "rotate" else s.setRange(-1e6, 1e6)
                s.setSingleStep(15.0 if kind == "rotate" else 0.1)
            form.addRow(label, s)
            self.spins.append(s)
        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def values(self) -> list[float]:
        return [s.value() for s in self.spins]
