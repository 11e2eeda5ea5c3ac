"""Shared widget behaviour of the panels that run one background job and show its progress."""

from __future__ import annotations

import math
import os

import pyqtgraph as pg
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QProgressBar, QPushButton


class JobStatusMixin:
    """For a panel with ``source`` and ``status`` labels and a ``progress`` bar."""

    def set_source(self, text: str) -> None:
        self.source.setText(text)

    def show_message(self, text: str) -> None:
        self.status.setText(text)

    def show_progress(self, step: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(int(total), 1))
        self.progress.setValue(min(int(step), max(int(total), 1)))
        self.status.setText(message)


def duration(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour on); "—" for a time not known (nan, inf)."""
    if not math.isfinite(seconds):
        return "—"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def output_beside(capture: str, suffix: str, fallback: str | None = None) -> str:
    """``<capture><suffix>`` beside the capture folder, or in ``fallback`` (default ~/SplatLab)
    when that folder cannot be written (a read-only dataset, a mounted share)."""
    capture = os.path.abspath(capture.rstrip("/\\") or capture)
    parent = os.path.dirname(capture)
    if os.path.isdir(parent) and not os.access(parent, os.W_OK):
        parent = fallback or os.path.join(os.path.expanduser("~"), "SplatLab")
    return os.path.join(parent, os.path.basename(capture) + suffix)


def result_plot(name: str, left: str, bottom: str | None = None, min_height: int = 150) -> pg.PlotWidget:
    """A results chart: a faint grid, axis labels without SI prefixes."""
    plot = pg.PlotWidget()
    plot.setObjectName(name)  # (PlotWidget passes its keyword arguments to its PlotItem)
    plot.setMinimumHeight(min_height)
    plot.showGrid(x=True, y=True, alpha=0.2)
    plot.setLabel("left", left)
    if bottom is not None:
        plot.setLabel("bottom", bottom)
    plot.getAxis("left").enableAutoSIPrefix(False)
    plot.getAxis("bottom").enableAutoSIPrefix(False)
    return plot


class DefaultSplitMixin:
    """For a panel whose splitters keep default proportions (``_default_sizes``) until the user
    drags a handle (``_dragged``, connected to their splitterMoved) and ``_sized`` becomes True."""

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if not self._sized and self.isVisible():
            self._default_sizes()

    def _dragged(self) -> None:
        self._sized = True


RUN_STATES = ("idle", "running", "pausing", "paused", "evaluating", "cancelling")


class CaptureRunMixin:
    """For a panel that runs a pausable job on a capture folder (Train, Distill): it has
    ``capture`` and ``output`` line edits, ``device``, ``iterations`` and ``max_side`` fields,
    ``status``, the ``start_requested``/``pause_requested``/``resume_requested``/``cancel_requested``/
    ``capture_chosen`` signals, ``_settings_widgets``, ``_can_start()`` and ``redraw()``; the class
    names its CPU_DEFAULTS, CUDA_DEFAULTS (iterations, max_side) and OUTPUT_SUFFIX."""

    CPU_DEFAULTS: dict = {}
    CUDA_DEFAULTS: dict = {}
    OUTPUT_SUFFIX = "-output"

    def _run_controls(self, prefix: str, progress_name: str = "") -> QHBoxLayout:
        """The Start, Pause (Resume) and Cancel buttons in a row, and the ``progress`` bar."""
        self.start_button = QPushButton("Start", objectName=f"{prefix}Start")
        self.pause_button = QPushButton("Pause", objectName=f"{prefix}Pause")
        self.cancel_button = QPushButton("Cancel", objectName=f"{prefix}Cancel")
        self.start_button.clicked.connect(lambda: self.start_requested.emit(self.settings()))
        self.pause_button.clicked.connect(self._pause_clicked)
        self.cancel_button.clicked.connect(self.cancel_requested.emit)
        buttons = QHBoxLayout()
        for b in (self.start_button, self.pause_button, self.cancel_button):
            buttons.addWidget(b)
        self.progress = QProgressBar(objectName=progress_name)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        return buttons

    # ------------------------------------------------------------------ settings
    def _effective_cuda(self) -> bool:
        d = self.device.currentData()
        return d == "cuda" or (d == "auto" and self._cuda)

    def _apply_defaults(self, cuda: bool) -> None:
        d = self.CUDA_DEFAULTS if cuda else self.CPU_DEFAULTS
        self.iterations.setValue(d["iterations"])
        self.max_side.setValue(d["max_side"])

    def _device_changed(self) -> None:
        values = {"iterations": self.iterations.value(), "max_side": self.max_side.value()}
        if values in (self.CPU_DEFAULTS, self.CUDA_DEFAULTS):  # untouched: follow the device's defaults
            self._apply_defaults(self._effective_cuda())

    def _default_output(self, capture: str) -> str:
        return output_beside(capture, self.OUTPUT_SUFFIX)

    def _capture_edited(self, text: str) -> None:
        if text.strip() and self.output.text() in ("", self._auto_output):  # not edited: follow the capture
            self._auto_output = self._default_output(text.strip())
            self.output.setText(self._auto_output)
        self.start_button.setEnabled(self._can_start())

    def _browse_capture(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Capture folder", self.capture.text() or os.getcwd())
        if folder:
            self.set_capture_folder(folder)
            self.capture_chosen.emit(folder)

    def _browse_output(self) -> None:
        start = os.path.dirname(self.output.text()) if self.output.text() else os.getcwd()
        folder = QFileDialog.getExistingDirectory(self, "Output folder (its contents are replaced)", start)
        if folder:
            self.output.setText(folder)

    def set_capture_folder(self, folder: str) -> None:
        self.capture.setText(folder)

    def _run_settings(self) -> dict:
        """The settings both panels have: capture, output, iterations, max_side, device, seed, init_points."""
        capture = self.capture.text().strip()
        return {
            "capture": capture,
            "output": self.output.text().strip() or (self._default_output(capture) if capture else ""),
            "iterations": self.iterations.value(),
            "max_side": self.max_side.value() or None,
            "device": self.device.currentData(),
            "seed": self.seed.value(),
            "init_points": self.init_points.value() or None,
        }

    def _set_run_setting(self, key: str, v) -> bool:
        """Set one of _run_settings()'s fields; False for another key."""
        if key == "capture":
            self.set_capture_folder(v)
        elif key == "output":
            self.output.setText(v)
        elif key == "device":
            self.device.setCurrentIndex(self.device.findData(v))
        elif key in ("iterations", "max_side", "seed", "init_points"):
            getattr(self, key).setValue(int(v or 0))
        else:
            return False
        return True

    # ------------------------------------------------------------------ state
    def _pause_clicked(self) -> None:
        (self.resume_requested if self.state == "paused" else self.pause_requested).emit()

    def _settings_enabled(self) -> None:
        """After the settings were enabled or disabled by state: the fields that depend on others."""

    def _show_run_state(self, state: str) -> None:
        """idle | running | pausing | paused | evaluating | cancelling: which buttons work."""
        if state not in RUN_STATES:
            raise ValueError(f"unknown state {state!r}")
        self.state = state
        editable = state in ("idle", "paused")
        for w in self._settings_widgets:
            w.setEnabled(editable)
        self._settings_enabled()
        self.start_button.setEnabled(self._can_start())
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        self.pause_button.setEnabled(state in ("running", "paused"))
        self.cancel_button.setEnabled(state in ("running", "pausing", "paused", "evaluating"))

    # ------------------------------------------------------------------ progress
    def _take_progress(self):
        """The latest Progress (``_last``; None: none since the last redraw), its step shown on the bar."""
        p, self._last = self._last, None
        if p is not None:
            total = max(int(p.total), 1)
            self.progress.setRange(0, total)
            self.progress.setValue(min(int(p.step), total))
        return p

    def show_message(self, text: str) -> None:
        self.redraw()  # the progress that came before the message, so it cannot overwrite it
        self.status.setText(text)

    def show_ended(self, how: str) -> None:
        """The bar after a run: "done" (full), "cancelled" or "failed" (empty)."""
        self.redraw()
        self.progress.setRange(0, 1)
        self.progress.setValue(1 if how == "done" else 0)
        self.progress.setFormat(how)
