"""Benchmark: PLY load/save speed against plyfile (and gsply if installed), and peak memory.

    .venv/bin/python tests/bench/bench_io.py [--count 3000000] [--sh-degree 3]

Writes a synthetic INRIA PLY (3M splats, SH degree 3: ~744 MB) to a temporary folder, then
times each library loading it into per-attribute arrays and saving it, best of --repeat runs,
and measures each loader's peak resident memory in a fresh process (increase over the process
after imports), as a multiple of the file size. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {key}")


def _rss_mb() -> float:
    return _status_mb("VmRSS")


def _peak_mb() -> float:
    """High-water RSS of this process. (Not ru_maxrss: a child inherits its parent's at fork.)"""
    return _status_mb("VmHWM")


def load_ours(path):
    from engine import io

    s = io.load(path)
    return s.means, s.sh


def save_ours(data, path):
    from engine import io

    io.save(data, path)


def load_plyfile(path):
    """plyfile reads the vertex element; columns are then gathered into the same arrays."""
    from plyfile import PlyData

    v = PlyData.read(path)["vertex"].data
    n = len(v)
    names = v.dtype.names
    rest = sorted((p for p in names if p.startswith("f_rest_")), key=lambda p: int(p[7:]))
    k = len(rest) // 3 + 1
    means = np.stack([v["x"], v["y"], v["z"]], 1)
    sh = np.empty((n, k, 3), np.float32)
    for c in range(3):
        sh[:, 0, c] = v[f"f_dc_{c}"]
        for j in range(1, k):
            sh[:, j, c] = v[rest[c * (k - 1) + j - 1]]
    other = [np.stack([v[f"rot_{i}"] for i in range(4)], 1), np.stack([v[f"scale_{i}"] for i in range(3)], 1), v["opacity"].copy()]
    return means, sh, other


def save_plyfile(data, path):
    from plyfile import PlyData, PlyElement

    PlyData([PlyElement.describe(data, "vertex")]).write(path)


def load_gsply(path):
    import gsply

    return gsply.plyread(path)


def save_gsply(data, path):
    import gsply

    gsply.plywrite(path, data.means, data.scales, data.quats, data.opacities, data.sh0, data.shN)


def make_file(path: str, n: int, degree: int) -> None:
    import torch

    from engine import io
    from engine.scene import GaussianScene

    k = (degree + 1) ** 2
    g = torch.Generator().manual_seed(0)
    scene = GaussianScene(
        means=torch.randn(n, 3, generator=g),
        quats=torch.randn(n, 4, generator=g),
        log_scales=torch.randn(n, 3, generator=g) - 4,
        opacity_logits=torch.randn(n, generator=g),
        sh=torch.randn(n, k, 3, generator=g) * 0.2,
    )
    io.save(scene, path)


def _child(lib: str, path: str) -> None:
    """Run in a fresh process: load once, print the RSS increase in MB."""
    import torch  # noqa: F401  (imports are not part of the measurement)

    import engine.io  # noqa: F401

    if lib == "plyfile":
        import plyfile  # noqa: F401
    if lib == "gsply":
        import gsply  # noqa: F401
    base = _rss_mb()
    data = {"ours": load_ours, "plyfile": load_plyfile, "gsply": load_gsply}[lib](path)
    print(json.dumps({"peak_increase_mb": _peak_mb() - base}))
    del data


def _timed(fn, *a, repeat=3):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*a)
        best = min(best, time.perf_counter() - t)
        del out
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=3_000_000)
    ap.add_argument("--sh-degree", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return _child(*args.child)

    libs = ["ours", "plyfile"]
    try:
        import gsply  # noqa: F401

        libs.append("gsply")
    except ImportError:
        print("gsply is not installed: skipping it (pip install gsply)", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.ply")
        make_file(path, args.count, args.sh_degree)
        size_mb = os.path.getsize(path) / 1e6
        results = {"count": args.count, "sh_degree": args.sh_degree, "file_mb": size_mb,
                   "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores", "libs": {}}  # fmt: skip
        from engine import io
        from plyfile import PlyData

        scene = io.load(path)
        plyfile_data = PlyData.read(path)["vertex"].data
        for lib in libs:
            load = {"ours": load_ours, "plyfile": load_plyfile, "gsply": load_gsply}[lib]
            t_load = _timed(load, path, repeat=args.repeat)
            data = {"ours": scene, "plyfile": plyfile_data, "gsply": load_gsply(path) if lib == "gsply" else None}[lib]
            save = {"ours": save_ours, "plyfile": save_plyfile, "gsply": save_gsply}[lib]
            out = os.path.join(tmp, f"out_{lib}.ply")
            t_save = _timed(save, data, out, repeat=args.repeat)
            os.unlink(out)
            child = subprocess.run([sys.executable, __file__, "--child", lib, path], capture_output=True, text=True, check=True)
            peak = json.loads(child.stdout.strip().splitlines()[-1])["peak_increase_mb"]
            results["libs"][lib] = {"load_s": t_load, "save_s": t_save, "load_peak_mb": peak, "load_peak_x_file": peak / size_mb}
    ours = results["libs"]["ours"]
    print(f"{args.count:,} splats, SH degree {args.sh_degree}, {size_mb:.0f} MB file, {results['machine']}")
    print(f"{'library':<10} {'load s':>8} {'save s':>8} {'load peak':>12}  ratio (theirs / ours: >1 means we are faster)")
    for lib, r in results["libs"].items():
        ratio = "" if lib == "ours" else f"load {r['load_s'] / ours['load_s']:.2f}x, save {r['save_s'] / ours['save_s']:.2f}x"
        print(f"{lib:<10} {r['load_s']:8.2f} {r['save_s']:8.2f} {r['load_peak_x_file']:10.2f}x  {ratio}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
