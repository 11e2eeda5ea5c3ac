"""Headless GL rendering of a scene with the viewport's renderer: a standalone EGL context
(created once per process and reused), an offscreen RGBA8 framebuffer, read back top row first like
``engine.render.render``. Used by tests and the CLI; no Qt, no display needed.
"""

from __future__ import annotations

import threading

import moderngl
import numpy as np

from app.viewport.gl_renderer import DisplaySettings, SplatRenderer, prepare_splats
from app.viewport.sorting import depth_order
from engine.camera import Camera
from engine.scene import GaussianScene


class _Offscreen:
    """The process-wide EGL context, its renderer and a framebuffer of the last size used."""

    def __init__(self) -> None:
        self.ctx = moderngl.create_standalone_context(backend="egl")
        self.renderer = SplatRenderer(self.ctx)
        self.fbo: moderngl.Framebuffer | None = None
        self.rbo: moderngl.Renderbuffer | None = None

    def framebuffer(self, width: int, height: int) -> moderngl.Framebuffer:
        if self.fbo is None or self.fbo.size != (width, height):
            if self.fbo is not None:
                self.fbo.release()
                self.rbo.release()
            self.rbo = self.ctx.renderbuffer((width, height), 4, dtype="f1")
            self.fbo = self.ctx.framebuffer(color_attachments=[self.rbo])
        return self.fbo


_lock = threading.Lock()
_state: _Offscreen | None = None


def offscreen_context() -> _Offscreen:
    """The shared EGL state (created on first use). Raises if EGL is unavailable. Hold
    ``offscreen_lock()`` and enter ``state.ctx`` to use it from a thread."""
    global _state
    with _lock:
        if _state is None:
            _state = _Offscreen()
        return _state


def offscreen_lock() -> threading.Lock:
    return _lock


def render_offscreen(scene: GaussianScene, camera: Camera, settings: DisplaySettings | None = None) -> np.ndarray:
    """[H, W, 3] uint8 image of ``scene`` seen by ``camera`` (top row first), drawn by the GL
    viewport renderer: prepare, sort near to far, render, read back."""
    prepared = prepare_splats(scene)
    order = depth_order(prepared.means, camera)
    st = offscreen_context()
    w, h = camera.width, camera.height
    with _lock, st.ctx:  # make the context current on this thread
        st.renderer.set_splats(prepared)
        st.renderer.set_order(order)
        fbo = st.framebuffer(w, h)
        st.renderer.render(camera, fbo, settings)
        data = fbo.read(viewport=(0, 0, w, h), components=3, alignment=1)
        st.renderer.set_splats(None)  # free the textures; the context and programs stay
    img = np.frombuffer(data, np.uint8).reshape(h, w, 3)
    return np.ascontiguousarray(img[::-1])  # GL rows are bottom-up
