"""antimatter15 ``.splat``: 32 bytes per splat, no header, no SH (repo antimatter15/splat,
convert.py).

Source (layout only): antimatter15/splat ``convert.py`` and the viewer's PLY import in ``main.js``.

Record layout, little-endian, repeated N = file size / 32 times:

=====  ===========================================================================
bytes  field
=====  ===========================================================================
0-11   position, float32 x 3
12-23  linear scale exp(log_scale), float32 x 3
24-27  RGBA uint8: round(clamp(0.5 + C0 * f_dc, 0, 1) * 255), round(sigmoid(opacity) * 255)
28-31  rotation uint8 x 4 in rot_0..rot_3 (w, x, y, z) order: round(clamp(q/|q| * 128 + 128, 0, 255))
=====  ===========================================================================

Axes are those of the source PLY (RDF); nothing is flipped. The writer sorts rows by descending
exp(sum log_scale) * sigmoid(opacity) as the reference converter does (``importance_order``) and
keeps SH degree 0 only (the registry marks the format ``keeps_sh=False``; callers warn). We round
to nearest where ``convert.py`` truncates (the web viewer's Uint8ClampedArray rounds); the readers
are the same either way.

Decoding: colour (b / 255 - 0.5) / C0; opacity logit(clamp(b / 255, 1e-6, 1 - 1e-6)) so bytes 0
and 255 give finite logits (-+13.8155, as splat-transform clamps); rotation (b - 128) / 128, left
unnormalised like every quaternion in the engine; log_scale = log(scale). splat-transform decodes
rotation bytes as b / 255 * 2 - 1 instead; after normalisation the two differ by < 0.01.

Error bounds of write -> read against the input scene (what tests/test_io_formats.py asserts):

- positions: exact (float32);
- log-scales: |err| <= 1e-6 (float32 exp then log);
- DC colour: |err| <= 0.5 / 255 / C0 = 0.0069514 against the colour clamped to [0, 1];
- opacity: |sigmoid(o') - sigmoid(o)| <= 0.5 / 255 (the clamp adds at most 1e-6);
- rotation: each decoded component is within 0.5 / 128 of the normalised quaternion, except that
  a component above 127 / 128 is clipped at byte 255 (127 / 128), an error of at most 1 / 128;
- SH bands above 0 are dropped.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from engine.errors import InputError
from engine.io.atomic import atomic_output
from engine.scene import SH_C0, GaussianScene

RECORD = np.dtype([("position", "<f4", 3), ("scale", "<f4", 3), ("rgba", "u1", 4), ("rot", "u1", 4)])
OPACITY_EPS = 1e-6


def read(path: str | os.PathLike) -> GaussianScene:
    path = os.fspath(path)
    try:
        size = os.path.getsize(path)
        if size == 0:
            raise InputError(path, ".splat file is empty")
        if size % RECORD.itemsize:
            raise InputError(
                path, f".splat size {size} is not a multiple of {RECORD.itemsize} bytes (truncated or not .splat?)"
            )  # fmt: skip
        rows = np.fromfile(path, dtype=RECORD)
    except OSError as e:
        raise InputError(path, f"cannot read ({e.strerror or e})") from None
    if len(rows) * RECORD.itemsize != size:
        raise InputError(path, "file changed size while it was being read")
    scene = _decode(rows)
    scene.meta.update(format="splat", antialiased=False)
    return scene


def _decode(rows: np.ndarray) -> GaussianScene:
    """rows: [N] RECORD -> scene (SH degree 0)."""
    with np.errstate(all="ignore"):
        log_scales = np.log(rows["scale"].astype(np.float64)).astype(np.float32)  # [N, 3]
        rgba = rows["rgba"].astype(np.float64) / 255  # [N, 4]
        dc = ((rgba[:, :3] - 0.5) / SH_C0).astype(np.float32)
        alpha = np.clip(rgba[:, 3], OPACITY_EPS, 1 - OPACITY_EPS)
        opacity = np.log(alpha / (1 - alpha)).astype(np.float32)
    quats = (rows["rot"].astype(np.float32) - 128) / 128  # [N, 4] wxyz
    return GaussianScene(
        means=torch.from_numpy(np.ascontiguousarray(rows["position"])),
        quats=torch.from_numpy(quats),
        log_scales=torch.from_numpy(log_scales),
        opacity_logits=torch.from_numpy(opacity),
        sh=torch.from_numpy(dc[:, None, :].copy()),
    )


def importance_order(scene: GaussianScene) -> np.ndarray:
    """[N] row order by descending exp(sum log_scale) * sigmoid(opacity), compared in log space."""
    log_volume = scene.log_scales.detach().cpu().numpy().astype(np.float64).sum(1)
    logit = scene.opacity_logits.detach().cpu().numpy().astype(np.float64)
    log_sigmoid = -np.logaddexp(0.0, -logit)
    return np.argsort(-(log_volume + log_sigmoid), kind="stable")


def exact_size(scene: GaussianScene) -> int:
    """The size in bytes of the file ``write(scene, path)`` produces: 32 per splat, no header."""
    return RECORD.itemsize * scene.count


def write(scene: GaussianScene, path: str | os.PathLike) -> None:
    """Write ``scene`` as .splat, rows sorted like the reference converter; SH bands > 0 dropped."""
    path = os.fspath(path)
    scene = scene.detach().to("cpu")
    if scene.count == 0:
        raise InputError(path, "cannot write an empty scene as .splat (an empty file is not a valid .splat)")
    order = importance_order(scene)
    rows = np.empty(scene.count, RECORD)
    rows["position"] = scene.means.numpy()[order]
    with np.errstate(over="ignore", invalid="ignore"):
        rows["scale"] = np.exp(scene.log_scales.numpy().astype(np.float64)[order])
        color = 0.5 + SH_C0 * scene.sh[:, 0].numpy().astype(np.float64)[order]  # [N, 3]
        alpha = 1.0 / (1.0 + np.exp(-scene.opacity_logits.numpy().astype(np.float64)[order]))
        rows["rgba"][:, :3] = _to_u8(color * 255)
        rows["rgba"][:, 3] = _to_u8(alpha * 255)
        quats = scene.quats.numpy().astype(np.float64)[order]
        norm = np.linalg.norm(quats, axis=1, keepdims=True)
        unit = np.where(norm > 0, quats / np.where(norm > 0, norm, 1), [1.0, 0.0, 0.0, 0.0])
        rows["rot"] = _to_u8(unit * 128 + 128)
    with atomic_output(path) as tmp:
        rows.tofile(tmp)


def _to_u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(np.nan_to_num(x, nan=0.0) + 0.5), 0, 255).astype(np.uint8)
