"""Capture loading (engine.io.captures): NeRF-synthetic, instant-ngp, COLMAP text and binary.

The lego and fox captures come from ../shared/data (tests skip where it is absent); the COLMAP
models and the bad inputs are written here, in tmp folders.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import map_coordinates
from scipy.spatial.transform import Rotation

from engine.errors import InputError
from engine.io.captures import model as capture_model
from engine.io.captures import (
    CaptureWarning,
    Distortion,
    distort_normalized,
    load_capture,
    undistort_image,
    undistort_normalized,
)
from tests.conftest import data_path

LEGO = "captures/lego_nerf_synthetic"
FOX = "captures/fox_instant_ngp"
LEGO_FX = 0.5 * 800 / math.tan(0.5 * 0.6911112070083618)  # ≈ 1111.1
FOX_DIST = Distortion(k1=0.0578421, k2=-0.0805099, p1=-0.000980296, p2=0.00015575)


def _load_quiet(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CaptureWarning)
        return load_capture(path, **kw)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 10 * math.log10(1.0 / max(mse, 1e-20))


@pytest.fixture(scope="module")
def lego():
    return _load_quiet(data_path(LEGO))


@pytest.fixture(scope="module")
def lego_small():
    return _load_quiet(data_path(LEGO), max_side=200)


@pytest.fixture(scope="module")
def fox():
    return _load_quiet(data_path(FOX), max_side=270)


# ============================================================================ lego (NeRF-synthetic)
def test_lego_skips_missing_frames_with_a_warning():
    with pytest.warns(CaptureWarning, match=r"50 of 100 frames whose image file is missing: train/r_1, train/r_3"):
        cap = load_capture(data_path(LEGO))
    assert cap.kind == "nerf_synthetic"
    assert len(cap.frames) == 50
    assert sorted(cap.skipped) == sorted(f"train/r_{i}" for i in range(1, 100, 2))
    assert all(int(f.name.split("_")[1]) % 2 == 0 for f in cap.frames)
    assert all(os.path.isfile(f.image_path) and f.image_path.endswith(".png") for f in cap.frames)


def test_lego_intrinsics(lego):
    for f in lego.frames:
        c = f.camera
        assert (c.width, c.height) == (800, 800)
        assert c.fx == pytest.approx(1111.1, abs=0.05) and c.fx == pytest.approx(LEGO_FX, rel=1e-6)
        assert c.fy == pytest.approx(c.fx)
        assert (c.cx, c.cy) == (400.0, 400.0)


def test_lego_cameras_look_at_the_origin_in_opencv_axes(lego):
    for f in lego.frames:
        c = f.camera
        r = c.camera_to_world[:3, :3]
        np.testing.assert_allclose(r.T @ r, np.eye(3), atol=1e-5)
        assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-5)
        dist = np.linalg.norm(c.center)
        assert dist == pytest.approx(4.031, abs=0.01)
        # OpenCV +z (forward) points at the origin...
        assert c.forward @ (-c.center / dist) > 0.999
        # ...image +y (down) points down the world (Blender is z-up)...
        assert c.camera_to_world[:3, 1][2] < 0
        # ...and the origin projects to the image centre.
        p = c.world_to_camera @ np.array([0.0, 0.0, 0.0, 1.0])
        assert p[2] > 0
        u, v = c.fx * p[0] / p[2] + c.cx, c.fy * p[1] / p[2] + c.cy
        assert abs(u - 400) < 2 and abs(v - 400) < 2


def test_lego_split_every_8th_after_sorting_by_name(lego):
    names = [f.name for f in lego.frames]
    assert names == sorted(names)
    assert [names[i] for i in lego.test_indices] == sorted(names)[::8]
    assert lego.test_indices == list(range(0, 50, 8))
    assert sorted(lego.train_indices + lego.test_indices) == list(range(50))
    assert len(lego.train_cameras()) == 43 and len(lego.test_cameras()) == 7
    assert lego.test_cameras()[0].name == "train/r_0"


def test_lego_scene_extent_is_inria(lego):
    centers = np.stack([c.center for c in lego.train_cameras()])
    mean = centers.mean(axis=0)
    np.testing.assert_allclose(lego.scene_center(), mean)
    assert lego.scene_extent() == pytest.approx(1.1 * np.linalg.norm(centers - mean, axis=1).max())
    assert 4.0 < lego.scene_extent() < 1.1 * 2 * 4.04


def test_lego_images_composited_on_white_and_black(lego):
    white = lego.image(0).numpy()
    assert white.shape == (800, 800, 3) and white.dtype == np.float32
    assert white.min() >= 0.0 and white.max() <= 1.0
    np.testing.assert_allclose(white[0, 0], 1.0, atol=1e-6)
    alpha = lego.alpha(0).numpy()
    assert alpha.shape == (800, 800) and alpha[0, 0] == 0.0 and alpha.max() == 1.0

    black_cap = _load_quiet(data_path(LEGO), background=(0.0, 0.0, 0.0))
    black = black_cap.image(0).numpy()
    np.testing.assert_allclose(black[0, 0], 0.0, atol=1e-6)
    # "over" compositing: the two backgrounds differ by exactly (1 - alpha)
    np.testing.assert_allclose(white - black, np.repeat((1 - alpha)[..., None], 3, 2), atol=1e-5)
    assert (alpha > 0.99).mean() > 0.05  # the model itself is there


def test_lego_max_side_downsamples_image_and_intrinsics(lego, lego_small):
    c = lego_small.frames[0].camera
    assert (c.width, c.height) == (200, 200)
    assert c.fx == pytest.approx(277.78, abs=0.01) and c.fy == pytest.approx(277.78, abs=0.01)
    assert (c.cx, c.cy) == (100.0, 100.0)
    np.testing.assert_allclose(c.camera_to_world, lego.frames[0].camera.camera_to_world)
    img = lego_small.image(0).numpy()
    assert img.shape == (200, 200, 3)
    # an anti-aliased downsample: close to the 4x4 box average of the full image
    box = lego.image(0).numpy().reshape(200, 4, 200, 4, 3).mean(axis=(1, 3))
    assert _psnr(img, box) > 30
    assert lego_small.alpha(0).shape == (200, 200)


def test_loading_is_lazy_and_images_are_cached(monkeypatch):
    calls = []
    real = capture_model._decode_frame
    monkeypatch.setattr(capture_model, "_decode_frame", lambda *a: calls.append(1) or real(*a))
    cap = _load_quiet(data_path(LEGO), max_side=50)
    assert calls == []
    a = cap.image(3)
    a[:] = 0  # the caller's copy: the cache is unaffected
    b = cap.image(3)
    assert calls == [1] and b.max() > 0
    assert cap.image(-1).shape == (50, 50, 3) and len(calls) == 2
    with pytest.raises(IndexError):
        cap.image(50)


# ============================================================================ fox (instant-ngp)
def test_fox_frames_intrinsics_and_split(fox):
    with pytest.warns(CaptureWarning, match=r"17 of 67 frames whose image file is missing: images/0005"):
        cap = load_capture(data_path(FOX), max_side=270)
    assert cap.kind == "instant_ngp" and len(cap.frames) == 50 and len(cap.skipped) == 17
    assert "images/0113" in cap.skipped
    names = [f.name for f in fox.frames]
    assert names == sorted(names) and [names[i] for i in fox.test_indices] == names[::8]
    for f in fox.frames:
        c = f.camera
        assert (c.width, c.height) == (152, 270)
        assert c.fx == pytest.approx(1375.52 * 152 / 1080) and c.fy == pytest.approx(1374.49 * 270 / 1920)
        assert c.cx == pytest.approx(554.558 * 152 / 1080) and c.cy == pytest.approx(965.268 * 270 / 1920)
        assert c.extra["undistorted"] and c.extra["distortion"]["k1"] == pytest.approx(0.0578421)
        assert f.source.width == 1080 and f.source.fx == pytest.approx(1375.52)
    assert fox.points is None


def test_fox_cameras_converge(fox):
    """Forward rays of all views pass near one point (the fox): checks the axis conversion."""
    centers = np.stack([c.center for c in fox.cameras()])  # [N, 3]
    dirs = np.stack([c.forward for c in fox.cameras()])  # [N, 3]
    projs = np.eye(3)[None] - dirs[:, :, None] * dirs[:, None, :]  # [N, 3, 3]
    target = np.linalg.solve(projs.sum(0), np.einsum("nij,nj->i", projs, centers))
    to_target = target - centers
    ray_dist = np.linalg.norm(np.einsum("nij,nj->ni", projs, to_target), axis=1)
    cam_dist = np.linalg.norm(to_target, axis=1)
    # a hand-held capture: the fox sits 3-16 degrees off the optical axes (median ray distance
    # ≈ 0.14 × camera distance)
    assert np.median(ray_dist) < 0.25 * np.median(cam_dist)
    # the point is in front of every camera and inside every image (with GL axes left
    # unconverted it would be behind them all)
    for cam in fox.cameras():
        x, y, z = (cam.world_to_camera @ np.append(target, 1.0))[:3]
        assert z > 0
        assert 0 < cam.fx * x / z + cam.cx < cam.width and 0 < cam.fy * y / z + cam.cy < cam.height


def test_fox_fast_decode_at_270(fox):
    img = fox.image(5).numpy()
    assert img.shape == (270, 152, 3) and img.dtype == np.float32
    assert 0.0 <= img.min() and img.max() <= 1.0 and img.std() > 0.05
    assert fox.alpha(5) is None


def test_fox_is_undistorted_on_load(fox):
    cap = _load_quiet(data_path(FOX))  # full resolution, one image
    frame = cap.frames[0]
    img = cap.image(0).numpy()
    assert img.shape == (1920, 1080, 3)
    raw = np.asarray(Image.open(frame.image_path).convert("RGB"), np.float32) / 255
    # independent resampling: scipy map_coordinates, array index = pixel coordinate - 0.5
    src = frame.source
    v, u = np.mgrid[0:1920, 0:1080] + 0.5
    xd, yd = distort_normalized((u - src.cx) / src.fx, (v - src.cy) / src.fy, FOX_DIST)
    coords = [src.fy * yd + src.cy - 0.5, src.fx * xd + src.cx - 0.5]
    expect = np.stack([map_coordinates(raw[..., c], coords, order=1, mode="nearest") for c in range(3)], -1)
    np.testing.assert_allclose(img[8:-8, 8:-8], expect[8:-8, 8:-8], atol=2e-3)
    # undistortion moves the corners (several pixels) but hardly the principal point
    centre = (slice(900, 1030), slice(490, 620))
    corner = (slice(0, 200), slice(0, 200))
    assert np.abs(img[centre] - raw[centre]).mean() < 0.25 * np.abs(img[corner] - raw[corner]).mean()
    # at max_side 270 the JPEG is decoded at 1/4 scale (DCT) and undistorted there: the same
    # picture as undistorting at full size and then downsampling (≈ 44 dB)
    assert fox.frames[0].name == frame.name
    assert _psnr(fox.image(0).numpy(), capture_model._resize(img, 152, 270)) > 38


# ============================================================================ undistortion
def test_undistort_normalized_inverts_the_forward_model():
    d = Distortion(k1=0.1, k2=-0.05, p1=0.002, p2=-0.001, k3=0.01)
    x, y = np.meshgrid(np.linspace(-0.6, 0.6, 31), np.linspace(-0.45, 0.45, 23))
    xd, yd = distort_normalized(x, y, d)
    assert np.abs(xd - x).max() > 1e-3
    xu, yu = undistort_normalized(xd, yd, d)
    np.testing.assert_allclose(xu, x, atol=1e-9)
    np.testing.assert_allclose(yu, y, atol=1e-9)


def test_undistort_image_recovers_a_synthetic_pinhole_image():
    w, h, fx, fy, cx, cy = 320, 240, 300.0, 310.0, 163.2, 118.7
    d = Distortion(k1=-0.12, k2=0.04, p1=0.003, p2=-0.002)

    def pattern(x, y):  # smooth, periods of ~30-60 px; [.., 3]
        return np.stack([0.5 + 0.4 * np.sin(45 * x) * np.cos(35 * y), 0.5 + 0.4 * np.cos(55 * x + 25 * y),
                         0.5 + 0.3 * np.sin(30 * (x - y))], -1)  # fmt: skip

    v, u = np.mgrid[0:h, 0:w] + 0.5
    x, y = (u - cx) / fx, (v - cy) / fy
    pinhole = pattern(x, y).astype(np.float32)
    # distorted image: pixel (u, v) sees the scene point whose ideal position undistorts from it
    xs, ys = undistort_normalized(x, y, d)
    distorted = pattern(xs, ys).astype(np.float32)
    out = undistort_image(distorted, fx, fy, cx, cy, d)
    inner = (slice(24, -24), slice(32, -32))
    assert out.shape == pinhole.shape and out.dtype == np.float32
    assert _psnr(distorted[inner], pinhole[inner]) < 30  # the distortion matters (≈ 26 dB)...
    # ...and is undone (≈ 63 dB; a half-pixel error in the pixel-centre convention gives ≈ 30)
    assert _psnr(out[inner], pinhole[inner]) > 45
    assert undistort_image(pinhole, fx, fy, cx, cy, Distortion()) is pinhole


# ============================================================================ COLMAP
# (model name, model id, params from (fx, fy, cx, cy))
COLMAP_TEST_MODELS = [
    ("PINHOLE", 1, lambda fx, fy, cx, cy: [fx, fy, cx, cy]),
    ("OPENCV", 4, lambda fx, fy, cx, cy: [fx, fy, cx, cy, 0.01, -0.005, 0.001, -0.0005]),
    ("SIMPLE_PINHOLE", 0, lambda fx, fy, cx, cy: [fx, cx, cy]),
    ("SIMPLE_RADIAL", 2, lambda fx, fy, cx, cy: [fx, cx, cy, 0.02]),
    ("RADIAL", 3, lambda fx, fy, cx, cy: [fx, cx, cy, 0.02, -0.01]),
]
EXPECTED_DIST = {
    "PINHOLE": Distortion(), "SIMPLE_PINHOLE": Distortion(),
    "OPENCV": Distortion(0.01, -0.005, 0.001, -0.0005), "SIMPLE_RADIAL": Distortion(k1=0.02),
    "RADIAL": Distortion(k1=0.02, k2=-0.01),
}  # fmt: skip


def _link(src: str, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(os.path.abspath(src), dst)
    except OSError:
        shutil.copyfile(src, dst)


def _colmap_model(lego, n: int = 5, n_points: int = 200):
    """Cameras, images and points (COLMAP conventions) from the lego frames 1..n."""
    rng = np.random.default_rng(0)
    cams, imgs = {}, []
    for k in range(n):
        frame = lego.frames[1 + k]
        c = frame.camera
        model, model_id, params = COLMAP_TEST_MODELS[k % len(COLMAP_TEST_MODELS)]
        fy = c.fx if model.startswith(("SIMPLE", "RADIAL")) else c.fy
        cams[k + 1] = (model, model_id, c.width, c.height, params(c.fx, fy, c.cx, c.cy))
        w2c = c.world_to_camera
        qx, qy, qz, qw = Rotation.from_matrix(w2c[:3, :3]).as_quat()
        imgs.append((10 + k, [qw, qx, qy, qz], list(w2c[:3, 3]), k + 1, os.path.basename(frame.image_path), frame))
    # one listed image without a file
    imgs.append((99, [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 4.0], 1, "missing.png", None))
    xyz = rng.normal(size=(n_points, 3))
    rgb = rng.integers(0, 256, size=(n_points, 3), dtype=np.uint8)
    tracks = [rng.integers(0, 50, size=(rng.integers(0, 5), 2)) for _ in range(n_points)]
    return cams, imgs, (xyz, rgb, tracks)


def _write_colmap_txt(sparse: Path, cams, imgs, points) -> None:
    sparse.mkdir(parents=True, exist_ok=True)
    lines = ["# Camera list with one line of data per camera:", "#   CAMERA_ID, MODEL, WIDTH, HEIGHT, PARAMS[]"]
    lines += [f"{cid} {m} {w} {h} " + " ".join(repr(float(p)) for p in ps) for cid, (m, _, w, h, ps) in cams.items()]
    (sparse / "cameras.txt").write_text("\n".join(lines) + "\n")
    lines = ["# Image list with two lines of data per image:",
             "#   IMAGE_ID, QW, QX, QY, QZ, TX, TY, TZ, CAMERA_ID, NAME"]  # fmt: skip
    for k, (iid, q, t, cid, name, _) in enumerate(imgs):
        lines.append(" ".join([str(iid), *map(repr, map(float, q)), *map(repr, map(float, t)), str(cid), name]))
        lines.append("" if k % 2 else "12.5 30.25 -1 400.0 401.5 7")  # POINTS2D, sometimes empty
    (sparse / "images.txt").write_text("\n".join(lines) + "\n")
    xyz, rgb, tracks = points
    lines = ["# 3D point list with one line of data per point:"]
    for i, (p, c, tr) in enumerate(zip(xyz, rgb, tracks)):
        xyz_s = " ".join(repr(float(v)) for v in p)
        lines.append(f"{i + 1} {xyz_s} {c[0]} {c[1]} {c[2]} 0.5 " + " ".join(map(str, tr.ravel())))
    (sparse / "points3D.txt").write_text("\n".join(lines) + "\n")


def _write_colmap_bin(sparse: Path, cams, imgs, points) -> None:
    sparse.mkdir(parents=True, exist_ok=True)
    b = struct.pack("<Q", len(cams))
    for cid, (_, mid, w, h, ps) in cams.items():
        b += struct.pack("<iiQQ", cid, mid, w, h) + struct.pack(f"<{len(ps)}d", *ps)
    (sparse / "cameras.bin").write_bytes(b)
    b = struct.pack("<Q", len(imgs))
    for k, (iid, q, t, cid, name, _) in enumerate(imgs):
        b += struct.pack("<i7di", iid, *q, *t, cid) + name.encode() + b"\0"
        n2d = k % 3
        b += struct.pack("<Q", n2d) + b"".join(struct.pack("<ddq", 1.5 * j, 2.5, j - 1) for j in range(n2d))
    (sparse / "images.bin").write_bytes(b)
    xyz, rgb, tracks = points
    b = struct.pack("<Q", len(xyz))
    for i, (p, c, tr) in enumerate(zip(xyz, rgb, tracks)):
        b += struct.pack("<Q3d3BdQ", i + 1, *p, *c, 0.5, len(tr)) + b"".join(struct.pack("<ii", *e) for e in tr)
    (sparse / "points3D.bin").write_bytes(b)


def _make_colmap(root: Path, lego, binary: bool, sub: str = "sparse/0"):
    cams, imgs, points = _colmap_model(lego)
    (_write_colmap_bin if binary else _write_colmap_txt)(root / sub, cams, imgs, points)
    for *_, name, frame in imgs:
        if frame is not None:
            _link(frame.image_path, root / "images" / name)
    return cams, imgs, points


@pytest.mark.parametrize("binary,sub", [(False, "sparse/0"), (True, "sparse/0"), (True, "sparse")])
def test_colmap_model_round_trip(tmp_path, lego, binary, sub):
    cams, imgs, (xyz, rgb, _) = _make_colmap(tmp_path, lego, binary, sub)
    with pytest.warns(CaptureWarning, match=r"1 of 6 frames whose image file is missing: missing"):
        cap = load_capture(tmp_path, max_side=100)
    assert cap.kind == "colmap" and len(cap.frames) == 5 and cap.skipped == ["missing"]
    by_name = {f.name: f for f in cap.frames}
    for iid, _, _, cid, name, src_frame in imgs[:-1]:
        f = by_name[os.path.splitext(name)[0]]
        model = cams[cid][0]
        full = f.source  # at the file's resolution
        ref = src_frame.camera
        np.testing.assert_allclose(full.camera_to_world, ref.camera_to_world, atol=1e-6)  # lego R is float32
        assert (full.fx, full.fy, full.cx, full.cy) == pytest.approx((ref.fx, ref.fy, ref.cx, ref.cy))
        assert (f.camera.width, f.camera.height, f.camera.fx) == (100, 100, pytest.approx(ref.fx / 8))
        assert f.distortion == EXPECTED_DIST[model]
        assert f.camera.extra["colmap_image_id"] == iid and f.camera.extra["colmap_camera_id"] == cid
        assert f.camera.extra.get("undistorted", False) == (model not in ("PINHOLE", "SIMPLE_PINHOLE"))
    assert cap.points.shape == (200, 3) and cap.points.dtype == np.float32
    np.testing.assert_allclose(cap.points, xyz, rtol=1e-6, atol=1e-6)
    assert cap.point_colors.dtype == np.uint8 and np.array_equal(cap.point_colors, rgb)
    # a PINHOLE frame decodes exactly like the same file in the NeRF-synthetic capture
    pin = next(i for i, f in enumerate(cap.frames) if f.distortion.is_identity)
    lego100 = _load_quiet(data_path(LEGO), max_side=100)
    j = next(j for j, f in enumerate(lego100.frames) if f.name == "train/" + cap.frames[pin].name)
    np.testing.assert_allclose(cap.image(pin).numpy(), lego100.image(j).numpy(), atol=1e-6)
    # a distorted frame decodes too (undistorted on load)
    dist = next(i for i, f in enumerate(cap.frames) if not f.distortion.is_identity)
    assert cap.image(dist).shape == (100, 100, 3)
    assert cap.test_indices == [0] and cap.train_indices == [1, 2, 3, 4]


def test_colmap_text_and_binary_agree(tmp_path, lego):
    _make_colmap(tmp_path / "t", lego, binary=False)
    _make_colmap(tmp_path / "b", lego, binary=True)
    t, b = _load_quiet(tmp_path / "t"), _load_quiet(tmp_path / "b")
    assert [f.name for f in t.frames] == [f.name for f in b.frames]
    for ft, fb in zip(t.frames, b.frames):
        np.testing.assert_allclose(ft.camera.camera_to_world, fb.camera.camera_to_world, atol=1e-12)
        assert ft.camera.K.tolist() == fb.camera.K.tolist() and ft.distortion == fb.distortion
    np.testing.assert_array_equal(t.points, b.points)
    assert t.scene_extent() == pytest.approx(b.scene_extent())


@pytest.mark.parametrize("binary", [False, True])
def test_colmap_unsupported_model_is_input_error(tmp_path, lego, binary):
    cams, imgs, points = _colmap_model(lego)
    cams[2] = ("OPENCV_FISHEYE", 5, 800, 800, [1000.0, 1000.0, 400.0, 400.0, 0.1, 0.0, 0.0, 0.0])
    (_write_colmap_bin if binary else _write_colmap_txt)(tmp_path / "sparse/0", cams, imgs, points)
    with pytest.raises(InputError, match=r"cameras\.(bin|txt).*OPENCV_FISHEYE.*not supported"):
        load_capture(tmp_path)


def test_colmap_without_points_file(tmp_path, lego):
    _make_colmap(tmp_path, lego, binary=True)
    (tmp_path / "sparse/0/points3D.bin").unlink()
    cap = _load_quiet(tmp_path)
    assert cap.points is None and cap.point_colors is None and len(cap.frames) == 5


# ============================================================================ other layouts
def test_nerf_synthetic_with_test_json_uses_its_split(tmp_path, lego):
    src = json.loads(data_path(LEGO + "/transforms_train.json").read_text())
    _link(str(data_path(LEGO + "/train")), tmp_path / "train")
    even = [f for f in src["frames"] if int(f["file_path"].rsplit("_", 1)[1]) % 2 == 0]
    for name, frames in (("train", even[:6]), ("test", even[6:9])):
        (tmp_path / f"transforms_{name}.json").write_text(json.dumps({**src, "frames": frames}))
    cap = load_capture(tmp_path / "transforms_test.json", max_side=64)  # a JSON path loads its folder
    assert cap.kind == "nerf_synthetic" and len(cap.frames) == 9
    assert [cap.frames[i].name for i in cap.test_indices] == sorted(
        os.path.normpath(f["file_path"]) for f in even[6:9]
    )
    assert len(cap.train_indices) == 6 and cap.val_indices == []


def test_instant_ngp_json_path_and_per_frame_intrinsics(tmp_path):
    src = json.loads(data_path(FOX + "/transforms.json").read_text())
    (tmp_path / "images").mkdir()
    frames = []
    for fr in src["frames"][:4]:
        p = data_path(FOX) / fr["file_path"]
        if p.exists():
            _link(str(p), tmp_path / fr["file_path"])
            frames.append(fr)
    frames[0] = {**frames[0], "fl_x": 1500.0, "k1": 0.0, "k2": 0.0, "p1": 0.0, "p2": 0.0}
    (tmp_path / "my_transforms.json").write_text(json.dumps({**src, "frames": frames}))
    cap = load_capture(tmp_path / "my_transforms.json", max_side=96)
    assert cap.kind == "instant_ngp" and len(cap.frames) == len(frames)
    f0 = next(f for f in cap.frames if f.image_path.endswith(frames[0]["file_path"]))
    assert f0.source.fx == 1500.0 and f0.distortion.is_identity and "undistorted" not in f0.camera.extra
    assert all(not f.distortion.is_identity for f in cap.frames if f is not f0)


# ============================================================================ bad input
def test_empty_folder_and_missing_path(tmp_path):
    with pytest.raises(InputError, match="not a capture folder") as e:
        load_capture(tmp_path)
    assert str(tmp_path) in str(e.value)
    with pytest.raises(InputError, match="no such file") as e:
        load_capture(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(e.value)


@pytest.mark.parametrize(
    "text,problem",
    [
        ('{"frames": [', "malformed JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"camera_angle_x": 0.7}', "no 'frames' list"),
        ('{"camera_angle_x": 0.7, "frames": [{"file_path": "a"}]}', "frame 0: transform_matrix is missing"),
        ('{"camera_angle_x": 0.7, "frames": [{"file_path": "a", "transform_matrix": [[1, 2]]}]}', "must be 4x4"),
        ('{"camera_angle_x": "wide", "frames": []}', "camera_angle_x is not a number"),
    ],
)
def test_malformed_json_is_input_error(tmp_path, text, problem):
    (tmp_path / "transforms.json").write_text(text)
    with pytest.raises(InputError, match=problem) as e:
        load_capture(tmp_path)
    assert str(tmp_path / "transforms.json") in str(e.value)


def test_truncated_colmap_binary_is_input_error(tmp_path, lego):
    _make_colmap(tmp_path, lego, binary=True)
    for name in ("cameras.bin", "images.bin", "points3D.bin"):
        f = tmp_path / "sparse/0" / name
        data = f.read_bytes()
        f.write_bytes(data[: len(data) - 5])
        with pytest.raises(InputError, match="truncated") as e:
            load_capture(tmp_path)
        assert str(f) in str(e.value)
        f.write_bytes(data)
    (tmp_path / "sparse/0/cameras.bin").write_bytes(b"\x03\x00")
    with pytest.raises(InputError, match=r"cameras\.bin.*truncated"):
        load_capture(tmp_path)


def test_malformed_colmap_text_is_input_error(tmp_path, lego):
    _make_colmap(tmp_path, lego, binary=False)
    (tmp_path / "sparse/0/cameras.txt").write_text("1 PINHOLE 800 800 1000 1000 400\n")
    with pytest.raises(InputError, match=r"cameras\.txt: line 1: PINHOLE has 4 parameters"):
        load_capture(tmp_path)


def test_all_images_missing_is_input_error(tmp_path):
    shutil.copyfile(data_path(LEGO + "/transforms_train.json"), tmp_path / "transforms_train.json")
    with pytest.raises(InputError, match=r"no usable image among the 100 frames") as e:
        load_capture(tmp_path)
    assert str(tmp_path / "transforms_train.json") in str(e.value)


def test_undecodable_images_are_skipped_with_a_warning(tmp_path):
    src = json.loads(data_path(LEGO + "/transforms_train.json").read_text())
    frames = src["frames"][:6:2]  # r_0, r_2, r_4
    for fr in frames[:2]:
        _link(str(data_path(LEGO) / (fr["file_path"] + ".png")), tmp_path / (fr["file_path"] + ".png"))
    (tmp_path / (frames[2]["file_path"] + ".png")).write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    (tmp_path / "transforms_train.json").write_text(json.dumps({**src, "frames": frames}))
    with pytest.warns(CaptureWarning, match=r"1 of 3 frames whose image cannot be read: train/r_4"):
        cap = load_capture(tmp_path)
    assert [f.name for f in cap.frames] == ["train/r_0", "train/r_2"] and cap.skipped == ["train/r_4"]


def test_bad_arguments_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="max_side"):
        load_capture(tmp_path, max_side=0)
    with pytest.raises(InputError, match="background"):
        load_capture(tmp_path, background=(1.0, 2.0, 0.0))
