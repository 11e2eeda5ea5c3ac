"""Dialogs: export with an estimated size, and error reporting."""

from __future__ import annotations

import math
import os
import re

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QMessageBox, QPushButton, QVBoxLayout, QWidget)  # fmt: skip

from app import workers
from app.documents import Document, human_bytes
from engine import io
from engine.codec import DEFAULT_LEVEL, ladder
from engine.rd import default_codecs

# (label, format, writer options); .smol also takes the level chosen in the dialog
SMOL_LADDER = (".smol (SplatLab ladder)", "smol", {"codec": "ladder"})
SMOL_FEEDFORWARD = (".smol (feed-forward codec)", "smol", {"codec": "feedforward"})
FF_NOTE = "the file opens only where the same feed-forward codec weights are installed"
FF_MISSING = "the feed-forward codec's weights (resources/codecs/feedforward_v1.pt) are not installed"
EXPORT_FORMATS = [
    ("PLY (INRIA 3DGS, float32)", "ply", {}),
    ("SPZ v4 (zstd)", "spz", {"version": 4}),
    ("SPZ v3 (gzip)", "spz", {"version": 3}),
    ("PlayCanvas compressed.ply", "compressed.ply", {}),
    ("antimatter15 .splat", "splat", {}),
    SMOL_LADDER,
    SMOL_FEEDFORWARD,  # offered only while the weights are installed (engine.rd.default_codecs)
]


def _prune_note(scene, level: int, keep: float) -> str:
    kept = max(1, math.ceil(scene.count * keep))
    return f"level {level} prunes the least important splats: keeps {kept:,} of {scene.count:,} ({keep:.0%})"


def smol_warnings(scene, level: int) -> list[str]:
    """What writing ``scene`` at ladder ``level`` drops (ladder.LEVELS: SH bands, pruning)."""
    spec = ladder.LEVELS[level]
    notes = []
    if spec.sh_degree < scene.sh_degree:
        notes.append(f"level {level} keeps SH bands up to {spec.sh_degree}: bands {spec.sh_degree + 1}-"
                     f"{scene.sh_degree} (view-dependent colour) are dropped")  # fmt: skip
    already = scene.meta.get("ladder_level")
    if spec.keep < 1.0 and already != level and scene.count > 1:
        notes.append(_prune_note(scene, level, spec.keep))
    if isinstance(already, int) and level < already:
        notes.append(f"this scene was decoded from level {already}: a lower level makes the file larger "
                     "without bringing back what was dropped")  # fmt: skip
    return notes


def feedforward_warnings(scene, level: int) -> list[str]:
    """What writing ``scene`` at feed-forward ``level`` drops: levels 4-8 prune like the ladder."""
    from engine.codec import codec_module

    keep = codec_module("feedforward").level_keep(level)
    decoded_here = scene.meta.get("codec") == "feedforward" and scene.meta.get("level") == level
    if keep >= 1.0 or decoded_here or scene.count <= 1:
        return []
    return [_prune_note(scene, level, keep)]


def level_items(codec: str) -> list[tuple[str, int]]:
    """The Level box's (text, level) for a .smol codec."""
    items = []
    for lv, spec in sorted(ladder.LEVELS.items()):
        tag = " (smallest)" if lv == ladder.MAX_LEVEL else ""
        if codec == "ladder":
            tag = " (near-lossless)" if lv == ladder.MIN_LEVEL else tag
            items.append((f"{lv}{tag}: {spec.keep:.0%} of the splats, SH up to {spec.sh_degree}", lv))
        else:
            tag = " (best)" if lv == ladder.MIN_LEVEL else tag
            items.append((f"{lv}{tag}: every splat, learned transform coding", lv))
    return items


def show_error(parent: QWidget | None, title: str, message: str) -> None:
    """The one way the studio reports a problem: a modal dialog; the open scene stays."""
    QMessageBox.critical(parent, title, message)


class ExportDialog(QDialog):
    """Choose format (and .smol codec and level), SH bands and file; shows the file size ("="
    where it is exact: ``io.estimate_size`` says so for the fixed-layout formats; "≈" where it is
    estimated) and what the format drops.

    ``level`` preselects .smol at that level of ``codec`` ("ladder" or "feedforward"; the Compress
    panel's current point); ``name`` is the default file name stem; ``known_bytes`` maps
    (codec, level) (or a bare ladder level) to the exact .smol size of this scene at its full SH
    degree (measured by the Compress panel), shown instead of an estimate. The feed-forward
    codec is offered only while its weights are installed."""

    def __init__(self, doc: Document, start_dir: str = "", parent=None, level: int | None = None,
                 name: str | None = None, known_bytes: dict | None = None, codec: str = "ladder"):  # fmt: skip
        super().__init__(parent)
        self.setWindowTitle(f"Export {doc.name}")
        self.doc = doc
        self.known_bytes = {(k if isinstance(k, tuple) else ("ladder", k)): v
                            for k, v in (known_bytes or {}).items() if v}  # fmt: skip
        self.format = QComboBox()
        self.format.setObjectName("exportFormat")
        for label, fmt, opts in EXPORT_FORMATS:
            self.format.addItem(label, (fmt, opts))
        ff_row = EXPORT_FORMATS.index(SMOL_FEEDFORWARD)
        if "feedforward" not in default_codecs():
            self.format.model().item(ff_row).setEnabled(False)
            self.format.setItemData(ff_row, FF_MISSING[0].upper() + FF_MISSING[1:], Qt.ToolTipRole)
        self.level = QComboBox()
        self.level.setObjectName("exportLevel")
        self._level_codec: str | None = None
        if level in ladder.LEVELS:
            smol = SMOL_FEEDFORWARD if codec == "feedforward" else SMOL_LADDER
            self.format.setCurrentIndex(EXPORT_FORMATS.index(smol))
        self._fill_levels(level if level in ladder.LEVELS else DEFAULT_LEVEL)
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
        self.estimate.setWordWrap(True)
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

    def _fill_levels(self, level: int) -> None:
        """The Level box for the chosen .smol codec (ladder levels by default), at ``level``."""
        _, opts = self.format.currentData()
        codec = opts.get("codec", "ladder")
        if codec == self._level_codec:
            return
        self._level_codec = codec
        self.level.blockSignals(True)
        self.level.clear()
        for text, lv in level_items(codec):
            self.level.addItem(text, lv)
        self.level.setCurrentIndex(max(0, self.level.findData(level)))
        self.level.blockSignals(False)

    def choice(self) -> tuple[str, dict, int, str]:
        """(format, writer options, SH degree, path); for .smol the options carry codec and level."""
        fmt, opts = self.format.currentData()
        opts = dict(opts)
        if fmt == "smol":
            opts["level"] = int(self.level.currentData())
        return fmt, opts, int(self.sh.currentData()), self.path.text()

    def _scene(self):
        fmt, _, degree, _ = self.choice()
        return self.doc.result_scene().with_sh_degree(degree)  # edited: without the deleted splats

    def _options_changed(self) -> None:
        self._fill_levels(int(self.level.currentData()))
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
        if fmt == "smol" and opts["codec"] == "ladder":
            notes += smol_warnings(scene, opts["level"])
        elif fmt == "smol":
            notes += feedforward_warnings(scene, opts["level"])
            notes.append(FF_NOTE)
            if self._unavailable():
                notes.insert(0, FF_MISSING)
        self.warning.setText("\n".join("⚠ " + n for n in notes))
        if self._estimate_job is not None:
            self._estimate_job.cancel()
            self._estimate_job = None
        ratio_base = self.doc.file_bytes

        def show(n: int, sign: str) -> None:
            extra = f" ({ratio_base / n:.1f}x smaller than the open file)" if ratio_base and n else ""
            self.estimate.setText(f"{sign} {human_bytes(n)}{extra}")

        full_sh = degree == self.doc.scene.sh_degree
        exact = self.known_bytes.get((opts["codec"], opts["level"])) if fmt == "smol" and full_sh else None
        if exact:
            show(exact, "=")  # measured by the Compress panel: the file will be exactly this size
            return
        if self._unavailable():
            self.estimate.setText("unknown (no codec weights)")
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

    def _unavailable(self) -> bool:
        """The chosen format cannot be written here (the feed-forward codec without its weights)."""
        return not self.format.model().item(self.format.currentIndex()).isEnabled()

    def _accept(self) -> None:
        fmt, _, _, path = self.choice()
        if self._unavailable():
            show_error(self, "Export", FF_MISSING[0].upper() + FF_MISSING[1:] + ": choose another format.")
            return
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
