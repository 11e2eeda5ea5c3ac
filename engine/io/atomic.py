"""Write outputs to a temporary name beside the target, then rename (DESIGN.md, "Jobs").

A cancelled or failed write leaves no half-written file: either the old file stays or the new
one is complete. ``read_bytes`` is the matching whole-file read, with the project's error.
"""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path in the target's folder; rename it over ``path`` on success."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".part", dir=folder)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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
