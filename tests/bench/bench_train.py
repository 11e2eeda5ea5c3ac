"""Benchmark: 3DGS training quality against time on this machine.

    .venv/bin/python tests/bench/bench_train.py --capture lego --max-side 200 --iterations 1500
    .venv/bin/python tests/bench/bench_train.py --capture fox --max-side 270 --iterations 1500

Runs the same job as ``splatlab train CAPTURE -o OUT --max-side PX --iterations N`` and, at a
few points along the way, measures test-view PSNR, so the curve (wall-clock seconds -> PSNR) shows
when a target was reached. Issue target (CPU, 2 cores): lego at --max-side 200 reaches >= 25 dB
test PSNR within 15 minutes. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from engine import jobs  # noqa: E402
from engine.evaluate import eval_against_capture  # noqa: E402
from engine.io.captures import load_capture  # noqa: E402
from engine.train import TrainConfig, train_job  # noqa: E402

CAPTURES = {
    "lego": REPO.parent / "shared" / "data" / "captures" / "lego_nerf_synthetic",
    "fox": REPO.parent / "shared" / "data" / "captures" / "fox_instant_ngp",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--capture", default="lego", help="lego, fox, or a capture folder")
    ap.add_argument("--max-side", type=int, default=200)
    ap.add_argument("--iterations", type=int, default=1500)
    ap.add_argument("--strategy", default="default")
    ap.add_argument("--checks", type=int, default=6, help="test-PSNR measurements along the run")
    ap.add_argument("--target-db", type=float, default=25.0)
    args = ap.parse_args()
    path = str(CAPTURES.get(args.capture, args.capture))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        capture = load_capture(path, max_side=args.max_side)
    cfg = TrainConfig(iterations=args.iterations, max_side=args.max_side, strategy=args.strategy).validate()
    cfg = cfg.for_iterations(args.iterations)
    checks = {round(args.iterations * (i + 1) / args.checks) for i in range(args.checks)}
    curve = []
    eval_seconds = 0.0
    t0 = time.perf_counter()

    def on_progress(p):
        nonlocal eval_seconds
        if p.step not in checks or not p.metrics or p.preview is None:
            return
        checks.discard(p.step)
        t = time.perf_counter()
        r = jobs.run(eval_against_capture(p.preview, capture), show=False)
        eval_seconds += time.perf_counter() - t
        curve.append({"step": p.step, "wall_s": t - t0 - (eval_seconds - (time.perf_counter() - t)),
                      "train_s": p.metrics["elapsed"], "psnr": r["psnr"], "count": p.metrics["count"]})  # fmt: skip
        print(f"step {p.step:>6}  wall {curve[-1]['wall_s']:6.0f} s  test PSNR {r['psnr']:6.2f} dB  "
              f"{p.metrics['count']:>8,} Gaussians", flush=True)  # fmt: skip

    cfg.snapshot_seconds = 0.0  # a preview every step, so every check has a scene to measure
    with tempfile.TemporaryDirectory() as tmp:
        result = jobs.run(train_job(capture, os.path.join(tmp, "out"), cfg), show=False, on_progress=on_progress)
    wall = time.perf_counter() - t0 - eval_seconds
    m = result.metrics
    reached = next((c for c in sorted(curve, key=lambda c: c["step"]) if c["psnr"] >= args.target_db), None)
    print(f"{os.path.basename(path)} at max side {args.max_side}: {args.iterations} iterations, final test PSNR "
          f"{m['psnr']:.2f} dB, SSIM {m['ssim']:.4f}, {m['count']:,} Gaussians, training {m['seconds']:.0f} s, "
          f"wall (without the intermediate checks) {wall:.0f} s")  # fmt: skip
    if reached:
        print(f"reached {args.target_db} dB at step {reached['step']} after {reached['wall_s']:.0f} s (wall, from the start)")
    print(json.dumps({"capture": os.path.basename(path), "max_side": args.max_side, "iterations": args.iterations,
                      "strategy": args.strategy, "final": {k: v for k, v in m.items() if k != "psnr_per_view"},
                      "wall_s": wall, "curve": curve, "threads": torch.get_num_threads(),
                      "machine": f"{platform.machine()}, {os.cpu_count()} cores"}))  # fmt: skip


if __name__ == "__main__":
    main()
