"""``splatlab compress | decompress | rd``: .smol files and rate-distortion sweeps."""

from __future__ import annotations

import argparse
import os
import sys

from engine.cli.common import EXIT_OK, Command, add_drop_invalid, load_scene, print_json
from engine.cli.scene_commands import convert
from engine.device import DEVICES, SMOL
from engine.errors import InputError


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
    add_drop_invalid(p)


def _compress_smol(args, scene) -> dict:
    from engine import jobs
    from engine.codec.smol.job import compress_smol_job
    from engine.codec.smol.train import SmolConfig

    if not args.capture:
        raise InputError(None, "--codec smol trains from images: give --capture DIR")
    cfg = SmolConfig.from_options(iterations=args.iterations, max_side=args.max_side, device=args.device,
                                  max_splats=args.max_splats)  # fmt: skip
    summary = jobs.run(compress_smol_job(scene, args.capture, args.output, cfg), desc="smol")
    summary["input_bytes"] = os.path.getsize(args.scene)
    return summary


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


def _decompress(args) -> int:
    if not args.input.lower().endswith(".smol"):
        raise InputError(args.input, "decompress reads .smol files (use convert for other formats)")
    return convert(argparse.Namespace(input=args.input, output=args.output, sh_degree=None, spz_version=4,
                                       drop_invalid=False))  # fmt: skip


def _rd_args(p):
    p.add_argument("scene")
    p.add_argument("-o", "--output", required=True, help="RD JSON to write")
    p.add_argument("--capture", help="measure against the capture's test images instead of orbit renders")
    p.add_argument("--max-side", type=int, help="with --capture: downsample its images")
    p.add_argument("--levels", default="1-8", help="ladder levels, e.g. 1-8 or 2,5,8")
    p.add_argument("--codecs", help="levelled codecs to sweep, comma-separated: ladder, feedforward "
                   "(default: both when the feed-forward weights are installed, else the ladder)")  # fmt: skip
    p.add_argument("--no-baselines", action="store_true", help="no SPZ / compressed.ply / float16 / SOG points")
    p.add_argument("--views", type=int, default=8)
    p.add_argument("--size", type=int, default=512)


def _rd(args) -> int:
    from engine import jobs
    from engine.codec import parse_levels
    from engine.io.atomic import check_writable
    from engine.rd import BASELINES, LEVELLED, bd_lines, default_codecs, rd_sweep, save_rd

    levels = parse_levels(args.levels)
    codecs = tuple(c.strip() for c in args.codecs.split(",")) if args.codecs else default_codecs()
    if not codecs or any(c not in LEVELLED for c in codecs):
        raise InputError(None, f"--codecs {args.codecs!r}: choose from {', '.join(LEVELLED)}")
    if "ladder" not in codecs:
        codecs = ("ladder", *codecs)  # BD-rates are against the ladder
    check_writable(args.output)
    scene = load_scene(args.scene, args)
    capture = None
    if args.capture:
        from engine.io.captures import load_capture

        capture = load_capture(args.capture, max_side=args.max_side)
    job = rd_sweep(scene, capture, levels, () if args.no_baselines else BASELINES, args.views, args.size,
                   scene_path=args.scene, codecs=codecs)  # fmt: skip
    result = jobs.run(job, desc="rd")
    save_rd(args.output, result)
    for curve in result["curves"]:
        for p in curve["points"]:
            name = curve["label"] + (f" {p['level']}" if p["level"] is not None else "")
            print(f"{name:<34} {p['ratio']:6.1f}x  {p['bits_per_gaussian']:7.1f} bits/G  PSNR {p['psnr']:6.2f}  "
                  f"SSIM {p['ssim']:.4f}  enc {p['encode_s']:.2f}s dec {p['decode_s']:.2f}s", file=sys.stderr)  # fmt: skip
    print("\n".join(["", *bd_lines(result)]), file=sys.stderr)
    print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_OK


# ---------------------------------------------------------------------------- codec training
def _default_data_dir() -> str:
    """The shared data folder: ../shared/data beside the checkout ($SPLATLAB_SHARED/data when set)."""
    from engine.resources import resources_dir

    return os.path.join(os.environ.get("SPLATLAB_SHARED") or str(resources_dir().parent.parent / "shared"), "data")


def _codec_train_args(p):
    from engine.codec.feedforward import weights

    p.add_argument("corpus", nargs="?", help="corpus manifest (default: the shipped resources/codecs/corpus_v1.json)")
    p.add_argument("-o", "--output", required=True, help=f"weights file to write (the shipped one is resources/codecs/{weights.FILE}); "
                   "its manifest (.json) is written beside it")  # fmt: skip
    p.add_argument("--data", help="the shared data folder the corpus refers to (default ../shared/data; $SPLATLAB_SHARED/data when set)")
    p.add_argument("--build-dir", default=os.path.join("out", "codec_corpus"),
                   help="where the corpus scenes made by splatlab train go (kept: a second run reuses them)")  # fmt: skip
    p.add_argument("--steps", type=int, default=4000, help="optimiser steps (default 4000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--windows-per-step", type=int, default=2)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--build-only", action="store_true", help="only make the corpus scenes (train and eval) and stop")


def _codec_train(args) -> int:
    from engine import jobs
    from engine.codec.feedforward.corpus import corpus_job
    from engine.codec.feedforward.train import codec_train_job
    from engine.io.atomic import check_writable
    from engine.resources import resource_path

    corpus = args.corpus or str(resource_path("codecs", "corpus_v1.json"))
    data = args.data or _default_data_dir()
    if args.steps < 1:
        raise InputError(None, f"--steps {args.steps} must be at least 1")
    check_writable(args.output)
    splits = ("train", "eval") if args.build_only else ("train",)
    built = jobs.run(corpus_job(corpus, data, args.build_dir, splits), desc="corpus")
    for r in built["records"]:
        print(f"{r['split']:<5} {r['name']:<28} {(r['sha256'] or 'not built')[:12]}  {r['command']}", file=sys.stderr)
    if args.build_only:
        return EXIT_OK
    names = [r["name"] for r in built["records"] if r["split"] == "train"]
    paths = [built["paths"][n] for n in names]
    job = codec_train_job(paths, args.output, steps=args.steps, seed=args.seed, windows_per_step=args.windows_per_step,
                          lr=args.lr, extra={"corpus": {"manifest": os.path.basename(corpus), "scenes": built["records"]}})  # fmt: skip
    result = jobs.run(job, desc="codec-train")
    print(f"RD loss {result['loss_start']:.1f} -> {result['loss_end']:.1f} on held-out windows in "
          f"{result['seconds']:.0f} s; wrote {args.output} and its manifest", file=sys.stderr)  # fmt: skip
    return EXIT_OK


COMMANDS = {
    "compress": Command("compress a scene into a .smol file", _compress_args, _compress),
    "decompress": Command("decode a .smol file into another scene format", _decompress_args, _decompress),
    "rd": Command("rate-distortion sweep over codecs and levels (JSON)", _rd_args, _rd),
    "codec-train": Command("train the feed-forward codec's networks on a corpus of scenes", _codec_train_args, _codec_train),
}
