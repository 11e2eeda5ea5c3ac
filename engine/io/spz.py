"""Niantic SPZ: read versions 1-4, write version 4 (zstd, default) or 3 (gzip).

Sources (facts and layouts only): nianticlabs/spz ``README.md``, ``src/cc/load-spz.cc``,
``src/cc/splat-types.h`` and ``extensions/README.md``.

File layout
-----------
- **v1-v3**: the whole file is one gzip stream (``1f 8b``). Inside: a 16-byte header (magic
  ``NGSP`` = 0x5053474e, version u32, numPoints u32, shDegree u8, fractionalBits u8, flags u8,
  reserved u8), then the attribute blocks back to back. The reference writer appends extension
  records after the blocks when flags & 0x2; they are skipped here. An un-gzipped v1-v3 stream
  (header first) is accepted too, as splat-transform does.
- **v4**: a 32-byte plaintext header (the 16 bytes above with byte 15 = numStreams, then
  tocByteOffset u32 and 12 reserved bytes); extension TLV records ``[u32 type][u32 length][payload]``
  in bytes ``[32, tocByteOffset)`` when flags & 0x2 (their type ids go to
  ``meta["spz_extensions"]``, their payloads are ignored); at tocByteOffset a table of contents of
  numStreams x (compressed u64, uncompressed u64); then the independent zstd streams back to back,
  ending exactly at the end of the file. Empty streams are left out, so numStreams is 5 for SH
  degree 0 and 6 otherwise.

Attribute blocks, in stream order (N = numPoints, all little-endian):

=========  ========  ======================================  ==============================
block      B/splat   encode (SPZ frame)                      decode
=========  ========  ======================================  ==============================
positions  9 (v1: 6) round(p * 2^fb) as 24-bit signed           int / 2^fb (v1: float16)
alphas     1         round(sigmoid(opacity) * 255)           logit(clamp(b/255, eps, 1-eps))
colours    3         round(f_dc * 0.15 * 255 + 127.5)        (b/255 - 0.5) / 0.15
scales     3         round((log_scale + 10) * 16)            b/16 - 10
rotations  4 (v<3: 3) smallest three, see below              see below
SH         3 * dim   round(x * 128) + 128, snapped to 2^(8-bits) (b - 128) / 128
=========  ========  ======================================  ==============================

SH are coefficient-major with the colour channel inner (c1 RGB, c2 RGB, ...); dim = 3 / 8 / 15 / 24
for degrees 1-4. Degree 4 is refused (the engine holds degrees 0-3). The writer snaps SH bytes to
buckets of 2^(8 - bits) with 5 bits for degree-1 coefficients and 4 for the rest, as the reference
writer does; the reader needs no bit counts (a snapped byte decodes like any other).

Rotations (v3+): the unit quaternion in SPZ's (x, y, z, w) slot order as one u32: bits 31-30 hold
the slot of the largest |component| (made positive by negating q), the other three follow in
ascending slot order at bits 29-20, 19-10, 9-0, each a sign bit (bit 9) and a 9-bit magnitude
floor(511 * |q_i| / sqrt(1/2) + 0.5). Decode: |q_i| = sqrt(1/2) * m / 511, largest =
sqrt(max(0, 1 - sum)). Our writer takes the sign bit from the float's sign bit, so a decoded
-0.0 (magnitude 0 with the sign set, which the reference writes for tiny negative values)
re-encodes to the same bits. v1/v2: xyz as round(q * 127.5 + 127.5) with w >= 0; w = sqrt(1 - |xyz|^2).

Fractional bits: the reference reader decodes positions with the header's fractionalBits
(0..24 accepted, as the reference checks). Our writer uses 12 (the reference's value) unless the
scene reaches beyond +-2048 units; then it lowers fb until every coordinate fits the 24 bits, so
nothing is clipped or wrapped (the reference writer wraps such values silently).

Alpha bytes 0 and 255 would decode to -inf / +inf logits. We clamp b/255 to [1e-6, 1 - 1e-6]
(logits -+13.8155), the same clamp as splat-transform, so the values are finite, a re-encode gives
the same byte back (encode -> decode -> encode is byte-identical), and our decode matches
splat-transform's exactly. (The Niantic reader clamps to [1/255, 254/255], which turns 0 into 1.)

Coordinate frames
-----------------
SPZ stores RUB axes (x right, y up, z back); the engine and PLY use OpenCV RDF. The change of
frame F = diag(1, -1, -1) is a rotation by pi about x (det +1), so:

- position (x, y, z) -> (x, -y, -z);
- a Gaussian rotation R becomes F R F, i.e. the quaternion is conjugated by the pi-rotation
  about x: w and x kept, y and z negated;
- colour c(d) = sum_k f_k Y_k(d) must be unchanged when evaluated at the flipped direction F d.
  Every real SH basis function (engine.render.sh) is a polynomial in (x, y, z) whose terms all carry the
  same parity in y and in z, so Y_k(F d) = s_k Y_k(d) with s_k = (-1)^(deg_y + deg_z) of its
  monomials; hence f'_k = s_k f_k. Reading its table:
  band 1: -y, z, -x                                        -> [-, -, +]
  band 2: xy, yz, 2z^2-x^2-y^2, xz, x^2-y^2                -> [-, +, +, -, +]
  band 3: y(3x^2-y^2), xyz, y(4z^2-x^2-y^2), z(2z^2-3x^2-3y^2), x(4z^2-x^2-y^2),
          z(x^2-y^2), x(x^2-3y^2)                          -> [-, +, -, -, +, -, +]
  This matches the reference ``CoordinateConverter.flipSh`` (y, z, x, xy, yz, 1, xz, 1, y, xyz,
  y, z, x, z, x with x = 1, y = z = -1). The flip is its own inverse.

Error bounds of write -> read against the input scene (what tests/test_io_formats.py asserts)
----------------------------------------------------------------------------------------------
- positions: |err| <= 2^-(fb+1) per axis (fb = 12: 1.2207e-4) for |p| < 2^(23-fb);
- log-scales: |err| <= 1/32 for log-scale in [-10, 5.9375] (clamped outside);
- opacity: |sigmoid(o') - sigmoid(o)| <= 0.5/255 (the clamp adds at most 1e-6);
- DC colour (f_dc): |err| <= 0.5 / (0.15 * 255) = 0.013072 for f_dc in [-3.3333, 3.3333];
- rotation (v3/v4), normalised quaternion up to sign: every component |err| <= 3 * delta with
  delta = sqrt(1/2) * 0.5 / 511 = 6.9192e-4. Stored components round to nearest (<= delta); the
  rebuilt largest one is >= 1/2, so its error is <= sum|q_i| delta / largest <= 3 delta. Near-tie
  rows re-encoded for byte identity (see ``encode_rotations_smallest_three``) stay within 3 delta
  too (checked on 2.2 M random and near-tie quaternions: worst 2.62 delta);
- SH rest, for x in [-1, 1]: |err| <= 4.5/128 = 0.035156 (degree 1, 5 bits: snap error 4/128 after
  rounding error 0.5/128) and 8.5/128 = 0.066406 (degrees 2-3, 4 bits); clamped outside.
"""

from __future__ import annotations

import itertools
import os
import struct
import zlib
from dataclasses import dataclass

import numpy as np
import torch
import zstandard

from engine.errors import InputError
from engine.io.atomic import atomic_output, read_bytes
from engine.scene import GaussianScene, sh_coeff_count

MAGIC = 0x5053474E  # b"NGSP" read as little-endian u32
GZIP_MAGIC = b"\x1f\x8b"
LEGACY_HEADER = struct.Struct("<IIIBBBB")  # 16 B: magic version points degree fb flags reserved
V4_HEADER = struct.Struct("<IIIBBBBI12x")  # 32 B: ... flags numStreams tocByteOffset reserved[12]
TOC_ENTRY = struct.Struct("<QQ")  # compressed size, uncompressed size
EXT_RECORD = struct.Struct("<II")  # extension type, payload length

COLOR_SCALE = 0.15  # SPZ's DC scale (not SH_C0), from load-spz.cc
OPACITY_EPS = 1e-6  # alpha clamp before the logit (see module docstring)
SQRT1_2 = 0.7071067811865476
DEFAULT_FRACTIONAL_BITS = 12
MAX_FRACTIONAL_BITS = 24  # the reference reader's limit
MAX_POINTS = 1 << 28  # sanity cap before anything is allocated
MAX_ZSTD_RATIO = 1024  # reference check: numPoints * 9 <= file size * 1024
MAX_DEFLATE_RATIO = 1032  # deflate cannot expand more than ~1032:1
LEGACY_TRAILER_LIMIT = 1 << 20  # extension bytes allowed after a legacy payload
READ_CHUNK = 16 << 20
ZSTD_LEVEL = 12  # the reference writer's level
SH_DIM = {0: 0, 1: 3, 2: 8, 3: 15, 4: 24}  # coefficients per channel after DC
STREAM_NAMES = ("positions", "alphas", "colours", "scales", "rotations", "SH")

# RDF <-> RUB sign of SH coefficients 1..15 (derivation in the module docstring).
SH_FLIP = np.array([-1, -1, 1, -1, 1, 1, -1, 1, -1, 1, -1, -1, 1, -1, 1], np.float32)
POS_FLIP = np.array([1, -1, -1], np.float32)  # (x, y, z) -> (x, -y, -z)
QUAT_FLIP_XYZW = np.array([1, -1, -1, 1], np.float64)  # x kept, y and z negated, w kept


@dataclass
class Header:
    version: int
    count: int
    sh_degree: int
    fractional_bits: int
    flags: int

    @property
    def antialiased(self) -> bool:
        return bool(self.flags & 0x1)

    def stream_sizes(self) -> list[int]:
        """Bytes per splat of each non-empty stream, in file order."""
        sizes = [6 if self.version == 1 else 9, 1, 3, 3, 4 if self.version >= 3 else 3]
        dim = SH_DIM[self.sh_degree]
        if dim:
            sizes.append(3 * dim)
        return sizes


# ============================================================================ reading
def read(path: str | os.PathLike) -> GaussianScene:
    path = os.fspath(path)
    data = read_bytes(path)
    if data[:2] == GZIP_MAGIC:
        header, streams, extensions = _read_gzip(path, data)
    elif data[:4] == b"NGSP":
        if len(data) < 8:
            raise InputError(path, "SPZ file is truncated inside its header")
        version = struct.unpack_from("<I", data, 4)[0]
        if version >= 4:
            header, streams, extensions = _read_v4(path, data)
        else:  # an un-gzipped legacy stream
            header, streams, extensions = _read_legacy_payload(path, memoryview(data), len(data))
    else:
        raise InputError(path, f"not an SPZ file (starts with {data[:4].hex()}; expected gzip 1f8b or 'NGSP')")
    scene = _scene_from_streams(header, streams)
    scene.meta.update(
        format="spz",
        spz_version=header.version,
        spz_fractional_bits=header.fractional_bits,
        antialiased=header.antialiased,
    )
    if extensions:
        scene.meta["spz_extensions"] = extensions
    return scene


def _check_header(path: str, h: Header) -> None:
    if h.version < 1 or h.version > 4:
        raise InputError(path, f"unsupported SPZ version {h.version} (this reader handles 1-4)")
    if h.sh_degree == 4:
        raise InputError(path, "SPZ has SH degree 4; the engine supports SH degrees 0-3")
    if h.sh_degree > 4:
        raise InputError(path, f"invalid SPZ SH degree {h.sh_degree} (0-4 exist)")
    if h.fractional_bits > MAX_FRACTIONAL_BITS:
        raise InputError(path, f"invalid SPZ fractionalBits {h.fractional_bits} (at most {MAX_FRACTIONAL_BITS})")
    if h.count == 0:
        raise InputError(path, "SPZ header says the file holds no splats")
    if h.count > MAX_POINTS:
        raise InputError(path, f"SPZ header claims {h.count} splats (more than {MAX_POINTS}; corrupt file?)")


def _parse_legacy_header(path: str, raw: bytes) -> Header:
    magic, version, count, degree, fb, flags, _ = LEGACY_HEADER.unpack(raw)
    if magic != MAGIC:
        raise InputError(path, "not an SPZ file (the gzip stream does not start with 'NGSP')")
    h = Header(version, count, degree, fb, flags)
    if version == 4:
        raise InputError(path, "SPZ version 4 inside a gzip stream (v4 files are not gzipped)")
    _check_header(path, h)
    return h


# ---------------------------------------------------------------------------- v1-v3
def _read_gzip(path: str, data: bytes):
    """Inflate a legacy file: never more bytes than the header's counts allow."""
    inflater = _Inflater(path, data)
    header = _parse_legacy_header(path, inflater.take(LEGACY_HEADER.size, "header"))
    payload = header.count * sum(header.stream_sizes())
    if payload > len(data) * MAX_DEFLATE_RATIO + 4096:
        raise InputError(
            path, f"SPZ header claims {header.count} splats ({payload} bytes), far more than a "
            f"{len(data)}-byte gzip file can hold (corrupt file?)"
        )  # fmt: skip
    body = inflater.take(payload, "splat data")
    inflater.finish(LEGACY_TRAILER_LIMIT if header.flags & 0x2 else 0)
    return header, _split_streams(header, memoryview(body)), []


def _read_legacy_payload(path: str, buf: memoryview, total: int):
    """An un-gzipped v1-v3 stream: header then blocks."""
    if total < LEGACY_HEADER.size:
        raise InputError(path, "SPZ file is truncated inside its header")
    header = _parse_legacy_header(path, bytes(buf[: LEGACY_HEADER.size]))
    payload = header.count * sum(header.stream_sizes())
    have = total - LEGACY_HEADER.size
    if have < payload:
        raise InputError(
            path, f"file is truncated: {header.count} splats need {payload} bytes, {have} follow the header"
        )  # fmt: skip
    body = buf[LEGACY_HEADER.size : LEGACY_HEADER.size + payload]
    return header, _split_streams(header, body), []


def _split_streams(header: Header, body: memoryview) -> list[np.ndarray]:
    streams, offset = [], 0
    for size in header.stream_sizes():
        n = header.count * size
        streams.append(np.frombuffer(body[offset : offset + n], np.uint8))
        offset += n
    return streams


class _Inflater:
    """Pulls exact byte counts out of a gzip stream with bounded output."""

    def __init__(self, path: str, data: bytes):
        self.path = path
        self.tail = data
        self.z = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def _inflate(self, limit: int) -> bytes:
        try:
            out = self.z.decompress(self.tail, limit)
        except zlib.error as e:
            raise InputError(self.path, f"corrupt gzip stream ({e})") from None
        self.tail = self.z.unconsumed_tail
        return out

    def take(self, n: int, what: str) -> bytes:
        parts, got = [], 0
        while got < n:
            chunk = self._inflate(min(n - got, READ_CHUNK))
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        if got < n:
            raise InputError(
                self.path, f"file is truncated: the gzip stream ends inside the {what} ({got} of {n} bytes)"
            )  # fmt: skip
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def finish(self, allowed_extra: int) -> None:
        """Require the end of the gzip stream after at most ``allowed_extra`` more bytes."""
        extra = 0
        while not self.z.eof:
            chunk = self._inflate(min(READ_CHUNK, allowed_extra + 1))
            extra += len(chunk)
            if extra > allowed_extra:
                raise InputError(self.path, "the gzip stream holds more data than the SPZ header declares")
            if not chunk and not self.z.eof and not self.tail:
                raise InputError(self.path, "file is truncated: the gzip stream has no end")
        if self.z.unused_data:
            raise InputError(self.path, f"{len(self.z.unused_data)} unexpected bytes after the gzip stream")


# ---------------------------------------------------------------------------- v4
def _read_v4(path: str, data: bytes):
    if len(data) < V4_HEADER.size:
        raise InputError(path, f"SPZ v4 file is truncated inside its 32-byte header ({len(data)} bytes)")
    magic, version, count, degree, fb, flags, num_streams, toc_offset = V4_HEADER.unpack_from(data)
    header = Header(version, count, degree, fb, flags)
    _check_header(path, header)
    if count * 9 > len(data) * MAX_ZSTD_RATIO:
        raise InputError(path, f"SPZ header claims {count} splats, far more than a {len(data)}-byte file can hold")
    sizes = [count * s for s in header.stream_sizes()]
    if num_streams != len(sizes):
        raise InputError(path, f"SPZ v4 header lists {num_streams} streams; SH degree {degree} needs {len(sizes)}")
    if toc_offset < V4_HEADER.size:
        raise InputError(path, f"SPZ v4 tocByteOffset {toc_offset} points inside the 32-byte header")
    toc_end = toc_offset + num_streams * TOC_ENTRY.size
    if toc_end > len(data):
        raise InputError(path, f"file is truncated: the stream table ends at byte {toc_end} of {len(data)}")
    extensions = _extension_types(data[V4_HEADER.size : toc_offset]) if flags & 0x2 else []
    blobs, offset = [], toc_end
    for i, expected in enumerate(sizes):
        packed, unpacked = TOC_ENTRY.unpack_from(data, toc_offset + i * TOC_ENTRY.size)
        name = STREAM_NAMES[i]
        if unpacked != expected:
            raise InputError(
                path, f"SPZ v4 {name} stream declares {unpacked} bytes; {count} splats need {expected}"
            )  # fmt: skip
        if packed > len(data) - offset:
            raise InputError(path, f"file is truncated: the {name} stream runs past the end of the file")
        blobs.append((name, data[offset : offset + packed], expected))
        offset += packed
    if offset != len(data):
        raise InputError(path, f"{len(data) - offset} unexpected bytes after the last SPZ v4 stream")
    streams = [_unzstd(path, blob, expected, name) for name, blob, expected in blobs]
    return header, streams, extensions


def _extension_types(zone: bytes) -> list[int]:
    """Type ids of the well-formed TLV records in the extension zone (payloads ignored)."""
    types, pos = [], 0
    while pos + EXT_RECORD.size <= len(zone):
        kind, length = EXT_RECORD.unpack_from(zone, pos)
        pos += EXT_RECORD.size
        if length > len(zone) - pos:
            break
        types.append(kind)
        pos += length
    return types


def _unzstd(path: str, blob: bytes, expected: int, name: str) -> np.ndarray:
    """Decompress one stream; fails as soon as the output passes ``expected`` bytes.

    Output is gathered chunk by chunk, so memory follows the data actually produced, never the
    size a (possibly corrupt) table of contents claims.
    """
    parts, got = [], 0
    try:
        with zstandard.ZstdDecompressor().stream_reader(blob, read_across_frames=True) as reader:
            while got <= expected:
                chunk = reader.read(min(READ_CHUNK, expected + 1 - got))
                if not chunk:
                    break
                parts.append(chunk)
                got += len(chunk)
    except zstandard.ZstdError as e:
        raise InputError(path, f"corrupt zstd data in the SPZ {name} stream ({e})") from None
    if got > expected:
        raise InputError(path, f"the SPZ {name} stream decompresses to more than the {expected} bytes the table says")
    if got != expected:
        raise InputError(path, f"the SPZ {name} stream decompresses to {got} bytes; the table says {expected}")
    return np.frombuffer(parts[0] if len(parts) == 1 else b"".join(parts), np.uint8)


# ---------------------------------------------------------------------------- decoding
def _scene_from_streams(header: Header, streams: list[np.ndarray]) -> GaussianScene:
    n = header.count
    dim = SH_DIM[header.sh_degree]
    with np.errstate(all="ignore"):
        if header.version == 1:
            means = np.frombuffer(streams[0].tobytes(), "<f2").reshape(n, 3).astype(np.float32)
        else:
            means = decode_positions(streams[0].reshape(n, 9), header.fractional_bits)
        if header.version >= 3:
            xyzw = decode_rotations_smallest_three(streams[4].reshape(n, 4))
        else:
            xyzw = decode_rotations_first_three(streams[4].reshape(n, 3))
        opacity = decode_alphas(streams[1])
        sh = np.empty((n, 1 + dim, 3), np.float32)
        sh[:, 0] = (streams[2].reshape(n, 3).astype(np.float32) / 255 - 0.5) / COLOR_SCALE
        log_scales = streams[3].reshape(n, 3).astype(np.float32) / 16 - 10
        if dim:
            sh[:, 1:] = decode_sh(streams[5].reshape(n, dim, 3)) * SH_FLIP[:dim, None]
        means *= POS_FLIP  # RUB -> RDF (v1 float16 data may hold NaN)
        quats = np.empty((n, 4), np.float32)  # wxyz, frame-flipped
        quats[:, 0] = xyzw[:, 3]
        quats[:, 1:] = xyzw[:, :3] * QUAT_FLIP_XYZW[:3]
    return GaussianScene(
        means=torch.from_numpy(means),
        quats=torch.from_numpy(quats),
        log_scales=torch.from_numpy(log_scales),
        opacity_logits=torch.from_numpy(opacity),
        sh=torch.from_numpy(sh),
    )


def decode_positions(raw: np.ndarray, fractional_bits: int) -> np.ndarray:
    """raw: [N, 9] uint8 (three 24-bit little-endian signed) -> [N, 3] float32."""
    b = raw.reshape(-1, 3, 3).astype(np.int32)
    fixed = b[..., 0] | (b[..., 1] << 8) | (b[..., 2] << 16)  # [N, 3] int32, 24-bit unsigned
    fixed = (fixed ^ 0x800000) - 0x800000  # sign extension
    return fixed.astype(np.float32) * np.float32(2.0**-fractional_bits)


def decode_rotations_smallest_three(raw: np.ndarray) -> np.ndarray:
    """raw: [N, 4] uint8 (one little-endian u32 each) -> [N, 4] float32 unit quaternions, xyzw."""
    comp = raw.astype(np.uint32)
    comp = comp[:, 0] | (comp[:, 1] << 8) | (comp[:, 2] << 16) | (comp[:, 3] << 24)  # [N]
    largest = (comp >> 30).astype(np.intp)
    fields = np.stack([(comp >> 20) & 0x3FF, (comp >> 10) & 0x3FF, comp & 0x3FF], axis=1)  # [N, 3]
    values = (SQRT1_2 / 511) * (fields & 0x1FF).astype(np.float64)
    values = np.where(fields & 0x200, -values, values)
    q = np.empty((len(comp), 4), np.float64)
    rows = np.arange(len(comp))[:, None]
    q[rows, _OTHER_SLOTS[largest]] = values  # ascending slots, highest bits first
    q[rows[:, 0], largest] = np.sqrt(np.maximum(0.0, 1.0 - (values * values).sum(1)))
    return q.astype(np.float32)


_OTHER_SLOTS = np.array([[s for s in range(4) if s != i] for i in range(4)])  # [4, 3]


def decode_rotations_first_three(raw: np.ndarray) -> np.ndarray:
    """raw: [N, 3] uint8 (v1/v2) -> [N, 4] float32 xyzw with w >= 0."""
    xyz = raw.astype(np.float64) / 127.5 - 1.0
    w = np.sqrt(np.maximum(0.0, 1.0 - (xyz * xyz).sum(1)))
    return np.concatenate([xyz, w[:, None]], axis=1).astype(np.float32)


def decode_alphas(raw: np.ndarray) -> np.ndarray:
    """raw: [N] uint8 -> [N] float32 logits, finite (clamped off 0 and 1)."""
    a = np.clip(raw.astype(np.float64) / 255, OPACITY_EPS, 1 - OPACITY_EPS)
    return np.log(a / (1 - a)).astype(np.float32)


def decode_sh(raw: np.ndarray) -> np.ndarray:
    """raw: [N, dim, 3] uint8 -> [N, dim, 3] float32, still in the SPZ frame."""
    return (raw.astype(np.float32) - 128) / 128


# ============================================================================ writing
def write(
    scene: GaussianScene,
    path: str | os.PathLike,
    *,
    version: int = 4,
    sh1_bits: int = 5,
    sh_rest_bits: int = 4,
) -> None:
    """Write ``scene`` as SPZ ``version`` 4 (zstd streams) or 3 (one gzip stream), atomically.

    ``sh1_bits`` / ``sh_rest_bits`` (1-8) are the SH precisions of the reference writer's
    ``PackOptions``; the defaults give the error bounds in the module docstring.
    """
    path = os.fspath(path)
    if version not in (3, 4):
        raise ValueError(f"SPZ writer supports versions 3 and 4, not {version}")
    if not (1 <= sh1_bits <= 8 and 1 <= sh_rest_bits <= 8):
        raise ValueError("SPZ SH bits must be between 1 and 8")
    scene = scene.detach().to("cpu")
    if scene.count == 0:
        raise InputError(path, "cannot write an empty scene as SPZ (the format needs at least one splat)")
    _require_finite(scene)
    streams, fb = encode_streams(scene, sh1_bits, sh_rest_bits)
    header = Header(version, scene.count, scene.sh_degree, fb, 0x1 if scene.meta.get("antialiased") else 0)
    data = _v4_bytes(header, streams) if version == 4 else _v3_bytes(header, streams)
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def _require_finite(scene: GaussianScene) -> None:
    for name in ("means", "quats", "sh"):
        if not torch.isfinite(getattr(scene, name)).all():
            raise ValueError(f"cannot write SPZ: scene.{name} holds NaN or Inf")
    if torch.isnan(scene.log_scales).any() or torch.isnan(scene.opacity_logits).any():
        raise ValueError("cannot write SPZ: scene.log_scales or scene.opacity_logits hold NaN")


def encode_streams(scene: GaussianScene, sh1_bits: int = 5, sh_rest_bits: int = 4) -> tuple[list[bytes], int]:
    """The six (five for SH0) attribute blocks in the SPZ frame, and the fractional bits used."""
    means = scene.means.numpy().astype(np.float64) * POS_FLIP  # [N, 3] RUB
    positions, fb = encode_positions(means)
    xyzw = scene.quats.numpy()[:, [1, 2, 3, 0]].astype(np.float64) * QUAT_FLIP_XYZW  # [N, 4] RUB
    streams = [
        positions,
        encode_alphas(scene.opacity_logits.numpy()),
        _to_u8(scene.sh[:, 0].numpy().astype(np.float64) * (COLOR_SCALE * 255) + 127.5),
        _to_u8((scene.log_scales.numpy().astype(np.float64) + 10) * 16),
        encode_rotations_smallest_three(xyzw),
    ]
    dim = sh_coeff_count(scene.sh_degree) - 1
    if dim:
        streams.append(encode_sh(scene.sh[:, 1:].numpy(), sh1_bits, sh_rest_bits))
    return [s.tobytes() for s in streams], fb


def _round(x: np.ndarray) -> np.ndarray:
    """C's round(): halves away from zero, as the reference writer rounds."""
    return np.copysign(np.floor(np.abs(x) + 0.5), x)


def _to_u8(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.clip(_round(x), 0, 255).astype(np.uint8)


def fractional_bits_for(means: np.ndarray) -> int:
    """12, or fewer when the largest |coordinate| would not fit 24 signed bits."""
    extent = float(np.abs(means).max()) if means.size else 0.0
    fb = DEFAULT_FRACTIONAL_BITS
    while fb > 0 and _round(np.float64(extent * 2.0**fb)) > 0x7FFFFF:
        fb -= 1
    return fb


def encode_positions(means: np.ndarray) -> tuple[np.ndarray, int]:
    """means: [N, 3] float64 in the SPZ frame -> ([N, 9] uint8, fractional bits)."""
    fb = fractional_bits_for(means)
    fixed = np.clip(_round(means * 2.0**fb), -0x7FFFFF, 0x7FFFFF).astype("<i4")  # [N, 3]
    return fixed.view(np.uint8).reshape(-1, 3, 4)[:, :, :3].reshape(-1, 9), fb


def encode_alphas(logits: np.ndarray) -> np.ndarray:
    """logits: [N] -> [N] uint8 of sigmoid * 255."""
    with np.errstate(over="ignore"):
        return _to_u8(255.0 / (1.0 + np.exp(-logits.astype(np.float64))))


def encode_rotations_smallest_three(xyzw: np.ndarray) -> np.ndarray:
    """xyzw: [N, 4] float64 (any norm) -> [N, 4] uint8 (little-endian u32 each).

    The largest |component| is left out and rebuilt by the reader as sqrt(1 - sum). When the
    two largest components tie within a quantisation step, the rebuilt one can come out smaller
    than a stored one, and a re-encode would then pick another slot whatever slot we choose.
    For those rows (about 1 in 1,000 random rotations) the encoder tries the two largest slots with
    stored magnitudes rounded to nearest or one step toward zero, and keeps the most accurate
    candidate whose decode re-encodes to itself, so encode -> decode -> encode is byte-identical.
    """
    norm = np.linalg.norm(xyzw, axis=1, keepdims=True)
    q = np.where(norm > 0, xyzw / np.where(norm > 0, norm, 1), [0.0, 0.0, 0.0, 1.0])  # [N, 4] unit
    largest = np.argmax(np.abs(q), axis=1)  # first maximum, as the reference loop picks
    comp = _pack_smallest_three(q, largest)  # [N] uint32
    unstable = np.nonzero(~_survives_roundtrip(comp))[0]
    if len(unstable):
        comp[unstable] = _stable_tie_encodings(q[unstable], comp[unstable])
    return comp.astype("<u4").view(np.uint8).reshape(-1, 4)


_TOWARD_ZERO = np.array(list(itertools.product((0, 1), repeat=3)), np.uint32)  # [8, 3] steps
_MAG_MASK = np.uint32(0x1FF << 20 | 0x1FF << 10 | 0x1FF)


def _stable_tie_encodings(q: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """q: [K, 4] unit xyzw of near-tie rows -> [K] uint32, the most accurate stable candidates."""
    k = len(q)
    order = np.argsort(-np.abs(q), axis=1, kind="stable")[:, :2]  # [K, 2] the two largest slots
    cands = []
    for c in range(2):
        base = _pack_smallest_three(q, order[:, c])  # [K]
        mags = np.stack([(base >> s) & 0x1FF for s in (20, 10, 0)], axis=1)[:, None]  # [K, 1, 3]
        lowered = np.where(mags >= _TOWARD_ZERO, mags - _TOWARD_ZERO, mags)  # [K, 8, 3]
        packed = (lowered[..., 0] << 20) | (lowered[..., 1] << 10) | lowered[..., 2]
        cands.append((base & ~_MAG_MASK)[:, None] | packed)
    cands = np.concatenate(cands, axis=1)  # [K, 16] uint32
    flat = cands.reshape(-1)
    decoded = decode_rotations_smallest_three(flat.astype("<u4").view(np.uint8).reshape(-1, 4)).reshape(k, -1, 4)
    err = np.minimum(np.abs(decoded - q[:, None]).max(2), np.abs(decoded + q[:, None]).max(2))  # [K, 16]
    err = np.where(_survives_roundtrip(flat).reshape(k, -1), err, np.inf)
    best = np.argmin(err, axis=1)
    chosen = cands[np.arange(k), best]
    return np.where(np.isfinite(err[np.arange(k), best]), chosen, fallback)


def _pack_smallest_three(q: np.ndarray, largest: np.ndarray) -> np.ndarray:
    """q: [N, 4] unit xyzw, largest: [N] slot to leave out -> [N] uint32."""
    rows = np.arange(len(q))
    negate = q[rows, largest] < 0
    others = q[rows[:, None], _OTHER_SLOTS[largest]]  # [N, 3] ascending slots
    sign = np.signbit(others) ^ negate[:, None]  # signbit: a decoded -0.0 keeps its bit
    mag = np.floor(511.0 * np.abs(others) / SQRT1_2 + 0.5).astype(np.uint32)
    fields = (sign.astype(np.uint32) << 9) | np.minimum(mag, 511)
    return (largest.astype(np.uint32) << 30) | (fields[:, 0] << 20) | (fields[:, 1] << 10) | fields[:, 2]


def _survives_roundtrip(comp: np.ndarray) -> np.ndarray:
    """[N] bool: the reader's float32 decode of ``comp`` re-encodes to ``comp``."""
    raw = comp.astype("<u4").view(np.uint8).reshape(-1, 4)
    q = decode_rotations_smallest_three(raw).astype(np.float64)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return _pack_smallest_three(q, np.argmax(np.abs(q), axis=1)) == comp


def encode_sh(rest: np.ndarray, sh1_bits: int, sh_rest_bits: int) -> np.ndarray:
    """rest: [N, dim, 3] in the engine frame -> [N, dim, 3] uint8 in the SPZ frame.

    round(x * 128) + 128 (halves away from zero), snapped to the nearest multiple of the bucket
    2^(8 - bits) (halves up), clamped to [0, 255]; done in place on one float64 copy.
    """
    dim = rest.shape[1]
    x = rest.astype(np.float64)  # the one working copy
    x *= (SH_FLIP[:dim] * 128.0)[None, :, None]
    negative = np.signbit(x)
    np.abs(x, out=x)
    x += 0.5
    np.floor(x, out=x)
    np.negative(x, out=x, where=negative)  # C's round(): halves away from zero
    bucket = np.where(np.arange(dim) < 3, 2.0 ** (8 - sh1_bits), 2.0 ** (8 - sh_rest_bits))[None, :, None]
    x += 128 + bucket // 2
    x /= bucket
    np.floor(x, out=x)
    x *= bucket
    np.clip(x, 0, 255, out=x)
    return x.astype(np.uint8)


def _v4_bytes(header: Header, streams: list[bytes]) -> bytes:
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True)
    packed = [compressor.compress(s) for s in streams]
    toc_offset = V4_HEADER.size
    parts = [
        V4_HEADER.pack(
            MAGIC, 4, header.count, header.sh_degree, header.fractional_bits, header.flags, len(streams), toc_offset
        )
    ]
    parts += [TOC_ENTRY.pack(len(p), len(s)) for p, s in zip(packed, streams)]
    parts += packed
    return b"".join(parts)


def _v3_bytes(header: Header, streams: list[bytes]) -> bytes:
    raw = LEGACY_HEADER.pack(MAGIC, 3, header.count, header.sh_degree, header.fractional_bits, header.flags, 0)
    z = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS, 9)  # gzip header with mtime 0
    return b"".join([z.compress(raw), *(z.compress(s) for s in streams), z.flush()])
