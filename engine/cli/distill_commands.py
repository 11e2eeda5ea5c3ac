"""``splatlab distill``: a small student under several teachers (Distilled-3DGS, engine.distill)."""

from __future__ import annotations

import sys

from engine.cli.common import EXIT_OK, Command, print_json
from engine.device import DEVICES, DISTILL
from engine.distill.config import DistillConfig


def _distill_args(p):
    p.add_argument("capture", help="capture folder (NeRF-synthetic, instant-ngp or COLMAP)")
    p.add_argument("-o", "--output", required=True, help="output folder (written when the run completes)")
    p.add_argument("--teachers", help="trained teachers, comma-separated PLY files or `splatlab train` folders "
                   "(the first is the standard one the structural loss follows); default: train standard, "
                   "noise and dropout teachers here")  # fmt: skip
    p.add_argument("--keep", type=float, default=0.15, help="the student keeps at most this share of the standard "
                   "teacher's Gaussians (default 0.15)")  # fmt: skip
    p.add_argument("--iterations", type=int, help=DISTILL.help("steps of each teacher and of the student"))
    p.add_argument("--max-side", type=int, help="downsample images so their longest side is at most PX "
                   f"(default {DISTILL.cpu_max_side} on the CPU, full size on CUDA; 0: full size)")  # fmt: skip
    p.add_argument("--device", choices=DEVICES, default="auto", help="auto: CUDA when there is a GPU, else the CPU")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init-points", type=int, help="random initial points when the capture has no SfM points")
    p.add_argument("--l1-target", choices=("gt", "teacher"), default="gt",
                   help="the distillation L1 compares the student with the photo (gt, default) or the teacher mean")  # fmt: skip
    p.add_argument("--no-structure", action="store_true", help="leave out the structural loss")
    p.add_argument("--pseudo-views", type=int, default=DistillConfig.pseudo_views,
                   help="views between the training cameras where the student also matches the teacher mean "
                   f"(default {DistillConfig.pseudo_views}; 0: the training views only, as the paper)")  # fmt: skip
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from OUTPUT.partial")
    p.add_argument("--json", action="store_true", help="print metrics.json's summary as JSON")


def _distill(args) -> int:
    from engine import jobs
    from engine.distill import DistillConfig, distill_job
    from engine.distill.job import teacher_files
    from engine.train.trainer import partial_dir

    cfg = DistillConfig.from_options(iterations=args.iterations, max_side=args.max_side, device=args.device,
                                     seed=args.seed, keep=args.keep, init_points=args.init_points,
                                     l1_target=args.l1_target, structure_weight=0.0 if args.no_structure else 1.0,
                                     pseudo_views=args.pseudo_views)  # fmt: skip
    given = [t.strip() for t in (args.teachers or "").split(",") if t.strip()]
    try:
        result = jobs.run(distill_job(args.capture, args.output, cfg, teachers=teacher_files(given),
                                      resume=args.resume), desc="distill")  # fmt: skip
    except KeyboardInterrupt:
        print(f"splatlab: interrupted; continue with --resume (work kept in {partial_dir(args.output)})", file=sys.stderr)
        return 130
    models = result.metrics["models"]
    if args.json:
        print_json({"output": result.out_dir, "keep": cfg.keep, "keep_count": result.metrics["keep_count"],
                    "models": [{k: v for k, v in m.items() if not k.endswith("_per_view")} for m in models]})  # fmt: skip
        return EXIT_OK
    standard = models[0]
    for m in models:
        name = f"{m['role']} ({m['kind']})" if m["role"] == "teacher" else "student"
        print(f"{name:<20} {m['count']:>9,} Gaussians ({m['count'] / standard['count']:6.1%})  {m['bytes'] / 1e6:7.2f} MB  "
              f"PSNR {m['psnr']:.2f} dB  SSIM {m['ssim']:.4f}  {m['render_ms']:.0f} ms/frame", file=sys.stderr)  # fmt: skip
    print(f"wrote {result.out_dir}", file=sys.stderr)
    return EXIT_OK


COMMANDS = {
    "distill": Command("distil a small student from several teachers (Distilled-3DGS)", _distill_args, _distill),
}
