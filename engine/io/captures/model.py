"""The capture model: frames (image file + OpenCV camera), the split, and lazy image decoding.

A :class:`Capture` holds only each image's header information until :meth:`Capture.image` is
asked for a frame; then the file is decoded, its alpha premultiplied, undistorted
(:mod:`.distortion`), downsampled to the capture's output resolution and composited onto the
background, and the result is cached in memory. ``_Listed`` is a frame as a format reader
(:mod:`.nerf`, :mod:`.colmap`) lists it, before its image file is looked at.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from engine.camera import Camera
from engine.errors import InputError
from engine.io.captures.distortion import Distortion, undistort_image

__all__ = ["Capture", "CaptureWarning", "Frame"]

# Anti-aliasing filter for downsampling (applied to float channels; results clamped to [0, 1]).
RESAMPLE = Image.Resampling.LANCZOS


class CaptureWarning(UserWarning):
    """A capture loaded, but some listed frames were skipped (missing or unreadable image)."""


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


_IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"}


def _frame_name(listed_path: str) -> str:
    """Frame name from a listed image path: normalized, '/'-separated, image extension dropped."""
    p = os.path.normpath(listed_path)
    stem, ext = os.path.splitext(p)
    return (stem if ext.lower() in _IMAGE_EXTS else p).replace(os.sep, "/")


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
