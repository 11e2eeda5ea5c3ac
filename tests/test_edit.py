"""engine.edit: state, history (exact undo/redo), selections, transforms (SH rotation), clean-up."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.camera import Camera
from engine.edit import DELETED, HIDDEN, SELECTED, EditSession, IndexSet, cleanup, ops, select, transform
from engine.edit.history import apply_residual, encode_residual
from engine.edit.state import combine
from engine.render.sh import eval_sh, sh_basis
from engine.scene import GaussianScene
from tests.conftest import random_scene

ATTRS = ("means", "quats", "log_scales", "opacity_logits", "sh")


def snapshot(session: EditSession) -> dict:
    out = {k: getattr(session.scene, k).clone() for k in ATTRS}
    out["state"] = session.state.copy()
    return out


def assert_bit_equal(session: EditSession, snap: dict, what: str = "") -> None:
    for k in ATTRS:
        a, b = getattr(session.scene, k), snap[k]
        assert torch.equal(a.view(torch.int32), b.view(torch.int32)), f"{what}: {k} differs"
    assert np.array_equal(session.state, snap["state"]), f"{what}: state differs"


def front_camera(size: int = 64, f: float = 64.0) -> Camera:
    """At the origin looking down +z (OpenCV axes)."""
    return Camera(np.eye(4), f, f, size / 2, size / 2, size, size)


# ---------------------------------------------------------------------- history encodings
def test_index_sets_choose_the_smallest_encoding_and_round_trip():
    n = 100_000
    rng = np.random.default_rng(0)
    box = np.zeros(n, bool)
    box[1000:5000] = True
    box[70000:70010] = True
    scattered = rng.random(n) < 0.5  # incompressible
    clustered = np.zeros(n, bool)
    for s in rng.integers(0, n - 50, 800):
        clustered[s : s + rng.integers(1, 50)] = True
    clustered &= rng.random(n) < 0.9  # many short runs: the packed mask, then zstd, wins
    for mask, enc in ((box, "runs"), (scattered, "bits"), (clustered, "zbits"), (np.zeros(n, bool), "runs")):
        s = IndexSet.from_mask(mask)
        assert s.encoding == enc
        assert s.count == mask.sum()
        assert np.array_equal(s.mask(), mask)
        assert np.array_equal(s.indices(), np.flatnonzero(mask))
        assert s.nbytes <= (n + 7) // 8 + 16
    assert IndexSet.all(n).is_all() and np.array_equal(IndexSet.all(n).indices(), np.arange(n))


def test_residuals_restore_every_float32_bit_pattern():
    rng = np.random.default_rng(1)
    orig = rng.standard_normal(5000).astype(np.float32)
    orig[:8] = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 3.4e38]
    rec = (orig.astype(np.float64) * (1 + 1e-7 * rng.standard_normal(5000))).astype(np.float32)
    rec[:8] = [0.0, np.nan, 5.0, -0.0, 0.0, -1e-45, 1e-45, -3.4e38]  # sign crossings, NaN, inf
    blob = encode_residual(orig, rec)
    assert blob is not None and len(blob) < orig.nbytes / 4
    assert np.array_equal(apply_residual(rec, blob).view(np.int32), orig.view(np.int32))
    assert encode_residual(orig, orig.copy()) is None
    assert np.array_equal(apply_residual(orig, None).view(np.int32), orig.view(np.int32))


# ---------------------------------------------------------------------- state and history
def test_selection_modes_and_hidden_or_deleted_splats_are_never_selected():
    a = np.array([1, 1, 0, 0], bool)
    b = np.array([1, 0, 1, 0], bool)
    assert combine(a, b, "replace").tolist() == [1, 0, 1, 0]
    assert combine(a, b, "add").tolist() == [1, 1, 1, 0]
    assert combine(a, b, "subtract").tolist() == [0, 1, 0, 0]
    assert combine(a, b, "intersect").tolist() == [1, 0, 0, 0]
    with pytest.raises(ValueError):
        combine(a, b, "xor")
    s = EditSession(random_scene(6))
    s.select(np.array([1, 1, 0, 0, 0, 0], bool))
    ops.hide(s)
    s.select(np.array([0, 0, 1, 0, 0, 0], bool))
    ops.delete(s)
    assert s.counts() == {"total": 6, "selected": 0, "hidden": 2, "deleted": 1, "kept": 5}
    select.select_all(s)
    assert s.selected.tolist() == [0, 0, 0, 1, 1, 1]
    s.select(np.array([0, 0, 0, 1, 0, 0], bool), "subtract")
    select.invert(s)
    assert s.selected.tolist() == [0, 0, 0, 1, 0, 0]
    assert s.state[0] == HIDDEN and s.state[2] == DELETED and s.state[3] == SELECTED
    ops.unhide(s)
    assert s.visible_mask.tolist() == [1, 1, 0, 1, 1, 1] and s.deleted_count == 1
    result = s.result_scene()
    assert result.count == 5 and torch.equal(result.means[2], s.scene.means[3])


def test_every_operation_undoes_and_redoes_bit_for_bit():
    scene = random_scene(700, sh_degree=3, seed=3)
    s = EditSession(scene)
    cam = Camera.look_at(np.array([0.0, -0.5, -3.0]), np.zeros(3), 48, 48, 50.0)

    def quantile(q: float) -> np.ndarray:  # of the positions as they are when the step runs
        return np.quantile(s.scene.means.numpy(), q, axis=0)

    steps = [
        ("rectangle", lambda: select.screen_select(s, cam, "rectangle", 5, 5, 30, 40)),
        ("translate selection", lambda: transform.translate(s, (0.37, -1.1, 2.9), which="selection")),
        ("rotate selection about a pivot", lambda: transform.rotate(s, (33, -71, 12), pivot=(0.2, 0.1, 0), which="selection")),
        ("hide", lambda: ops.hide(s)),
        ("lasso", lambda: select.screen_select(s, cam, "polygon", [(2, 2), (40, 5), (20, 44)], mode="add")),
        ("delete", lambda: ops.delete(s)),
        ("unhide", lambda: ops.unhide(s)),
        ("attribute", lambda: s.select(select.attribute_range(s.scene, "opacity", 0.2, 0.7))),
        ("grow", lambda: select.grow(s, k=3)),
        ("shrink", lambda: select.shrink(s, radius=0.1)),
        ("scale selection", lambda: transform.scale(s, 1.7, which="selection")),
        ("invert", lambda: select.invert(s)),
        ("rotate all", lambda: transform.rotate(s, transform.rotation_from_euler(10, 20, 30))),
        ("scale all", lambda: transform.scale(s, 0.3, pivot=(0.1, 0.2, 0.3))),
        ("mirror", lambda: transform.mirror(s, "y")),
        ("set up", lambda: transform.set_up(s, "+z")),
        ("crop box", lambda: ops.crop_box(s, quantile(0.05), quantile(0.95))),
        ("crop sphere", lambda: ops.crop_sphere(s, quantile(0.5), 0.8 * np.abs(quantile(0.9) - quantile(0.5)).max())),
        ("select none", lambda: select.select_none(s)),
        ("translate all", lambda: transform.translate(s, (1e4, -3e-3, 0.5))),
    ]
    snaps = [snapshot(s)]
    for name, step in steps:
        assert step() is not None, f"{name} changed nothing: the test would prove nothing"
        snaps.append(snapshot(s))
    assert s.history.position == len(steps)
    for i in range(len(steps), 0, -1):
        assert s.undo() is not None
        assert_bit_equal(s, snaps[i - 1], f"undo of {steps[i - 1][0]}")
    assert s.undo() is None and not s.modified
    for i in range(len(steps)):
        assert s.redo() is not None
        assert_bit_equal(s, snaps[i + 1], f"redo of {steps[i][0]}")
    assert s.redo() is None and s.modified


def test_transforms_in_many_chunks_undo_exactly(monkeypatch):
    monkeypatch.setattr(transform, "CHUNK", 64)  # residuals are kept per chunk: use several
    s = EditSession(random_scene(500, sh_degree=2, seed=8))
    snaps = [snapshot(s)]
    s.select(np.random.default_rng(0).random(500) < 0.4)
    snaps.append(snapshot(s))
    for step in (lambda: transform.rotate(s, (5, 80, -40), which="selection"), lambda: transform.rotate(s, (-30, 10, 170)),
                 lambda: transform.scale(s, 3.3, which="selection"), lambda: transform.translate(s, (-7.5, 0.1, 1e-3))):  # fmt: skip
        edit = step()
        assert sum(r is not None for r in edit.residuals.values()) > 1
        snaps.append(snapshot(s))
    for i in range(len(snaps) - 1, 0, -1):
        s.undo()
        assert_bit_equal(s, snaps[i - 1], f"undo {i}")
    for i in range(1, len(snaps)):
        s.redo()
        assert_bit_equal(s, snaps[i], f"redo {i}")


def test_a_new_edit_drops_the_redo_tail_and_max_bytes_forgets_the_oldest():
    s = EditSession(random_scene(1000), history_max_bytes=600)
    rng = np.random.default_rng(0)
    for _ in range(5):
        s.select(rng.random(1000) < 0.5)  # packed masks, 125 bytes each
    assert len(s.history.edits) < 5 and s.history.nbytes <= 600 and s.history.dropped > 0
    s.undo()
    s.mark_saved()
    s.select(np.ones(1000, bool))
    assert not s.history.can_redo and s.modified
    s.undo()
    assert not s.modified


def test_a_history_of_state_edits_stays_within_n_over_8_bytes_each():
    n = 200_000
    s = EditSession(random_scene(n, seed=5))
    rng = np.random.default_rng(1)
    for _ in range(10):
        s.select(rng.random(n) < 0.5, "replace")
        ops.delete(s)
    assert s.history.nbytes <= 20 * ((n + 7) // 8 + 64)


# ---------------------------------------------------------------------- screen selections
def two_layers() -> GaussianScene:
    """A dense opaque front layer at z=2 hiding a sparse back layer at z=4 (all within it)."""
    g = np.linspace(-0.5, 0.5, 16)
    front = np.array([[x, y, 2.0] for x in g for y in g])
    b = np.linspace(-0.8, 0.8, 8)
    back = np.array([[x, y, 4.0] for x in b for y in b])
    p = torch.tensor(np.concatenate([front, back]), dtype=torch.float32)
    n = p.shape[0]
    return GaussianScene(p, torch.tensor([[1.0, 0, 0, 0]]).repeat(n, 1), torch.full((n, 3), math.log(0.045)),
                         torch.full((n,), 6.0), torch.zeros(n, 1, 3))  # fmt: skip


def test_front_layer_selects_only_what_is_visible():
    scene, cam = two_layers(), front_camera()
    front = np.arange(scene.count) < 256
    everything = select.rectangle(scene, cam, 0, 0, 64, 64)
    assert everything.sum() == scene.count
    s = EditSession(scene)
    select.screen_select(s, cam, "rectangle", 0, 0, 64, 64)
    assert s.selected_count == scene.count  # "all under the shape": both layers
    select.screen_select(s, cam, "rectangle", 0, 0, 64, 64, front_only=True)
    assert np.array_equal(s.selected, front)  # only the visible front layer
    ops.hide(s)  # with the front hidden, the back layer is what is visible
    select.screen_select(s, cam, "rectangle", 0, 0, 64, 64, front_only=True)
    assert np.array_equal(s.selected, ~front)


def test_rectangle_polygon_and_brush_have_known_answers():
    xs = np.arange(-7, 8) * 0.1
    p = np.array([[x, y, 1.0] for x in xs for y in xs])  # 15 x 15 grid, 6.4 px apart at f = 64
    n = p.shape[0]
    scene = GaussianScene(torch.tensor(p, dtype=torch.float32), torch.tensor([[1.0, 0, 0, 0]]).repeat(n, 1),
                          torch.zeros(n, 3), torch.zeros(n), torch.zeros(n, 1, 3))  # fmt: skip
    cam = front_camera()
    uv, _ = select.project(scene, cam)
    assert np.allclose(uv, p[:, :2] * 64 + 32)
    rect = select.rectangle(scene, cam, 40, 20, 20, 40)  # corners in any order
    assert np.array_equal(rect, (np.abs(uv - 30) <= 10).all(1))
    square = select.polygon(scene, cam, [(20, 20), (40, 20), (40, 40), (20, 40)])
    assert np.array_equal(square, (uv > 20).all(1) & (uv < 40).all(1))
    tri = select.polygon(scene, cam, [(-1, -1), (66, -1), (-1, 66)])
    assert np.array_equal(tri, (uv > -1).all(1) & (uv.sum(1) < 65)) and 0 < tri.sum() < n
    bowtie = np.array([(0, 0), (64, 64), (64, 0), (0, 64)], float)  # self-intersecting: even-odd
    inside = select.points_in_polygon(np.array([[32.0, 10], [32, 54], [10, 32], [54, 32]]), bowtie)
    assert inside.tolist() == [False, False, True, True]
    dot = select.brush(scene, cam, [(32, 32)], 7.0)
    assert np.array_equal(dot, ((uv - 32) ** 2).sum(1) <= 49)
    stroke = select.brush(scene, cam, [(10, 32), (54, 32)], 3.0)
    assert np.array_equal(stroke, (np.abs(uv[:, 1] - 32) <= 3) & (uv[:, 0] >= 7) & (uv[:, 0] <= 57))
    behind = Camera(np.diag([1.0, 1, -1, 1]) @ np.diag([-1.0, 1, 1, 1]), 64, 64, 32, 32, 64, 64)  # looks down -z
    assert not select.rectangle(scene, behind, 0, 0, 64, 64).any()


# ---------------------------------------------------------------------- world and attributes
def test_world_volumes_attributes_and_colour_similarity():
    scene = random_scene(2000, sh_degree=1, seed=7)
    p = scene.means.numpy().astype(np.float64)
    assert np.array_equal(select.sphere(scene, (0.1, 0, 0), 0.5), np.linalg.norm(p - [0.1, 0, 0], axis=1) <= 0.5)
    r = transform.rotation_about("z", 45)
    local = p @ r
    assert np.array_equal(select.box(scene, (0, 0, 0), (0.3, 0.1, 1), r), (np.abs(local) <= [0.3, 0.1, 1]).all(1))
    assert np.array_equal(select.aabb(scene, (-0.2, -1, -1), (0.2, 1, 1)), np.abs(p[:, 0]) <= 0.2)
    opacity = 1 / (1 + np.exp(-scene.opacity_logits.numpy().astype(np.float64)))
    assert np.array_equal(select.attribute_range(scene, "opacity", 0.3, 0.6), (opacity >= 0.3) & (opacity <= 0.6))
    s = np.exp(scene.log_scales.numpy().astype(np.float64))
    assert np.allclose(select.attribute_values(scene, "volume"), 4 / 3 * np.pi * s.prod(1))
    assert np.allclose(select.attribute_values(scene, "scale_max"), s.max(1))
    assert np.allclose(select.attribute_values(scene, "sh_energy"), (scene.sh[:, 1:].double() ** 2).sum((1, 2)).numpy())
    hue = select.attribute_values(scene, "hue")
    assert ((hue >= 0) & (hue < 360)).all()
    wrap = select.attribute_range(scene, "hue", 330, 30)
    assert np.array_equal(wrap, (hue >= 330) | (hue <= 30)) and 0 < wrap.sum() < scene.count
    with pytest.raises(KeyError):
        select.attribute_values(scene, "nope")
    # colour: pure colours as SH DC; a near-red splat is similar to red, green is not
    rgb = torch.tensor([[1.0, 0, 0], [0.97, 0.03, 0.02], [0, 1, 0], [0.5, 0.5, 0.5]])
    few = GaussianScene(torch.zeros(4, 3), torch.tensor([[1.0, 0, 0, 0]]).repeat(4, 1), torch.zeros(4, 3),
                        torch.zeros(4), ((rgb - 0.5) / 0.28209479177387814)[:, None, :])  # fmt: skip
    assert np.allclose(select.attribute_values(few, "hue")[[0, 2]], [0, 120])
    assert select.similar_colour(few, 0, tolerance=10).tolist() == [True, True, False, False]


def test_grow_and_shrink_by_neighbours():
    p = np.stack([np.arange(11.0), np.zeros(11), np.zeros(11)], 1)
    scene = GaussianScene(torch.tensor(p, dtype=torch.float32), torch.tensor([[1.0, 0, 0, 0]]).repeat(11, 1),
                          torch.zeros(11, 3), torch.zeros(11), torch.zeros(11, 1, 3))  # fmt: skip
    s = EditSession(scene)
    s.select(np.arange(11) == 5)
    select.grow(s, radius=1.01)
    assert np.flatnonzero(s.selected).tolist() == [4, 5, 6]
    select.grow(s, k=2)
    assert np.flatnonzero(s.selected).tolist() == [3, 4, 5, 6, 7]
    select.shrink(s, radius=1.01)
    assert np.flatnonzero(s.selected).tolist() == [4, 5, 6]
    ops.hide(s, np.arange(11) == 2)  # hidden splats are never grown into
    select.grow(s, radius=2.5)
    assert np.flatnonzero(s.selected).tolist() == [3, 4, 5, 6, 7, 8]


# ---------------------------------------------------------------------- SH rotation and transforms
def _gauss_sphere(n: int = 12):
    """Quadrature exact for polynomials of degree < 2n on the sphere: directions [M, 3], weights [M]."""
    x, w = np.polynomial.legendre.leggauss(n)
    phi = (np.arange(2 * n) + 0.5) * np.pi / n
    ct, ph = np.meshgrid(x, phi, indexing="ij")
    st = np.sqrt(1 - ct**2)
    dirs = np.stack([st * np.cos(ph), st * np.sin(ph), ct], -1).reshape(-1, 3)
    return dirs, (w[:, None] * np.full(2 * n, np.pi / n)[None]).ravel()


def test_wigner_d_matches_a_brute_force_sh_reprojection():
    rng = np.random.default_rng(0)
    dirs, weights = _gauss_sphere()
    y = sh_basis(3, torch.from_numpy(dirs)).numpy()  # [M, 16]
    assert np.allclose((y * weights[:, None]).T @ y, np.eye(16), atol=1e-12)  # the basis is orthonormal
    for r in (transform.rotation_from_euler(*rng.uniform(-180, 180, 3)) for _ in range(3)):
        c = rng.standard_normal(16)
        f_rotated = sh_basis(3, torch.from_numpy(dirs @ r)).numpy() @ c  # f(R^T d)
        projected = (y * weights[:, None]).T @ f_rotated  # its SH coefficients by quadrature
        ds = transform.sh_rotation(r, 3)
        for band, d in enumerate(ds, start=1):
            sl = slice(band * band, (band + 1) ** 2)
            assert np.allclose(d @ c[sl], projected[sl], atol=1e-5), f"band {band}"
            assert np.allclose(d @ d.T, np.eye(2 * band + 1), atol=1e-12)
        assert abs(projected[0] - c[0]) < 1e-12


def test_rotated_splats_show_the_same_colours_along_rotated_directions():
    scene = random_scene(300, sh_degree=3, seed=11)
    before = scene.sh.clone()
    s = EditSession(scene)
    r = transform.rotation_from_euler(40, -25, 110)
    transform.rotate(s, r)
    d = torch.randn(300, 3, dtype=torch.float64)
    want = eval_sh(3, before.double(), d)
    got = eval_sh(3, s.scene.sh.double(), d @ torch.from_numpy(r).T)
    assert torch.allclose(got, want, atol=1e-5)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def test_a_rotated_scene_from_the_rotated_camera_renders_the_same_image():
    from engine.render import render

    scene = random_scene(400, sh_degree=3, seed=4, extent=0.6)
    scene.sh[:, 1:] *= 2.0  # strong view dependence, so a wrong SH rotation shows
    cam = Camera.look_at(np.array([0.4, -0.6, -2.4]), np.zeros(3), 64, 64, 45.0)
    original = render(scene, cam).colors
    s = EditSession(scene)
    r = transform.rotation_from_euler(30, -50, 70)
    transform.rotate(s, r)
    m = np.eye(4)
    m[:3, :3] = r
    turned = Camera(m @ cam.camera_to_world, cam.fx, cam.fy, cam.cx, cam.cy, 64, 64)
    assert _psnr(render(s.scene, turned).colors, original) >= 45.0
    unrotated_sh = s.scene.replace(sh=torch.cat([s.scene.sh[:, :1], scene_sh_rest(s)], 1))
    assert _psnr(render(unrotated_sh, turned).colors, original) < 40.0  # the check can fail


def scene_sh_rest(session: EditSession) -> torch.Tensor:
    """The SH bands >= 1 as they were before the last edit (undo, read, redo)."""
    session.undo()
    rest = session.scene.sh[:, 1:].clone()
    session.redo()
    return rest


def test_mirror_twice_is_the_identity_and_mirrors_shape_and_colour():
    scene = random_scene(300, sh_degree=3, seed=12)
    s = EditSession(scene)
    snap = snapshot(s)
    from engine.render.projection import covariance_3d

    cov = covariance_3d(torch.nn.functional.normalize(scene.quats.double(), dim=-1), torch.exp(scene.log_scales.double()))
    sh0 = scene.sh.clone().double()
    for axis in range(3):
        transform.mirror(s, axis)
        m = torch.ones(3, dtype=torch.float64)
        m[axis] = -1
        g = s.scene
        cov_m = covariance_3d(torch.nn.functional.normalize(g.quats.double(), dim=-1), torch.exp(g.log_scales.double()))
        assert torch.allclose(cov_m, m[:, None] * cov * m[None, :], atol=1e-6)
        d = torch.randn(300, 3, dtype=torch.float64)
        assert torch.allclose(eval_sh(3, g.sh.double(), d * m), eval_sh(3, sh0, d), atol=1e-6)
        transform.mirror(s, axis)
        assert_bit_equal(s, snap, f"mirror {axis} twice")
    assert all(e.nbytes < 1000 for e in s.history.edits)  # exact: no residuals


def test_euler_convention_is_playcanvas_set_from_euler_angles():
    # PlayCanvas Quat.setFromEulerAngles (what splat-transform -r uses), written out
    rx, ry, rz = (math.radians(a) / 2 for a in (30, -50, 70))
    sx, cx, sy, cy, sz, cz = math.sin(rx), math.cos(rx), math.sin(ry), math.cos(ry), math.sin(rz), math.cos(rz)
    q = np.array([cx * cy * cz + sx * sy * sz, sx * cy * cz - cx * sy * sz, cx * sy * cz + sx * cy * sz, cx * cy * sz - sx * sy * cz])
    assert np.allclose(transform.matrix_to_quat(transform.rotation_from_euler(30, -50, 70)), q * np.sign(q[0]))


@pytest.mark.parametrize("axis", ["+x", "-x", "+y", "-y", "+z", "-z"])
def test_set_up_turns_that_axis_to_minus_y(axis):
    from engine.framing import parse_up

    r = transform.up_rotation(axis)
    assert np.allclose(r @ parse_up(axis), [0, -1, 0]) and np.isclose(np.linalg.det(r), 1)
    assert np.array_equal(r, np.rint(r))


def test_transforms_move_only_the_selection_and_scale_sizes():
    scene = random_scene(50, sh_degree=1, seed=2)
    p0, ls0 = scene.means.clone(), scene.log_scales.clone()
    s = EditSession(scene)
    sel = np.arange(50) < 20
    s.select(sel)
    transform.scale(s, 2.0, which="selection")
    assert torch.equal(s.scene.means[20:], p0[20:]) and torch.equal(s.scene.means[:20], p0[:20] * 2)
    assert torch.allclose(s.scene.log_scales[:20], ls0[:20] + math.log(2.0))
    with pytest.raises(ValueError):
        transform.scale(s, -1.0)
    with pytest.raises(ValueError):
        transform.rotate(s, np.diag([1.0, 1, -1]))  # a reflection is not a rotation


# ---------------------------------------------------------------------- clean-up
def test_statistical_outliers_find_planted_floaters():
    rng = np.random.default_rng(0)
    body = rng.standard_normal((600, 3)) * 0.3
    floaters = rng.uniform(-1, 1, (12, 3))
    floaters = 4.0 * floaters / np.linalg.norm(floaters, axis=1, keepdims=True)
    scene = random_scene(612)
    scene.means[:] = torch.tensor(np.concatenate([body, floaters]), dtype=torch.float32)
    found = cleanup.statistical_outliers(scene, k=10, std_ratio=3.0)
    assert np.array_equal(np.flatnonzero(found), np.arange(600, 612))
    gone = np.zeros(612, bool)
    gone[600:606] = True  # already deleted: not candidates
    assert np.array_equal(np.flatnonzero(cleanup.statistical_outliers(scene, 10, 3.0, candidates=~gone)), np.arange(606, 612))


def test_the_largest_cluster_is_kept_on_dense_and_sparse_grids():
    rng = np.random.default_rng(1)
    big = rng.uniform(0, 1, (800, 3))
    small = rng.uniform(0, 0.4, (150, 3)) + [3, 0, 0]
    stray = np.array([[1.5, 1.5, 1.5], [-2, 0, 0]])
    scene = random_scene(952)
    scene.means[:] = torch.tensor(np.concatenate([big, small, stray]), dtype=torch.float32)
    want = np.arange(952) >= 800
    assert np.array_equal(cleanup.outside_largest_cluster(scene, 0.2), want)
    assert np.array_equal(cleanup.outside_largest_cluster(scene, 0.2, dense_limit=0), want)  # the sparse path
    a = cleanup.voxel_clusters(scene.means.numpy().astype(np.float64), 0.2)
    b = cleanup.voxel_clusters(scene.means.numpy().astype(np.float64), 0.2, dense_limit=0)
    assert len(np.unique(a)) == len(np.unique(b)) == 4
    assert len(np.unique(np.stack([a, b], 1), axis=0)) == 4  # the same partition


def test_prune_presets_use_the_trainers_thresholds():
    scene = random_scene(100, seed=3)
    scene.opacity_logits[:] = 3.0
    scene.opacity_logits[:5] = -6.0  # sigmoid ~0.0025 < 0.005
    scene.log_scales[:] = math.log(0.01)
    scene.log_scales[50:53, 1] = math.log(0.5)  # > 0.1 x extent
    cams = np.tile(np.eye(4), (4, 1, 1))
    cams[:, :3, 3] = [[2, 0, 0], [-2, 0, 0], [0, 2, 0], [0, -2, 0]]
    assert cleanup.scene_extent(scene, cams) == pytest.approx(2.2)
    found = cleanup.prune_preset(scene, "inria", cameras=cams)
    assert np.flatnonzero(found).tolist() == [0, 1, 2, 3, 4, 50, 51, 52]
    assert np.array_equal(cleanup.prune_preset(scene, "gsplat", cameras=cams), found)
    assert 1.0 < cleanup.scene_extent(scene) < 2.0  # no cameras: the robust box of the splats
    s = EditSession(scene)
    ops.delete_mask(s, found)
    assert s.result_scene().count == 92


def test_a_many_edged_lasso_gives_the_same_answer_banded_and_plain(monkeypatch):
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 400, (20_000, 2)).astype(np.float32)
    t = np.linspace(0, 2 * np.pi, 200, endpoint=False)
    lasso = np.stack([200 + 120 * np.cos(t) * (1 + 0.3 * np.sin(5 * t)), 200 + 120 * np.sin(t)], 1)
    lasso[::7] += rng.normal(0, 30, lasso[::7].shape)  # spikes: a self-intersecting hand-drawn lasso
    banded = select.points_in_polygon(pts, lasso)
    monkeypatch.setattr(select, "BAND_EDGES", 10**9)
    assert np.array_equal(banded, select.points_in_polygon(pts, lasso)) and 0 < banded.sum() < len(pts)
