"""Runs compression sweeps for the studio window: the Compress panel -> engine.rd.rd_sweep.

Thin: the engine encodes, decodes and measures; this class only runs the sweep
through app.workers, keeps what it yields and shows it:

- "Prepare levels" runs ``rd_sweep`` on the current scene A (its *source*) in a worker, over the
  levelled codecs ``engine.rd.default_codecs()`` gives (the ladder, and the feed-forward codec
  when its weights are installed). Pass 1 yields every point's decoded scene within seconds
  (ladder levels first, then the feed-forward levels, then the baselines): they are cached by
  ``(codec, level)`` (``("ladder", 1..8)``, ``("feedforward", 1..8)``, ``("spz", None)``, ...).
  Pass 2 yields the same points again with PSNR/SSIM against the source's own renders.
- The slider (scrubbing the levels of the codec chosen beside it), a click on a plot point or a
  table row *selects* a point. One Document, "compressed: <source> L<k>" (or "FF L<k>"), shows
  the selected point's cached scene: created on the first selection and made A, afterwards only
  its scene is swapped (Workspace.replace_scene), so the viewport keeps its camera and just
  uploads the new splats. Selecting a point that is not
  decoded yet shows "preparing…" and the document follows when the point arrives; nothing here
  ever waits for the worker.
- "Compare with original": A = the source, B = the compressed document, split view.
- "Save RD JSON…" writes the sweep's result (schema splatlab.rd/1, as ``splatlab rd`` writes it)
  atomically.
- "Train Smol-GS" (enabled once a capture is known: opened, or trained in the Train panel)
  runs engine.codec.smol.job.compress_smol_job from the source scene in a worker. Its decoded
  previews show live in the compressed document; when it ends its point ``("smol", None)``
  joins the table and the plot, measured like the ladder (against the source's orbit renders,
  the exact MLP render), with its test-photo PSNR and that of the SH bake the viewport draws in
  the point's description. The trained file can be saved ("Save Smol-GS file…").
- The sweep is cancelled when the source changes (another scene becomes A, the source is
  closed, or a live job replaces its scene) and when the window closes.
"""

from __future__ import annotations

import os
import shutil
import tempfile

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFileDialog

from app import workers
from app.documents import Document
from app.panels.compress_panel import LEVELLED, point_name
from engine.io.atomic import atomic_write_bytes
from engine.jobs import Progress
from engine.rd import BASELINES, default_codecs, put_curve, rd_sweep, save_rd
from engine.scene import GaussianScene

SMOL = ("smol", None)

SHUTDOWN_WAIT_MS = 60_000  # closing the window waits this long for the current point to end
PREFIX = "compressed: "


def make_smol_config(settings: dict):
    """The panel's Smol-GS fields as a run's config, by the builder ``splatlab compress --codec
    smol`` uses (SmolConfig.from_options). Raises InputError for values out of range."""
    from engine.codec.smol.train import SmolConfig

    return SmolConfig.from_options(
        iterations=settings["iterations"],
        max_side=settings.get("max_side") or 0,  # the panel's None is its "full size" (0 to the builder)
        device="auto", max_splats=settings.get("max_splats"),
    )  # fmt: skip


class CompressController(QObject, workers.PanelJob):
    state_changed = Signal(str)  # the panel's states: idle preparing measuring cancelling
    point_ready = Signal(object)  # (codec, level): its decoded scene is cached (pass 1)
    point_measured = Signal(object)  # (codec, level): its PSNR/SSIM arrived (pass 2)
    shown = Signal(object)  # (codec, level) whose scene the compressed Document now shows
    finished = Signal(object)  # the RD dict
    cancelled = Signal()
    failed = Signal(str)

    def __init__(self, window, panel, views: int = 8, size: int = 512, baselines=BASELINES):
        super().__init__(window)
        self.window = window
        self.panel = panel
        self.views = views  # orbit views for PSNR/SSIM (pass 2)
        self.size = size  # their size in pixels
        self.baselines = tuple(baselines)
        self.codecs: tuple[str, ...] | None = None  # levelled codecs to sweep; None: default_codecs() at each sweep
        self.job = None  # the running JobHandle
        self.source: Document | None = None  # the scene the cache belongs to
        self._source_scene = None  # ... and the scene object it had then
        self._source_revision = 0  # ... and its edit revision (app.documents.Document.edit_revision)
        self.scenes: dict[tuple, object] = {}  # (codec, level) -> decoded GaussianScene
        self.points: dict[tuple, dict] = {}  # (codec, level) -> rd point (bytes, ratio, psnr, ...)
        self.result: dict | None = None  # the finished sweep
        self.document: Document | None = None  # "compressed: <source> L<k>"
        self.shown_key: tuple | None = None  # what self.document shows
        self.selected: tuple = (panel.codec(), panel.level())
        self.smol_file: str | None = None  # the trained Smol-GS .smol (in a temporary folder)
        self._smol_dir: str | None = None
        panel.prepare_requested.connect(self.prepare)
        panel.smol_requested.connect(self.train_smol)
        panel.smol_save_requested.connect(self.save_smol_dialog)
        panel.cancel_requested.connect(self.cancel)
        panel.level_changed.connect(lambda level: self.select((panel.codec(), int(level))))
        panel.codec_changed.connect(lambda codec: self.select((codec, panel.level())))
        panel.point_chosen.connect(self.select)
        panel.compare_requested.connect(self.compare_with_original)
        panel.save_requested.connect(self.save_rd_dialog)
        window.workspace.subscribe(self._workspace_changed)
        window.capture_opened.connect(self._capture_changed)
        if window.capture is not None:
            self._capture_changed(window.capture)
        self._workspace_changed()
        self._update_codecs()

    def measured(self) -> int:
        """How many points have PSNR/SSIM so far."""
        return sum(1 for p in self.points.values() if p.get("psnr") is not None)

    # ------------------------------------------------------------------ questions (tests replace these)
    def ask_save_path(self) -> str:
        start = self.window.qsettings.value("lastDir", os.getcwd())
        stem = os.path.splitext(self.source.name)[0] if self.source else "rd"
        path, _ = QFileDialog.getSaveFileName(self.window, "Save RD JSON", os.path.join(start, f"{stem}-rd.json"),
                                              "RD JSON (*.json)")  # fmt: skip
        return path

    # ------------------------------------------------------------------ commands
    def _take_source(self, title: str) -> Document | None:
        """The scene to compress: A (the original, when A shows a compressed point). A new
        source empties the cache."""
        ws = self.window.workspace
        source = ws.a
        if source is not None and source is self.document and self.source in ws.documents:
            source = self.source
        if source is None:
            self.window.report_error(title, "open a scene first")
            return None
        if source.scene.count == 0:
            self.window.report_error(title, f"{source.name} has no splats")
            return None
        if source is not self.source or source.scene is not self._source_scene or source.edit_revision != self._source_revision:
            self._forget()
        self.source, self._source_scene, self._source_revision = source, source.scene, source.edit_revision
        return source

    def prepare(self) -> None:
        """Start the sweep on the current scene (the original, when A shows a compressed level)."""
        if self.job is not None:
            return
        source = self._take_source("Cannot prepare levels")
        if source is None:
            return
        self.result = None
        self.panel.set_result_ready(False)
        self.panel.set_source(self._source_text())
        scene, path = source.result_scene(), source.path  # edited: without the deleted splats
        views, size, baselines = self.views, self.size, self.baselines
        codecs = tuple(self.codecs) if self.codecs is not None else default_codecs()
        self._update_codecs(codecs)
        job = workers.start(lambda token: rd_sweep(scene, None, views=views, size=size, baselines=baselines,
                                                   cancel=token, scene_path=path, codecs=codecs), self)  # fmt: skip
        self.job = job
        job.progress.connect(lambda p, job=job: self._on_progress(job, p))
        job.finished.connect(lambda result, job=job: self._on_finished(job, result))
        job.failed.connect(lambda msg, bad, job=job: self._on_failed(job, msg))
        job.cancelled.connect(lambda job=job: self._on_cancelled(job))
        job.done.connect(lambda job=job: self._job_done(job))
        self.panel.show_progress(0, 1, f"Encoding {source.name} at every level ({', '.join(codecs)})…")
        self._set_state("preparing")
        self.window.docks["Compress"].show()
        self.window.docks["Compress"].raise_()
        self.select(self.selected)

    def train_smol(self, settings: dict) -> None:
        """Train Smol-GS from the known capture, starting from the current scene."""
        from engine.codec.smol.job import compress_smol_job
        from engine.errors import InputError

        if self.job is not None:
            return
        capture = self.window.capture
        if capture is None or not capture.path:
            self.window.report_error("Cannot train Smol-GS", "open the scene's capture first (File > Open Capture Cameras…)")
            return
        try:
            cfg = make_smol_config(settings)
        except InputError as e:
            self.window.report_error("Cannot train Smol-GS", str(e))
            return
        source = self._take_source("Cannot train Smol-GS")
        if source is None:
            return
        self.panel.set_source(self._source_text())
        if self._smol_dir is None:
            self._smol_dir = tempfile.mkdtemp(prefix="splatlab-smol-")
        stem = os.path.splitext(source.name)[0] or "scene"
        out = os.path.join(self._smol_dir, f"{stem}-smol.smol")
        scene, views, size, folder = source.result_scene(), self.views, self.size, capture.path
        job = workers.start(lambda token: compress_smol_job(scene, folder, out, cfg, token, orbit_reference=scene,
                                                            views=views, size=size), self)  # fmt: skip
        self.job = job
        job.progress.connect(lambda p, job=job: self._on_smol_progress(job, p))
        job.finished.connect(lambda summary, job=job, source=source: self._on_smol_finished(job, summary, source))
        job.failed.connect(lambda msg, bad, job=job: self._on_failed(job, msg))
        job.cancelled.connect(lambda job=job: self._on_cancelled(job))
        job.done.connect(lambda job=job: self._job_done(job))
        self.panel.show_progress(0, cfg.iterations, f"Training Smol-GS from {folder}…")
        self._set_state("training")
        self.window.docks["Compress"].show()
        self.window.docks["Compress"].raise_()

    def save_smol_dialog(self) -> None:
        if self.smol_file is None:
            return
        start = self.window.qsettings.value("lastDir", os.getcwd())
        path, _ = QFileDialog.getSaveFileName(self.window, "Save Smol-GS file",
                                              os.path.join(start, os.path.basename(self.smol_file)),
                                              "SplatLab compressed (*.smol)")  # fmt: skip
        if path:
            self.save_smol(path)

    def save_smol(self, path: str) -> bool:
        """Copy the trained .smol to ``path`` (temporary file, then rename)."""
        if self.smol_file is None:
            self.window.report_error("Cannot save Smol-GS file", "train Smol-GS first")
            return False
        try:
            with open(self.smol_file, "rb") as f:
                atomic_write_bytes(path, f.read())
        except OSError as e:
            self.window.report_error("Cannot save Smol-GS file", f"{path}: {e.strerror or e}")
            return False
        self.window.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()
            self.panel.show_message("Cancelling…")
            self._set_state("cancelling")

    def shutdown(self, ms: int = SHUTDOWN_WAIT_MS) -> None:
        """At window close: cancel a running sweep and wait for its current point."""
        if self.job is not None:
            job = self.job
            job.cancel()
            job.wait(ms)
        if self._smol_dir is not None:
            shutil.rmtree(self._smol_dir, ignore_errors=True)
            self._smol_dir, self.smol_file = None, None

    def select(self, key) -> None:
        """Show point ``key`` ((codec, level)) now if it is decoded, else as soon as it is."""
        key = (key[0], None if key[1] is None else int(key[1]))
        self.selected = key
        self.panel.show_selected(key)
        if key in self.scenes:
            self._show(key)
        elif self.job is not None:
            self.panel.show_message(f"{point_name(key)}: preparing…")
        elif self.source is None:
            self.panel.show_message(f"{point_name(key)}: press Prepare levels first.")
        else:
            self.panel.show_message(f"{point_name(key)} is not in this sweep: press Prepare levels.")

    def compare_with_original(self) -> None:
        """A = the original, B = the point shown, split view."""
        ws = self.window.workspace
        if self.source is None or self.source not in ws.documents:
            self.window.report_error("Cannot compare", "prepare the levels of a scene first")
            return
        if self.document is None or self.document not in ws.documents:
            if self.selected not in self.scenes:
                self.panel.show_message(f"{point_name(self.selected)} is not ready yet.")
                return
            self._show(self.selected)
        ws.set_a(self.source)
        ws.set_b(self.document)
        self.window.set_compare_mode("split")

    def save_rd_dialog(self) -> None:
        if self.result is None:
            return
        path = self.ask_save_path()
        if path:
            self.save_rd(path)

    def save_rd(self, path: str) -> bool:
        """Write the sweep's result as JSON (temporary file, then rename)."""
        if self.result is None:
            self.window.report_error("Cannot save RD JSON", "no finished sweep to save")
            return False
        try:
            save_rd(path, self.result)
        except OSError as e:
            self.window.report_error("Cannot save RD JSON", f"{path}: {e.strerror or e}")
            return False
        self.window.statusBar().showMessage(f"Saved {path}", 5000)
        return True

    def export_hint(self, doc: Document) -> dict:
        """What the Export dialog should preselect for ``doc``: the codec and level the compressed
        document shows (with its exact size) or, for the source, the exact sizes of its levels
        (``known_bytes`` keyed by (codec, level))."""
        if doc is None or self.source is None:
            return {}
        level_bytes = {k: p["bytes"] for k, p in self.points.items() if k[0] in LEVELLED}
        stem = os.path.splitext(self.source.name)[0] or "scene"
        if doc is self.document and self.shown_key is not None:
            codec, level = self.shown_key
            if codec == "ladder":  # re-encoding a decoded ladder level reproduces its bytes: the size is exact
                return {"codec": codec, "level": level, "name": f"{stem}-L{level}",
                        "known_bytes": {(codec, level): level_bytes.get((codec, level))}}  # fmt: skip
            if codec in LEVELLED:  # a decoded feed-forward level re-encodes to about, not exactly, its size
                return {"codec": codec, "level": level, "name": f"{stem}-ff-L{level}"}
            if codec == "smol":
                return {"name": f"{stem}-smol-sh-bake"}  # the Export dialog writes the baked splats
            return {"name": f"{stem}-{codec}"}
        if doc is self.source and doc.scene is self._source_scene and doc.edit_revision == self._source_revision:
            return {"known_bytes": level_bytes}
        return {}

    # ------------------------------------------------------------------ showing a point
    def _show(self, key) -> None:
        ws = self.window.workspace
        scene, point = self.scenes[key], self.points[key]
        name = f"{PREFIX}{self.source.name} {point_name(key)}"
        if key == SMOL:
            name += " (SH bake)"  # the viewport draws the baked colours, not the exact MLP render
        doc = self.document
        self.shown_key = key
        if doc is None or doc not in ws.documents:
            doc = self.document = Document(name, scene, None, point["bytes"], up=self.source.up, cameras=self.source.cameras)
            ws.add(doc, make_current=True)
        else:
            doc.name, doc.file_bytes = name, point["bytes"]
            if ws.a is doc or ws.b is doc:
                ws.replace_scene(doc, scene)
            else:
                doc.scene = scene
                ws.set_a(doc)
        self.panel.show_message(f"Showing {point_name(key)}: {doc.label}")
        self.shown.emit(key)

    # ------------------------------------------------------------------ the job
    def _job_done(self, job) -> None:
        if self.job is job:
            self.job = None
            if self.state != "idle":
                self._set_state("idle")

    def _on_progress(self, job, p: Progress) -> None:
        if job is not self.job:
            return  # a cancelled sweep's last steps
        self.panel.show_progress(p.step, p.total, p.message)
        pv = p.preview
        if not isinstance(pv, dict) or "point" not in pv:
            if self.state == "preparing":  # "rendering the reference views": pass 2 begins
                self._set_state("measuring")
            return
        key = (pv["codec"], pv["point"]["level"])
        new_codec = all(k[0] != key[0] for k in self.points)
        self.points[key] = dict(pv["point"])  # a copy: the worker fills in PSNR on its own dict
        if new_codec:
            self._update_codecs()
        self.panel.set_point(key, self.points[key])
        if "scene" in pv:
            self.scenes[key] = pv["scene"]
            self.point_ready.emit(key)
            if key == self.selected:
                self._show(key)
        else:
            if self.state == "preparing":
                self._set_state("measuring")
            self.point_measured.emit(key)

    def _on_smol_progress(self, job, p: Progress) -> None:
        if job is not self.job:
            return
        self.panel.show_progress(p.step, p.total, f"Smol-GS: {p.message}")
        if isinstance(p.preview, GaussianScene):
            self._show_preview(p.preview)

    def _show_preview(self, scene: GaussianScene) -> None:
        """The current decoded Smol-GS scene, live in the compressed document."""
        ws = self.window.workspace
        name = f"{PREFIX}{self.source.name} Smol-GS (training, SH bake)"
        doc = self.document
        if doc is None or doc not in ws.documents:
            doc = self.document = Document(name, scene, None, 0, up=self.source.up, cameras=self.source.cameras)
            ws.add(doc, make_current=True)
        else:
            doc.name = name
            if ws.a is doc or ws.b is doc:
                ws.replace_scene(doc, scene)
            else:
                doc.scene = scene
                ws.set_a(doc)
        self.shown_key = None

    def _on_smol_finished(self, job, summary: dict, source: Document) -> None:
        from engine.codec.smol.job import rd_point

        if job is not self.job:
            return
        self.smol_file = summary["output"]
        point = rd_point(summary, source.result_scene())
        decoded = self.document.scene if self.document is not None else None
        self.points[SMOL] = point
        if decoded is not None:
            self.scenes[SMOL] = decoded
        self.panel.set_point(SMOL, point)
        self.panel.set_smol_ready(True)
        if self.result is not None:  # a finished sweep: the saved JSON gets the point too
            put_curve(self.result, "smol", [point])
        self.select(SMOL)
        self.panel.show_message(f"Smol-GS: {point['ratio']:.0f}x smaller, test PSNR {point['test_psnr']:.2f} dB "
                                f"(SH bake {point['test_psnr_sh_bake']:.2f} dB). Save it with Save Smol-GS file….")  # fmt: skip

    def _on_finished(self, job, result) -> None:
        if job is not self.job:
            return
        self.result = result
        if SMOL in self.points:  # trained before this sweep: keep it in the saved JSON
            put_curve(result, "smol", [self.points[SMOL]])
        self.panel.set_result_ready(True)
        n = sum(len(c["points"]) for c in result["curves"])
        self.panel.show_message(f"Done: {n} points measured on {result['reference']['views']} views.")
        self.finished.emit(result)

    def _on_failed(self, job, message: str) -> None:
        if job is not self.job:
            return
        self.panel.show_message("The sweep stopped with an error.")
        self.window.report_error("Compression failed", message)
        self.failed.emit(message)

    def _on_cancelled(self, job) -> None:
        if job is not self.job:
            return  # cancelled by _forget, which said so already
        self.panel.show_message("Cancelled." + (" The decoded levels stay available." if self.scenes else ""))
        self.cancelled.emit()

    # ------------------------------------------------------------------ the source changes
    def _update_codecs(self, sweeping=()) -> None:
        """The codec chooser offers what is installed (default_codecs), being swept, or has points."""
        available = set(default_codecs()) | set(sweeping) | {k[0] for k in self.points}
        self.panel.set_codecs(available)

    def _capture_changed(self, capture) -> None:
        self.panel.set_capture(capture.path or None, len(capture.frames))

    def _source_text(self) -> str:
        ws = self.window.workspace
        doc = self.source if self.source is not None and self.source in ws.documents else ws.a
        if doc is None:
            return "No scene open."
        return f"Scene: {doc.name} · {doc.scene.count:,} splats · SH degree {doc.scene.sh_degree}"

    def _forget(self) -> None:
        """Cancel the sweep and empty the cache (the compressed document stays open as it is)."""
        job, self.job = self.job, None  # a cancelled job's remaining signals are ignored
        if job is not None:
            job.cancel()
        self.source, self._source_scene = None, None
        self.scenes.clear()
        self.points.clear()
        self.panel.set_smol_ready(False)
        self.result = None
        self.document, self.shown_key = None, None
        self.panel.clear_points()
        self.panel.set_result_ready(False)
        self._update_codecs()
        if job is not None:
            self._set_state("idle")
            self.cancelled.emit()

    def _workspace_changed(self) -> None:
        ws = self.window.workspace
        if self.source is not None:
            gone = self.source not in ws.documents or self.source.scene is not self._source_scene
            moved = ws.a is not None and ws.a is not self.source and ws.a is not self.document
            if gone or moved:
                self._forget()
                self.panel.show_message("The scene changed: press Prepare levels to compress it.")
        self.panel.set_source(self._source_text())
