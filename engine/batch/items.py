"""What a batch runs over: inputs named on the command line expanded into files or capture folders.

An input is a file, a glob (``scenes/*.ply``, ``**`` too), a folder (searched recursively for the
job's kind of input) or ``@list.txt`` (one input per line; blank lines and ``#`` comments skipped;
relative paths are relative to the list's folder). A name that finds nothing is kept as a
:class:`Found` with its ``problem``, so the batch records it as bad input and goes on.
"""

from __future__ import annotations

import glob
import hashlib
import os
from dataclasses import dataclass

from engine.errors import InputError
from engine.io.atomic import sha256_file

SCENE_SUFFIXES = (".ply", ".spz", ".splat", ".smol")  # .compressed.ply ends in .ply
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")
KINDS = ("scene", "image", "capture")


@dataclass(frozen=True)
class Found:
    """One input: its absolute path, and the problem when it cannot be used (then it is recorded
    as bad input without running)."""

    path: str
    problem: str | None = None


def find_inputs(names: list[str], kind: str, exclude: str | None = None) -> list[Found]:
    """The inputs of ``kind`` (scene, image, capture) that ``names`` stand for, in order, each once.
    ``exclude``: a folder left out of folder searches and globs (the batch's output folder)."""
    if kind not in KINDS:
        raise ValueError(f"unknown input kind {kind!r}")
    skip = os.path.abspath(exclude) if exclude else None
    out: list[Found] = []
    seen: set[str] = set()

    def add(found: Found) -> None:
        if found.path not in seen:
            seen.add(found.path)
            out.append(found)

    for name in _expand_lists(names):
        for found in _find(name, kind, skip):
            add(found)
    return out


def _expand_lists(names: list[str]) -> list[str]:
    out = []
    for name in names:
        if not name.startswith("@"):
            out.append(name)
            continue
        path = name[1:]
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError as e:
            raise InputError(path, f"cannot read the list of inputs ({e.strerror or e})") from None
        except UnicodeDecodeError:
            raise InputError(path, "the list of inputs is not UTF-8 text") from None
        base = os.path.dirname(os.path.abspath(path))
        for line in lines:
            line = line.strip()
            if line and not line.startswith("#"):
                out.append(line if os.path.isabs(line) else os.path.join(base, line))
    return out


def _inside(path: str, folder: str | None) -> bool:
    return folder is not None and (path == folder or path.startswith(folder + os.sep))


def _find(name: str, kind: str, skip: str | None) -> list[Found]:
    if glob.has_magic(name):
        hits = sorted(os.path.abspath(p) for p in glob.glob(name, recursive=True))
        hits = [p for p in hits if not _inside(p, skip) and _matches(p, kind)]
        return [Found(p) for p in hits] or [Found(os.path.abspath(name), "matches no " + _what(kind))]
    path = os.path.abspath(name)
    if not os.path.exists(path):
        return [Found(path, "no such file or folder")]
    if kind == "capture":
        if not os.path.isdir(path):
            return [Found(path, "not a folder: train and distill take capture folders")]
        if _is_capture(path):
            return [Found(path)]
        subs = [os.path.join(path, d) for d in sorted(os.listdir(path))]
        found = [Found(p) for p in subs if not _inside(p, skip) and _is_capture(p)]
        return found or [Found(path, "neither a capture folder nor a folder of captures")]
    if os.path.isdir(path):
        found = [Found(p) for p in _walk(path, skip) if _matches(p, kind)]
        return found or [Found(path, "the folder holds no " + _what(kind))]
    return [Found(path)]  # a file named as it is: whatever it holds, the job reads it (and says what is wrong)


def _walk(folder: str, skip: str | None) -> list[str]:
    out = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _inside(os.path.join(root, d), skip))
        out.extend(os.path.join(root, f) for f in sorted(files) if not f.startswith("."))
    return out


def _matches(path: str, kind: str) -> bool:
    if kind == "capture":
        return _is_capture(path)
    suffixes = SCENE_SUFFIXES if kind == "scene" else IMAGE_SUFFIXES
    return os.path.isfile(path) and path.lower().endswith(suffixes)


def _is_capture(path: str) -> bool:
    from engine.io.captures import is_capture

    return is_capture(path)


def _what(kind: str) -> str:
    return {"scene": "scene file (" + " ".join(SCENE_SUFFIXES) + ")", "image": "image (" + " ".join(IMAGE_SUFFIXES) + ")",
            "capture": "capture folder"}[kind]  # fmt: skip


# ---------------------------------------------------------------------------- names and hashes
def stem(path: str) -> str:
    """A file's name without its scene, image or .compressed.ply extension; a folder's name."""
    name = os.path.basename(path.rstrip(os.sep))
    low = name.lower()
    for suffix in (".compressed.ply", *SCENE_SUFFIXES, *IMAGE_SUFFIXES):
        if low.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def unique_names(paths: list[str]) -> dict[str, str]:
    """Short output names for ``paths``: each one's stem, with as many parent folders as it takes
    to tell apart inputs that share one (``a/scene/point_cloud.ply`` -> ``scene__point_cloud``)."""
    parts = {p: [*os.path.dirname(p).strip(os.sep).split(os.sep), stem(p)] for p in paths}
    depth = {p: 1 for p in paths}
    while True:
        names = {p: "__".join(parts[p][-depth[p]:]) for p in paths}
        counts: dict[str, int] = {}
        for n in names.values():
            counts[n] = counts.get(n, 0) + 1
        clashing = [p for p in paths if counts[names[p]] > 1 and depth[p] < len(parts[p])]
        if not clashing:
            break
        for p in clashing:
            depth[p] += 1
    # identical paths cannot clash (inputs are unique); names equal after every folder get a number
    taken: dict[str, int] = {}
    out = {}
    for p in paths:
        n = names[p]
        taken[n] = taken.get(n, 0) + 1
        out[p] = n if taken[n] == 1 else f"{n}-{taken[n]}"
    return out


def sha256_of(path: str) -> str:
    """sha256 of a file's bytes, or of a folder (each file's relative path and sha256, in order;
    hidden files and ``*.partial`` work folders left out). Raises InputError if it cannot be read."""
    try:
        if not os.path.isdir(path):
            return sha256_file(path)
        h = hashlib.sha256()
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not d.endswith(".partial"))
            for f in sorted(files):
                if not f.startswith("."):
                    full = os.path.join(root, f)
                    h.update(os.path.relpath(full, path).encode() + b"\0" + sha256_file(full).encode() + b"\n")
        return h.hexdigest()
    except OSError as e:
        raise InputError(path, f"cannot read ({e.strerror or e})") from None
