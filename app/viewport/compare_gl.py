"""GL passes of the A/B compare that are not splat drawing: a capture's photo as one side, and the
difference heat map of the two sides with its colour bar. No Qt here (like gl_renderer): any
moderngl context, the viewport's or a standalone EGL one.

- ``draw_photo``: the photo stretched onto the rectangle where its camera's image lies in the view
  (``engine.camera.Camera.image_rect``, as ``Camera.fitted`` maps the intrinsics there), the
  background around it (resources/shaders/photo_frag.glsl).
- Difference: each side is first drawn into its own RGBA8 framebuffer at the target's size
  (``side_framebuffer``; the same 8-bit image split or flicker would show), then
  ``draw_difference`` maps |A - B| through the inferno colormap (difference_frag.glsl), and
  ``read_side`` reads those same images back for the numbers (engine.metrics).
"""

from __future__ import annotations

import math

import moderngl
import numpy as np

from app.viewport.gl_renderer import load_shader

REDUCE = ("mean", "max")  # how |A - B| of the three channels becomes one value per pixel
DEFAULT_FULL_SCALE = 0.25  # |A - B| shown at the top of the colormap


def format_psnr(db: float) -> str:
    """A PSNR for display: "31.42 dB", or "∞ dB (identical)" (engine.metrics: inf for equal images)."""
    return "∞ dB (identical)" if math.isinf(db) else f"{db:.2f} dB"


def photo_texels(rgb: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    """[H, W, 3] colour (+ [H, W] alpha, or none: opaque) -> [H, W, 4] float16 texels, bottom
    row first as GL textures are addressed. Pure numpy: run it off the GUI thread."""
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"a photo is [H, W, 3], got shape {rgb.shape}")
    out = np.ones((*rgb.shape[:2], 4), np.float16)
    out[..., :3] = rgb
    if alpha is not None:
        out[..., 3] = np.asarray(alpha).reshape(rgb.shape[:2])
    return np.ascontiguousarray(out[::-1])


class CompareCompositor:
    """Photo, difference and colour-bar passes on one context (GL thread, context current)."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self.max_texture_size = int(ctx.info["GL_MAX_TEXTURE_SIZE"])
        vert = load_shader("composite_vert.glsl")
        self._progs = {name: ctx.program(vertex_shader=vert, fragment_shader=load_shader(f"{name}_frag.glsl"))
                       for name in ("photo", "difference", "colorbar")}  # fmt: skip
        self._vaos = {name: ctx.vertex_array(prog, []) for name, prog in self._progs.items()}
        self._photo: moderngl.Texture | None = None
        self._photo_background = (1.0, 1.0, 1.0)
        self._sides: list[tuple[moderngl.Texture, moderngl.Framebuffer] | None] = [None, None]

    # ------------------------------------------------------------------ photo
    @property
    def photo_size(self) -> tuple[int, int] | None:
        return None if self._photo is None else self._photo.size

    def set_photo(self, texels: np.ndarray | None, background=(1.0, 1.0, 1.0)) -> None:
        """Upload a photo (``photo_texels``' output) composited onto ``background`` where its alpha
        is below 1; None frees it. Mipmapped, so a large photo shrinks smoothly into the view."""
        if self._photo is not None:
            self._photo.release()
            self._photo = None
        if texels is None:
            return
        h, w = texels.shape[:2]
        if max(w, h) > self.max_texture_size:
            raise ValueError(f"a {w}x{h} photo exceeds the GL texture limit of {self.max_texture_size} px")
        self._photo = self.ctx.texture((w, h), 4, np.ascontiguousarray(texels, np.float16), dtype="f2")
        self._photo.repeat_x = self._photo.repeat_y = False
        self._photo.build_mipmaps()
        self._photo.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
        self._photo_background = tuple(float(c) for c in background)

    def draw_photo(
        self,
        target: moderngl.Framebuffer,
        area: tuple[int, int, int, int],
        background=(0.0, 0.0, 0.0),
        scissor: tuple[int, int, int, int] | None = None,
        clear: bool = True,
        blank: bool = False,
        rect: tuple[float, float, float, float] | None = None,
    ) -> None:
        """Draw the side ``area`` = (x, y, w, h) of ``target`` (GL pixels, origin bottom-left): the
        photo stretched onto ``rect`` (fractional pixels of the target; default the whole area),
        the background elsewhere; limited to ``scissor``. With no photo (or ``blank``) the area
        gets the background. ``clear`` first fills the whole target with the background (as
        SplatRenderer.render). The target is left bound."""
        bg = tuple(float(c) for c in background)
        x, y, w, h = (int(v) for v in area)
        rect = (x, y, w, h) if rect is None else tuple(float(v) for v in rect)
        target.scissor = None
        target.viewport = (x, y, w, h)
        target.use()
        if clear:
            target.clear(*bg, 1.0)
        target.scissor = (x, y, w, h) if scissor is None else tuple(int(v) for v in scissor)
        target.use()
        if self._photo is None or blank:
            target.clear(*bg, 1.0, viewport=target.scissor)
        else:
            self.ctx.enable_only(moderngl.NOTHING)
            self._photo.use(0)
            self._set("photo", u_photo=0, u_rect=rect, u_background=bg,
                      u_photo_background=self._photo_background)  # fmt: skip
            self._vaos["photo"].render(moderngl.TRIANGLES, vertices=3)
        target.scissor = None

    # ------------------------------------------------------------------ difference
    def side_framebuffer(self, index: int, width: int, height: int) -> moderngl.Framebuffer:
        """The RGBA8 framebuffer side ``index`` (0: A, 1: B) is drawn into for the difference."""
        side = self._sides[index]
        if side is None or side[0].size != (width, height):
            self._release_side(index)
            tex = self.ctx.texture((width, height), 4, dtype="f1")
            tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
            side = (tex, self.ctx.framebuffer(color_attachments=[tex]))
            self._sides[index] = side
        return side[1]

    def draw_difference(self, target: moderngl.Framebuffer, full_scale: float = DEFAULT_FULL_SCALE,
                        reduce: str = "mean", viewport: tuple[int, int, int, int] | None = None,
                        compared: tuple[int, int, int, int] | None = None) -> None:  # fmt: skip
        """The heat map of the two side framebuffers into ``target`` (at ``viewport``, default the
        sides' size at the origin). Only the pixels in ``compared`` = (x, y, w, h) of the side
        images (GL pixels, origin bottom-left; default all) are compared, the rest is grey."""
        if reduce not in REDUCE:
            raise ValueError(f"unknown reduction {reduce!r} (choose from {', '.join(REDUCE)})")
        if self._sides[0] is None or self._sides[1] is None:
            raise RuntimeError("draw both sides (side_framebuffer) before the difference")
        ta, tb = self._sides[0][0], self._sides[1][0]
        if ta.size != tb.size:
            raise ValueError(f"the sides differ in size: {ta.size} vs {tb.size}")
        vp = (0, 0, *ta.size) if viewport is None else tuple(int(v) for v in viewport)
        cx, cy, cw, ch = (0, 0, *ta.size) if compared is None else (int(v) for v in compared)
        target.scissor = None
        target.viewport = vp
        target.use()
        self.ctx.enable_only(moderngl.NOTHING)
        ta.use(0)
        tb.use(1)
        self._set("difference", u_a=0, u_b=1, u_offset=vp[:2], u_full_scale=max(float(full_scale), 1e-6),
                  u_reduce=REDUCE.index(reduce), u_compared=(cx, cy, cx + cw, cy + ch))  # fmt: skip
        self._vaos["difference"].render(moderngl.TRIANGLES, vertices=3)

    def draw_colorbar(self, target: moderngl.Framebuffer, rect: tuple[int, int, int, int]) -> None:
        """The colormap from 0 (left) to full scale (right) in ``rect`` (GL pixels), framed by a
        1-pixel grey line."""
        x, y, w, h = (int(v) for v in rect)
        target.scissor = None
        target.use()
        target.clear(0.6, 0.6, 0.6, 1.0, viewport=(x - 1, y - 1, w + 2, h + 2))
        target.viewport = (x, y, w, h)
        target.use()
        self.ctx.enable_only(moderngl.NOTHING)
        self._set("colorbar", u_rect=(x, y, w, h))
        self._vaos["colorbar"].render(moderngl.TRIANGLES, vertices=3)

    def read_side(self, index: int) -> np.ndarray:
        """Side ``index``'s image as [H, W, 3] uint8, top row first (what the difference used)."""
        side = self._sides[index]
        if side is None:
            raise RuntimeError(f"side {index} has not been drawn")
        tex = side[0]
        w, h = tex.size
        data = tex.read(alignment=1)
        return np.ascontiguousarray(np.frombuffer(data, np.uint8).reshape(h, w, 4)[::-1, :, :3])

    # ------------------------------------------------------------------ helpers
    def _set(self, prog: str, **uniforms) -> None:
        p = self._progs[prog]
        for name, value in uniforms.items():
            if name in p:
                p[name].value = value

    def _release_side(self, index: int) -> None:
        side = self._sides[index]
        if side is not None:
            side[1].release()
            side[0].release()
        self._sides[index] = None

    def release(self) -> None:
        """Free every GL object (GL thread, context current)."""
        self.set_photo(None)
        for i in range(2):
            self._release_side(i)
        for obj in (*self._vaos.values(), *self._progs.values()):
            obj.release()
