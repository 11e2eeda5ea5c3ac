"""Runs distillations for the studio window: the Distill panel -> engine.distill.distill_job.

Thin (no algorithms here): the engine trains the teachers and the student and measures them; this class
(an app.job_controller.PreviewJobController, which holds what it shares with the Train controller)
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

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFileDialog

from app import workers
from app.documents import Document
from app.job_controller import PreviewJobController, capture_then
from engine.distill import DistillConfig, distill_job
from engine.distill.job import teacher_files
from engine.distill.report import load_report
from engine.errors import InputError
from engine.framing import cameras_beside
from engine.io.captures import Capture, load_capture
from engine.jobs import CancelToken
from engine.scene import GaussianScene

PREVIEW_PREFIX = "distilling: "


def make_config(settings: dict) -> DistillConfig:
    """The panel's settings as a run's config (the CLI's builder); InputError for values out of range."""
    return DistillConfig.from_options(
        iterations=int(settings["iterations"]), keep=float(settings["keep"]),
        max_side=settings.get("max_side") or 0,  # the panel's None/0 is its "full size"
        device=settings.get("device", "auto"), seed=int(settings.get("seed", 0)),
        init_points=settings.get("init_points") or None,
        pseudo_views=int(settings.get("pseudo_views", DistillConfig.pseudo_views)),
    )  # fmt: skip


def _distill_job(capture, out_dir: str, cfg: DistillConfig, teachers, pause: CancelToken, resume: bool):
    """The worker's job: load the capture (yielded first, so its cameras can be drawn), then distil."""
    return capture_then(capture, cfg.max_side, 1, lambda cap, cancel: distill_job(
        cap, out_dir, cfg, teachers=teachers, cancel=cancel, pause=pause, resume=resume))  # fmt: skip


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


class DistillController(PreviewJobController):
    state_changed = Signal(str)  # the panel's states: idle running pausing paused evaluating cancelling
    preview_shown = Signal(object)  # the preview Document, after a preview replaced its scene
    paused = Signal(object)  # DistillResult (status "paused")
    finished = Signal(object)  # DistillResult (status "done"), before the result is shown
    result_shown = Signal(object)  # the report, once its scenes are loaded and the student is A
    cancelled = Signal()
    failed = Signal(str)
    view_shown = Signal(int)  # position in the report's test views the camera now looks through

    START_ERROR = "Cannot start the distillation"
    FAILED_MESSAGE = "The distillation stopped with an error."
    FAILED_TITLE = "Distillation failed"
    REPLACE_QUESTION = "{out_dir} already exists. The distillation replaces it when it completes. Continue?"
    RESUME_TITLE = "Resume distillation?"
    RESUME_QUESTION = "An interrupted distillation of {out_dir} was kept. Resume it, or start again?"

    def __init__(self, window, panel, dock_name: str = "Distill"):
        super().__init__(window, panel)
        self.dock_name = dock_name
        self.loader = None  # the JobHandle loading a result's scenes
        self.config: DistillConfig | None = None
        self.teachers: list[str] | None = None
        self.report: dict | None = None
        self.scenes: dict[str, GaussianScene] = {}  # the report's model files -> scenes
        self.documents: dict[str, Document] = {}  # the report's model files -> their Documents
        panel.open_result_requested.connect(self.open_result_dialog)
        panel.compare_requested.connect(self.compare)
        panel.export_requested.connect(self.export_student)
        panel.compress_requested.connect(self.send_to_compress)
        panel.view_chosen.connect(self.look_at_view)

    # ------------------------------------------------------------------ questions (tests replace these)
    def ask_result_folder(self) -> str:
        start = self.window.qsettings.value("lastDir", os.getcwd())
        return QFileDialog.getExistingDirectory(self.window, "Open a distillation's output folder", start)

    # ------------------------------------------------------------------ the job (PreviewJobController's hooks)
    def _config(self, settings: dict) -> DistillConfig:
        return make_config(settings)

    def _settings_problem(self, settings: dict) -> str | None:
        teachers = teacher_files(settings.get("teachers"))
        if settings.get("teachers") is not None and not teachers:
            return "add at least one trained teacher, or let SplatLab train them"
        for t in teachers or []:
            if not os.path.isfile(t):
                return f"{t}: no such teacher file"
        return None

    def _settings_accepted(self, settings: dict) -> None:
        self.teachers = teacher_files(settings.get("teachers"))

    def _reset_panel(self) -> None:
        self.panel.reset_progress()

    def _job(self, capture, resume: bool):
        return _distill_job(capture, self.out_dir, self.config, self.teachers, self._pause, resume)

    def _jobs(self) -> tuple:
        return (self.job, self.loader)

    def _run(self, capture, resume: bool) -> None:
        super()._run(capture, resume)
        self._raise_dock()

    def _evaluating(self, p) -> bool:
        return self._preview_stage(p).startswith("evaluate")

    def _preview_stage(self, p) -> str:
        return (p.metrics or {}).get("stage", "")

    def _preview_title(self, stage: str) -> str:
        return f"{PREVIEW_PREFIX}{self._preview_name()}" + (f" — {stage}" if stage else "")

    def _show_paused(self, result) -> None:
        self.panel.show_message(f"Paused during {result.metrics.get('stage', 'the run')} (kept in "
                                f"{result.out_dir}). Resume continues from here.")  # fmt: skip

    def _show_done(self, result) -> None:
        self._ended("Finished; loading the teachers and the student…", "done")
        self.finished.emit(result)
        try:
            report = load_report(result.out_dir)
        except InputError as e:
            self.window.report_error("Cannot show the distillation", str(e))
            return
        student = report["student"]["file"]
        self._show_report(report, known={student: result.scene} if result.scene is not None else {})

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
