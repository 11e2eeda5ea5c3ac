"""The ``.smol`` container: one file for any of the project's codecs.

The same layout, with another magic, is the ``.sgi`` image file (``engine.image.codec``): pass
``magic=SGI_MAGIC`` to :func:`pack`, :func:`write`, :func:`unpack` and :func:`read`.

Layout (all integers little-endian)::

    offset  size  field
    0       4     magic b"SMOL" (b"SGIM" for .sgi)
    4       2     format version (1)
    6       2     flags (0)
    8       16    codec id, ASCII, zero-padded ("ladder", "smol", "feedforward", ...)
    24      1     level (codec-specific; 0 when the codec has none)
    25      3     reserved (0)
    28      4     number of sections S
    32      32*S  section table: name (8 bytes ASCII, zero-padded), offset u64, length u64,
                  CRC32 u32, reserved u32
    32+32S  4     CRC32 of bytes [0, 32+32S): header and section table
    ...           the sections, back to back, in table order, to the end of the file

Every byte is covered by a checksum (the header CRC covers the header and table; each section
has its own), sections must be contiguous and the file must end where the last one ends, so a
truncated file or any flipped byte is reported (as engine.errors.InputError) before a codec
sees the data. By convention the first section, ``meta``, is UTF-8 JSON.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass, field

from engine.errors import InputError
from engine.io.atomic import atomic_output, read_bytes

MAGIC = b"SMOL"
SGI_MAGIC = b"SGIM"
KINDS = {MAGIC: ".smol", SGI_MAGIC: ".sgi"}  # magic -> the file kind named in error messages
VERSION = 1
HEADER = struct.Struct("<4sHH16sB3sI")  # 32 bytes
ENTRY = struct.Struct("<8sQQII")  # 32 bytes
CRC = struct.Struct("<I")
MAX_SECTIONS = 4096


@dataclass
class Container:
    codec: str
    level: int
    sections: dict[str, bytes]  # name -> payload, in file order
    meta: dict = field(default_factory=dict)  # the decoded "meta" section

    magic: bytes = MAGIC

    def section(self, name: str, path: str | None = None) -> bytes:
        if name not in self.sections:
            raise InputError(path, f"the {KINDS.get(self.magic, 'container')} file lacks its {name!r} section")
        return self.sections[name]


def pack(codec: str, level: int, meta: dict, sections: dict[str, bytes], magic: bytes = MAGIC) -> bytes:
    """The bytes of a .smol file (``meta`` becomes the first section, as JSON)."""
    if len(magic) != 4:
        raise ValueError(f"magic {magic!r} must be 4 bytes")
    if not codec or len(codec.encode("ascii")) > 16:
        raise ValueError(f"codec id {codec!r} must be 1-16 ASCII characters")
    if not 0 <= level <= 255:
        raise ValueError(f"level {level} is out of range 0-255")
    named = {"meta": json.dumps(meta, separators=(",", ":")).encode("utf-8"), **sections}
    for name in named:
        if not name or len(name.encode("ascii")) > 8:
            raise ValueError(f"section name {name!r} must be 1-8 ASCII characters")
    n = len(named)
    offset = HEADER.size + ENTRY.size * n + CRC.size
    table = b""
    for name, payload in named.items():
        table += ENTRY.pack(name.encode("ascii"), offset, len(payload), zlib.crc32(payload), 0)
        offset += len(payload)
    head = HEADER.pack(magic, VERSION, 0, codec.encode("ascii"), level, b"\0\0\0", n) + table
    return head + CRC.pack(zlib.crc32(head)) + b"".join(named.values())


def write(path: str | os.PathLike, codec: str, level: int, meta: dict, sections: dict[str, bytes],
          magic: bytes = MAGIC) -> int:  # fmt: skip
    """Write atomically; returns the file size."""
    data = pack(codec, level, meta, sections, magic)
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return len(data)


def unpack(data: bytes, path: str | None = None, magic: bytes = MAGIC) -> Container:
    """Parse and verify a .smol byte string (every check raises InputError naming ``path``)."""
    kind = KINDS.get(magic, "container")
    if len(data) < HEADER.size:
        raise InputError(path, f"file is truncated ({len(data)} bytes; a {kind} header alone is {HEADER.size})")
    found, version, flags, codec, level, _, n = HEADER.unpack_from(data, 0)
    if found != magic:
        raise InputError(path, f"not a {kind} file (wrong magic)")
    if version != VERSION:
        raise InputError(path, f"unsupported {kind} version {version} (this SplatLab reads version {VERSION})")
    if n < 1 or n > MAX_SECTIONS:
        raise InputError(path, f"corrupt header: {n} sections")
    table_end = HEADER.size + ENTRY.size * n
    if len(data) < table_end + CRC.size:
        raise InputError(path, "file is truncated inside the section table")
    (stored,) = CRC.unpack_from(data, table_end)
    if zlib.crc32(data[:table_end]) != stored:
        raise InputError(path, "the header checksum does not match (the file is corrupt)")
    try:
        codec_id = codec.rstrip(b"\0").decode("ascii")
    except UnicodeDecodeError:
        raise InputError(path, "corrupt header: the codec id is not ASCII") from None
    sections: dict[str, bytes] = {}
    expected = table_end + CRC.size
    for i in range(n):
        raw_name, offset, length, crc, _ = ENTRY.unpack_from(data, HEADER.size + ENTRY.size * i)
        try:
            name = raw_name.rstrip(b"\0").decode("ascii")
        except UnicodeDecodeError:
            raise InputError(path, f"corrupt section table (entry {i})") from None
        if offset != expected:
            raise InputError(path, f"corrupt section table: section {name!r} is not where the previous one ends")
        if offset + length > len(data):
            raise InputError(path, f"file is truncated: section {name!r} needs {offset + length} bytes, the file has {len(data)}")
        payload = data[offset : offset + length]
        if zlib.crc32(payload) != crc:
            raise InputError(path, f"section {name!r} is corrupt (checksum mismatch)")
        if name in sections:
            raise InputError(path, f"corrupt section table: section {name!r} appears twice")
        sections[name] = payload
        expected = offset + length
    if expected != len(data):
        raise InputError(path, f"{len(data) - expected} unexpected bytes after the last section")
    if "meta" not in sections:
        raise InputError(path, f"the {kind} file lacks its 'meta' section")
    try:
        meta = json.loads(sections["meta"].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError(path, "the meta section is not valid JSON") from None
    if not isinstance(meta, dict):
        raise InputError(path, "the meta section is not a JSON object")
    return Container(codec_id, level, sections, meta, magic)


def read(path: str | os.PathLike, magic: bytes = MAGIC) -> Container:
    path = os.fspath(path)
    data = read_bytes(path)
    return unpack(data, path, magic)
