"""The studio's viewport: a QOpenGLWidget that draws splats with moderngl (SplatRenderer).

- One SplatRenderer per compared scene (A and B) on the widget's GL context.
- Depth sorting runs in a BackgroundSorter thread. A new sort is asked for when the view
  changed enough; when the camera stops (no change for SETTLE_MS) a sort for the exact final
  view is asked for and the frame is redrawn when it arrives, so a still image never shows a
  stale order.
- Scene preparation (activation, covariance, SH packing) runs in a worker thread; only the
  GL upload happens on the GUI thread.
- A/B compare: "split" (A left of a draggable divider, B right), "side" (side by side, one
  synchronized camera), "flicker" (a key toggles which scene is shown), "difference" (a heat map
  of |A - B| per pixel through the inferno colormap, with a colour bar; app/viewport/compare_gl.py
  draws it from both sides rendered into RGBA8 framebuffers, and when the camera stops those same
  images are read back and measured with engine.metrics: ``compare_metrics_changed``).
- Ground-truth photo: with a PhotoSet (a capture's photos, ``set_photos``) and ``set_photo_slot``
  "A" or "B", that side shows the photo of the capture camera the view looks exactly through
  (Camera panel: look through) on the rectangle where the view shows that camera's image (the
  view fits an exact camera of another aspect: Camera.fitted / image_rect), background around it;
  a difference view compares only that rectangle (grey around it). When the view is not exactly
  a capture camera the side draws nothing and says "no photo for this view".
  The scene the photo displaces from an otherwise empty pair moves to the other side.
- Editing (side A only): ``set_edit_state`` uploads engine.edit's per-splat state (selected splats
  tinted, hidden and deleted ones not drawn); ``selection`` (app/viewport/edit_overlay.py) takes
  the left mouse while a selection tool is on and draws its shape; ``front_depth`` reads back the
  depth of what A shows, for front-layer selection; ``volumes`` (app/viewport/volume_drag.py)
  draws the Edit panel's sphere / box volumes and takes the mouse first on their handles.
- Capture cameras: an open capture's cameras are drawn as wireframe frusta over the splats
  (FrustaRenderer); hidden, or with no capture, nothing is drawn and the splat image is unchanged.
"""

from __future__ import annotations

import math
import time

import numpy as np
from PySide6.QtCore import QPoint, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QMouseEvent, QSurfaceFormat, QWheelEvent
from PySide6.QtOpenGLWidgets import QOpenGLWidget
from PySide6.QtWidgets import QLabel

from app import workers
from app.documents import Document
from app.viewport.camera_control import CameraController, nearest_splat_on_ray
from app.viewport.edit_overlay import SelectionOverlay
from app.viewport.volume_drag import VolumeOverlay
from app.viewport.compare_gl import DEFAULT_FULL_SCALE, REDUCE, CompareCompositor, format_psnr, photo_texels
from app.viewport.frusta import FrustaRenderer, frustum_depth
from app.viewport.gl_renderer import DisplaySettings, SplatRenderer, prepare_splats
from app.viewport.photos import PhotoSet
from app.viewport.slot_state import SlotState
from app.viewport.sorting import BackgroundSorter
from engine.camera import Camera

SETTLE_MS = 120  # camera still for this long: sort for the exact view and redraw
FLY_TICK_MS = 16
COMPARE_MODES = ("off", "split", "side", "flicker", "difference")
PHOTO = "photo"  # a side of the comparison that shows the ground-truth photo (see _sides)
COLORBAR_SIZE = (160, 10)  # the difference colour bar, widget pixels
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


class _Slot(SlotState):
    """One side of the comparison: its state (app/viewport/slot_state.py, the hand-offs between
    preparation, sorting and upload) plus the GL renderer and the sort thread that serve it."""

    def __init__(self, name: str):
        super().__init__(name)
        self.renderer: SplatRenderer | None = None
        self.sorter: BackgroundSorter | None = None


class Viewport(QOpenGLWidget):
    stats_changed = Signal(dict)  # {"fps", "frame_ms", "sort_ms", "splats"}
    camera_changed = Signal()
    scene_ready = Signal(str)  # slot name, after a scene's data is uploaded
    # A vs B at this view in "difference" mode once the camera stops: {"mae", "psnr", "width",
    # "height", "photo"} (engine.metrics of the two sides' images), None while stale or not comparing
    compare_metrics_changed = Signal(object)
    photo_changed = Signal(object)  # name of the capture camera the photo side shows, None: no photo for this view
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
        # difference heat map and ground-truth photos (app/viewport/compare_gl.py, photos.py)
        self.compositor: CompareCompositor | None = None
        self.difference_scale = DEFAULT_FULL_SCALE
        self.difference_reduce = "mean"
        self.photos: PhotoSet | None = None
        self.photo_slot: str | None = None  # "A" or "B": that side shows the photo
        self._photo_key = None  # (camera version, photos, slot) the match below was made for
        self._photo_index: int | None = None  # the photo whose camera the view looks exactly through
        self._photo_data: tuple[int, np.ndarray] | None = None  # (index, texels) loaded, to upload
        self._photo_uploaded: int | None = None  # index of the photo on the GPU
        self._photo_job: tuple[int, object] | None = None
        self._photo_error = ""
        self._content_version = 0  # bumped when what the sides show changes other than by the camera
        self._metrics_key = None
        self._metrics_job = None
        self.compare_metrics: dict | None = None
        self._compare_images: tuple[np.ndarray, np.ndarray] | None = None
        self._notice = self._make_label()
        self._notice.setWordWrap(True)
        self._notice.setAlignment(Qt.AlignCenter)
        self._scale_caption = self._make_label()
        self._scale_lo = self._make_label()
        self._scale_hi = self._make_label()
        self._colorbar_rect: tuple[int, int, int, int] | None = None  # widget pixels, when shown
        self.selection = SelectionOverlay(self)  # the screen-selection tools (takes the left mouse when on)
        self.volumes = VolumeOverlay(self)  # the Edit panel's volumes (takes the left mouse on their handles)
        self._edit_state: np.ndarray | None = None  # side A's engine.edit state, uint8 [N] (None: unedited)
        self._edit_state_pending = False

    # ------------------------------------------------------------------ overlay widgets
    def _make_label(self) -> QLabel:
        lab = QLabel(self)
        lab.setStyleSheet("color: white; background: rgba(0, 0, 0, 140); padding: 3px 6px; border-radius: 3px;")
        lab.setAttribute(Qt.WA_TransparentForMouseEvents)
        lab.hide()
        return lab

    def _side_text(self, side, name: str) -> str:
        if side is PHOTO:
            if self._photo_index is None:
                return f"{name}: photo (none for this view)"
            return f"{name}: photo {self.photos.names[self._photo_index]}"
        return f"{name}: {side.document.label}" if side.document is not None else ""

    def _photo_notice(self) -> str:
        """Why the photo side shows nothing ("" when it shows the photo)."""
        if self.photos is None:
            return "No capture open: open one (File > Open Capture Cameras…) to compare with its photos"
        if self._photo_index is None:
            return "No photo for this view: look through a capture camera (Camera panel) to compare with its photo"
        if self._photo_error:
            return f"Cannot show the photo of {self.photos.names[self._photo_index]}: {self._photo_error}"
        if not self._photo_ready():
            return f"Loading the photo of {self.photos.names[self._photo_index]}…"
        return ""

    def _layout_overlays(self) -> None:
        w, h = self.width(), self.height()
        a, b = self._labels["A"], self._labels["B"]
        pair = self._pair()
        comparing = self.compare_mode != "off" and len(pair) == 2
        a.setText(self._side_text(pair[0] if comparing else self.slots["A"], "A"))
        b.setText(self._side_text(pair[1], "B") if comparing else "")
        for lab in (a, b):
            lab.adjustSize()
        flicker = self.compare_mode == "flicker"
        a.setVisible(bool(a.text()) and (not comparing or not flicker or not self.flicker_show_b))
        b.setVisible(comparing and (not flicker or self.flicker_show_b))
        a.move(8, 8)
        if flicker:
            b.move(8, 8)
        elif self.compare_mode == "difference" or a.width() + b.width() + 24 > w:  # one image: B under A
            b.move(8, 8 + a.height() + 4)
        else:
            b.move(max(8, w - b.width() - 8), 8)
        split = comparing and self.compare_mode == "split"
        self._divider_bar.setVisible(split)
        if split:
            self._divider_bar.setGeometry(int(self.divider * w) - 1, 0, 2, h)
        elif comparing and self.compare_mode == "side":
            self._divider_bar.setGeometry(w // 2 - 1, 0, 2, h)
            self._divider_bar.show()
        # the photo side, when it has nothing to show: say why, over that side
        sides = self._sides()
        notice = self._photo_notice() if PHOTO in sides else ""
        self._notice.setVisible(bool(notice))
        if notice:
            x0, x1 = 0, w
            if len(sides) == 2 and self.compare_mode in ("split", "side"):
                cut = int(self.divider * w) if self.compare_mode == "split" else w // 2
                x0, x1 = (cut, w) if sides[1] is PHOTO else (0, cut)
            self._notice.setText(notice)
            self._notice.setFixedWidth(max(60, min(x1 - x0 - 16, 360)))
            self._notice.adjustSize()
            self._notice.move(x0 + (x1 - x0 - self._notice.width()) // 2, (h - self._notice.height()) // 2)
        # the difference colour bar (drawn in GL at _colorbar_rect) with its scale and the numbers
        bar = len(sides) == 2 and self.compare_mode == "difference" and not notice
        for lab in (self._scale_caption, self._scale_lo, self._scale_hi):
            lab.setVisible(bar)
        self._colorbar_rect = None
        if bar:
            reduce = "mean over RGB" if self.difference_reduce == "mean" else "max over RGB"
            caption = f"|A − B| per pixel ({reduce})"
            m = self.compare_metrics
            if m is not None:
                caption += f"<br>MAE {m['mae']:.4f} · PSNR {format_psnr(m['psnr'])}"
            self._scale_caption.setText(caption)
            self._scale_lo.setText("0")
            self._scale_hi.setText(f"{self.difference_scale:g}")
            for lab in (self._scale_caption, self._scale_lo, self._scale_hi):
                lab.adjustSize()
            bw, bh = COLORBAR_SIZE
            lo, hi = self._scale_lo, self._scale_hi
            row_h = max(lo.height(), bh)
            y = h - 8 - row_h
            lo.move(8, y + (row_h - lo.height()) // 2)
            bx = 8 + lo.width() + 6
            self._colorbar_rect = (bx, y + (row_h - bh) // 2, bw, bh)
            hi.move(bx + bw + 6, y + (row_h - hi.height()) // 2)
            self._scale_caption.move(8, y - 4 - self._scale_caption.height())

    # ------------------------------------------------------------------ scenes
    def set_document(self, slot_name: str, doc: Document | None, reframe: bool = False) -> None:
        """Show ``doc`` in slot A or B. Preparation runs off the GUI thread; the upload happens
        on it when the data is ready. The previous scene stays visible until then."""
        slot = self.slots[slot_name]
        if doc is None:
            superseded = slot.show(None)
            if superseded is not None:
                superseded.cancel()
            self._compare_stale()
            self._layout_overlays()
            self.update()
            return
        if reframe:
            self.controller.frame_scene(doc.scene, doc.up, doc.cameras)
            self.camera_changed.emit()
        scene = doc.scene
        job = workers.start(lambda token: prepare_splats(scene), self)
        superseded = slot.show(doc, job)
        if superseded is not None:
            superseded.cancel()

        def ready(prepared, slot=slot, job=job, doc=doc):
            if not slot.prepared_ready(job, doc, prepared):
                return  # superseded by a newer scene
            self._request_sort(slot, force=True)
            self._layout_overlays()
            self.update()

        job.finished.connect(ready)
        job.failed.connect(lambda msg, bad: print(f"viewport: could not prepare the scene: {msg}"))
        self._layout_overlays()

    def is_busy(self) -> bool:
        """True while a scene is being prepared or its first sort has not arrived, a photo to show
        is loading, or the numbers of a difference view are being measured."""
        if self._photo_job is not None or self._metrics_job is not None:
            return True
        data = self._photo_data
        if self._photo_index is not None and data is not None and self._photo_uploaded != data[0]:
            return True
        return any(slot.busy() for slot in self.slots.values())

    def view_is_exact(self) -> bool:
        """True when every shown scene's order was sorted for the current camera."""
        v = self.controller.version
        return all(s.exact(v) for s in self._visible_slots())

    # ------------------------------------------------------------------ sorting
    def _pair(self) -> list:
        """What A/B compares, left to right: slots or PHOTO (one item when B is empty). The scene
        a photo displaces from a pair without B moves to B's place."""
        a, b = self.slots["A"], self.slots["B"]
        if self.photo_slot == "B":
            return [a, PHOTO]
        if self.photo_slot == "A":
            return [PHOTO, b if b.document is not None else a]
        return [a, b] if b.document is not None else [a]

    def _sides(self) -> list:
        """What the view shows now, left to right (flicker: the one shown)."""
        pair = self._pair()
        if self.compare_mode == "off" or len(pair) == 1:
            return [self.slots["A"]]
        if self.compare_mode == "flicker":
            return [pair[1] if self.flicker_show_b else pair[0]]
        return pair

    def _visible_slots(self) -> list[_Slot]:
        return [s for s in self._sides() if s is not PHOTO]

    def current_camera(self) -> Camera:
        """The camera the view shows now, at the widget's size."""
        return self.controller.camera(max(self.width(), 1), max(self.height(), 1))

    def _request_sort(self, slot: _Slot, force: bool = False) -> None:
        cam = self.current_camera()
        if not slot.wants_sort(cam, force):
            return
        if slot.sorter is None:
            name = slot.name
            slot.sorter = BackgroundSorter(lambda order, token, sec, name=name: self._sorted.emit(name, order, token, sec))
        slot.sort_requested(cam)
        slot.sorter.request(slot.prepared.means, cam, self.controller.version)

    def _request_exact_sorts(self) -> None:
        for slot in self._visible_slots():
            if slot.needs_exact_sort(self.controller.version):
                self._request_sort(slot, force=True)

    def _on_sorted(self, name: str, order, version: int, seconds: float) -> None:
        if not self.slots[name].sort_arrived(order, version):
            return  # a sort of a scene that has since been replaced
        self._sort_ms = seconds * 1000.0
        self.update()

    def _camera_moved(self) -> None:
        for slot in self._visible_slots():
            self._request_sort(slot)
        self._compare_stale()
        self._track_photo()
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
            slot.context_created()
        self.frusta = FrustaRenderer(self.ctx)
        self._frusta_pending = True
        self.compositor = CompareCompositor(self.ctx)
        self._photo_uploaded = None  # upload the photo again on this context

    def paintGL(self) -> None:
        if self.ctx is None:
            return
        t0 = time.perf_counter()
        dpr = self.devicePixelRatioF()
        w, h = max(1, round(self.width() * dpr)), max(1, round(self.height() * dpr))
        self.controller.resize(w, h)
        target = self.ctx.detect_framebuffer(self.defaultFramebufferObject())
        for slot in self.slots.values():
            if slot.renderer is None:
                continue
            if slot.take_upload():
                slot.renderer.set_splats(slot.prepared)
                self._content_version += 1
                self._edit_state_pending = self._edit_state_pending or slot.name == "A"
                self.scene_ready.emit(slot.name)
            if slot.name == "A" and self._edit_state_pending and slot.prepared is not None:
                st = self._edit_state
                slot.renderer.set_state(st if st is not None and st.shape[0] == slot.prepared.count else None)
                self._edit_state_pending = False
            order = slot.take_order()
            if order is not None:
                slot.renderer.set_order(order)
        self._upload_photo()
        cam = self.controller.camera(w, h)
        shown = [s for s in self._sides() if s is PHOTO or s.drawable]
        target.use()
        if not shown:
            r, g, b = self.settings.background
            target.clear(r, g, b, 1.0)
        elif len(shown) == 1:
            self._draw_side(shown[0], cam, target)
        elif self.compare_mode == "split":
            split_x = int(round(self.divider * w))
            self._draw_side(shown[0], cam, target, scissor=(0, 0, split_x, h))
            self._draw_side(shown[1], cam, target, scissor=(split_x, 0, w - split_x, h), clear=False)
        elif self.compare_mode == "side":  # each half sees the same camera at half the width
            half = w // 2
            left = self.controller.camera(half, h)
            right = self.controller.camera(w - half, h)
            self._draw_side(shown[0], left, target, viewport=(0, 0, half, h))
            self._draw_side(shown[1], right, target, viewport=(half, 0, w - half, h), clear=False)
        else:
            self._draw_difference(shown, cam, target)
        self._draw_frusta(target, cam, w, h, side=len(shown) == 2 and self.compare_mode == "side")
        self._frame_ms = (time.perf_counter() - t0) * 1000.0
        now = time.perf_counter()
        self._frame_times = [t for t in self._frame_times if now - t < 1.0] + [now]
        self.stats_changed.emit({
            "frame_ms": self._frame_ms,
            "fps": 1000.0 / max(self._frame_ms, 1e-3),
            "sort_ms": self._sort_ms,
            "splats": sum(s.prepared.count for s in shown if s is not PHOTO),
        })  # fmt: skip

    def _draw_side(self, side, cam: Camera, target, scissor=None, clear: bool = True, viewport=None) -> None:
        """One side of the comparison (a scene, or the photo) as SplatRenderer.render draws it."""
        if side is not PHOTO:
            side.renderer.render(cam, target, self.settings, scissor=scissor, clear=clear, viewport=viewport)
            return
        area = viewport if viewport is not None else (0, 0, cam.width, cam.height)
        ready = self._photo_ready()
        self.compositor.draw_photo(target, area, self.settings.background, scissor=scissor, clear=clear,
                                   blank=not ready, rect=self._photo_rect(area) if ready else None)  # fmt: skip

    def _photo_rect(self, area) -> tuple[float, float, float, float]:
        """Where the photo's camera image lies in ``area`` (GL pixels, origin bottom-left), as the
        view fits that camera (CameraController.camera -> Camera.fitted)."""
        ax, ay, aw, ah = area
        x, y, w, h = self.photos.cameras[self._photo_index].image_rect(aw, ah)
        return (ax + x, ay + ah - y - h, w, h)

    def _compared_pixels(self, shown: list, w: int, h: int) -> tuple[int, int, int, int]:
        """The pixels (x0, y0, x1, y1; top-left origin, ends excluded) a difference view compares:
        all of them, or with a photo those whose centre lies on its camera's image."""
        if PHOTO not in shown:
            return (0, 0, w, h)
        x, y, rw, rh = self.photos.cameras[self._photo_index].image_rect(w, h)
        x0, y0 = max(0, math.ceil(x - 0.5)), max(0, math.ceil(y - 0.5))
        x1, y1 = min(w, math.floor(x + rw - 0.5) + 1), min(h, math.floor(y + rh - 0.5) + 1)
        return (x0, y0, x1, y1)

    def _draw_difference(self, shown: list, cam: Camera, target) -> None:
        """|A - B| through the colormap, and its colour bar; when the view is exact and still,
        the two images are read back and measured (compare_metrics_changed)."""
        w, h = cam.width, cam.height
        comp = self.compositor
        if PHOTO in shown and not self._photo_ready():  # nothing to compare with: the notice says why
            target.clear(*self.settings.background, 1.0)
            return
        for i, side in enumerate(shown):
            self._draw_side(side, cam, comp.side_framebuffer(i, w, h))
        x0, y0, x1, y1 = self._compared_pixels(shown, w, h)
        comp.draw_difference(target, self.difference_scale, self.difference_reduce,
                             compared=(x0, h - y1, x1 - x0, y1 - y0))  # fmt: skip
        if self._colorbar_rect is not None:
            dpr = self.devicePixelRatioF()
            x, y, bw, bh = self._colorbar_rect
            comp.draw_colorbar(target, (round(x * dpr), h - round((y + bh) * dpr), round(bw * dpr), round(bh * dpr)))
        key = (self.controller.version, w, h, self._content_version, self._photo_index if PHOTO in shown else None,
               tuple(id(s) for s in shown))  # fmt: skip
        if key != self._metrics_key and self.view_is_exact() and not self.is_busy():
            self._metrics_key = key
            a, b = (np.ascontiguousarray(comp.read_side(i)[y0:y1, x0:x1]) for i in (0, 1))
            self._measure(a, b, key)

    def _measure(self, a: np.ndarray, b: np.ndarray, key) -> None:
        """engine.metrics of the two sides' images, in a worker; the result lands in
        ``compare_metrics`` (and the overlay) if nothing changed meanwhile."""
        from engine import metrics

        self._compare_images = (a, b)
        photo = self.photos.names[self._photo_index] if key[4] is not None else None
        job = workers.start(lambda token: {"mae": metrics.mae(a, b), "psnr": metrics.psnr(a, b)}, self)
        self._metrics_job = job

        def done(result, job=job):
            if self._metrics_job is not job:
                return
            self._metrics_job = None
            if key != self._metrics_key:
                return
            self.compare_metrics = dict(result, width=a.shape[1], height=a.shape[0], photo=photo)
            self._layout_overlays()
            self.compare_metrics_changed.emit(self.compare_metrics)
            self.update()  # the colour bar moves with its caption

        def failed(message, bad, job=job):
            if self._metrics_job is job:
                self._metrics_job = None
            print(f"viewport: could not measure A against B: {message}")

        job.finished.connect(done)
        job.failed.connect(failed)

    def _compare_stale(self) -> None:
        """What the sides show changed: the numbers of the last difference view no longer hold."""
        self._metrics_key = None
        self._compare_images = None
        if self._metrics_job is not None:
            self._metrics_job = None  # its result will be dropped
        if self.compare_metrics is not None:
            self.compare_metrics = None
            self._layout_overlays()
            self.compare_metrics_changed.emit(None)

    # ------------------------------------------------------------------ ground-truth photos
    def _photo_ready(self) -> bool:
        return self._photo_index is not None and self._photo_uploaded == self._photo_index and not self._photo_error

    def _track_photo(self) -> None:
        """Which photo's camera the view looks exactly through (when a side shows photos); start
        loading it when it is not the one at hand."""
        key = (self.controller.version, id(self.photos), self.photo_slot)
        if key == self._photo_key:
            return
        self._photo_key = key
        index = None
        if self.photos is not None and self.photo_slot is not None:
            index = self.photos.index_of_view(self.controller.c2w, self.controller.camera)
        if index != self._photo_index:
            self._photo_index = index
            self._photo_error = ""
            self._content_version += 1
            self._compare_stale()
            self._layout_overlays()
            self.photo_changed.emit(None if index is None else self.photos.names[index])
            self.update()
        if index is None or (self._photo_data is not None and self._photo_data[0] == index):
            return
        if self._photo_job is not None and self._photo_job[0] == index:
            return
        photos = self.photos
        job = workers.start(lambda token: photo_texels(*photos.load(index)), self)
        self._photo_job = (index, job)

        def loaded(texels, job=job):
            if self._photo_job is None or self._photo_job[1] is not job:
                return  # superseded by another camera's photo
            self._photo_job = None
            if photos is self.photos:
                self._photo_data = (index, texels)
                self._photo_uploaded = None
                self._layout_overlays()
                self.update()

        def failed(message, bad, job=job):
            if self._photo_job is not None and self._photo_job[1] is job:
                self._photo_job = None
                self._photo_error = message
                self._layout_overlays()
                self.update()

        job.finished.connect(loaded)
        job.failed.connect(failed)

    def _upload_photo(self) -> None:
        """GL thread: put the loaded photo on the GPU when it is not there yet."""
        if self.compositor is None or self._photo_data is None or self._photo_uploaded == self._photo_data[0]:
            return
        index, texels = self._photo_data
        try:
            self.compositor.set_photo(texels, self.photos.background if self.photos is not None else (1.0, 1.0, 1.0))
        except ValueError as e:  # larger than the GL texture limit
            self._photo_error = str(e)
        self._photo_uploaded = index
        self._content_version += 1
        self._layout_overlays()

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
        self.selection.setGeometry(self.rect())
        self.volumes.setGeometry(self.rect())
        self._compare_stale()
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
            if self.compositor is not None:
                self.compositor.release()
                self.compositor = None
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
        self._content_version += 1
        self._compare_stale()
        self.update()

    def set_difference(self, full_scale: float | None = None, reduce: str | None = None) -> None:
        """The difference heat map's scale: the |A - B| drawn at the top of the colormap (default
        0.25), and how the three channels' errors become one ("mean" or "max")."""
        if full_scale is not None:
            if not full_scale > 0:
                raise ValueError(f"the full-scale value must be positive, not {full_scale!r}")
            self.difference_scale = float(full_scale)
        if reduce is not None:
            if reduce not in REDUCE:
                raise ValueError(f"unknown reduction {reduce!r} (choose from {', '.join(REDUCE)})")
            self.difference_reduce = reduce
        self._layout_overlays()
        self.update()

    def set_photos(self, photos: PhotoSet | None) -> None:
        """The ground-truth photos a side can show (``PhotoSet.from_capture(capture)``); None: none."""
        self.photos = photos
        self._photo_data = None
        self._photo_uploaded = None
        self._photo_index = None
        if self._photo_job is not None:
            self._photo_job = None  # its result will be dropped
        self._photo_key = None
        self._content_version += 1
        self._compare_stale()
        self._track_photo()
        self._layout_overlays()
        self.update()

    def set_photo_slot(self, slot: str | None) -> None:
        """Show the ground-truth photo as side "A" or "B" (None: scenes only). The photo is the
        one whose camera the view looks exactly through; in any other view that side shows
        nothing and says so. Compare with the photo through any compare mode (not "off")."""
        if slot not in (None, "A", "B"):
            raise ValueError(f"the photo goes to side 'A' or 'B' (or None), not {slot!r}")
        self.photo_slot = slot
        self._photo_key = None
        self._content_version += 1
        self._layout_overlays()
        self._camera_moved()  # sorts for a scene that becomes visible; tracks the photo

    def photo_for_view(self) -> int | None:
        """Index (in ``photos``) of the photo whose camera the view looks exactly through, while a
        side shows photos; else None."""
        self._track_photo()
        return self._photo_index

    def compare_images(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The two [H, W, 3] uint8 images (A, B; top row first) the last measured difference view
        compared, or None (not measured yet for this view)."""
        return self._compare_images

    def set_camera(self, cam: Camera) -> None:
        self.controller.set_camera(cam)
        self._camera_moved()

    def set_fov(self, degrees: float) -> None:
        """The vertical field of view, in degrees."""
        self.controller.set_fov(degrees)
        self._camera_moved()

    def frame_box(self, lo, hi) -> None:
        """Look at the axis-aligned box ``lo``..``hi`` (world units) so that it fills the view."""
        self.controller.frame_box(lo, hi)
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
        self.frame_box(centers.min(0), centers.max(0))

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

    def set_edit_state(self, state: np.ndarray | None) -> None:
        """Side A's per-splat edit state (engine.edit.state bits; copied), None: unedited."""
        self._edit_state = None if state is None else np.array(state, dtype=np.uint8, copy=True)
        self._edit_state_pending = True
        self._content_version += 1
        self._compare_stale()
        self.update()

    def front_depth(self, cam: Camera) -> tuple[np.ndarray, np.ndarray] | None:
        """Depth and alpha [H, W] of what side A draws at ``cam`` (SplatRenderer.render_depth),
        or None when A has nothing on the GPU yet."""
        slot = self.slots["A"]
        if self.ctx is None or slot.renderer is None or not slot.drawable or slot.pending_upload:
            return None
        self.makeCurrent()
        try:
            return slot.renderer.render_depth(cam)
        finally:
            self.doneCurrent()

    def grab_image(self) -> QImage:
        """The rendered view (no overlay labels), after any pending upload or sort landed."""
        return self.grabFramebuffer()

    # ------------------------------------------------------------------ input
    def _divider_hit(self, x: int) -> bool:
        return self.compare_mode == "split" and len(self._pair()) == 2 and abs(x - self.divider * self.width()) <= 6

    def mousePressEvent(self, e: QMouseEvent) -> None:
        self.setFocus()
        if self.volumes.press(e) or self.selection.press(e):
            return
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
        if self.volumes.move(e) or self.selection.move(e):
            return
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
        if self.volumes.release(e) or self.selection.release(e):
            return
        self._drag_start = None
        self._drag_kind = ""

    def wheelEvent(self, e: QWheelEvent) -> None:
        if self.volumes.wheel(e):  # Ctrl+wheel sizes a shown volume
            return
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
        elif key == Qt.Key_Home:  # R selects with a rectangle (Edit)
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
