"""``load_capture``: detect the layout, read its frames, probe their images and split them.

Frames whose image file is missing, or exists but cannot be read, are skipped with one
:class:`CaptureWarning` per cause, naming how many and which; they are listed in
``Capture.skipped``. A capture with no usable image is an :class:`InputError`. Frames are
sorted by name (the image path relative to the capture, without extension). The split is the
one of 3DGS (Kerbl et al. 2023, arXiv 2308.04079, §7.2, after Mip-NeRF 360; ``llffhold=8`` in its
``scene/dataset_readers.py``): every 8th frame (index % 8 == 0) is held out for testing. A
NeRF-synthetic capture that ships ``transforms_test.json`` uses its own train/test files
instead (val frames are kept in ``val_indices``).
"""

from __future__ import annotations

import math
import os
import warnings

from PIL import Image

from engine.camera import Camera
from engine.errors import InputError
from engine.io.captures.colmap import _colmap_root, _read_colmap
from engine.io.captures.model import Capture, CaptureWarning, Frame, _Listed
from engine.io.captures.nerf import _nerf_jsons, _read_transforms

KINDS = ("nerf_synthetic", "instant_ngp", "colmap")
SPLIT_EVERY = 8  # INRIA llffhold
_MAX_LISTED_IN_WARNING = 12


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


def is_capture(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a capture folder in one of the three layouts (its files are not read)."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        return False
    try:
        _detect(path)
    except InputError:
        return False
    return True


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


def _warn(meta_path: str, what: str, names: list[str]) -> None:
    shown = ", ".join(names[:_MAX_LISTED_IN_WARNING])
    more = f" and {len(names) - _MAX_LISTED_IN_WARNING} more" if len(names) > _MAX_LISTED_IN_WARNING else ""
    warnings.warn(f"{meta_path}: {what}: {shown}{more}", CaptureWarning, stacklevel=3)
