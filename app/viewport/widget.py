"""The studio's viewport: a QOpenGLWidget that draws splats with moderngl (SplatRenderer).

- One SplatRenderer per compared scene (A and B) on the widget's GL context.
- Depth sorting runs in a BackgroundSorter thread. A new sort is asked for when the view
  changed enough; when the camera stops (no change for SETTLE_MS) a sort for the exact final
  view is asked for and the frame is redrawn when it arrives, so a still image never shows a
  stale order.
- Scene preparation (activation, covariance, SH packing) runs in a worker thread; only the
  GL upload happens on the GUI thread.
- A/B compare: "split" (A left of a draggable divider, B right), "side" (side by side, one
  synchronized camera), "flicker" (a key toggles which scene is shown).
- Capture cameras: an open capture's cameras are drawn as wireframe frusta over the splats
  (FrustaRenderer); hidden, or with no capture, nothing is drawn and the splat image is unchanged.
"""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QMouseEvent, QSurfaceFormat, QWheelEvent
from PySide6.QtOpenGLWidgets import QOpenGLWidget
from PySide6.QtWidgets import QLabel

from app import workers
from app.documents import Document
from app.viewport.camera_control import CameraController, nearest_splat_on_ray
from app.viewport.frusta import FrustaRenderer, frustum_depth
from app.viewport.gl_renderer import DisplaySettings, PreparedSplats, SplatRenderer, prepare_splats
from app.viewport.sorting import BackgroundSorter, view_changed_enough
from engine.camera import Camera

SETTLE_MS = 120  # camera still for this long: sort for the exact view and redraw
FLY_TICK_MS = 16
COMPARE_MODES = ("off", "split", "side", "flicker")
FLY_KEYS = {
    Qt.Key_W: (1, 0, 0), Qt.Key_S: (-1, 0, 0), Qt.Key_D: (0, 1, 0), Qt.Key_A: (0, -1, 0),
    Qt.Key_E: (0, 0, 1), Qt.Key_Q: (0, 0, -1),
}  # fmt: skip


def default_surface_format() -> QSurfaceFormat:
    """OpenGL 4.1 core (works on llvmpipe and macOS); set before the QApplication exists."""
    fmt = QSurfaceFormat()
    fmt.setVersion(4, 1)
    fmt.setProfile(QSurfaceFormat.CoreProfile)
    fmt.setDepthBufferSize(24)
    fmt.setAlphaBufferSize(8)
    fmt.setSwapInterval(0)
    return fmt


class _Slot:
    """What the viewport holds for one side of the comparison."""

    def __init__(self, name: str):
        self.name = name
        self.document: Document | None = None
        self.scene = None  # the GaussianScene `prepared` was made from (a live job may replace it)
        self.prepared: PreparedSplats | None = None
        self.pending_upload = False
        self.renderer: SplatRenderer | None = None
        self.order: np.ndarray | None = None
        self.order_version = -1  # camera version the uploaded order was sorted for
        self.pending_order: tuple[np.ndarray, int] | None = None
        self.sorter: BackgroundSorter | None = None
        self.sorted_camera: Camera | None = None
        self.prepare_job = None


class Viewport(QOpenGLWidget):
    stats_changed = Signal(dict)  # {"fps", "frame_ms", "sort_ms", "splats"}
    camera_changed = Signal()
    scene_ready = Signal(str)  # slot name, after a scene's data is uploaded
    _sorted = Signal(str, object, int, float)  # slot, order, camera version, seconds (from the sort thread)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setMinimumSize(200, 150)
        self.setMouseTracking(False)
        self.controller = CameraController(max(self.width(), 1), max(self.height(), 1))
        self.settings = DisplaySettings()
        self.compare_mode = "off"
        self.divider = 0.5  # split position, fraction of the width
        self.flicker_show_b = False
        self.fly_mode = False
        self.ctx = None
        self.slots = {"A": _Slot("A"), "B": _Slot("B")}
        self._sorted.connect(self._on_sorted)
        self._drag_start: QPoint | None = None
        self._drag_kind = ""
        self._keys_down: set[int] = set()
        self._last_fly = time.perf_counter()
        self._frame_ms = 0.0
        self._frame_times: list[float] = []
        self._sort_ms = 0.0
        self._settle = QTimer(self, singleShot=True, interval=SETTLE_MS, timeout=self._request_exact_sorts)
        self._fly_timer = QTimer(self, interval=FLY_TICK_MS, timeout=self._fly_tick)
        self._labels = {k: self._make_label() for k in ("A", "B")}
        self._divider_bar = QLabel(self)
        self._divider_bar.setStyleSheet("background: rgba(255, 255, 255, 180);")
        self._divider_bar.hide()
        # capture cameras drawn as frusta: (cameras, splits, depth), uploaded in paintGL
        self.frusta: FrustaRenderer | None = None
        self.capture_cameras: list[Camera] = []
        self._capture_splits: list[str] = []
        self._frusta_depth = 1.0
        self._frusta_pending = False
        self.show_capture_cameras = True
        self.highlighted_camera: int | None = None

    # ------------------------------------------------------------------ overlay widgets
    def _make_label(self) -> QLabel:
        lab = QLabel(self)
        lab.setStyleSheet("color: white; background: rgba(0, 0, 0, 140); padding: 3px 6px; border-radius: 3px;")
        lab.setAttribute(Qt.WA_TransparentForMouseEvents)
        lab.hide()
        return lab

    def _layout_overlays(self) -> None:
        w, h = self.width(), self.height()
        a, b = self._labels["A"], self._labels["B"]
        comparing = self.compare_mode != "off" and self.slots["B"].document is not None
        for slot, lab in (("A", a), ("B", b)):
            doc = self.slots[slot].document
            lab.setText(f"{slot}: {doc.label}" if doc else "")
            lab.adjustSize()
        a.setVisible(self.slots["A"].document is not None and (not comparing or self.compare_mode != "flicker" or not self.flicker_show_b))
        b.setVisible(comparing and (self.compare_mode != "flicker" or self.flicker_show_b))
        a.move(8, 8)
        if self.compare_mode == "flicker":
            b.move(8, 8)
        else:
            b.move(max(8, w - b.width() - 8), 8)
        split = comparing and self.compare_mode == "split"
        self._divider_bar.setVisible(split)
        if split:
            self._divider_bar.setGeometry(int(self.divider * w) - 1, 0, 2, h)
        elif comparing and self.compare_mode == "side":
            self._divider_bar.setGeometry(w // 2 - 1, 0, 2, h)
            self._divider_bar.show()

    # ------------------------------------------------------------------ scenes
    def set_document(self, slot_name: str, doc: Document | None, reframe: bool = False) -> None:
        """Show ``doc`` in slot A or B. Preparation runs off the GUI thread; the upload happens
        on it when the data is ready. The previous scene stays visible until then."""
        slot = self.slots[slot_name]
        slot.document = doc
        slot.scene = doc.scene if doc is not None else None
        if slot.prepare_job is not None:
            slot.prepare_job.cancel()
        if doc is None:
            slot.prepared, slot.pending_upload, slot.order, slot.pending_order = None, True, None, None
            self._layout_overlays()
            self.update()
            return
        if reframe:
            self.controller.frame_scene(doc.scene, doc.up, doc.cameras)
            self.camera_changed.emit()
        scene = doc.scene
        job = workers.start(lambda token: prepare_splats(scene), self)
        slot.prepare_job = job

        def ready(prepared, slot=slot, job=job, doc=doc):
            if slot.prepare_job is not job or slot.document is not doc:
                return  # superseded by a newer scene
            slot.prepare_job = None
            slot.prepared = prepared
            slot.pending_upload = True
            slot.order = None
            slot.pending_order = None  # a sort of the old scene that was not drawn yet
            slot.sorted_camera = None
            self._request_sort(slot, force=True)
            self._layout_overlays()
            self.update()

        job.finished.connect(ready)
        job.failed.connect(lambda msg, bad: print(f"viewport: could not prepare the scene: {msg}"))
        self._layout_overlays()

    def is_busy(self) -> bool:
        """True while a scene is being prepared or its first sort has not arrived."""
        for slot in self.slots.values():
            if slot.prepare_job is not None:
                return True
            if slot.prepared is not None and (slot.pending_upload or slot.order is None and slot.pending_order is None):
                return True
        return False

    def view_is_exact(self) -> bool:
        """True when every shown scene's order was sorted for the current camera."""
        v = self.controller.version
        return all(s.prepared is None or s.order_version == v for s in self._visible_slots())

    # ------------------------------------------------------------------ sorting
    def _visible_slots(self) -> list[_Slot]:
        a, b = self.slots["A"], self.slots["B"]
        if self.compare_mode == "off" or b.document is None:
            return [a]
        if self.compare_mode == "flicker":
            return [b if self.flicker_show_b else a]
        return [a, b]

    def _sort_camera(self) -> Camera:
        return self.controller.camera(max(self.width(), 1), max(self.height(), 1))

    def _request_sort(self, slot: _Slot, force: bool = False) -> None:
        if slot.prepared is None:
            return
        cam = self._sort_camera()
        if not force and slot.sorted_camera is not None and not view_changed_enough(
            slot.sorted_camera, cam, scene_scale=slot.prepared.scene_scale
        ):
            return
        if slot.sorter is None:
            name = slot.name
            slot.sorter = BackgroundSorter(lambda order, token, sec, name=name: self._sorted.emit(name, order, token, sec))
        slot.sorted_camera = cam
        slot.sorter.request(slot.prepared.means, cam, self.controller.version)

    def _request_exact_sorts(self) -> None:
        for slot in self._visible_slots():
            if slot.prepared is not None and slot.order_version != self.controller.version:
                self._request_sort(slot, force=True)

    def _on_sorted(self, name: str, order, version: int, seconds: float) -> None:
        slot = self.slots[name]
        if slot.prepared is None or len(order) != slot.prepared.count:
            return  # a sort of a scene that has since been replaced
        slot.pending_order = (order, version)
        self._sort_ms = seconds * 1000.0
        self.update()

    def _camera_moved(self) -> None:
        for slot in self._visible_slots():
            self._request_sort(slot)
        self._settle.start()
        self.camera_changed.emit()
        self.update()

    # ------------------------------------------------------------------ GL
    def initializeGL(self) -> None:
        import moderngl

        # Runs again with a new context when the widget is re-parented (e.g. a floated dock):
        # everything is uploaded again from the prepared data and the last orders.
        self.ctx = moderngl.create_context()
        for slot in self.slots.values():
            slot.renderer = SplatRenderer(self.ctx)
            slot.pending_upload = slot.prepared is not None
            if slot.order is not None and slot.pending_order is None:
                slot.pending_order = (slot.order, slot.order_version)
        self.frusta = FrustaRenderer(self.ctx)
        self._frusta_pending = True

    def paintGL(self) -> None:
        if self.ctx is None:
            return
        t0 = time.perf_counter()
        dpr = self.devicePixelRatioF()
        w, h = max(1, round(self.width() * dpr)), max(1, round(self.height() * dpr))
        self.controller.resize(w, h)
        target = self.ctx.detect_framebuffer(self.defaultFramebufferObject())
        for slot in self.slots.values():
            if slot.pending_upload and slot.renderer is not None:
                slot.renderer.set_splats(slot.prepared)
                slot.pending_upload = False
                slot.order_version = -1
                if slot.prepared is None:
                    slot.order = None
                self.scene_ready.emit(slot.name)
            if slot.pending_order is not None and slot.renderer is not None and slot.prepared is not None:
                order, version = slot.pending_order
                slot.pending_order = None
                slot.renderer.set_order(order)
                slot.order, slot.order_version = order, version
        cam = self.controller.camera(w, h)
        shown = [s for s in self._visible_slots() if s.prepared is not None and s.order is not None]
        target.use()
        if not shown:
            r, g, b = self.settings.background
            target.clear(r, g, b, 1.0)
        elif len(shown) == 1:
            shown[0].renderer.render(cam, target, self.settings)
        elif self.compare_mode == "split":
            split_x = int(round(self.divider * w))
            shown[0].renderer.render(cam, target, self.settings, scissor=(0, 0, split_x, h))
            shown[1].renderer.render(cam, target, self.settings, scissor=(split_x, 0, w - split_x, h), clear=False)
        else:  # side by side: each half sees the same camera at half the width
            half = w // 2
            left = self.controller.camera(half, h)
            right = self.controller.camera(w - half, h)
            shown[0].renderer.render(left, target, self.settings, viewport=(0, 0, half, h))
            shown[1].renderer.render(right, target, self.settings, viewport=(half, 0, w - half, h), clear=False)
        self._draw_frusta(target, cam, w, h, side=len(shown) == 2 and self.compare_mode == "side")
        self._frame_ms = (time.perf_counter() - t0) * 1000.0
        now = time.perf_counter()
        self._frame_times = [t for t in self._frame_times if now - t < 1.0] + [now]
        self.stats_changed.emit({
            "frame_ms": self._frame_ms,
            "fps": 1000.0 / max(self._frame_ms, 1e-3),
            "sort_ms": self._sort_ms,
            "splats": sum(s.prepared.count for s in shown),
        })  # fmt: skip

    def _draw_frusta(self, target, cam: Camera, w: int, h: int, side: bool) -> None:
        """The capture cameras over the image (after the splats); nothing when hidden or none."""
        if self.frusta is None:
            return
        if self._frusta_pending:
            self.frusta.set_frusta(self.capture_cameras, self._capture_splits, self._frusta_depth)
            self._frusta_pending = False
        self.frusta.set_highlight(self.highlighted_camera)
        if not self.show_capture_cameras or not self.frusta.count:
            return
        if side:
            half = w // 2
            self.frusta.render(self.controller.camera(half, h), target, viewport=(0, 0, half, h))
            self.frusta.render(self.controller.camera(w - half, h), target, viewport=(half, 0, w - half, h))
        else:
            self.frusta.render(cam, target)

    def resizeGL(self, w: int, h: int) -> None:
        self._layout_overlays()
        for slot in self._visible_slots():
            self._request_sort(slot)
        self._settle.start()

    def release_gl(self) -> None:
        """Free GL objects and stop sort threads (call before the widget goes away)."""
        for slot in self.slots.values():
            if slot.sorter is not None:
                slot.sorter.stop()
                slot.sorter = None
        if self.ctx is not None:
            self.makeCurrent()
            for slot in self.slots.values():
                if slot.renderer is not None:
                    slot.renderer.release()
                    slot.renderer = None
            if self.frusta is not None:
                self.frusta.release()
                self.frusta = None
            self.doneCurrent()
            self.ctx = None  # a paint after this (e.g. a grab of the closed window) draws nothing

    # ------------------------------------------------------------------ public controls
    def set_compare_mode(self, mode: str) -> None:
        if mode not in COMPARE_MODES:
            raise ValueError(f"unknown compare mode {mode!r}")
        self.compare_mode = mode
        self._layout_overlays()
        self._camera_moved()

    def toggle_flicker(self) -> None:
        self.flicker_show_b = not self.flicker_show_b
        self._layout_overlays()
        self._camera_moved()

    def set_divider(self, fraction: float) -> None:
        self.divider = float(np.clip(fraction, 0.02, 0.98))
        self._layout_overlays()
        self.update()

    def set_display(self, **changes) -> None:
        for k, v in changes.items():
            setattr(self.settings, k, v)
        self.update()

    def set_camera(self, cam: Camera) -> None:
        self.controller.set_camera(cam)
        self._camera_moved()

    def set_capture_cameras(self, cameras: list[Camera], splits: list[str] | None = None) -> None:
        """Draw these cameras as frusta (``splits[i]`` = "test" for held-out views); [] clears.
        The frustum depth is proportional to the spread of the cameras."""
        self.capture_cameras = list(cameras)
        self._capture_splits = list(splits) if splits is not None else ["train"] * len(self.capture_cameras)
        self._frusta_depth = frustum_depth(self.capture_cameras)
        self._frusta_pending = True
        self.highlighted_camera = None
        self.update()

    def set_show_capture_cameras(self, on: bool) -> None:
        self.show_capture_cameras = bool(on)
        self.update()

    def set_highlighted_camera(self, index: int | None) -> None:
        """Highlight one capture camera (the one last looked through); None: no highlight."""
        self.highlighted_camera = index
        self.update()

    def frame_capture_cameras(self) -> None:
        """Frame the capture's cameras (used when no scene is open)."""
        if not self.capture_cameras:
            return
        centers = np.stack([c.center for c in self.capture_cameras])
        self.controller.frame_box(centers.min(0), centers.max(0))
        self._camera_moved()

    def reset_camera(self) -> None:
        doc = self.slots["A"].document
        if doc is not None:
            self.frame_document(doc)
        else:
            self.frame_capture_cameras()

    def frame_document(self, doc) -> None:
        """Show ``doc``'s home view (its up axis and cameras, engine.camera.home_view)."""
        self.controller.frame_scene(doc.scene, doc.up, doc.cameras)
        self._camera_moved()

    def focus(self, pos: QPoint | None = None) -> None:
        """Pivot on the splat under ``pos`` (or the view centre); frame the scene if none."""
        doc = self.slots["A"].document
        if doc is None:
            return
        dpr = self.devicePixelRatioF()
        p = pos if pos is not None else QPoint(self.width() // 2, self.height() // 2)
        origin, direction = self.controller.ray(p.x() * dpr, p.y() * dpr)
        means = self.slots["A"].prepared.means if self.slots["A"].prepared is not None else doc.scene.means.numpy()
        idx = nearest_splat_on_ray(means, origin, direction)
        if idx is None:
            self.controller.frame_scene(doc.scene, doc.up, doc.cameras)
        else:
            self.controller.focus(means[idx])
        self._camera_moved()

    def grab_image(self) -> QImage:
        """The rendered view (no overlay labels), after any pending upload or sort landed."""
        return self.grabFramebuffer()

    # ------------------------------------------------------------------ input
    def _divider_hit(self, x: int) -> bool:
        return (
            self.compare_mode == "split"
            and self.slots["B"].document is not None
            and abs(x - self.divider * self.width()) <= 6
        )

    def mousePressEvent(self, e: QMouseEvent) -> None:
        self.setFocus()
        self._drag_start = e.position().toPoint()
        if e.button() == Qt.LeftButton and self._divider_hit(self._drag_start.x()):
            self._drag_kind = "divider"
        elif e.button() == Qt.MiddleButton or (e.button() == Qt.LeftButton and e.modifiers() & Qt.ShiftModifier):
            self._drag_kind = "pan"
        elif e.button() == Qt.RightButton:
            self._drag_kind = "pan"
        elif e.button() == Qt.LeftButton:
            self._drag_kind = "look" if self.fly_mode else "orbit"
        else:
            self._drag_kind = ""

    def mouseMoveEvent(self, e: QMouseEvent) -> None:
        if self._drag_start is None or not self._drag_kind:
            return
        p = e.position().toPoint()
        dx, dy = p.x() - self._drag_start.x(), p.y() - self._drag_start.y()
        self._drag_start = p
        dpr = self.devicePixelRatioF()
        if self._drag_kind == "divider":
            self.set_divider(p.x() / max(self.width(), 1))
            return
        if self._drag_kind == "orbit":
            self.controller.orbit(dx, dy)
        elif self._drag_kind == "look":
            self.controller.look(dx, dy)
        elif self._drag_kind == "pan":
            self.controller.pan(dx * dpr, dy * dpr)
        self._camera_moved()

    def mouseReleaseEvent(self, e: QMouseEvent) -> None:
        self._drag_start = None
        self._drag_kind = ""

    def wheelEvent(self, e: QWheelEvent) -> None:
        steps = e.angleDelta().y() / 120.0
        if steps:
            self.controller.zoom(steps)
            self._camera_moved()

    def keyPressEvent(self, e) -> None:
        key = e.key()
        if key in FLY_KEYS and not e.isAutoRepeat():
            self._keys_down.add(key)
            if not self._fly_timer.isActive():
                self._last_fly = time.perf_counter()
                self._fly_timer.start()
                self._fly_tick(first=True)
        elif key == Qt.Key_F:
            self.focus(self.mapFromGlobal(self.cursor().pos()) if self.underMouse() else None)
        elif key == Qt.Key_R:
            self.reset_camera()
        elif key == Qt.Key_X:
            self.toggle_flicker()
        else:
            super().keyPressEvent(e)

    def keyReleaseEvent(self, e) -> None:
        if e.isAutoRepeat():
            return
        self._keys_down.discard(e.key())
        if not self._keys_down:
            self._fly_timer.stop()

    def focusOutEvent(self, e) -> None:
        self._keys_down.clear()
        self._fly_timer.stop()
        super().focusOutEvent(e)

    def _fly_tick(self, first: bool = False) -> None:
        now = time.perf_counter()
        dt = FLY_TICK_MS / 1000.0 if first else min(now - self._last_fly, 0.1)
        self._last_fly = now
        f = r = u = 0.0
        for key in self._keys_down:
            df, dr, du = FLY_KEYS[key]
            f, r, u = f + df, r + dr, u + du
        if f or r or u:
            from PySide6.QtWidgets import QApplication

            fast = bool(QApplication.keyboardModifiers() & Qt.ShiftModifier)
            self.controller.fly(f, r, u, dt, fast)
            self._camera_moved()
