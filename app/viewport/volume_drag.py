"""The Edit panel's sphere and box volumes drawn over the viewport, moved and sized with the mouse.

Holds no algorithm: the outline, the handles, what a drag or a wheel step does to the numbers are
engine.edit.volume's (pure functions of the volume and the camera); this widget draws them and
turns mouse events into calls.

- A left drag on a volume's centre dot (white; or on its outline) moves it in the plane through
  its centre parallel to the screen; on a size handle (a box's face dots, red x, green y, blue z;
  a sphere's rim dot) it sizes it; Ctrl+wheel over the viewport sizes the volume last touched
  about its centre. While a selection tool is on, only the dots grab.
- ``changed`` (kind, values) fires on every step (the panel's numbers follow live), ``finished``
  on release. Alt+drag, the middle and the right button still move the camera.
"""

from __future__ import annotations

from PySide6.QtCore import QLineF, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QWidget

from engine.camera import project_points
from engine.edit import volume

COLOURS = {"sphere": QColor(110, 220, 140), "box": QColor(90, 190, 255)}
AXIS_COLOURS = {"x": QColor(235, 85, 85), "y": QColor(110, 205, 90), "z": QColor(80, 130, 255)}  # a box's face dots
HANDLE_RADIUS = 5.0  # px (the centre dot is larger)
PICK_TOLERANCE = 9.0  # px around a handle or the outline
WHEEL_STEP = 1.1  # Ctrl+wheel: one notch sizes by this factor


class VolumeOverlay(QWidget):
    """Draws the shown volumes over the viewport; transparent to the mouse (the viewport hands it
    presses, moves, releases and wheel events first)."""

    changed = Signal(str, dict)  # kind, values (engine.edit.volume's dict) while dragging or sizing
    finished = Signal(str, dict)  # kind, values when a drag ends

    def __init__(self, viewport, camera=None):
        super().__init__(viewport)
        self.viewport = viewport
        self.camera = camera or viewport.current_camera  # () -> engine Camera in widget pixels
        self.setAttribute(Qt.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WA_NoSystemBackground)
        self.volumes: dict[str, dict] = {}  # shown volumes, kind -> values
        self.active: str | None = None  # the volume last touched (Ctrl+wheel sizes it)
        self._drag: tuple[str, str, dict, QPointF] | None = None  # kind, handle, values at the press, press position
        viewport.camera_changed.connect(self.update)
        self.hide()

    # ------------------------------------------------------------------ what is shown
    def set_volume(self, kind: str, values: dict | None) -> None:
        """Show volume ``kind`` with ``values`` (None: hide it)."""
        if values is None:
            self.volumes.pop(kind, None)
            if self._drag is not None and self._drag[0] == kind:
                self._drag = None
        else:
            self.volumes[kind] = dict(values)
        if self.active not in self.volumes:
            self.active = next(iter(self.volumes), None)
        self.setGeometry(self.viewport.rect())
        self.setVisible(bool(self.volumes))
        self.update()

    @property
    def dragging(self) -> bool:
        return self._drag is not None

    def hit(self, x: float, y: float) -> tuple[str, str] | None:
        """(kind, handle) of the shown volume part nearest to widget pixel (x, y), or None. While
        a selection tool is on only the dots grab (a shape may start on an outline)."""
        cam, best = self.camera(), None
        outline = self.viewport.selection.tool is None
        for kind, values in self.volumes.items():
            got = volume.pick(kind, values, cam, x, y, PICK_TOLERANCE, outline_moves=outline)
            if got is not None and (best is None or got[1] < best[2]):
                best = (kind, got[0], got[1])
        return None if best is None else best[:2]

    # ------------------------------------------------------------------ mouse (from the viewport)
    def press(self, e) -> bool:
        """True when the press grabs a volume (a left press without Alt on a handle or outline)."""
        if not self.volumes or e.button() != Qt.LeftButton or e.modifiers() & Qt.AltModifier:
            return False
        p = e.position()
        got = self.hit(p.x(), p.y())
        if got is None:
            return False
        kind, handle = got
        self._drag = (kind, handle, dict(self.volumes[kind]), p)
        self.active = kind
        self.viewport.setCursor(Qt.SizeAllCursor if handle == "center" else Qt.SizeFDiagCursor)
        self.update()
        return True

    def move(self, e) -> bool:
        if self._drag is None:
            return False
        kind, handle, start, p0 = self._drag
        p = e.position()
        values = volume.drag(kind, start, handle, self.camera(), p.x() - p0.x(), p.y() - p0.y())
        self.volumes[kind] = values
        self.update()
        self.changed.emit(kind, values)
        return True

    def release(self, e) -> bool:
        if self._drag is None or e.button() != Qt.LeftButton:
            return False
        kind = self._drag[0]
        self._drag = None
        self.viewport.setCursor(Qt.CrossCursor if self.viewport.selection.tool else Qt.ArrowCursor)
        self.update()
        self.finished.emit(kind, dict(self.volumes[kind]))
        return True

    def wheel(self, e) -> bool:
        """Ctrl+wheel sizes the active volume about its centre; True when taken."""
        if not self.volumes or not e.modifiers() & Qt.ControlModifier:
            return False
        steps = e.angleDelta().y() / 120.0
        if not steps:
            return True
        kind = self.active if self.active in self.volumes else next(iter(self.volumes))
        values = volume.scaled(kind, self.volumes[kind], WHEEL_STEP**steps)
        self.volumes[kind] = values
        self.update()
        self.changed.emit(kind, values)
        self.finished.emit(kind, dict(values))
        return True

    # ------------------------------------------------------------------ drawing
    def paintEvent(self, event) -> None:
        if not self.volumes:
            return
        cam = self.camera()
        qp = QPainter(self)
        qp.setRenderHint(QPainter.Antialiasing)
        grabbed = self._drag[:2] if self._drag is not None else None
        for kind, values in self.volumes.items():
            colour = QColor(COLOURS[kind])
            width = 2.0 if kind == self.active else 1.25
            qp.setPen(QPen(colour, width))
            segments = volume.project_segments(cam, volume.outline(kind, values, cam))  # [K, 2, 2] pixels
            qp.drawLines([QLineF(a[0], a[1], b[0], b[1]) for a, b in segments])
            handles = volume.handles(kind, values, cam)
            uv, z = project_points(cam, list(handles.values()))  # [H, 2] pixels, [H] depths
            for name, (u, v), depth in zip(handles, uv, z):
                if not depth > volume.NEAR:
                    continue
                hot = grabbed == (kind, name)
                fill = QColor(255, 255, 255) if name == "center" else AXIS_COLOURS.get(name[-1], colour)
                qp.setPen(QPen(QColor(20, 20, 20), 1.0))
                qp.setBrush(QColor(255, 200, 60) if hot else fill)
                r = HANDLE_RADIUS + (1.5 if name == "center" else 0.0) + (1.5 if hot else 0.0)
                qp.drawEllipse(QPointF(u, v), r, r)
        qp.end()
