"""``splatlab batch JOB INPUT... -o OUTDIR [the job's options]``: many inputs, one job, on Ray
(engine.batch). Jobs: convert, compress, rd, eval, image compress, train, distill."""

from __future__ import annotations

import argparse
import sys

from engine.cli.common import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, Command, Parser, add_drop_invalid, print_json
from engine.device import DEVICES
from engine.errors import InputError


def _common(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help=f"{what}: files, globs (quote them), folders (searched recursively) or @list.txt (one per line)")  # fmt: skip
    p.add_argument("-o", "--output", required=True, help="output folder (holds the outputs, batch.json and report.html)")
    g = p.add_argument_group("where it runs (Ray)")
    g.add_argument("--address", help="HOST:PORT of a Ray cluster started with `ray start --head` "
                   "(default: a local Ray instance for this run, on 127.0.0.1)")  # fmt: skip
    g.add_argument("--num-cpus", type=int, help="CPUs of the local instance (default: all)")
    g.add_argument("--cpus-per-task", type=int, default=1, help="CPUs (and torch threads) per item (default 1)")
    g.add_argument("--gpus-per-task", type=float, help="GPUs per item (default: 1 for image, train and distill "
                   "where the cluster has GPUs, else 0)")  # fmt: skip
    g.add_argument("--memory-per-task", type=float, metavar="GB",
                   help="memory each item reserves (default: an estimate, for large items only)")  # fmt: skip
    g.add_argument("--max-retries", type=int, default=2, help="more attempts for an item whose worker dies (default 2)")
    p.add_argument("--force", action="store_true", help="run items done by an earlier run too")
    p.add_argument("--json", action="store_true", help="print the summary (with every item's record) as one JSON object")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks on errors")


def _views(p) -> None:
    p.add_argument("--views", type=int, default=8, help="orbit views (default 8)")
    p.add_argument("--size", type=int, default=512, help="orbit view size in pixels (default 512)")


def _device(p) -> None:
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iterations", type=int, help="as the single command (default per device)")


def _batch_args(p) -> None:
    sub = p.add_subparsers(dest="job", metavar="JOB", parser_class=Parser)
    sub.required = True

    def job(name: str, help: str, what: str = "scene files"):
        sp = sub.add_parser(name, help=help, description=help)
        _common(sp, what)
        return sp

    c = job("convert", "convert scenes to another format (as splatlab convert)")
    c.add_argument("--to", required=True, help="output format: ply, spz, compressed.ply, splat, smol")
    c.add_argument("--sh-degree", type=int, choices=range(4), help="keep SH bands up to this degree")
    c.add_argument("--spz-version", type=int, choices=(3, 4), default=4)
    add_drop_invalid(c)
    c = job("compress", "compress scenes into .smol files, one per level (as splatlab compress)")
    c.add_argument("--codec", default="ladder", help="ladder (default) or feedforward")
    lv = c.add_mutually_exclusive_group()
    lv.add_argument("--level", type=int, help="one level, 1 (near-lossless) to 8 (smallest); default 3")
    lv.add_argument("--levels", help="several levels, e.g. 1-8 or 2,5,8 (one output per level)")
    c.add_argument("--psnr", action="store_true", help="also measure each output's PSNR/SSIM against its input (orbit views)")
    _views(c)
    add_drop_invalid(c)
    c = job("rd", "rate-distortion sweeps, an RD JSON per scene (as splatlab rd)")
    c.add_argument("--levels", default="1-8", help="ladder levels, e.g. 1-8 or 2,5,8")
    c.add_argument("--codecs", help="levelled codecs, comma-separated (default as splatlab rd)")
    c.add_argument("--no-baselines", action="store_true", help="no SPZ / compressed.ply / float16 / SOG points")
    _views(c)
    c = job("eval", "PSNR/SSIM of each scene against one reference or capture (as splatlab eval)")
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--reference", help="reference scene: compare renders at its orbit views")
    src.add_argument("--capture", help="capture folder: compare with its held-out test images")
    c.add_argument("--max-side", type=int, help="with --capture: downsample its images")
    _views(c)
    add_drop_invalid(c)
    image = sub.add_parser("image", help="images as 2D Gaussians: batch image compress IMAGE... -o OUTDIR",
                           description="images as 2D Gaussians (SmartSplat)")  # fmt: skip
    isub = image.add_subparsers(dest="image_job", metavar="compress", parser_class=Parser)
    isub.required = True
    c = isub.add_parser("compress", help="compress images into .sgi files (as splatlab image compress)",
                        description="compress images into .sgi files (as splatlab image compress)")  # fmt: skip
    _common(c, "images")
    rate = c.add_mutually_exclusive_group(required=True)
    rate.add_argument("--bpp", type=float, help="target bits per pixel")
    rate.add_argument("--ratio", type=float, help="target ratio against 24-bit RGB")
    c.add_argument("--tile-size", type=int, help="largest tile side in pixels (default 1024)")
    _device(c)
    c = job("train", "train 3DGS scenes from capture folders (as splatlab train)", "capture folders (or folders of them)")
    c.add_argument("--max-side", type=int, help="downsample images (default per device; 0: full size)")
    c.add_argument("--strategy", choices=("default", "mcmc"), default="default")
    c.add_argument("--cap-max", type=int, default=1_000_000, help="MCMC: the Gaussian budget")
    c.add_argument("--init-points", type=int, help="random initial points when a capture has no SfM points")
    c.add_argument("--sh-degree", type=int, default=3, choices=range(4), metavar="0-3")
    _device(c)
    c = job("distill", "distil small students from capture folders (as splatlab distill)", "capture folders (or folders of them)")
    c.add_argument("--keep", type=float, default=0.15, help="the student's share of the standard teacher's Gaussians")
    c.add_argument("--max-side", type=int, help="downsample images (default per device; 0: full size)")
    c.add_argument("--init-points", type=int, help="random initial points when a capture has no SfM points")
    c.add_argument("--l1-target", choices=("gt", "teacher"), default="gt")
    c.add_argument("--no-structure", action="store_true", help="leave out the structural loss")
    c.add_argument("--pseudo-views", type=int, help="views between training cameras matched to the teacher mean")
    _device(c)


def options_from_args(args: argparse.Namespace) -> dict:
    """The job's options (engine.batch.jobs defaults' names) from the parsed arguments."""
    from engine.batch import JOBS
    from engine.codec import parse_levels

    job = args.job
    given = {k: getattr(args, k) for k in JOBS[job].defaults if hasattr(args, k)}
    if job == "compress":
        given["levels"] = parse_levels(args.levels) if args.levels else [args.level if args.level is not None else 3]
    elif job == "rd":
        given["levels"] = parse_levels(args.levels)
        given["codecs"] = [c.strip() for c in args.codecs.split(",") if c.strip()] if args.codecs else None
        given["baselines"] = not args.no_baselines
    elif job == "distill":
        given["structure_weight"] = 0.0 if args.no_structure else 1.0
    return given


def settings_from_args(args: argparse.Namespace):
    from engine.batch import BatchSettings, ClusterSettings

    if args.address and args.num_cpus is not None:
        raise InputError(None, "--num-cpus sizes the local Ray instance; a cluster given by --address has its own")
    for name in ("num_cpus", "cpus_per_task"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise InputError(None, f"--{name.replace('_', '-')} {v} must be at least 1")
    if args.max_retries < 0:
        raise InputError(None, f"--max-retries {args.max_retries} must be 0 or more")
    if (args.gpus_per_task or 0) < 0 or (args.memory_per_task is not None and args.memory_per_task <= 0):
        raise InputError(None, "--gpus-per-task must be 0 or more and --memory-per-task more than 0")
    return BatchSettings(ClusterSettings(address=args.address, num_cpus=args.num_cpus), cpus_per_task=args.cpus_per_task,
                         gpus_per_task=args.gpus_per_task, memory_per_task_gb=args.memory_per_task,
                         max_retries=args.max_retries, force=args.force)  # fmt: skip


def exit_code(counts: dict) -> int:
    """2 when any item had bad input, 1 when any failed or did not run, else 0."""
    if counts["bad_input"]:
        return EXIT_BAD_INPUT
    return EXIT_FAILURE if counts["failed"] or counts["pending"] else EXIT_OK


def _batch(args) -> int:
    from engine import jobs
    from engine.batch import batch_job
    from engine.batch.report import table_lines

    options, settings = options_from_args(args), settings_from_args(args)
    result = jobs.run(batch_job(args.job, args.inputs, args.output, options, settings), desc=f"batch {args.job}")
    if args.json:
        print_json(result)
    else:
        print("\n".join(table_lines(result)))
        print(f"wrote {result['manifest']} and {result['report']}", file=sys.stderr)
    return exit_code(result["counts"])


COMMANDS = {
    "batch": Command("run a job over many inputs on Ray (resumable): convert, compress, rd, eval, image compress, "
                     "train, distill", _batch_args, _batch),  # fmt: skip
}
