"""The post-training codec ladder: any trained scene, no capture, seconds (codec id "ladder").

Levels 1 (near-lossless) to 8 (smallest). Per level (``LEVELS``):

- **Positions**: an occupancy octree of ``bits`` levels over the scene box (engine.codec.octree);
  occupancy bytes entropy-coded with one fitted model per depth; a leaf holding several splats
  stores the count. Decoded positions are leaf-cell centres. Splats are stored in Morton order.
- **Attributes**, quantised with per-attribute steps and entropy-coded with fitted models
  (engine.codec.entropy), one context per channel: opacity in [0, 1]; log-scales from their
  per-axis minimum, coded as differences to the previous splat in Morton order; rotations as
  "smallest three" (the index of the largest component, then the other three); the base colour
  through the lossless YCoCg-R transform (most scenes' colours are strongly correlated across
  R, G, B: on the biker this alone saves 5 of 14 bits per splat); SH bands above the base kept up
  to the level's degree.
- **Count**: from level 4 up the least important splats (accumulated blending weight over orbit
  views, engine.codec.importance) are dropped.

Every quantiser is idempotent on its own output and the grid is carried in the decoded scene's
meta, so decoding then encoding again at the same level reproduces the bitstream byte for byte.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch

from engine.codec import container, entropy, octree
from engine.codec.importance import prune_to_share
from engine.errors import InputError
from engine.scene import SH_C0, GaussianScene, sh_coeff_count

CODEC_ID = "ladder"
CODEC_VERSION = 1
ROT_LIMIT = 1.0 / math.sqrt(2.0)  # |component| bound of the three smaller ones


@dataclass(frozen=True)
class Level:
    bits: int  # octree depth: position cells per axis = 2^bits
    keep: float  # fraction of splats kept (importance pruning)
    sh_degree: int  # highest SH band kept
    opacity_step: float  # in opacity [0, 1]
    scale_step: float  # in log-scale
    rot_step: float  # quaternion component
    color_step: float  # base colour (0.5 + C0 * f_dc) units
    rest_step: float  # higher SH coefficients


LEVELS: dict[int, Level] = {
    1: Level(18, 1.00, 3, 1 / 512, 1 / 64, 1 / 512, 1 / 512, 1 / 256),
    2: Level(16, 1.00, 3, 1 / 256, 1 / 32, 1 / 256, 1 / 256, 1 / 128),
    3: Level(16, 1.00, 2, 1 / 128, 1 / 24, 1 / 128, 1 / 160, 1 / 64),
    4: Level(15, 0.90, 1, 1 / 64, 1 / 16, 1 / 64, 1 / 128, 1 / 32),
    5: Level(14, 0.75, 0, 1 / 48, 1 / 12, 1 / 48, 1 / 96, 1 / 32),
    6: Level(14, 0.60, 0, 1 / 32, 1 / 10, 1 / 32, 1 / 64, 1 / 32),
    7: Level(13, 0.45, 0, 1 / 24, 1 / 8, 1 / 24, 1 / 48, 1 / 32),
    8: Level(12, 0.22, 0, 1 / 16, 1 / 6, 1 / 16, 1 / 32, 1 / 32),
}
MIN_LEVEL, MAX_LEVEL = min(LEVELS), max(LEVELS)
OPACITY_EPS = 1e-6


def _f32(x) -> float:
    return float(np.float32(x))


# ---------------------------------------------------------------------------- quantisers
def _grid(scene: GaussianScene, bits: int) -> dict:
    """The position box: reused from a decoded scene when it still holds every splat."""
    means = scene.means.numpy().astype(np.float64)
    old = scene.meta.get("ladder_grid")
    if old:
        lo, side = np.asarray(old["lo"], np.float64), float(old["side"])
        if len(means) == 0 or ((means >= lo).all() and (means <= lo + side).all()):
            return {"lo": old["lo"], "side": old["side"]}
    if len(means) == 0:
        return {"lo": [0.0, 0.0, 0.0], "side": 1.0}
    lo = means.min(0)
    side = float((means.max(0) - lo).max()) * (1 + 2**-20) + 1e-12
    return {"lo": [_f32(v) for v in lo], "side": _f32(side)}


def _cells(means: np.ndarray, grid: dict, bits: int) -> np.ndarray:
    n = 1 << bits
    rel = (means.astype(np.float64) - np.asarray(grid["lo"], np.float64)) / float(grid["side"])
    return np.clip(np.floor(rel * n), 0, n - 1).astype(np.int64)


def _cell_centres(cells: np.ndarray, grid: dict, bits: int) -> np.ndarray:
    return np.asarray(grid["lo"], np.float64) + (cells + 0.5) * (float(grid["side"]) / (1 << bits))


def _quantise_rotation(quats: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Smallest three: [N] index of the largest |component| (wxyz), [N, 3] the others, quantised.
    The stored largest stays strictly the largest after decoding (ties are nudged), so that
    re-encoding a decoded rotation picks the same index."""
    q = quats.astype(np.float64)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    idx = np.argmax(np.abs(q), axis=1)
    q *= np.where(q[np.arange(len(q)), idx] < 0, -1.0, 1.0)[:, None]
    others = _others(q, idx)
    limit = int(math.floor(ROT_LIMIT / step))
    qi = np.clip(np.rint(others / step), -limit, limit).astype(np.int64)
    for _ in range(8):  # nudge near-ties toward zero until the rebuilt largest wins clearly
        deq = qi * step
        largest = np.sqrt(np.clip(1.0 - (deq**2).sum(1), 0.0, None))
        bad = np.abs(deq).max(1) >= largest - 1e-4
        if not bad.any():
            break
        worst = np.argmax(np.abs(qi[bad]), axis=1)
        rows = np.nonzero(bad)[0]
        qi[rows, worst] -= np.sign(qi[rows, worst])
    return idx.astype(np.int64), qi


def rgb_to_ycocg(rgb: np.ndarray) -> np.ndarray:
    """Lossless integer YCoCg-R (Malvar & Sullivan 2003) of [N, 3] ints: decorrelates colour."""
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    co = r - b
    t = b + (co >> 1)
    cg = g - t
    return np.stack([t + (cg >> 1), co, cg], 1)


def ycocg_to_rgb(ycc: np.ndarray) -> np.ndarray:
    y, co, cg = ycc[:, 0], ycc[:, 1], ycc[:, 2]
    t = y - (cg >> 1)
    g = cg + t
    b = t - (co >> 1)
    return np.stack([b + co, g, b], 1)


def _delta(q: np.ndarray) -> np.ndarray:
    """Difference to the previous splat in Morton order (neighbours have similar values)."""
    return np.diff(q, axis=0, prepend=np.zeros((1,) + q.shape[1:], q.dtype))


def _undelta(d: np.ndarray) -> np.ndarray:
    return np.cumsum(d, axis=0)


def _others(q: np.ndarray, idx: np.ndarray) -> np.ndarray:
    keep = np.ones_like(q, dtype=bool)
    keep[np.arange(len(q)), idx] = False
    return q[keep].reshape(len(q), 3)


def _dequantise_rotation(idx: np.ndarray, qi: np.ndarray, step: float) -> np.ndarray:
    others = qi * step
    largest = np.sqrt(np.clip(1.0 - (others**2).sum(1), 0.0, None))
    out = np.empty((len(idx), 4))
    slots = np.ones((len(idx), 4), bool)
    slots[np.arange(len(idx)), idx] = False
    out[slots] = others.reshape(-1)
    out[np.arange(len(idx)), idx] = largest
    return out


# ---------------------------------------------------------------------------- encode
def encode(scene: GaussianScene, level: int, importance: torch.Tensor | None = None) -> bytes:
    """The .smol bytes of ``scene`` at ``level``. ``importance`` ([N]) may be passed in when
    many levels of one scene are encoded (it is computed when pruning is needed otherwise)."""
    if level not in LEVELS:
        raise InputError(None, f"level {level} is out of range ({MIN_LEVEL}-{MAX_LEVEL})")
    spec = LEVELS[level]
    scene = scene.detach().to("cpu")
    original = int(scene.meta.get("ladder_original_count", scene.count))
    if spec.keep < 1.0 and scene.meta.get("ladder_level") != level and scene.count > 1:
        scene = prune_to_share(scene, spec.keep, importance)
    degree = min(spec.sh_degree, scene.sh_degree)
    n = scene.count
    grid = _grid(scene, spec.bits)
    cells = _cells(scene.means.numpy(), grid, spec.bits)
    codes = octree.morton_encode(cells)
    order = np.argsort(codes, kind="stable")
    position_sections, position_meta = octree.encode_positions(codes[order], spec.bits)
    t = lambda x: x.numpy()[order].astype(np.float64)  # noqa: E731  (Morton order, float64)

    opac = 1.0 / (1.0 + np.exp(-t(scene.opacity_logits)))
    q_opac = np.rint(opac / spec.opacity_step).astype(np.int64)
    logs = t(scene.log_scales)
    scale_min = [_f32(v) for v in (logs.min(0) if n else np.zeros(3))]
    q_scale = np.rint((logs - np.asarray(scale_min)) / spec.scale_step).astype(np.int64)
    rot_idx, q_rot = _quantise_rotation(t(scene.quats), spec.rot_step) if n else (np.zeros(0, np.int64), np.zeros((0, 3), np.int64))
    sh = t(scene.sh)  # [n, K, 3]
    q_dc = np.rint(sh[:, 0, :] * SH_C0 / spec.color_step).astype(np.int64)
    k = sh_coeff_count(degree)
    q_rest = np.rint(sh[:, 1:k, :] / spec.rest_step).astype(np.int64)  # [n, k-1, 3]

    sections = {
        **position_sections,
        "opacity": entropy.encode(q_opac),
        "scale": entropy.encode(_delta(q_scale).ravel(), np.tile(np.arange(3), n), 3),
        "rotation": entropy.encode(np.concatenate([rot_idx, q_rot.ravel()]),
                                   np.concatenate([np.zeros(n, np.int64), np.tile(np.arange(1, 4), n)]), 4),  # fmt: skip
        "color": entropy.encode(rgb_to_ycocg(q_dc).ravel(), np.tile(np.arange(3), n), 3),
    }
    if k > 1:
        sections["sh"] = entropy.encode(q_rest.transpose(0, 2, 1).ravel(), np.tile(np.arange(k - 1), 3 * n), k - 1)
    meta = {
        "codec_version": CODEC_VERSION,
        "count": n,
        "original_count": original,
        "leaves": position_meta["leaves"],
        "sh_degree": degree,
        "grid": grid,
        "bits": spec.bits,
        "occupancy_per_depth": position_meta["occupancy_per_depth"],
        "scale_min": scale_min,
        "steps": asdict(spec),
        "antialiased": bool(scene.meta.get("antialiased", False)),
    }
    return container.pack(CODEC_ID, level, meta, sections)


# ---------------------------------------------------------------------------- decode
def decode(c: container.Container, path: str | None = None) -> GaussianScene:
    meta = c.meta
    try:
        level = c.level
        spec = LEVELS[level]
        n, bits, degree = int(meta["count"]), int(meta["bits"]), int(meta["sh_degree"])
        grid = {"lo": [float(v) for v in meta["grid"]["lo"]], "side": float(meta["grid"]["side"])}
        per_depth = [int(v) for v in meta["occupancy_per_depth"]]
        scale_min = np.asarray(meta["scale_min"], np.float64)
        leaves_n = int(meta["leaves"])
    except (KeyError, TypeError, ValueError) as e:
        raise InputError(path, f"corrupt ladder metadata ({e})") from None
    if meta.get("codec_version") != CODEC_VERSION:
        raise InputError(path, f"unsupported ladder codec version {meta.get('codec_version')}")
    if bits != spec.bits or not 0 <= degree <= 3 or n < 0 or len(per_depth) != (bits if n else 0) or len(grid["lo"]) != 3:
        raise InputError(path, "corrupt ladder metadata (inconsistent sizes)")
    if n > 1 << 28 or sum(per_depth) > 8 * max(n, 1) * bits:
        raise InputError(path, "corrupt ladder metadata (counts too large)")
    cells = octree.decode_cells(c.section("occ", path), c.section("count", path), per_depth, leaves_n, n, bits, path)
    means = _cell_centres(cells, grid, bits)
    opac = entropy.decode(c.section("opacity", path), None, n, path) * spec.opacity_step
    opac = np.clip(opac, OPACITY_EPS, 1 - OPACITY_EPS)
    q_scale = _undelta(entropy.decode(c.section("scale", path), np.tile(np.arange(3), n), 3 * n, path).reshape(n, 3))
    logs = q_scale * spec.scale_step + scale_min
    rot_all = entropy.decode(c.section("rotation", path), np.concatenate([np.zeros(n, np.int64), np.tile(np.arange(1, 4), n)]), 4 * n, path)
    rot_idx, q_rot = rot_all[:n], rot_all[n:].reshape(n, 3)
    if (rot_idx < 0).any() or (rot_idx > 3).any():
        raise InputError(path, "corrupt rotation data")
    quats = _dequantise_rotation(rot_idx, q_rot, spec.rot_step)
    k = sh_coeff_count(degree)
    sh = np.zeros((n, k, 3))
    q_ycc = entropy.decode(c.section("color", path), np.tile(np.arange(3), n), 3 * n, path).reshape(n, 3)
    sh[:, 0, :] = ycocg_to_rgb(q_ycc) * spec.color_step / SH_C0
    if k > 1:
        rest = entropy.decode(c.section("sh", path), np.tile(np.arange(k - 1), 3 * n), 3 * n * (k - 1), path)
        sh[:, 1:, :] = rest.reshape(n, 3, k - 1).transpose(0, 2, 1) * spec.rest_step
    f32 = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float32))  # noqa: E731
    return GaussianScene(
        means=f32(means),
        quats=f32(quats),
        log_scales=f32(logs),
        opacity_logits=f32(np.log(opac) - np.log1p(-opac)),
        sh=f32(sh),
        meta={"codec": CODEC_ID, "level": level, "ladder_level": level, "ladder_grid": grid,
              "ladder_original_count": int(meta["original_count"]), "antialiased": bool(meta.get("antialiased"))},  # fmt: skip
    )


def level_keep(level: int) -> float:
    """The share of Gaussians a level keeps (importance pruning below 1)."""
    return LEVELS[level].keep
