"""Runs training for the studio window: the Train panel's buttons -> engine.train.train_job.

Thin: the engine trains; this class (an app.job_controller.PreviewJobController, which holds
what it shares with the Distill controller) only starts, pauses, resumes and cancels the job
through app.workers and shows what it yields:

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

from PySide6.QtCore import Signal

from app.documents import Document
from app.job_controller import PreviewJobController, capture_then
from engine.io.captures import Capture
from engine.jobs import CancelToken
from engine.train import TrainConfig, train_job
from engine.train.trainer import CHECKPOINT, partial_dir


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
    return capture_then(capture, cfg.max_side, cfg.iterations,
                        lambda cap, cancel: train_job(cap, out_dir, cfg, cancel=cancel, pause=pause, resume=resume))  # fmt: skip


class TrainController(PreviewJobController):
    state_changed = Signal(str)  # the panel's states: idle running pausing paused evaluating cancelling
    preview_shown = Signal(object)  # the training Document, after a preview replaced its scene
    paused = Signal(object)  # TrainResult (status "paused")
    finished = Signal(object)  # TrainResult (status "done"), before the PLY is opened
    scene_opened = Signal(object)  # the Document of OUT/point_cloud.ply, now the current scene
    cancelled = Signal()
    failed = Signal(str)

    START_ERROR = "Cannot start training"
    FAILED_MESSAGE = "Training stopped with an error."
    FAILED_TITLE = "Training failed"
    CLOSE_PREVIEW_ON_DISCARD = False  # a cancelled paused run leaves its last preview open
    REPLACE_QUESTION = "{out_dir} already exists. Training replaces it when it completes. Continue?"
    RESUME_TITLE = "Resume training?"
    RESUME_QUESTION = "A paused run of {out_dir} has a checkpoint. Resume it, or start again?"

    def __init__(self, window, panel):
        super().__init__(window, panel)
        self.config: TrainConfig | None = None
        self._opening: str | None = None
        window.scene_opened.connect(self._scene_opened)

    # ------------------------------------------------------------------ the job (PreviewJobController's hooks)
    def _config(self, settings: dict) -> TrainConfig:
        return make_config(settings)

    def _has_partial(self, out_dir: str) -> bool:
        return os.path.exists(os.path.join(partial_dir(out_dir), CHECKPOINT))

    def _reset_panel(self) -> None:
        self.panel.reset_curves()

    def _job(self, capture, resume: bool):
        return _training_job(capture, self.out_dir, self.config, self._pause, resume)

    def _capture_message(self, capture: Capture) -> str:
        return super()._capture_message(capture) + "; initialising…"

    def _evaluating(self, p) -> bool:
        return "loss" not in p.metrics

    def _preview_title(self, stage: str) -> str:
        return f"training: {self._preview_name()}"

    def _show_paused(self, result) -> None:
        self._pending_preview = (result.scene, "") if result.scene is not None else None
        if result.scene is not None:
            self._apply_preview()
        step = result.metrics.get("step", 0)
        self.panel.show_message(f"Paused at step {step:,} of {self.config.iterations:,} "
                                f"(checkpoint in {result.out_dir}). Resume continues from here.")  # fmt: skip

    def _show_done(self, result) -> None:
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
