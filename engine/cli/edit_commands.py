"""``splatlab edit IN -o OUT [operations]``: crop, filter, clean up and transform a scene.

The operations run in the order given on the command line (each option may be repeated), through
the same engine.edit functions the studio's Edit panel calls; deleted splats are left out of OUT.
OUT is written atomically (a temporary name renamed when complete). Values are parsed before the
scene is read: a malformed value, an unknown attribute or a missing file is bad input (exit 2)
with a message naming the option or the file.
"""

from __future__ import annotations

import argparse
import importlib
import math
import os
import re
import sys

from engine.cli.common import EXIT_OK, Command, print_json
from engine.errors import InputError

_COMPARISONS = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne"}
_FILTER = re.compile(r"^\s*([A-Za-z_][A-Za-z_0-9]*)\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*$")
FLOATER_DEFAULTS = (20, 2.0)  # k neighbours, standard deviations (Open3D's usual values)
# options whose value may start with "-" (negative numbers): engine.cli joins them as --opt=VALUE
SIGNED_VALUE_OPTIONS = ("--translate", "--rotate", "--scale", "--crop-box", "--crop-sphere")
_MOVES = ("translate", "rotate", "scale", "mirror", "up")  # steps that move splats (the others delete)


class _Step(argparse.Action):
    """Appends (operation, raw value) to ``args.ops``, keeping the command line's order."""

    def __init__(self, option_strings, dest, op: str, **kw):
        super().__init__(option_strings, dest, **kw)
        self.op = op

    def __call__(self, parser, namespace, values, option_string=None):
        steps = list(getattr(namespace, self.dest, None) or [])
        steps.append((self.op, values))
        setattr(namespace, self.dest, steps)


def _edit_args(p):
    p.add_argument("input", help="scene file (.ply .splat .spz .compressed.ply .smol)")
    p.add_argument("-o", "--output", required=True, help="edited scene; the format follows the extension")
    step = dict(action=_Step, dest="ops")
    p.add_argument("--crop-box", op="crop-box", metavar="X0,Y0,Z0,X1,Y1,Z1", **step,
                   help="delete splats whose centre is outside this axis-aligned box")  # fmt: skip
    p.add_argument("--crop-sphere", op="crop-sphere", metavar="X,Y,Z,R", **step,
                   help="delete splats whose centre is outside this sphere")  # fmt: skip
    p.add_argument("--filter", op="filter", metavar="EXPR", **step,
                   help="delete the splats matching ATTRIBUTE OP VALUE, e.g. 'opacity<0.05' (OP: < <= > >= == !=; "
                   "attributes: " + ", ".join(_attribute_names()) + "; opacity and scales are activated values)")  # fmt: skip
    p.add_argument("--remove-floaters", op="remove-floaters", nargs="?", const="", metavar="K,STD", **step,
                   help="delete statistical outliers: mean distance to the K nearest neighbours more than STD "
                   f"standard deviations above the mean (default {FLOATER_DEFAULTS[0]},{FLOATER_DEFAULTS[1]:g})")  # fmt: skip
    p.add_argument("--keep-largest-cluster", op="keep-largest-cluster", metavar="VOXEL", **step,
                   help="delete every splat outside the largest 26-connected cluster of occupied voxels of side VOXEL")  # fmt: skip
    p.add_argument("--translate", op="translate", metavar="X,Y,Z", **step, help="move every splat by (X, Y, Z)")
    p.add_argument("--rotate", op="rotate", metavar="RX,RY,RZ", **step,
                   help="turn about the origin by Euler angles in degrees: R = Rz Ry Rx (x first, about fixed axes; "
                   "splat-transform's -r); positions, orientations and SH")  # fmt: skip
    p.add_argument("--scale", op="scale", metavar="S", **step, help="scale positions and sizes by S > 0 about the origin")
    p.add_argument("--mirror", op="mirror", choices=("x", "y", "z"), **step,
                   help="mirror across the plane through the origin normal to this axis (with the SH sign rule)")  # fmt: skip
    p.add_argument("--up", op="up", metavar="AXIS", **step,
                   help="the scene's up axis (+x -x +y -y +z -z): turn it by a quarter or half turn so that up becomes "
                   "-y, the convention the studio and SuperSplat assume")  # fmt: skip
    p.add_argument("--drop-invalid", op="drop-invalid", nargs=0, **step,
                   help="delete splats with NaN/Inf values or zero rotations (at this point of the order; without it "
                   "a file holding any is refused)")  # fmt: skip
    p.add_argument("--playcanvas-axes", action="store_true",
                   help="read the steps' coordinates, vectors and axes in PlayCanvas' axes (the file's turned half a turn "
                   "about z, y up: what SuperSplat shows and what splat-transform's -t -r -B -S use), so the result "
                   "matches splat-transform's; default: the file's own axes (those of splatlab info)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print a JSON summary of the steps")


def _attribute_names() -> list[str]:
    from engine.edit.select import ATTRIBUTES

    return list(ATTRIBUTES)


# ---------------------------------------------------------------------------- parsing values
def _numbers(option: str, text: str, count: int, what: str) -> list[float]:
    try:
        vals = [float(v) for v in str(text).split(",")]
    except ValueError:
        vals = []
    if len(vals) != count or not all(math.isfinite(v) for v in vals):
        raise InputError(None, f"--{option} {text!r}: expected {what} ({count} comma-separated numbers)")
    return vals


def _parse(op: str, value):
    """The step's parsed value; raises InputError naming the option."""
    if op == "crop-box":
        v = _numbers(op, value, 6, "x0,y0,z0,x1,y1,z1")
        lo, hi = [min(a, b) for a, b in zip(v[:3], v[3:])], [max(a, b) for a, b in zip(v[:3], v[3:])]
        return lo, hi
    if op == "crop-sphere":
        v = _numbers(op, value, 4, "x,y,z,radius")
        if v[3] <= 0:
            raise InputError(None, f"--crop-sphere {value!r}: the radius must be > 0")
        return v[:3], v[3]
    if op == "filter":
        return _parse_filter(value)
    if op == "remove-floaters":
        if not value:
            return FLOATER_DEFAULTS
        k, std = _numbers(op, value, 2, "K,STD")
        if k < 1 or k != int(k) or std < 0:
            raise InputError(None, f"--remove-floaters {value!r}: K must be a whole number >= 1 and STD >= 0")
        return int(k), std
    if op == "keep-largest-cluster":
        (voxel,) = _numbers(op, value, 1, "a voxel size")
        if voxel <= 0:
            raise InputError(None, f"--keep-largest-cluster {value!r}: the voxel size must be > 0")
        return voxel
    if op in ("translate", "rotate"):
        return _numbers(op, value, 3, "x,y,z" if op == "translate" else "rx,ry,rz in degrees")
    if op == "scale":
        (s,) = _numbers(op, value, 1, "a factor")
        if s <= 0:
            raise InputError(None, f"--scale {value!r}: the factor must be > 0")
        return s
    if op == "up":
        from engine.framing import parse_up

        try:
            parse_up(value)
        except InputError as e:
            raise InputError(None, f"--up: {e.problem}") from None
        return value
    return value  # mirror (argparse checked the choice), drop-invalid


def _parse_filter(text: str):
    from engine.edit.select import ATTRIBUTES

    m = _FILTER.match(str(text))
    if not m:
        raise InputError(None, f"--filter {text!r}: expected ATTRIBUTE OP VALUE, e.g. 'opacity<0.05' (OP: < <= > >= == !=)")
    name, cmp, raw = m.groups()
    if name not in ATTRIBUTES:
        raise InputError(None, f"--filter {text!r}: unknown attribute {name!r} (known: {', '.join(ATTRIBUTES)})")
    try:
        value = float(raw)
    except ValueError:
        raise InputError(None, f"--filter {text!r}: {raw!r} is not a number") from None
    return name, _COMPARISONS[cmp], value


def _from_playcanvas_axes(op: str, value):
    """A parsed step's value given in PlayCanvas' axes, in the file's: PlayCanvas (SuperSplat,
    splat-transform) shows a PLY's splats turned half a turn about z, F = diag(-1, -1, 1), so a
    vector v there is F v here and a rotation R is F R F. Scale and mirror commute with F."""
    import numpy as np

    from engine.edit.transform import rotation_from_euler

    f = np.array([-1.0, -1.0, 1.0])
    if op == "translate":
        return list(f * value)
    if op == "rotate":
        return np.diag(f) @ rotation_from_euler(*value) @ np.diag(f)
    if op == "crop-box":
        a, b = f * value[0], f * value[1]
        return list(np.minimum(a, b)), list(np.maximum(a, b))
    if op == "crop-sphere":
        return list(f * value[0]), value[1]
    if op == "up":
        t = value.strip().lower()
        t = t if t[0] in "+-" else "+" + t
        return ({"+": "-", "-": "+"}[t[0]] + t[1]) if t[1] in "xy" else t
    if op == "filter" and value[0] in ("x", "y"):
        name, cmp, threshold = value
        flipped = {"lt": "gt", "gt": "lt", "le": "ge", "ge": "le", "eq": "eq", "ne": "ne"}[cmp]
        return name, flipped, -threshold
    return value


# ---------------------------------------------------------------------------- running
def _read(path: str, validate: bool):
    """Read a scene; with ``validate=False`` rows with NaN/Inf are kept (--drop-invalid deletes
    them at its place in the order)."""
    from engine import io

    if validate:
        return io.load(path)
    if not os.path.exists(path):
        raise InputError(path, "no such file")
    if os.path.isdir(path):
        raise InputError(path, "is a folder, not a scene file")
    fmt = io.detect_format(path)
    scene = importlib.import_module(io.FORMATS[fmt].module).read(path)
    scene.meta.setdefault("format", fmt)
    scene.meta["path"] = path
    return scene


def run_step(session, op: str, value) -> None:
    """Apply one parsed step to an EditSession (the engine calls behind each option)."""
    import numpy as np

    from engine.edit import cleanup, ops, select, transform

    kept = ~session.deleted
    if op == "crop-box":
        ops.crop_box(session, *value)
    elif op == "crop-sphere":
        ops.crop_sphere(session, *value)
    elif op == "filter":
        name, cmp, threshold = value
        vals = select.attribute_values(session.scene, name)
        with np.errstate(invalid="ignore"):
            ops.delete_mask(session, getattr(np, {"le": "less_equal", "ge": "greater_equal", "lt": "less", "gt": "greater",
                                                   "eq": "equal", "ne": "not_equal"}[cmp])(vals, threshold))  # fmt: skip
    elif op == "remove-floaters":
        ops.delete_mask(session, cleanup.statistical_outliers(session.scene, value[0], value[1], candidates=kept))
    elif op == "keep-largest-cluster":
        ops.delete_mask(session, cleanup.outside_largest_cluster(session.scene, value, candidates=kept))
    elif op == "translate":
        transform.translate(session, value)
    elif op == "rotate":
        transform.rotate(session, value)
    elif op == "scale":
        transform.scale(session, value)
    elif op == "mirror":
        transform.mirror(session, value)
    elif op == "up":
        transform.set_up(session, value)
    elif op == "drop-invalid":
        ops.delete_invalid(session)
    else:
        raise ValueError(f"unknown edit step {op!r}")


def _edit(args) -> int:
    from engine import io
    from engine.edit import EditSession
    from engine.io.atomic import check_writable

    steps = [(op, raw, _parse(op, raw)) for op, raw in (args.ops or [])]
    if args.playcanvas_axes:
        steps = [(op, raw, _from_playcanvas_axes(op, value)) for op, raw, value in steps]
    fmt = io.format_from_extension(args.output)
    if fmt is None:
        raise InputError(args.output, "unknown output extension (known: " + ", ".join("." + f for f in io.FORMATS) + ")")
    check_writable(args.output)
    scene = _read(args.input, validate=not any(op == "drop-invalid" for op, _, _ in steps))
    session = EditSession(scene, keep_history=False)
    report = []
    if not args.json:
        print(f"read {args.input}: {session.total:,} splats", file=sys.stderr)
    for op, raw, value in steps:
        before = session.kept_count
        run_step(session, op, value)
        after = session.kept_count
        shown = f"--{op}" + ("" if raw in (None, "", []) else f" {raw}")
        report.append({"step": op, "value": raw if isinstance(raw, str) else None, "before": before, "after": after})
        if not args.json and op in _MOVES:
            print(f"{shown}: {after:,} splats", file=sys.stderr)
        elif not args.json:
            print(f"{shown}: {before:,} -> {after:,} splats ({before - after:,} deleted)", file=sys.stderr)
    result = session.result_scene()
    for warning in io.conversion_warnings(result, fmt):
        print(f"splatlab: warning: {warning}", file=sys.stderr)
    io.save(result, args.output)
    if args.json:
        print_json({"input": args.input, "output": args.output, "before": session.total, "after": result.count,
                    "steps": report})  # fmt: skip
    else:
        print(f"wrote {args.output} ({result.count:,} splats, {os.path.getsize(args.output):,} bytes)", file=sys.stderr)
    return EXIT_OK


COMMANDS = {
    "edit": Command("crop, filter, clean up and transform a scene; operations run in the order given", _edit_args, _edit),
}
