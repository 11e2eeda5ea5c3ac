"""Scene file formats: one module per format, chosen by extension (and content for .ply).

``load(path)`` returns a :class:`~engine.scene.GaussianScene`; ``save(scene, path)`` writes one
atomically. Every reader raises :class:`~engine.errors.InputError` (naming the file and the
problem) on bad input, and nothing else.
"""

from __future__ import annotations

import importlib
import os

import torch
from dataclasses import dataclass
from typing import NamedTuple

from engine.errors import InputError
from engine.scene import GaussianScene


@dataclass(frozen=True)
class Format:
    name: str  # "ply", "compressed.ply", "splat", "spz", "smol"
    module: str  # the module with read(path) and write(scene, path, **opts), imported on first use
    description: str
    keeps_sh: bool  # False where the format drops view-dependent colour (SH bands > 0)


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("ply", "engine.io.ply", "INRIA 3DGS PLY (float32, all SH bands)", True),
        Format("compressed.ply", "engine.io.compressed_ply", "PlayCanvas compressed PLY", True),
        Format("splat", "engine.io.splat", "antimatter15 .splat (32 B per splat, no SH)", False),
        Format("spz", "engine.io.spz", "Niantic SPZ (v4 zstd by default, v3 gzip)", True),
        # .smol decodes with the codecs, which sit above engine.io (they train from captures and
        # write through engine.io.atomic): its module is theirs, and engine.io imports nothing
        # from engine.codec.
        Format("smol", "engine.codec.file", "SplatLab compressed (.smol: codec ladder levels 1-8, ...)", True),
    )
}


def _module(fmt: Format):
    return importlib.import_module(fmt.module)


def format_from_extension(path: str | os.PathLike) -> str | None:
    name = os.path.basename(os.fspath(path)).lower()
    # longest suffix first, so "x.compressed.ply" is not taken for "x.ply"
    for fname in sorted(FORMATS, key=len, reverse=True):
        if name.endswith("." + fname):
            return fname
    return None


def detect_format(path: str | os.PathLike) -> str:
    """Format of an existing file: by extension, with a look at the header of .ply files."""
    path = os.fspath(path)
    fmt = format_from_extension(path)
    if fmt is None:
        known = ", ".join("." + f for f in FORMATS)
        raise InputError(path, f"unknown scene file extension (known: {known})")
    if fmt == "ply":
        from engine.io import ply

        if ply.looks_like_compressed_ply(path):
            return "compressed.ply"
    return fmt


def load(path: str | os.PathLike, *, drop_invalid: bool = False) -> GaussianScene:
    """Read any supported scene file.

    Rows with NaN/Inf or zero quaternions raise InputError unless ``drop_invalid`` is set, in
    which case they are removed and their number is recorded in ``scene.meta["dropped_invalid"]``.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError(path, "no such file")
    if os.path.isdir(path):
        raise InputError(path, "is a folder, not a scene file")
    fmt = detect_format(path)
    scene = _module(FORMATS[fmt]).read(path)
    scene.meta.setdefault("format", fmt)
    scene.meta["path"] = path
    if drop_invalid:
        scene, n = scene.drop_invalid()
        scene.meta["dropped_invalid"] = n
    else:
        scene.validate(path)
    return scene


def conversion_warnings(scene: GaussianScene, fmt: str) -> list[str]:
    """What writing ``scene`` as ``fmt`` loses that a user should be told about."""
    out = []
    f = FORMATS.get(fmt)
    if f is not None and not f.keeps_sh and scene.sh_degree > 0:
        out.append(f".{fmt} keeps only the base colour: SH bands 1-{scene.sh_degree} (view-dependent colour) are dropped")
    if scene.extras and fmt != "ply":
        out.append(f".{fmt} does not keep the extra properties {', '.join(scene.extras)}")
    return out


class SizeEstimate(NamedTuple):
    bytes: int
    exact: bool  # True: the file written with the same options will be exactly this size


def estimate_size(scene: GaussianScene, fmt: str, sample: int = 20_000, **options) -> SizeEstimate:
    """File size of ``scene`` written as ``fmt`` with the writer ``options``.

    Exact (``exact=True``) where the writer's module has ``exact_size(scene, **options)``, which
    computes the size from the same header and row layout the writer uses (binary ``ply``,
    ``compressed.ply``, ``splat``). For the entropy-coded formats (``spz``, ``smol``, and ASCII
    PLY) it is an encode of a random sample of ``sample`` splats, scaled up (``exact=False``)."""
    import tempfile

    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    module = _module(FORMATS[fmt])
    exact_size = getattr(module, "exact_size", None)
    if exact_size is not None:
        size = exact_size(scene, **options)
        if size is not None:
            return SizeEstimate(int(size), True)
    n = scene.count
    if n == 0:
        return SizeEstimate(0, False)
    part = scene
    if n > sample:
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(0))[:sample]
        part = scene.subset(idx.sort().values)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "estimate." + fmt)
        save(part, path, **options)
        size = os.path.getsize(path)
    return SizeEstimate(int(size * n / part.count), False)


def estimate_bytes(scene: GaussianScene, fmt: str, sample: int = 20_000, **options) -> int:
    """``estimate_size(...).bytes``: exact for binary PLY, compressed.ply and .splat, sampled for
    the entropy-coded formats (see ``estimate_size``, whose ``exact`` flag says which)."""
    return estimate_size(scene, fmt, sample, **options).bytes


def save(scene: GaussianScene, path: str | os.PathLike, **options) -> str:
    """Write ``scene`` in the format named by the extension; returns the format name."""
    path = os.fspath(path)
    fmt = format_from_extension(path)
    if fmt is None:
        known = ", ".join("." + f for f in FORMATS)
        raise InputError(path, f"unknown output extension (known: {known})")
    _module(FORMATS[fmt]).write(scene, path, **options)
    return fmt
