"""``splatlab`` command line: thin wrappers over the engine, the same jobs the studio runs.

Exit codes: 0 success, 2 bad input (engine.errors.InputError, bad arguments), 1 failure.
Errors print on one line to stderr; ``--debug`` adds the traceback. ``--json`` output is one
JSON object on stdout.

One module per command group: ``scene_commands`` (info, convert, render, eval),
``train_commands`` (train), ``distill_commands`` (distill), ``codec_commands`` (compress, decompress, rd), ``image_commands``
(image), ``edit_commands`` (edit), ``batch_commands`` (batch: the others' jobs over many inputs, on Ray); ``common``
holds what they share. ``splatlab gui`` is not here: the studio lives in
``app``, whose entry point (``app.main:main``, the console script) passes it in as an extra
command and makes it the default, so the engine never imports ``app`` or Qt.
``python -m engine.cli`` runs the engine's commands only.
"""

from __future__ import annotations

import argparse
import sys
from typing import Mapping, Sequence

from engine.cli import (batch_commands, codec_commands, distill_commands, edit_commands, image_commands, scene_commands,
                        train_commands)  # fmt: skip
from engine.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILURE,
    EXIT_OK,
    Command,
    Parser,
    parse_color,
    parse_size,
    print_json,
)
from engine.errors import Cancelled, InputError

__all__ = ["COMMANDS", "EXIT_BAD_INPUT", "EXIT_FAILURE", "EXIT_OK", "Command", "Parser", "build_parser", "main",
           "parse_color", "parse_size", "print_json"]  # fmt: skip

# The engine's commands, in the order --help lists them.
COMMANDS: dict[str, Command] = {
    **scene_commands.COMMANDS,
    **train_commands.COMMANDS,
    **distill_commands.COMMANDS,
    **codec_commands.COMMANDS,
    **edit_commands.COMMANDS,
    **image_commands.COMMANDS,
    **batch_commands.COMMANDS,
}


def build_parser(commands: Mapping[str, Command] | None = None) -> argparse.ArgumentParser:
    """The parser of ``commands`` (default: the engine's, :data:`COMMANDS`)."""
    import engine

    parser = Parser(prog="splatlab", description="SplatLab: a studio for compact Gaussian splats.")
    parser.add_argument("--version", action="version", version=f"splatlab {engine.__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    for name, cmd in (COMMANDS if commands is None else commands).items():
        sp = sub.add_parser(name, help=cmd.help, description=cmd.help)
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")
        cmd.add_args(sp)
    return parser


def _join_signed_values(argv: list[str]) -> list[str]:
    """``--up -z`` -> ``--up=-z`` and ``--translate -1,0,0`` -> ``--translate=-1,0,0``: argparse
    would take the value for an option."""
    out: list[str] = []
    for i, a in enumerate(argv):
        prev = argv[i - 1] if i else None
        if prev == "--up" and a.startswith("-") and len(a) == 2:
            out[-1] = f"--up={a}"
        elif prev in edit_commands.SIGNED_VALUE_OPTIONS and len(a) > 1 and a[0] == "-" and (a[1].isdigit() or a[1] == "."):
            out[-1] = f"{prev}={a}"
        else:
            out.append(a)
    return out


def main(argv: Sequence[str] | None = None, extra: Mapping[str, Command] | None = None,
         default: str | None = None) -> int:  # fmt: skip
    """Run ``splatlab ARGV``; returns the exit code.

    ``extra`` adds commands beside the engine's (the app adds ``gui``); ``default`` is the
    command run when ARGV names none (then ARGV's words are that command's arguments, so
    ``splatlab scene.ply`` is ``splatlab gui scene.ply``). Without a default, a missing command
    is bad input."""
    commands = {**COMMANDS, **(extra or {})}
    argv = _join_signed_values(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser(commands)
    names_a_command = bool(argv) and (argv[0] in commands or argv[0] in ("-h", "--help", "--version", "--debug"))
    if default is not None and not names_a_command:
        argv = [default] + argv  # no subcommand: the default (the app's: open the studio)
    args = parser.parse_args(argv)
    if args.command is None:
        if default is None:
            parser.error(f"give a command ({', '.join(commands)})")
        args = parser.parse_args(argv + [default])
    debug = getattr(args, "debug", False)
    try:
        return commands[args.command].run(args)
    except InputError as e:
        if debug:
            raise
        print(f"splatlab: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Cancelled:
        print("splatlab: cancelled", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("splatlab: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # one line, no traceback unless --debug
        if debug:
            raise
        print(f"splatlab: failed: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_FAILURE
