"""Runs image compression for the studio window: the Image panel -> engine.image.

Thin: the engine loads, trains, codes, decodes and measures; this class only runs
those jobs through app.workers and shows what they yield:

- "Open image…": an image is loaded in a worker (``engine.image.load_image``) and shown on both
  sides of the split view; a ``.sgi`` file is decoded (``decompress_job``) and shown as the
  decoded side (compared with the open image when the sizes match);
- "Compress": ``compress_job`` at the panel's rate, then ``baselines.matched_job`` (JPEG, WebP,
  AVIF at the .sgi file's true rate) in the same worker; live previews replace the decoded side
  at most every PREVIEW_MIN_S; the result adds points to the RD plot (one SmartSplat point per
  run, and the baselines matched to it);
- "Save .sgi…" writes the last result's bytes atomically;
- errors go to ``MainWindow.report_error`` (a dialog); what was open stays open.
"""

from __future__ import annotations

import os
import time

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog

from app import workers
from engine.image import TrainConfig, codec, compress_job, decompress_job, load_image
from engine.image.baselines import matched_job
from engine.image.imageio import IMAGE_EXTENSIONS
from engine.io.atomic import atomic_write_bytes, read_bytes
from engine.jobs import Progress
from engine.metrics import psnr

PREVIEW_MIN_S = 0.5  # at most one live preview this often (the engine yields one per second)
IMAGE_FILTER = ("Images and .sgi files (" + " ".join("*" + e for e in IMAGE_EXTENSIONS + (".sgi",)) + ");;"
                "All files (*)")  # fmt: skip


class ImageController(QObject, workers.PanelJob):
    state_changed = Signal(str)
    loaded = Signal(object)  # the image [H, W, 3] uint8, after Open
    finished = Signal(object)  # dict: "result" (CompressResult), "matched" (list of baseline points)
    decoded = Signal(object)  # dict: "image", "info" after a .sgi file was opened
    cancelled = Signal()
    failed = Signal(str)

    def __init__(self, window, panel, codecs: tuple[str, ...] | None = None, device: str = "auto"):
        super().__init__(window)
        self.window = window
        self.panel = panel
        self.codecs = codecs  # None: every codec this Pillow writes
        self.device = device
        self.job = None
        self.image: np.ndarray | None = None
        self.path: str | None = None
        self.result = None  # the last CompressResult
        self._last_preview = 0.0
        panel.open_requested.connect(self.open_dialog)
        panel.compress_requested.connect(self.compress)
        panel.cancel_requested.connect(self.cancel)
        panel.save_requested.connect(self.save_dialog)

    # ------------------------------------------------------------------ questions (tests replace these)
    def ask_open_path(self) -> str:
        start = self.window.qsettings.value("lastImageDir", os.getcwd())
        path, _ = QFileDialog.getOpenFileName(self.window, "Open image or .sgi", start, IMAGE_FILTER)
        return path

    def ask_save_path(self) -> str:
        start = self.window.qsettings.value("lastImageDir", os.getcwd())
        stem = os.path.splitext(os.path.basename(self.path or "image"))[0]
        bpp = f"{self.result.bpp:.3f}".replace(".", "_") if self.result else ""
        path, _ = QFileDialog.getSaveFileName(self.window, "Save .sgi", os.path.join(start, f"{stem}-{bpp}bpp.sgi"),
                                              "SmartSplat image (*.sgi)")  # fmt: skip
        return path

    # ------------------------------------------------------------------ commands
    def open_dialog(self) -> None:
        path = self.ask_open_path()
        if path:
            self.window.qsettings.setValue("lastImageDir", os.path.dirname(path))
            self.open_path(path)

    def open_path(self, path: str) -> None:
        """An image to compress, or a .sgi file to decode (chosen by its magic or extension)."""
        if self.job is not None:
            return
        if codec.is_sgi(path):
            self._decode(path)
            return
        self._set_state("loading")
        self.panel.show_message(f"loading {os.path.basename(path)}…")
        self._start(lambda cancel: load_image(path), lambda image: self._loaded(path, image), "Cannot open image")

    def _loaded(self, path: str, image: np.ndarray) -> None:
        self.image, self.path, self.result = image, path, None
        h, w = image.shape[:2]
        self.panel.set_source(f"{os.path.basename(path)} — {w}×{h} ({w * h / 1e6:.2f} MP)")
        self.panel.show_images(image, None)
        self.panel.show_metrics("")
        self.panel.clear_rd()
        self.panel.set_can_compress(True)
        self.panel.set_can_save(False)
        self.panel.show_message("Choose a rate and press Compress.")
        self.loaded.emit(image)

    def _decode(self, path: str) -> None:
        self._set_state("decoding")
        self.panel.show_message(f"decoding {os.path.basename(path)}…")

        reference = self.image

        def job(cancel):
            image = yield from decompress_job(path, None, cancel=cancel)
            info = codec.info(read_bytes(path), path)
            same = reference is not None and reference.shape == image.shape
            return {"image": image, "info": info, "path": path, "psnr": psnr(image, reference) if same else None}

        self._start(job, self._decoded, "Cannot decode .sgi file")

    def _decoded(self, out: dict) -> None:
        image, info = out["image"], out["info"]
        text = (f"{os.path.basename(out['path'])}: {info['bytes']:,} bytes = {info['bpp']:.4f} bpp, "
                f"{info['count']:,} Gaussians")  # fmt: skip
        if out["psnr"] is not None and self.image is not None and self.image.shape == image.shape:
            self.panel.show_decoded(image)
            text += f" · PSNR {out['psnr']:.2f} dB against {os.path.basename(self.path)}"
        else:
            self.image, self.path, self.result = None, None, None
            self.panel.set_source(f"{os.path.basename(out['path'])} — {image.shape[1]}×{image.shape[0]} (decoded)")
            self.panel.show_images(image, None)
            self.panel.set_can_compress(False)
            self.panel.set_can_save(False)
        self.panel.show_metrics(text)
        self.panel.show_message("decoded")
        self.decoded.emit(out)

    def compress(self) -> None:
        if self.job is not None:
            return
        if self.image is None:
            self.window.report_error("Cannot compress", "open an image first")
            return
        settings = self.panel.settings()
        image, source = self.image, self.path
        try:
            cfg = TrainConfig(bpp=settings["bpp"], iterations=settings["iterations"], device=self.device,
                              preview_s=1.0).resolved()  # fmt: skip
        except Exception as e:  # InputError: a value out of range
            self.window.report_error("Cannot compress", str(e))
            return
        codecs = self.codecs

        def job(cancel):
            result = yield from compress_job(image, cfg, None, cancel, source=source)
            yield Progress(0, 1, f"JPEG / WebP / AVIF at {result.bpp:.3f} bpp…", {"psnr": result.psnr}, None)
            matched = yield from matched_job(image, result.bpp, codecs, cancel)
            return {"result": result, "matched": matched}

        self._set_state("compressing")
        self.panel.show_message("initialising…")
        self._last_preview = 0.0
        self._start(job, self._compressed, "Compression failed")

    def cancel(self) -> None:
        if self.job is not None:
            self._set_state("cancelling")
            self.job.cancel()

    def save_dialog(self) -> None:
        if self.result is None:
            return
        path = self.ask_save_path()
        if not path:
            return
        try:
            atomic_write_bytes(path, self.result.data)
        except OSError as e:
            self.window.report_error("Cannot save", f"{path}: {e.strerror or e}")
            return
        self.panel.show_message(f"wrote {path} ({len(self.result.data):,} bytes)")

    # ------------------------------------------------------------------ the worker
    def _start(self, fn, on_done, error_title: str) -> None:
        handle = workers.start(fn, self)
        self.job = handle
        handle.progress.connect(self._progress)
        handle.finished.connect(on_done)
        handle.failed.connect(lambda message, bad_input: self._failed(error_title, message))
        handle.cancelled.connect(self._cancelled)
        handle.done.connect(self._done)

    def _progress(self, p: Progress) -> None:
        if self.state == "cancelling":
            return
        text = p.message
        if "psnr" in p.metrics:
            text += f" · PSNR {p.metrics['psnr']:.2f} dB"
        if p.message.startswith(("JPEG", "WebP", "AVIF", "matched")):
            self._set_state("measuring")
        self.panel.show_progress(p.step, p.total, text)
        now = time.monotonic()
        if isinstance(p.preview, np.ndarray) and self.image is not None and p.preview.shape == self.image.shape:
            if now - self._last_preview >= PREVIEW_MIN_S:
                self._last_preview = now
                self.panel.show_decoded(p.preview)

    def _compressed(self, out: dict) -> None:
        r = out["result"]
        self.result = r
        self.panel.show_decoded(r.image)
        ms = "" if r.ms_ssim is None else f" · MS-SSIM {r.ms_ssim:.4f}"
        self.panel.show_metrics(f"PSNR {r.psnr:.2f} dB{ms} · {r.bpp:.4f} bpp ({r.bytes:,} bytes; target "
                                f"{r.target_bpp:g}) · {r.count:,} Gaussians · {r.seconds:.0f} s")  # fmt: skip
        ours = {"codec": "smartsplat", "bpp": r.bpp, "psnr": r.psnr, "ms_ssim": r.ms_ssim, "bytes": r.bytes}
        matched = [ours] + [p.summary() for p in out["matched"]]
        self.panel.show_matched(matched)
        self.panel.add_rd_points(matched)
        self.panel.set_can_save(True)
        self.panel.show_message("done")
        self.finished.emit(out)

    def _failed(self, title: str, message: str) -> None:
        self.panel.show_message(message)
        self.failed.emit(message)
        self.window.report_error(title, message)

    def _cancelled(self) -> None:
        self.panel.show_message("cancelled")
        if self.result is None and self.image is not None:
            self.panel.show_decoded(None)
        elif self.result is not None:
            self.panel.show_decoded(self.result.image)
        self.cancelled.emit()

    def _done(self) -> None:
        self.job = None
        self._set_state("idle")

    def shutdown(self) -> None:
        """Cancel a running job (the window is closing)."""
        if self.job is not None:
            self.job.cancel()

