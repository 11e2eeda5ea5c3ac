"""Train: pick a capture folder and settings, start / pause / resume / cancel, watch the curves.

Thin: the panel only gathers settings and shows progress; app/train_controller.py runs
engine.train.train_job and feeds this panel. Curves are pyqtgraph plots whose points are
appended per step but redrawn at most REDRAW_HZ times a second, so a fast (GPU) run does not
spend its time drawing.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import (QComboBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox,
                               QVBoxLayout, QWidget)  # fmt: skip

from app.panels.progress_mixin import CaptureRunMixin, duration, output_beside
from engine.device import TRAIN

REDRAW_HZ = 4
# engine.device.TRAIN, as the panel's fields show them (max side 0: full size)
CPU_DEFAULTS = {"iterations": TRAIN.cpu_iterations, "max_side": TRAIN.cpu_max_side or 0}
CUDA_DEFAULTS = {"iterations": TRAIN.cuda_iterations, "max_side": TRAIN.cuda_max_side or 0}
OUTPUT_SUFFIX = "-trained"


def default_output(capture: str) -> str:
    """``<capture>-trained`` beside the capture folder."""
    return output_beside(capture, OUTPUT_SUFFIX)


class TrainPanel(CaptureRunMixin, QWidget):
    start_requested = Signal(dict)  # settings(): capture, output, iterations, max_side, strategy, ...
    pause_requested = Signal()
    resume_requested = Signal()
    cancel_requested = Signal()
    capture_chosen = Signal(str)  # a capture folder picked with Browse… (to show its cameras)
    CPU_DEFAULTS, CUDA_DEFAULTS, OUTPUT_SUFFIX = CPU_DEFAULTS, CUDA_DEFAULTS, OUTPUT_SUFFIX

    def __init__(self, cuda: bool = False, parent=None):
        super().__init__(parent)
        self._cuda = cuda
        self.state = "idle"
        # ------------------------------------------------------------------ settings
        self.capture = QLineEdit()
        self.capture.setObjectName("trainCapture")
        self.capture.setPlaceholderText("capture folder (COLMAP, NeRF-synthetic, instant-ngp)")
        self.output = QLineEdit()
        self.output.setObjectName("trainOutput")
        self.output.setPlaceholderText("<capture>-trained beside the capture")
        self._auto_output = ""  # the output last filled in from the capture; edits stop the filling
        browse_capture = QPushButton("Browse…")
        browse_output = QPushButton("Browse…")
        browse_capture.clicked.connect(self._browse_capture)
        browse_output.clicked.connect(self._browse_output)
        self.iterations = QSpinBox()
        self.iterations.setRange(1, 10_000_000)
        self.iterations.setSingleStep(1000)
        self.iterations.setGroupSeparatorShown(True)
        self.max_side = QSpinBox()
        self.max_side.setRange(0, 16384)
        self.max_side.setSingleStep(100)
        self.max_side.setSpecialValueText("full size")
        self.max_side.setSuffix(" px")
        self.max_side.setToolTip("downsample images so their longest side is at most this (0: full size)")
        self.strategy = QComboBox()
        self.strategy.addItem("default (INRIA densification)", "default")
        self.strategy.addItem("mcmc (Gaussian budget)", "mcmc")
        self.cap_max = QSpinBox()
        self.cap_max.setRange(1, 100_000_000)
        self.cap_max.setValue(1_000_000)
        self.cap_max.setSingleStep(100_000)
        self.cap_max.setGroupSeparatorShown(True)
        self.device = QComboBox()
        for d in ("auto", "cpu", "cuda"):
            self.device.addItem(d, d)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.init_points = QSpinBox()
        self.init_points.setRange(0, 10_000_000)
        self.init_points.setSingleStep(10_000)
        self.init_points.setGroupSeparatorShown(True)
        self.init_points.setSpecialValueText("engine default")
        self.init_points.setToolTip("random initial points when the capture has no SfM points (0: the engine's default)")
        self._apply_defaults(self._effective_cuda())

        form = QFormLayout()
        row = QHBoxLayout()
        row.addWidget(self.capture, 1)
        row.addWidget(browse_capture)
        form.addRow("Capture", row)
        row = QHBoxLayout()
        row.addWidget(self.output, 1)
        row.addWidget(browse_output)
        form.addRow("Output", row)
        form.addRow("Iterations", self.iterations)
        form.addRow("Max side", self.max_side)
        form.addRow("Strategy", self.strategy)
        form.addRow("Cap max", self.cap_max)
        form.addRow("Device", self.device)
        form.addRow("Seed", self.seed)
        form.addRow("Initial points", self.init_points)
        self._settings_widgets = [self.capture, self.output, browse_capture, browse_output, self.iterations,
                                  self.max_side, self.strategy, self.cap_max, self.device, self.seed,
                                  self.init_points]  # fmt: skip

        # ------------------------------------------------------------------ controls and progress
        buttons = self._run_controls("train")
        self.status = QLabel("Pick a capture folder and press Start.")
        self.status.setObjectName("trainStatus")
        self.status.setWordWrap(True)
        self.result = QLabel("")
        self.result.setObjectName("trainResult")
        self.result.setWordWrap(True)

        # ------------------------------------------------------------------ curves
        self.loss_plot = pg.PlotWidget()
        self.psnr_plot = pg.PlotWidget()
        for plot, name in ((self.loss_plot, "loss"), (self.psnr_plot, "PSNR (dB)")):
            plot.setMinimumHeight(110)
            plot.setLabel("left", name)
            plot.setLabel("bottom", "step")
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setClipToView(True)
            plot.setDownsampling(auto=True, mode="peak")
            plot.setMouseEnabled(x=True, y=False)
        for plot in (self.loss_plot, self.psnr_plot):
            plot.getAxis("left").enableAutoSIPrefix(False)
        self.loss_curve = self.loss_plot.plot(pen=pg.mkPen((90, 170, 255), width=1))
        self.psnr_curve = self.psnr_plot.plot(pen=pg.mkPen((255, 170, 60), width=1))
        self._steps: list[float] = []
        self._loss: list[float] = []
        self._psnr: list[float] = []
        self._dirty = False
        self._last = None  # the latest Progress, shown by the next redraw
        self._redraw = QTimer(self, interval=int(1000 / REDRAW_HZ), timeout=self.redraw)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.result)
        layout.addWidget(self.loss_plot, 1)
        layout.addWidget(self.psnr_plot, 1)

        self.capture.textChanged.connect(self._capture_edited)
        self.strategy.currentIndexChanged.connect(self._strategy_changed)
        self.device.currentIndexChanged.connect(self._device_changed)
        self._strategy_changed()
        self.set_state("idle")

    # ------------------------------------------------------------------ settings (the rest: CaptureRunMixin)
    def _strategy_changed(self) -> None:
        self.cap_max.setEnabled(self.strategy.currentData() == "mcmc" and self.state in ("idle", "paused"))

    def settings(self) -> dict:
        """capture, output, iterations, max_side, strategy, cap_max, device, seed, init_points."""
        return {**self._run_settings(), "strategy": self.strategy.currentData(), "cap_max": self.cap_max.value()}

    def set_settings(self, **values) -> None:
        """Set fields by settings() key (tests, restored sessions)."""
        for key, v in values.items():
            if self._set_run_setting(key, v):
                continue
            if key == "strategy":
                self.strategy.setCurrentIndex(self.strategy.findData(v))
            elif key == "cap_max":
                self.cap_max.setValue(int(v or 0))
            else:
                raise KeyError(key)

    # ------------------------------------------------------------------ state
    def _can_start(self) -> bool:
        return self.state in ("idle", "paused") and bool(self.capture.text().strip())

    def _settings_enabled(self) -> None:
        self._strategy_changed()

    def set_state(self, state: str) -> None:
        """idle | running | pausing | paused | evaluating | cancelling: which buttons work."""
        self._show_run_state(state)
        if state in ("running", "evaluating"):
            self._redraw.start()
        else:
            self._redraw.stop()
            self.redraw()

    # ------------------------------------------------------------------ progress
    def reset_curves(self) -> None:
        self._steps.clear()
        self._loss.clear()
        self._psnr.clear()
        self._last = None
        self._dirty = True
        self.result.setText("")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.redraw()

    def show_progress(self, p) -> None:
        """An engine.jobs.Progress: training steps carry loss/psnr/count/elapsed; the
        final evaluation's steps count the test views. Cheap: the labels and curves are
        redrawn by a timer."""
        self._last = p
        if "loss" in p.metrics:
            if self._steps and p.step <= self._steps[-1]:  # a restarted run: drop the old tail
                keep = int(np.searchsorted(np.asarray(self._steps), p.step))
                del self._steps[keep:], self._loss[keep:], self._psnr[keep:]
            self._steps.append(float(p.step))
            self._loss.append(max(float(p.metrics["loss"]), 1e-12))
            self._psnr.append(float(p.metrics.get("psnr", math.nan)))
            self._dirty = True

    def show_result(self, text: str) -> None:
        self.result.setText(text)

    def redraw(self) -> None:
        if self._dirty:
            self._dirty = False
            x = np.asarray(self._steps, np.float64)
            self.loss_curve.setData(x, np.asarray(self._loss, np.float64))
            self.psnr_curve.setData(x, np.asarray(self._psnr, np.float64))
        p = self._take_progress()
        if p is None:
            return
        m = p.metrics
        if "loss" not in m:  # the final evaluation on the test views
            self.progress.setFormat("evaluating %v/%m")
            self.status.setText(f"Evaluating on the test views… {p.message}")
            return
        self.progress.setFormat("%p%")
        elapsed = float(m.get("elapsed", math.nan))
        eta = elapsed / p.step * (p.total - p.step) if p.step and math.isfinite(elapsed) else math.nan
        parts = [f"step {p.step:,}/{p.total:,}", f"loss {m['loss']:.4f}"]
        if "psnr" in m:
            parts.append(f"PSNR {m['psnr']:.2f} dB")
        if "count" in m:
            parts.append(f"{int(m['count']):,} Gaussians")
        parts += [f"elapsed {duration(elapsed)}", f"ETA {duration(eta)}"]
        self.status.setText(" · ".join(parts))

    def curve_points(self) -> int:
        """Points plotted so far (what the curves show after the next redraw)."""
        return len(self._steps)
