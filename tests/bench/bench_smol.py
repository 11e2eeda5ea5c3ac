"""Benchmark: Smol-GS against the 3DGS scene it starts from.

    .venv/bin/splatlab train ../shared/data/captures/lego_nerf_synthetic -o out/lego200 --max-side 200 --iterations 1500
    .venv/bin/python tests/bench/bench_smol.py --scene out/lego200/point_cloud.ply --max-side 200 --iterations 3000 --max-splats 18000

Runs the same job as ``splatlab compress SCENE --codec smol --capture DIR -o OUT.smol``, then
reports the file size, the ratio against the scene's PLY, test PSNR of the decoded file (exact
per-view heads, and the SH bake the viewport shows) against the scene's own test PSNR, bits per
splat, and training / encode / decode time. Target (issue): >= 100x smaller than the PLY at
<= 0.5 dB loss in test PSNR.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from engine import io, jobs  # noqa: E402
from engine.codec.smol.job import compress_smol_job  # noqa: E402
from engine.codec.smol.train import SmolConfig  # noqa: E402
from engine.evaluate import eval_against_capture  # noqa: E402
from engine.io.captures import load_capture  # noqa: E402

LEGO = REPO.parent / "shared" / "data" / "captures" / "lego_nerf_synthetic"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scene", default=str(REPO / "out" / "lego200" / "point_cloud.ply"))
    ap.add_argument("--capture", default=str(LEGO))
    ap.add_argument("--max-side", type=int, default=200)
    ap.add_argument("--iterations", type=int, default=3000)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--lambda-o-scale", type=float, default=1.0)
    ap.add_argument("--lambda-q", type=float, default=5e-4)
    ap.add_argument("--max-splats", type=int, default=18000)
    ap.add_argument("--out", default=str(REPO / "out" / "lego200.smol"))
    args = ap.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        capture = load_capture(args.capture, max_side=args.max_side)
    scene = io.load(args.scene)
    ply = os.path.getsize(args.scene)
    base = jobs.run(eval_against_capture(scene, capture), show=False)
    cfg = SmolConfig(max_side=args.max_side, hidden=args.hidden, lambda_o_scale=args.lambda_o_scale,
                     lambda_q=args.lambda_q, max_splats=args.max_splats).for_iterations(args.iterations)  # fmt: skip
    last = {}

    def show(p):
        if p.metrics and p.step % 250 == 0:
            last.update(p.metrics)
            est = p.metrics.get("estimated_bits_per_gaussian")
            extra = f" rate {est:.1f} b/splat (estimate)" if est is not None else ""
            print(f"step {p.step:>6} {p.message:<12} loss {p.metrics['loss']:.4f} train PSNR {p.metrics['psnr']:.2f} "
                  f"{p.metrics['count']:>7,} splats{extra}  {p.metrics['elapsed']:.0f} s", flush=True)  # fmt: skip

    s = jobs.run(compress_smol_job(scene, capture, args.out, cfg), show=False, on_progress=show)
    s.update(scene=args.scene, scene_ply_bytes=ply, ratio=ply / s["bytes"], scene_psnr=base["psnr"],
             psnr_loss=base["psnr"] - s["psnr"], scene_count=scene.count)  # fmt: skip
    print(f"\n3DGS scene: {scene.count:,} splats, {ply:,} bytes, test PSNR {base['psnr']:.2f} dB")
    print(f"Smol-GS:    {s['count']:,} splats, {s['bytes']:,} bytes ({s['ratio']:.1f}x smaller, "
          f"{s['bits_per_gaussian']:.1f} bits/splat), test PSNR {s['psnr']:.2f} dB (loss {s['psnr_loss']:.2f} dB; "
          f"SH bake shown in the viewport: {s['psnr_sh_bake']:.2f} dB)")  # fmt: skip
    print(f"training {s['train_s']:.0f} s, encode {s['encode_s']:.2f} s, decode {s['decode_s']:.2f} s")
    print(json.dumps(s))


if __name__ == "__main__":
    main()
