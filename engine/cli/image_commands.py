"""``splatlab image compress | image decompress``: images as 2D Gaussians (SmartSplat, .sgi).
``image_info`` is what ``splatlab info`` prints for a .sgi file."""

from __future__ import annotations

import argparse
import os
import sys

from engine.cli.common import EXIT_OK, Command, Parser, print_json
from engine.device import DEVICES, IMAGE
from engine.errors import InputError


def _image_args(p):
    sub = p.add_subparsers(dest="image_command", metavar="{compress,decompress}", parser_class=Parser)
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
              f"{result.count:,} Gaussians in {result.tiles} tile(s); PSNR {result.psnr:.2f} dB{ms}; "
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


def image_info(args) -> int:
    from engine.image import codec
    from engine.io.atomic import read_bytes

    info = codec.info(read_bytes(args.file), args.file) | {"path": args.file, "format": "sgi"}
    if args.json:
        print_json(info)
    else:
        for k, v in (("file", info["path"]), ("format", ".sgi (SmartSplat 2D Gaussians)"),
                     ("size", f"{info['width']}x{info['height']}"), ("bytes", f"{info['bytes']:,}"),
                     ("bpp", f"{info['bpp']:.4f}"), ("Gaussians", f"{info['count']:,} in {info['tiles']} tile(s)")):  # fmt: skip
            print(f"{k:<10} {v}")
    return EXIT_OK


COMMANDS = {
    "image": Command("compress images with 2D Gaussians (.sgi): image compress | image decompress", _image_args, _image),
}
