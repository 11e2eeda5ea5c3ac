"""PlayCanvas compressed PLY (``*.compressed.ply``): read and write (repo playcanvas/splat-transform,
src/lib/writers/compressed-chunk.ts and write-compressed-ply.ts).

Sources (facts and layouts only): playcanvas/splat-transform ``src/lib/writers/compressed-chunk.ts``,
``write-compressed-ply.ts`` and its PLY reader (``decompress-ply.ts`` dequantisation).

Layout (binary PLY; the header is parsed with ``engine.io.ply.read_header``):

- ``element chunk C`` (C = ceil(N / 256)), float properties ``min_x min_y min_z max_x max_y max_z
  min_scale_x .. max_scale_z`` and, in newer files, ``min_r min_g min_b max_r max_g max_b``
  (18 floats; older files have the first 12 and store colour directly as unorm8);
- ``element vertex N`` with four uint32 words per splat:
  ``packed_position`` and ``packed_scale`` (11/10/11 bits: x at bits 31-21, y 20-11, z 10-0, each
  the value normalised to its chunk's [min, max]), ``packed_rotation`` (bits 31-30: slot of the
  largest |component| of the normalised rot_0..rot_3 = w, x, y, z, made positive; the other three
  in ascending slot order at bits 29-20, 19-10, 9-0 as unorm10 of v * sqrt(2)/2 + 0.5) and
  ``packed_color`` (bytes from the most significant: r, g, b of 0.5 + C0 * f_dc normalised to the
  chunk's colour range, then sigmoid(opacity));
- optional ``element sh N`` of uchar ``f_rest_0 .. f_rest_{3K-1}`` (channel-major like PLY),
  byte = clamp(trunc((v / 8 + 0.5) * 256), 0, 255).

Splat i belongs to chunk i // 256. Unorm b-bit packing is floor(t * (2^b - 1) + 0.5); a chunk
whose range is below 1e-5 stores t = 0 except t = 1 for values at its max (splat-transform's
rule). Log-scale chunk ranges are clamped to [-20, 20]. The writer Morton-sorts the splats
(``morton_order``) so chunks are spatially compact.

Axes: the same as PLY (OpenCV RDF); nothing is flipped. ``SplatRenderMode: mip`` in a comment marks
an antialiased scene, as in PLY.

Decoding follows splat-transform's reader: lerp(min, max, t); colour and SH as below. SH bytes
decode to the centre of their bucket, (b + 0.5) / 256 * 8 - 4, except bytes 0 and 255, which decode
to -4 and +4. Alpha bytes 0 and 255 are clamped to [1e-6, 1 - 1e-6] before the logit (finite
logits -+13.8155; splat-transform itself writes -inf / +inf for them).

Error bounds of write -> read against the input scene (what tests/test_io_formats.py asserts);
``step(b) = (max - min) / (2^b - 1)`` with the chunk's stored float32 min and max; where a
chunk's range max - min is below 1e-5 every value decodes to min (the maximum itself to max), so
there the bound is the range itself:

- positions: |err| <= step / 2 per axis (b = 11 for x and z, 10 for y);
- log-scales: |err| <= step / 2 per axis for values inside [-20, 20];
- DC colour: |0.5 + C0 f_dc' - (0.5 + C0 f_dc)| <= step(8) / 2 of the chunk's colour range;
- opacity: |sigmoid(o') - sigmoid(o)| <= 0.5 / 255 (the clamp adds at most 1e-6);
- rotation, normalised quaternion up to sign: stored components |err| <= sqrt(2) * 0.5 / 1023 =
  6.9120e-4 (= delta); the rebuilt largest one <= 3 delta (it is >= 1/2);
- SH rest, for |v| <= 4: |err| <= 1/64 (bytes 1-254) and <= 1/32 (bytes 0 and 255).

Float32 rounding of the decoded values adds at most one ulp of the value to each bound.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from engine.errors import InputError
from engine.io import ply
from engine.io.atomic import atomic_output
from engine.scene import SH_C0, GaussianScene, sh_coeff_count

CHUNK = 256
POSITION_PROPS = ["min_x", "min_y", "min_z", "max_x", "max_y", "max_z"]
SCALE_PROPS = ["min_scale_x", "min_scale_y", "min_scale_z", "max_scale_x", "max_scale_y", "max_scale_z"]
COLOR_PROPS = ["min_r", "min_g", "min_b", "max_r", "max_g", "max_b"]
VERTEX_PROPS = ["packed_position", "packed_rotation", "packed_scale", "packed_color"]
SCALE_LIMIT = 20.0  # chunk log-scale ranges are clamped to +-20
OPACITY_EPS = 1e-6
ROT_SCALE = np.sqrt(2.0)  # decode: (t - 0.5) * sqrt(2); encode: v * sqrt(2)/2 + 0.5
BITS_11_10_11 = (11, 10, 11)
SHIFTS_11_10_11 = (21, 11, 0)


# ============================================================================ reading
def read(path: str | os.PathLike) -> GaussianScene:
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            header = ply.read_header(f, path)
        chunk_el, vertex_el, sh_el = _check_layout(path, header)
        elements = ply.read_elements(path, header)
    except OSError as e:
        raise InputError(path, f"cannot read ({e.strerror or e})") from None
    except (ValueError, MemoryError) as e:
        raise InputError(path, f"cannot parse the compressed PLY data ({e})") from None
    scene = _decode(elements["chunk"], elements["vertex"], elements.get("sh") if sh_el else None)
    scene.meta.update(
        format="compressed.ply",
        comments=list(header.comments),
        antialiased=ply._antialiased_from_comments(header.comments),
    )
    return scene


def _check_layout(path: str, header: ply.PlyHeader):
    """Validate elements, properties and counts before any data is read."""
    if header.byte_order is None:
        raise InputError(path, "compressed PLY must be binary, not ASCII")
    chunk, vertex, sh = header.element("chunk"), header.element("vertex"), header.element("sh")
    if chunk is None or vertex is None:
        raise InputError(path, "not a compressed PLY (needs 'chunk' and 'vertex' elements)")
    names = lambda el: {p.name for p in el.properties}  # noqa: E731
    missing = [p for p in VERTEX_PROPS if p not in names(vertex)]
    missing += [p for p in POSITION_PROPS + SCALE_PROPS if p not in names(chunk)]
    if missing:
        raise InputError(path, f"compressed PLY lacks properties {', '.join(missing)}")
    has_color = [p in names(chunk) for p in COLOR_PROPS]
    if any(has_color) and not all(has_color):
        raise InputError(path, "compressed PLY chunk element has only some of min_r..max_b")
    need = -(-vertex.count // CHUNK)
    if chunk.count != need:
        raise InputError(path, f"compressed PLY has {chunk.count} chunks; {vertex.count} splats need {need}")
    if sh is not None:
        if sh.count != vertex.count:
            raise InputError(path, f"compressed PLY has {sh.count} SH rows for {vertex.count} splats")
        rest = [f"f_rest_{i}" for i in range(len(sh.properties))]
        if sorted(names(sh)) != sorted(rest) or len(rest) not in (9, 24, 45):
            raise InputError(path, "compressed PLY 'sh' element must hold f_rest_0..f_rest_{3K-1} for K = 3, 8 or 15")
    return chunk, vertex, sh


def _decode(chunks: np.ndarray, vertex: np.ndarray, sh_rows: np.ndarray | None) -> GaussianScene:
    n = len(vertex)
    k = 1 + (len(sh_rows.dtype.names) // 3 if sh_rows is not None else 0)
    ci = np.arange(n) // CHUNK  # [N] chunk of each splat
    col = lambda name: chunks[name].astype(np.float64)[ci]  # noqa: E731  [N] float64
    word = lambda name: vertex[name].astype(np.uint32)  # noqa: E731  [N] uint32
    sh = np.empty((n, k, 3), np.float32)
    with np.errstate(all="ignore"):
        means = _lerp3(word("packed_position"), [col(p) for p in POSITION_PROPS])
        log_scales = _lerp3(word("packed_scale"), [col(p) for p in SCALE_PROPS])
        quats = decode_rotation(word("packed_rotation"))
        color = word("packed_color")
        rgb = np.stack([_unorm(color >> s, 8) for s in (24, 16, 8)], axis=1)  # [N, 3] in [0, 1]
        if COLOR_PROPS[0] in chunks.dtype.names:
            lo = np.stack([col(p) for p in COLOR_PROPS[:3]], axis=1)
            hi = np.stack([col(p) for p in COLOR_PROPS[3:]], axis=1)
            rgb = lo * (1 - rgb) + hi * rgb
        sh[:, 0] = (rgb - 0.5) / SH_C0
        opacity = _logit(np.clip(_unorm(color, 8), OPACITY_EPS, 1 - OPACITY_EPS))
        if k > 1:
            rest = np.stack([sh_rows[f"f_rest_{i}"] for i in range(3 * (k - 1))], axis=1).astype(np.uint8)
            sh[:, 1:] = decode_sh(rest).reshape(n, 3, k - 1).transpose(0, 2, 1)  # channel-major
    return GaussianScene(
        means=torch.from_numpy(means),
        quats=torch.from_numpy(quats),
        log_scales=torch.from_numpy(log_scales),
        opacity_logits=torch.from_numpy(opacity.astype(np.float32)),
        sh=torch.from_numpy(sh),
    )


def _unorm(value: np.ndarray, bits: int) -> np.ndarray:
    t = (1 << bits) - 1
    return (value & t).astype(np.float64) / t


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def _lerp3(packed: np.ndarray, bounds: list[np.ndarray]) -> np.ndarray:
    """packed: [N] 11/10/11 words, bounds: min xyz then max xyz ([N] each) -> [N, 3] float32."""
    out = np.empty((len(packed), 3), np.float32)
    for axis, (bits, shift) in enumerate(zip(BITS_11_10_11, SHIFTS_11_10_11)):
        t = _unorm(packed >> shift, bits)
        out[:, axis] = bounds[axis] * (1 - t) + bounds[axis + 3] * t
    return out


def decode_rotation(packed: np.ndarray) -> np.ndarray:
    """packed: [N] uint32 -> [N, 4] float32 quaternions in rot_0..rot_3 (w, x, y, z) slot order."""
    largest = (packed >> 30).astype(np.intp)
    stored = np.stack([(_unorm(packed >> s, 10) - 0.5) * ROT_SCALE for s in (20, 10, 0)], axis=1)  # [N, 3]
    q = np.empty((len(packed), 4), np.float64)
    rows = np.arange(len(packed))
    q[rows[:, None], _OTHER_SLOTS[largest]] = stored
    q[rows, largest] = np.sqrt(np.maximum(0.0, 1.0 - (stored * stored).sum(1)))
    return q.astype(np.float32)


_OTHER_SLOTS = np.array([[s for s in range(4) if s != i] for i in range(4)])  # [4, 3]


def decode_sh(raw: np.ndarray) -> np.ndarray:
    """raw: uint8 -> float32 in [-4, 4]: bucket centres, 0 -> -4, 255 -> +4 (splat-transform)."""
    t = (raw.astype(np.float32) + 0.5) / 256
    t = np.where(raw == 0, 0.0, np.where(raw == 255, 1.0, t))
    return ((t - 0.5) * 8).astype(np.float32)


# ============================================================================ writing
def write(scene: GaussianScene, path: str | os.PathLike) -> None:
    """Write ``scene`` as a Morton-sorted compressed PLY (18-float chunks, SH element when d > 0)."""
    path = os.fspath(path)
    scene = scene.detach().to("cpu")
    if not torch.isfinite(scene.means).all():
        raise ValueError("cannot write compressed PLY: scene.means holds NaN or Inf")
    n = scene.count
    order = morton_order(scene.means.numpy())
    chunk_rows, words = encode_chunks(scene, order)
    assert len(chunk_rows) == chunk_count(n)
    sh_bytes = b""
    if scene.sh_degree > 0:
        k = sh_coeff_count(scene.sh_degree)
        rest = scene.sh[:, 1:].numpy()[order].transpose(0, 2, 1).reshape(n, 3 * (k - 1))  # channel-major
        sh_bytes = encode_sh(rest).tobytes()
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(header_bytes(scene))
            f.write(chunk_rows.astype("<f4").tobytes())
            f.write(words.astype("<u4").tobytes())
            f.write(sh_bytes)


def chunk_count(n: int) -> int:
    return -(-n // CHUNK)


def header_bytes(scene: GaussianScene) -> bytes:
    """The PLY header ``write`` puts before the data (chunk, vertex and, for SH > 0, sh elements)."""
    lines = ["ply", "format binary_little_endian 1.0", "comment Generated by SplatLab"]
    if scene.meta.get("antialiased"):
        lines.append("comment SplatRenderMode: mip")
    lines.append(f"element chunk {chunk_count(scene.count)}")
    lines += [f"property float {p}" for p in POSITION_PROPS + SCALE_PROPS + COLOR_PROPS]
    lines.append(f"element vertex {scene.count}")
    lines += [f"property uint {p}" for p in VERTEX_PROPS]
    if scene.sh_degree > 0:
        lines.append(f"element sh {scene.count}")
        lines += [f"property uchar f_rest_{i}" for i in range(3 * (sh_coeff_count(scene.sh_degree) - 1))]
    lines.append("end_header")
    return ("\n".join(lines) + "\n").encode("ascii")


def exact_size(scene: GaussianScene) -> int:
    """The size in bytes of the file ``write(scene, path)`` produces: the header, then float32
    chunk rows, four uint32 words per splat and one byte per SH rest coefficient."""
    n = scene.count
    chunk_floats = len(POSITION_PROPS + SCALE_PROPS + COLOR_PROPS)
    sh_rest = 3 * (sh_coeff_count(scene.sh_degree) - 1)
    return len(header_bytes(scene)) + 4 * chunk_floats * chunk_count(n) + 4 * len(VERTEX_PROPS) * n + sh_rest * n


def morton_order(means: np.ndarray) -> np.ndarray:
    """[N, 3] positions -> [N] permutation sorting them along a 3 x 10-bit Morton (Z-order) curve."""
    if len(means) == 0:
        return np.zeros(0, np.intp)
    lo, hi = means.min(0).astype(np.float64), means.max(0).astype(np.float64)
    span = np.where(hi > lo, hi - lo, 1.0)
    cells = np.clip(((means - lo) / span * 1024).astype(np.int64), 0, 1023).astype(np.uint64)  # [N, 3]
    code = np.zeros(len(means), np.uint64)
    for bit in range(10):
        for axis in range(3):
            code |= ((cells[:, axis] >> np.uint64(bit)) & np.uint64(1)) << np.uint64(3 * bit + (2 - axis))
    return np.argsort(code, kind="stable")


def encode_chunks(scene: GaussianScene, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted splats -> chunk bounds [C, 18] float32 and packed words [N, 4] uint32."""
    n = scene.count
    c = -(-n // CHUNK)
    pad = np.concatenate([order, np.full(c * CHUNK - n, order[-1] if n else 0, order.dtype)])  # [C*256]
    means = scene.means.numpy()[pad].reshape(c, CHUNK, 3)
    log_scales = scene.log_scales.numpy()[pad].reshape(c, CHUNK, 3)
    color = (scene.sh[:, 0].numpy().astype(np.float64) * SH_C0 + 0.5).astype(np.float32)[pad].reshape(c, CHUNK, 3)
    p_lo, p_hi = means.min(1), means.max(1)  # [C, 3] float32
    s_lo = np.clip(log_scales.min(1), -SCALE_LIMIT, SCALE_LIMIT)
    s_hi = np.clip(log_scales.max(1), -SCALE_LIMIT, SCALE_LIMIT)
    c_lo, c_hi = color.min(1), color.max(1)
    chunk_rows = np.concatenate([p_lo, p_hi, s_lo, s_hi, c_lo, c_hi], axis=1)  # [C, 18]
    words = np.empty((c, CHUNK, 4), np.uint32)
    words[..., 0] = _pack_11_10_11(_normalize(means, p_lo, p_hi))
    quats = scene.quats.numpy()[pad].reshape(-1, 4).astype(np.float64)
    words[..., 1] = encode_rotation(quats).reshape(c, CHUNK)
    words[..., 2] = _pack_11_10_11(_normalize(log_scales, s_lo, s_hi))
    rgb = _normalize(color, c_lo, c_hi)
    with np.errstate(over="ignore"):
        alpha = 1.0 / (1.0 + np.exp(-scene.opacity_logits.numpy().astype(np.float64)[pad].reshape(c, CHUNK)))
    words[..., 3] = (
        (_pack_unorm(rgb[..., 0], 8) << 24)
        | (_pack_unorm(rgb[..., 1], 8) << 16)
        | (_pack_unorm(rgb[..., 2], 8) << 8)
        | _pack_unorm(alpha, 8)
    )
    return chunk_rows, words.reshape(-1, 4)[:n]


def _normalize(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """x: [C, 256, 3], lo/hi: [C, 3] float32 -> t in [0, 1] as splat-transform normalises."""
    lo, hi = lo[:, None].astype(np.float64), hi[:, None].astype(np.float64)
    span = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(span < 1e-5, 0.0, (x - lo) / np.where(span < 1e-5, 1.0, span))
    t = np.where(x <= lo, 0.0, np.where(x >= hi, 1.0, t))
    return np.nan_to_num(t, nan=0.0)


def _pack_unorm(t: np.ndarray, bits: int) -> np.ndarray:
    top = (1 << bits) - 1
    with np.errstate(invalid="ignore"):
        return np.clip(np.floor(np.nan_to_num(t, nan=0.0) * top + 0.5), 0, top).astype(np.uint32)


def _pack_11_10_11(t: np.ndarray) -> np.ndarray:
    """t: [..., 3] in [0, 1] -> [...] uint32."""
    return (_pack_unorm(t[..., 0], 11) << 21) | (_pack_unorm(t[..., 1], 10) << 11) | _pack_unorm(t[..., 2], 11)


def encode_rotation(quats: np.ndarray) -> np.ndarray:
    """quats: [N, 4] rot_0..rot_3 (any norm) -> [N] uint32 (largest slot implicit)."""
    norm = np.linalg.norm(quats, axis=1, keepdims=True)
    q = np.where(norm > 0, quats / np.where(norm > 0, norm, 1), [1.0, 0.0, 0.0, 0.0])
    q = np.nan_to_num(q, nan=0.0)
    largest = np.argmax(np.abs(q), axis=1)
    rows = np.arange(len(q))
    q = np.where((q[rows, largest] < 0)[:, None], -q, q)
    others = q[rows[:, None], _OTHER_SLOTS[largest]]  # [N, 3] ascending slots
    fields = _pack_unorm(others * (ROT_SCALE / 2) + 0.5, 10)
    return (largest.astype(np.uint32) << 30) | (fields[:, 0] << 20) | (fields[:, 1] << 10) | fields[:, 2]


def encode_sh(rest: np.ndarray) -> np.ndarray:
    """rest: float [N, R] -> uint8 [N, R]: clamp(trunc((v / 8 + 0.5) * 256), 0, 255)."""
    with np.errstate(invalid="ignore"):
        v = np.trunc((np.nan_to_num(rest.astype(np.float64), nan=0.0) / 8 + 0.5) * 256)
    return np.clip(v, 0, 255).astype(np.uint8)

