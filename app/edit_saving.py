"""Saving the edited scene A (the saving half of app.edit_controller.EditController): Save / Save
As write ``Document.result_scene()`` (deleted splats left out) through engine.io (a temporary file
renamed when complete); closing a scene or the window asks Save / Discard / Cancel about unsaved
edits.
"""

from __future__ import annotations

import os

from PySide6.QtWidgets import QFileDialog, QMessageBox

from app import workers
from app.dialogs import EXPORT_FORMATS
from app.documents import Document
from engine import io
from engine.errors import InputError

# formats Save writes (with the Export dialog's default options); .smol has levels: File > Export
SAVE_FORMATS: dict[str, dict] = {}
for _label, _fmt, _opts in EXPORT_FORMATS:
    if _fmt != "smol":
        SAVE_FORMATS.setdefault(_fmt, _opts)
SAVE_FILTER = "PLY (*.ply);;SPZ (*.spz);;PlayCanvas compressed PLY (*.compressed.ply);;antimatter15 splat (*.splat)"


class EditSaving:
    """Mixed into EditController, which provides ``window``, ``document()``, ``refresh()``, the
    ``saved`` signal and ``_save_job``."""

    def ask_save_path(self, doc: Document) -> str:
        start = doc.path or os.path.join(self.window.qsettings.value("lastDir", os.getcwd()), doc.name)
        path, _ = QFileDialog.getSaveFileName(self.window, f"Save {doc.name} as", start, SAVE_FILTER)
        return path

    def save_as(self, doc: Document | None = None, wait: bool = False):
        doc = doc or self.document()
        if doc is None:
            return False
        path = self.ask_save_path(doc)
        return self.save(doc, path, wait) if path else False

    def save(self, doc: Document | None = None, path: str | None = None, wait: bool = False):
        """Write ``doc`` (default A) with its deleted splats left out to ``path`` (default its own
        file, when that is a format Save writes; else Save As asks). ``wait``: on this thread,
        returning True when written; otherwise in a worker (``saved`` when done; returns the job)."""
        doc = doc or self.document()
        if doc is None:
            return False
        if path is None:
            if not (doc.path and io.format_from_extension(doc.path) in SAVE_FORMATS):
                return self.save_as(doc, wait)
            path = doc.path
        path = os.path.abspath(path)
        fmt = io.format_from_extension(path)
        if fmt not in SAVE_FORMATS:
            self.window.report_error("Cannot save", f"{path}: Save writes .ply, .spz, .compressed.ply or .splat "
                                                    "(for .smol use File > Export)")  # fmt: skip
            return False
        scene, options, revision = doc.result_scene(), SAVE_FORMATS[fmt], doc.edit_revision

        def write(token=None):
            try:
                io.save(scene, path, **options)
            except OSError as e:
                raise OSError(f"cannot write {path}: {e.strerror or e}") from e
            return path

        if wait:
            try:
                write()
            except (OSError, InputError, ValueError) as e:
                self.window.report_error("Save failed", str(e))
                return False
            self._saved(doc, path, revision)
            return True
        job = workers.start(write, self)
        self._save_job = job
        self.window.statusBar().showMessage(f"Saving {os.path.basename(path)}…")
        job.finished.connect(lambda _: self._saved(doc, path, revision))
        job.failed.connect(lambda msg, bad: self.window.report_error("Save failed", msg))
        job.done.connect(lambda: setattr(self, "_save_job", None) if self._save_job is job else None)
        return job

    def _saved(self, doc: Document, path: str, revision: int) -> None:
        session = doc.session
        if session is not None and doc.edit_revision == revision:
            session.mark_saved()  # edited while saving: still unsaved
        doc.path, doc.name, doc.file_bytes = path, os.path.basename(path), os.path.getsize(path)
        self.window.workspace.notify()
        self.refresh()
        self.window.statusBar().showMessage(f"Saved {path} ({doc.file_bytes:,} bytes)", 8000)
        self.saved.emit(doc, path)

    def confirm_close(self, docs) -> bool:
        """Ask Save / Discard / Cancel for each of ``docs`` with unsaved edits; False: cancelled
        (or a save failed), nothing is closed."""
        for doc in docs:
            if not doc.modified:
                continue
            answer = QMessageBox.question(self.window, "Unsaved edits",
                                          f"{doc.name} has unsaved edits. Save them before closing?",
                                          QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel,
                                          QMessageBox.Save)  # fmt: skip
            if answer == QMessageBox.Cancel:
                return False
            if answer == QMessageBox.Save and not self.save(doc, wait=True):
                return False
        return True
