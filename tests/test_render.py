"""The torch renderer: gradients, analytic cases, its dense twin, and gsplat's reference code."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.camera import Camera, home_view
from engine.render import rasterize, render
from engine.render.composite import composite
from engine.render.projection import covariance_3d, project
from engine.render.reference import composite_dense
from engine.render.sh import eval_sh
from engine.render.tiles import bin_gaussians
from engine.scene import GaussianScene
from tests.conftest import random_scene


def _front_camera(width=32, height=24, dist=3.0, fov_deg=50.0, dtype=torch.float64):
    cam = Camera.look_at(np.array([0.0, 0.0, -dist]), np.zeros(3), width, height, fov_deg)
    viewmat = torch.tensor(cam.world_to_camera, dtype=dtype)
    K = torch.tensor(cam.K, dtype=dtype)
    return cam, viewmat, K


def _tiny_inputs(n=6, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    means = (torch.rand(n, 3, generator=g, dtype=dtype) - 0.5) * 1.2
    quats = torch.nn.functional.normalize(torch.randn(n, 4, generator=g, dtype=dtype), dim=-1)
    scales = torch.rand(n, 3, generator=g, dtype=dtype) * 0.25 + 0.1
    opac = torch.rand(n, generator=g, dtype=dtype) * 0.6 + 0.3
    colors = torch.rand(n, 3, generator=g, dtype=dtype)
    return means, quats, scales, opac, colors


def _screen(means, quats, scales, opac, viewmat, K, w, h):
    p = project(means, covariance_3d(quats, scales), opac, viewmat, K, w, h)
    return p


def test_tiled_composite_matches_dense_twin_forward_and_backward():
    cam, viewmat, K = _front_camera(40, 36)
    means, quats, scales, opac, colors = _tiny_inputs(n=30, seed=1)
    colors = torch.cat([colors, torch.rand(30, 1, dtype=torch.float64)], -1)  # a 4th channel, like depth
    p = _screen(means, quats, scales, opac, viewmat, K, 40, 36)
    vis = (p.radii > 0).any(-1)
    assert vis.sum() > 20
    m2d = p.means2d[vis].detach().requires_grad_()
    con = p.conics[vis].detach().requires_grad_()
    col = colors[vis].detach().requires_grad_()
    op = opac[vis].detach().requires_grad_()
    bins = bin_gaussians(m2d, p.radii[vis], p.depths[vis], 40, 36, tile_size=16)
    img, alpha = composite(m2d, con, col, op, bins, 40, 36)
    w_img = torch.randn_like(img)
    w_a = torch.randn_like(alpha)
    grads = torch.autograd.grad((img * w_img).sum() + (alpha * w_a).sum(), [m2d, con, col, op])

    m2d_r, con_r, col_r, op_r = [t.detach().clone().requires_grad_() for t in (m2d, con, col, op)]
    img_r, alpha_r = composite_dense(m2d_r, con_r, col_r, op_r, p.depths[vis], 40, 36)
    grads_r = torch.autograd.grad((img_r * w_img).sum() + (alpha_r * w_a).sum(), [m2d_r, con_r, col_r, op_r])
    torch.testing.assert_close(img, img_r, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(alpha, alpha_r, rtol=1e-10, atol=1e-10)
    for a, b in zip(grads, grads_r):
        torch.testing.assert_close(a, b, rtol=1e-8, atol=1e-9)


def test_gradcheck_float64_tiny_scene_through_projection_and_sh():
    _, viewmat, K = _front_camera(20, 18, dist=2.5)
    means, quats, scales, opac, _ = _tiny_inputs(n=4, seed=3)
    sh = torch.randn(4, 4, 3, dtype=torch.float64) * 0.3  # degree 1
    inputs = [t.detach().clone().requires_grad_() for t in (means, quats, scales, opac, sh)]

    def f(means, quats, scales, opac, sh):
        r = rasterize(means, quats, scales, opac, sh, viewmat[None], K[None], 20, 18, sh_degree=1,
                      backgrounds=torch.tensor([0.2, 0.3, 0.4], dtype=torch.float64))  # fmt: skip
        return r.colors, r.alphas, r.depths

    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


def test_single_gaussian_matches_analytic_image():
    """An isotropic Gaussian facing the camera: alpha(p) = o exp(-|p - mu|^2 / (2 s^2)),
    with s^2 = (f sigma / z)^2 + 0.3 (the dilation)."""
    w = h = 64
    cam = Camera.look_at(np.array([0.0, 0.0, -4.0]), np.zeros(3), w, h, 40.0)
    sigma, o = 0.1, 0.8
    scene = GaussianScene(
        means=torch.zeros(1, 3),
        quats=torch.tensor([[1.0, 0, 0, 0]]),
        log_scales=torch.full((1, 3), math.log(sigma)),
        opacity_logits=torch.tensor([math.log(o / (1 - o))]),
        sh=torch.tensor([[[0.5, -0.3, 1.0]]]),
    )
    r = render(scene, cam, background=(0.0, 0.0, 0.0))
    f = cam.fx
    s2 = (f * sigma / 4.0) ** 2 + 0.3
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    alpha = o * np.exp(-((xs - cam.cx) ** 2 + (ys - cam.cy) ** 2) / (2 * s2))
    alpha[alpha < 1 / 255] = 0
    colour = np.clip(0.5 + 0.28209479177387814 * np.array([0.5, -0.3, 1.0]), 0, None)
    expected = alpha[..., None] * colour
    np.testing.assert_allclose(r.alphas[0, ..., 0].numpy(), alpha, atol=2e-6)
    np.testing.assert_allclose(r.colors[0].numpy(), expected, atol=2e-6)
    np.testing.assert_allclose(r.depths[0, ..., 0].numpy()[alpha > 0.01], 4.0, rtol=1e-5)


def test_front_to_back_order_and_background():
    """A near opaque red Gaussian hides a far blue one; the background shows through alpha."""
    cam = Camera.look_at(np.array([0.0, 0.0, -4.0]), np.zeros(3), 32, 32, 40.0)
    red, blue = [2.0, -2.0, -2.0], [-2.0, -2.0, 2.0]
    scene = GaussianScene(
        means=torch.tensor([[0.0, 0, 1.0], [0.0, 0, -1.0]]),  # second one is nearer the camera
        quats=torch.tensor([[1.0, 0, 0, 0]] * 2),
        log_scales=torch.full((2, 3), math.log(0.5)),
        opacity_logits=torch.tensor([8.0, 8.0]),
        sh=torch.tensor([[blue], [red]]),
    )
    r = render(scene, cam, background=(0.0, 1.0, 0.0))
    centre = r.colors[0, 16, 16]
    assert centre[0] > 0.95 and centre[2] < 0.05  # red in front
    corner = r.colors[0, 0, 0]
    assert corner[1] > 0.9  # green background where nothing covers


def test_projection_matches_gsplat_pure_torch_helpers():
    torch_impl = pytest.importorskip("gsplat.cuda._torch_impl", reason="gsplat is not installed")
    _, viewmat, K = _front_camera(64, 48, dist=3.0)
    means, quats, scales, opac, _ = _tiny_inputs(n=50, seed=5)
    covars = covariance_3d(quats, scales)
    covars_g, _ = torch_impl._quat_scale_to_covar_preci(quats, scales, triu=False, compute_preci=False)
    torch.testing.assert_close(covars, covars_g)
    p = project(means, covars, torch.ones_like(opac) * 0.999, viewmat, K, 64, 48)
    radii_g, means2d_g, depths_g, conics_g, _ = torch_impl._fully_fused_projection(
        means, covars, viewmat[None], K[None], 64, 48
    )
    vis = (radii_g[0] > 0).all(-1) & (p.radii > 0).all(-1)
    assert vis.sum() > 30
    torch.testing.assert_close(p.means2d[vis], means2d_g[0][vis])
    torch.testing.assert_close(p.conics[vis], conics_g[0][vis])
    torch.testing.assert_close(p.depths, depths_g[0])
    # gsplat's reference uses a 3.33-sigma box; ours is opacity-aware and never larger
    assert (p.radii[vis] <= radii_g[0][vis]).all()


def test_sh_matches_gsplat_pure_torch_helpers():
    torch_impl = pytest.importorskip("gsplat.cuda._torch_impl", reason="gsplat is not installed")
    g = torch.Generator().manual_seed(0)
    dirs = torch.randn(100, 3, generator=g, dtype=torch.float64)
    coeffs = torch.randn(100, 16, 3, generator=g, dtype=torch.float64)
    for degree in range(4):
        ours = eval_sh(degree, coeffs, dirs)
        theirs = torch.clamp_min(torch_impl._spherical_harmonics(degree, dirs, coeffs) + 0.5, 0.0)
        torch.testing.assert_close(ours, theirs)


def test_render_real_scene_is_deterministic_and_covers_the_view(donut_path):
    from engine import io

    scene = io.load(donut_path)
    cam = home_view(scene, 96, 96)
    a = render(scene, cam, background=(1.0, 1.0, 1.0))
    b = render(scene, cam, background=(1.0, 1.0, 1.0))
    assert torch.equal(a.colors, b.colors)
    cover = (a.alphas[0, ..., 0] > 0.5).float().mean().item()
    assert 0.15 < cover < 0.9  # the donut fills a good part of the home view, not all of it
    assert a.visible.sum() > 0.9 * scene.count


def test_means2d_gradient_is_available_for_densification():
    scene = random_scene(300, sh_degree=1, seed=2)
    cam = Camera.look_at(np.array([0.0, 0.0, -3.5]), np.zeros(3), 48, 40, 50.0)
    g = scene.activated()
    means = g.means.clone().requires_grad_()
    from engine.render import camera_tensors

    viewmats, Ks = camera_tensors([cam], "cpu")
    r = rasterize(means, g.quats, g.scales, g.opacities, g.sh, viewmats, Ks, 48, 40, sh_degree=1)
    r.meta["means2d"].retain_grad()
    r.colors.sum().backward()
    grad2d = r.meta["means2d"].grad  # [1, N, 2]
    assert grad2d.shape == (1, 300, 2)
    vis = r.visible[0]
    assert (grad2d[0][~vis] == 0).all()
    assert grad2d[0][vis].abs().sum() > 0
    assert means.grad is not None and torch.isfinite(means.grad).all()


def test_a_gaussian_on_the_camera_plane_leaves_every_gradient_finite():
    """Found on fox: a splat at depth exactly 0 made inf covariances whose backward was NaN, which
    the optimiser wrote into its rotation and scale (the fox teachers saved NaN splats)."""
    cam, viewmat, K = _front_camera(32, 24, dtype=torch.float32)
    means, quats, scales, opac, colors = (t.float() for t in _tiny_inputs(5))
    on_plane = torch.tensor([[0.7, -0.4, -3.0]])  # the camera sits at z = -3: depth 0
    behind = torch.tensor([[0.1, 0.2, -3.5]])
    means = torch.cat([means, on_plane, behind]).requires_grad_()
    quats = torch.cat([quats, torch.tensor([[1.0, 0, 0, 0]] * 2)]).requires_grad_()
    scales = torch.cat([scales, torch.full((2, 3), 0.28)]).requires_grad_()
    opac, colors = torch.cat([opac, torch.full((2,), 0.1)]), torch.cat([colors, torch.rand(2, 3)])
    r = rasterize(means, quats, scales, opac, colors, viewmat[None], K[None], 32, 24)
    assert not r.visible[0][5:].any()
    r.colors.sum().backward()
    for name, t in (("means", means), ("quats", quats), ("scales", scales)):
        assert torch.isfinite(t.grad).all(), name
        assert (t.grad[5:] == 0).all(), name
    assert means.grad[:5].abs().sum() > 0


def test_many_cameras_and_batched_output_shapes():
    scene = random_scene(100, sh_degree=0, seed=4)
    cams = [Camera.look_at(np.array([3.0 * math.cos(a), 0.0, 3.0 * math.sin(a)]), np.zeros(3), 30, 20, 50.0)
            for a in (0.0, 1.0, 2.0)]  # fmt: skip
    r = render(scene, cams)
    assert r.colors.shape == (3, 20, 30, 3)
    assert r.alphas.shape == (3, 20, 30, 1)
    assert r.depths.shape == (3, 20, 30, 1)
    single = render(scene, cams[1])
    torch.testing.assert_close(single.colors[0], r.colors[1])


def test_cuda_backend_agrees_with_torch_backend_at_the_defaults():
    """Renderer parity with no arguments beyond the backend: the defaults must agree."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: the gsplat backend cannot run here (this parity test runs on a GPU machine)")
    scene = random_scene(2000, sh_degree=3, seed=7)
    scene.opacity_logits[:500] = 8.0  # near-opaque splats, so the alpha clamp matters
    cam = Camera.look_at(np.array([0.0, 0.0, -3.5]), np.zeros(3), 128, 96, 50.0)
    ref = render(scene, cam, backend="torch")
    out = render(scene.to("cuda"), cam, backend="gsplat")
    torch.testing.assert_close(out.colors.cpu(), ref.colors, rtol=1e-3, atol=1e-3)
    torch.testing.assert_close(out.alphas.cpu(), ref.alphas, rtol=1e-3, atol=1e-3)


def test_one_default_alpha_clamp_for_every_backend():
    import inspect

    from engine.render import ALPHA_MAX, reference
    from engine.render import composite as composite_mod
    from engine.render.gsplat_backend import GSPLAT_ALPHA_MAX

    assert ALPHA_MAX == GSPLAT_ALPHA_MAX == 0.999
    for fn in (rasterize, render, composite_mod.composite, reference.composite_dense):
        assert inspect.signature(fn).parameters["alpha_max"].default == ALPHA_MAX, fn.__name__


def test_gsplat_constant_matches_the_installed_kernels():
    gsplat = pytest.importorskip("gsplat", reason="gsplat is not installed")
    import os
    import re

    from engine.render.gsplat_backend import GSPLAT_ALPHA_MAX

    src = os.path.join(os.path.dirname(gsplat.__file__), "cuda", "csrc", "RasterizeToPixels3DGSFwd.cu")
    if not os.path.exists(src):
        pytest.skip(f"gsplat's CUDA sources are not shipped at {src}")
    with open(src) as f:
        clamps = set(re.findall(r"min\(([0-9.]+)f, opac", f.read()))
    assert clamps == {repr(GSPLAT_ALPHA_MAX)}


_GSPLAT_OPTIONS = dict(sh_degree=3, near_plane=0.01, far_plane=1e10, eps2d=0.3, antialiased=False, tile_size=16,
                       with_depth=True)  # fmt: skip


def test_gsplat_backend_rejects_an_alpha_max_it_cannot_honour():
    from engine.render.gsplat_backend import gsplat_kwargs

    with pytest.raises(ValueError, match="alpha_max=0.99"):
        gsplat_kwargs(alpha_max=0.99, **_GSPLAT_OPTIONS)
    kw = gsplat_kwargs(alpha_max=0.999, **_GSPLAT_OPTIONS)
    assert kw["render_mode"] == "RGB+ED" and kw["rasterize_mode"] == "classic" and kw["sh_degree"] == 3


def test_gsplat_backend_passes_or_rejects_every_argument(monkeypatch):
    """Runs without CUDA: gsplat.rasterization is replaced by a fake that records its call."""
    import sys
    import types

    from engine.render import ALPHA_MAX
    from engine.render.gsplat_backend import rasterize_gsplat

    calls = []

    def fake_rasterization(means, quats, scales, opacities, colors, viewmats, Ks, width, height, **kw):
        calls.append(kw)
        c = viewmats.shape[0]
        return torch.zeros(c, height, width, 4), torch.zeros(c, height, width, 1), {}

    monkeypatch.setitem(sys.modules, "gsplat", types.SimpleNamespace(rasterization=fake_rasterization))
    means, quats, scales, opac, _ = _tiny_inputs(n=4, dtype=torch.float32)
    _, viewmat, K = _front_camera(8, 6, dtype=torch.float32)
    args = (means, quats, scales, opac, torch.zeros(4, 16, 3), viewmat[None], K[None], 8, 6)
    opts = dict(_GSPLAT_OPTIONS, near_plane=0.2, far_plane=50.0, eps2d=0.1, antialiased=True, tile_size=8)
    feats, alphas, depths, meta = rasterize_gsplat(*args, alpha_max=ALPHA_MAX, **opts)
    assert feats.shape == (1, 6, 8, 3) and depths.shape == (1, 6, 8, 1) and meta["n_cameras"] == 1
    assert calls == [dict(near_plane=0.2, far_plane=50.0, eps2d=0.1, sh_degree=3, packed=False, tile_size=8,
                          rasterize_mode="antialiased", render_mode="RGB+ED")]  # fmt: skip
    with pytest.raises(ValueError, match="cannot honour alpha_max"):
        rasterize_gsplat(*args, alpha_max=0.99, **opts)
    assert len(calls) == 1  # rejected before gsplat was called
