"""Runs training for the studio window: the Train panel's buttons -> engine.train.train_job.

Thin: the engine trains; this class only starts, pauses, resumes and cancels the
job through app.workers and shows what it yields:

- each Progress goes to the panel (labels and curves, redrawn by the panel's timer);
- each preview scene (the engine yields one every ~3 s) replaces the scene of a "training: …"
  Document in the Workspace, created on the first preview and made A. The GUI applies at most
  one preview every PREVIEW_MIN_S (a later one waits, the newest wins), so a fast GPU run does
  not keep the viewport re-uploading;
- the capture being trained is shown as camera frusta (its cameras arrive before training starts);
- pause sets the job's pause token: the engine checkpoints into OUT.partial and returns "paused";
  resume runs train_job again with resume=True on the same output folder;
- cancel sets the cancel token: the engine removes OUT.partial (and this class removes it when a
  paused run is cancelled); nothing is left behind;
- "done": OUT/point_cloud.ply is opened through MainWindow.open_path and becomes the current
  scene; the training Document is closed; the final test PSNR/SSIM are shown;
- errors go to MainWindow.report_error; the scene that was open stays.
"""

from __future__ import annotations

import os
import shutil
import time

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMessageBox

from app import workers
from app.documents import Document
from engine.errors import InputError
from engine.io.captures import Capture, load_capture
from engine.jobs import CancelToken, Progress
from engine.scene import GaussianScene
from engine.train import TrainConfig, train_job
from engine.train.trainer import CHECKPOINT, partial_dir

PREVIEW_MIN_S = 2.0  # at most one preview upload this often (the engine yields one every ~3 s)
SHUTDOWN_WAIT_MS = 120_000  # closing the window waits this long for the current step to end


def make_config(settings: dict) -> TrainConfig:
    """The panel's settings as a run's config, by the builder ``splatlab train`` uses
    (TrainConfig.from_options). Raises InputError for values out of range."""
    return TrainConfig.from_options(
        iterations=settings["iterations"],
        max_side=settings.get("max_side") or 0,  # the panel's None is its "full size" (0 to the builder)
        seed=settings.get("seed", 0), device=settings.get("device", "auto"),
        strategy=settings.get("strategy", "default"), cap_max=settings.get("cap_max"),
        init_points=settings.get("init_points") or None,  # the panel's 0 / None: the default
    )  # fmt: skip


def _training_job(capture: Capture | str, out_dir: str, cfg: TrainConfig, pause: CancelToken, resume: bool):
    """The worker's job: load the capture (yielded first, so its cameras can be drawn), then
    train. ``capture`` may already be loaded (a resumed run)."""

    def job(cancel: CancelToken):
        cap = capture
        if not isinstance(cap, Capture):
            cap = load_capture(cap, max_side=cfg.max_side)
            yield Progress(0, cfg.iterations, "capture loaded", {}, cap)
        cancel.check()
        return (yield from train_job(cap, out_dir, cfg, cancel=cancel, pause=pause, resume=resume))

    return job


class TrainController(QObject, workers.PanelJob):
    state_changed = Signal(str)  # the panel's states: idle running pausing paused evaluating cancelling
    preview_shown = Signal(object)  # the training Document, after a preview replaced its scene
    paused = Signal(object)  # TrainResult (status "paused")
    finished = Signal(object)  # TrainResult (status "done"), before the PLY is opened
    scene_opened = Signal(object)  # the Document of OUT/point_cloud.ply, now the current scene
    cancelled = Signal()
    failed = Signal(str)

    def __init__(self, window, panel):
        super().__init__(window)
        self.window = window
        self.panel = panel
        self.job = None  # the running JobHandle
        self.document: Document | None = None  # "training: <capture>"
        self.capture: Capture | None = None
        self.config: TrainConfig | None = None
        self.out_dir: str | None = None
        self.result = None
        self._pause = CancelToken()
        self._cancel_requested = False
        self._previous_a: Document | None = None
        self._pending_preview: GaussianScene | None = None
        self._last_preview = -1e9
        self._preview_timer = QTimer(self, singleShot=True, timeout=self._apply_preview)
        self._opening: str | None = None
        panel.start_requested.connect(self.start)
        panel.pause_requested.connect(self.pause)
        panel.resume_requested.connect(self.resume)
        panel.cancel_requested.connect(self.cancel)
        panel.capture_chosen.connect(window.open_capture)
        window.scene_opened.connect(self._scene_opened)

    # ------------------------------------------------------------------ questions (tests replace these)
    def confirm_replace(self, out_dir: str) -> bool:
        return QMessageBox.question(
            self.window, "Replace folder?",
            f"{out_dir} already exists. Training replaces it when it completes. Continue?",
        ) == QMessageBox.Yes  # fmt: skip

    def ask_resume(self, out_dir: str) -> str:
        """"resume" | "restart" | "cancel" for a checkpoint left in OUT.partial."""
        box = QMessageBox(QMessageBox.Question, "Resume training?",
                          f"A paused run of {out_dir} has a checkpoint. Resume it, or start again?",
                          parent=self.window)  # fmt: skip
        resume = box.addButton("Resume", QMessageBox.AcceptRole)
        restart = box.addButton("Start again", QMessageBox.DestructiveRole)
        box.addButton(QMessageBox.Cancel)
        box.exec()
        return "resume" if box.clickedButton() is resume else "restart" if box.clickedButton() is restart else "cancel"

    # ------------------------------------------------------------------ commands
    def start(self, settings: dict | None = None) -> None:
        """Start a fresh run with the panel's settings (or ``settings``)."""
        if self.job is not None:
            return
        settings = settings or self.panel.settings()
        if not settings.get("capture"):
            self.window.report_error("Cannot start training", "choose a capture folder first")
            return
        try:
            cfg = make_config(settings)
        except InputError as e:
            self.window.report_error("Cannot start training", str(e))
            return
        out_dir = os.path.abspath(settings["output"])
        capture = os.path.abspath(settings["capture"])
        if out_dir == capture or capture.startswith(out_dir + os.sep):
            self.window.report_error("Cannot start training", f"{out_dir}: the output folder must not hold the capture")
            return
        resume = False
        if os.path.exists(os.path.join(partial_dir(out_dir), CHECKPOINT)):
            answer = self.ask_resume(out_dir)
            if answer == "cancel":
                return
            resume = answer == "resume"
        if not resume and os.path.isdir(out_dir) and os.listdir(out_dir) and not self.confirm_replace(out_dir):
            return
        if self.document is not None:  # a paused run started again: its preview goes
            self._close_training_document()
        self.config, self.out_dir, self.capture, self.result = cfg, out_dir, None, None
        self.panel.reset_curves()
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
        elif self.state == "paused":  # no job: the paused run's checkpoint is all there is
            if self.out_dir:
                shutil.rmtree(partial_dir(self.out_dir), ignore_errors=True)
            self._ended("Cancelled.", "cancelled")
            self.cancelled.emit()

    def shutdown(self, ms: int = SHUTDOWN_WAIT_MS) -> None:
        """At window close: cancel a running job and wait for it (it removes its partial folder).
        A paused run's checkpoint is kept (Start offers to resume it)."""
        if self.job is not None:
            job = self.job
            self._cancel_requested = True
            job.cancel()
            job.wait(ms)

    # ------------------------------------------------------------------ the job
    def _run(self, capture, resume: bool) -> None:
        self._pause = CancelToken()
        self._cancel_requested = False
        job = workers.start(_training_job(capture, self.out_dir, self.config, self._pause, resume), self)
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
            self.panel.show_message(f"{len(p.preview.frames)} views ({len(p.preview.train_indices)} for training, "
                                    f"{len(p.preview.test_indices)} for testing); initialising…")  # fmt: skip
            return
        self.panel.show_progress(p)
        if "loss" not in p.metrics and self.state in ("running", "pausing"):
            self._set_state("evaluating")  # the final evaluation; pausing no longer applies
        if isinstance(p.preview, GaussianScene):
            self._queue_preview(p.preview)

    def _queue_preview(self, scene: GaussianScene) -> None:
        self._pending_preview = scene
        wait = PREVIEW_MIN_S - (time.monotonic() - self._last_preview)
        if wait <= 0:
            self._preview_timer.stop()
            self._apply_preview()
        elif not self._preview_timer.isActive():
            self._preview_timer.start(int(wait * 1000) + 1)

    def _apply_preview(self) -> None:
        scene, self._pending_preview = self._pending_preview, None
        if scene is None:
            return
        self._last_preview = time.monotonic()
        ws = self.window.workspace
        if self.document is None or self.document not in ws.documents:
            name = os.path.basename(os.path.normpath(self.capture.path if self.capture else self.out_dir))
            self._previous_a = ws.a
            cameras = np.stack([f.camera.camera_to_world for f in self.capture.frames]) if self.capture else None
            self.document = Document(f"training: {name}", scene, cameras=cameras)
            first = ws.a is None
            ws.add(self.document, make_current=True)  # A
            self.window.frame_new_document(self.document, first)
        else:
            ws.replace_scene(self.document, scene)
        self.preview_shown.emit(self.document)

    def _on_finished(self, result) -> None:
        self.result = result
        self._preview_timer.stop()
        if result.status == "paused":
            if self._cancel_requested:  # paused just before the cancel arrived: discard it too
                shutil.rmtree(partial_dir(self.out_dir), ignore_errors=True)
                self._ended("Cancelled.", "cancelled")
                self.cancelled.emit()
                return
            self._pending_preview = result.scene
            if result.scene is not None:
                self._apply_preview()
            step = result.metrics.get("step", 0)
            self.panel.show_message(f"Paused at step {step:,} of {self.config.iterations:,} "
                                    f"(checkpoint in {result.out_dir}). Resume continues from here.")  # fmt: skip
            self._set_state("paused")
            self.paused.emit(result)
            return
        m = result.metrics
        text = (f"Done: test PSNR {m.get('psnr', float('nan')):.2f} dB · SSIM {m.get('ssim', float('nan')):.4f} · "
                f"{int(m.get('count', 0)):,} Gaussians · {m.get('seconds', 0):.0f} s training")  # fmt: skip
        self.panel.show_result(f"{text}<br>→ {result.out_dir}")
        self._ended("Finished; opening the trained scene…", "done")
        self.window.statusBar().showMessage(text, 15000)
        self.finished.emit(result)
        self._opening = os.path.join(result.out_dir, "point_cloud.ply")
        self.window.open_path(self._opening)

    def _scene_opened(self, doc: Document) -> None:
        if self._opening is None or doc.path != os.path.abspath(self._opening):
            return
        self._opening = None
        if self.document is not None and self.document in self.window.workspace.documents:
            self.window.workspace.remove(self.document)  # the trained scene takes its place
            if self.window.workspace.a is not doc:
                self.window.workspace.set_a(doc)
        self.document = None
        self.panel.show_message(f"Opened {doc.name} from {os.path.dirname(doc.path)}")
        self.scene_opened.emit(doc)

    def _on_cancelled(self) -> None:
        self._close_training_document()
        self._ended("Cancelled.", "cancelled")
        self.cancelled.emit()

    def _on_failed(self, message: str, bad_input: bool) -> None:
        self._close_training_document()
        self._ended("Training stopped with an error.", "failed")
        self.window.report_error("Training failed", message)
        self.failed.emit(message)

    def _ended(self, message: str, how: str) -> None:
        self._preview_timer.stop()
        self._pending_preview = None
        self.panel.show_message(message)
        self._set_state("idle")
        self.panel.show_ended(how)

    def _close_training_document(self) -> None:
        """Close the training preview and show again what was A before it."""
        doc, self.document = self.document, None
        ws = self.window.workspace
        if doc is None or doc not in ws.documents:
            return
        ws.remove(doc)
        if self._previous_a is not None and self._previous_a in ws.documents and ws.a is not self._previous_a:
            ws.set_a(self._previous_a)
