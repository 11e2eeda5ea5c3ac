"""COLMAP sparse models, text and binary (Schönberger and Frahm 2016, "Structure-from-Motion Revisited").

``sparse/0/`` or ``sparse/`` holds ``cameras``, ``images`` and ``points3D`` as ``.bin`` or
``.txt``; the images are in ``images/`` beside ``sparse``. The records are those of COLMAP's
output format (its ``scripts/python/read_write_model.py`` reads the same): ``images`` stores the
world-to-camera rotation as a quaternion ``qw qx qy qz`` plus a translation, already in OpenCV
axes. Camera models SIMPLE_PINHOLE, PINHOLE, SIMPLE_RADIAL, RADIAL and OPENCV are supported; any
other model used by an image is an :class:`InputError`. Every count and length read from a
binary file is checked against the bytes left before anything is allocated.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import numpy as np

from engine.errors import InputError
from engine.io.captures.distortion import Distortion
from engine.io.captures.model import _frame_name, _Listed

# model id -> (name, number of params); the full list so unused unsupported cameras still parse.
COLMAP_MODELS = {
    0: ("SIMPLE_PINHOLE", 3), 1: ("PINHOLE", 4), 2: ("SIMPLE_RADIAL", 4), 3: ("RADIAL", 5),
    4: ("OPENCV", 8), 5: ("OPENCV_FISHEYE", 8), 6: ("FULL_OPENCV", 12), 7: ("FOV", 5),
    8: ("SIMPLE_RADIAL_FISHEYE", 4), 9: ("RADIAL_FISHEYE", 5), 10: ("THIN_PRISM_FISHEYE", 12),
    11: ("RAD_TAN_THIN_PRISM_FISHEYE", 16),
}  # fmt: skip
COLMAP_SUPPORTED = ("SIMPLE_PINHOLE", "PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV")
_MODEL_PARAMS = {name: n for name, n in COLMAP_MODELS.values()}


@dataclass
class _ColmapCamera:
    model: str
    width: int
    height: int
    params: np.ndarray  # [n] float64


@dataclass
class _ColmapImage:
    qvec: np.ndarray  # [4] w x y z, world -> camera
    tvec: np.ndarray  # [3]
    camera_id: int
    name: str


def _colmap_intrinsics(cam: _ColmapCamera) -> tuple[float, float, float, float, Distortion]:
    p = [float(v) for v in cam.params]
    if cam.model == "SIMPLE_PINHOLE":
        return p[0], p[0], p[1], p[2], Distortion()
    if cam.model == "PINHOLE":
        return p[0], p[1], p[2], p[3], Distortion()
    if cam.model == "SIMPLE_RADIAL":
        return p[0], p[0], p[1], p[2], Distortion(k1=p[3])
    if cam.model == "RADIAL":
        return p[0], p[0], p[1], p[2], Distortion(k1=p[3], k2=p[4])
    if cam.model == "OPENCV":
        return p[0], p[1], p[2], p[3], Distortion(k1=p[4], k2=p[5], p1=p[6], p2=p[7])
    raise AssertionError(cam.model)


def qvec_to_rotmat(q: np.ndarray) -> np.ndarray:
    """[3, 3] rotation of a unit quaternion (w, x, y, z)."""
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def _colmap_file(sparse: str, stem: str, required: bool = True) -> tuple[str | None, bool]:
    """(path, is_binary) of sparse/<stem>.bin or .txt; binary first, as 3DGS does."""
    for ext, binary in ((".bin", True), (".txt", False)):
        p = os.path.join(sparse, stem + ext)
        if os.path.isfile(p):
            return p, binary
    if required:
        raise InputError(sparse, f"COLMAP model lacks {stem}.bin / {stem}.txt")
    return None, False


def _read_colmap(sparse: str) -> tuple[list[_Listed], np.ndarray | None, np.ndarray | None]:
    cam_path, cam_bin = _colmap_file(sparse, "cameras")
    img_path, img_bin = _colmap_file(sparse, "images")
    pts_path, pts_bin = _colmap_file(sparse, "points3D", required=False)
    cameras = (_read_cameras_bin if cam_bin else _read_cameras_txt)(cam_path)
    images = (_read_images_bin if img_bin else _read_images_txt)(img_path)
    points = colors = None
    if pts_path is not None:
        points, colors = (_read_points_bin if pts_bin else _read_points_txt)(pts_path)

    image_dir = os.path.join(_colmap_root(sparse), "images")
    listed = []
    for image_id, im in images.items():
        cam = cameras.get(im.camera_id)
        if cam is None:
            raise InputError(
                img_path, f"image {image_id} ({im.name}) refers to camera {im.camera_id}, which {cam_path} lacks"
            )
        if cam.model not in COLMAP_SUPPORTED:
            raise InputError(
                cam_path,
                f"camera {im.camera_id} uses model {cam.model}, which is not supported "
                f"(supported: {', '.join(COLMAP_SUPPORTED)})",
            )
        if not np.isfinite(im.qvec).all() or np.linalg.norm(im.qvec) < 1e-12 or not np.isfinite(im.tvec).all():
            raise InputError(img_path, f"image {image_id} ({im.name}) has a zero or non-finite pose")
        r = qvec_to_rotmat(im.qvec)  # world -> camera
        c2w = np.eye(4)
        c2w[:3, :3] = r.T
        c2w[:3, 3] = -r.T @ im.tvec
        fx, fy, cx, cy, dist = _colmap_intrinsics(cam)
        listed.append(
            _Listed(
                name=_frame_name(im.name),
                candidates=[os.path.normpath(os.path.join(image_dir, im.name))],
                c2w=c2w, fx=fx, fy=fy, cx=cx, cy=cy, width=cam.width, height=cam.height,
                distortion=dist, extra={"colmap_image_id": image_id, "colmap_camera_id": im.camera_id},
            )
        )  # fmt: skip
    return listed, points, colors


# ---------------------------------------------------------------------------- COLMAP text
def _text_lines(path: str):
    """(line number, stripped line) of a COLMAP text file, comments dropped, blanks kept."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(path, f"cannot read ({e})") from None
    for n, line in enumerate(text.splitlines(), 1):
        if not line.lstrip().startswith("#"):
            yield n, line.strip()


def _read_cameras_txt(path: str) -> dict[int, _ColmapCamera]:
    cams = {}
    for n, line in _text_lines(path):
        if not line:
            continue
        e = line.split()
        try:
            cam_id, model, w, h = int(e[0]), e[1], int(e[2]), int(e[3])
            params = np.array([float(v) for v in e[4:]], dtype=np.float64)
        except (ValueError, IndexError):
            raise InputError(path, f"line {n}: expected CAMERA_ID MODEL WIDTH HEIGHT PARAMS...") from None
        if model not in _MODEL_PARAMS:
            raise InputError(path, f"line {n}: unknown camera model {model!r}")
        cams[cam_id] = _check_camera(path, f"line {n}", _ColmapCamera(model, w, h, params))
    return cams


def _check_camera(path: str, where: str, cam: _ColmapCamera) -> _ColmapCamera:
    want = _MODEL_PARAMS[cam.model]
    if len(cam.params) != want:
        raise InputError(path, f"{where}: {cam.model} has {want} parameters, found {len(cam.params)}")
    if not (0 < cam.width <= 1 << 16 and 0 < cam.height <= 1 << 16):
        raise InputError(path, f"{where}: image size {cam.width}x{cam.height} is out of range")
    if not np.isfinite(cam.params).all():
        raise InputError(path, f"{where}: camera parameters are not finite")
    return cam


def _read_images_txt(path: str) -> dict[int, _ColmapImage]:
    """Two lines per image: the pose line, then its POINTS2D line (possibly empty)."""
    images = {}
    expect_pose = True
    for n, line in _text_lines(path):
        if not expect_pose:  # the POINTS2D line (not needed)
            expect_pose = True
            continue
        if not line:
            continue
        e = line.split()
        try:
            image_id = int(e[0])
            q = np.array([float(v) for v in e[1:5]])
            t = np.array([float(v) for v in e[5:8]])
            cam_id = int(e[8])
            name = " ".join(e[9:])
        except (ValueError, IndexError):
            raise InputError(path, f"line {n}: expected IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME") from None
        if not name or len(q) != 4 or len(t) != 3:
            raise InputError(path, f"line {n}: expected IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME")
        images[image_id] = _ColmapImage(q, t, cam_id, name)
        expect_pose = False
    return images


def _read_points_txt(path: str) -> tuple[np.ndarray, np.ndarray]:
    xyz, rgb = [], []
    for n, line in _text_lines(path):
        if not line:
            continue
        e = line.split()
        try:
            xyz.append([float(v) for v in e[1:4]])
            rgb.append([int(v) for v in e[4:7]])
        except ValueError:
            raise InputError(path, f"line {n}: expected POINT3D_ID X Y Z R G B ERROR TRACK...") from None
        if len(xyz[-1]) != 3 or len(rgb[-1]) != 3 or not all(0 <= c <= 255 for c in rgb[-1]):
            raise InputError(path, f"line {n}: expected POINT3D_ID X Y Z R G B ERROR TRACK...")
    return _points_arrays(path, np.array(xyz, np.float64).reshape(-1, 3), np.array(rgb).reshape(-1, 3))


def _points_arrays(path: str, xyz: np.ndarray, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if not np.isfinite(xyz).all():
        raise InputError(path, "points have NaN or Inf coordinates")
    return xyz.astype(np.float32), rgb.astype(np.uint8)  # [P, 3], [P, 3]


# ---------------------------------------------------------------------------- COLMAP binary
class _Bin:
    """Little-endian reader over a whole file with truncation checks."""

    def __init__(self, path: str):
        self.path = path
        try:
            with open(path, "rb") as f:
                self.buf = f.read()
        except OSError as e:
            raise InputError(path, f"cannot read ({e.strerror or e})") from None
        self.off = 0

    def _truncated(self, what: str) -> InputError:
        return InputError(self.path, f"truncated: {what} at byte {self.off} runs past the end ({len(self.buf)} bytes)")

    def take(self, fmt: str, what: str) -> tuple:
        size = struct.calcsize("<" + fmt)
        if self.off + size > len(self.buf):
            raise self._truncated(what)
        vals = struct.unpack_from("<" + fmt, self.buf, self.off)
        self.off += size
        return vals

    def skip(self, n: int, what: str) -> None:
        if n < 0 or self.off + n > len(self.buf):
            raise self._truncated(what)
        self.off += n

    def cstring(self, what: str) -> str:
        end = self.buf.find(b"\0", self.off)
        if end < 0:
            raise InputError(self.path, f"truncated: {what} at byte {self.off} has no terminating NUL")
        s = self.buf[self.off : end]
        self.off = end + 1
        try:
            return s.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(self.path, f"{what} is not UTF-8") from None

    def count(self, what: str, min_record: int) -> int:
        (n,) = self.take("Q", what)
        if n * min_record > len(self.buf) - self.off:
            raise InputError(self.path, f"truncated: {what} is {n}, more records than the file can hold")
        return n

    def done(self) -> None:
        if self.off != len(self.buf):
            raise InputError(self.path, f"{len(self.buf) - self.off} unexpected bytes after the last record")


def _read_cameras_bin(path: str) -> dict[int, _ColmapCamera]:
    """uint64 count; per camera: int32 id, int32 model, uint64 width, uint64 height, float64 params."""
    r = _Bin(path)
    cams = {}
    for k in range(r.count("camera count", 24)):
        cam_id, model_id, w, h = r.take("iiQQ", f"camera {k}")
        if model_id not in COLMAP_MODELS:
            raise InputError(path, f"camera {cam_id}: unknown camera model id {model_id}")
        model, n = COLMAP_MODELS[model_id]
        params = np.array(r.take(f"{n}d", f"camera {cam_id} parameters"), dtype=np.float64)
        cams[cam_id] = _check_camera(path, f"camera {cam_id}", _ColmapCamera(model, w, h, params))
    r.done()
    return cams


def _read_images_bin(path: str) -> dict[int, _ColmapImage]:
    """uint64 count; per image: int32 id, float64 qw qx qy qz tx ty tz, int32 camera id,
    NUL-terminated name, uint64 n, n × (float64 x, float64 y, int64 point3D id)."""
    r = _Bin(path)
    images = {}
    for k in range(r.count("image count", 64)):
        image_id, *qt, cam_id = r.take("i7di", f"image {k}")
        name = r.cstring(f"name of image {image_id}")
        (n2d,) = r.take("Q", f"point count of image {image_id}")
        r.skip(24 * n2d, f"points of image {image_id}")
        images[image_id] = _ColmapImage(np.array(qt[:4]), np.array(qt[4:]), cam_id, name)
    r.done()
    return images


def _read_points_bin(path: str) -> tuple[np.ndarray, np.ndarray]:
    """uint64 count; per point: uint64 id, float64 xyz, uint8 rgb, float64 error, uint64 track
    length, length × (int32 image id, int32 point2D index)."""
    r = _Bin(path)
    n = r.count("point count", 51)
    xyz = np.empty((n, 3), np.float64)
    rgb = np.empty((n, 3), np.uint8)
    for k in range(n):
        vals = r.take("Q3d3BdQ", f"point {k}")
        xyz[k], rgb[k] = vals[1:4], vals[4:7]
        r.skip(8 * vals[8], f"track of point {k}")
    r.done()
    return _points_arrays(path, xyz, rgb)


def _colmap_root(sparse: str) -> str:
    """The capture folder of ``<root>/sparse/0`` or ``<root>/sparse``."""
    parent = os.path.dirname(os.path.normpath(sparse))
    return os.path.dirname(parent) if os.path.basename(parent) == "sparse" else parent
