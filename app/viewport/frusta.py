"""Capture cameras drawn as wireframe frusta over the splats (GL lines through moderngl; no Qt).

Each camera becomes 10 line segments: its centre to the 4 corners of its image plane at depth
``depth``, the image rectangle, and a small triangle above the top edge that shows which way is
up. Training views and test views have their own colours; one camera (the one last looked
through) can be highlighted, drawn last so it stays on top. The lines are projected with the same
pinhole model as the splats (OpenCV axes, fx fy cx cy in pixels) and clipped by GL at a near
plane, so frusta behind or around the viewer draw correctly. Depth test and blending are off:
the overlay sits on top of the splat image and touches nothing else; when there are no cameras
(or the overlay is hidden) nothing is drawn at all.
"""

from __future__ import annotations

import moderngl
import numpy as np

from app.viewport.gl_renderer import _view_uniforms, load_shader
from engine.camera import Camera

TRAIN_COLOR = (0.25, 0.8, 1.0)  # cyan
TEST_COLOR = (1.0, 0.5, 0.1)  # orange
HIGHLIGHT_COLOR = (1.0, 1.0, 0.2)  # yellow
DEPTH_FRACTION = 0.06  # frustum depth as a fraction of the capture's size (its camera spread)
SEGMENTS = 10  # per camera: 4 centre-to-corner, 4 rectangle edges, 2 for the "up" triangle
VERTICES = 2 * SEGMENTS

# image-plane points in units of (width, height): corners clockwise from top-left (OpenCV: v down)
_CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
_UP = np.array([[0.35, 0.0], [0.5, -0.2], [0.65, 0.0]])  # the "up" triangle over the top edge


def frustum_lines(cameras: list[Camera], depth: float) -> np.ndarray:
    """World-space end points of every camera's segments: float32 [len(cameras) * VERTICES, 3]."""
    out = np.zeros((len(cameras), VERTICES, 3), np.float64)
    for k, cam in enumerate(cameras):
        uv = np.concatenate([_CORNERS, _UP]) * (cam.width, cam.height)  # [7, 2] pixels
        d = np.stack([(uv[:, 0] - cam.cx) / cam.fx, (uv[:, 1] - cam.cy) / cam.fy, np.ones(len(uv))], 1)
        pts = (d * depth) @ cam.camera_to_world[:3, :3].T + cam.camera_to_world[:3, 3]  # [7, 3]
        c = cam.center
        corners, up = pts[:4], pts[4:]
        segs = [(c, corners[i]) for i in range(4)]
        segs += [(corners[i], corners[(i + 1) % 4]) for i in range(4)]
        segs += [(up[0], up[1]), (up[1], up[2])]
        out[k] = np.array(segs).reshape(VERTICES, 3)
    return out.reshape(-1, 3).astype(np.float32)


def frustum_depth(cameras: list[Camera]) -> float:
    """A depth proportional to the capture's size: DEPTH_FRACTION of the spread of the camera
    centres (their largest distance from the mean), or of the scene radius 1 for a single view."""
    if not cameras:
        return 1.0
    centers = np.stack([c.center for c in cameras])
    spread = float(np.linalg.norm(centers - centers.mean(0), axis=1).max())
    return DEPTH_FRACTION * (spread if spread > 1e-9 else 1.0)


class FrustaRenderer:
    """Create, use and release on the thread where ``ctx`` is current (like SplatRenderer)."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self._prog = ctx.program(vertex_shader=load_shader("frusta_vert.glsl"),
                                 fragment_shader=load_shader("frusta_frag.glsl"))  # fmt: skip
        self._vbo: moderngl.Buffer | None = None
        self._vao: moderngl.VertexArray | None = None
        self.count = 0  # cameras uploaded
        self.highlight: int | None = None

    def set_frusta(self, cameras: list[Camera], splits: list[str], depth: float) -> None:
        """Upload the frusta of ``cameras``; ``splits[i]`` is "test" for held-out views."""
        self._release_buffers()
        self.count = len(cameras)
        if not cameras:
            return
        pos = frustum_lines(cameras, depth)
        col = np.repeat(np.array([TEST_COLOR if s == "test" else TRAIN_COLOR for s in splits], np.float32), VERTICES, 0)
        data = np.ascontiguousarray(np.concatenate([pos, col], 1), np.float32)
        self._vbo = self.ctx.buffer(data.tobytes())
        self._vao = self.ctx.vertex_array(self._prog, [(self._vbo, "3f 3f", "in_pos", "in_color")])

    def set_highlight(self, index: int | None) -> None:
        self.highlight = index

    def render(self, camera: Camera, target: moderngl.Framebuffer, viewport: tuple[int, int, int, int] | None = None) -> None:
        """Draw the lines seen by ``camera`` into ``target`` (or its ``viewport`` rectangle, whose
        size must be the camera's) over what is there. Leaves the target bound."""
        if self._vao is None:
            return
        w, h = int(camera.width), int(camera.height)
        vx, vy = (0, 0) if viewport is None else (int(viewport[0]), int(viewport[1]))
        target.viewport = (vx, vy, w, h)
        target.scissor = None
        target.use()
        self.ctx.enable_only(moderngl.NOTHING)  # no depth test, no blending: lines on top
        u = _view_uniforms(camera)
        for name in ("u_view_rot", "u_view_t", "u_intrinsics", "u_size"):
            self._prog[name].value = u[name]
        self._prog["u_override"].value = (0.0, 0.0, 0.0, 0.0)
        self._vao.render(moderngl.LINES, vertices=self.count * VERTICES)
        if self.highlight is not None and 0 <= self.highlight < self.count:
            self._prog["u_override"].value = (*HIGHLIGHT_COLOR, 1.0)
            self._vao.render(moderngl.LINES, vertices=VERTICES, first=self.highlight * VERTICES)

    def _release_buffers(self) -> None:
        for obj in (self._vao, self._vbo):
            if obj is not None:
                obj.release()
        self._vao = self._vbo = None
        self.count = 0

    def release(self) -> None:
        self._release_buffers()
        self._prog.release()
