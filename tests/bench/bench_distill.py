"""Benchmark: Distilled-3DGS on a capture, with its ablation, all rows from one run.

    .venv/bin/python tests/bench/bench_distill.py [--capture lego|fox|DIR] [--max-side 200]
        [--iterations 1500] [--keep 0.15] [--out out/bench_distill] [--variants NAME ...]

1. ``splatlab distill`` with its defaults: trains the standard, noise and dropout teachers
   (each the job of ``splatlab train CAPTURE --max-side M --iterations N``, plus the noise or
   dropout events) and the full student.
2. Student variants at the same budget (keep x the standard teacher's count), each reusing those
   teachers: pruning alone (no teachers, no structural loss, no pseudo-views), each teacher
   alone, all three without the structural loss, all three on the training views only (the
   paper's scheme: no pseudo-views), and the full method with the L1 term against the teacher
   mean instead of the photo (the paper-versus-code question, ALGORITHMS.md §3.6).
3. Per model: Gaussians, PLY bytes, test PSNR / SSIM (the capture's held-out views), engine
   render time per frame (CPU, median) and GL viewport draw time (EGL offscreen at the capture's
   image size, median of 5 frames after a warm-up; llvmpipe on the CPU machine).

Writes OUT/<capture>.json and prints a table with each row's PSNR against the standard teacher.
A row whose output folder is complete is read back, not run again (so an interrupted benchmark
continues where it stopped; delete OUT/<capture>_<px>px_<n>it to start over).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from engine import io, jobs  # noqa: E402
from engine.distill import DistillConfig, distill_job  # noqa: E402
from engine.io.captures import load_capture  # noqa: E402

CAPTURES = {"lego": "captures/lego_nerf_synthetic", "fox": "captures/fox_instant_ngp"}
DATA = Path(os.environ.get("SPLATLAB_SHARED", REPO.parent / "shared")) / "data"

VARIANTS = {  # name: (DistillConfig changes, teacher kinds used)
    "pruning alone": ({"distill_weight": 0.0, "structure_weight": 0.0, "pseudo_views": 0}, ()),
    "standard teacher": ({}, ("standard",)),
    "noise teacher": ({}, ("noise",)),
    "dropout teacher": ({}, ("dropout",)),
    "3 teachers, no structure": ({"structure_weight": 0.0}, ("standard", "noise", "dropout")),
    "3 teachers, training views only": ({"pseudo_views": 0}, ("standard", "noise", "dropout")),
    "3 teachers, L1 vs teacher mean": ({"l1_target": "teacher"}, ("standard", "noise", "dropout")),
}


def gl_draw_ms(scene, cam, frames: int = 5) -> float:
    import moderngl

    from app.viewport.gl_renderer import DisplaySettings, SplatRenderer, prepare_splats
    from app.viewport.sorting import depth_order

    ctx = moderngl.create_standalone_context(backend="egl")
    fbo = ctx.framebuffer(color_attachments=[ctx.renderbuffer((cam.width, cam.height), 4)])
    prepared = prepare_splats(scene)
    renderer = SplatRenderer(ctx)
    renderer.set_splats(prepared)
    renderer.set_order(depth_order(prepared.means, cam))
    times = []
    for i in range(frames + 1):
        t = time.perf_counter()
        renderer.render(cam, fbo, DisplaySettings())
        ctx.finish()
        if i:
            times.append((time.perf_counter() - t) * 1000)
    renderer.release()
    ctx.release()
    return statistics.median(times)


def run_or_load(capture, folder: Path, cfg, teachers=None, desc: str = "") -> tuple[dict, float]:
    """(metrics.json, seconds) of a distillation, run unless ``folder`` already holds it."""
    done = folder / "metrics.json"
    if done.exists():
        print(f"{desc}: already done, read from {folder}", flush=True)
        return json.loads(done.read_text()), math.nan
    t = time.perf_counter()
    interrupted = (folder.parent / (folder.name + ".partial")).exists()
    result = jobs.run(distill_job(capture, str(folder), cfg, teachers=teachers, resume=interrupted), desc=desc)
    return result.metrics, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--capture", default="lego")
    ap.add_argument("--max-side", type=int, default=200)
    ap.add_argument("--iterations", type=int, default=1500)
    ap.add_argument("--keep", type=float, default=0.15)
    ap.add_argument("--out", default=str(REPO / "out" / "bench_distill"))
    ap.add_argument("--variants", nargs="*", default=list(VARIANTS), help="ablation rows to run (default: all)")
    args = ap.parse_args()
    capture_dir = str(DATA / CAPTURES[args.capture]) if args.capture in CAPTURES else args.capture
    name = Path(capture_dir).name
    out = Path(args.out) / f"{name}_{args.max_side}px_{args.iterations}it"
    capture = load_capture(capture_dir, max_side=args.max_side)
    base = DistillConfig(iterations=args.iterations, max_side=args.max_side, keep=args.keep)
    cam = capture.frames[(capture.test_indices or [0])[0]].camera

    rows = []
    full, full_seconds = run_or_load(capture, out / "full", base, desc="distill (teachers + full student)")
    teacher_paths = {m["kind"]: str(out / "full" / m["path"]) for m in full["models"] if m["role"] == "teacher"}
    for m in full["models"]:
        label = f"teacher: {m['kind']}" if m["role"] == "teacher" else "student: 3 teachers + structure (full)"
        rows.append(dict(m, label=label, file=str(out / "full" / m["path"])))
        print(f"{label}: {m['count']:,} Gaussians, test PSNR {m['psnr']:.2f} dB, SSIM {m['ssim']:.3f}", flush=True)
    for variant in args.variants:
        changes, kinds = VARIANTS[variant]
        cfg = dataclasses.replace(base, **changes)
        paths = [teacher_paths[k] for k in kinds] or [teacher_paths["standard"]]  # the budget's reference
        folder = out / variant.replace(" ", "_").replace(",", "")
        metrics, seconds = run_or_load(capture, folder, cfg, teachers=paths, desc=variant)
        student = next(m for m in metrics["models"] if m["role"] == "student")
        rows.append(dict(student, label=f"student: {variant}", file=str(folder / student["path"]), seconds=seconds))
        print(f"{rows[-1]['label']}: {student['count']:,} Gaussians, test PSNR {student['psnr']:.2f} dB "
              f"(full student {rows[len(full['models']) - 1]['psnr']:.2f}, standard teacher "
              f"{rows[0]['psnr']:.2f})", flush=True)  # fmt: skip

    for r in rows:
        r["gl_ms"] = gl_draw_ms(io.load(r["file"]), cam)
    standard = next(r for r in rows if r["label"] == "teacher: standard")
    pruning = next((r for r in rows if r["label"] == "student: pruning alone"), None)
    result = {
        "capture": capture_dir, "max_side": args.max_side, "iterations": args.iterations, "keep": args.keep,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "full_run_seconds": full_seconds, "rows": [{k: v for k, v in r.items() if k != "psnr_per_view"} for r in rows],
    }  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (Path(args.out) / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{name} at {args.max_side} px, {args.iterations} steps, keep {args.keep:.0%} "
          f"(budget {int(args.keep * standard['count']):,}); full run {full_seconds:.0f} s")  # fmt: skip
    print(f"{'model':<42} {'Gaussians':>10} {'share':>6} {'MB':>6} {'PSNR':>6} {'vs T':>6} {'SSIM':>6} "
          f"{'CPU ms':>7} {'GL ms':>7}")  # fmt: skip
    for r in rows:
        print(f"{r['label']:<42} {r['count']:>10,} {r['count'] / standard['count']:>6.1%} {r['bytes'] / 1e6:>6.2f} "
              f"{r['psnr']:>6.2f} {r['psnr'] - standard['psnr']:>+6.2f} {r['ssim']:>6.3f} {r['render_ms']:>7.1f} "
              f"{r['gl_ms']:>7.1f}")  # fmt: skip
    full_student = rows[len(full["models"]) - 1]
    print(f"frame time teacher / student: CPU {standard['render_ms'] / full_student['render_ms']:.2f}x, "
          f"GL {standard['gl_ms'] / full_student['gl_ms']:.2f}x")  # fmt: skip
    if pruning:
        print(f"distillation (full) - pruning alone: {full_student['psnr'] - pruning['psnr']:+.2f} dB")


if __name__ == "__main__":
    main()
