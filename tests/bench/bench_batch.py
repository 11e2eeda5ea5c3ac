"""Benchmark: splatlab batch on Ray against the same items one after another (issue 18).

    .venv/bin/python tests/bench/bench_batch.py              # 24 items: the shared scenes x levels 2-7
    .venv/bin/python tests/bench/bench_batch.py --items 4    # a quick check that it runs

1. **Serial**: each compress item (scene x ladder level) in this process, one after another (and again
   as a shell loop of `splatlab compress`, one process per item),
   with torch's default threads: the engine function ``splatlab compress`` runs (the batch job's
   own per-item function, engine.batch.jobs).
2. **Batch**: the same items through engine.batch.batch_job on a local Ray instance with every
   CPU (one item per CPU), Ray's start and stop included; outputs must match the serial ones
   byte for byte. Target: at least 1.7x faster than serial on the 2-core machine.
3. **Ray overhead**: how long the local instance takes to start, its processes (everything under
   the driver: GCS, raylet, agents, the idle workers) and their memory (resident and proportional
   set size).
4. **Two-node cluster on one machine**: ``ray start --head`` and ``ray start --address`` on
   127.0.0.1, one CPU each, with a token; the batch joins with ``--address``; its outputs must
   match the serial ones and tasks must have run on both nodes. The nodes are stopped by their
   process ids (never ``ray stop``, which would stop every Ray on the machine).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from engine import jobs  # noqa: E402
from engine.batch import JOBS, BatchSettings, ClusterSettings, RaySession, batch_job, job_options  # noqa: E402
from engine.batch.cluster import import_ray  # noqa: E402

SHARED = Path(os.environ.get("SPLATLAB_SHARED", REPO.parent / "shared")) / "data" / "scenes"
SCENES = ["donut_v3dg/fused.ply", "biker_playcanvas/biker.spz", "biker_playcanvas/biker.compressed.ply",
          "bonsai_gradio_model3dgs/bonsai-7k-mini.splat"]  # fmt: skip
LEVELS = [2, 3, 4, 5, 6, 7]


def plan(n: int) -> tuple[list[str], list[int]]:
    """(scenes, levels) whose cross product is the first ``n`` items: n <= 4 scenes at level 2, or
    all 4 scenes at n / 4 levels."""
    scenes = [str(SHARED / s) for s in SCENES]
    missing = [s for s in scenes if not os.path.exists(s)]
    if missing:
        sys.exit(f"bench_batch: missing shared scenes: {', '.join(missing)}")
    if n <= len(scenes):
        return scenes[:n], LEVELS[:1]
    if n % len(scenes) or n // len(scenes) > len(LEVELS):
        sys.exit(f"bench_batch: --items must be 1-4 or a multiple of 4 up to {4 * len(LEVELS)}")
    return scenes, LEVELS[: n // len(scenes)]


def serial(scenes: list[str], levels: list[int], out: Path) -> tuple[float, dict[str, bytes]]:
    """The items one after another in this process; (seconds, output name -> bytes)."""
    spec = JOBS["compress"]
    options = job_options(spec, {"levels": levels})
    from engine.batch.items import unique_names

    names = unique_names(scenes)
    t = time.perf_counter()
    for src in scenes:
        for rel, params in spec.outputs(names[src], options):
            spec.run(src, str(out / rel), params)
    seconds = time.perf_counter() - t
    return seconds, {p.name: p.read_bytes() for p in out.iterdir()}


def shell_loop(scenes: list[str], levels: list[int], out: Path) -> tuple[float, dict[str, bytes]]:
    """What users do today: one ``splatlab compress`` process per item, one after another."""
    spec = JOBS["compress"]
    options = job_options(spec, {"levels": levels})
    from engine.batch.items import unique_names

    splatlab = os.path.join(os.path.dirname(sys.executable), "splatlab")
    names = unique_names(scenes)
    t = time.perf_counter()
    for src in scenes:
        for rel, params in spec.outputs(names[src], options):
            subprocess.run([splatlab, "compress", src, "-o", str(out / rel), "--codec", params.get("codec", "ladder"),
                            "--level", str(params["level"])], check=True, capture_output=True)  # fmt: skip
    seconds = time.perf_counter() - t
    return seconds, {p.name: p.read_bytes() for p in out.iterdir()}


def outputs(result: dict) -> dict[str, bytes]:
    return {r["output"]: (Path(result["output"]) / r["output"]).read_bytes() for r in result["items"] if r["status"] == "done"}


def descendants(root: int) -> list[int]:
    """Every process under ``root`` (Ray's workers rename themselves, so command lines do not find them)."""
    parent = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                parent[int(pid)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            pass
    out, frontier = [], [root]
    while frontier:
        kids = [p for p, pp in parent.items() if pp in frontier]
        out += kids
        frontier = kids
    return out


def memory_mb(pids: list[int]) -> tuple[float, float]:
    """(resident, proportional set size) of ``pids`` together, in MB."""
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                fields = {line.split(":")[0]: int(line.split()[1]) for line in f if line.rstrip().endswith("kB")}
        except (OSError, ValueError, IndexError):
            continue
        rss, pss = rss + fields.get("Rss", 0), pss + fields.get("Pss", 0)
    return rss / 1024, pss / 1024


def overhead() -> dict:
    """Start a local instance like a batch does and measure it, idle."""
    session = RaySession(ClusterSettings())
    session.__enter__()
    try:
        time.sleep(2.0)  # the prestarted workers finish importing
        pids = descendants(os.getpid())
        rss, pss = memory_mb(pids)
        return {"start_s": session.start_seconds, "processes": len(pids), "rss_mb": rss, "pss_mb": pss}
    finally:
        t = time.perf_counter()
        session.close()
        print(f"ray shutdown {time.perf_counter() - t:.1f} s", file=sys.stderr)


def _kill(marker: str) -> None:
    """SIGTERM, then SIGKILL, the processes whose command line has ``marker`` (the nodes' temp dirs)."""
    def pids():
        out = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if marker.encode() in f.read() and int(pid) != os.getpid():
                        out.append(int(pid))
            except OSError:
                pass
        return out

    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + 10
        while pids() and time.time() < deadline:
            time.sleep(0.2)


def two_nodes(scenes: list[str], levels: list[int], out: Path) -> dict:
    """A head and a worker node on 127.0.0.1 (one CPU each, token auth); the batch joins them."""
    root = tempfile.mkdtemp(prefix="slbench-", dir="/tmp")
    token_file = os.path.join(root, "token")
    with open(token_file, "w") as f:
        f.write(secrets.token_hex(32))
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=token_file, RAY_USAGE_STATS_ENABLED="0")
    env.pop("RAY_AUTH_TOKEN", None)
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)  # a local instance's loopback switch: it refuses worker nodes
    ray_cli = str(Path(sys.executable).parent / "ray")
    port = 6390
    common = ["--num-cpus=1", "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    try:
        t = time.perf_counter()
        for cmd in (["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={root}/head"],
                    [f"--address=127.0.0.1:{port}", f"--temp-dir={root}/worker"]):  # fmt: skip
            r = subprocess.run([ray_cli, "start", *cmd, *common], env=env, capture_output=True, text=True)
            if r.returncode:
                raise RuntimeError(f"ray start {' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")
        start_s = time.perf_counter() - t
        os.environ["RAY_AUTH_TOKEN_PATH"] = token_file  # the driver joins with the cluster's token
        settings = BatchSettings(ClusterSettings(address=f"127.0.0.1:{port}"))
        t = time.perf_counter()
        result = jobs.run(batch_job("compress", scenes, str(out), {"levels": levels}, settings), desc="two nodes")
        seconds = time.perf_counter() - t
        return {"start_s": start_s, "seconds": seconds, "result": result,
                "nodes": sorted({r["node_id"] for r in result["items"] if r.get("node_id")})}  # fmt: skip
    finally:
        os.environ.pop("RAY_AUTH_TOKEN_PATH", None)
        _kill(root)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=24, help="1-4, or a multiple of 4 up to 24 (default 24)")
    ap.add_argument("--no-cluster", action="store_true", help="leave out the two-node cluster")
    args = ap.parse_args()
    import_ray()  # before torch's threads are set up: the same environment as splatlab batch
    scenes, levels = plan(args.items)
    n = len(scenes) * len(levels)
    work = Path(tempfile.mkdtemp(prefix="bench_batch-"))
    try:
        (work / "serial").mkdir()
        serial_s, expected = serial(scenes, levels, work / "serial")
        (work / "loop").mkdir()
        loop_s, loop_out = shell_loop(scenes, levels, work / "loop")
        t = time.perf_counter()
        local = jobs.run(batch_job("compress", scenes, str(work / "batch"), {"levels": levels}), desc="batch")
        batch_s = time.perf_counter() - t
        same = outputs(local) == expected
        ovh = overhead()
        cluster = None if args.no_cluster else two_nodes(scenes, levels, work / "cluster")
        c_same = cluster is not None and outputs(cluster["result"]) == expected
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cpus = os.cpu_count()
    print(f"\n{n} compress items ({len(scenes)} scenes x levels {','.join(map(str, levels))}), {cpus} CPUs\n")
    print("| run | time | vs in-process serial | vs shell loop | outputs |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| serial, in-process | {serial_s:.1f} s | 1.00x | {loop_s / serial_s:.2f}x | reference |")
    print(f"| shell loop of `splatlab compress` | {loop_s:.1f} s | {serial_s / loop_s:.2f}x | 1.00x | "
          f"{'identical' if loop_out == expected else 'DIFFERENT'} |")  # fmt: skip
    print(f"| batch, local Ray ({local['ray']['cpus']:g} CPUs, start {local['ray']['start_seconds']:.1f} s included) | "
          f"{batch_s:.1f} s | {serial_s / batch_s:.2f}x | {loop_s / batch_s:.2f}x | {'identical' if same else 'DIFFERENT'} |")  # fmt: skip
    if cluster:
        print(f"| batch, two nodes on 127.0.0.1 (1 CPU each; `ray start` took {cluster['start_s']:.1f} s, not included) | "
              f"{cluster['seconds']:.1f} s | {serial_s / cluster['seconds']:.2f}x | {loop_s / cluster['seconds']:.2f}x | "
              f"{'identical' if c_same else 'DIFFERENT'}, tasks on {len(cluster['nodes'])} node(s) |")  # fmt: skip
    print(f"\nRay local instance: ray.init {ovh['start_s']:.1f} s; {ovh['processes']} processes, "
          f"{ovh['rss_mb']:.0f} MB resident ({ovh['pss_mb']:.0f} MB proportional set size) while idle")  # fmt: skip
    ok = same and (cluster is None or (c_same and len(cluster["nodes"]) == 2))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
