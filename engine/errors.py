"""The one exception type for bad input.

Every reader and every command that is handed a file, folder or value it cannot use raises
:class:`InputError` with a message that names the file and the problem. The CLI prints that
message on one line and exits 2; the GUI shows it in a dialog and keeps the open scene.
"""

from __future__ import annotations

import os


class InputError(Exception):
    """Bad input: truncated or corrupt file, wrong magic, NaN/Inf, unsupported version, ...

    ``InputError(path, problem)`` formats as ``"<path>: <problem>"``; ``path`` may be None for
    input that is not a file (a command-line value, say).
    """

    def __init__(self, path: str | os.PathLike | None, problem: str):
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(problem if self.path is None else f"{self.path}: {problem}")


class OutputError(InputError, OSError):
    """An output that cannot be written (a read-only place, a folder on the way that is a file):
    ``OutputError(path, reason)`` formats as ``"<path>: cannot write: <reason>"``.

    Bad input like any other (the CLI exits 2), and also an :class:`OSError` whose ``strerror``
    is the reason alone, so code that guards a write with ``except OSError`` keeps working.
    """

    def __init__(self, path: str | os.PathLike | None, reason: str):
        super().__init__(path, f"cannot write: {reason}")
        self.strerror = reason


class Cancelled(Exception):
    """Raised inside a job when its cancel flag is set; no output file is left behind."""
