"""The jobs a batch runs per item, each calling the engine functions its single command calls.

A :class:`JobSpec` says what a job takes (scene files, images or capture folders), how its
options are checked (on the driver, before any work: an InputError names the bad value), which
items one input makes (``compress`` with several levels makes one per level) and their output
names, and the function a Ray task runs for one item: ``run(input, output, params) -> figures``.
Figures are JSON numbers for the manifest and the report (bytes_in, bytes_out, ratio, psnr, ...).
Outputs are written through a temporary name and renamed (engine.io.atomic, the trainers' partial
folders), as the single commands write them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable

from engine.errors import InputError


@dataclass(frozen=True)
class JobSpec:
    name: str
    help: str
    kind: str  # the inputs it takes: "scene", "image" or "capture" (engine.batch.items)
    defaults: dict  # every option and its default; params are these, checked
    check: Callable[[dict], dict]  # options -> checked options (InputError on a bad value)
    outputs: Callable[[str, dict], list[tuple[str, dict]]]  # (name, options) -> [(output rel. path, item params)]
    run: Callable[[str, str, dict], dict]  # (input, output, params) -> figures
    memory: Callable[[str], int] = field(default=lambda path: 0)  # bytes an item may need (0: unknown, small)
    uses_gpu: bool = False  # takes a GPU where the cluster has one (and device is not cpu)


def _size(path: str) -> int:
    return os.path.getsize(path) if os.path.isfile(path) else 0


def _load_scene(path: str, params: dict):
    from engine import io

    return io.load(path, drop_invalid=params.get("drop_invalid", False))


def _in_range(name: str, value, lo, hi):
    if value is not None and not lo <= value <= hi:
        raise InputError(None, f"--{name.replace('_', '-')} {value} is out of range ({lo} to {hi})")
    return value


# ---------------------------------------------------------------------------- memory estimates
# Decoded bytes per file byte by format (a float32 PLY is 248 B per splat with SH 3; the others
# are denser), and the working copies a codec or render makes of a scene.
_EXPANSION = {"ply": 1, "compressed.ply": 5, "splat": 8, "spz": 12, "smol": 40}
_SCENE_COPIES = 6


def scene_memory(path: str) -> int:
    from engine.io import format_from_extension

    return _size(path) * _EXPANSION.get(format_from_extension(path) or "ply", 1) * _SCENE_COPIES


def image_memory(path: str) -> int:
    """About 96 bytes per pixel while an image trains (float images, gradients, Adam state)."""
    try:
        from PIL import Image

        with Image.open(path) as im:
            return im.width * im.height * 96
    except Exception:  # unreadable: the task says what is wrong with it
        return 0


# ---------------------------------------------------------------------------- convert
def _convert_check(o: dict) -> dict:
    from engine import io

    to = str(o["to"]).lower().lstrip(".")
    if to not in io.FORMATS:
        raise InputError(None, f"--to {o['to']!r}: choose one of {', '.join(io.FORMATS)}")
    _in_range("sh_degree", o["sh_degree"], 0, 3)
    if o["spz_version"] not in (3, 4):
        raise InputError(None, f"--spz-version {o['spz_version']}: 3 or 4")
    return o | {"to": to}


def _convert(src: str, out: str, p: dict) -> dict:
    from engine import io

    scene = _load_scene(src, p)
    if p["sh_degree"] is not None:
        scene = scene.with_sh_degree(min(p["sh_degree"], scene.sh_degree))
    warnings = io.conversion_warnings(scene, p["to"])
    io.save(scene, out, **({"version": p["spz_version"]} if p["to"] == "spz" else {}))
    return {"bytes_in": _size(src), "bytes_out": _size(out), "ratio": _size(src) / max(_size(out), 1),
            "count": scene.count, "warnings": warnings}  # fmt: skip


# ---------------------------------------------------------------------------- compress
def _compress_check(o: dict) -> dict:
    from engine.codec import CODECS

    if o["codec"] not in CODECS:
        raise InputError(None, f"--codec {o['codec']!r}: choose one of {', '.join(CODECS)}")
    if o["codec"] == "smol":
        raise InputError(None, "--codec smol trains from each scene's capture: batch it with `splatlab compress "
                         "--codec smol` per scene, or batch train/distill the captures")  # fmt: skip
    levels = list(o["levels"])
    if not levels or not all(isinstance(v, int) and 1 <= v <= 8 for v in levels):
        raise InputError(None, f"levels {levels}: levels are 1 to 8")
    if o["codec"] == "feedforward":
        from engine.codec.feedforward import weights

        if not weights.default_path().exists():
            raise InputError(str(weights.default_path()), "the feed-forward codec's weights are not installed")
    _in_range("views", o["views"], 1, 360)
    _in_range("size", o["size"], 16, 4096)
    return o | {"levels": sorted(set(levels))}


def _compress_outputs(name: str, o: dict) -> list[tuple[str, dict]]:
    tag = "" if o["codec"] == "ladder" else f".{o['codec']}"
    keep = {k: v for k, v in o.items() if k != "levels"}
    return [(f"{name}{tag}.L{level}.smol", keep | {"level": level}) for level in o["levels"]]


def _compress(src: str, out: str, p: dict) -> dict:
    """What ``splatlab compress SCENE -o OUT --codec C --level L`` does (engine.cli.codec_commands),
    and with ``psnr`` the decoded scene measured against the input at orbit views."""
    from engine.codec import codec_module
    from engine.io.atomic import atomic_write_bytes

    scene = _load_scene(src, p)
    t = time.perf_counter()
    data = codec_module(p["codec"]).encode(scene, p["level"])
    encode_s = time.perf_counter() - t
    atomic_write_bytes(out, data)
    figures = {"bytes_in": _size(src), "bytes_out": len(data), "ratio": _size(src) / max(len(data), 1),
               "bits_per_gaussian": len(data) * 8 / max(scene.count, 1), "count": scene.count, "encode_s": encode_s,
               "codec": p["codec"], "level": p["level"]}  # fmt: skip
    if p["psnr"]:
        from engine.codec import decode_bytes
        from engine.evaluate import eval_against_reference
        from engine.jobs import drain

        m = drain(eval_against_reference(decode_bytes(data, out), scene, p["views"], p["size"]))
        figures |= {"psnr": m["psnr"], "ssim": m["ssim"]}
    return figures


# ---------------------------------------------------------------------------- rd
def _rd_check(o: dict) -> dict:
    from engine.rd import LEVELLED, default_codecs

    codecs = tuple(o["codecs"] or default_codecs())
    if not codecs or any(c not in LEVELLED for c in codecs):
        raise InputError(None, f"--codecs {','.join(codecs)}: choose from {', '.join(LEVELLED)}")
    if "ladder" not in codecs:
        codecs = ("ladder", *codecs)  # BD-rates are against the ladder (as splatlab rd)
    levels = list(o["levels"])
    if not levels or not all(isinstance(v, int) and 1 <= v <= 8 for v in levels):
        raise InputError(None, f"levels {levels}: levels are 1 to 8")
    _in_range("views", o["views"], 1, 360)
    _in_range("size", o["size"], 16, 4096)
    return o | {"codecs": list(codecs), "levels": sorted(set(levels))}


def _rd(src: str, out: str, p: dict) -> dict:
    """What ``splatlab rd SCENE -o OUT.json`` does: the sweep over codecs and levels, saved as RD JSON."""
    from engine.jobs import drain
    from engine.rd import BASELINES, rd_sweep, save_rd

    scene = _load_scene(src, p)
    job = rd_sweep(scene, None, p["levels"], BASELINES if p["baselines"] else (), p["views"], p["size"],
                   scene_path=src, codecs=tuple(p["codecs"]))  # fmt: skip
    result = drain(job)
    save_rd(out, result)
    curves = [{"codec": c["codec"], "label": c["label"],
               "points": [{k: q.get(k) for k in ("level", "bytes", "bits_per_gaussian", "ratio", "psnr", "ssim")}
                          for q in c["points"]]} for c in result["curves"]]  # fmt: skip
    return {"bytes_in": _size(src), "count": scene.count, "ply_bytes": result["scene"]["ply_bytes"], "curves": curves}


# ---------------------------------------------------------------------------- eval
def _eval_check(o: dict) -> dict:
    if bool(o["reference"]) == bool(o["capture"]):
        raise InputError(None, "batch eval: give one of --reference SCENE or --capture DIR")
    _in_range("views", o["views"], 1, 360)
    _in_range("size", o["size"], 16, 4096)
    if o["max_side"] is not None and o["max_side"] < 8:
        raise InputError(None, "--max-side must be at least 8")
    from engine.batch.items import sha256_of

    against = os.path.abspath(o["reference"] or o["capture"])
    if not os.path.exists(against):
        raise InputError(o["reference"] or o["capture"], "no such file or folder")
    # its hash is part of the params: a changed reference makes every item run again
    return o | {"reference" if o["reference"] else "capture": against, "against_sha256": sha256_of(against)}


def _eval(src: str, out: str, p: dict) -> dict:
    """What ``splatlab eval SCENE (--reference R | --capture DIR) --json`` prints, saved as JSON."""
    from engine.evaluate import eval_against_capture, eval_against_reference
    from engine.io.atomic import atomic_write_json
    from engine.jobs import drain

    scene = _load_scene(src, p)
    if p["reference"]:
        result = drain(eval_against_reference(scene, _load_scene(p["reference"], p), p["views"], p["size"]))
        result["reference"] = p["reference"]
    else:
        from engine.io.captures import load_capture

        result = drain(eval_against_capture(scene, load_capture(p["capture"], max_side=p["max_side"])))
        result["capture"] = p["capture"]
    result["scene"] = src
    atomic_write_json(out, result)
    return {"bytes_in": _size(src), "count": scene.count, "psnr": result["psnr"], "ssim": result["ssim"],
            "views": result["views"]}  # fmt: skip


# ---------------------------------------------------------------------------- image compress
def _image_check(o: dict) -> dict:
    from engine.image import TrainConfig, parse_rate

    bpp = parse_rate(o["bpp"], o["ratio"])
    extra = {"tile_size": o["tile_size"]} if o["tile_size"] is not None else {}
    TrainConfig(bpp=bpp, iterations=o["iterations"], device=o["device"], seed=o["seed"], **extra).resolved()
    return o | {"bpp": bpp, "ratio": None}


def _image(src: str, out: str, p: dict) -> dict:
    """What ``splatlab image compress IMG -o OUT.sgi --bpp B`` does."""
    from engine.image import TrainConfig, compress_job, load_image
    from engine.jobs import drain

    extra = {"tile_size": p["tile_size"]} if p["tile_size"] is not None else {}
    cfg = TrainConfig(bpp=p["bpp"], iterations=p["iterations"], device=p["device"], seed=p["seed"], **extra).resolved()
    image = load_image(src)
    r = drain(compress_job(image, cfg, out, source=src))
    return {"bytes_in": _size(src), "bytes_out": r.bytes, "ratio": image.size / max(r.bytes, 1), "bpp": r.bpp,
            "psnr": r.psnr, "ms_ssim": r.ms_ssim, "count": r.count, "width": r.width, "height": r.height}  # fmt: skip


# ---------------------------------------------------------------------------- train, distill
_TRAIN_KEYS = ("iterations", "max_side", "device", "seed", "strategy", "cap_max", "init_points", "sh_degree")
_DISTILL_KEYS = ("iterations", "max_side", "device", "seed", "keep", "init_points", "l1_target", "structure_weight",
                 "pseudo_views")  # fmt: skip


def _train_config(p: dict):
    from engine.train import TrainConfig

    return TrainConfig.from_options(**{k: p[k] for k in _TRAIN_KEYS})


def _train(src: str, out: str, p: dict) -> dict:
    """What ``splatlab train CAPTURE -o OUT`` does; a run left by a worker that died resumes."""
    from engine.jobs import drain
    from engine.train import train_job
    from engine.train.trainer import CHECKPOINT, partial_dir

    again = os.path.exists(os.path.join(partial_dir(out), CHECKPOINT))
    m = drain(train_job(src, out, _train_config(p), resume=again)).metrics
    return {"psnr": m["psnr"], "ssim": m["ssim"], "count": m["count"], "train_s": m["seconds"],
            "bytes_out": _size(os.path.join(out, "point_cloud.ply"))}  # fmt: skip


def _distill_config(p: dict):
    from engine.distill import DistillConfig

    losses = ("l1_target", "structure_weight", "pseudo_views")  # None: the config's own default
    return DistillConfig.from_options(**{k: p[k] for k in _DISTILL_KEYS if not (k in losses and p[k] is None)})


def _distill(src: str, out: str, p: dict) -> dict:
    """What ``splatlab distill CAPTURE -o OUT`` does (teachers trained here)."""
    from engine.distill import distill_job
    from engine.jobs import drain
    from engine.train.trainer import partial_dir

    result = drain(distill_job(src, out, _distill_config(p), resume=os.path.isdir(partial_dir(out))))
    student = [m for m in result.metrics["models"] if m["role"] == "student"][0]
    return {"psnr": student["psnr"], "ssim": student["ssim"], "count": student["count"], "bytes_out": student["bytes"],
            "keep_count": result.metrics["keep_count"]}  # fmt: skip


def _checked_by(build: Callable[[dict], object]) -> Callable[[dict], dict]:
    def check(o: dict) -> dict:
        build(o)  # InputError for a value out of range
        return o

    return check


def _one(suffix: str) -> Callable[[str, dict], list[tuple[str, dict]]]:
    return lambda name, o: [(name + suffix, dict(o))]


_VIEWS = {"views": 8, "size": 512}
JOBS: dict[str, JobSpec] = {
    j.name: j
    for j in (
        JobSpec("convert", "convert scenes to another format", "scene",
                {"to": "spz", "sh_degree": None, "spz_version": 4, "drop_invalid": False},
                _convert_check, lambda name, o: [(f"{name}.{o['to']}", dict(o))], _convert, scene_memory),
        JobSpec("compress", "compress scenes into .smol files (one per level)", "scene",
                {"codec": "ladder", "levels": [3], "psnr": False, **_VIEWS, "drop_invalid": False},
                _compress_check, _compress_outputs, _compress, scene_memory),
        JobSpec("rd", "rate-distortion sweeps (RD JSON per scene)", "scene",
                {"levels": list(range(1, 9)), "codecs": None, "baselines": True, **_VIEWS, "drop_invalid": False},
                _rd_check, _one(".rd.json"), _rd, scene_memory),
        JobSpec("eval", "PSNR/SSIM of scenes against one reference scene or capture", "scene",
                {"reference": None, "capture": None, **_VIEWS, "max_side": None, "drop_invalid": False},
                _eval_check, _one(".eval.json"), _eval, scene_memory),
        JobSpec("image", "compress images with 2D Gaussians (.sgi)", "image",
                {"bpp": None, "ratio": None, "iterations": None, "tile_size": None, "device": "auto", "seed": 0},
                _image_check, _one(".sgi"), _image, image_memory, uses_gpu=True),
        JobSpec("train", "train 3DGS scenes from capture folders", "capture",
                {"iterations": None, "max_side": None, "device": "auto", "seed": 0, "strategy": "default",
                 "cap_max": 1_000_000, "init_points": None, "sh_degree": 3},
                _checked_by(_train_config), _one(""), _train, uses_gpu=True),
        JobSpec("distill", "distil small students from capture folders (teachers trained here)", "capture",
                {"iterations": None, "max_side": None, "device": "auto", "seed": 0, "keep": 0.15, "init_points": None,
                 "l1_target": "gt", "structure_weight": 1.0, "pseudo_views": None},
                _checked_by(_distill_config), _one(""), _distill, uses_gpu=True),
    )
}  # fmt: skip


def job_options(job: str | JobSpec, given: dict | None = None) -> dict:
    """The job's options: its defaults updated with ``given`` (unknown names are an error), checked."""
    spec = JOBS[job] if isinstance(job, str) else job
    unknown = sorted(set(given or {}) - set(spec.defaults))
    if unknown:
        raise InputError(None, f"batch {spec.name} has no option {', '.join(unknown)}")
    return spec.check(spec.defaults | (given or {}))
