"""``splatlab`` command line: thin wrappers over the engine (DESIGN.md, "CLI").

Exit codes: 0 success, 2 bad input (engine.errors.InputError, bad arguments), 1 failure.
Errors print on one line to stderr; ``--debug`` adds the traceback. ``--json`` output is one
JSON object on stdout.

``splatlab gui`` (the default with no subcommand) opens the studio; the GUI lives in ``app`` and
is imported only when asked for, so the engine never loads Qt.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, Sequence

from engine.device import DEVICES, IMAGE, SMOL, TRAIN
from engine.errors import Cancelled, InputError

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2

AddArgs = Callable[[argparse.ArgumentParser], None]
COMMANDS: dict[str, tuple[str, AddArgs, Callable[[argparse.Namespace], int]]] = {}


def command(name: str, help: str, add_args: AddArgs):
    """Register the decorated function as subcommand ``name``; ``add_args`` declares its options."""

    def deco(run):
        COMMANDS[name] = (help, add_args, run)
        return run

    return deco


class _Parser(argparse.ArgumentParser):
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


def _add_drop_invalid(p: argparse.ArgumentParser) -> None:
    p.add_argument("--drop-invalid", action="store_true", help="drop splats with NaN/Inf or zero rotations instead of refusing the file")


# ---------------------------------------------------------------------------- info
def _info_args(p):
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    _add_drop_invalid(p)


@command("info", "count, SH degree, bounds, bytes per splat", _info_args)
def _info(args) -> int:
    from engine.image.codec import is_sgi
    from engine.info import scene_info

    if is_sgi(args.file):  # an image coded with 2D Gaussians (splatlab image compress)
        return _image_info(args)
    scene = load_scene(args.file, args)
    info = scene_info(scene, args.file)
    if args.json:
        print_json(info)
    else:
        b = info["bounds"]
        lines = [
            ("file", info["path"]),
            ("format", info["description"]),
            ("splats", f"{info['count']:,}"),
            ("SH degree", str(info["sh_degree"])),
            ("bytes", f"{info['bytes']:,} ({info['bytes_per_splat']:.1f} per splat)"),
            ("bounds", "min (" + ", ".join(f"{v:.4g}" for v in b["min"]) + ")  max (" + ", ".join(f"{v:.4g}" for v in b["max"]) + ")"),
            ("extras", ", ".join(info["extras"]) or "none"),
        ]
        if info.get("antialiased"):
            lines.append(("render mode", "antialiased (mip)"))
        if info.get("dropped_invalid"):
            lines.append(("dropped", f"{info['dropped_invalid']} invalid splats"))
        for k, v in lines:
            print(f"{k:<10} {v}")
    return EXIT_OK


# ---------------------------------------------------------------------------- convert
def _convert_args(p):
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--sh-degree", type=int, choices=range(4), help="keep SH bands up to this degree")
    p.add_argument("--spz-version", type=int, choices=(3, 4), default=4, help="SPZ version to write (default 4)")
    _add_drop_invalid(p)


@command("convert", "convert between .ply .splat .spz .compressed.ply .smol (by extension)", _convert_args)
def _convert(args) -> int:
    from engine import io
    from engine.io.atomic import check_writable

    scene = load_scene(args.input, args)
    if args.sh_degree is not None:
        scene = scene.with_sh_degree(min(args.sh_degree, scene.sh_degree))
    fmt = io.format_from_extension(args.output)
    if fmt is None:
        raise InputError(args.output, "unknown output extension (known: " + ", ".join("." + f for f in io.FORMATS) + ")")
    check_writable(args.output)  # before the warnings: an unwritable output is the one problem to hear of
    for warning in io.conversion_warnings(scene, fmt):
        print(f"splatlab: warning: {warning}", file=sys.stderr)
    opts = {"version": args.spz_version} if fmt == "spz" else {}
    io.save(scene, args.output, **opts)
    print(f"wrote {args.output} ({scene.count:,} splats, {os.path.getsize(args.output):,} bytes)", file=sys.stderr)
    return EXIT_OK


# ---------------------------------------------------------------------------- render
def _render_args(p):
    p.add_argument("scene")
    p.add_argument("-o", "--output", required=True, help="PNG to write")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--camera", help="camera JSON (engine.camera format); default: the scene's home view")
    src.add_argument("--capture", help="a capture folder: render one of its cameras (--view)")
    p.add_argument("--view", type=int, default=0, help="index of the capture frame (with --capture)")
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--background", default=None, help="black, white, gray or r,g,b (default black; a capture's own)")
    p.add_argument("--sh-degree", type=int, choices=range(4), help="limit SH bands")
    p.add_argument("--up", help="the scene's up axis for the home view: +x -x +y -y +z -z (default: from a "
                   "cameras.json beside the scene, else a floor plane or flat side, else -y)")  # fmt: skip
    p.add_argument("--save-camera", help="also write the camera used as JSON")
    _add_drop_invalid(p)


def _check_size(args) -> None:
    for name in ("width", "height"):
        v = getattr(args, name, None)
        if v is not None and not 0 < v <= 16384:
            raise InputError(None, f"--{name} {v} is out of range (1-16384)")


@command("render", "render a view of a scene to PNG", _render_args)
def _render(args) -> int:
    import torch
    from PIL import Image

    from engine.camera import Camera, home_view
    from engine.io.atomic import atomic_output, check_writable
    from engine.render import render

    _check_size(args)
    if not args.output.lower().endswith(".png"):
        raise InputError(args.output, "output must be a .png file")
    for out in (args.output, args.save_camera):  # an unwritable output is bad input, found before the work
        if out:
            check_writable(out)
    scene = load_scene(args.scene, args)
    background = parse_color(args.background) if args.background else (0.0, 0.0, 0.0)
    if args.capture:
        from engine.io.captures import load_capture

        capture = load_capture(args.capture)
        if not 0 <= args.view < len(capture.frames):
            raise InputError(args.capture, f"--view {args.view} is out of range (the capture has {len(capture.frames)} frames)")
        cam = capture.frames[args.view].camera
        if not args.background:
            background = tuple(capture.background)
    elif args.camera:
        cam = Camera.load(args.camera)
    else:
        from engine.framing import cameras_beside, parse_up

        side = args.width or args.height or 800
        cam = home_view(scene, args.width or side, args.height or side, up=parse_up(args.up) if args.up else None,
                        cameras=cameras_beside(args.scene))  # fmt: skip
    w = args.width or (cam.width if not args.height else round(cam.width * args.height / cam.height))
    h = args.height or (cam.height if not args.width else round(cam.height * args.width / cam.width))
    cam = cam.scaled(w, h) if (w, h) != (cam.width, cam.height) else cam
    with torch.no_grad():
        result = render(scene, cam, background=background, sh_degree=args.sh_degree, with_depth=False)
    with atomic_output(args.output) as tmp:
        Image.fromarray(result.image_uint8()).save(tmp, format="PNG")
    if args.save_camera:
        cam.save(args.save_camera)
    print(f"wrote {args.output} ({w}x{h})", file=sys.stderr)
    return EXIT_OK


# ---------------------------------------------------------------------------- eval
def _eval_args(p):
    p.add_argument("scene")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--reference", help="reference scene: compare renders at its orbit views")
    src.add_argument("--capture", help="capture folder: compare with its held-out test images")
    p.add_argument("--views", type=int, default=8, help="orbit views (with --reference; default 8)")
    p.add_argument("--size", type=int, default=512, help="orbit view size in pixels (default 512)")
    p.add_argument("--max-side", type=int, help="downsample capture images to this longest side")
    p.add_argument("--json", action="store_true")
    _add_drop_invalid(p)


@command("eval", "PSNR/SSIM against a reference scene (orbit views) or a capture (test views)", _eval_args)
def _eval(args) -> int:
    from engine import jobs
    from engine.evaluate import eval_against_capture, eval_against_reference

    scene = load_scene(args.scene, args)
    if args.reference:
        if not 1 <= args.views <= 360 or not 16 <= args.size <= 4096:
            raise InputError(None, "--views must be 1-360 and --size 16-4096")
        reference = load_scene(args.reference, args)
        result = jobs.run(eval_against_reference(scene, reference, args.views, args.size), desc="eval")
        result["reference"] = args.reference
    else:
        from engine.io.captures import load_capture

        if args.max_side is not None and args.max_side < 8:
            raise InputError(None, "--max-side must be at least 8")
        capture = load_capture(args.capture, max_side=args.max_side)
        result = jobs.run(eval_against_capture(scene, capture), desc="eval")
        result["capture"] = args.capture
    result["scene"] = args.scene
    if args.json:
        print_json(result)
    else:
        print(f"PSNR {result['psnr']:.2f} dB   SSIM {result['ssim']:.4f}   ({result['views']} views)")
    return EXIT_OK


# ---------------------------------------------------------------------------- train
def _train_args(p):
    p.add_argument("capture", help="capture folder (NeRF-synthetic, instant-ngp or COLMAP)")
    p.add_argument("-o", "--output", required=True, help="output folder (written when training completes)")
    p.add_argument("--iterations", type=int, help=TRAIN.help())
    p.add_argument("--max-side", type=int, help="downsample images so their longest side is at most PX "
                   f"(default {TRAIN.cpu_max_side} on the CPU, full size on CUDA; 0: full size)")  # fmt: skip
    p.add_argument("--device", choices=DEVICES, default="auto", help="auto: CUDA when there is a GPU, else the CPU")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--strategy", choices=("default", "mcmc"), default="default",
                   help="densification: INRIA's (default) or MCMC with a Gaussian budget")  # fmt: skip
    p.add_argument("--cap-max", type=int, default=1_000_000, help="MCMC: the Gaussian budget")
    p.add_argument("--init-points", type=int, help="random initial points when the capture has no SfM points")
    p.add_argument("--init", help="start from this trained scene instead of points")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from OUTPUT.partial")
    p.add_argument("--json", action="store_true", help="print the final metrics as JSON")


@command("train", "train a 3DGS scene from a capture", _train_args)
def _train(args) -> int:
    from engine import jobs
    from engine.train import TrainConfig, train_job
    from engine.train.trainer import partial_dir

    iterations = args.iterations if args.iterations is not None else TRAIN.iterations(args.device)
    max_side = args.max_side if args.max_side is not None else TRAIN.max_side(args.device)
    cfg = TrainConfig(iterations=iterations, max_side=max_side or None, device=args.device, seed=args.seed,
                      strategy=args.strategy, cap_max=args.cap_max)  # fmt: skip
    if args.init_points is not None:
        if args.init_points < 1:
            raise InputError(None, "--init-points must be positive")
        cfg.init_points = args.init_points
    cfg = cfg.validate().for_iterations(iterations)
    init = load_scene(args.init, args) if args.init else None
    try:
        result = jobs.run(train_job(args.capture, args.output, cfg, resume=args.resume, init_scene=init), desc="train")
    except KeyboardInterrupt:
        print(f"splatlab: interrupted; continue with --resume (checkpoint in {partial_dir(args.output)})", file=sys.stderr)
        return 130
    m = result.metrics
    if args.json:
        print_json({k: v for k, v in m.items() if k != "psnr_per_view"} | {"output": result.out_dir})
    else:
        print(f"test PSNR {m['psnr']:.2f} dB  SSIM {m['ssim']:.4f}  {m['num_gaussians']:,} Gaussians  "
              f"{m['seconds']:.0f} s  -> {result.out_dir}")  # fmt: skip
    return EXIT_OK


# ---------------------------------------------------------------------------- compression
def _compress_args(p):
    p.add_argument("scene")
    p.add_argument("-o", "--output", required=True, help="the .smol file to write")
    p.add_argument("--codec", default="ladder", help="codec (default: ladder)")
    p.add_argument("--level", type=int, default=3, help="ladder level 1 (near-lossless) to 8 (smallest); default 3")
    p.add_argument("--capture", help="capture folder (the smol codec trains from its images)")
    p.add_argument("--iterations", type=int, help="smol codec: " + SMOL.help())
    p.add_argument("--max-side", type=int, help="smol codec: downsample the capture's images "
                   f"(default {SMOL.cpu_max_side} px on the CPU, full size on CUDA; 0: full size)")  # fmt: skip
    p.add_argument("--max-splats", type=int, help="smol codec: splat budget reached by compaction (default: none)")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--json", action="store_true")
    _add_drop_invalid(p)


def _compress_smol(args, scene) -> dict:
    from engine import jobs
    from engine.codec.smol.job import compress_smol_job
    from engine.codec.smol.train import SmolConfig

    if not args.capture:
        raise InputError(None, "--codec smol trains from images: give --capture DIR")
    iterations = args.iterations if args.iterations is not None else SMOL.iterations(args.device)
    max_side = args.max_side if args.max_side is not None else SMOL.max_side(args.device)
    cfg = SmolConfig(max_side=max_side or None, device=args.device, max_splats=args.max_splats)
    cfg = cfg.for_iterations(iterations).validate()
    summary = jobs.run(compress_smol_job(scene, args.capture, args.output, cfg), desc="smol")
    summary["input_bytes"] = os.path.getsize(args.scene)
    return summary


@command("compress", "compress a scene into a .smol file", _compress_args)
def _compress(args) -> int:
    import time

    from engine.codec import CODECS, codec_module
    from engine.io.atomic import atomic_write_bytes, check_writable

    if not args.output.lower().endswith(".smol"):
        raise InputError(args.output, "the output of compress must be a .smol file")
    if args.codec not in CODECS:
        raise InputError(None, f"unknown codec {args.codec!r} (known: {', '.join(CODECS)})")
    check_writable(args.output)
    scene = load_scene(args.scene, args)
    if args.codec == "smol":
        summary = _compress_smol(args, scene)
        if args.json:
            print_json(summary)
        else:
            print(f"wrote {args.output}: {summary['bytes']:,} bytes, {summary['count']:,} splats, "
                  f"{summary['input_bytes'] / summary['bytes']:.1f}x smaller than {os.path.basename(args.scene)}; "
                  f"test PSNR {summary['psnr']:.2f} dB (SH bake for the viewport: {summary['psnr_sh_bake']:.2f} dB)",
                  file=sys.stderr)  # fmt: skip
        return EXIT_OK
    t = time.perf_counter()
    data = codec_module(args.codec).encode(scene, args.level)
    seconds = time.perf_counter() - t
    atomic_write_bytes(args.output, data)
    summary = {"output": args.output, "codec": args.codec, "level": args.level, "bytes": len(data),
               "bits_per_gaussian": len(data) * 8 / max(scene.count, 1), "input_bytes": os.path.getsize(args.scene),
               "seconds": seconds}  # fmt: skip
    if args.json:
        print_json(summary)
    else:
        print(f"wrote {args.output}: {len(data):,} bytes ({summary['bits_per_gaussian']:.1f} bits per Gaussian, "
              f"{summary['input_bytes'] / len(data):.1f}x smaller than {os.path.basename(args.scene)}) in {seconds:.1f} s",
              file=sys.stderr)  # fmt: skip
    return EXIT_OK


def _decompress_args(p):
    p.add_argument("input", help="a .smol file")
    p.add_argument("-o", "--output", required=True, help="output scene (.ply .spz .compressed.ply .splat)")


@command("decompress", "decode a .smol file into another scene format", _decompress_args)
def _decompress(args) -> int:
    if not args.input.lower().endswith(".smol"):
        raise InputError(args.input, "decompress reads .smol files (use convert for other formats)")
    return _convert(argparse.Namespace(input=args.input, output=args.output, sh_degree=None, spz_version=4,
                                       drop_invalid=False))  # fmt: skip


def _rd_args(p):
    p.add_argument("scene")
    p.add_argument("-o", "--output", required=True, help="RD JSON to write")
    p.add_argument("--capture", help="measure against the capture's test images instead of orbit renders")
    p.add_argument("--max-side", type=int, help="with --capture: downsample its images")
    p.add_argument("--levels", default="1-8", help="ladder levels, e.g. 1-8 or 2,5,8")
    p.add_argument("--no-baselines", action="store_true", help="only the ladder")
    p.add_argument("--views", type=int, default=8)
    p.add_argument("--size", type=int, default=512)


def _parse_levels(text: str) -> list[int]:
    try:
        if "-" in text:
            a, b = (int(v) for v in text.split("-"))
            levels = list(range(a, b + 1))
        else:
            levels = [int(v) for v in text.split(",")]
    except ValueError:
        raise InputError(None, f"--levels {text!r} is not like 1-8 or 2,5,8") from None
    if not levels or not all(1 <= v <= 8 for v in levels):
        raise InputError(None, f"--levels {text!r}: levels are 1 to 8")
    return levels


@command("rd", "rate-distortion sweep over codecs and levels (JSON)", _rd_args)
def _rd(args) -> int:
    import json

    from engine import jobs
    from engine.io.atomic import atomic_write_text, check_writable
    from engine.rd import BASELINES, rd_sweep

    levels = _parse_levels(args.levels)
    check_writable(args.output)
    scene = load_scene(args.scene, args)
    capture = None
    if args.capture:
        from engine.io.captures import load_capture

        capture = load_capture(args.capture, max_side=args.max_side)
    job = rd_sweep(scene, capture, levels, () if args.no_baselines else BASELINES, args.views, args.size,
                   scene_path=args.scene)  # fmt: skip
    result = jobs.run(job, desc="rd")
    atomic_write_text(args.output, json.dumps(result, indent=2) + "\n")
    for curve in result["curves"]:
        for p in curve["points"]:
            name = curve["label"] + (f" {p['level']}" if p["level"] is not None else "")
            print(f"{name:<34} {p['ratio']:6.1f}x  {p['bits_per_gaussian']:7.1f} bits/G  PSNR {p['psnr']:6.2f}  "
                  f"SSIM {p['ssim']:.4f}  enc {p['encode_s']:.2f}s dec {p['decode_s']:.2f}s", file=sys.stderr)  # fmt: skip
    print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


# ---------------------------------------------------------------------------- image (SmartSplat)
def _image_args(p):
    sub = p.add_subparsers(dest="image_command", metavar="{compress,decompress}", parser_class=_Parser)
    sub.required = True
    c = sub.add_parser("compress", help="compress an image into a .sgi file (2D Gaussians)",
                       description="compress an image into a .sgi file (SmartSplat 2D Gaussians)")  # fmt: skip
    c.add_argument("input", help="the image (PNG, JPEG, WebP, ...)")
    c.add_argument("-o", "--output", required=True, help="the .sgi file to write")
    rate = c.add_mutually_exclusive_group(required=True)
    rate.add_argument("--bpp", type=float, help="target bits per pixel (the file's true size)")
    rate.add_argument("--ratio", type=float, help="target compression ratio against 24-bit RGB (bpp = 24 / ratio)")
    c.add_argument("--iterations", type=int, help=IMAGE.help("training steps per tile"))
    c.add_argument("--tile-size", type=int, help="largest tile side in pixels (default 1024)")
    c.add_argument("--device", choices=DEVICES, default="auto")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--json", action="store_true", help="print the result as one JSON object")
    d = sub.add_parser("decompress", help="decode a .sgi file to PNG", description="decode a .sgi file to PNG")
    d.add_argument("input", help="a .sgi file")
    d.add_argument("-o", "--output", required=True, help="the PNG to write")
    d.add_argument("--device", choices=DEVICES, default="cpu")
    for sp in (c, d):
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")


@command("image", "compress images with 2D Gaussians (.sgi): image compress | image decompress", _image_args)
def _image(args) -> int:
    return _image_compress(args) if args.image_command == "compress" else _image_decompress(args)


def _image_compress(args) -> int:
    from engine import jobs
    from engine.image import TrainConfig, compress_job, load_image, parse_rate
    from engine.io.atomic import check_writable

    if not args.output.lower().endswith(".sgi"):
        raise InputError(args.output, "the output of image compress must be a .sgi file")
    check_writable(args.output)
    bpp = parse_rate(args.bpp, args.ratio)
    extra = {"tile_size": args.tile_size} if args.tile_size is not None else {}
    cfg = TrainConfig(bpp=bpp, iterations=args.iterations, device=args.device, seed=args.seed, **extra).resolved()
    image = load_image(args.input)
    result = jobs.run(compress_job(image, cfg, args.output, source=args.input), desc="image compress")
    summary = result.summary() | {"input": args.input}
    if args.json:
        print_json(summary)
    else:
        ms = f", MS-SSIM {result.ms_ssim:.4f}" if result.ms_ssim is not None else ""
        print(f"wrote {args.output}: {result.bytes:,} bytes = {result.bpp:.4f} bpp (target {bpp:g}), "
              f"{result.gaussians:,} Gaussians in {result.tiles} tile(s); PSNR {result.psnr:.2f} dB{ms}; "
              f"{result.seconds:.0f} s", file=sys.stderr)  # fmt: skip
    return EXIT_OK


def _image_decompress(args) -> int:
    from engine import jobs
    from engine.image import decompress_job
    from engine.io.atomic import check_writable

    if not args.output.lower().endswith(".png"):
        raise InputError(args.output, "the output of image decompress must be a .png file")
    check_writable(args.output)
    if not os.path.isfile(args.input):
        raise InputError(args.input, "no such file" if not os.path.exists(args.input) else "not a file")
    image = jobs.run(decompress_job(args.input, args.output, device=args.device), desc="image decompress")
    print(f"wrote {args.output} ({image.shape[1]}x{image.shape[0]})", file=sys.stderr)
    return EXIT_OK


def _image_info(args) -> int:
    from engine.image import codec
    from engine.io.atomic import read_bytes

    info = codec.info(read_bytes(args.file), args.file) | {"path": args.file, "format": "sgi"}
    if args.json:
        print_json(info)
    else:
        for k, v in (("file", info["path"]), ("format", ".sgi (SmartSplat 2D Gaussians)"),
                     ("size", f"{info['width']}x{info['height']}"), ("bytes", f"{info['bytes']:,}"),
                     ("bpp", f"{info['bpp']:.4f}"), ("Gaussians", f"{info['gaussians']:,} in {info['tiles']} tile(s)")):  # fmt: skip
            print(f"{k:<10} {v}")
    return EXIT_OK


# ---------------------------------------------------------------------------- gui
def _gui_args(p):
    p.add_argument("file", nargs="?", help="scene to open (default: the bundled sample scene)")
    p.add_argument("--camera", help="camera JSON to start from")
    p.add_argument("--up", help="the scene's up axis: +x -x +y -y +z -z (default: chosen or remembered)")
    p.add_argument("--size", help="viewport size WxH")
    p.add_argument("--screenshot", help="save the viewport to this PNG and exit")


@command("gui", "open the studio (the default with no subcommand)", _gui_args)
def _gui(args) -> int:
    import importlib

    if args.size:
        parse_size(args.size)
    if args.up:
        from engine.framing import parse_up

        parse_up(args.up)
    if not _has_display() and not args.screenshot:
        return _no_display_demo(args)
    return importlib.import_module("app.main").run(args)


def _has_display() -> bool:
    if sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _no_display_demo(args) -> int:
    """No display: show what the studio would open (info plus a rendered PNG of it)."""
    from engine.resources import sample_scene_path

    path = args.file or str(sample_scene_path())
    print("splatlab: no display found; showing the scene's info and rendering a PNG instead", file=sys.stderr)
    out = "splatlab-sample.png" if not args.file else os.path.basename(path).split(".")[0] + ".png"
    rc = main(["info", path])
    if rc != EXIT_OK:
        return rc
    render_args = ["render", path, "-o", out] + (["--camera", args.camera] if args.camera else [])
    render_args += ["--up", args.up] if args.up and not args.camera else []
    if args.size:
        w, h = parse_size(args.size)
        render_args += ["--width", str(w), "--height", str(h)]
    return main(render_args)


# ---------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    import engine

    parser = _Parser(prog="splatlab", description="SplatLab: a studio for compact Gaussian splats.")
    parser.add_argument("--version", action="version", version=f"splatlab {engine.__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    for name, (help_text, add_args, _run) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")
        add_args(sp)
    return parser


def _join_signed_values(argv: list[str]) -> list[str]:
    """``--up -z`` -> ``--up=-z``: argparse would take the axis for an option."""
    out: list[str] = []
    for i, a in enumerate(argv):
        if i and argv[i - 1] == "--up" and a.startswith("-") and len(a) == 2:
            out[-1] = f"--up={a}"
        else:
            out.append(a)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    argv = _join_signed_values(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help", "--version", "--debug")):
        argv = ["gui"] + argv  # no subcommand: open the studio
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(argv + ["gui"])
    debug = getattr(args, "debug", False)
    try:
        return COMMANDS[args.command][2](args)
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


if __name__ == "__main__":
    sys.exit(main())
