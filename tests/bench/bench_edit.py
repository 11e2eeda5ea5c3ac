"""Benchmark: editing a big scene (engine.edit), the figures of issue 17.

    .venv/bin/python tests/bench/bench_edit.py [--splats 1160000] [--edits 100] [--lego-scene PLY]

1. A 1.16 M-splat scene: the biker (152,746 splats, SH 0, ../shared/data/scenes/biker_playcanvas)
   tiled on a grid of copies, each one given random SH bands 1-3 (so transforms carry SH 3), cut
   to ``--splats``. Times (median of 5, ms) of what a user does at the studio's 1280x720 view:
   rectangle and lasso selection by centre and by the visible front layer, a histogram range
   (opacity), delete, undo, redo.
2. A history of ``--edits`` mixed edits (rectangle selections, translations and rotations of the
   selection, hides, deletes, a whole-scene rotation every 25): the history's own byte count, and the
   process's resident memory before and after (the extra it holds).
3. Floater removal on a trained lego scene (``--lego-scene``, a ``splatlab train`` output of the
   lego capture): statistical outliers + outside the largest cluster, deleted; test PSNR on the
   capture's held-out views before and after, and how many of the removed splats lay outside the
   object's box (the capture's scene is the lego on its base, inside [-0.7, 0.7] x [-1.2, 1.2] x
   [-0.4, 1.1] in its own frame).

Prints one table; write the figures into the README's Benchmarks section by hand.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from engine import io  # noqa: E402
from engine.camera import home_view  # noqa: E402
from engine.edit import cleanup, ops, select, transform  # noqa: E402
from engine.edit.state import EditSession  # noqa: E402
from engine.scene import GaussianScene  # noqa: E402

DATA = Path(os.environ.get("SPLATLAB_SHARED", REPO.parent / "shared")) / "data"
BIKER = DATA / "scenes" / "biker_playcanvas" / "biker.spz"
LEGO = DATA / "captures" / "lego_nerf_synthetic"
LEGO_BOX = (np.array([-0.7, -1.2, -0.4]), np.array([0.7, 1.2, 1.1]))


def tiled_scene(n: int, seed: int = 0) -> GaussianScene:
    """``n`` splats: copies of the biker on a grid, SH 3 with random higher bands."""
    biker = io.load(str(BIKER))
    copies = -(-n // biker.count)
    side = int(np.ceil(np.sqrt(copies)))
    size = (biker.means.max(0).values - biker.means.min(0).values).numpy()
    g = torch.Generator().manual_seed(seed)
    parts = []
    for c in range(copies):
        offset = torch.tensor([(c % side) * size[0] * 1.2, 0.0, (c // side) * size[2] * 1.2])
        parts.append(biker.means + offset)
    means = torch.cat(parts)[:n]
    rep = lambda t: t.repeat(copies, *([1] * (t.dim() - 1)))[:n]  # noqa: E731
    sh0 = rep(biker.sh[:, :1])
    rest = 0.05 * torch.randn(n, 15, 3, generator=g)
    return GaussianScene(means=means.contiguous(), quats=rep(biker.quats), log_scales=rep(biker.log_scales),
                         opacity_logits=rep(biker.opacity_logits), sh=torch.cat([sh0, rest], 1), meta={})  # fmt: skip


def timed(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def rss_mb() -> float:
    """Resident memory of this process (Linux /proc)."""
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return kb / 1e3


def interaction_times(session: EditSession, cam) -> dict[str, float]:
    w, h = cam.width, cam.height
    rect = (0.3 * w, 0.3 * h, 0.6 * w, 0.7 * h)
    lasso = [(0.3 * w, 0.3 * h), (0.7 * w, 0.35 * h), (0.6 * w, 0.8 * h), (0.35 * w, 0.7 * h)]
    out = {
        "rectangle (centres)": timed(lambda: select.screen_select(session, cam, "rectangle", *rect)),
        "lasso (centres)": timed(lambda: select.screen_select(session, cam, "polygon", lasso)),
        "rectangle (front layer)": timed(lambda: select.screen_select(session, cam, "rectangle", *rect, front_only=True), 3),
        "histogram range (opacity)": timed(lambda: session.select(select.attribute_range(session.scene, "opacity", 0.2, 0.6), "replace")),
    }  # fmt: skip
    select.screen_select(session, cam, "rectangle", *rect)
    deletes, undos = [], []
    for _ in range(5):
        t = time.perf_counter()
        ops.delete(session)
        deletes.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        session.undo()
        undos.append((time.perf_counter() - t) * 1000)
    out["delete (selection)"] = statistics.median(deletes)
    out["undo (of the delete)"] = statistics.median(undos)
    return out


def history_memory(session: EditSession, cam, edits: int, seed: int = 1) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    gc.collect()
    before = rss_mb()
    w, h = cam.width, cam.height
    for k in range(edits):  # each a user's edit: a selection, then something done to it
        kind = k % 5
        x, y = rng.uniform(0, 0.7) * w, rng.uniform(0, 0.7) * h
        if k % 25 == 24:
            transform.rotate(session, transform.rotation_about("y", 10.0))
        elif kind == 0:
            select.screen_select(session, cam, "rectangle", x, y, x + 0.3 * w, y + 0.3 * h)
        elif kind == 1:
            transform.translate(session, rng.normal(size=3) * 0.01, which="selection")
        elif kind == 2:
            transform.rotate(session, transform.rotation_about("z", 5.0), which="selection")
        elif kind == 3:
            ops.hide(session)
        else:
            select.screen_select(session, cam, "rectangle", x, y, x + 0.1 * w, y + 0.1 * h)
            ops.delete(session)
    gc.collect()
    return {"history MB": session.history.nbytes / 1e6, "process extra MB": rss_mb() - before, "records": len(session.history.edits)}


def floaters(lego_ply: str) -> dict:
    from engine.evaluate import eval_against_capture
    from engine.io.captures import load_capture
    from engine.jobs import run

    scene = io.load(lego_ply)
    capture = load_capture(str(LEGO), max_side=200)
    before = run(eval_against_capture(scene, capture), show=False)["psnr"]
    outliers = cleanup.statistical_outliers(scene, 20, 2.0)
    outside = cleanup.outside_largest_cluster(scene, voxel=0.05)
    removed = outliers | outside
    session = EditSession(scene, keep_history=False)
    ops.delete_mask(session, removed)
    after = run(eval_against_capture(session.result_scene(), capture), show=False)["psnr"]
    m = scene.means.numpy()[removed]
    out_of_box = ~((m >= LEGO_BOX[0]) & (m <= LEGO_BOX[1])).all(1)
    return {"splats": scene.count, "removed": int(removed.sum()), "removed outside the box": int(out_of_box.sum()),
            "PSNR before": before, "PSNR after": after}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--splats", type=int, default=1_160_000)
    ap.add_argument("--edits", type=int, default=100)
    ap.add_argument("--lego-scene", help="a splatlab train output of the lego capture (point_cloud.ply)")
    args = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads", flush=True)  # fmt: skip
    scene = tiled_scene(args.splats)
    cam = home_view(scene, 1280, 720)
    session = EditSession(scene)
    print(f"scene: {scene.count:,} splats, SH {scene.sh_degree}", flush=True)
    for name, ms in interaction_times(session, cam).items():
        print(f"  {name:<28} {ms:8.1f} ms", flush=True)
    session = EditSession(tiled_scene(args.splats))
    for name, v in history_memory(session, cam, args.edits).items():
        print(f"  {name:<28} {v:8.1f}", flush=True)
    if args.lego_scene:
        for name, v in floaters(args.lego_scene).items():
            print(f"  floaters: {name:<28} {v:,.2f}" if isinstance(v, float) else f"  floaters: {name:<28} {v:,}", flush=True)


if __name__ == "__main__":
    main()
