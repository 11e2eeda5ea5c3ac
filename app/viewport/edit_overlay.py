"""The viewport's screen-selection tools: rectangle, lasso and brush, drawn over the GL image while
dragging, handed to the edit controller on release (which calls engine.edit.select); and the
colour picker, whose click hands over the pixel (the splat under it gives "select similar colour").

Holds no algorithm: it collects the shape the mouse draws (widget pixels, which are the pixels of
``Viewport.current_camera()``) and the selection mode the modifiers ask for (Shift add, Ctrl
subtract, Ctrl+Shift intersect, none replace). The viewport hands it the mouse first
(``Viewport.edit_tool``); Alt+drag, the middle and the right button still move the camera.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QWidget

TOOLS = ("rectangle", "lasso", "brush", "pick")
BRUSH_RADIUS = 24.0  # px, the default
BRUSH_LIMITS = (2.0, 400.0)
BRUSH_STEP = 1.25  # [ and ] divide / multiply the radius by this
MIN_LASSO_STEP = 2.0  # px between recorded lasso points


def mode_for(modifiers) -> str:
    """The selection mode the keyboard modifiers of a drag ask for."""
    shift = bool(modifiers & Qt.ShiftModifier)
    ctrl = bool(modifiers & Qt.ControlModifier)
    if shift and ctrl:
        return "intersect"
    if ctrl:
        return "subtract"
    if shift:
        return "add"
    return "replace"


class SelectionOverlay(QWidget):
    """Draws the shape being dragged (and the brush circle under the cursor) over the viewport;
    transparent to the mouse. ``shape_drawn`` (shape, args, mode) fires on release:
    ("rectangle", (x0, y0, x1, y1)), ("polygon", [(x, y), ...]), ("brush", ([(x, y), ...], radius))
    or ("pick", (x, y)) (the pick tool: where the button was released)."""

    shape_drawn = Signal(str, object, str)

    def __init__(self, viewport):
        super().__init__(viewport)
        self.viewport = viewport
        self.setAttribute(Qt.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WA_NoSystemBackground)
        self.tool: str | None = None
        self.brush_radius = BRUSH_RADIUS
        self.points: list[QPointF] = []
        self.dragging = False
        self.cursor_pos: QPointF | None = None
        self.hide()

    # ------------------------------------------------------------------ the tool
    def set_tool(self, tool: str | None) -> None:
        if tool is not None and tool not in TOOLS:
            raise ValueError(f"unknown selection tool {tool!r}")
        self.tool = tool
        self.points, self.dragging = [], False
        self.viewport.setMouseTracking(tool == "brush")  # the brush circle follows the cursor
        self.viewport.setCursor(Qt.CrossCursor if tool else Qt.ArrowCursor)
        self.setGeometry(self.viewport.rect())
        self.setVisible(tool is not None)
        self.update()

    def set_brush_radius(self, radius: float) -> None:
        self.brush_radius = float(min(max(radius, BRUSH_LIMITS[0]), BRUSH_LIMITS[1]))
        self.update()

    # ------------------------------------------------------------------ mouse (from the viewport)
    def press(self, e) -> bool:
        """True when the tool takes this press (a left press without Alt)."""
        if self.tool is None or e.button() != Qt.LeftButton or e.modifiers() & Qt.AltModifier:
            return False
        p = e.position()
        self.points, self.dragging = [p, p], True
        self.cursor_pos = p
        self.setGeometry(self.viewport.rect())
        self.raise_()
        self.update()
        return True

    def move(self, e) -> bool:
        if self.tool is None:
            return False
        p = e.position()
        self.cursor_pos = p
        if not self.dragging:
            if self.tool == "brush":
                self.update()
            return False
        if self.tool in ("rectangle", "pick"):
            self.points[1] = p
        else:
            last = self.points[-1]
            if abs(p.x() - last.x()) + abs(p.y() - last.y()) >= MIN_LASSO_STEP:
                self.points.append(p)
        self.update()
        return True

    def release(self, e) -> bool:
        if self.tool is None or not self.dragging or e.button() != Qt.LeftButton:
            return False
        p = e.position()
        self.dragging = False
        if self.tool in ("rectangle", "pick"):
            self.points[1] = p
        elif p != self.points[-1]:
            self.points.append(p)
        pts = [(q.x(), q.y()) for q in self.points]
        mode = mode_for(e.modifiers())
        self.points = []
        self.update()
        if self.tool == "rectangle":
            (x0, y0), (x1, y1) = pts[0], pts[-1]
            self.shape_drawn.emit("rectangle", (x0, y0, x1, y1), mode)
        elif self.tool == "lasso":
            if len(pts) >= 3:
                self.shape_drawn.emit("polygon", pts, mode)
        elif self.tool == "pick":
            self.shape_drawn.emit("pick", pts[-1], mode)
        else:
            self.shape_drawn.emit("brush", (pts, self.brush_radius), mode)
        return True

    # ------------------------------------------------------------------ drawing
    def paintEvent(self, event) -> None:
        if self.tool is None:
            return
        qp = QPainter(self)
        qp.setRenderHint(QPainter.Antialiasing)
        line = QPen(QColor(255, 160, 40), 1.5, Qt.DashLine)
        fill = QColor(255, 160, 40, 40)
        if self.dragging and self.points and self.tool != "pick":
            if self.tool == "rectangle":
                qp.setPen(line)
                qp.setBrush(fill)
                qp.drawRect(QRectF(self.points[0], self.points[1]).normalized())
            elif self.tool == "lasso":
                qp.setPen(line)
                qp.setBrush(fill)
                qp.drawPolygon(QPolygonF(self.points))
            else:
                path = QPainterPath()
                for p in self.points:
                    path.addEllipse(p, self.brush_radius, self.brush_radius)
                qp.setPen(Qt.NoPen)
                qp.setBrush(QColor(255, 160, 40, 60))
                qp.drawPath(path.simplified())
        if self.tool == "brush" and self.cursor_pos is not None:
            qp.setPen(QPen(QColor(255, 255, 255, 200), 1.0))
            qp.setBrush(Qt.NoBrush)
            qp.drawEllipse(self.cursor_pos, self.brush_radius, self.brush_radius)
        qp.end()
