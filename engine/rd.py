"""Rate-distortion sweeps: codecs x levels, measured the same way, saved as JSON.

``rd_sweep`` is a job (engine.jobs). For every point it records the size (bytes, bits per
Gaussian of the input scene, ratio against the uncompressed INRIA PLY of the input), fidelity
and timing:

- with a capture: PSNR/SSIM of the decoded scene at the capture's test views against the images
  (the uncompressed scene is measured too, as the ``original`` point);
- without: PSNR/SSIM against the uncompressed scene's own renders at its orbit views
  (``splatlab eval --reference``), so every codec is compared like with like.

Codecs: the ladder (levels 1-8), the feed-forward codec (levels 1-8, when its weights are
installed; engine.codec.feedforward) and baselines: float16 PLY, SPZ v4, PlayCanvas compressed.ply,
and SOG when PlayCanvas' ``splat-transform`` can be run (Node.js).

JSON schema ("splatlab.rd/1")::

    {"schema": "splatlab.rd/1",
     "scene": {"path", "count", "sh_degree", "ply_bytes"},
     "reference": {"mode": "orbit" | "capture", "views", "size" (orbit), "capture" (capture),
                   "original": {"psnr", "ssim"} (capture mode only)},
     "curves": [{"codec", "label", "points": [
         {"level" (int or null), "bytes", "bits_per_gaussian", "ratio", "psnr", "ssim",
          "encode_s", "decode_s", "count" (Gaussians after decoding)}, ...]}, ...],
     "machine", "created",
     "bd": {"anchor": "ladder", "rate": "bytes", "codecs": {codec: {"bd_rate_percent", "bd_psnr_db",
            "reason"}, ...}}}

``bd`` (written by ``save_rd``, absent from older files, which stay valid) is the Bjøntegaard delta
of every other codec against the ladder (engine.bd: bytes as the rate, the piecewise-cubic form
over the overlapping range): BD-rate in percent, negative = fewer bytes than the ladder at equal
PSNR; BD-PSNR in dB, positive = higher PSNR than the ladder at equal size. Where a delta is not
defined (a single-point codec such as SPZ, curves that do not overlap) the number is null and
``reason`` says why.
"""

from __future__ import annotations

import datetime
import os
import platform
import shutil
import subprocess
import tempfile
import time
from typing import Callable

import numpy as np
import torch

from engine import io
from engine.bd import bd_psnr, bd_rate
from engine.codec import codec_module, decode_bytes, ladder
from engine.codec.importance import importance as importance_scores
from engine.evaluate import eval_against_capture, eval_against_reference, reference_renders
from engine.io.ply import uncompressed_size
from engine.jobs import CancelToken, Job, Progress, drain
from engine.scene import GaussianScene

SCHEMA = "splatlab.rd/1"
BASELINES = ("fp16_ply", "spz", "compressed_ply", "sog")
LABELS = {
    "ladder": "SplatLab ladder (.smol)",
    "fp16_ply": "PLY, float16",
    "spz": "SPZ v4",
    "compressed_ply": "compressed.ply",
    "sog": "SOG (splat-transform)",
    "smol": "Smol-GS (trained, exact MLP render)",
    "feedforward": "Feed-forward codec (.smol)",
}
LEVELLED = ("ladder", "feedforward")  # codecs swept over levels


def default_codecs() -> tuple[str, ...]:
    """The ladder, and the feed-forward codec when its weights are installed."""
    from engine.codec.feedforward import weights

    return ("ladder", "feedforward") if weights.default_path().exists() else ("ladder",)


def find_splat_transform() -> str | None:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    local = os.path.join(here, ".tools", "node_modules", ".bin", "splat-transform")
    if os.path.exists(local):
        return local
    return shutil.which("splat-transform")


# ---------------------------------------------------------------------------- codecs as (encode, decode)
def _via_file(fmt: str, **opts) -> Callable[[GaussianScene], tuple[int, GaussianScene, float, float]]:
    def run(scene: GaussianScene):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "x." + fmt)
            t = time.perf_counter()
            io.save(scene, path, **opts)
            enc = time.perf_counter() - t
            t = time.perf_counter()
            out = io.load(path)
            return os.path.getsize(path), out, enc, time.perf_counter() - t

    return run


def _fp16(scene: GaussianScene):
    """Every parameter rounded to float16; size as a PLY of 2-byte properties."""
    t = time.perf_counter()
    h = lambda x: x.half().float()  # noqa: E731
    out = scene.replace(means=h(scene.means), quats=h(scene.quats), log_scales=h(scene.log_scales),
                        opacity_logits=h(scene.opacity_logits), sh=h(scene.sh), meta={})  # fmt: skip
    size = (uncompressed_size(scene) - 400) // 2 + 400
    return size, out, time.perf_counter() - t, 0.0


def _sog(tool: str):
    def run(scene: GaussianScene):
        with tempfile.TemporaryDirectory() as tmp:
            src, dst, back = (os.path.join(tmp, n) for n in ("in.ply", "out.sog", "back.ply"))
            io.save(scene, src)
            t = time.perf_counter()
            subprocess.run([tool, "-q", "-w", "-g", "cpu", src, dst], check=True, capture_output=True, timeout=1800)
            enc = time.perf_counter() - t
            t = time.perf_counter()
            subprocess.run([tool, "-q", "-w", dst, back], check=True, capture_output=True, timeout=1800)
            out = io.load(back)
            return os.path.getsize(dst), out, enc, time.perf_counter() - t

    return run


def baseline(name: str):
    if name == "fp16_ply":
        return _fp16
    if name == "spz":
        return _via_file("spz", version=4)
    if name == "compressed_ply":
        return _via_file("compressed.ply")
    if name == "sog":
        tool = find_splat_transform()
        return _sog(tool) if tool else None
    raise ValueError(f"unknown baseline {name!r}")


# ---------------------------------------------------------------------------- the sweep
def rd_sweep(
    scene: GaussianScene,
    capture=None,
    levels=tuple(range(ladder.MIN_LEVEL, ladder.MAX_LEVEL + 1)),
    baselines=BASELINES,
    views: int = 8,
    size: int = 512,
    cancel: CancelToken | None = None,
    scene_path: str | None = None,
    codecs: tuple[str, ...] = ("ladder",),
) -> Job:
    """Measure every codec point; returns the RD dict (schema above).

    Two passes: first every point is encoded and decoded (fast), each yielded as a Progress whose
    ``preview`` is {"codec", "point", "scene": the decoded scene}; then each point's fidelity is
    measured and yielded again with ``preview`` = {"codec", "point"} (point now has psnr, ssim).
    A viewer can thus scrub the levels long before the measurements are done."""
    scene = scene.detach().to("cpu")
    denom = uncompressed_size(scene)
    runners: list[tuple[str, int | None, Callable]] = []
    imp_cache: dict = {}

    def levelled_runner(codec: str, level: int):
        """Encode + decode at a level; the importance of pruned levels is computed once."""
        module = codec_module(codec)

        def run(s: GaussianScene):
            t = time.perf_counter()
            if module.level_keep(level) < 1.0 and "imp" not in imp_cache:
                imp_cache["imp"] = importance_scores(s)
            data = module.encode(s, level, importance=imp_cache.get("imp"))
            enc = time.perf_counter() - t
            t = time.perf_counter()
            out = decode_bytes(data)
            return len(data), out, enc, time.perf_counter() - t

        return run

    unknown = [c for c in codecs if c not in LEVELLED]
    if unknown:
        raise ValueError(f"rd sweeps levels of {', '.join(LEVELLED)}, not {', '.join(unknown)}")
    for codec in codecs:
        for level in levels:
            runners.append((codec, level, levelled_runner(codec, level)))
    for name in baselines:
        fn = baseline(name)
        if fn is not None:
            runners.append((name, None, fn))
    total = 2 * len(runners) + 1
    curves: dict[str, dict] = {}
    decoded_scenes: list[tuple[str, dict, GaussianScene]] = []
    # pass 1 (fast): encode and decode every point, so a viewer can show them at once
    for i, (codec, level, run) in enumerate(runners):
        if cancel is not None:
            cancel.check()
        label = f"{LABELS[codec]}" + (f" level {level}" if level is not None else "")
        nbytes, decoded, enc_s, dec_s = run(scene)
        point = {"level": level, "bytes": int(nbytes), "bits_per_gaussian": nbytes * 8 / max(scene.count, 1),
                 "ratio": denom / max(nbytes, 1), "psnr": None, "ssim": None, "encode_s": enc_s,
                 "decode_s": dec_s, "count": decoded.count}  # fmt: skip
        curves.setdefault(codec, {"codec": codec, "label": LABELS[codec], "points": []})["points"].append(point)
        decoded_scenes.append((codec, point, decoded))
        yield Progress(i + 1, total, f"encoded {label}: {point['ratio']:.1f}x", {"ratio": point["ratio"]},
                       {"codec": codec, "point": point, "scene": decoded})  # fmt: skip
    # pass 2 (slow): fidelity of every point, measured the same way
    yield Progress(len(runners) + 1, total, "rendering the reference views")
    if capture is not None:
        reference = {"mode": "capture", "capture": capture.path, "views": len(capture.test_indices)}
        measure = lambda s: drain(eval_against_capture(s, capture, cancel=cancel))  # noqa: E731
        original = measure(scene)
        reference["original"] = {"psnr": original["psnr"], "ssim": original["ssim"]}
    else:
        refs = reference_renders(scene, views, size)
        reference = {"mode": "orbit", "views": views, "size": size}
        measure = lambda s: drain(eval_against_reference(s, scene, views, size, cancel=cancel, reference_images=refs))  # noqa: E731
    for i, (codec, point, decoded) in enumerate(decoded_scenes):
        if cancel is not None:
            cancel.check()
        m = measure(decoded)
        point["psnr"], point["ssim"] = m["psnr"], m["ssim"]
        label = f"{LABELS[codec]}" + (f" level {point['level']}" if point["level"] is not None else "")
        yield Progress(len(runners) + 2 + i, total, f"{label}: {point['ratio']:.1f}x, {point['psnr']:.2f} dB",
                       {"psnr": point["psnr"], "ratio": point["ratio"]}, {"codec": codec, "point": point})  # fmt: skip
    return {
        "schema": SCHEMA,
        "scene": {"path": scene_path or scene.meta.get("path"), "count": scene.count, "sh_degree": scene.sh_degree,
                  "ply_bytes": denom},  # fmt: skip
        "reference": reference,
        "curves": list(curves.values()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def put_curve(result: dict, codec: str, points: list[dict]) -> dict:
    """Make ``points`` the curve of ``codec`` in an RD result (replacing one it had), labelled as
    LABELS says: e.g. a trained Smol-GS run (engine.codec.smol.job.rd_point) joining a sweep."""
    curves = [c for c in result["curves"] if c["codec"] != codec]
    result["curves"] = curves + [{"codec": codec, "label": LABELS[codec], "points": list(points)}]
    return result


# ---------------------------------------------------------------------------- Bjøntegaard deltas
def _measured(curve: dict) -> tuple[list[float], list[float], int]:
    """(bytes [n], psnr [n]) of the points with a finite PSNR, and how many were left out (a PSNR
    of inf for identical renders, null once saved, or not measured yet)."""
    rates, psnrs = [], []
    for p in curve["points"]:
        if p.get("psnr") is not None and np.isfinite(p["psnr"]) and p["bytes"] > 0:
            rates.append(float(p["bytes"]))
            psnrs.append(float(p["psnr"]))
    return rates, psnrs, len(curve["points"]) - len(rates)


def _too_few(name: str, n: int, left_out: int) -> str:
    why = f"{name} has {n} point{'s' if n != 1 else ''} with a finite PSNR"
    if left_out:
        why += f" ({left_out} lossless or unmeasured left out)"
    return why + "; a BD curve needs at least 2"


def bd_rates_against(result: dict, anchor: str = "ladder") -> dict[str, dict]:
    """Bjøntegaard deltas (engine.bd) of every codec of an RD result against ``anchor``'s curve,
    with bytes as the rate: ``{codec: {"bd_rate_percent", "bd_psnr_db", "reason"}}``.

    BD-rate < 0: the codec needs fewer bytes than the anchor at equal PSNR; BD-PSNR > 0: it has
    the higher PSNR at equal size. A delta that is not defined (fewer than 2 points with a finite
    PSNR on either curve, or ranges that do not overlap) is None and ``reason`` says why; ``reason``
    is None when both are numbers. The anchor itself is not listed."""
    curves = {c["codec"]: c for c in result["curves"]}
    out: dict[str, dict] = {}
    base = curves.get(anchor)
    a_rates, a_psnrs, a_left = _measured(base) if base is not None else ([], [], 0)
    for codec, curve in curves.items():
        if codec == anchor:
            continue
        entry = {"bd_rate_percent": None, "bd_psnr_db": None, "reason": None}
        rates, psnrs, left = _measured(curve)
        if base is None:
            entry["reason"] = f"the result has no {anchor} curve"
        elif len(a_rates) < 2:
            entry["reason"] = _too_few(f"the {anchor}", len(a_rates), a_left)
        elif len(rates) < 2:
            entry["reason"] = _too_few("it", len(rates), left)
        else:
            reasons = []
            for key, fn, what in (("bd_rate_percent", bd_rate, "BD-rate"), ("bd_psnr_db", bd_psnr, "BD-PSNR")):
                try:
                    entry[key] = fn(a_rates, a_psnrs, rates, psnrs)
                except ValueError as e:
                    reasons.append(f"{what}: {e}")
            entry["reason"] = "; ".join(reasons) or None
        out[codec] = entry
    return out


def bd_summary(result: dict, anchor: str = "ladder") -> dict:
    """The ``bd`` entry of the RD JSON (schema above)."""
    return {"anchor": anchor, "rate": "bytes", "codecs": bd_rates_against(result, anchor)}


def bd_lines(result: dict, anchor: str = "ladder") -> list[str]:
    """The "BD-rate against the ladder" section ``splatlab rd`` prints after its table: a heading,
    then one line per codec (BD-rate %, BD-PSNR dB, or why they are not defined)."""
    labels = {c["codec"]: c["label"] for c in result["curves"]}
    name = "the ladder" if anchor == "ladder" else labels.get(anchor, anchor)
    lines = [f"BD-rate against {name} (bytes at equal PSNR; negative = fewer bytes than {name}), "
             f"BD-PSNR (dB at equal size; positive = higher PSNR):"]  # fmt: skip
    width = max((len(v) for v in labels.values()), default=0)
    for codec, e in bd_rates_against(result, anchor).items():
        nums = []
        if e["bd_rate_percent"] is not None:
            nums.append(f"BD-rate {e['bd_rate_percent']:+7.2f} %")
        if e["bd_psnr_db"] is not None:
            nums.append(f"BD-PSNR {e['bd_psnr_db']:+6.2f} dB")
        if e["reason"] is not None:
            nums.append(("not defined: " if not nums else "") + e["reason"])
        lines.append(f"  {labels[codec]:<{width}}  " + "  ".join(nums))
    if len(lines) == 1:
        lines.append("  (no other codec in this result)")
    return lines


# ---------------------------------------------------------------------------- saving and checking
def save_rd(path: str | os.PathLike, result: dict) -> None:
    """Write an RD result as JSON, atomically (``splatlab rd -o`` and the studio's Save RD JSON),
    with its ``bd`` entry computed afresh (a curve may have joined since; ``result`` itself is not
    changed). Strict JSON: a non-finite PSNR (identical renders, engine.metrics) is written as null."""
    from engine.io.atomic import atomic_write_json

    atomic_write_json(path, {**result, "bd": bd_summary(result)})


def validate_rd(obj: dict) -> None:
    """Raise ValueError if ``obj`` does not follow the schema (used by tests and readers)."""
    if obj.get("schema") != SCHEMA:
        raise ValueError(f"schema is {obj.get('schema')!r}, expected {SCHEMA!r}")
    for key in ("scene", "reference", "curves"):
        if key not in obj:
            raise ValueError(f"missing {key!r}")
    if obj["reference"].get("mode") not in ("orbit", "capture"):
        raise ValueError("reference.mode must be 'orbit' or 'capture'")
    for curve in obj["curves"]:
        if not {"codec", "label", "points"} <= set(curve):
            raise ValueError("a curve needs codec, label and points")
        for p in curve["points"]:
            missing = {"level", "bytes", "bits_per_gaussian", "ratio", "psnr", "ssim", "encode_s", "decode_s", "count"} - set(p)
            if missing:
                raise ValueError(f"a point of {curve['codec']} lacks {sorted(missing)}")
            if not (p["bytes"] > 0 and np.isfinite(p["ratio"])):
                raise ValueError("bytes and ratio must be positive and finite")
    bd = obj.get("bd")  # optional: files written before it existed have none
    if bd is not None:
        if not (isinstance(bd, dict) and "anchor" in bd and isinstance(bd.get("codecs"), dict)):
            raise ValueError("bd needs an anchor and a codecs mapping")
        for codec, e in bd["codecs"].items():
            if not (isinstance(e, dict) and {"bd_rate_percent", "bd_psnr_db", "reason"} <= set(e)):
                raise ValueError(f"bd of {codec} needs bd_rate_percent, bd_psnr_db and reason")
