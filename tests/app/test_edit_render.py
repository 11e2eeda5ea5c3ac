"""The GL renderer's edit state (issue 17, 2) on a standalone EGL context: selected splats tinted,
hidden / deleted ones not drawn (the image equals the render of the scene without them), an
unedited state gives back the same image, and the depth read back for front-layer selection
agrees with the engine's render_depth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine import io
from engine.camera import home_view
from engine.edit import DELETED, HIDDEN, SELECTED, select
from tests.conftest import DONUT, random_scene

moderngl = pytest.importorskip("moderngl")

from app.viewport.gl_renderer import DisplaySettings, prepare_splats  # noqa: E402
from app.viewport.offscreen import offscreen_lock  # noqa: E402
from app.viewport.sorting import depth_order  # noqa: E402



def _draw(egl, scene, cam, state=None, mode="color"):
    r = egl.renderer
    r.set_splats(prepare_splats(scene))
    r.set_order(depth_order(r.prepared.means, cam))
    r.set_state(state)
    fbo = egl.framebuffer(cam.width, cam.height)
    r.render(cam, fbo, DisplaySettings(mode=mode))
    return np.frombuffer(fbo.read(components=3), np.uint8).reshape(cam.height, cam.width, 3)[::-1].copy()


@pytest.mark.parametrize("mode", ["color", "points"])
def test_state_tints_and_hides(egl, mode):
    scene = random_scene(3000, sh_degree=1, seed=3)
    cam = home_view(scene, 160, 120)
    with offscreen_lock(), egl.ctx:  # current on this thread (a Qt test may have made its own current)
        plain = _draw(egl, scene, cam, mode=mode)
        state = np.zeros(scene.count, np.uint8)
        state[::3] = SELECTED
        tinted = _draw(egl, scene, cam, state, mode)
        assert np.abs(tinted.astype(int) - plain).mean() > 2
        assert (tinted[..., 0].astype(int) - tinted[..., 2]).mean() > (plain[..., 0].astype(int) - plain[..., 2]).mean()
        state[:] = 0
        state[1::4] = HIDDEN
        state[2::4] = DELETED
        gone = _draw(egl, scene, cam, state, mode)
        kept = torch.from_numpy((state & (HIDDEN | DELETED)) == 0)
        subset = scene.subset(kept)
        without = _draw(egl, subset, cam, mode=mode)
        assert np.abs(gone.astype(int) - without).max() <= 1  # the same image as the scene without them
        assert np.array_equal(_draw(egl, scene, cam, np.zeros(scene.count, np.uint8), mode), plain)
        with pytest.raises(ValueError):
            egl.renderer.set_state(np.zeros(5, np.uint8))


def test_render_depth_matches_the_engine(egl):
    scene = io.load(DONUT)
    cam = home_view(scene, 200, 150)
    with offscreen_lock(), egl.ctx:  # current on this thread (a Qt test may have made its own current)
        r = egl.renderer
        r.set_splats(prepare_splats(scene))
        r.set_order(depth_order(r.prepared.means, cam))
        depth, alpha = r.render_depth(cam)
    ref_depth, ref_alpha = select.render_depth(scene, cam)
    assert depth.shape == ref_depth.shape == (150, 200)
    assert np.abs(alpha - ref_alpha).mean() < 1e-3
    solid = (alpha > 0.5) & (ref_alpha > 0.5)
    assert solid.mean() > 0.1
    assert np.median(np.abs(depth[solid] - ref_depth[solid]) / ref_depth[solid]) < 1e-3
    assert np.isinf(depth[alpha == 0]).all()
    everything = select.rectangle(scene, cam, 0, 0, 200, 150)
    gl_front = select.front_layer(scene, cam, everything, depth=depth, alpha=alpha)
    engine_front = select.front_layer(scene, cam, everything, depth=ref_depth, alpha=ref_alpha)
    assert gl_front.sum() < 0.8 * everything.sum()
    assert (gl_front != engine_front).sum() <= 0.002 * everything.sum()
