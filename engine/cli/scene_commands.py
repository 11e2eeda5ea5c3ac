"""``splatlab info | convert | render | eval``: one scene file in, facts, another file or an image out."""

from __future__ import annotations

import os
import sys

from engine.cli.common import EXIT_OK, Command, add_drop_invalid, load_scene, parse_color, print_json
from engine.cli.image_commands import image_info
from engine.errors import InputError


# ---------------------------------------------------------------------------- info
def _info_args(p):
    p.add_argument("file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_drop_invalid(p)


def _info(args) -> int:
    from engine.image.codec import is_sgi
    from engine.info import scene_info

    if is_sgi(args.file):  # an image coded with 2D Gaussians (splatlab image compress)
        return image_info(args)
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
    add_drop_invalid(p)


def convert(args) -> int:
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
    add_drop_invalid(p)


def _check_size(args) -> None:
    for name in ("width", "height"):
        v = getattr(args, name, None)
        if v is not None and not 0 < v <= 16384:
            raise InputError(None, f"--{name} {v} is out of range (1-16384)")


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
    add_drop_invalid(p)


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


COMMANDS = {
    "info": Command("count, SH degree, bounds, bytes per splat", _info_args, _info),
    "convert": Command("convert between .ply .splat .spz .compressed.ply .smol (by extension)", _convert_args, convert),
    "render": Command("render a view of a scene to PNG", _render_args, _render),
    "eval": Command("PSNR/SSIM against a reference scene (orbit views) or a capture (test views)", _eval_args, _eval),
}
