"""Write outputs to a temporary name beside the target, then rename.

A cancelled or failed write leaves no half-written file: either the old file stays or the new
one is complete. ``read_bytes`` is the matching whole-file read, with the project's error, and
``sha256_file`` a file's hash read in blocks (manifests record inputs by it).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import numbers
import os
import tempfile
from typing import Iterator


def read_bytes(path: str | os.PathLike) -> bytes:
    """The whole file; an unreadable file raises InputError naming it."""
    from engine.errors import InputError

    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise InputError(os.fspath(path), f"cannot read ({e.strerror or e})") from None


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MB blocks; InputError naming an unreadable file."""
    import hashlib

    from engine.errors import InputError

    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError as e:
        raise InputError(os.fspath(path), f"cannot read ({e.strerror or e})") from None
    return h.hexdigest()


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path in the target's folder; rename it over ``path`` on success.

    Missing folders on the way are created (and removed again if the write fails). An output
    that cannot be written raises :class:`~engine.errors.OutputError` (an InputError) naming
    ``path`` as given and the reason; nothing is left behind.
    """
    path = os.fspath(path)
    tmp, created = _stage(path)
    try:
        try:
            yield tmp
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
            os.replace(tmp, path)
        except OSError as e:
            if _is_about(e, tmp):
                raise _cannot_write(path, e) from e
            raise
    except BaseException:
        _discard(tmp, created)
        raise


def check_writable(path: str | os.PathLike) -> None:
    """Raise OutputError now where writing ``path`` would fail, so a long job does not find out at
    its end. Creates nothing that stays (a probe file and any folders it needed are removed)."""
    _discard(*_stage(os.fspath(path)))


def make_output_folder(folder: str | os.PathLike, shown: str | os.PathLike | None = None) -> None:
    """``os.makedirs(folder, exist_ok=True)`` for an output folder; failure raises OutputError
    naming ``shown`` (the path the user gave, default ``folder``)."""
    folder, shown = os.fspath(folder), os.fspath(shown if shown is not None else folder)
    if os.path.exists(shown) and not os.path.isdir(shown):
        raise _output_error(shown, "it is a file, not a folder")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise _cannot_write(shown, e) from e


# Errors from writing an open file carry no file name; these mean the output could not be written.
_WRITE_ERRNOS = {getattr(errno, n) for n in ("ENOSPC", "EDQUOT", "EFBIG", "EROFS") if hasattr(errno, n)}


def _output_error(path: str, reason: str):
    from engine.errors import OutputError

    return OutputError(path, reason)


def _stage(path: str) -> tuple[str, list[str]]:
    """Create the missing folders and an empty temporary file beside ``path``; returns the
    temporary file and the folders created (outermost first)."""
    if path.endswith(("/", os.sep)) or os.path.isdir(path):
        raise _output_error(path, "it is a folder, not a file")
    folder = os.path.dirname(os.path.abspath(path))
    missing = []
    f = folder
    while not os.path.lexists(f) and os.path.dirname(f) != f:
        missing.insert(0, f)
        f = os.path.dirname(f)
    created = []
    for d in missing:
        try:
            os.mkdir(d)
        except FileExistsError:
            if not os.path.isdir(d):  # else made by someone else meanwhile: use it, and leave it
                _discard(None, created)
                raise _cannot_write(path, FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), d)) from None
            continue
        except OSError as e:
            _discard(None, created)
            raise _cannot_write(path, e, making=d) from e
        created.append(d)
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".part", dir=folder)
    except OSError as e:
        _discard(None, created)
        raise _cannot_write(path, e) from e
    os.close(fd)
    return tmp, created


def _discard(tmp: str | None, created: list[str]) -> None:
    """Remove the temporary file and the folders made for it (those that are still empty)."""
    if tmp is not None:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    for d in reversed(created):
        with contextlib.suppress(OSError):
            os.rmdir(d)


def _is_about(e: OSError, tmp: str) -> bool:
    """Whether an error raised while writing is about the output (not, say, an input it read)."""
    if getattr(e, "strerror", None) is None:  # a bare OSError("message") from a writer, or ours
        return False
    if e.filename is not None:
        return os.fspath(e.filename) == tmp
    return e.errno in _WRITE_ERRNOS


def _cannot_write(path: str, e: OSError, making: str | None = None):
    """OutputError for ``path`` (as the user gave it) from the OSError that writing it raised;
    ``making``: the folder that was being created when it was raised."""
    from engine.errors import OutputError

    if isinstance(e, OutputError):
        return e
    # The nearest thing on the way that exists: a file where a folder should be is the usual mistake.
    on_way = os.path.dirname(path)
    while on_way and not os.path.lexists(on_way) and os.path.dirname(on_way) != on_way:
        on_way = os.path.dirname(on_way)
    if on_way and os.path.lexists(on_way) and not os.path.isdir(on_way):
        if os.path.islink(on_way) and not os.path.exists(on_way):
            return _output_error(path, f"{on_way} is a broken link")
        return _output_error(path, f"{on_way} is a file, not a folder")
    reason = e.strerror or str(e)
    if making is not None:
        shown = making if os.path.isabs(path) else os.path.relpath(making)
        return _output_error(path, f"cannot create the folder {shown} ({reason})")
    folder = os.path.dirname(path) or "."
    if e.errno == errno.ENOENT and os.path.isdir(folder):  # /proc and the like take no new files
        return _output_error(path, f"the folder {folder} does not take new files ({reason})")
    if e.errno in (errno.EACCES, errno.EPERM) and os.path.isdir(folder):
        return _output_error(path, f"{reason} in the folder {folder}")
    return _output_error(path, reason)


def _read_umask() -> int:
    """The process umask, read without changing it where /proc allows (os.umask is global state
    that other threads may be using)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _umask() -> int:
    return _UMASK


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def json_safe(obj):
    """``obj`` with every non-finite number (a PSNR of identical images is inf, engine.metrics)
    replaced by None, through dicts, lists and tuples: JSON has no infinity or NaN."""
    if isinstance(obj, numbers.Real) and not isinstance(obj, numbers.Integral) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def json_text(obj, indent: int | None = None, default=None) -> str:
    """Strict JSON of ``obj`` (non-finite numbers as null): what every JSON output of the
    project is written with (``--json``, RD JSON, a training run's files)."""
    return json.dumps(json_safe(obj), indent=indent, default=default)


def atomic_write_json(path: str | os.PathLike, obj) -> None:
    """``obj`` as strict, indented JSON (:func:`json_text`), written atomically."""
    atomic_write_text(path, json_text(obj, indent=2) + "\n")
