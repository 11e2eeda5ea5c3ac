"""The ``.sgi`` file: quantised, entropy-coded 2D Gaussians in the project's container.

SmartSplat (arXiv 2512.20377) counts Gaussians but writes no file; this is the real codec. A
``.sgi`` file is the ``.smol`` container (``engine.codec.container``: magic, version, section
table, a CRC32 per section and over the header) with magic ``b"SGIM"`` and codec id
``"smartsplat"``. Its sections:

- ``meta`` (JSON): ``w``, ``h`` image size; ``t`` tile size and ``m`` blend band width (the tile
  layout and the tiles' weights, ``engine.image.tiles``); ``p`` position grid (2^-p px); ``c``
  colour step 2^-c in YCoCg (0: residual VQ colours with ``s`` stages);
- ``t0``, ``t1``, … one per tile in coding order:

  ====================  =====================================================================
  varint N              Gaussians in the tile (0: an empty tile, nothing follows)
  varint K              (VQ only) codewords per colour stage
  f32 β, f32 s          log-scale quantiser (6 bits: log s = β + s·q)
  3 zigzag varints      (YCoCg) the median symbol of each colour channel
  per stage f16 lo, hi  (VQ only) codeword value range; then stages × K × 3 u8 codeword values
  streams               ``engine.image.bitstream``: exp-Golomb deltas of the sorted position
                        keys qy·Wq + qx; q₁; q₁ − q₂; the angle (only where q₁ ≠ q₂); then
                        (YCoCg) per channel exp-Golomb codes of the zigzagged distance to the
                        median, or (VQ) one colour index stream per stage
  ====================  =====================================================================

The reported rate is always the whole file: bpp = file bytes × 8 / (W·H).
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass

import numpy as np
import torch

from engine.codec import container
from engine.errors import InputError
from engine.image.bitstream import Decoder, Encoder, varint
from engine.image.gaussians import Gaussians2D
from engine.image.quantize import SHAPE_LEVELS, QuantSpec, Side, color_width, dequantize
from engine.image.rasterize import render
from engine.image.tiles import Tile, layout
from engine.io.atomic import read_bytes

MAGIC = container.SGI_MAGIC
CODEC_ID = "smartsplat"
MAX_SIDE = 65535
MAX_CODES = 1024
_F32 = struct.Struct("<ff")
_F16 = struct.Struct("<ee")


@dataclass
class Header:
    width: int
    height: int
    tile_size: int
    margin: int
    spec: QuantSpec

    def tiles(self) -> list[Tile]:
        return layout(self.width, self.height, self.tile_size, self.margin)

    def meta(self) -> dict:
        return {"w": self.width, "h": self.height, "t": self.tile_size, "m": self.margin,
                "p": self.spec.pos_frac_bits, "c": self.spec.color_bits, "s": self.spec.stages}  # fmt: skip


# ---------------------------------------------------------------------------- one tile
MAX_COLOR_SYMBOL = 1 << 24  # |qY|, |qCo|, |qCg| (a colour of 2^24 steps is corrupt data)


def _zigzag(v: np.ndarray) -> np.ndarray:
    return np.where(v >= 0, 2 * v, -2 * v - 1)


def _unzigzag(u: np.ndarray) -> np.ndarray:
    return np.where(u & 1, -((u + 1) >> 1), u >> 1)


def empty_symbols(spec: QuantSpec) -> dict[str, np.ndarray]:
    z = np.zeros(0, np.int64)
    return {"qx": z, "qy": z, "q1": z, "q2": z, "theta": z, "color": np.zeros((0, color_width(spec)), np.int64)}


def encode_tile(sym: dict[str, np.ndarray], side: Side | None, spec: QuantSpec, tile: Tile) -> bytes:
    """Bytes of one tile from its symbols (sorted by position key) and side information."""
    n = len(sym["qx"])
    out = bytearray(varint(n))
    if n == 0:
        return bytes(out)
    color = sym["color"].astype(np.int64)
    if spec.vq:
        codes = side.codebooks.shape[1]
        out += varint(codes) + _F32.pack(side.beta, side.step)
        for s in range(spec.stages):
            out += _F16.pack(float(side.lo[s]), float(side.hi[s]))
        out += side.codebooks.astype(np.uint8).tobytes()
    else:
        out += _F32.pack(side.beta, side.step)
        centre = np.median(color, 0).round().astype(np.int64)  # [3] per channel
        for c in centre:
            out += varint(int(_zigzag(np.int64(c))))
    wq = tile.width << spec.pos_frac_bits
    key = sym["qy"].astype(np.int64) * wq + sym["qx"].astype(np.int64)
    enc = Encoder()
    enc.exp_golomb(np.diff(key, prepend=0))
    enc.categorical(sym["q1"])
    d = sym["q1"] - sym["q2"]
    enc.categorical(d)
    enc.categorical(sym["theta"][d > 0])
    if spec.vq:
        for s in range(spec.stages):
            enc.categorical(color[:, s])
    else:
        for c in range(3):
            enc.exp_golomb(_zigzag(color[:, c] - centre[c]))
    return bytes(out) + enc.finish()


def decode_tile(data: bytes, spec: QuantSpec, tile: Tile, path: str | None = None) -> tuple[dict[str, np.ndarray], Side]:
    """Inverse of :func:`encode_tile`; every inconsistency is an InputError naming ``path``."""
    bad = lambda what: InputError(path, f"tile {tile.index} is corrupt ({what})")  # noqa: E731
    pos = 0

    def uvarint() -> int:
        nonlocal pos
        v, shift = 0, 0
        while True:
            if pos >= len(data) or shift > 35:
                raise bad("truncated header")
            b = data[pos]
            pos += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v

    n = uvarint()
    wq, hq = tile.width << spec.pos_frac_bits, tile.height << spec.pos_frac_bits
    if n > wq * hq:
        raise bad(f"{n} Gaussians in a {tile.width}x{tile.height} window")
    no_books = (np.zeros((0, 0, 3), np.uint8), np.zeros(0, np.float16), np.zeros(0, np.float16))
    if n == 0:
        if pos != len(data):
            raise bad("unexpected bytes after an empty tile")
        return empty_symbols(spec), Side(0.0, 1.0, *no_books)
    books, lo, hi = no_books
    codes = 0
    if spec.vq:
        codes = uvarint()
        if not 1 <= codes <= MAX_CODES:
            raise bad(f"{codes} codewords")
        need = _F32.size + _F16.size * spec.stages + spec.stages * codes * 3
    else:
        need = _F32.size
    if pos + need > len(data):
        raise bad("truncated header")
    beta, step = _F32.unpack_from(data, pos)
    pos += _F32.size
    if spec.vq:
        lo, hi = np.zeros(spec.stages, np.float16), np.zeros(spec.stages, np.float16)
        for s in range(spec.stages):
            lo[s], hi[s] = _F16.unpack_from(data, pos)
            pos += _F16.size
        books = np.frombuffer(data, np.uint8, spec.stages * codes * 3, pos).reshape(spec.stages, codes, 3).copy()
        pos += spec.stages * codes * 3
    else:
        centre = _unzigzag(np.array([uvarint() for _ in range(3)], np.int64))
        if (np.abs(centre) > MAX_COLOR_SYMBOL).any():
            raise bad("colour centre out of range")
    if not all(math.isfinite(v) for v in (beta, step, *lo.astype(float), *hi.astype(float))) or not 0 < step < 10:
        raise bad("non-finite or out-of-range quantiser values")
    dec = Decoder(data[pos:], path)
    key = np.cumsum(dec.exp_golomb(n))
    if len(key) and key[-1] >= wq * hq:
        raise bad("a position outside the tile")
    q1 = dec.categorical(n)
    d = dec.categorical(n)
    if (q1 < 0).any() or (q1 >= SHAPE_LEVELS).any() or (d < 0).any() or (d > q1).any():
        raise bad("shape symbols out of range")
    theta = np.zeros(n, np.int64)
    theta[d > 0] = dec.categorical(int((d > 0).sum()))
    if (theta < 0).any() or (theta >= SHAPE_LEVELS).any():
        raise bad("angle symbols out of range")
    if spec.vq:
        color = np.stack([dec.categorical(n) for _ in range(spec.stages)], -1)
        if (color < 0).any() or (color >= codes).any():
            raise bad("colour indices out of range")
    else:
        u = np.stack([dec.exp_golomb(n) for _ in range(3)], -1)
        if (u > 2 * MAX_COLOR_SYMBOL).any():
            raise bad("colour symbols out of range")
        color = _unzigzag(u) + centre
    dec.check_end()
    sym = {"qx": key % wq, "qy": key // wq, "q1": q1, "q2": q1 - d, "theta": theta, "color": color}
    return sym, Side(float(beta), float(step), books, lo, hi)


# ---------------------------------------------------------------------------- the file
def pack(header: Header, tiles: list[bytes]) -> bytes:
    sections = {f"t{i}": payload for i, payload in enumerate(tiles)}
    return container.pack(CODEC_ID, 0, header.meta(), sections, magic=MAGIC)


def container_overhead(n_tiles: int, header: Header) -> int:
    """Bytes of the file that are not tile payloads (header, section table, CRCs, meta)."""
    return len(pack(header, [b""] * n_tiles))


def _int(meta: dict, key: str, lo: int, hi: int, path) -> int:
    v = meta.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise InputError(path, f"corrupt .sgi meta: {key!r} is {v!r} (expected an integer {lo}-{hi})")
    return v


def unpack(data: bytes, path: str | None = None) -> tuple[Header, list[bytes]]:
    c = container.unpack(data, path, magic=MAGIC)
    if c.codec != CODEC_ID:
        raise InputError(path, f"unknown .sgi codec {c.codec!r} (this SplatLab reads {CODEC_ID!r})")
    m = c.meta
    spec = QuantSpec(pos_frac_bits=_int(m, "p", 0, 8, path), color_bits=_int(m, "c", 0, 12, path),
                     stages=_int(m, "s", 1, 8, path))  # fmt: skip
    tile_size = _int(m, "t", 16, MAX_SIDE, path)
    header = Header(_int(m, "w", 1, MAX_SIDE, path), _int(m, "h", 1, MAX_SIDE, path), tile_size,
                    _int(m, "m", 0, tile_size // 2, path), spec)  # fmt: skip
    n = len(header.tiles())
    names = [f"t{i}" for i in range(n)]
    if list(c.sections) != ["meta"] + names:
        raise InputError(path, f"corrupt .sgi: expected {n} tile sections, found {len(c.sections) - 1}")
    return header, [c.sections[k] for k in names]


def is_sgi(path: str | os.PathLike) -> bool:
    """A .sgi file by its extension or, under any name, by its magic."""
    path = os.fspath(path)
    if path.lower().endswith(".sgi"):
        return True
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def read(path: str | os.PathLike) -> tuple[Header, list[bytes]]:
    path = os.fspath(path)
    return unpack(read_bytes(path), path)


# ---------------------------------------------------------------------------- rendering
def add_tile(canvas: torch.Tensor, tile: Tile, g: Gaussians2D) -> None:
    """canvas [H, W, 3] += ω_t × the tile's Gaussians rendered in (and cut to) its window
    (``engine.image.tiles``: the weights of all tiles sum to one)."""
    if g.count:
        with torch.no_grad():
            img = render(g.to(canvas.device), tile.width, tile.height)
            if tile.blended:
                img = img * tile.weight().to(canvas.device)
            tile.window(canvas).add_(img)


def to_uint8(canvas: torch.Tensor) -> np.ndarray:
    """The decoded image: the sum clamped to [0, 1] and rounded to 8 bits, [H, W, 3] uint8."""
    return (canvas.clamp(0, 1) * 255.0 + 0.5).floor().to(torch.uint8).cpu().numpy()


def decode_gaussians(data: bytes, path: str | None = None) -> tuple[Header, list[Gaussians2D]]:
    header, payloads = unpack(data, path)
    tiles = header.tiles()
    return header, [dequantize(*decode_tile(p, header.spec, t, path), header.spec) for p, t in zip(payloads, tiles)]


def decode(data: bytes, path: str | None = None, device: str | torch.device = "cpu") -> np.ndarray:
    """Decode .sgi bytes into an RGB image [H, W, 3] uint8 (deterministic on a given device)."""
    header, gaussians = decode_gaussians(data, path)
    canvas = torch.zeros(header.height, header.width, 3, device=device)
    for tile, g in zip(header.tiles(), gaussians):
        add_tile(canvas, tile, g)
    return to_uint8(canvas)


def decode_file(path: str | os.PathLike, device: str | torch.device = "cpu") -> np.ndarray:
    path = os.fspath(path)
    return decode(read_bytes(path), path, device)


def info(data: bytes, path: str | None = None) -> dict:
    """Size, rate and counts of a .sgi file without rendering it."""
    header, gaussians = decode_gaussians(data, path)
    return {"width": header.width, "height": header.height, "bytes": len(data),
            "bpp": len(data) * 8 / (header.width * header.height), "tiles": len(gaussians),
            "count": sum(g.count for g in gaussians), "meta": json.loads(json.dumps(header.meta()))}  # fmt: skip
