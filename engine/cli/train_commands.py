"""``splatlab train``: a 3DGS scene from a capture."""

from __future__ import annotations

import sys

from engine.cli.common import EXIT_OK, Command, load_scene, print_json
from engine.device import DEVICES, TRAIN


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
    p.add_argument("--sh-degree", type=int, default=3, choices=range(4), metavar="0-3",
                   help="spherical-harmonics degree of the colours (default 3)")  # fmt: skip
    p.add_argument("--init", help="start from this trained scene instead of points")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from OUTPUT.partial")
    p.add_argument("--json", action="store_true", help="print the final metrics as JSON")


def _train(args) -> int:
    from engine import jobs
    from engine.train import TrainConfig, train_job
    from engine.train.trainer import partial_dir

    cfg = TrainConfig.from_options(iterations=args.iterations, max_side=args.max_side, device=args.device,
                                   seed=args.seed, strategy=args.strategy, cap_max=args.cap_max,
                                   init_points=args.init_points, sh_degree=args.sh_degree)  # fmt: skip
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
        print(f"test PSNR {m['psnr']:.2f} dB  SSIM {m['ssim']:.4f}  {m['count']:,} Gaussians  "
              f"{m['seconds']:.0f} s  -> {result.out_dir}")  # fmt: skip
    return EXIT_OK


COMMANDS = {
    "train": Command("train a 3DGS scene from a capture", _train_args, _train),
}
