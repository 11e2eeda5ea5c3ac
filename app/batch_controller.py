"""Runs File > Batch… for the studio window: the Batch dialog -> engine.batch.batch_job.

Thin: the engine finds the inputs, runs the items on Ray, keeps batch.json and writes
report.html; this class runs that same job (the one ``splatlab batch`` runs) through
app.workers, puts each finished item's row in the dialog's table as it arrives and the whole
table at the end, and opens a row's output: a scene output in the viewport (a trained or
distilled folder's point_cloud.ply; the input scene of an rd or eval row), a .sgi in the Image
panel. Closing the window cancels a running batch (its unfinished items stay pending in
batch.json, and a rerun resumes them).
"""

from __future__ import annotations

import os

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtGui import QDesktopServices

from app import workers
from app.batch_dialog import BatchDialog
from engine.batch import BatchSettings, ClusterSettings, batch_job
from engine.errors import InputError
from engine.jobs import Progress
from engine.rd import default_codecs

SHUTDOWN_WAIT_MS = 30_000


class BatchController(QObject):
    finished = Signal(object)  # the batch's summary (engine.batch.runner.summary)
    failed = Signal(str)

    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.dialog: BatchDialog | None = None
        self.job = None
        self.result: dict | None = None
        self._rows: dict[str, int] = {}  # output -> table row, while running

    def show_dialog(self) -> BatchDialog:
        if self.dialog is None:
            self.dialog = BatchDialog(self.window, codecs=default_codecs(), cpus=os.cpu_count() or 1)
            self.dialog.start_requested.connect(self.start)
            self.dialog.cancel_requested.connect(self.cancel)
            self.dialog.open_requested.connect(self.open_row)
            self.dialog.report_requested.connect(self.open_report)
        self.dialog.show()
        self.dialog.raise_()
        return self.dialog

    def is_running(self) -> bool:
        return self.job is not None

    # ------------------------------------------------------------------ run
    def start(self) -> None:
        d = self.dialog
        if self.job is not None or d is None:
            return
        try:
            req = d.request()
        except InputError as e:
            self.window.report_error("Cannot start the batch", str(e))
            return
        settings = BatchSettings(ClusterSettings(address=req["address"], num_cpus=req["num_cpus"]))
        self.result, self._rows = None, {}
        d.clear_rows()
        d.set_running(True)
        d.report_button.setEnabled(False)
        d.show_progress(0, 1, "finding and hashing the inputs…")
        job = workers.start(lambda cancel: batch_job(req["job"], req["inputs"], req["output"], req["options"], settings,
                                                     cancel=cancel), self)  # fmt: skip
        job.progress.connect(self._progress)
        job.finished.connect(self._finished)
        job.failed.connect(lambda message, bad: self._failed(message))
        job.cancelled.connect(lambda: self._ended("Cancelled: unfinished items stay pending in batch.json; "
                                                  "Start again resumes them."))  # fmt: skip
        self.job = job

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.dialog.show_progress(self.dialog.progress.value(), self.dialog.progress.maximum(), "cancelling…")

    def _progress(self, p: Progress) -> None:
        self.dialog.show_progress(p.step, p.total, p.message)
        for rec in p.preview if isinstance(p.preview, list) else ():
            row = self._rows.setdefault(rec["output"], len(self._rows))
            self.dialog.set_row(row, rec)

    def _finished(self, result: dict) -> None:
        self.result = result
        d = self.dialog
        d.clear_rows()
        for i, rec in enumerate(result["items"]):
            d.set_row(i, rec)
        c = result["counts"]
        d.report_button.setEnabled(True)
        self._ended(f"{len(result['items'])} items: {c['done'] - c['skipped']} done, {c['skipped']} done before, "
                    f"{c['failed']} failed, {c['bad_input']} bad input in {result['seconds']:.1f} s; "
                    f"{result['manifest']}", step=1)  # fmt: skip
        self.finished.emit(result)

    def _failed(self, message: str) -> None:
        self.window.report_error("The batch failed", message)
        self._ended(f"stopped: {message}")
        self.failed.emit(message)

    def _ended(self, message: str, step: int = 0) -> None:
        self.job = None
        self.dialog.set_running(False)
        self.dialog.show_progress(step, 1, message)

    # ------------------------------------------------------------------ results
    def output_to_open(self, row: int) -> str | None:
        """The file a result row shows in the studio, or None (not done, or nothing to show)."""
        if self.result is None or not 0 <= row < len(self.result["items"]):
            return None
        rec = self.result["items"][row]
        if rec["status"] != "done":
            return None
        out = os.path.join(self.result["output"], rec["output"])
        if rec["job"] in ("train", "distill"):
            return os.path.join(out, "point_cloud.ply")
        if rec["job"] in ("rd", "eval"):
            return rec["input"]
        return out

    def open_row(self, row: int) -> None:
        path = self.output_to_open(row)
        if path is None:
            return
        if path.lower().endswith(".sgi"):
            self.window.imager.open_path(path)
            self.window.docks["Image"].raise_()
        else:
            self.window.open_path(path)

    def open_report(self) -> None:
        if self.result is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.result["report"]))

    def shutdown(self) -> None:
        """At window close: cancel a running batch and wait for it to stop its tasks."""
        if self.job is not None:
            self.job.cancel()
            self.job.wait(SHUTDOWN_WAIT_MS)
