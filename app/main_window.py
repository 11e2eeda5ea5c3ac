"""The studio window: viewport in the centre, dockable panels, menus, status bar.

Thin by design (no algorithms here): every action calls the engine through app.workers or the viewport.
Errors show in a dialog and the open scene stays open.
"""

from __future__ import annotations

import json
import os

import numpy as np
from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QActionGroup, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox

from app import workers
from app.compress_controller import CompressController
from app.dialogs import ExportDialog, show_error
from app.distill_controller import DistillController
from app.edit_controller import EditController
from app.batch_controller import BatchController
from app.image_controller import ImageController
from app.documents import Document, Workspace
from app.panels.camera_panel import CameraPanel
from app.panels.compare_panel import ComparePanel
from app.panels.compress_panel import CompressPanel
from app.panels.display_panel import DISPLAY_MODES, DisplayPanel
from app.panels.distill_panel import DistillPanel
from app.panels.edit_panel import EditPanel
from app.panels.image_panel import ImagePanel
from app.panels.scene_panel import ScenePanel
from app.panels.train_panel import TrainPanel
from app.train_controller import TrainController
from app.viewport.photos import PhotoSet
from app.viewport.widget import Viewport
from engine import io
from engine.camera import Camera
from engine.device import IMAGE, cuda_available
from engine.errors import InputError
from engine.framing import AXIS_NAMES, axis_label, parse_up

MAX_RECENT = 10
WINDOW_STATE_VERSION = 3  # bumped when the default dock layout changes (1: Camera moved left; 2: Distill; 3: Edit)
SCENE_FILTER = "Gaussian splat scenes (*.ply *.spz *.splat *.smol);;All files (*)"


def _memory_mb() -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class MainWindow(QMainWindow):
    scene_opened = Signal(object)  # Document
    capture_opened = Signal(object)  # engine.io.captures.Capture (File > Open Capture Cameras…, or training)
    open_failed = Signal(str)

    def __init__(self, settings: QSettings | None = None):
        super().__init__()
        self.setWindowTitle("SplatLab")
        self.setAcceptDrops(True)
        self.qsettings = settings or QSettings("SplatLab", "SplatLab")
        self.workspace = Workspace()
        self.viewport = Viewport(self)
        self.setCentralWidget(self.viewport)
        self._loading: list = []
        self._capture = None  # the open capture (engine.io.captures.Capture) whose cameras are shown

        self.scene_panel = ScenePanel(self.workspace)
        self.display_panel = DisplayPanel()
        self.camera_panel = CameraPanel()
        self.compare_panel = ComparePanel(self.workspace)
        cuda = cuda_available()
        self.train_panel = TrainPanel(cuda=cuda)
        self.compress_panel = CompressPanel()
        self.distill_panel = DistillPanel(cuda=cuda)
        self.image_panel = ImagePanel(default_iterations=IMAGE.iterations())  # fewer on the CPU
        self.edit_panel = EditPanel()
        self.docks = {}
        for title, widget, area in (
            ("Scenes", self.scene_panel, Qt.LeftDockWidgetArea),
            ("Display", self.display_panel, Qt.RightDockWidgetArea),
            ("Camera", self.camera_panel, Qt.LeftDockWidgetArea),  # the right column is the tabs' (Compress: RD plot)
            ("Compare", self.compare_panel, Qt.LeftDockWidgetArea),
            ("Train", self.train_panel, Qt.RightDockWidgetArea),
            ("Compress", self.compress_panel, Qt.RightDockWidgetArea),
            ("Distill", self.distill_panel, Qt.RightDockWidgetArea),
            ("Image", self.image_panel, Qt.RightDockWidgetArea),
            ("Edit", self.edit_panel, Qt.RightDockWidgetArea),
        ):
            dock = QDockWidget(title, self)
            dock.setObjectName(f"dock{title}")
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
            self.docks[title] = dock
        self.tabifyDockWidget(self.docks["Display"], self.docks["Train"])
        self.tabifyDockWidget(self.docks["Display"], self.docks["Compress"])
        self.tabifyDockWidget(self.docks["Display"], self.docks["Distill"])
        self.tabifyDockWidget(self.docks["Display"], self.docks["Image"])
        self.tabifyDockWidget(self.docks["Display"], self.docks["Edit"])
        self.docks["Display"].raise_()
        self.trainer = TrainController(self, self.train_panel)
        self.compressor = CompressController(self, self.compress_panel)
        self.distiller = DistillController(self, self.distill_panel)
        self.imager = ImageController(self, self.image_panel)
        self.editor = EditController(self, self.edit_panel)  # the Edit menu, toolbar and panel (app/edit_controller.py)
        self.batcher = BatchController(self)  # File > Batch… (app/batch_controller.py)

        self._status = {k: QLabel() for k in ("splats", "frame", "sort", "memory")}
        for lab in self._status.values():
            self.statusBar().addPermanentWidget(lab)
        self._build_menus()
        self._connect()
        self._mem_timer = QTimer(self, interval=1000, timeout=self._update_memory)
        self._mem_timer.start()
        self._restore_settings()

    # ------------------------------------------------------------------ construction
    def _build_menus(self) -> None:
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        self.act_open = file_menu.addAction("&Open…", self.open_dialog, QKeySequence.Open)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        file_menu.addAction("Open &Capture Cameras…", self.open_capture_dialog)
        file_menu.addAction("Open &Distillation Result…", self.distiller.open_result_dialog)
        file_menu.addSeparator()
        self.act_batch = file_menu.addAction("&Batch…", self.batcher.show_dialog)
        file_menu.addSeparator()
        self.act_save = file_menu.addAction("&Save", lambda: self.editor.save(), QKeySequence.Save)
        self.act_save_as = file_menu.addAction("Save &As…", lambda: self.editor.save_as(), QKeySequence("Ctrl+Shift+S"))
        self.act_export = file_menu.addAction("&Export…", self.export_dialog, QKeySequence("Ctrl+E"))
        self.act_screenshot = file_menu.addAction("&Screenshot…", self.screenshot_dialog, QKeySequence("F12"))
        file_menu.addAction("Close Scene", lambda: self.workspace.a and self.close_document(self.workspace.a),
                            QKeySequence.Close)  # fmt: skip
        file_menu.addSeparator()
        file_menu.addAction("&Quit", self.close, QKeySequence.Quit)
        self.editor.fill_menu(mb.addMenu("&Edit"))

        view = mb.addMenu("&View")
        self.mode_actions = {}
        group = QActionGroup(self)
        for label, key in DISPLAY_MODES:
            act = view.addAction(label)
            act.setCheckable(True)
            act.setData(key)
            group.addAction(act)
            self.mode_actions[key] = act
        self.mode_actions["color"].setChecked(True)
        group.triggered.connect(lambda act: self.display_panel.set_mode(act.data()))
        view.addSeparator()
        compare = view.addMenu("&A/B Compare")
        self.compare_actions = {}
        cgroup = QActionGroup(self)
        for label, key in (("Off", "off"), ("Split", "split"), ("Side by Side", "side"), ("Flicker", "flicker"),
                           ("Difference", "difference")):  # fmt: skip
            act = compare.addAction(label)
            act.setCheckable(True)
            act.setData(key)
            cgroup.addAction(act)
            self.compare_actions[key] = act
        self.compare_actions["difference"].setShortcut(QKeySequence("Ctrl+Shift+D"))
        self.compare_actions["off"].setChecked(True)
        cgroup.triggered.connect(lambda act: self.set_compare_mode(act.data()))
        compare.addAction("Toggle A/B", self.viewport.toggle_flicker)  # X in the viewport
        compare.addAction("Swap A and B", self.swap_ab)
        compare.addSeparator()
        self.photo_actions = {}
        pgroup = QActionGroup(self)
        pgroup.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        for label, slot in (("Ground-Truth Photo as B", "B"), ("Ground-Truth Photo as A", "A")):
            act = compare.addAction(label)
            act.setCheckable(True)
            act.setData(slot)
            act.setEnabled(False)  # until a capture is open
            pgroup.addAction(act)
            self.photo_actions[slot] = act
        pgroup.triggered.connect(lambda act: self.set_photo_slot(act.data() if act.isChecked() else None))
        view.addSeparator()
        self.act_show_cameras = view.addAction("Show Capture &Cameras")
        self.act_show_cameras.setCheckable(True)
        self.act_show_cameras.setChecked(True)
        self.act_show_cameras.toggled.connect(self.viewport.set_show_capture_cameras)
        view.addSeparator()
        view.addAction("&Reset Camera", self.viewport.reset_camera)  # Home in the viewport
        view.addAction("&Focus", self.viewport.focus)
        up_menu = view.addMenu("&Up Axis")
        up_group = QActionGroup(self)
        self.up_actions: dict[str | None, object] = {}
        for label in (None, *AXIS_NAMES):
            act = up_menu.addAction("Automatic (cameras, floor, -y)" if label is None else label.upper())
            act.setCheckable(True)
            act.setData(label)
            up_group.addAction(act)
            self.up_actions[label] = act
        self.up_actions[None].setChecked(True)
        up_group.triggered.connect(lambda act: self.set_up_axis(act.data()))
        up_menu.addSeparator()
        up_menu.addAction("&Flip Upside Down", self.flip_up, QKeySequence("Ctrl+U"))
        self.act_fly = view.addAction("Fly Mode")
        self.act_fly.setCheckable(True)
        self.act_fly.toggled.connect(self._set_fly)
        view.addAction("Save Camera…", self.save_camera_dialog)
        view.addAction("Load Camera…", self.load_camera_dialog)
        view.addAction("Copy Camera", self.copy_camera, QKeySequence("Ctrl+Shift+C"))
        view.addSeparator()
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())

        help_menu = mb.addMenu("&Help")
        help_menu.addAction("Controls", self._show_controls)
        about = "SplatLab — a studio for compact Gaussian splats."
        help_menu.addAction("About SplatLab", lambda: QMessageBox.about(self, "SplatLab", about))

    def _connect(self) -> None:
        self.workspace.subscribe(self._workspace_changed)
        self.scene_panel.close_requested.connect(self.close_document)
        self.display_panel.changed.connect(self._display_changed)
        cp = self.camera_panel
        cp.fov_changed.connect(self.viewport.set_fov)
        cp.reset_requested.connect(self.viewport.reset_camera)
        cp.focus_requested.connect(self.viewport.focus)
        cp.fly_toggled.connect(self.act_fly.setChecked)
        cp.save_requested.connect(self.save_camera_dialog)
        cp.load_requested.connect(self.load_camera_dialog)
        cp.copy_requested.connect(self.copy_camera)
        cp.open_capture_requested.connect(self.open_capture_dialog)
        cp.capture_camera_chosen.connect(self.viewport.set_camera)
        cp.capture_camera_chosen.connect(self._highlight_capture_camera)
        self.trainer.state_changed.connect(self._training_state_changed)
        self.compare_panel.mode_changed.connect(self.set_compare_mode)
        self.compare_panel.divider_changed.connect(self.viewport.set_divider)
        self.compare_panel.toggle_requested.connect(self.viewport.toggle_flicker)
        self.compare_panel.swap_requested.connect(self.swap_ab)
        self.compare_panel.photo_slot_changed.connect(self.set_photo_slot)
        self.compare_panel.difference_changed.connect(lambda changes: self.viewport.set_difference(**changes))
        self.viewport.compare_metrics_changed.connect(self.compare_panel.show_metrics)
        self.viewport.photo_changed.connect(self.compare_panel.show_photo)
        self.viewport.stats_changed.connect(self._show_stats)
        self.viewport.camera_changed.connect(lambda: self.camera_panel.show_fov(self.viewport.controller.fov_y_deg))

    def report_error(self, title: str, message: str) -> None:
        """Errors go to a dialog (headless runs replace this); the open scene stays open."""
        show_error(self, title, message)

    # ------------------------------------------------------------------ opening files
    def open_dialog(self) -> None:
        start = self.qsettings.value("lastDir", os.getcwd())
        path, _ = QFileDialog.getOpenFileName(self, "Open scene", start, SCENE_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str, as_b: bool = False, up: str | None = None) -> None:
        """Load a scene file in the background; on success it becomes A (or B). ``up`` (e.g.
        "+z", ``splatlab gui --up``) overrides the up axis chosen or remembered for the file."""
        path = os.path.abspath(path)
        self.statusBar().showMessage(f"Opening {os.path.basename(path)}…")
        job = workers.start(lambda token: io.load(path), self)
        self._loading.append(job)

        def loaded(scene):
            doc = Document.from_file(path, scene)
            remembered = self._remembered_ups().get(path)
            doc.up = parse_up(up) if up else (np.asarray(remembered, np.float64) if remembered else None)
            first = self.workspace.a is None
            self.workspace.add(doc, make_current=not as_b)
            if as_b:
                self.workspace.set_b(doc)
            else:
                self.frame_new_document(doc, first)
            self._add_recent(path)
            self.qsettings.setValue("lastDir", os.path.dirname(path))
            self._sync_up_menu()
            self.statusBar().showMessage(f"Opened {doc.label} · up {self.up_description()}", 5000)
            self.scene_opened.emit(doc)

        def failed(message, bad_input):
            self.statusBar().clearMessage()
            self.open_failed.emit(message)
            self.report_error("Cannot open file", message)

        job.finished.connect(loaded)
        job.failed.connect(failed)
        job.done.connect(lambda: self._loading.remove(job) if job in self._loading else None)

    def frame_new_document(self, doc: Document, first: bool = False) -> None:
        """Show ``doc``, just added as A, from its home view; unless it is not the ``first`` scene
        and occupies the same space as the one before it (e.g. a compressed version of it): then
        the camera stays where it is."""
        if first or not self._same_place(doc):
            self.viewport.frame_document(doc)

    def _same_place(self, doc: Document) -> bool:
        """Keep the camera when the new scene occupies the same space as the current one
        (e.g. a compressed version of it)."""
        cur = self.workspace.documents[-2].scene if len(self.workspace.documents) > 1 else None
        if cur is None:
            return False
        lo1, hi1 = cur.robust_bounds()
        lo2, hi2 = doc.scene.robust_bounds()
        size = max(float(np.linalg.norm(hi1 - lo1)), 1e-9)
        return float(np.linalg.norm(lo1 - lo2) + np.linalg.norm(hi1 - hi2)) < 0.05 * size

    def is_loading(self) -> bool:
        return bool(self._loading)

    # ------------------------------------------------------------------ up axis
    def _remembered_ups(self) -> dict:
        try:
            return json.loads(self.qsettings.value("upAxes", "{}") or "{}")
        except ValueError:
            return {}

    def set_up_axis(self, up: str | np.ndarray | None, remember: bool = True) -> None:
        """The current scene's up axis ("+z", a vector, or None: automatic), remembered for its
        file (unless not ``remember``: Edit > Set Up Axis turned the splats, not yet saved); the
        view goes to the new home view."""
        doc = self.workspace.a
        if doc is None:
            return
        doc.up = None if up is None else (parse_up(up) if isinstance(up, str) else np.asarray(up, np.float64))
        if doc.path and remember:
            ups = self._remembered_ups()
            if doc.up is None:
                ups.pop(doc.path, None)
            else:
                ups[doc.path] = doc.up.tolist()
            self.qsettings.setValue("upAxes", json.dumps(ups))
        self.viewport.frame_document(doc)
        self._sync_up_menu()
        self.statusBar().showMessage(f"Up: {self.up_description()}", 5000)

    def flip_up(self) -> None:
        """Turn the scene's up upside down (the current view's up, negated)."""
        self.set_up_axis(-self.viewport.controller.up)

    def up_description(self) -> str:
        ctl = self.viewport.controller
        return f"{axis_label(ctl.up)} ({ctl.up_source})"

    def _sync_up_menu(self) -> None:
        doc = self.workspace.a
        label = None if doc is None or doc.up is None else axis_label(doc.up)
        act = self.up_actions.get(label)
        if act is not None:
            act.setChecked(True)
        else:  # a tilted up (flipped from cameras): no axis entry is checked
            for a in self.up_actions.values():
                a.setChecked(False)

    def open_capture_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open capture folder", self.qsettings.value("lastDir", os.getcwd()))
        if folder:
            self.open_capture(folder)

    def open_capture(self, folder: str) -> None:
        from engine.io.captures import load_capture

        job = workers.start(lambda token: load_capture(folder), self)

        def loaded(capture):
            self.set_capture(capture)
            for panel in (self.train_panel, self.distill_panel):
                if not panel.capture.text().strip():
                    panel.set_capture_folder(folder)
            self.docks["Camera"].raise_()
            self.statusBar().showMessage(f"{len(capture.frames)} capture cameras from {folder}", 5000)

        job.finished.connect(loaded)
        job.failed.connect(lambda msg, bad: self.report_error("Cannot open capture", msg))

    def set_capture(self, capture) -> None:
        """Show a capture's cameras: listed in the Camera panel (to look through) and drawn as
        frusta in the viewport (View > Show Capture Cameras); test views in their own colour.
        With no scene open, the view frames the cameras."""
        self._capture = capture
        test = set(capture.test_indices)
        splits = ["test" if i in test else "train" for i in range(len(capture.frames))]
        cameras = [f.camera for f in capture.frames]
        self.camera_panel.set_capture_cameras([(f.name, f.camera, s) for f, s in zip(capture.frames, splits)])
        self.viewport.set_capture_cameras(cameras, splits)
        photos = PhotoSet.from_capture(capture)
        self.viewport.set_photos(photos)
        self.compare_panel.show_photo_source(photos.label or "the capture")
        for act in self.photo_actions.values():
            act.setEnabled(True)
        if self.workspace.a is None:
            self.viewport.frame_capture_cameras()
        self.capture_opened.emit(capture)

    @property
    def capture(self):
        """The capture whose cameras are shown (opened, or being trained), or None."""
        return self._capture

    def look_through_capture_camera(self, index: int) -> None:
        """Look exactly through the open capture's camera ``index`` (highlighted among the frusta
        and selected in the Camera panel's list)."""
        if self._capture is None or not 0 <= index < len(self._capture.frames):
            raise IndexError(f"no capture camera {index}")
        self.viewport.set_camera(self._capture.frames[index].camera)
        self.viewport.set_highlighted_camera(index)
        lst = self.camera_panel.capture_list
        lst.blockSignals(True)
        lst.setCurrentRow(index)
        lst.blockSignals(False)

    def _highlight_capture_camera(self, cam) -> None:
        index = next((i for i, c in enumerate(self.viewport.capture_cameras) if c is cam), None)
        self.viewport.set_highlighted_camera(index)

    def _training_state_changed(self, state: str) -> None:
        if state == "running":
            self.docks["Train"].show()
            self.docks["Train"].raise_()

    def close_document(self, doc: Document) -> None:
        if self.editor.confirm_close([doc]):  # unsaved edits: Save / Discard / Cancel
            self.workspace.remove(doc)

    # ------------------------------------------------------------------ recent files and settings
    def _recent(self) -> list[str]:
        value = self.qsettings.value("recentFiles", [])
        if isinstance(value, str):
            value = [value]
        return [v for v in (value or []) if isinstance(v, str)]

    def _add_recent(self, path: str) -> None:
        recent = [path] + [p for p in self._recent() if p != path]
        self.qsettings.setValue("recentFiles", recent[:MAX_RECENT])
        self._rebuild_recent()

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        recent = self._recent()
        for p in recent:
            self.recent_menu.addAction(p, lambda p=p: self.open_path(p))
        self.recent_menu.setEnabled(bool(recent))

    def _restore_settings(self) -> None:
        geo = self.qsettings.value("geometry")
        if isinstance(geo, QByteArray):
            self.restoreGeometry(geo)
        state = self.qsettings.value("windowState")
        if isinstance(state, QByteArray):
            self.restoreState(state, WINDOW_STATE_VERSION)  # a state saved by an older layout is ignored
        try:
            display = json.loads(self.qsettings.value("display", "{}") or "{}")
        except (TypeError, ValueError):
            display = {}
        if display.get("mode") in {k for _, k in DISPLAY_MODES}:
            self.display_panel.set_mode(display["mode"])
        if isinstance(display.get("background"), list) and len(display["background"]) == 3:
            self.display_panel.set_background(display["background"])
        if isinstance(display.get("capture_cameras"), bool):
            self.act_show_cameras.setChecked(display["capture_cameras"])
        try:
            self.compress_panel.set_splitter_sizes(json.loads(self.qsettings.value("compressSplitters", "{}") or "{}"))
        except (TypeError, ValueError):
            pass
        self._rebuild_recent()

    def closeEvent(self, event) -> None:
        if not self.editor.confirm_close(self.workspace.documents):
            event.ignore()  # cancelled: the window and its edits stay
            return
        self.qsettings.setValue("geometry", self.saveGeometry())
        self.qsettings.setValue("windowState", self.saveState(WINDOW_STATE_VERSION))
        if (sizes := self.compress_panel.splitter_sizes()) is not None:
            self.qsettings.setValue("compressSplitters", json.dumps(sizes))
        self.qsettings.setValue("display", json.dumps(dict(self.display_panel.values(),
                                                           capture_cameras=self.act_show_cameras.isChecked())))
        self.trainer.shutdown()  # cancels a running training job and waits for its step to end
        self.compressor.shutdown()  # likewise a compression sweep (its current point)
        self.distiller.shutdown()  # and a distillation (its current step)
        self.batcher.shutdown()  # and a batch (its Ray tasks; unfinished items stay pending)
        workers.wait_all(5000)
        self.viewport.release_gl()
        super().closeEvent(event)

    # ------------------------------------------------------------------ workspace -> viewport
    def _workspace_changed(self) -> None:
        ws = self.workspace
        vp = self.viewport
        for name, doc in (("A", ws.a), ("B", ws.b)):
            slot = vp.slots[name]
            if slot.document is not doc or (doc is not None and slot.scene is not doc.scene):
                vp.set_document(name, doc)
        if ws.b is not None and vp.compare_mode == "off":
            self.set_compare_mode("split")
        self.update_title()
        self._sync_up_menu()
        for act in (self.act_export, self.act_save, self.act_save_as):
            act.setEnabled(ws.a is not None)

    def update_title(self) -> None:
        """The title: "SplatLab — name", with "*" while scene A has unsaved edits."""
        a = self.workspace.a
        self.setWindowTitle(f"SplatLab — {a.name}{'*' if a.modified else ''}" if a else "SplatLab")

    def set_compare_mode(self, mode: str) -> None:
        self.viewport.set_compare_mode(mode)
        self.compare_actions[mode].setChecked(True)
        self.compare_panel.show_mode(mode)

    def set_photo_slot(self, slot: str | None) -> None:
        """Show the open capture's ground-truth photo as side "A" or "B" (None: scenes only);
        from no comparison, the view splits."""
        self.viewport.set_photo_slot(slot)
        for key, act in self.photo_actions.items():
            act.setChecked(key == slot)
        self.compare_panel.show_photo_slot(slot)
        if slot is not None and self.viewport.compare_mode == "off":
            self.set_compare_mode("split")

    def swap_ab(self) -> None:
        """Swap what A and B show; a ground-truth photo changes side too (a lone scene stays put,
        on the other side of the photo)."""
        slot = self.viewport.photo_slot
        if slot is None or self.workspace.b is not None:
            self.workspace.swap()
        if slot is not None:
            self.set_photo_slot("A" if slot == "B" else "B")

    def _display_changed(self, changes: dict) -> None:
        self.viewport.set_display(**changes)
        if "mode" in changes:
            self.mode_actions[changes["mode"]].setChecked(True)

    def _set_fly(self, on: bool) -> None:
        self.viewport.fly_mode = on
        self.camera_panel.fly.blockSignals(True)
        self.camera_panel.fly.setChecked(on)
        self.camera_panel.fly.blockSignals(False)

    # ------------------------------------------------------------------ camera files
    def save_camera_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save camera", "camera.json", "Camera JSON (*.json)")
        if path:
            try:
                self.viewport.current_camera().save(path)
            except OSError as e:
                self.report_error("Cannot save camera", f"{path}: {e.strerror or e}")

    def load_camera_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load camera", "", "Camera JSON (*.json)")
        if path:
            self.load_camera(path)

    def load_camera(self, path: str) -> None:
        try:
            self.viewport.set_camera(Camera.load(path))
        except InputError as e:
            self.report_error("Cannot load camera", str(e))

    def copy_camera(self) -> None:
        cam = self.viewport.current_camera()
        QGuiApplication.clipboard().setText(json.dumps(cam.to_dict(), indent=2))
        self.statusBar().showMessage("Camera copied to the clipboard as JSON", 3000)

    # ------------------------------------------------------------------ export and screenshots
    def export_dialog(self) -> None:
        """Export scene A; when A is the Compress panel's level, .smol at that level is preselected."""
        doc = self.workspace.a
        if doc is None:
            return
        dlg = ExportDialog(doc, self.qsettings.value("lastDir", os.getcwd()), self, **self.compressor.export_hint(doc))
        if dlg.exec():
            fmt, opts, degree, path = dlg.choice()
            self.export(doc, path, degree, opts)

    def export(self, doc: Document, path: str, sh_degree: int, options: dict):
        """Write ``doc`` in the background (engine.io writes a temporary file, then renames it)."""
        scene = doc.result_scene()  # edited: without the deleted splats
        scene = scene.with_sh_degree(min(sh_degree, scene.sh_degree))

        def write(token):
            try:
                return io.save(scene, path, **options)
            except OSError as e:
                raise OSError(f"cannot write {path}: {e.strerror or e}") from e

        job = workers.start(write, self)
        self.statusBar().showMessage(f"Exporting {os.path.basename(path)}…")
        job.finished.connect(lambda _: self.statusBar().showMessage(f"Exported {path} ({os.path.getsize(path):,} bytes)", 8000))
        job.failed.connect(lambda msg, bad: self.report_error("Export failed", msg))
        return job

    def screenshot_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save screenshot", "screenshot.png", "PNG images (*.png)")
        if path:
            self.save_screenshot(path)

    def save_screenshot(self, path: str) -> bool:
        from engine.io.atomic import atomic_output

        img = self.viewport.grab_image()
        with atomic_output(path) as tmp:
            ok = img.save(tmp, "PNG")
            if not ok:
                raise OSError(f"could not write {path}")
        return ok

    # ------------------------------------------------------------------ drag and drop
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for url in event.mimeData().urls():
            path = url.toLocalFile()
            if os.path.isdir(path):
                self.open_capture(path)
            elif path:
                self.open_path(path)
        event.acceptProposedAction()

    # ------------------------------------------------------------------ status
    def _show_stats(self, stats: dict) -> None:
        self._status["splats"].setText(f"{stats['splats']:,} splats")
        self._status["frame"].setText(f"{stats['fps']:.1f} FPS ({stats['frame_ms']:.0f} ms)")
        self._status["sort"].setText(f"sort {stats['sort_ms']:.0f} ms")

    def _update_memory(self) -> None:
        mb = _memory_mb()
        gpu = ""
        try:
            import torch

            if torch.cuda.is_available():
                gpu = f" · GPU {torch.cuda.memory_allocated() / 1e6:.0f} MB"
        except Exception:  # noqa: BLE001 - status display only
            pass
        self._status["memory"].setText((f"RAM {mb:.0f} MB" if mb else "") + gpu)

    def _show_controls(self) -> None:
        QMessageBox.information(self, "Controls", (
            "Left drag: orbit   ·   Middle/right drag or Shift+left: pan   ·   Wheel: zoom\n"
            "W A S D / Q E: fly (Shift: faster)   ·   Fly mode: left drag looks around\n"
            "F: focus on the splat under the cursor   ·   Home: reset view   ·   X: toggle A/B (flicker)\n"
            "Edit: R rectangle · L lasso · B brush ([ ] radius) · Esc navigate · Shift add · Ctrl subtract ·"
            " Ctrl+Shift intersect · Alt+drag orbits while a tool is on\n"
            "Split view: drag the divider   ·   Ctrl+Shift+D: A/B difference heat map"))  # fmt: skip
