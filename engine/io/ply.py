"""INRIA 3DGS PLY: read and write (repo graphdeco-inria/gaussian-splatting, scene/gaussian_model.py).

- binary little/big endian and ascii; property order parsed, never assumed;
- SH degree 0-3 (``f_rest_*`` channel-major: R coefficients 1..15, then G, then B);
- missing normals, 2DGS files (two scales) and extra properties are accepted; extras are kept
  in ``scene.extras`` and written back, so reading then writing a float32 file is bit-exact;
- the vertex block is streamed in chunks into preallocated columns: peak memory stays near one
  copy of the data (a 750 MB SH3 file peaks well under 2x its size; see tests/bench).

The header parser and element reader are shared with ``compressed_ply``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch

from engine.errors import InputError
from engine.io.atomic import atomic_output
from engine.scene import GaussianScene, sh_coeff_count

PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip
_TYPE_NAMES = {"i1": "char", "u1": "uchar", "i2": "short", "u2": "ushort", "i4": "int", "u4": "uint", "f4": "float", "f8": "double"}
_FORMATS = {"binary_little_endian": "<", "binary_big_endian": ">", "ascii": None}
MAX_HEADER_BYTES = 1 << 20
MAX_ELEMENT_COUNT = 1 << 31
CHUNK_BYTES = 1 << 20  # rows are streamed this many bytes at a time: small enough to stay in cache

REQUIRED = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2",
            "rot_0", "rot_1", "rot_2", "rot_3"]  # fmt: skip


@dataclass
class PlyProperty:
    name: str
    dtype: str  # numpy type code without byte order: "f4", "u1", ...
    list_count_dtype: str | None = None  # set for list properties (not supported in data rows)


@dataclass
class PlyElement:
    name: str
    count: int
    properties: list[PlyProperty] = field(default_factory=list)

    def has_lists(self) -> bool:
        return any(p.list_count_dtype for p in self.properties)

    def dtype(self, byte_order: str) -> np.dtype:
        return np.dtype([(p.name, byte_order + p.dtype) for p in self.properties])


@dataclass
class PlyHeader:
    format: str  # binary_little_endian | binary_big_endian | ascii
    elements: list[PlyElement]
    comments: list[str]
    header_bytes: int

    @property
    def byte_order(self) -> str | None:
        return _FORMATS[self.format]

    def element(self, name: str) -> PlyElement | None:
        return next((e for e in self.elements if e.name == name), None)


# ---------------------------------------------------------------------------- header
def read_header(f, path: str) -> PlyHeader:
    """Parse a PLY header from an open binary file positioned at 0."""
    first = f.readline(16)
    if first.rstrip(b"\r\n") != b"ply":
        raise InputError(path, "not a PLY file (missing 'ply' magic)")
    fmt: str | None = None
    elements: list[PlyElement] = []
    comments: list[str] = []
    total = len(first)
    while True:
        raw = f.readline(4096)
        total += len(raw)
        if not raw:
            raise InputError(path, "PLY header has no end_header (file truncated?)")
        if total > MAX_HEADER_BYTES:
            raise InputError(path, "PLY header is longer than 1 MiB (corrupt file?)")
        try:
            line = raw.decode("ascii").strip()
        except UnicodeDecodeError:
            raise InputError(path, "PLY header contains non-ASCII bytes (corrupt file?)") from None
        if not line:
            continue
        words = line.split()
        key = words[0]
        if key == "end_header":
            break
        if key == "format":
            if len(words) != 3 or words[1] not in _FORMATS:
                raise InputError(path, f"unsupported PLY format line {line!r}")
            if words[2] != "1.0":
                raise InputError(path, f"unsupported PLY version {words[2]!r} (expected 1.0)")
            fmt = words[1]
        elif key in ("comment", "obj_info"):
            comments.append(line[len(key) + 1 :] if key == "comment" else line)
        elif key == "element":
            if len(words) != 3 or not words[2].isdigit():
                raise InputError(path, f"malformed PLY element line {line!r}")
            count = int(words[2])
            if count > MAX_ELEMENT_COUNT:
                raise InputError(path, f"PLY element {words[1]!r} claims {count} rows (too many)")
            elements.append(PlyElement(words[1], count))
        elif key == "property":
            if not elements:
                raise InputError(path, "PLY property before any element")
            el = elements[-1]
            if len(words) == 3 and words[1] in PLY_TYPES:
                prop = PlyProperty(words[2], PLY_TYPES[words[1]])
            elif len(words) == 5 and words[1] == "list" and words[2] in PLY_TYPES and words[3] in PLY_TYPES:
                prop = PlyProperty(words[4], PLY_TYPES[words[3]], PLY_TYPES[words[2]])
            else:
                raise InputError(path, f"malformed or unsupported PLY property line {line!r}")
            if any(p.name == prop.name for p in el.properties):
                raise InputError(path, f"PLY element {el.name!r} repeats property {prop.name!r}")
            el.properties.append(prop)
        else:
            raise InputError(path, f"unknown PLY header keyword {key!r}")
    if fmt is None:
        raise InputError(path, "PLY header has no format line")
    return PlyHeader(fmt, elements, comments, total)


def looks_like_compressed_ply(path: str) -> bool:
    """True for PlayCanvas compressed PLY (a 'chunk' element and packed vertex words)."""
    try:
        with open(path, "rb") as f:
            h = read_header(f, path)
    except (InputError, OSError):
        return False
    v = h.element("vertex")
    return h.element("chunk") is not None and v is not None and any(p.name == "packed_position" for p in v.properties)


# ---------------------------------------------------------------------------- element data
def _check_sizes(path: str, header: PlyHeader, upto: str | None = None) -> None:
    """Refuse headers whose counts need more bytes than the file holds (before allocating)."""
    if header.byte_order is None:
        return
    size = os.path.getsize(path) - header.header_bytes
    need = 0
    for el in header.elements:
        if el.has_lists():
            if upto is None or el.name == upto:
                raise InputError(path, f"PLY element {el.name!r} has list properties (not supported here)")
            break  # cannot size past a list element; rows after it are not read
        need += el.count * el.dtype("<").itemsize
        if el.name == upto:
            break
    if need > size:
        raise InputError(
            path, f"file is truncated: the header promises {need} bytes of data but only {max(size, 0)} follow"
        )


def read_elements(path: str, header: PlyHeader | None = None) -> dict[str, np.ndarray]:
    """All (list-free) elements as native-endian structured arrays. For small files."""
    with open(path, "rb") as f:
        if header is None:
            header = read_header(f, path)
        f.seek(header.header_bytes)
        _check_sizes(path, header)
        out = {}
        for el in header.elements:
            if header.byte_order is None:
                out[el.name] = _read_ascii_rows(f, path, el)
            else:
                dt = el.dtype(header.byte_order)
                arr = np.fromfile(f, dtype=dt, count=el.count)
                if len(arr) != el.count:
                    raise InputError(path, f"file is truncated inside element {el.name!r}")
                out[el.name] = arr.astype(el.dtype("="), copy=False)
        return out


def _read_ascii_rows(f, path: str, el: PlyElement) -> np.ndarray:
    if el.has_lists():
        raise InputError(path, f"ASCII PLY element {el.name!r} has list properties (not supported)")
    dt = el.dtype("=")
    out = np.empty(el.count, dtype=dt)
    ncol = len(el.properties)
    for i in range(el.count):
        line = f.readline()
        if not line:
            raise InputError(path, f"file is truncated: element {el.name!r} has {i} of {el.count} rows")
        words = line.split()
        if len(words) != ncol:
            raise InputError(path, f"row {i} of element {el.name!r} has {len(words)} values, expected {ncol}")
        try:
            out[i] = tuple(float(w) if p.dtype[0] == "f" else int(w) for w, p in zip(words, el.properties))
        except (ValueError, OverflowError):
            raise InputError(path, f"row {i} of element {el.name!r} holds a malformed number") from None
    return out


# ---------------------------------------------------------------------------- Gaussian PLY
def _sh_layout(path: str, names: set[str]) -> tuple[int, int]:
    """(degree, rest count) from the f_rest_* properties present."""
    rest = sorted(int(n[7:]) for n in names if n.startswith("f_rest_") and n[7:].isdigit())
    n_rest = len(rest)
    if rest != list(range(n_rest)):
        raise InputError(path, "f_rest_* properties are not numbered 0..n-1")
    for d in range(4):
        if 3 * (sh_coeff_count(d) - 1) == n_rest:
            return d, n_rest
    raise InputError(path, f"{n_rest} f_rest properties is not 3*((d+1)^2-1) for any SH degree 0-3")


def read(path: str) -> GaussianScene:
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            header = read_header(f, path)
            v = header.element("vertex")
            if v is None:
                raise InputError(path, "PLY has no 'vertex' element")
            if v.has_lists():
                raise InputError(path, "PLY vertex element has list properties (not a Gaussian splat file)")
            names = {p.name for p in v.properties}
            if "packed_position" in names:
                raise InputError(path, "this is a PlayCanvas compressed PLY; name it *.compressed.ply")
            is_2dgs = "scale_2" not in names and {"scale_0", "scale_1"} <= names
            required = [n for n in REQUIRED if not (is_2dgs and n == "scale_2")]
            missing = [n for n in required if n not in names]
            if missing:
                raise InputError(path, f"not a Gaussian splat PLY: missing properties {', '.join(missing)}")
            degree, n_rest = _sh_layout(path, names)
            _check_sizes(path, header, upto="vertex")
            f.seek(header.header_bytes)
            if header.byte_order is None:
                # ASCII files are small; everything before the vertex element is parsed and dropped
                for el in header.elements:
                    rows = _read_ascii_rows(f, path, el)
                    if el.name == "vertex":
                        break
                return _scene_from_rows(path, header, v, degree, n_rest, [(0, rows)], is_2dgs)
            for el in header.elements:  # skip elements stored before the vertex block
                if el.name == "vertex":
                    break
                f.seek(el.count * el.dtype("<").itemsize, os.SEEK_CUR)
            return _scene_from_rows(path, header, v, degree, n_rest, _stream_rows(f, path, header, v), is_2dgs)
    except OSError as e:
        raise InputError(path, f"cannot read ({e.strerror or e})") from None


def _stream_rows(f, path: str, header: PlyHeader, v: PlyElement):
    dt = v.dtype(header.byte_order)
    rows_per_chunk = max(1, CHUNK_BYTES // dt.itemsize)
    start = 0
    while start < v.count:
        n = min(rows_per_chunk, v.count - start)
        chunk = np.fromfile(f, dtype=dt, count=n)
        if len(chunk) != n:
            raise InputError(path, f"file is truncated: vertex row {start + len(chunk)} of {v.count} is missing")
        yield start, chunk
        start += n


def _scene_from_rows(path, header, v, degree, n_rest, row_chunks, is_2dgs) -> GaussianScene:
    n = v.count
    k = sh_coeff_count(degree)
    means = np.empty((n, 3), np.float32)
    quats = np.empty((n, 4), np.float32)
    log_scales = np.empty((n, 3), np.float32)
    opacity = np.empty(n, np.float32)
    sh = np.empty((n, k, 3), np.float32)
    known = set(REQUIRED) | {f"f_rest_{i}" for i in range(n_rest)}
    extra_props = [p for p in v.properties if p.name not in known]
    extras = {p.name: np.empty(n, np.dtype(p.dtype)) for p in extra_props}
    if is_2dgs:
        log_scales[:, 2] = np.log(1e-7, dtype=np.float32)  # a flat disk: tiny third axis
    for s, rows in row_chunks:
        e = s + len(rows)
        for i, c in enumerate("xyz"):
            means[s:e, i] = rows[c]
        for i in range(4):
            quats[s:e, i] = rows[f"rot_{i}"]
        for i in range(2 if is_2dgs else 3):
            log_scales[s:e, i] = rows[f"scale_{i}"]
        opacity[s:e] = rows["opacity"]
        for c in range(3):
            sh[s:e, 0, c] = rows[f"f_dc_{c}"]
            for j in range(1, k):  # channel-major f_rest: index c*(k-1) + (j-1)
                sh[s:e, j, c] = rows[f"f_rest_{c * (k - 1) + j - 1}"]
        for p in extra_props:
            extras[p.name][s:e] = rows[p.name]
    meta = {
        "format": "ply",
        "ply_format": header.format,
        "ply_properties": [(p.name, p.dtype) for p in v.properties],
        "comments": list(header.comments),
        "antialiased": _antialiased_from_comments(header.comments),
    }
    if is_2dgs:
        meta["two_d"] = True
    dropped = [e.name for e in header.elements if e.name != "vertex"]
    if dropped:
        meta["dropped_elements"] = dropped
    return GaussianScene(
        means=torch.from_numpy(means),
        quats=torch.from_numpy(quats),
        log_scales=torch.from_numpy(log_scales),
        opacity_logits=torch.from_numpy(opacity),
        sh=torch.from_numpy(sh),
        extras=extras,
        meta=meta,
    )


def _antialiased_from_comments(comments: list[str]) -> bool:
    """A header comment 'SplatRenderMode: mip' or 'antialiased 1' marks mip/AA scenes."""
    for c in comments:
        low = c.lower().replace(" ", "")
        if low.startswith("splatrendermode:mip") or low == "antialiased1":
            return True
    return False


# ---------------------------------------------------------------------------- writing
def inria_property_order(degree: int, extras: dict[str, np.ndarray], normals: bool = True) -> list[tuple[str, str]]:
    """The INRIA layout (x y z [nx ny nz] f_dc f_rest opacity scale rot), then the extras."""
    k = sh_coeff_count(degree)
    props = [(c, "f4") for c in "xyz"]
    if normals or {"nx", "ny", "nz"} <= set(extras):
        props += [(c, np.dtype(extras[c].dtype).str[1:] if c in extras else "f4") for c in ("nx", "ny", "nz")]
    props += [(f"f_dc_{i}", "f4") for i in range(3)]
    props += [(f"f_rest_{i}", "f4") for i in range(3 * (k - 1))]
    props += [("opacity", "f4")] + [(f"scale_{i}", "f4") for i in range(3)] + [(f"rot_{i}", "f4") for i in range(4)]
    have = {p for p, _ in props}
    props += [(name, np.dtype(arr.dtype).str[1:]) for name, arr in extras.items() if name not in have]
    return props


def _property_order(scene: GaussianScene, normals: bool) -> list[tuple[str, str]]:
    """Reuse the order the scene was read with when it still fits, else the INRIA layout."""
    stored = scene.meta.get("ply_properties")
    if stored and not scene.meta.get("two_d"):
        k = sh_coeff_count(scene.sh_degree)
        expected = set(REQUIRED) | {f"f_rest_{i}" for i in range(3 * (k - 1))} | set(scene.extras)
        if {name for name, _ in stored} == expected:
            return [tuple(p) for p in stored]
    return inria_property_order(scene.sh_degree, scene.extras, normals)


def _sources(scene: GaussianScene) -> dict[str, tuple[str, int]]:
    """Property name -> (source block, column) for every property a scene can write."""
    k = sh_coeff_count(scene.sh_degree)
    src: dict[str, tuple[str, int]] = {}
    for i, c in enumerate("xyz"):
        src[c] = ("means", i)
    for i, c in enumerate(("nx", "ny", "nz")):
        src[c] = ("normals", i)
    for c in range(3):
        src[f"f_dc_{c}"] = ("dc", c)
    for i in range(3 * (k - 1)):
        src[f"f_rest_{i}"] = ("rest", i)
    src["opacity"] = ("opacity", 0)
    for i in range(3):
        src[f"scale_{i}"] = ("scales", i)
    for i in range(4):
        src[f"rot_{i}"] = ("quats", i)
    for name in scene.extras:
        src[name] = ("extra:" + name, 0)
    return src


def _blocks(scene: GaussianScene, s: int, e: int) -> dict[str, np.ndarray]:
    """The [rows, k] source blocks of rows s:e (f_rest made channel-major per chunk)."""
    sh = scene.sh[s:e].numpy()
    blocks = {
        "means": scene.means[s:e].numpy(),
        "normals": np.zeros((e - s, 3), np.float32),
        "dc": sh[:, 0, :],
        "rest": np.ascontiguousarray(sh[:, 1:, :].transpose(0, 2, 1)).reshape(e - s, -1),
        "opacity": scene.opacity_logits[s:e].numpy()[:, None],
        "scales": scene.log_scales[s:e].numpy(),
        "quats": scene.quats[s:e].numpy(),
    }
    for name, arr in scene.extras.items():
        blocks["extra:" + name] = arr[s:e, None]
    if "nx" in scene.extras:  # a file's own normals replace the zeros
        blocks["normals"] = np.stack([scene.extras[c][s:e] for c in ("nx", "ny", "nz")], 1)
    return blocks


def _copy_plan(props: list[tuple[str, str]], src: dict[str, tuple[str, int]]) -> list[tuple[int, int, str, int]]:
    """Runs of consecutive properties taken from consecutive columns of one block:
    [(first output column, length, block, first block column)]."""
    plan: list[tuple[int, int, str, int]] = []
    for j, (name, _) in enumerate(props):
        block, col = src[name]
        if plan and plan[-1][2] == block and plan[-1][3] + plan[-1][1] == col and plan[-1][0] + plan[-1][1] == j:
            d, n, b, c = plan[-1]
            plan[-1] = (d, n + 1, b, c)
        else:
            plan.append((j, 1, block, col))
    return plan


def layout(scene: GaussianScene, *, normals: bool = True, ascii: bool = False) -> tuple[bytes, list[tuple[str, str]]]:
    """(header bytes, vertex properties) that ``write`` uses for ``scene``: the one definition of
    the file layout, shared by ``write`` and ``exact_size``."""
    props = _property_order(scene, normals)
    fmt = "ascii" if ascii else "binary_little_endian"
    lines = ["ply", f"format {fmt} 1.0"]
    lines += [c if c.startswith("obj_info") else f"comment {c}" for c in scene.meta.get("comments", [])]
    lines.append(f"element vertex {scene.count}")
    lines += [f"property {_TYPE_NAMES[t]} {name}" for name, t in props]
    lines.append("end_header")
    return ("\n".join(lines) + "\n").encode("ascii"), props


def exact_size(scene: GaussianScene, *, normals: bool = True, ascii: bool = False) -> int | None:
    """The size in bytes of the file ``write(scene, path, normals=..., ascii=...)`` produces:
    header + count x row size. None for ASCII, whose rows vary in length."""
    if ascii:
        return None
    header, props = layout(scene, normals=normals)
    return len(header) + scene.count * np.dtype([(name, "<" + t) for name, t in props]).itemsize


def uncompressed_size(scene: GaussianScene) -> int:
    """What every compression ratio divides (engine.rd, a Smol-GS run's summary): the scene as an
    uncompressed float32 INRIA PLY without normals (56 B per splat at SH degree 0, 236 B at
    degree 3; INRIA's own files add 12 B of zero normals). Normals the scene carries as extras
    are left out too (the PLY writer would keep them)."""
    extras = {k: v for k, v in scene.extras.items() if k not in ("nx", "ny", "nz")}
    return exact_size(scene.replace(extras=extras), normals=False)


def write(scene: GaussianScene, path: str, *, normals: bool = True, ascii: bool = False) -> None:
    """Write an INRIA PLY atomically (float32, little endian unless ``ascii``)."""
    path = os.fspath(path)
    scene = scene.detach().to("cpu")
    header, props = layout(scene, normals=normals, ascii=ascii)
    dt = np.dtype([(name, "<" + t) for name, t in props])
    all_float = all(t == "f4" for _, t in props) and np.little_endian
    plan = _copy_plan(props, _sources(scene))
    n = scene.count
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(header)
            rows_per_chunk = max(1, CHUNK_BYTES // max(dt.itemsize, 1))
            for s in range(0, n, rows_per_chunk):
                e = min(n, s + rows_per_chunk)
                blocks = _blocks(scene, s, e)
                if all_float and not ascii:  # the common case: block copies into a [rows, P] table
                    table = np.empty((e - s, len(props)), np.float32)
                    for d, length, b, c in plan:
                        table[:, d : d + length] = blocks[b][:, c : c + length]
                    table.tofile(f)
                    continue
                buf = np.empty(e - s, dtype=dt)
                for d, length, b, c in plan:
                    for i in range(length):
                        buf[props[d + i][0]] = blocks[b][:, c + i]
                if ascii:
                    for row in buf.tolist():
                        f.write((" ".join(repr(x) if isinstance(x, float) else str(x) for x in row) + "\n").encode())
                else:
                    buf.tofile(f)
