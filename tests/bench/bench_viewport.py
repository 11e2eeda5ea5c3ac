"""Benchmark: the GL viewport renderer (app.viewport) on this machine's OpenGL (llvmpipe on CI).

    .venv/bin/python tests/bench/bench_viewport.py [--counts 10000 100000 1000000] [--size 1280x720]
        [--frames 5] [--sort-counts 10000 100000 1000000 3000000] [--sh3]

Scenes come from the real bonsai capture (../shared/data/scenes/bonsai_gradio_model3dgs,
272,956 splats): random subsets below its size, 2x2 tiled copies side by side (then subsampled)
above it, each seen from its home view. "draw" is SplatRenderer.render alone, ended with
ctx.finish(): the median over --frames after one warm-up frame. Sort times are depth_order
(view depths, 16-bit keys, radix argsort) medians over 5 runs; the goal is <= 40 ms for 1M.
``--sh3`` adds random degree-3 SH bands (48 floats per splat) to every scene.
Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import moderngl  # noqa: E402

from app.viewport.gl_renderer import DisplaySettings, SplatRenderer, prepare_splats  # noqa: E402
from app.viewport.sorting import depth_order  # noqa: E402
from engine import io  # noqa: E402
from engine.camera import home_view  # noqa: E402
from engine.scene import GaussianScene  # noqa: E402

DEFAULT_SCENE = REPO.parent / "shared" / "data" / "scenes" / "bonsai_gradio_model3dgs" / "bonsai-7k-mini.splat"


def scene_of_size(base: GaussianScene, n: int, seed: int = 0) -> GaussianScene:
    """``n`` splats: a random subset of ``base``, or 2x2 (3x3, ...) tiled copies subsampled."""
    g = torch.Generator().manual_seed(seed)
    if n > base.count:
        k = 2
        while k * k * base.count < n:
            k += 1
        lo, hi = base.bounds()
        step = torch.tensor((hi - lo) * 1.05, dtype=torch.float32)
        copies = []
        for i in range(k):
            for j in range(k):
                offset = torch.tensor([i * step[0], 0.0, j * step[2]])  # side by side on the ground
                copies.append(base.replace(means=base.means + offset))
        base = GaussianScene(
            means=torch.cat([c.means for c in copies]),
            quats=torch.cat([c.quats for c in copies]),
            log_scales=torch.cat([c.log_scales for c in copies]),
            opacity_logits=torch.cat([c.opacity_logits for c in copies]),
            sh=torch.cat([c.sh for c in copies]),
            meta=dict(base.meta),
        )
    idx = torch.randperm(base.count, generator=g)[:n].sort().values
    return base.subset(idx)


def with_sh3(scene: GaussianScene, seed: int = 0) -> GaussianScene:
    g = torch.Generator().manual_seed(seed)
    rest = torch.randn(scene.count, 15, 3, generator=g) * 0.1
    return scene.replace(sh=torch.cat([scene.sh[:, :1], rest], 1))


def time_draw(count: int, base: GaussianScene, ctx, fbo, size, frames: int, sh3: bool) -> dict:
    scene = scene_of_size(base, count)
    if sh3:
        scene = with_sh3(scene)
    cam = home_view(scene, *size)
    t0 = time.perf_counter()
    prepared = prepare_splats(scene)
    t1 = time.perf_counter()
    renderer = SplatRenderer(ctx)
    renderer.set_splats(prepared)
    ctx.finish()
    t2 = time.perf_counter()
    order = depth_order(prepared.means, cam)
    t3 = time.perf_counter()
    renderer.set_order(order)
    ctx.finish()
    t4 = time.perf_counter()
    settings = DisplaySettings()
    draws = []
    for i in range(frames + 1):
        a = time.perf_counter()
        renderer.render(cam, fbo, settings)
        ctx.finish()
        if i:  # the first frame warms up
            draws.append(time.perf_counter() - a)
    renderer.release()
    draw = statistics.median(draws)
    return {
        "count": count,
        "sh_degree": scene.sh_degree,
        "prepare_s": round(t1 - t0, 4),
        "upload_s": round(t2 - t1, 4),
        "sort_ms": round((t3 - t2) * 1e3, 2),
        "set_order_ms": round((t4 - t3) * 1e3, 2),
        "draw_ms": round(draw * 1e3, 1),
        "draw_min_ms": round(min(draws) * 1e3, 1),
        "fps": round(1.0 / draw, 2),
        "splats_per_s": round(count / draw),
    }


def time_sort(count: int, base: GaussianScene, repeat: int = 5) -> dict:
    rng = np.random.default_rng(count)
    m = base.means.numpy()
    lo, hi = base.bounds()
    means = (m[rng.integers(0, len(m), count)] + rng.normal(scale=1e-3 * np.linalg.norm(hi - lo), size=(count, 3)))
    means = means.astype(np.float32)
    cam = home_view(base, 1280, 720)
    times = []
    for _ in range(repeat + 1):
        t0 = time.perf_counter()
        depth_order(means, cam)
        times.append(time.perf_counter() - t0)
    return {"count": count, "sort_ms": round(statistics.median(times[1:]) * 1e3, 2), "min_ms": round(min(times[1:]) * 1e3, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scene", default=str(DEFAULT_SCENE))
    ap.add_argument("--counts", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--sort-counts", type=int, nargs="+", default=[10_000, 100_000, 1_000_000, 3_000_000])
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--sh3", action="store_true", help="add random SH bands 1-3 to every scene")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    base = io.load(args.scene)
    ctx = moderngl.create_standalone_context(backend="egl")
    fbo = ctx.framebuffer(color_attachments=[ctx.renderbuffer(size, 4)])
    info = {"renderer": ctx.info["GL_RENDERER"], "gl_version": ctx.version_code, "size": list(size),
            "scene": Path(args.scene).name, "python": platform.python_version(), "numpy": np.__version__}  # fmt: skip

    draws = [time_draw(n, base, ctx, fbo, size, args.frames, args.sh3) for n in args.counts]
    print(f"GL viewport draw at {size[0]}x{size[1]} on {info['renderer']} (median of {args.frames} frames)")
    print(f"{'splats':>10} {'SH':>3} {'draw ms':>9} {'FPS':>7} {'Msplat/s':>9} {'prepare s':>10} {'upload s':>9} {'set_order ms':>13}")
    for r in draws:
        print(f"{r['count']:>10,} {r['sh_degree']:>3} {r['draw_ms']:>9.1f} {r['fps']:>7.2f} {r['splats_per_s'] / 1e6:>9.2f} "
              f"{r['prepare_s']:>10.3f} {r['upload_s']:>9.3f} {r['set_order_ms']:>13.2f}")  # fmt: skip
    sorts = [time_sort(n, base) for n in args.sort_counts]
    print("\ndepth_order (view depths + 16-bit keys + radix argsort), median of 5; goal 1M <= 40 ms")
    print(f"{'splats':>10} {'ms':>9} {'min ms':>9}")
    for r in sorts:
        print(f"{r['count']:>10,} {r['sort_ms']:>9.2f} {r['min_ms']:>9.2f}")
    print(json.dumps({"bench": "viewport", **info, "draw": draws, "sort": sorts}))
    fbo.release()
    ctx.release()


if __name__ == "__main__":
    main()
