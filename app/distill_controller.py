"""Runs distillations for the studio window: the Distill panel -> engine.distill.distill_job.

Thin (no algorithms here): the engine trains the teachers and the student and measures them; this class
only starts, pauses, resumes and cancels the job through app.workers and shows what it yields:

- each Progress goes to the panel (stage, step, loss, PSNR, Gaussians; redrawn by its timer);
- each preview scene (the model being trained: a teacher, then the student) replaces the scene of
  a "distilling: …" Document, created on the first preview and made A; at most one preview every
  PREVIEW_MIN_S reaches the viewport (the newest wins);
- the capture is shown as camera frusta as soon as it is loaded;
- pause sets the job's pause token: the engine keeps OUT.partial and returns "paused"; resume
  runs distill_job again with resume=True; cancel leaves nothing (this class removes OUT.partial
  when a paused run is cancelled);
- "done", or File > Open Distillation Result…: the output folder's metrics.json is read
  (engine.distill.report.load_report) and shown as the panel's table and per-view chart; the
  models' scenes are loaded in a worker; the student becomes the current scene (A). Compare
  opens a teacher as A and the student as B in the chosen compare mode; a view chosen in the
  chart looks through that test camera; Export and Send to Compress make the student A first;
- errors go to MainWindow.report_error; the scene that was open stays.
"""

from __future__ import annotations

import os
import shutil
import time

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app import workers
from app.documents import Document
from engine.distill import DistillConfig, distill_job
from engine.distill.report import load_report
from engine.errors import InputError
from engine.framing import cameras_beside
from engine.io.captures import Capture, load_capture
from engine.jobs import CancelToken, Progress
from engine.scene import GaussianScene
from engine.train.trainer import partial_dir

PREVIEW_MIN_S = 2.0  # at most one preview upload this often
SHUTDOWN_WAIT_MS = 120_000  # closing the window waits this long for the current step to end
PREVIEW_PREFIX = "distilling: "


def make_config(settings: dict) -> DistillConfig:
    """The panel's settings as a run's config; raises InputError for values out of range."""
    return DistillConfig(
        iterations=int(settings["iterations"]), keep=float(settings["keep"]),
        max_side=settings.get("max_side") or None,  # the panel's None/0 is its "full size"
        device=settings.get("device", "auto"), seed=int(settings.get("seed", 0)),
        init_points=settings.get("init_points") or None,
    ).validate()  # fmt: skip


def teacher_files(paths: list[str] | None) -> list[str] | None:
    """Given teachers as files: a `splatlab train` output folder stands for its point_cloud.ply."""
    if not paths:
        return None
    return [os.path.join(p, "point_cloud.ply") if os.path.isdir(p) else p for p in paths]


def _distill_job(capture, out_dir: str, cfg: DistillConfig, teachers, pause: CancelToken, resume: bool):
    """The worker's job: load the capture (yielded first, so its cameras can be drawn), then distil."""

    def job(cancel: CancelToken):
        cap = capture
        if not isinstance(cap, Capture):
            cap = load_capture(cap, max_side=cfg.max_side)
            yield Progress(0, 1, "capture loaded", {}, cap)
        cancel.check()
        return (yield from distill_job(cap, out_dir, cfg, teachers=teachers, cancel=cancel, pause=pause, resume=resume))

    return job


def _load_models(report: dict, known: dict, capture: Capture | None):
    """The worker's job for a result: every model's scene (``known``: file -> scene already in
    memory) and, unless given, the capture (for its test cameras; None when it is gone)."""
    from engine import io

    def job(cancel: CancelToken):
        scenes = {}
        for m in report["models"]:
            cancel.check()
            scenes[m["file"]] = known.get(m["file"]) or io.load(m["file"])
        cap, problem = capture, None
        if cap is None:
            try:
                cap = load_capture(report["capture"], max_side=report.get("max_side"))
            except (InputError, OSError) as e:
                problem = str(e)
        return scenes, cap, problem

    return job


class DistillController(QObject, workers.PanelJob):
    state_changed = Signal(str)  # the panel's states: idle running pausing paused evaluating cancelling
    preview_shown = Signal(object)  # the preview Document, after a preview replaced its scene
    paused = Signal(object)  # DistillResult (status "paused")
    finished = Signal(object)  # DistillResult (status "done"), before the result is shown
    result_shown = Signal(object)  # the report, once its scenes are loaded and the student is A
    cancelled = Signal()
    failed = Signal(str)
    view_shown = Signal(int)  # position in the report's test views the camera now looks through

    def __init__(self, window, panel, dock_name: str = "Distill"):
        super().__init__(window)
        self.window = window
        self.panel = panel
        self.dock_name = dock_name
        self.job = None  # the running JobHandle (distillation)
        self.loader = None  # the JobHandle loading a result's scenes
        self.document: Document | None = None  # the live preview
        self.capture: Capture | None = None
        self.config: DistillConfig | None = None
        self.teachers: list[str] | None = None
        self.out_dir: str | None = None
        self.result = None
        self.report: dict | None = None
        self.scenes: dict[str, GaussianScene] = {}  # the report's model files -> scenes
        self.documents: dict[str, Document] = {}  # the report's model files -> their Documents
        self._pause = CancelToken()
        self._cancel_requested = False
        self._previous_a: Document | None = None
        self._pending_preview: tuple[GaussianScene, str] | None = None
        self._last_preview = -1e9
        self._preview_timer = QTimer(self, singleShot=True, timeout=self._apply_preview)
        panel.start_requested.connect(self.start)
        panel.pause_requested.connect(self.pause)
        panel.resume_requested.connect(self.resume)
        panel.cancel_requested.connect(self.cancel)
        panel.capture_chosen.connect(window.open_capture)
        panel.open_result_requested.connect(self.open_result_dialog)
        panel.compare_requested.connect(self.compare)
        panel.export_requested.connect(self.export_student)
        panel.compress_requested.connect(self.send_to_compress)
        panel.view_chosen.connect(self.look_at_view)

    # ------------------------------------------------------------------ questions (tests replace these)
    def confirm_replace(self, out_dir: str) -> bool:
        return QMessageBox.question(
            self.window, "Replace folder?",
            f"{out_dir} already exists. The distillation replaces it when it completes. Continue?",
        ) == QMessageBox.Yes  # fmt: skip

    def ask_resume(self, out_dir: str) -> str:
        """"resume" | "restart" | "cancel" for an interrupted run left in OUT.partial."""
        box = QMessageBox(QMessageBox.Question, "Resume distillation?",
                          f"An interrupted distillation of {out_dir} was kept. Resume it, or start again?",
                          parent=self.window)  # fmt: skip
        resume = box.addButton("Resume", QMessageBox.AcceptRole)
        restart = box.addButton("Start again", QMessageBox.DestructiveRole)
        box.addButton(QMessageBox.Cancel)
        box.exec()
        return "resume" if box.clickedButton() is resume else "restart" if box.clickedButton() is restart else "cancel"

    def ask_result_folder(self) -> str:
        start = self.window.qsettings.value("lastDir", os.getcwd())
        return QFileDialog.getExistingDirectory(self.window, "Open a distillation's output folder", start)

    # ------------------------------------------------------------------ commands
    def start(self, settings: dict | None = None) -> None:
        """Start a fresh run with the panel's settings (or ``settings``)."""
        if self.job is not None:
            return
        settings = settings or self.panel.settings()
        title = "Cannot start the distillation"
        if not settings.get("capture"):
            self.window.report_error(title, "choose a capture folder first")
            return
        try:
            cfg = make_config(settings)
        except InputError as e:
            self.window.report_error(title, str(e))
            return
        teachers = teacher_files(settings.get("teachers"))
        if settings.get("teachers") is not None and not teachers:
            self.window.report_error(title, "add at least one trained teacher, or let SplatLab train them")
            return
        for t in teachers or []:
            if not os.path.isfile(t):
                self.window.report_error(title, f"{t}: no such teacher file")
                return
        out_dir = os.path.abspath(settings["output"])
        capture = os.path.abspath(settings["capture"])
        if out_dir == capture or capture.startswith(out_dir + os.sep):
            self.window.report_error(title, f"{out_dir}: the output folder must not hold the capture")
            return
        resume = False
        if os.path.isdir(partial_dir(out_dir)):
            answer = self.ask_resume(out_dir)
            if answer == "cancel":
                return
            resume = answer == "resume"
        if not resume and os.path.isdir(out_dir) and os.listdir(out_dir) and not self.confirm_replace(out_dir):
            return
        if self.document is not None:  # a paused run started again: its preview goes
            self._close_preview_document()
        self.config, self.teachers, self.out_dir, self.capture, self.result = cfg, teachers, out_dir, None, None
        self.panel.reset_progress()
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
            if self.out_dir:
                shutil.rmtree(partial_dir(self.out_dir), ignore_errors=True)
            self._close_preview_document()
            self._ended("Cancelled.", "cancelled")
            self.cancelled.emit()

    def shutdown(self, ms: int = SHUTDOWN_WAIT_MS) -> None:
        """At window close: cancel a running job and wait for it (it removes its partial folder).
        A paused run's folder is kept (Start offers to resume it)."""
        for job in (self.job, self.loader):
            if job is not None:
                self._cancel_requested = True
                job.cancel()
                job.wait(ms)

    # ------------------------------------------------------------------ the job
    def _run(self, capture, resume: bool) -> None:
        self._pause = CancelToken()
        self._cancel_requested = False
        job = workers.start(_distill_job(capture, self.out_dir, self.config, self.teachers, self._pause, resume), self)
        self.job = job
        job.progress.connect(self._on_progress)
        job.finished.connect(self._on_finished)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(self._on_cancelled)
        job.done.connect(lambda job=job: self._job_done(job))
        self._set_state("running")
        self._raise_dock()

    def _job_done(self, job) -> None:
        if self.job is job:
            self.job = None

    def _on_progress(self, p: Progress) -> None:
        if isinstance(p.preview, Capture):
            self.capture = p.preview
            self.window.set_capture(p.preview)
            self.panel.show_message(f"{len(p.preview.frames)} views ({len(p.preview.train_indices)} for training, "
                                    f"{len(p.preview.test_indices)} for testing)")  # fmt: skip
            return
        self.panel.show_progress(p)
        stage = (p.metrics or {}).get("stage", "")
        if stage.startswith("evaluate") and self.state in ("running", "pausing"):
            self._set_state("evaluating")  # the final measurements; pausing no longer applies
        if isinstance(p.preview, GaussianScene):
            self._queue_preview(p.preview, stage)

    def _queue_preview(self, scene: GaussianScene, stage: str) -> None:
        self._pending_preview = (scene, stage)
        wait = PREVIEW_MIN_S - (time.monotonic() - self._last_preview)
        if wait <= 0:
            self._preview_timer.stop()
            self._apply_preview()
        elif not self._preview_timer.isActive():
            self._preview_timer.start(int(wait * 1000) + 1)

    def _apply_preview(self) -> None:
        pending, self._pending_preview = self._pending_preview, None
        if pending is None:
            return
        scene, stage = pending
        self._last_preview = time.monotonic()
        ws = self.window.workspace
        name = os.path.basename(os.path.normpath(self.capture.path if self.capture else self.out_dir))
        title = f"{PREVIEW_PREFIX}{name}" + (f" — {stage}" if stage else "")
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
        if result.status == "paused":
            if self._cancel_requested:  # paused just before the cancel arrived: discard it too
                shutil.rmtree(partial_dir(self.out_dir), ignore_errors=True)
                self._close_preview_document()
                self._ended("Cancelled.", "cancelled")
                self.cancelled.emit()
                return
            self.panel.show_message(f"Paused during {result.metrics.get('stage', 'the run')} (kept in "
                                    f"{result.out_dir}). Resume continues from here.")  # fmt: skip
            self._set_state("paused")
            self.paused.emit(result)
            return
        self._ended("Finished; loading the teachers and the student…", "done")
        self.finished.emit(result)
        try:
            report = load_report(result.out_dir)
        except InputError as e:
            self.window.report_error("Cannot show the distillation", str(e))
            return
        student = report["student"]["file"]
        self._show_report(report, known={student: result.scene} if result.scene is not None else {})

    def _on_cancelled(self) -> None:
        self._close_preview_document()
        self._ended("Cancelled.", "cancelled")
        self.cancelled.emit()

    def _on_failed(self, message: str, bad_input: bool) -> None:
        self._close_preview_document()
        self._ended("The distillation stopped with an error.", "failed")
        self.window.report_error("Distillation failed", message)
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

    def _raise_dock(self) -> None:
        dock = getattr(self.window, "docks", {}).get(self.dock_name)
        if dock is not None:
            dock.show()
            dock.raise_()

    # ------------------------------------------------------------------ a finished run
    def open_result_dialog(self) -> None:
        folder = self.ask_result_folder()
        if folder:
            self.open_result(folder)

    def open_result(self, out_dir: str) -> bool:
        """Show a finished distillation (its output folder or metrics.json): table, chart, and its
        models as scenes once loaded. False (and an error dialog) when it cannot be read."""
        if self.job is not None:
            self.window.report_error("Cannot open the result", "a distillation is running; wait for it or cancel it")
            return False
        try:
            report = load_report(out_dir)
        except InputError as e:
            self.window.report_error("Cannot open the distillation result", str(e))
            return False
        if not self.panel.capture.text().strip():
            self.panel.set_capture_folder(report["capture"])
        self._raise_dock()
        self._show_report(report)
        return True

    def _show_report(self, report: dict, known: dict | None = None) -> None:
        """The panel shows the report at once; the scenes (and the capture, unless it is the one
        already open) load in a worker, then the student becomes A."""
        if self.loader is not None:
            self.loader.cancel()
        self.report, self.scenes, self.documents = report, {}, {}
        self.panel.show_report(report)
        self.panel.show_message(f"Loading the {len(report['models'])} models of {report['out_dir']}…")
        cap = self.window.capture
        same = cap is not None and os.path.abspath(cap.path) == os.path.abspath(report["capture"])
        job = workers.start(_load_models(report, known or {}, cap if same else None), self)
        self.loader = job
        job.finished.connect(lambda loaded, job=job: self._models_loaded(job, report, loaded))
        job.failed.connect(lambda message, bad, job=job: self._load_failed(job, message))
        job.done.connect(lambda job=job: setattr(self, "loader", None) if self.loader is job else None)

    def _load_failed(self, job, message: str) -> None:
        if job is self.loader:
            self.panel.show_message("The result's scenes could not be loaded.")
            self.window.report_error("Cannot load the distillation's scenes", message)

    def _models_loaded(self, job, report: dict, loaded) -> None:
        if job is not self.loader or report is not self.report:
            return
        self.scenes, capture, problem = loaded
        if capture is not None and capture is not self.window.capture:
            self.window.set_capture(capture)
        self.capture = capture
        self._close_preview_document()
        student = self._document(report["student"])
        self.window.workspace.set_b(None)
        if student not in self.window.workspace.documents:
            first = self.window.workspace.a is None
            self.window.workspace.add(student, make_current=True)
            self.window.frame_new_document(student, first)
        else:
            self.window.workspace.set_a(student)
        s, t = report["student"], report["teachers"][0]
        text = f"Student: {s['psnr']:.2f} dB vs {t['psnr']:.2f} dB with {s['count']:,} of {t['count']:,} Gaussians"
        self.panel.show_message(text + (f". Test cameras unavailable: {problem}" if problem else
                                        ". Compare it with a teacher, or click a view in the chart."))  # fmt: skip
        self.window.statusBar().showMessage(text, 15000)
        self.result_shown.emit(report)

    def _document(self, model: dict) -> Document:
        """The Document of one of the report's models (made once; made again if it was closed)."""
        doc = self.documents.get(model["file"])
        if doc is not None and doc in self.window.workspace.documents:
            return doc
        name = os.path.basename(self.report["out_dir"])
        size = os.path.getsize(model["file"]) if os.path.exists(model["file"]) else model["bytes"]
        doc = Document(f"{model['label']} · {name}", self.scenes[model["file"]], model["file"], size,
                       cameras=cameras_beside(model["file"]))  # fmt: skip
        self.documents[model["file"]] = doc
        return doc

    def _ready(self) -> bool:
        return self.report is not None and bool(self.scenes)

    def student_document(self) -> Document | None:
        return self._document(self.report["student"]) if self._ready() else None

    def compare(self, teacher: int = 0, mode: str = "split") -> None:
        """A = teacher ``teacher`` (0: the standard one), B = the student, in compare ``mode``
        (split, side, flicker, difference)."""
        if not self._ready():
            return
        ws = self.window.workspace
        t = self._document(self.report["teachers"][teacher])
        s = self._document(self.report["student"])
        for doc in (t, s):
            if doc not in ws.documents:
                ws.add(doc, make_current=False)
        ws.set_a(t)
        ws.set_b(s)
        self.window.set_compare_mode(mode)

    def make_student_current(self) -> Document | None:
        """The student alone as A (what File > Export… and the Compress panel work on)."""
        doc = self.student_document()
        if doc is None:
            return None
        ws = self.window.workspace
        if doc not in ws.documents:
            ws.add(doc, make_current=True)
        ws.set_b(None)
        ws.set_a(doc)
        self.window.set_compare_mode("off")
        return doc

    def export_student(self) -> None:
        if self.make_student_current() is not None:
            self.window.export_dialog()

    def send_to_compress(self) -> None:
        if self.make_student_current() is not None:
            dock = self.window.docks.get("Compress")
            if dock is not None:
                dock.show()
                dock.raise_()

    def look_at_view(self, k: int) -> None:
        """Look through the report's k-th test camera."""
        if self.report is None or not 0 <= k < len(self.report["test_view_indices"]):
            return
        index = self.report["test_view_indices"][k]
        if self.capture is None or index >= len(self.capture.frames):
            self.panel.show_message("The capture's cameras are not available (is the capture folder still there?).")
            return
        if self.window.capture is not self.capture:
            self.window.set_capture(self.capture)
        self.window.look_through_capture_camera(index)
        self.panel.show_view(k)
        self.panel.show_message(f"Looking through test view {k}: {self.report['test_views'][k]}")
        self.view_shown.emit(k)
