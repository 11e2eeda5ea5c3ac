"""What the Train and Distill controllers share: one pausable job that trains on a capture and
shows its model live.

Thin (no algorithms here): a subclass names the engine job (``_job``), its config (``_config``)
and its texts; this class starts, pauses, resumes and cancels the job through app.workers and
shows what it yields:

- the capture (yielded first, once loaded) is shown as camera frusta;
- each Progress goes to the panel; each preview scene replaces the scene of a live preview
  Document, created on the first preview and made A. At most one preview every PREVIEW_MIN_S
  reaches the viewport (a later one waits, the newest wins), so a fast GPU run does not keep the
  viewport re-uploading;
- pause sets the job's pause token: the engine keeps OUT.partial and returns "paused"; resume
  runs the job again with resume=True on the same output folder; cancel sets the cancel token
  and leaves nothing (this class removes OUT.partial when a paused run is cancelled);
- at window close (``shutdown``) a running job is cancelled and waited for.
"""

from __future__ import annotations

import os
import shutil
import time

import numpy as np
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QMessageBox

from app import workers
from app.documents import Document
from engine.errors import InputError
from engine.io.captures import Capture, load_capture
from engine.jobs import CancelToken, Progress
from engine.scene import GaussianScene
from engine.train.trainer import partial_dir

PREVIEW_MIN_S = 2.0  # at most one preview upload this often (the engines yield one every ~3 s)
SHUTDOWN_WAIT_MS = 120_000  # closing the window waits this long for the current step to end


def capture_then(capture: Capture | str, max_side, total: int, run):
    """A worker's job: load the capture unless it is loaded already (a resumed run) and yield it
    first, so its cameras can be drawn; then ``run(capture, cancel)``'s steps and result."""

    def job(cancel: CancelToken):
        cap = capture
        if not isinstance(cap, Capture):
            cap = load_capture(cap, max_side=max_side)
            yield Progress(0, total, "capture loaded", {}, cap)
        cancel.check()
        return (yield from run(cap, cancel))

    return job


class PreviewJobController(QObject, workers.PanelJob):
    """A subclass defines the signals state_changed(str), preview_shown(object), paused(object),
    cancelled(), failed(str) and the hooks below; its panel has start/pause/resume/cancel_requested,
    capture_chosen, settings(), show_message, show_progress, show_ended and set_state."""

    START_ERROR = "Cannot start"  # the title of the error dialogs of start()
    FAILED_MESSAGE = "The run stopped with an error."  # the panel's status after a failure
    FAILED_TITLE = "The run failed"  # the error dialog's title
    CLOSE_PREVIEW_ON_DISCARD = True  # a cancelled paused run closes its preview Document too
    REPLACE_QUESTION = "{out_dir} already exists. The run replaces it when it completes. Continue?"
    RESUME_TITLE = "Resume?"
    RESUME_QUESTION = "An interrupted run of {out_dir} was kept. Resume it, or start again?"

    def __init__(self, window, panel):
        super().__init__(window)
        self.window = window
        self.panel = panel
        self.job = None  # the running JobHandle
        self.document: Document | None = None  # the live preview
        self.capture: Capture | None = None
        self.config = None
        self.out_dir: str | None = None
        self.result = None
        self._pause = CancelToken()
        self._cancel_requested = False
        self._previous_a: Document | None = None
        self._pending_preview: tuple[GaussianScene, str] | None = None  # the scene and its stage
        self._last_preview = -1e9
        self._preview_timer = QTimer(self, singleShot=True, timeout=self._apply_preview)
        panel.start_requested.connect(self.start)
        panel.pause_requested.connect(self.pause)
        panel.resume_requested.connect(self.resume)
        panel.cancel_requested.connect(self.cancel)
        panel.capture_chosen.connect(window.open_capture)

    # ------------------------------------------------------------------ questions (tests replace these)
    def confirm_replace(self, out_dir: str) -> bool:
        return QMessageBox.question(self.window, "Replace folder?",
                                    self.REPLACE_QUESTION.format(out_dir=out_dir)) == QMessageBox.Yes  # fmt: skip

    def ask_resume(self, out_dir: str) -> str:
        """"resume" | "restart" | "cancel" for a run kept in OUT.partial."""
        box = QMessageBox(QMessageBox.Question, self.RESUME_TITLE, self.RESUME_QUESTION.format(out_dir=out_dir),
                          parent=self.window)  # fmt: skip
        resume = box.addButton("Resume", QMessageBox.AcceptRole)
        restart = box.addButton("Start again", QMessageBox.DestructiveRole)
        box.addButton(QMessageBox.Cancel)
        box.exec()
        return "resume" if box.clickedButton() is resume else "restart" if box.clickedButton() is restart else "cancel"

    # ------------------------------------------------------------------ hooks
    def _config(self, settings: dict):
        """The run's config from the panel's settings; raises InputError for values out of range."""
        raise NotImplementedError

    def _settings_problem(self, settings: dict) -> str | None:
        """Why the settings cannot start a run, beyond the capture and the config (None: they can)."""
        return None

    def _settings_accepted(self, settings: dict) -> None:
        """A fresh run starts with these settings (config, out_dir set already)."""

    def _has_partial(self, out_dir: str) -> bool:
        return os.path.isdir(partial_dir(out_dir))

    def _reset_panel(self) -> None:
        raise NotImplementedError

    def _job(self, capture, resume: bool):
        """The worker's job (a function of the cancel token) for a run on ``capture``."""
        raise NotImplementedError

    def _capture_message(self, capture: Capture) -> str:
        return (f"{len(capture.frames)} views ({len(capture.train_indices)} for training, "
                f"{len(capture.test_indices)} for testing)")  # fmt: skip

    def _evaluating(self, p: Progress) -> bool:
        """Whether ``p`` is a step of the final evaluation (pausing no longer applies)."""
        raise NotImplementedError

    def _preview_stage(self, p: Progress) -> str:
        return ""

    def _preview_title(self, stage: str) -> str:
        raise NotImplementedError

    def _show_paused(self, result) -> None:
        raise NotImplementedError

    def _show_done(self, result) -> None:
        raise NotImplementedError

    def _jobs(self) -> tuple:
        """The jobs shutdown() cancels and waits for."""
        return (self.job,)

    # ------------------------------------------------------------------ commands
    def start(self, settings: dict | None = None) -> None:
        """Start a fresh run with the panel's settings (or ``settings``)."""
        if self.job is not None:
            return
        settings = settings or self.panel.settings()
        title = self.START_ERROR
        if not settings.get("capture"):
            self.window.report_error(title, "choose a capture folder first")
            return
        try:
            cfg = self._config(settings)
        except InputError as e:
            self.window.report_error(title, str(e))
            return
        problem = self._settings_problem(settings)
        if problem:
            self.window.report_error(title, problem)
            return
        out_dir = os.path.abspath(settings["output"])
        capture = os.path.abspath(settings["capture"])
        if out_dir == capture or capture.startswith(out_dir + os.sep):
            self.window.report_error(title, f"{out_dir}: the output folder must not hold the capture")
            return
        resume = False
        if self._has_partial(out_dir):
            answer = self.ask_resume(out_dir)
            if answer == "cancel":
                return
            resume = answer == "resume"
        if not resume and os.path.isdir(out_dir) and os.listdir(out_dir) and not self.confirm_replace(out_dir):
            return
        if self.document is not None:  # a paused run started again: its preview goes
            self._close_preview_document()
        self.config, self.out_dir, self.capture, self.result = cfg, out_dir, None, None
        self._settings_accepted(settings)
        self._reset_panel()
        self.panel.show_message(f"Loading {capture}…")
        self._run(capture, resume)

    def pause(self) -> None:
        if self.job is not None and self.state == "running":
            self._pause.cancel()
            self.panel.show_message("Pausing after this step…")
            self._set_state("pausing")

    def resume(self) -> None:
        if self.job is None and self.state == "paused" and self.config is not None:
            self.panel.show_message("Resuming…")
            self._run(self.capture if self.capture is not None else self.panel.settings()["capture"], True)

    def cancel(self) -> None:
        if self.job is not None:
            self._cancel_requested = True
            self.job.cancel()
            self.panel.show_message("Cancelling…")
            self._set_state("cancelling")
        elif self.state == "paused":  # no job: the paused run's folder is all there is
            self._discard_paused()

    def shutdown(self, ms: int = SHUTDOWN_WAIT_MS) -> None:
        """At window close: cancel a running job and wait for it (it removes its partial folder).
        A paused run's folder is kept (Start offers to resume it)."""
        for job in self._jobs():
            if job is not None:
                self._cancel_requested = True
                job.cancel()
                job.wait(ms)

    # ------------------------------------------------------------------ the job
    def _run(self, capture, resume: bool) -> None:
        self._pause = CancelToken()
        self._cancel_requested = False
        job = workers.start(self._job(capture, resume), self)
        self.job = job
        job.progress.connect(self._on_progress)
        job.finished.connect(self._on_finished)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(self._on_cancelled)
        job.done.connect(lambda job=job: self._job_done(job))
        self._set_state("running")

    def _job_done(self, job) -> None:
        if self.job is job:
            self.job = None

    def _on_progress(self, p: Progress) -> None:
        if isinstance(p.preview, Capture):
            self.capture = p.preview
            self.window.set_capture(p.preview)
            self.panel.show_message(self._capture_message(p.preview))
            return
        self.panel.show_progress(p)
        if self._evaluating(p) and self.state in ("running", "pausing"):
            self._set_state("evaluating")  # the final evaluation; pausing no longer applies
        if isinstance(p.preview, GaussianScene):
            self._queue_preview(p.preview, self._preview_stage(p))

    def _queue_preview(self, scene: GaussianScene, stage: str = "") -> None:
        self._pending_preview = (scene, stage)
        wait = PREVIEW_MIN_S - (time.monotonic() - self._last_preview)
        if wait <= 0:
            self._preview_timer.stop()
            self._apply_preview()
        elif not self._preview_timer.isActive():
            self._preview_timer.start(int(wait * 1000) + 1)

    def _preview_name(self) -> str:
        """The capture's folder name (the output folder's before the capture is loaded)."""
        return os.path.basename(os.path.normpath(self.capture.path if self.capture else self.out_dir))

    def _apply_preview(self) -> None:
        pending, self._pending_preview = self._pending_preview, None
        if pending is None:
            return
        scene, stage = pending
        self._last_preview = time.monotonic()
        ws = self.window.workspace
        title = self._preview_title(stage)
        if self.document is None or self.document not in ws.documents:
            self._previous_a = ws.a
            cameras = np.stack([f.camera.camera_to_world for f in self.capture.frames]) if self.capture else None
            self.document = Document(title, scene, cameras=cameras)
            first = ws.a is None
            ws.add(self.document, make_current=True)  # A
            self.window.frame_new_document(self.document, first)
        else:
            self.document.name = title
            ws.replace_scene(self.document, scene)
        self.preview_shown.emit(self.document)

    def _on_finished(self, result) -> None:
        self.result = result
        self._preview_timer.stop()
        if result.status != "paused":
            self._show_done(result)
        elif self._cancel_requested:  # paused just before the cancel arrived: discard it too
            self._discard_paused()
        else:
            self._show_paused(result)
            self._set_state("paused")
            self.paused.emit(result)

    def _discard_paused(self) -> None:
        """A paused run is cancelled: its OUT.partial goes."""
        if self.out_dir:
            shutil.rmtree(partial_dir(self.out_dir), ignore_errors=True)
        if self.CLOSE_PREVIEW_ON_DISCARD:
            self._close_preview_document()
        self._ended("Cancelled.", "cancelled")
        self.cancelled.emit()

    def _on_cancelled(self) -> None:
        self._close_preview_document()
        self._ended("Cancelled.", "cancelled")
        self.cancelled.emit()

    def _on_failed(self, message: str, bad_input: bool) -> None:
        self._close_preview_document()
        self._ended(self.FAILED_MESSAGE, "failed")
        self.window.report_error(self.FAILED_TITLE, message)
        self.failed.emit(message)

    def _ended(self, message: str, how: str) -> None:
        self._preview_timer.stop()
        self._pending_preview = None
        self.panel.show_message(message)
        self._set_state("idle")
        self.panel.show_ended(how)

    def _close_preview_document(self) -> None:
        """Close the live preview and show again what was A before it."""
        doc, self.document = self.document, None
        ws = self.window.workspace
        if doc is None or doc not in ws.documents:
            return
        ws.remove(doc)
        if self._previous_a is not None and self._previous_a in ws.documents and ws.a is not self._previous_a:
            ws.set_a(self._previous_a)
