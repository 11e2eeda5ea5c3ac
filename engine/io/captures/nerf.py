"""NeRF-synthetic and instant-ngp ``transforms*.json``.

NeRF-synthetic (Mildenhall et al. 2020, arXiv 2003.08934, the "Blender" scenes) lists
``transforms_train.json`` and, when present, ``transforms_val.json`` and ``transforms_test.json``;
``camera_angle_x`` gives the horizontal field of view; ``file_path`` usually has no extension
(``./train/r_0`` -> ``train/r_0.png``); images are RGBA and are composited onto the background.

instant-ngp (Müller et al. 2022, arXiv 2201.05989; the layout its ``scripts/colmap2nerf.py``
writes) has one ``transforms.json`` with ``fl_x fl_y cx cy w h`` and OpenCV radial-tangential
distortion ``k1 k2 [k3] p1 p2``, each of which a frame may override (as nerfstudio writes).

Both store 4x4 camera-to-world matrices in NeRF/Blender/OpenGL camera axes (+x right, +y up,
looking down -z). They are converted to the engine's OpenCV axes (+x right, +y down, +z forward)
here, once, by negating the camera's y and z axes: ``c2w @ diag(1, -1, -1, 1)``.
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from engine.errors import InputError
from engine.io.captures.distortion import Distortion
from engine.io.captures.model import _frame_name, _Listed

# GL camera axes (x right, y up, z back) -> OpenCV (x right, y down, z forward): c2w @ GL_TO_CV.
GL_TO_CV = np.diag([1.0, -1.0, -1.0, 1.0])


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


def _nerf_jsons(train_json: str) -> list[str]:
    folder = os.path.dirname(train_json)
    names = [os.path.basename(train_json)] + [
        n for n in ("transforms_val.json", "transforms_test.json") if n != os.path.basename(train_json)
    ]
    return [os.path.join(folder, n) for n in names if os.path.isfile(os.path.join(folder, n))]
