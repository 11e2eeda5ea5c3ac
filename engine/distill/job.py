"""``splatlab distill``: teachers, their mean images, the student, and the comparison of all of
them on the capture's test views (Distilled-3DGS, arXiv 2508.14037).

A job (engine.jobs): yields Progress across its stages (each teacher, the teacher means, the
student, the evaluation; the student's previews are scenes the studio draws live), honours
cancel and pause, and resumes from ``OUT.partial``: finished teachers are kept, an interrupted
teacher or student continues from its checkpoint bit-identically (engine.train.train_job). The
output folder appears only when complete:

    OUT/point_cloud.ply            the student (INRIA PLY)
    OUT/cameras.json               the capture's cameras (the studio's home view uses them)
    OUT/teachers/KIND/...          each teacher trained here (a splatlab train output folder)
    OUT/metrics.json               splatlab.distill/1: per model (teachers and the student) the
                                   count, file bytes, engine render time per frame, test PSNR /
                                   SSIM and their per-view lists, and the test view names
    OUT/config.json, OUT/student_log.jsonl
"""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import time
from dataclasses import dataclass

import torch

from engine.device import resolve_device
from engine.distill.config import DistillConfig
from engine.distill.pseudo_views import pseudo_views
from engine.distill.report import FORMAT
from engine.distill.student import student_factory
from engine.distill.teacher_mean import teacher_means_job
from engine.distill.teachers import teacher_factory
from engine.errors import Cancelled, InputError
from engine.io.captures import Capture, load_capture
from engine.jobs import CancelToken, Job, Progress
from engine.scene import GaussianScene

MIN_TEACHER_PSNR = 14.0  # a given teacher scoring below this on the training photos is from elsewhere
RENDER_REPEATS = 3


@dataclass
class DistillResult:
    status: str  # "done" | "paused"
    out_dir: str
    metrics: dict
    scene: GaussianScene | None  # the student


def _relay(job: Job, offset: int, span: int, total: int, stage: str):
    """Re-yield a sub-job's Progress on the distillation's overall scale, as its share of
    ``span`` steps from ``offset`` (never going back: a training job's own test evaluation
    counts from 1 again); return the sub-job's result."""
    it, last = iter(job), offset
    while True:
        try:
            p = next(it)
        except StopIteration as stop:
            return stop.value
        last = max(last, offset + min(span, round(span * p.step / max(p.total, 1))))
        yield Progress(last, total, f"{stage}: {p.message}", dict(p.metrics or {}, stage=stage), p.preview)


def teacher_files(paths: list[str] | None) -> list[str] | None:
    """Given teachers as files: a `splatlab train` output folder stands for its point_cloud.ply."""
    if not paths:
        return None
    return [os.path.join(p, "point_cloud.ply") if os.path.isdir(p) else p for p in paths]


def check_teacher(scene: GaussianScene, path: str, capture: Capture, views: int = 3) -> float:
    """Mean PSNR of a given teacher on a few training photos; InputError when it cannot be a model
    of this capture (another scene, or another coordinate frame)."""
    from engine.evaluate import render_view
    from engine.metrics import psnr

    ids = list(capture.train_indices)[:: max(1, len(capture.train_indices) // views)][:views]
    with torch.no_grad():
        values = [psnr(render_view(scene, capture.frames[i].camera, tuple(capture.background)), capture.image(i)) for i in ids]
    mean = float(statistics.fmean(min(v, 99.0) for v in values))
    if mean < MIN_TEACHER_PSNR:
        raise InputError(path, f"does not fit the capture {capture.path}: {mean:.1f} dB on its training photos "
                               "(trained on another capture, or in another coordinate frame?)")  # fmt: skip
    return mean


@torch.no_grad()
def render_ms(scene: GaussianScene, capture: Capture, views: list[int]) -> float:
    """Median engine render time per frame (ms) at the given views."""
    from engine.render import render

    times = []
    for i in views:
        cam = capture.frames[i].camera
        for _ in range(RENDER_REPEATS):
            t = time.perf_counter()
            render(scene, cam, background=tuple(capture.background), with_depth=False)
            times.append((time.perf_counter() - t) * 1000)
    return float(statistics.median(times)) if times else math.nan


def distill_job(
    capture: Capture | str,
    out_dir: str,
    config: DistillConfig,
    teachers: list[str] | None = None,
    cancel: CancelToken | None = None,
    pause: CancelToken | None = None,
    resume: bool = False,
) -> Job:
    """Distil a student from teachers (given PLY files, the first being the standard one the
    structural loss follows, or trained here: config.teachers); returns a DistillResult."""
    from engine import io
    from engine.evaluate import eval_against_capture
    from engine.io.atomic import atomic_write_text, make_output_folder
    from engine.train.trainer import CHECKPOINT, _finish_folder, cameras_json, partial_dir, train_job

    config.validate()
    resolve_device(config.device)  # "cuda" without a GPU is bad input before any work
    if isinstance(capture, str):
        capture = load_capture(capture, max_side=config.max_side)
    given = [(os.path.abspath(p), io.load(p)) for p in (teachers or [])]
    for path, scene in given:
        check_teacher(scene, path, capture)
    work = partial_dir(out_dir)
    if resume and not os.path.isdir(work):
        raise InputError(work, "there is no interrupted distillation to resume")
    if not resume and os.path.exists(work):
        shutil.rmtree(work)
    make_output_folder(work, out_dir)
    kinds = [] if given else list(config.teachers)
    n_views = len(capture.train_indices)
    n_pseudo = config.pseudo_views
    test_ids = list(capture.test_indices) or list(range(len(capture.frames)))
    n_models = max(len(kinds), len(given)) + 1
    total = config.iterations * (len(kinds) + 1) + n_views + n_pseudo + n_models * len(test_ids)
    keep = False
    try:
        # 1. teachers
        models: list[dict] = []  # role, kind, path (relative to OUT when trained here), scene
        offset = 0
        for k, kind in enumerate(kinds):
            tdir = os.path.join(work, "teachers", kind)
            if not os.path.exists(os.path.join(tdir, "metrics.json")):
                again = os.path.exists(os.path.join(partial_dir(tdir), CHECKPOINT))
                job = train_job(capture, tdir, config.train_config(seed_offset=k), cancel=cancel, pause=pause,
                                resume=again, make_trainer=teacher_factory(kind, config))  # fmt: skip
                result = yield from _relay(job, offset, config.iterations, total, f"teacher {k + 1}/{len(kinds)} ({kind})")
                if result.status == "paused":
                    keep = True
                    return DistillResult("paused", work, {"stage": f"teacher {kind}"}, None)
            models.append({"role": "teacher", "kind": kind, "path": os.path.join("teachers", kind, "point_cloud.ply"),
                           "scene": io.load(os.path.join(tdir, "point_cloud.ply"))})  # fmt: skip
            offset += config.iterations
        for path, scene in given:
            models.append({"role": "teacher", "kind": "given", "path": path, "scene": scene})
        teacher_scenes = [m["scene"] for m in models]
        standard = teacher_scenes[0]

        # 2. the teachers' mean image per training view and pseudo-view (cached with the student's checkpoint)
        means = pseudo = None
        if config.distill_weight > 0:
            cams = {i: capture.frames[i].camera for i in capture.train_indices}
            job = teacher_means_job(teacher_scenes, cams, capture.background, cache=os.path.join(work, "teacher_means.npz"),
                                    cancel=cancel)  # fmt: skip
            means = yield from _relay(job, offset, n_views, total, "teacher means")
        offset += n_views
        if config.pseudo_views > 0:
            cams = pseudo_views([capture.frames[i].camera for i in capture.train_indices], config.pseudo_views, config.seed)
            job = teacher_means_job(teacher_scenes, dict(enumerate(cams)), capture.background,
                                    cache=os.path.join(work, "pseudo_means.npz"), cancel=cancel, what="pseudo-view")  # fmt: skip
            pseudo = (cams, (yield from _relay(job, offset, n_pseudo, total, "teacher means at pseudo-views")))
        offset += n_pseudo

        # 3. the student
        keep_count = max(1, int(config.keep * standard.count))
        sdir = os.path.join(work, "student")
        again = os.path.exists(os.path.join(partial_dir(sdir), CHECKPOINT))
        target = standard.means if config.structure_weight > 0 else None
        job = train_job(capture, sdir, _student_train_config(config), cancel=cancel, pause=pause, resume=again,
                        make_trainer=student_factory(config, keep_count, means, target, pseudo))  # fmt: skip
        result = yield from _relay(job, offset, config.iterations, total, f"student (keep {config.keep:.0%})")
        if result.status == "paused":
            keep = True
            return DistillResult("paused", work, {"stage": "student"}, None)
        student = io.load(os.path.join(sdir, "point_cloud.ply"))

        # 4. every model on the test views
        offset += config.iterations
        rows = []
        for m in models + [{"role": "student", "kind": "student", "path": "point_cloud.ply", "scene": student}]:
            job = eval_against_capture(m["scene"], capture, cancel=cancel)
            ev = yield from _relay(job, offset, len(test_ids), total, f"evaluate {m['kind']}")
            offset += len(test_ids)
            file = m["path"] if os.path.isabs(m["path"]) else os.path.join(work, m["path"]) if m["role"] == "teacher" \
                else os.path.join(sdir, "point_cloud.ply")  # fmt: skip
            rows.append({"role": m["role"], "kind": m["kind"], "path": m["path"], "count": m["scene"].count,
                         "bytes": os.path.getsize(file), "render_ms": render_ms(m["scene"], capture, test_ids[:3]),
                         "psnr": ev["psnr"], "ssim": ev["ssim"], "psnr_per_view": ev["psnr_per_view"],
                         "ssim_per_view": ev["ssim_per_view"]})  # fmt: skip
        metrics = {"format": FORMAT, "capture": capture.path, "keep": config.keep, "keep_count": keep_count,
                   "iterations": config.iterations, "max_side": config.max_side, "l1_target": config.l1_target,
                   "test_views": [capture.frames[i].name for i in test_ids], "test_view_indices": test_ids,
                   "models": rows, "student_seconds": result.metrics.get("seconds")}  # fmt: skip

        # 5. the output folder
        os.replace(os.path.join(sdir, "point_cloud.ply"), os.path.join(work, "point_cloud.ply"))
        os.replace(os.path.join(sdir, "train_log.jsonl"), os.path.join(work, "student_log.jsonl"))
        shutil.rmtree(sdir)
        for name in ("teacher_means.npz", "pseudo_means.npz"):
            if os.path.exists(os.path.join(work, name)):
                os.unlink(os.path.join(work, name))
        atomic_write_text(os.path.join(work, "cameras.json"), json.dumps(cameras_json(capture), indent=2) + "\n")
        atomic_write_text(os.path.join(work, "config.json"), json.dumps(config.to_dict(), indent=2) + "\n")
        atomic_write_text(os.path.join(work, "metrics.json"), json.dumps(metrics, indent=2) + "\n")
        _finish_folder(work, out_dir)
        return DistillResult("done", os.path.abspath(out_dir), metrics, student)
    except (Cancelled, GeneratorExit):
        raise
    except KeyboardInterrupt:
        keep = True
        raise
    finally:
        if not keep and os.path.exists(work) and not os.path.exists(os.path.join(work, "metrics.json")):
            shutil.rmtree(work, ignore_errors=True)


def _student_train_config(config: DistillConfig):
    """The student's 3DGS recipe: growth stops at the prune (15k), and no opacity reset (§3.3)."""
    import dataclasses

    cfg = config.train_config(seed_offset=len(config.teachers))
    return dataclasses.replace(cfg, refine_stop=config.prune_step, reset_every=config.iterations + 1)
