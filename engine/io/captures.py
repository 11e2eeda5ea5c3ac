"""Multi-view captures (images + camera poses) for training and evaluation.

``load_capture(path)`` reads a capture folder in one of three layouts and returns a
:class:`Capture`: OpenCV cameras, a fixed train/test split, lazily decoded images and, for COLMAP,
the sparse point cloud that 3DGS starts from.

Formats (detected in this order):

1. **COLMAP** (``sparse/0/`` or ``sparse/`` holding ``cameras``, ``images`` and ``points3D`` as
   ``.bin`` or ``.txt``; images in ``images/``). Layout and binary records as in COLMAP's
   "Output format" documentation and ``scripts/python/read_write_model.py``. ``images`` stores
   the world-to-camera rotation as a quaternion ``qw qx qy qz`` plus a translation, already in
   OpenCV axes. Camera models SIMPLE_PINHOLE, PINHOLE, SIMPLE_RADIAL, RADIAL and OPENCV are
   supported; any other model used by an image is an :class:`InputError`.
2. **NeRF-synthetic** (``transforms_train.json`` and, when present, ``transforms_val.json`` and
   ``transforms_test.json``; Mildenhall et al. 2020, "Blender" dataset). ``camera_angle_x`` gives
   the horizontal field of view; ``file_path`` usually has no extension (``./train/r_0`` ->
   ``train/r_0.png``); images are RGBA and are composited onto ``background``.
3. **instant-ngp** ``transforms.json`` (NVlabs/instant-ngp ``docs/nerf_dataset_tips.md``, written
   by ``scripts/colmap2nerf.py``): ``fl_x fl_y cx cy w h`` and OpenCV radial-tangential
   distortion ``k1 k2 [k3] p1 p2``, each of which a frame may override (as nerfstudio writes).

Both JSON flavours store 4x4 camera-to-world matrices in NeRF/Blender/OpenGL camera axes
(+x right, +y up, looking down -z). They are converted to the engine's OpenCV axes here, once, by
negating the camera's y and z axes (``c2w @ diag(1, -1, -1, 1)``; ALGORITHMS.md §6.6).

Conventions shared by all kinds:

- Pixel centres sit at integer + 0.5 (COLMAP, instant-ngp, 3DGS and gsplat all agree), so
  scaling an image by ``s`` scales ``fx fy cx cy`` by ``s``.
- Distorted images are **undistorted on load** into a pinhole image with the same K and size:
  for each output pixel the forward distortion model gives its source location, sampled
  bilinearly (edge pixels are replicated where that location falls outside the source).
- Frames whose image file is missing, or exists but cannot be read, are skipped with one
  :class:`CaptureWarning` per cause, naming how many and which; they are listed in
  ``Capture.skipped``. A capture with no usable image is an :class:`InputError`.
- Frames are sorted by name (the image path relative to the capture, without extension). The
  split is INRIA's (ALGORITHMS.md §5.1; 3DGS ``scene/dataset_readers.py``, ``llffhold=8``):
  every 8th frame (index % 8 == 0) is held out for testing. A NeRF-synthetic capture that ships
  ``transforms_test.json`` uses its own train/test files instead (val frames are kept in
  ``val_indices``).
- Images are decoded lazily (``Capture.image(i)``) and cached in memory at the output
  resolution; loading a capture only reads each image's header.
"""

from __future__ import annotations

import functools
import json
import math
import os
import struct
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from engine.camera import Camera
from engine.errors import InputError

__all__ = [
    "Capture",
    "CaptureWarning",
    "Distortion",
    "Frame",
    "distort_normalized",
    "load_capture",
    "undistort_image",
    "undistort_normalized",
]

KINDS = ("nerf_synthetic", "instant_ngp", "colmap")
SPLIT_EVERY = 8  # INRIA llffhold
# Anti-aliasing filter for downsampling (applied to float channels; results clamped to [0, 1]).
RESAMPLE = Image.Resampling.LANCZOS
# GL camera axes (x right, y up, z back) -> OpenCV (x right, y down, z forward): c2w @ GL_TO_CV.
GL_TO_CV = np.diag([1.0, -1.0, -1.0, 1.0])
_MAX_LISTED_IN_WARNING = 12


class CaptureWarning(UserWarning):
    """A capture loaded, but some listed frames were skipped (missing or unreadable image)."""


# ============================================================================ distortion
@dataclass(frozen=True)
class Distortion:
    """OpenCV radial-tangential ("plumb bob") coefficients, as in COLMAP's OPENCV model.

    ``x_d = x·(1 + k1 r² + k2 r⁴ + k3 r⁶) + 2 p1 x y + p2 (r² + 2 x²)``
    ``y_d = y·(1 + k1 r² + k2 r⁴ + k3 r⁶) + p1 (r² + 2 y²) + 2 p2 x y``   (normalized coordinates)
    """

    k1: float = 0.0
    k2: float = 0.0
    p1: float = 0.0
    p2: float = 0.0
    k3: float = 0.0

    @property
    def is_identity(self) -> bool:
        return not any((self.k1, self.k2, self.p1, self.p2, self.k3))

    def to_dict(self) -> dict:
        return {"k1": self.k1, "k2": self.k2, "p1": self.p1, "p2": self.p2, "k3": self.k3}


def distort_normalized(x: np.ndarray, y: np.ndarray, d: Distortion) -> tuple[np.ndarray, np.ndarray]:
    """Forward model: ideal normalized coordinates -> distorted normalized coordinates."""
    x2, y2, xy = x * x, y * y, x * y
    r2 = x2 + y2
    radial = 1.0 + r2 * (d.k1 + r2 * (d.k2 + r2 * d.k3))
    xd = x * radial + 2.0 * d.p1 * xy + d.p2 * (r2 + 2.0 * x2)
    yd = y * radial + d.p1 * (r2 + 2.0 * y2) + 2.0 * d.p2 * xy
    return xd, yd


def undistort_normalized(
    xd: np.ndarray, yd: np.ndarray, d: Distortion, iterations: int = 30
) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`distort_normalized` by fixed-point iteration (as cv::undistortPoints).

    Accurate for the mild distortion of real lenses; not used when loading images (that needs
    only the forward model) but handy for projecting points and for tests.
    """
    x, y = np.array(xd, dtype=np.float64), np.array(yd, dtype=np.float64)
    for _ in range(iterations):
        x2, y2, xy = x * x, y * y, x * y
        r2 = x2 + y2
        radial = 1.0 + r2 * (d.k1 + r2 * (d.k2 + r2 * d.k3))
        dx = 2.0 * d.p1 * xy + d.p2 * (r2 + 2.0 * x2)
        dy = d.p1 * (r2 + 2.0 * y2) + 2.0 * d.p2 * xy
        x, y = (xd - dx) / radial, (yd - dy) / radial
    return x, y


@functools.lru_cache(maxsize=8)
def _undistort_grid(width: int, height: int, fx: float, fy: float, cx: float, cy: float, d: Distortion) -> torch.Tensor:
    """grid_sample grid [1, H, W, 2]: for each pinhole output pixel, its source location."""
    u = (np.arange(width, dtype=np.float64) + 0.5 - cx) / fx  # [W] normalized x of pixel centres
    v = (np.arange(height, dtype=np.float64) + 0.5 - cy) / fy  # [H]
    x, y = np.meshgrid(u, v)  # [H, W] each
    xd, yd = distort_normalized(x, y, d)
    us, vs = fx * xd + cx, fy * yd + cy  # source pixel coordinates (centres at +0.5)
    # align_corners=False: -1 and +1 are the outer edges of the first and last pixels.
    grid = np.stack([2.0 * us / width - 1.0, 2.0 * vs / height - 1.0], axis=-1)  # [H, W, 2]
    return torch.from_numpy(grid.astype(np.float32))[None]


def undistort_image(image: np.ndarray, fx: float, fy: float, cx: float, cy: float, d: Distortion) -> np.ndarray:
    """Resample a distorted image [H, W, C] (float32) into the pinhole image with the same K.

    Output pixel ``(u, v)`` takes the bilinear sample of the input at
    ``K · distort(K⁻¹ (u, v, 1))``; locations outside the input replicate the edge.
    """
    if d.is_identity:
        return image
    h, w = image.shape[:2]
    grid = _undistort_grid(w, h, float(fx), float(fy), float(cx), float(cy), d)  # [1, H, W, 2]
    src = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))[None]  # [1, C, H, W]
    out = torch.nn.functional.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return np.ascontiguousarray(out[0].numpy().transpose(1, 2, 0))  # [H, W, C]


# ============================================================================ data classes
@dataclass
class Frame:
    """One view: its image file and its OpenCV camera at the capture's output resolution.

    ``source`` is the pinhole camera at the image file's own resolution and ``distortion`` the
    lens distortion of that file (identity when none); :meth:`Capture.image` uses both.
    """

    name: str  # image path relative to the capture, without extension ("train/r_0")
    image_path: str
    camera: Camera
    source: Camera | None = None
    distortion: Distortion = field(default_factory=Distortion)
    has_alpha: bool = False


@dataclass
class Capture:
    """A loaded capture. Indices refer to ``frames``, which are sorted by name."""

    frames: list[Frame]
    train_indices: list[int]
    test_indices: list[int]
    points: np.ndarray | None = None  # [P, 3] float32 (COLMAP points3D), else None
    point_colors: np.ndarray | None = None  # [P, 3] uint8
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    kind: str = ""  # "nerf_synthetic" | "instant_ngp" | "colmap"
    skipped: list[str] = field(default_factory=list)  # names of listed frames that were skipped
    path: str = ""
    max_side: int | None = None
    val_indices: list[int] = field(default_factory=list)  # NeRF-synthetic val frames only
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.frames)

    # ------------------------------------------------------------------ images
    def image(self, i: int) -> torch.Tensor:
        """Image ``i`` as [H, W, 3] float32 in [0, 1]: undistorted, resized, alpha composited."""
        return torch.from_numpy(self._decoded(i)[0].copy())

    def alpha(self, i: int) -> torch.Tensor | None:
        """Alpha of image ``i`` as [H, W] float32 in [0, 1], or None when the file has none."""
        a = self._decoded(i)[1]
        return None if a is None else torch.from_numpy(a.copy())

    def clear_cache(self) -> None:
        self._cache.clear()

    def _decoded(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        # numpy copies (not torch ops): torch's intra-op threads cost ms per small copy.
        i = range(len(self.frames))[i]  # IndexError when out of range; negative indices allowed
        if i not in self._cache:
            self._cache[i] = _decode_frame(self.frames[i], self.background)
        return self._cache[i]

    # ------------------------------------------------------------------ cameras
    def cameras(self) -> list[Camera]:
        return [f.camera for f in self.frames]

    def train_cameras(self) -> list[Camera]:
        return [self.frames[i].camera for i in self.train_indices]

    def test_cameras(self) -> list[Camera]:
        return [self.frames[i].camera for i in self.test_indices]

    def _extent_centers(self) -> np.ndarray:  # [N, 3]
        idx = self.train_indices or list(range(len(self.frames)))
        return np.stack([self.frames[i].camera.center for i in idx])

    def scene_center(self) -> np.ndarray:
        """Mean training camera centre [3] (INRIA ``getNerfppNorm``)."""
        return self._extent_centers().mean(axis=0)

    def scene_extent(self) -> float:
        """1.1 × the largest distance of a training camera centre from their mean (INRIA).

        Falls back to 1.0 when all cameras coincide (a single view).
        """
        centers = self._extent_centers()
        radius = 1.1 * float(np.linalg.norm(centers - centers.mean(axis=0), axis=1).max())
        return radius if radius > 1e-9 else 1.0


# ============================================================================ loading
@dataclass
class _Listed:
    """A frame as the metadata lists it, before its image file is looked at."""

    name: str  # provisional name for messages (relative path as listed)
    candidates: list[str]  # image paths to try, in order
    c2w: np.ndarray  # [4, 4] OpenCV axes
    fx: float | None = None
    fy: float | None = None
    cx: float | None = None
    cy: float | None = None
    width: int | None = None  # size the intrinsics refer to; None: the file's size
    height: int | None = None
    angle_x: float | None = None  # NeRF field of view, used when fx is absent
    angle_y: float | None = None
    distortion: Distortion = field(default_factory=Distortion)
    split: str | None = None  # NeRF-synthetic: "train" | "val" | "test"
    extra: dict = field(default_factory=dict)


def load_capture(
    path: str | os.PathLike,
    *,
    max_side: int | None = None,
    background: tuple[float, float, float] = (1.0, 1.0, 1.0),
) -> Capture:
    """Load a capture folder (COLMAP, NeRF-synthetic or instant-ngp) or a ``transforms*.json``.

    ``max_side``: downsample so that ``max(width, height) <= max_side`` (never upsample);
    cameras are those of the downsampled images. ``background``: RGB in [0, 1] that RGBA images
    are composited onto. Only image headers are read here; pixels are decoded by ``image(i)``.
    """
    path = os.fspath(path)
    if max_side is not None and (isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 1):
        raise InputError(path, f"max_side must be a positive integer, not {max_side!r}")
    bg = _check_background(path, background)
    if not os.path.exists(path):
        raise InputError(path, "no such file or folder")

    kind, meta_path = _detect(path)
    points = colors = None
    if kind == "colmap":
        listed, points, colors = _read_colmap(meta_path)
        root = _colmap_root(meta_path)
    else:
        json_paths = _nerf_jsons(meta_path) if kind == "nerf_synthetic" else [meta_path]
        listed = [f for p in json_paths for f in _read_transforms(p, kind)]
        root = os.path.dirname(meta_path)

    frames, skipped = _resolve_frames(listed, root, meta_path, max_side)
    frames.sort(key=lambda f: f.name)
    train, val, test = _split(frames, kind)
    return Capture(
        frames=frames,
        train_indices=train,
        test_indices=test,
        points=points,
        point_colors=colors,
        background=bg,
        kind=kind,
        skipped=skipped,
        path=path,
        max_side=max_side,
        val_indices=val,
    )


def _check_background(path: str, background) -> tuple[float, float, float]:
    try:
        bg = tuple(float(c) for c in background)
    except (TypeError, ValueError):
        bg = ()
    if len(bg) != 3 or not all(0.0 <= c <= 1.0 for c in bg):
        raise InputError(path, f"background must be three numbers in [0, 1], not {background!r}")
    return bg  # type: ignore[return-value]


def _detect(path: str) -> tuple[str, str]:
    """(kind, metadata path): the COLMAP sparse folder or the transforms JSON."""
    if os.path.isfile(path):
        name = os.path.basename(path)
        if name in ("transforms_train.json", "transforms_val.json", "transforms_test.json"):
            train = os.path.join(os.path.dirname(path), "transforms_train.json")
            return "nerf_synthetic", train if os.path.isfile(train) else path
        if name.lower().endswith(".json"):
            return "instant_ngp", path
        raise InputError(path, "not a capture: expected a folder or a transforms*.json file")
    for sub in ("sparse/0", "sparse"):
        folder = os.path.join(path, sub)
        if any(os.path.isfile(os.path.join(folder, "cameras" + ext)) for ext in (".bin", ".txt")):
            return "colmap", folder
    if os.path.isfile(os.path.join(path, "transforms_train.json")):
        return "nerf_synthetic", os.path.join(path, "transforms_train.json")
    if os.path.isfile(os.path.join(path, "transforms.json")):
        return "instant_ngp", os.path.join(path, "transforms.json")
    raise InputError(
        path,
        "not a capture folder: found none of sparse/0/cameras.(bin|txt) or sparse/cameras.(bin|txt) "
        "(COLMAP), transforms_train.json (NeRF-synthetic), transforms.json (instant-ngp)",
    )


def _colmap_root(sparse: str) -> str:
    """The capture folder of ``<root>/sparse/0`` or ``<root>/sparse``."""
    parent = os.path.dirname(os.path.normpath(sparse))
    return os.path.dirname(parent) if os.path.basename(parent) == "sparse" else parent


def _nerf_jsons(train_json: str) -> list[str]:
    folder = os.path.dirname(train_json)
    names = [os.path.basename(train_json)] + [
        n for n in ("transforms_val.json", "transforms_test.json") if n != os.path.basename(train_json)
    ]
    return [os.path.join(folder, n) for n in names if os.path.isfile(os.path.join(folder, n))]


def _split(frames: list[Frame], kind: str) -> tuple[list[int], list[int], list[int]]:
    """(train, val, test) indices into the name-sorted frames."""
    splits = [f.camera.extra.get("split") for f in frames]
    if kind == "nerf_synthetic" and "test" in splits:
        pick = lambda s: [i for i, x in enumerate(splits) if x == s]  # noqa: E731
        return pick("train"), pick("val"), pick("test")
    n = len(frames)
    if n < 2:
        return list(range(n)), [], []
    test = [i for i in range(n) if i % SPLIT_EVERY == 0]
    train = [i for i in range(n) if i % SPLIT_EVERY != 0]
    return train, [], test


# ---------------------------------------------------------------------------- image files
def _probe(path: str) -> tuple[int, int, bool]:
    """(width, height, has_alpha) from the header; raises on files PIL cannot identify or verify."""
    with Image.open(path) as im:
        w, h = im.size
        has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
        im.verify()  # PNG: chunk CRCs up to IEND (no pixel decoding); others: header checks
    if w < 1 or h < 1:
        raise ValueError(f"empty image {w}x{h}")
    return w, h, has_alpha


def _target_size(w: int, h: int, max_side: int | None) -> tuple[int, int]:
    if max_side is None or max(w, h) <= max_side:
        return w, h
    s = max_side / max(w, h)
    return max(1, round(w * s)), max(1, round(h * s))


def _source_camera(item: _Listed, file_w: int, file_h: int, meta_path: str) -> Camera:
    """Pinhole camera at the image file's resolution (intrinsics rescaled if the file differs)."""
    w = item.width or file_w
    h = item.height or file_h
    fx = item.fx if item.fx is not None else (0.5 * w / math.tan(0.5 * item.angle_x) if item.angle_x else None)
    if fx is None:
        raise InputError(meta_path, f"frame {item.name!r}: no focal length (fl_x or camera_angle_x)")
    fy = item.fy if item.fy is not None else (0.5 * h / math.tan(0.5 * item.angle_y) if item.angle_y else fx)
    cx = item.cx if item.cx is not None else 0.5 * w
    cy = item.cy if item.cy is not None else 0.5 * h
    if not all(math.isfinite(v) for v in (fx, fy, cx, cy)) or fx <= 0 or fy <= 0:
        raise InputError(meta_path, f"frame {item.name!r}: bad intrinsics fx={fx} fy={fy} cx={cx} cy={cy}")
    cam = Camera(item.c2w, fx, fy, cx, cy, w, h, item.name)
    if (w, h) != (file_w, file_h):
        if abs(file_w / file_h - w / h) > 0.01 * (w / h):
            raise ValueError(f"image is {file_w}x{file_h} but the metadata says {w}x{h}")
        cam = cam.scaled(file_w, file_h)
    return cam


def _resolve_frames(
    listed: list[_Listed], root: str, meta_path: str, max_side: int | None
) -> tuple[list[Frame], list[str]]:
    """Find and probe each listed frame's image; skip (and warn about) missing or bad ones."""
    frames: list[Frame] = []
    missing: list[str] = []
    bad: list[tuple[str, str]] = []
    for item in listed:
        found = next((p for p in item.candidates if os.path.isfile(p)), None)
        if found is None:
            missing.append(item.name)
            continue
        name = item.name
        try:
            file_w, file_h, has_alpha = _probe(found)
            source = _source_camera(item, file_w, file_h, meta_path)
        except InputError:
            raise
        except Exception as e:  # PIL raises many types on corrupt files
            bad.append((name, f"{type(e).__name__}: {e}"))
            continue
        source.name = name
        source.extra = dict(item.extra)
        tw, th = _target_size(file_w, file_h, max_side)
        camera = source.scaled(tw, th)
        camera.extra.update(source_size=[file_w, file_h])
        if item.split:
            camera.extra["split"] = item.split
        if not item.distortion.is_identity:
            camera.extra.update(distortion=item.distortion.to_dict(), undistorted=True)
        frames.append(Frame(name, found, camera, source, item.distortion, has_alpha))

    if not frames:
        if not listed:
            raise InputError(meta_path, "lists no frames")
        example = f"; {bad[0][0]}: {bad[0][1]}" if bad else ""
        raise InputError(
            meta_path,
            f"no usable image among the {len(listed)} frames listed "
            f"({len(missing)} missing, {len(bad)} unreadable; looked under {root}{example})",
        )
    if missing:
        _warn(meta_path, f"skipped {len(missing)} of {len(listed)} frames whose image file is missing", missing)
    if bad:
        _warn(meta_path, f"skipped {len(bad)} of {len(listed)} frames whose image cannot be read",
              [f"{n} ({why})" for n, why in bad])  # fmt: skip
    return frames, missing + [n for n, _ in bad]


_IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"}


def _frame_name(listed_path: str) -> str:
    """Frame name from a listed image path: normalized, '/'-separated, image extension dropped."""
    p = os.path.normpath(listed_path)
    stem, ext = os.path.splitext(p)
    return (stem if ext.lower() in _IMAGE_EXTS else p).replace(os.sep, "/")


def _warn(meta_path: str, what: str, names: list[str]) -> None:
    shown = ", ".join(names[:_MAX_LISTED_IN_WARNING])
    more = f" and {len(names) - _MAX_LISTED_IN_WARNING} more" if len(names) > _MAX_LISTED_IN_WARNING else ""
    warnings.warn(f"{meta_path}: {what}: {shown}{more}", CaptureWarning, stacklevel=3)


# ---------------------------------------------------------------------------- decoding
def _decode_frame(frame: Frame, background: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray | None]:
    """Decode -> premultiply alpha -> undistort -> downsample -> composite. Returns
    rgb [H, W, 3] float32 and alpha [H, W] float32 (or None)."""
    cam, src = frame.camera, frame.source or frame.camera
    try:
        data, scale = _read_pixels(frame.image_path, cam.width, cam.height)  # [h, w, 3|4]
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise InputError(frame.image_path, f"cannot decode image ({type(e).__name__}: {e})") from None
    if not frame.distortion.is_identity:
        data = undistort_image(data, src.fx / scale, src.fy / scale, src.cx / scale, src.cy / scale, frame.distortion)
    if data.shape[1] != cam.width or data.shape[0] != cam.height:
        data = _resize(data, cam.width, cam.height)
    alpha = None
    if data.shape[2] == 4:
        alpha = np.clip(data[..., 3], 0.0, 1.0)  # [H, W] (a copy)
        data = data[..., :3]
        data += np.asarray(background, np.float32) * (1.0 - alpha)[..., None]  # premultiplied "over"
    rgb = np.ascontiguousarray(data[..., :3], dtype=np.float32)  # [H, W, 3]
    np.clip(rgb, 0.0, 1.0, out=rgb)
    return rgb, alpha


def _read_pixels(path: str, width: int, height: int) -> tuple[np.ndarray, int]:
    """Pixels as float (see :func:`_to_float`) and the integer factor they were reduced by.

    JPEGs decode at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling, itself anti-aliased) when
    that still gives at least ``width x height`` and divides the file's size exactly, so that
    the intrinsics scale by exactly 1/s.
    """
    with Image.open(path) as im:
        w0, h0 = im.size
        s = min(w0 // width, h0 // height)
        s = next(c for c in (8, 4, 2, 1) if s >= c) if s >= 1 else 1
        if im.format == "JPEG" and s > 1 and w0 % s == 0 and h0 % s == 0:
            im.draft(None, (width, height))
            if im.size == (w0 // s, h0 // s):
                return _to_float(im), s
        else:
            return _to_float(im), 1
    with Image.open(path) as im:  # draft picked another scale: decode at full size
        return _to_float(im), 1


def _to_float(im: Image.Image) -> np.ndarray:
    """[H, W, 3] RGB or [H, W, 4] premultiplied RGBA, float32 in [0, 1]."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grey PNG
        g = np.clip(np.asarray(im, dtype=np.float32) / 65535.0, 0.0, 1.0)
        return np.repeat(g[..., None], 3, axis=2)
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    arr = np.asarray(im.convert("RGBA" if has_alpha else "RGB")).astype(np.float32)
    arr *= np.float32(1.0 / 255.0)
    if has_alpha:
        arr[..., :3] *= arr[..., 3:4]  # premultiply so resampling and compositing commute
    return arr


def _resize(data: np.ndarray, width: int, height: int) -> np.ndarray:
    """Anti-aliased resize of each float channel with PIL (full extent onto full extent)."""
    chans = [
        np.asarray(Image.fromarray(np.ascontiguousarray(data[..., c])).resize((width, height), RESAMPLE))
        for c in range(data.shape[2])
    ]
    return np.stack(chans, axis=-1)  # [height, width, C]


# ============================================================================ transforms.json
_INTRINSIC_KEYS = (
    "fl_x", "fl_y", "cx", "cy", "w", "h", "k1", "k2", "k3", "p1", "p2", "camera_angle_x", "camera_angle_y",
)  # fmt: skip


def _load_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(path, f"malformed JSON ({e})") from None
    except OSError as e:
        raise InputError(path, f"cannot read ({e.strerror or e})") from None
    if not isinstance(data, dict):
        raise InputError(path, "the top level must be a JSON object")
    if not isinstance(data.get("frames"), list):
        raise InputError(path, "has no 'frames' list")
    return data


def _number(json_path: str, where: str, key: str, value) -> float:
    if isinstance(value, bool):
        value = None
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(json_path, f"{where}: {key} is not a number ({value!r})") from None
    if not math.isfinite(v):
        raise InputError(json_path, f"{where}: {key} is not finite")
    return v


def _c2w_from_json(json_path: str, where: str, value) -> np.ndarray:
    """[4, 4] camera-to-world in OpenCV axes from a NeRF (OpenGL-axes) transform_matrix."""
    try:
        m = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(json_path, f"{where}: transform_matrix is not a matrix of numbers") from None
    if m.shape == (3, 4):
        m = np.vstack([m, [0.0, 0.0, 0.0, 1.0]])
    if m.shape != (4, 4):
        raise InputError(json_path, f"{where}: transform_matrix must be 4x4, not {'x'.join(map(str, m.shape))}")
    if not np.isfinite(m).all():
        raise InputError(json_path, f"{where}: transform_matrix has NaN or Inf")
    if abs(np.linalg.det(m[:3, :3])) < 1e-6:
        raise InputError(json_path, f"{where}: transform_matrix has a singular rotation")
    return m @ GL_TO_CV


def _read_transforms(json_path: str, kind: str) -> list[_Listed]:
    """Frames of a NeRF-synthetic or instant-ngp transforms JSON (intrinsics: frame over top)."""
    data = _load_json(json_path)
    folder = os.path.dirname(json_path)
    split = None
    if kind == "nerf_synthetic":
        split = os.path.splitext(os.path.basename(json_path))[0].removeprefix("transforms_") or None
    top = {k: _number(json_path, "top level", k, data[k]) for k in _INTRINSIC_KEYS if k in data}
    _check_camera_model(json_path, "top level", data)
    out = []
    for i, fr in enumerate(data["frames"]):
        where = f"frame {i}"
        if not isinstance(fr, dict):
            raise InputError(json_path, f"{where} is not an object")
        fp = fr.get("file_path")
        if not isinstance(fp, str) or not fp:
            raise InputError(json_path, f"{where}: file_path is missing")
        if "transform_matrix" not in fr:
            raise InputError(json_path, f"{where}: transform_matrix is missing")
        _check_camera_model(json_path, where, fr)
        vals = {**top, **{k: fr[k] for k in _INTRINSIC_KEYS if k in fr}}
        num = {k: _number(json_path, where, k, v) for k, v in vals.items()}
        full = os.path.normpath(os.path.join(folder, fp))
        exts = (".png", "") if kind == "nerf_synthetic" else ("", ".png", ".jpg")
        out.append(
            _Listed(
                name=_frame_name(fp),
                candidates=[full + e for e in exts],
                c2w=_c2w_from_json(json_path, where, fr["transform_matrix"]),
                fx=num.get("fl_x"),
                fy=num.get("fl_y"),
                cx=num.get("cx"),
                cy=num.get("cy"),
                width=_size(json_path, where, num, "w"),
                height=_size(json_path, where, num, "h"),
                angle_x=num.get("camera_angle_x"),
                angle_y=num.get("camera_angle_y"),
                distortion=Distortion(*(num.get(k, 0.0) for k in ("k1", "k2", "p1", "p2", "k3"))),
                split=split,
            )
        )
    return out


def _size(json_path: str, where: str, num: dict, key: str) -> int | None:
    if key not in num:
        return None
    v = num[key]
    if v < 1 or v != int(v):
        raise InputError(json_path, f"{where}: {key} must be a positive integer, not {v}")
    return int(v)


def _check_camera_model(json_path: str, where: str, d: dict) -> None:
    model = d.get("camera_model")
    if d.get("is_fisheye") or (model is not None and model not in ("OPENCV", "PINHOLE", "SIMPLE_PINHOLE")):
        what = "fisheye" if d.get("is_fisheye") else repr(model)
        raise InputError(json_path, f"{where}: camera model {what} is not supported (pinhole and OPENCV only)")
    for k in ("k4", "k5", "k6"):
        if d.get(k):
            raise InputError(json_path, f"{where}: distortion coefficient {k} is not supported (OPENCV model only)")


# ============================================================================ COLMAP
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
