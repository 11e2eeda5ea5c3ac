"""Benchmark: the feed-forward codec against the ladder on the evaluation scenes (issue 16).

    .venv/bin/python tests/bench/bench_feedforward.py [--scenes biker donut fox_120px_s0_sh3]
        [--levels 1-8] [--views 8] [--size 512] [--out out/bench_feedforward]

The evaluation scenes are the corpus manifest's ``eval`` split (resources/codecs/corpus_v1.json):
never trained on. A missing one that the manifest makes with ``splatlab train`` (the fox-trained
scene) is trained first, into ``out/codec_corpus``.

Per scene, one ``rd_sweep`` (engine.rd, as ``splatlab rd`` runs it: PSNR against the scene's own
renders at the orbit views) with both codecs at every level, then:

- BD-rate and BD-PSNR of the feed-forward codec against the ladder (engine.bd);
- the smallest feed-forward level at >= 37 dB and its ratio to the SH-3 INRIA PLY (the ratio
  ``rd`` reports: against the uncompressed PLY at the scene's own SH degree; the SH-3 ratio is
  also given, since a SH-0 scene's PLY is a third of a SH-3 one's);
- encode and decode seconds per 100k Gaussians (the torch thread count is printed);
- bytes per attribute group (positions, geometry, colour) of both codecs at a middle level, from
  the .smol sections (the feed-forward windows split by the model's own bit estimate).

Also: the weights' size and the corpus size (from the weights' manifest). Writes
OUT/feedforward.json and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from engine import io, jobs  # noqa: E402
from engine.codec import container, encode  # noqa: E402
from engine.codec.feedforward import weights  # noqa: E402
from engine.codec.feedforward.corpus import corpus_job, load_manifest  # noqa: E402
from engine.io.ply import uncompressed_size  # noqa: E402
from engine.rd import bd_rates_against, rd_sweep  # noqa: E402

TARGET_PSNR = 37.0
GROUPS = {  # .smol section or estimated-bits kind -> attribute group
    "occ": "positions", "count": "positions",
    "opacity": "geometry", "scale": "geometry", "rotation": "geometry", "geometry": "geometry",
    "color": "colour", "sh": "colour", "latent": "colour", "sensitive": "colour", "choice": "colour",
}  # fmt: skip


def group_bytes(data: bytes) -> dict[str, int]:
    """Bytes per attribute group of a ladder or feed-forward .smol file."""
    c = container.unpack(data)
    out = {"positions": 0, "geometry": 0, "colour": 0, "other": 0}
    for name, payload in c.sections.items():
        if name == "windows":  # the feed-forward windows: split by the model's estimate
            est = c.meta.get("estimated_bits", {})
            total = sum(est.values()) or 1
            for kind, bits in est.items():
                out[GROUPS.get(kind, "other")] += round(len(payload) * bits / total)
        else:
            out[GROUPS.get(name, "other")] += len(payload)
    return out


def sh3_ply_bytes(scene) -> int:
    return uncompressed_size(scene.with_sh_degree(3))


def run_scene(name: str, path: str, levels: list[int], views: int, size: int) -> dict:
    scene = io.load(path)
    t = time.perf_counter()
    rd = jobs.drain(rd_sweep(scene, None, levels, baselines=(), views=views, size=size, scene_path=path,
                             codecs=("ladder", "feedforward")))  # fmt: skip
    curves = {c["codec"]: c["points"] for c in rd["curves"]}
    bd = bd_rates_against(rd)["feedforward"]
    per100k = 1e5 / scene.count
    ff = curves["feedforward"]
    sh3 = sh3_ply_bytes(scene)
    at_target = [p for p in ff if p["psnr"] is not None and p["psnr"] >= TARGET_PSNR]
    best = min(at_target, key=lambda p: p["bytes"]) if at_target else None
    mid = levels[len(levels) // 2]
    groups = {codec: group_bytes(encode(scene, codec, mid)) for codec in ("ladder", "feedforward")}
    return {
        "scene": name, "path": path, "count": scene.count, "sh_degree": scene.sh_degree, "sh3_ply_bytes": sh3,
        "bd_rate_percent": bd["bd_rate_percent"], "bd_psnr_db": bd["bd_psnr_db"], "bd_reason": bd["reason"],
        "best_at_37db": None if best is None else {"level": best["level"], "psnr": best["psnr"], "bytes": best["bytes"],
                                                   "ratio_sh3_ply": sh3 / best["bytes"], "ratio": best["ratio"]},
        "encode_s_per_100k": [p["encode_s"] * per100k for p in ff],
        "decode_s_per_100k": [p["decode_s"] * per100k for p in ff],
        "groups_at_level": {"level": mid, **groups},
        "rd": rd, "seconds": time.perf_counter() - t,
    }  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenes", nargs="*", help="eval scenes of the corpus manifest (default: all of them)")
    ap.add_argument("--corpus", default=str(REPO / "resources" / "codecs" / "corpus_v1.json"))
    ap.add_argument("--data", default=os.path.join(os.environ.get("SPLATLAB_SHARED", str(REPO.parent / "shared")), "data"))
    ap.add_argument("--build-dir", default=str(REPO / "out" / "codec_corpus"))
    ap.add_argument("--levels", default="1-8")
    ap.add_argument("--views", type=int, default=8)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--out", default=str(REPO / "out" / "bench_feedforward"))
    args = ap.parse_args()
    a, b = (int(v) for v in args.levels.split("-"))
    levels = list(range(a, b + 1))
    built = jobs.run(corpus_job(args.corpus, args.data, args.build_dir, splits=("eval",)), desc="eval scenes")
    names = args.scenes or [s.name for s in load_manifest(args.corpus) if s.split == "eval"]
    manifest = json.loads(weights.manifest_path(weights.default_path()).read_text())
    corpus = [s for s in manifest.get("training", {}).get("corpus", {}).get("scenes", []) if s["split"] == "train"]
    trained_on = {s.get("sha256") for s in manifest.get("training", {}).get("scenes", [])}
    rows = []
    for name in names:
        rec = next(r for r in built["records"] if r["name"] == name)
        if rec["sha256"] in trained_on:
            raise SystemExit(f"{name} is in the weights' training corpus: it cannot be an evaluation scene")
        rows.append(run_scene(name, built["paths"][name], levels, args.views, args.size))
        r = rows[-1]
        print(f"{name}: {r['count']:,} Gaussians, BD-rate {r['bd_rate_percent']}, {r['seconds']:.0f} s", file=sys.stderr)
    weights_bytes = weights.default_path().stat().st_size
    train_paths = [sc.path(args.data, args.build_dir) for sc in load_manifest(args.corpus) if sc.split == "train"]
    corpus_gaussians = sum(io.load(p).count for p in train_paths if os.path.exists(p)) if train_paths else 0
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
                   f"{torch.get_num_threads()} threads",
        "command": " ".join(["tests/bench/bench_feedforward.py", *sys.argv[1:]]),
        "weights": {"file": weights.default_path().name, "bytes": weights_bytes, "sha256": manifest.get("sha256"),
                    "steps": manifest.get("training", {}).get("config", {}).get("steps")},
        "corpus": {"scenes": len(corpus), "gaussians": corpus_gaussians}, "levels": levels, "scenes": rows,
    }  # fmt: skip
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "feedforward.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(f"\n{result['machine']}; weights {weights_bytes / 1e6:.2f} MB, corpus {len(corpus)} training scenes, "
          f"{corpus_gaussians:,} Gaussians")  # fmt: skip
    print(f"{'scene':<20}{'count':>10}{'BD-rate':>10}{'BD-PSNR':>9}  {'>= 37 dB (level, dB, x SH-3 PLY)':<34}"
          f"{'enc s/100k':>11}{'dec s/100k':>11}")  # fmt: skip
    for r in rows:
        b37 = r["best_at_37db"]
        at = f"{b37['level']}, {b37['psnr']:.2f}, {b37['ratio_sh3_ply']:.1f}x" if b37 else "none"
        bdr = "n/a" if r["bd_rate_percent"] is None else f"{r['bd_rate_percent']:+.1f}%"
        bdp = "n/a" if r["bd_psnr_db"] is None else f"{r['bd_psnr_db']:+.2f}"
        print(f"{r['scene']:<20}{r['count']:>10,}{bdr:>10}{bdp:>9}  {at:<34}"
              f"{max(r['encode_s_per_100k']):>11.2f}{max(r['decode_s_per_100k']):>11.2f}")  # fmt: skip
    print("\nper level (ratio vs the scene's own PLY, PSNR dB): ladder | feed-forward")
    for r in rows:
        curves = {c["codec"]: c["points"] for c in r["rd"]["curves"]}
        for lad, ff in zip(curves["ladder"], curves["feedforward"]):
            print(f"  {r['scene']:<18} L{lad['level']}: {lad['ratio']:6.1f}x {lad['psnr']:6.2f} | "
                  f"{ff['ratio']:6.1f}x {ff['psnr']:6.2f}")  # fmt: skip
        g = r["groups_at_level"]
        print(f"  {r['scene']:<18} bytes per group at level {g['level']}: ladder {g['ladder']} | feed-forward {g['feedforward']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
