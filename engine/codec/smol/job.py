"""``splatlab compress SCENE --codec smol --capture DIR``: train, encode, verify, as one job."""

from __future__ import annotations

import os
import time

from engine.codec import decode_bytes
from engine.codec.smol.codec import encode_scene
from engine.codec.smol.train import SmolConfig, train_smol_job
from engine.evaluate import eval_against_capture, eval_against_reference
from engine.io.atomic import atomic_write_bytes
from engine.io.captures import Capture, load_capture
from engine.io.ply import uncompressed_size
from engine.jobs import CancelToken, Job, Progress
from engine.scene import GaussianScene


def compress_smol_job(init_scene: GaussianScene | None, capture: Capture | str, out_path: str,
                      config: SmolConfig, cancel: CancelToken | None = None,
                      orbit_reference: GaussianScene | None = None, views: int = 8, size: int = 512) -> Job:  # fmt: skip
    """Train Smol-GS (from ``init_scene`` when given), write ``out_path`` atomically, decode it
    again and measure it on the capture's test views (the exact MLP render, and the SH bake the
    GL viewport draws). Returns a summary dict.

    With ``orbit_reference`` the decoded scene is also measured like the ladder's points in an
    orbit-mode RD sweep (engine.rd: PSNR/SSIM against that scene's renders at its orbit views),
    as ``orbit_psnr`` / ``orbit_ssim``, so a viewer can plot it beside them honestly."""
    if isinstance(capture, str):
        capture = load_capture(capture, max_side=config.max_side)
    t0 = time.perf_counter()
    trainer = yield from train_smol_job(capture, config, cancel, init_scene)
    train_s = time.perf_counter() - t0
    yield Progress(config.iterations, config.iterations, "encoding")
    t = time.perf_counter()
    data = encode_scene(trainer.smol_scene(), trainer.context)
    encode_s = time.perf_counter() - t
    atomic_write_bytes(out_path, data)
    t = time.perf_counter()
    decoded = decode_bytes(data, out_path)
    decode_s = time.perf_counter() - t
    yield Progress(config.iterations, config.iterations, "measuring the decoded scene on the test views", {}, decoded)
    exact = yield from eval_against_capture(decoded, capture, cancel=cancel)
    baked = yield from eval_against_capture(decoded.replace(neural=None), capture, cancel=cancel)
    orbit = {}
    if orbit_reference is not None:
        yield Progress(config.iterations, config.iterations, "measuring against the original's orbit renders")
        m = yield from eval_against_reference(decoded, orbit_reference, views, size, cancel=cancel)
        orbit = {"orbit_psnr": m["psnr"], "orbit_ssim": m["ssim"]}
    return {
        "output": os.path.abspath(out_path),
        "bytes": len(data),
        "count": decoded.count,
        "bits_per_gaussian": len(data) * 8 / max(decoded.count, 1),
        "psnr": exact["psnr"],
        "ssim": exact["ssim"],
        "psnr_sh_bake": baked["psnr"],
        "train_s": train_s,
        "encode_s": encode_s,
        "decode_s": decode_s,
        "iterations": config.iterations,
        "max_side": config.max_side,
        **orbit,
    }




def rd_point(summary: dict, source: GaussianScene) -> dict:
    """The run as a point of an orbit-mode RD sweep (engine.rd schema) of ``source``, the scene
    the sweep compresses: size against that scene's PLY, fidelity against its orbit renders
    (needs ``compress_smol_job(..., orbit_reference=source)``), plus the test-view figures."""
    nbytes = summary["bytes"]
    return {
        "level": None,
        "bytes": nbytes,
        "bits_per_gaussian": nbytes * 8 / max(source.count, 1),
        "ratio": uncompressed_size(source) / max(nbytes, 1),
        "psnr": summary.get("orbit_psnr"),
        "ssim": summary.get("orbit_ssim"),
        "encode_s": summary["encode_s"],
        "decode_s": summary["decode_s"],
        "count": summary["count"],
        "test_psnr": summary["psnr"],
        "test_psnr_sh_bake": summary["psnr_sh_bake"],
        "train_s": summary["train_s"],
        "iterations": summary["iterations"],
    }
