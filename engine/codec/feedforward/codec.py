"""The feed-forward codec's bitstream (codec id "feedforward" in the .smol container).

Any trained scene, no capture, no per-scene training (arXiv 2512.00877; FCGS arXiv 2410.08017):
networks trained once (weights.py) code the scene in one pass, window by window.

Sections (each with its CRC, engine.codec.container):
    meta     JSON: codec_version, count, sh_degree, box, window, windows, positions (octree
             sizes), position_bits (the level's grid, serialise.POSITION_BITS), weights
             {version, fingerprint}, arch, estimated_bits per attribute group
    occ      occupancy bytes of the octree (position_bits levels) of the voxelised positions (serialise.py)
    count    Gaussians per occupied leaf, minus one (duplicates are kept)
    winoff   u64 little-endian byte offsets of the windows inside ``windows`` (windows + 1 values)
    windows  the windows' payloads back to back (coding.py), each an independent ANS stream

Level 1 (best) .. 8 (smallest), as the ladder numbers them (models.LEVELS / LAMBDAS).
Decoded scenes: positions are cell centres, geometry is exactly symbol x step, SH are the
synthesis output on a 1/4096 grid (or symbol x step for sensitive Gaussians); the encoder
computes the same reconstruction (:func:`encode_with_reconstruction`).
"""

from __future__ import annotations

import numpy as np
import torch

from engine.codec import container, ladder
from engine.codec.feedforward import coding, serialise, weights as weights_mod
from engine.codec.feedforward.models import LEVELS, FeedForwardModel
from engine.codec.importance import prune_to_share
from engine.errors import InputError
from engine.scene import GaussianScene, sh_degree_from_count

CODEC_ID = "feedforward"
CODEC_VERSION = 1
DEFAULT_WINDOW = serialise.MIN_WINDOW
MIN_LEVEL, MAX_LEVEL = 1, LEVELS
_copies: dict[int, tuple] = {}


def _coding_model(weights: FeedForwardModel | None) -> tuple[FeedForwardModel, str]:
    """(float64 coding copy, fingerprint) of ``weights`` or of the shipped weights file; cached
    until the model's parameters change (torch counts in-place updates in ``_version``)."""
    model = weights if weights is not None else weights_mod.load()
    stamp = tuple(p._version for p in model.parameters())
    cached = _copies.get(id(model))
    if cached is None or cached[0] is not model or cached[1] != stamp:
        copy = model.coding_copy()
        cached = (model, stamp, copy, weights_mod.fingerprint(copy))
        if len(_copies) >= 4:
            _copies.clear()
        _copies[id(model)] = cached
    return cached[2], cached[3]


def level_keep(level: int) -> float:
    """The share of Gaussians a level keeps: the ladder's importance pruning at levels 4-8."""
    return ladder.level_keep(level)


def encode_with_reconstruction(scene: GaussianScene, level: int, weights: FeedForwardModel | None = None,
                               window: int = DEFAULT_WINDOW, importance: torch.Tensor | None = None,
                               ) -> tuple[bytes, GaussianScene]:  # fmt: skip
    """(.smol bytes, the decoded scene the decoder will rebuild, in serial order). Levels 4-8
    first keep the most important Gaussians (:func:`level_keep`; ``importance`` [N] may be
    passed in when several levels of one scene are encoded); a scene decoded from this level is
    not pruned again."""
    if level not in range(MIN_LEVEL, MAX_LEVEL + 1):
        raise InputError(None, f"level {level} is out of range ({MIN_LEVEL}-{MAX_LEVEL})")
    if not serialise.MIN_WINDOW <= window <= serialise.MAX_WINDOW:
        raise InputError(None, f"window {window} is out of range ({serialise.MIN_WINDOW}-{serialise.MAX_WINDOW})")
    model, fp = _coding_model(weights)
    scene = scene.detach().to("cpu")
    n = scene.count
    if n == 0:
        raise InputError(None, "the feed-forward codec needs at least one Gaussian")
    if scene.invalid_rows().any():
        raise InputError(None, "the scene holds NaN or infinite values (drop them first)")
    decoded_here = scene.meta.get("codec") == CODEC_ID and scene.meta.get("level") == level
    if level_keep(level) < 1.0 and not decoded_here and n > 1:
        scene = prune_to_share(scene, level_keep(level), importance)
        n = scene.count
    means = scene.means.numpy().astype(np.float64)
    box = serialise.grid_box(means)
    bits = serialise.POSITION_BITS[level]
    order, codes = serialise.serial_order(means, box, bits)
    pos_sections, pos_meta = serialise.encode_positions(codes, bits)
    cells = serialise.voxelise(means, box, bits)[order]  # [n, 3] on the level's grid
    net_cells = serialise.network_cells(cells, bits)  # [n, 3] in 16-bit units
    geom = coding.geometry_table(scene)[order]
    sh48, n_sh = coding.sh_table(scene)
    sh48 = sh48[order]
    payloads, g_out, s_out, est = [], [], [], {}
    for s, e in serialise.windows(n, window):
        payload, g, sh, est_bits = coding.encode_window(model, net_cells[s:e], geom[s:e], sh48[s:e], n_sh, level)
        payloads.append(payload)
        g_out.append(g)
        s_out.append(sh)
        for k, v in est_bits.items():
            est[k] = est.get(k, 0.0) + v
    offsets = np.cumsum([0] + [len(p) for p in payloads]).astype("<u8")
    degree = sh_degree_from_count(n_sh // 3)
    meta = {
        "codec_version": CODEC_VERSION,
        "count": n,
        "sh_degree": degree,
        "box": box,
        "window": window,
        "windows": len(payloads),
        "positions": pos_meta,
        "position_bits": bits,
        "weights": {"version": weights_mod.VERSION, "fingerprint": fp},
        "arch": model.arch.to_dict(),
        "estimated_bits": {k: int(round(v)) for k, v in sorted(est.items())},
        "antialiased": bool(scene.meta.get("antialiased", False)),
    }
    sections = {**pos_sections, "winoff": offsets.tobytes(), "windows": b"".join(payloads)}
    data = container.pack(CODEC_ID, level, meta, sections)
    recon = _scene(serialise.cell_centres(cells, box, bits), np.concatenate(g_out), np.concatenate(s_out), degree, level, box, meta)
    return data, recon


def encode(scene: GaussianScene, level: int, weights: FeedForwardModel | None = None, window: int = DEFAULT_WINDOW,
           importance: torch.Tensor | None = None) -> bytes:  # fmt: skip
    """The .smol bytes of ``scene`` at ``level`` (the registry contract, engine.codec)."""
    return encode_with_reconstruction(scene, level, weights, window, importance)[0]


def _scene(means: np.ndarray, geom: np.ndarray, sh: np.ndarray, degree: int, level: int, box: dict, meta: dict) -> GaussianScene:
    f32 = lambda a: torch.from_numpy(np.ascontiguousarray(a, np.float32))  # noqa: E731
    n = len(means)
    return GaussianScene(
        means=f32(means), quats=f32(geom[:, 4:8]), log_scales=f32(geom[:, 1:4]), opacity_logits=f32(geom[:, 0]),
        sh=f32(sh.reshape(n, -1, 3)),
        meta={"codec": CODEC_ID, "level": level, "feedforward_box": box, "antialiased": bool(meta.get("antialiased"))},
    )  # fmt: skip


# ---------------------------------------------------------------------------- decode
class _Stream:
    """The parsed, checked parts of a feed-forward container shared by the window decoders."""

    def __init__(self, c: container.Container, path: str | None, weights: FeedForwardModel | None):
        meta = c.meta
        if meta.get("codec_version") != CODEC_VERSION:
            raise InputError(path, f"unsupported feed-forward codec version {meta.get('codec_version')}")
        try:
            self.n, self.degree = int(meta["count"]), int(meta["sh_degree"])
            self.box = {"lo": [float(v) for v in meta["box"]["lo"]], "side": float(meta["box"]["side"])}
            self.window_size, self.count = int(meta["window"]), int(meta["windows"])
            w_version, w_fp = int(meta["weights"]["version"]), str(meta["weights"]["fingerprint"])
            self.bits = int(meta["position_bits"])
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(path, f"corrupt feed-forward metadata ({e})") from None
        if not 0 < self.n < 1 << 28 or not 0 <= self.degree <= 3 or len(self.box["lo"]) != 3 or not self.box["side"] > 0:
            raise InputError(path, "corrupt feed-forward metadata (sizes)")
        if not 1 <= self.bits <= serialise.BITS:
            raise InputError(path, f"corrupt feed-forward metadata (position grid of {self.bits} bits)")
        if not serialise.MIN_WINDOW <= self.window_size <= serialise.MAX_WINDOW:
            raise InputError(path, f"corrupt feed-forward metadata (window {self.window_size})")
        self.bounds = serialise.windows(self.n, self.window_size)
        if len(self.bounds) != self.count:
            raise InputError(path, "corrupt feed-forward metadata (window count)")
        if w_version != weights_mod.VERSION:
            raise InputError(path, f"this file needs feed-forward codec weights version {w_version}; "
                                   f"this SplatLab has version {weights_mod.VERSION}")  # fmt: skip
        self.model, fp = _coding_model(weights)
        if fp != w_fp:
            raise InputError(path, f"this file was encoded with other feed-forward codec weights (fingerprint {w_fp[:12]}..., "
                                   f"these are {fp[:12]}...); decode it with the weights it was made with")  # fmt: skip
        off = np.frombuffer(c.section("winoff", path), "<u8").astype(np.int64)
        self.data = c.section("windows", path)
        if len(off) != self.count + 1 or off[0] != 0 or off[-1] != len(self.data) or (np.diff(off) < 0).any():
            raise InputError(path, "corrupt feed-forward window offsets")
        self.offsets = off
        self.cells = serialise.decode_positions(c.section("occ", path), c.section("count", path), meta["positions"], self.n, path,
                                                self.bits)  # [n, 3] on the level's grid  # fmt: skip
        self.level, self.meta, self.path = c.level, meta, path
        if self.level not in range(MIN_LEVEL, MAX_LEVEL + 1):
            raise InputError(path, f"corrupt feed-forward header (level {self.level})")

    def window(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s, e = self.bounds[i]
        payload = self.data[self.offsets[i] : self.offsets[i + 1]]
        n_sh = 3 * (self.degree + 1) ** 2
        net_cells = serialise.network_cells(self.cells[s:e], self.bits)
        g, sh = coding.decode_window(self.model, payload, net_cells, n_sh, self.level, self.path)
        return self.cells[s:e], g, sh

    def scene(self, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> GaussianScene:
        cells, g, sh = (np.concatenate(x) for x in zip(*parts))
        return _scene(serialise.cell_centres(cells, self.box, self.bits), g, sh, self.degree, self.level, self.box, self.meta)


def decode(c: container.Container, path: str | None = None, weights: FeedForwardModel | None = None) -> GaussianScene:
    """The whole scene, in serial (Morton) order (the registry contract, engine.codec)."""
    st = _Stream(c, path, weights)
    return st.scene([st.window(i) for i in range(st.count)])


def decode_window(c: container.Container, index: int, path: str | None = None,
                  weights: FeedForwardModel | None = None) -> GaussianScene:  # fmt: skip
    """Window ``index`` alone (its Gaussians, in serial order): equal to that slice of :func:`decode`."""
    st = _Stream(c, path, weights)
    if not 0 <= index < st.count:
        raise InputError(path, f"window {index} is out of range (the file has {st.count})")
    return st.scene([st.window(index)])


def window_bounds(c: container.Container) -> list[tuple[int, int]]:
    """[(start, end)] of every window in the decoded scene's order."""
    return serialise.windows(int(c.meta["count"]), int(c.meta["window"]))
