"""What every ``splatlab`` command module shares: exit codes, the command record, the parser
class, JSON output and the argument parsers used by more than one command."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Callable

from engine.errors import InputError

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2

AddArgs = Callable[[argparse.ArgumentParser], None]


@dataclass(frozen=True)
class Command:
    """One subcommand: its one-line help, ``add_args(parser)`` declaring its options, and
    ``run(args) -> exit code``."""

    help: str
    add_args: AddArgs
    run: Callable[[argparse.Namespace], int]


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's exit code 2 is ours for bad input too
        self.print_usage(sys.stderr)
        print(f"splatlab: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _json_default(o):
    import numpy as np

    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def print_json(obj) -> None:
    """One JSON object on stdout; non-finite floats become null (strict JSON, engine.io.atomic.json_text)."""
    from engine.io.atomic import json_text

    print(json_text(obj, default=_json_default))


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(None, f"size {text!r} is not WxH, e.g. 1280x720") from None
    if not (0 < w <= 16384 and 0 < h <= 16384):
        raise InputError(None, f"size {text!r} is out of range")
    return w, h


def parse_color(text: str) -> tuple[float, float, float]:
    named = {"black": (0.0, 0.0, 0.0), "white": (1.0, 1.0, 1.0), "gray": (0.5, 0.5, 0.5), "grey": (0.5, 0.5, 0.5)}
    if text.lower() in named:
        return named[text.lower()]
    try:
        vals = tuple(float(v) for v in text.split(","))
    except ValueError:
        vals = ()
    if len(vals) != 3 or not all(0.0 <= v <= 1.0 for v in vals):
        raise InputError(None, f"colour {text!r} is not a name (black, white, gray) or r,g,b in [0, 1]")
    return vals  # type: ignore[return-value]


def load_scene(path: str, args: argparse.Namespace):
    from engine import io

    return io.load(path, drop_invalid=getattr(args, "drop_invalid", False))


def add_drop_invalid(p: argparse.ArgumentParser) -> None:
    p.add_argument("--drop-invalid", action="store_true", help="drop splats with NaN/Inf or zero rotations instead of refusing the file")
