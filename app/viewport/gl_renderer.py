"""The viewport's OpenGL splat renderer (EWA splatting as in 3DGS, arXiv 2308.04079 §4), matching ``engine.render.render``.

No Qt here: it draws with any moderngl context, a QOpenGLWidget's or a standalone EGL one.

Pipeline per frame:

1. ``prepare_splats`` (any thread, no GL): activations, 3D covariances and SH coefficients packed
   into float texture payloads (§6.1).
2. ``SplatRenderer.set_splats`` (GL thread): uploads them to RGBA32F textures (read with
   texelFetch by splat index), once per scene.
3. ``SplatRenderer.set_order`` (GL thread): uploads the near-to-far order from
   ``app.viewport.sorting`` into the order buffer, once per sort.
   ``SplatRenderer.set_state`` (GL thread): the per-splat edit state of engine.edit (a uint8 bit
   field: 1 selected, 2 hidden, 4 deleted) into an R8UI texture, once per edit. Selected splats
   are drawn mixed with orange; hidden and deleted ones are left out of the uploaded order (and
   culled by the vertex shader too).
4. ``SplatRenderer.render``: the order buffer is the *index buffer* of a GL_POINTS draw, so vertex
   k is splat order[k] (gl_VertexID) and the vertex shader runs once per splat; a geometry shader
   expands each visible splat into a quad (or, when small, one circumscribed triangle). Fragments
   accumulate into a float buffer with "under" blending (ONE_MINUS_DST_ALPHA, ONE: equals the
   engine's sum c alpha T, §6.4); a full-screen pass then composites C + (1 - A) bg into the target,
   inside the scissor rectangle.

Why points + geometry shader rather than instanced quads: llvmpipe runs its (single-threaded)
vertex pipeline once per instance and would shade all 4 corners of every splat; on the bonsai
scene at 1280x720 this draw is ~1.4x faster than non-instanced indexed quads and faster still than
instancing (measured while writing this; the benchmark is tests/bench/bench_viewport.py). GL 3.3 core has geometry shaders (macOS 4.1 too).

The vertex shader repeats engine/render/projection.py step for step (guard-band clamp, Jacobian
with fx, fy in pixels, 0.3 px^2 dilation, antialiasing compensation, opacity-aware extent); the
fragment shader evaluates alpha = min(ALPHA_MAX, o exp(-sigma)) with the true conic and discards alpha
< 1/255 like engine/render/composite.py, and the polygon covers the whole alpha >= 1/255 ellipse,
so the GL image has exactly the engine's footprints.

GL state: ``render`` sets every piece of state it relies on (viewport, scissor, blending, depth
test off, face culling off, program point size) and leaves the target framebuffer bound, so it can
run inside a QOpenGLWidget's paintGL whose other code changes state between frames.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import moderngl
import numpy as np
import torch

from engine.camera import Camera
from engine.render.projection import ALPHA_MAX, covariance_3d
from engine.resources import resource_path
from engine.scene import GaussianScene

MODES = ("color", "depth", "points", "ellipses")
_MODE_IDS = {"color": 0, "depth": 1, "points": 2, "ellipses": 3}
_DEPTH_VALUES = 4  # the splat program's mode for render_depth: colour = camera-space depth
GONE = 6  # engine.edit.state HIDDEN | DELETED: not drawn
GEOM_TEXELS = 3  # (mean.xyz, opacity), (s00 s01 s02 s11), (s12 s22 0 0)
SH_STRIDES = {0: 1, 1: 3, 2: 7, 3: 12}  # RGBA texels for (d+1)^2 RGB coefficients
TEX_WIDTH = 4096  # texels per texture row (a power of two; widened for huge scenes)
ACCUM_DTYPE = "f4"  # RGBA32F accumulation: RGBA16F and RGBA8 measured no faster on llvmpipe
DEPTH_SAMPLE = 65536  # splats sampled to find the visible depth range in "depth" mode


@dataclass
class DisplaySettings:
    mode: str = "color"  # "color" | "depth" | "points" | "ellipses"
    splat_scale: float = 1.0  # multiplies every splat's scales
    sh_degree_limit: int = 3  # evaluate SH bands up to this degree
    background: tuple[float, float, float] = (0.0, 0.0, 0.0)
    antialiased: bool | None = None  # None: from the scene's meta["antialiased"]
    point_size: float = 3.0  # "points" mode, in pixels


@dataclass
class PreparedSplats:
    """Texture payloads for one scene, built off the GUI thread (no GL)."""

    count: int
    sh_degree: int
    antialiased: bool
    means: np.ndarray  # [N, 3] float32 (for sorting)
    geom: np.ndarray  # [N * 3, 4] float32: (mean, opacity), covariance 6 values, 2 pad
    sh: np.ndarray  # [N * S, 4] float32, S = SH_STRIDES[sh_degree]: RGB coefficients, DC first
    sh_stride: int
    depth_sample: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.float32))  # [M, 3]
    scene_scale: float = 1.0  # robust diameter of the means (for view_changed_enough)


def _pack_sh(sh: np.ndarray) -> tuple[np.ndarray, int]:
    """[N, K, 3] coefficients -> ([N * S, 4] texels, S): 3K floats per splat padded to 4S."""
    n, k, _ = sh.shape
    degree = int(round(math.sqrt(k))) - 1
    stride = SH_STRIDES[degree]
    out = np.zeros((n, stride * 4), np.float32)
    out[:, : 3 * k] = sh.reshape(n, 3 * k)
    return out.reshape(n * stride, 4), stride


def _pack_geom(means: np.ndarray, opac: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """means [N, 3], opacities [N], covariances [N, 3, 3] -> [N * 3, 4] texels."""
    n = means.shape[0]
    g = np.zeros((n, 12), np.float32)
    g[:, 0:3] = means
    g[:, 3] = opac
    g[:, 4:8] = cov[:, [0, 0, 0, 1], [0, 1, 2, 1]]
    g[:, 8:10] = cov[:, [1, 2], [2, 2]]
    return g.reshape(n * GEOM_TEXELS, 4)


@torch.no_grad()
def prepare_splats(scene: GaussianScene) -> PreparedSplats:
    """Activate and pack a scene for upload. Pure numpy/torch: thread-safe."""
    g = scene.detach().to("cpu").activated()
    means = g.means.float().contiguous()
    cov = covariance_3d(g.quats.float(), g.scales.float())  # [N, 3, 3], the engine's own formula
    means_np = means.numpy().copy()  # a snapshot: training may update the scene in place
    geom = _pack_geom(means_np, g.opacities.float().numpy(), cov.numpy())
    sh, stride = _pack_sh(g.sh.float().numpy())
    step = max(1, scene.count // DEPTH_SAMPLE)
    sample = np.ascontiguousarray(means_np[::step])
    scale = 1.0
    if scene.count:
        lo, hi = np.percentile(sample, [2.0, 98.0], axis=0)
        scale = max(float(np.linalg.norm(hi - lo)), 1e-6)
    return PreparedSplats(
        count=scene.count,
        sh_degree=scene.sh_degree,
        antialiased=bool(scene.meta.get("antialiased", False)),
        means=means_np,
        geom=geom,
        sh=sh,
        sh_stride=stride,
        depth_sample=sample,
        scene_scale=scale,
    )


def load_shader(name: str) -> str:
    """GLSL source from resources/shaders, with ``#include "file"`` lines expanded."""
    src = resource_path("shaders", name).read_text(encoding="utf-8")
    return re.sub(r'^#include "([^"]+)"\s*$', lambda m: load_shader(m.group(1)), src, flags=re.M)


def _texture_width(texels: int, max_size: int) -> int:
    """A power-of-two row width (from TEX_WIDTH up) with which ``texels`` RGBA values fit the limit."""
    width = min(TEX_WIDTH, max_size)
    while width < max_size and -(-texels // width) > max_size:
        width *= 2
    if width > max_size or -(-texels // width) > max_size:
        raise ValueError(f"{texels} texels do not fit a {max_size}x{max_size} texture")
    return width


def _write_rows(tex: moderngl.Texture, data: np.ndarray) -> None:
    """Write ``data`` [T, C] row-major into ``tex`` from texel 0: full rows, then the rest."""
    width = tex.width
    full, rem = divmod(data.shape[0], width)
    if full:
        tex.write(np.ascontiguousarray(data[: full * width]), viewport=(0, 0, width, full))
    if rem:
        tex.write(np.ascontiguousarray(data[full * width :]), viewport=(0, full, rem, 1))


def _data_texture(ctx: moderngl.Context, texels: int, width: int, components: int, dtype: str) -> moderngl.Texture:
    """A NEAREST, unmipmapped texture with room for ``texels`` values in rows of ``width``."""
    tex = ctx.texture((width, max(1, -(-texels // width))), components, dtype=dtype)
    tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
    return tex


def _view_uniforms(camera: Camera) -> dict:
    w2c = camera.world_to_camera
    return {
        "u_view_rot": tuple(w2c[:3, :3].T.ravel()),  # GLSL mat3 is column-major
        "u_view_t": tuple(w2c[:3, 3]),
        "u_cam_pos": tuple(camera.center),
        "u_intrinsics": (camera.fx, camera.fy, camera.cx, camera.cy),
        "u_size": (float(camera.width), float(camera.height)),
    }


def visible_depth_range(sample: np.ndarray, camera: Camera) -> tuple[float, float]:
    """(near, far) camera-space depths of the sampled splats in front of and inside the view:
    1st to 99th percentile, for the "depth" colormap."""
    if sample.shape[0] == 0:
        return 0.0, 1.0
    w2c = camera.world_to_camera
    t = sample.astype(np.float64) @ w2c[:3, :3].T + w2c[:3, 3]  # [M, 3]
    z = t[:, 2]
    front = z > 0.01
    u = camera.fx * t[front, 0] / z[front] + camera.cx
    v = camera.fy * t[front, 1] / z[front] + camera.cy
    inside = (u >= 0) & (u < camera.width) & (v >= 0) & (v < camera.height)
    zs = z[front][inside]
    if zs.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(zs, [1.0, 99.0])
    return float(lo), float(max(hi, lo + 1e-6))


def _intersect(scissor, area: tuple[int, int, int, int]) -> tuple[int, int, int, int] | None:
    """The scissor rectangle (x, y, w, h) cut to ``area``; ``area`` itself for no scissor; None
    when empty."""
    ax, ay, aw, ah = area
    x, y, sw, sh = area if scissor is None else (int(v) for v in scissor)
    x0, y0, x1, y1 = max(x, ax), max(y, ay), min(x + sw, ax + aw), min(y + sh, ay + ah)
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1 - x0, y1 - y0)


class SplatRenderer:
    """Draws prepared splats with a moderngl context. Create, use and release
    it on the thread where ``ctx`` is current (Qt: inside initializeGL/paintGL, or after
    makeCurrent()). One renderer holds one scene; an A/B view uses two on one context."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self.max_texture_size = int(ctx.info["GL_MAX_TEXTURE_SIZE"])
        self._splat_prog = ctx.program(vertex_shader=load_shader("splat_vert.glsl"),
                                       geometry_shader=load_shader("splat_geom.glsl"),
                                       fragment_shader=load_shader("splat_frag.glsl"))  # fmt: skip
        self._points_prog = ctx.program(vertex_shader=load_shader("points_vert.glsl"),
                                        fragment_shader=load_shader("points_frag.glsl"))  # fmt: skip
        self._comp_prog = ctx.program(vertex_shader=load_shader("composite_vert.glsl"),
                                      fragment_shader=load_shader("composite_frag.glsl"))  # fmt: skip
        self._comp_vao = ctx.vertex_array(self._comp_prog, [])
        self._prepared: PreparedSplats | None = None
        self._geom_tex: moderngl.Texture | None = None
        self._sh_tex: moderngl.Texture | None = None
        self._order_buf: moderngl.Buffer | None = None  # uint32 [N]: splat indices near to far
        self._tex_shift = 0
        self._order_len = 0
        self._splat_vao: moderngl.VertexArray | None = None
        self._points_vao: moderngl.VertexArray | None = None
        self._accum_tex: moderngl.Texture | None = None
        self._accum_fbo: moderngl.Framebuffer | None = None
        self._state_tex: moderngl.Texture | None = None  # R8UI [N]: edit state bits
        self._state: np.ndarray | None = None  # uint8 [N] uploaded, None: all zero
        self._full_order: np.ndarray | None = None  # the last order given, before hidden splats are dropped

    # ------------------------------------------------------------------ data
    @property
    def count(self) -> int:
        return 0 if self._prepared is None else self._prepared.count

    @property
    def prepared(self) -> PreparedSplats | None:
        return self._prepared

    def set_splats(self, prepared: PreparedSplats | None) -> None:
        """Upload a scene's payloads (GL thread); None clears. The order resets to identity until
        ``set_order`` is called."""
        self._release_splats()
        if prepared is None or prepared.count == 0:
            self._prepared = prepared
            return
        n = prepared.count
        width = _texture_width(max(prepared.geom.shape[0], prepared.sh.shape[0]), self.max_texture_size)
        self._tex_shift = width.bit_length() - 1
        self._geom_tex = _data_texture(self.ctx, prepared.geom.shape[0], width, 4, "f4")
        self._sh_tex = _data_texture(self.ctx, prepared.sh.shape[0], width, 4, "f4")
        _write_rows(self._geom_tex, prepared.geom)
        _write_rows(self._sh_tex, prepared.sh)
        self._state_tex = _data_texture(self.ctx, n, width, 1, "u1")
        _write_rows(self._state_tex, np.zeros((n, 1), np.uint8))
        self._state = None
        self._order_buf = self.ctx.buffer(reserve=4 * n, dynamic=True)
        self._splat_vao = self.ctx.vertex_array(self._splat_prog, [], index_buffer=self._order_buf,
                                                index_element_size=4)  # fmt: skip
        self._points_vao = self.ctx.vertex_array(self._points_prog, [], index_buffer=self._order_buf,
                                                 index_element_size=4)  # fmt: skip
        self._prepared = prepared
        self.set_order(np.arange(prepared.count, dtype=np.uint32))

    def set_order(self, order: np.ndarray) -> None:
        """Upload the draw order (GL thread): uint32 [M] splat indices near to far, M <= count
        (splats left out are not drawn)."""
        if self._order_buf is None:
            return
        order = np.ascontiguousarray(order, dtype=np.uint32)
        n = self._prepared.count
        if order.ndim != 1 or order.shape[0] > n or (order.shape[0] and int(order.max()) >= n):
            raise ValueError(f"order must be 1-D with at most {n} indices below {n}, got shape {order.shape}")
        self._full_order = order
        if self._state is not None:
            order = order[(self._state[order] & GONE) == 0]  # hidden and deleted splats are not drawn
        if order.shape[0]:
            self._order_buf.write(np.ascontiguousarray(order))
        self._order_len = int(order.shape[0])

    def set_state(self, state: np.ndarray | None) -> None:
        """Upload the per-splat edit state (GL thread): uint8 [N] bits of engine.edit.state
        (1 selected: tinted, 2 hidden / 4 deleted: not drawn); None: an unedited scene."""
        if self._state_tex is None:
            return
        n = self._prepared.count
        if state is not None:
            state = np.ascontiguousarray(state, dtype=np.uint8)
            if state.shape != (n,):
                raise ValueError(f"state must have shape ({n},), got {state.shape}")
        was = self._state
        self._state = None if state is None or not state.any() else state.copy()
        _write_rows(self._state_tex, (self._state if self._state is not None else np.zeros(n, np.uint8)).reshape(n, 1))
        if self._full_order is not None and (was is not None or self._state is not None):
            self.set_order(self._full_order)  # the drawn order drops the splats now hidden

    # ------------------------------------------------------------------ drawing
    def render(
        self,
        camera: Camera,
        target: moderngl.Framebuffer,
        settings: DisplaySettings | None = None,
        scissor: tuple[int, int, int, int] | None = None,
        clear: bool = True,
        viewport: tuple[int, int, int, int] | None = None,
    ) -> None:
        """Draw the splats seen by ``camera`` into ``target``.

        The image (camera.width x camera.height pixels) fills the whole target, or the rectangle
        ``viewport`` = (x, y, w, h) of it when given (w, h must be the camera's size; e.g. side by
        side views). ``scissor`` = (x, y, w, h) limits drawing to that rectangle (e.g. the halves
        of an A/B split view). Both are in GL window coordinates of the target: pixels, origin
        bottom-left. ``clear`` first fills the whole target with the background; ``clear=False``
        leaves every pixel outside the scissor and viewport rectangles untouched. The target is left
        bound."""
        s = settings or DisplaySettings()
        if s.mode not in _MODE_IDS:
            raise ValueError(f"unknown display mode {s.mode!r} (choose from {', '.join(MODES)})")
        w, h = int(camera.width), int(camera.height)
        vx, vy = 0, 0
        if viewport is not None:
            vx, vy, vw, vh = (int(v) for v in viewport)
            if (vw, vh) != (w, h):
                raise ValueError(f"viewport {vw}x{vh} differs from the camera's {w}x{h} image")
        bg = tuple(float(c) for c in s.background)
        rect = _intersect(scissor, (vx, vy, w, h))  # target coordinates
        drawn = rect is not None and self._order_len > 0 and self._geom_tex is not None
        self.ctx.enable_only(moderngl.NOTHING)
        self.ctx.blend_equation = moderngl.FUNC_ADD
        if drawn:
            self._accumulate(camera, s, (rect[0] - vx, rect[1] - vy, rect[2], rect[3]))
        target.viewport = (vx, vy, w, h)
        target.scissor = None
        target.use()
        if clear:
            target.clear(*bg, 1.0)
        if rect is None:
            return
        target.scissor = rect
        target.use()
        if drawn:
            self.ctx.enable_only(moderngl.NOTHING)
            self._accum_tex.use(0)
            self._set(self._comp_prog, u_accum=0, u_background=bg, u_offset=(vx, vy))
            self._comp_vao.render(moderngl.TRIANGLES, vertices=3)
        else:
            target.clear(*bg, 1.0, viewport=rect)
        target.scissor = None

    def render_depth(self, camera: Camera) -> tuple[np.ndarray, np.ndarray]:
        """The expected camera-space depth [H, W] (inf where nothing is drawn) and the alpha
        [H, W] of the drawn splats (hidden and deleted ones left out), top row first, at the
        camera's size: what the view shows, for engine.edit.select.front_layer (the engine's own
        render_depth, in GL). Uses the current order (sort it for ``camera`` first). GL thread."""
        w, h = int(camera.width), int(camera.height)
        if self._order_len == 0 or self._geom_tex is None:
            return np.full((h, w), np.inf, np.float32), np.zeros((h, w), np.float32)
        self.ctx.enable_only(moderngl.NOTHING)
        self.ctx.blend_equation = moderngl.FUNC_ADD
        self._accumulate(camera, DisplaySettings(), (0, 0, w, h), mode_id=_DEPTH_VALUES)
        acc = np.frombuffer(self._accum_tex.read(), dtype=np.float32).reshape(h, w, 4)[::-1]
        alpha = np.ascontiguousarray(acc[..., 3])
        with np.errstate(divide="ignore", invalid="ignore"):
            depth = np.where(alpha > 1e-6, acc[..., 0] / alpha, np.inf).astype(np.float32)
        return depth, alpha

    def _accumulate(self, camera: Camera, s: DisplaySettings, rect: tuple[int, int, int, int],
                    mode_id: int | None = None) -> None:  # fmt: skip
        """Splats (or points) into the float accumulation buffer, near to far, "under" (§6.4)."""
        ctx, p = self.ctx, self._prepared
        fbo = self._accum_framebuffer(camera.width, camera.height)
        fbo.viewport = (0, 0, camera.width, camera.height)
        fbo.scissor = rect
        fbo.use()
        fbo.clear(0.0, 0.0, 0.0, 0.0, viewport=rect)
        ctx.enable_only(moderngl.BLEND | moderngl.PROGRAM_POINT_SIZE)
        ctx.blend_func = moderngl.ONE_MINUS_DST_ALPHA, moderngl.ONE
        antialiased = p.antialiased if s.antialiased is None else bool(s.antialiased)
        common = dict(
            _view_uniforms(camera),
            u_geom=0, u_sh=1, u_state=2, u_tex_shift=self._tex_shift, u_sh_stride=p.sh_stride,
            u_sh_degree=max(0, min(int(s.sh_degree_limit), p.sh_degree)),
            u_scale2=float(s.splat_scale) ** 2, u_antialiased=antialiased,
        )  # fmt: skip
        self._geom_tex.use(0)
        self._sh_tex.use(1)
        self._state_tex.use(2)
        if s.mode == "points" and mode_id is None:
            self._set(self._points_prog, **common, u_point_size=float(s.point_size))
            self._points_vao.render(moderngl.POINTS, vertices=self._order_len)
        else:
            depth_range = visible_depth_range(p.depth_sample, camera) if s.mode == "depth" else (0.0, 1.0)
            mode = _MODE_IDS[s.mode] if mode_id is None else mode_id
            self._set(self._splat_prog, **common, u_mode=mode, u_depth_range=depth_range, u_alpha_max=ALPHA_MAX)
            self._splat_vao.render(moderngl.POINTS, vertices=self._order_len)
        fbo.scissor = None

    @staticmethod
    def _set(prog: moderngl.Program, **uniforms) -> None:
        for name, value in uniforms.items():
            if name in prog:  # the GLSL compiler drops unused uniforms
                prog[name].value = value

    def _accum_framebuffer(self, w: int, h: int) -> moderngl.Framebuffer:
        if self._accum_tex is None or self._accum_tex.size != (w, h):
            self._release_accum()
            self._accum_tex = self.ctx.texture((w, h), 4, dtype=ACCUM_DTYPE)
            self._accum_tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
            self._accum_fbo = self.ctx.framebuffer(color_attachments=[self._accum_tex])
        return self._accum_fbo

    # ------------------------------------------------------------------ cleanup
    def _release_splats(self) -> None:
        for obj in (self._splat_vao, self._points_vao, self._order_buf, self._geom_tex, self._sh_tex, self._state_tex):
            if obj is not None:
                obj.release()
        self._splat_vao = self._points_vao = self._order_buf = None
        self._geom_tex = self._sh_tex = self._state_tex = None
        self._state = self._full_order = None
        self._order_len = 0
        self._prepared = None

    def _release_accum(self) -> None:
        for obj in (self._accum_fbo, self._accum_tex):
            if obj is not None:
                obj.release()
        self._accum_fbo = self._accum_tex = None

    def release(self) -> None:
        """Free every GL object (GL thread, context current). The renderer is unusable after."""
        self._release_splats()
        self._release_accum()
        for obj in (self._comp_vao, self._splat_prog, self._points_prog, self._comp_prog):
            obj.release()
