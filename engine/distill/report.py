"""A finished distillation's ``metrics.json`` (format splatlab.distill/1, written by
engine.distill.job) read back for display: validated, with every model's file resolved to an
absolute path and a short label, and the per-view series a chart draws.

The studio's Distill dock and anything else that inspects an output folder use this; it reads
no scene files, so opening a finished run is instant.
"""

from __future__ import annotations

import json
import math
import os

from engine.errors import InputError

FORMAT = "splatlab.distill/1"  # the format engine.distill.job writes
METRICS = "metrics.json"
MODEL_KEYS = ("role", "kind", "path", "count", "bytes", "render_ms", "psnr", "ssim", "psnr_per_view", "ssim_per_view")


def model_label(model: dict) -> str:
    """"teacher (standard)", "teacher 2 (given)", "student"."""
    if model["role"] == "student":
        return "student"
    return f"teacher ({model['kind']})" if model["kind"] != "given" else f"teacher {model.get('index', 0) + 1} (given)"


def _number(v) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def load_report(out_dir: str | os.PathLike) -> dict:
    """The run in ``out_dir`` (the output folder, or its metrics.json): metrics.json's fields, plus
    ``out_dir`` and ``metrics_path`` (absolute), and per model ``file`` (absolute path),
    ``label`` and ``index`` (position among the teachers). ``teachers`` lists the teacher models
    in order (the first is the standard one the student followed) and ``student`` is the student.
    Raises InputError naming metrics.json when it is missing, unreadable or not this format."""
    path = os.path.abspath(os.fspath(out_dir))
    if os.path.isdir(path):
        path = os.path.join(path, METRICS)
    folder = os.path.dirname(path)
    if not os.path.isfile(path):
        raise InputError(path, "no distillation metrics here (is this a `splatlab distill` output folder?)")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(path, f"cannot read it ({getattr(e, 'strerror', None) or e})") from e
    except ValueError as e:
        raise InputError(path, f"not valid JSON ({e})") from e
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        got = data.get("format") if isinstance(data, dict) else None
        raise InputError(path, f"not a distillation result (format {got!r}, expected {FORMAT!r})")
    models = data.get("models")
    views = data.get("test_views")
    indices = data.get("test_view_indices")
    if not isinstance(views, list) or not isinstance(indices, list) or len(views) != len(indices):
        raise InputError(path, "its test_views and test_view_indices are missing or of different lengths")
    if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in indices):
        raise InputError(path, "test_view_indices must be frame indices (integers >= 0)")
    if not isinstance(models, list) or not models:
        raise InputError(path, "it lists no models")
    out_models = []
    teachers = 0
    for k, m in enumerate(models):
        missing = [key for key in MODEL_KEYS if not isinstance(m, dict) or key not in m]
        if missing:
            raise InputError(path, f"model {k + 1} lacks {', '.join(missing)}")
        if m["role"] not in ("teacher", "student"):
            raise InputError(path, f"model {k + 1} has an unknown role {m['role']!r}")
        for key in ("psnr_per_view", "ssim_per_view"):
            if not isinstance(m[key], list) or len(m[key]) != len(views):
                raise InputError(path, f"model {k + 1}'s {key} does not have one value per test view")
        row = dict(m)
        for key in ("count", "bytes"):
            row[key] = int(m[key]) if isinstance(m[key], int) else m[key]
        for key in ("render_ms", "psnr", "ssim"):
            row[key] = _number(m[key])
        row["psnr_per_view"] = [_number(v) for v in m["psnr_per_view"]]
        row["ssim_per_view"] = [_number(v) for v in m["ssim_per_view"]]
        row["file"] = os.path.normpath(m["path"] if os.path.isabs(m["path"]) else os.path.join(folder, m["path"]))
        row["index"] = teachers if m["role"] == "teacher" else 0
        teachers += m["role"] == "teacher"
        row["label"] = model_label(row)
        out_models.append(row)
    students = [m for m in out_models if m["role"] == "student"]
    if len(students) != 1 or teachers == 0:
        raise InputError(path, f"expected teachers and one student, found {teachers} teachers and {len(students)} students")
    report = dict(data)
    report.update(out_dir=folder, metrics_path=path, models=out_models,
                  teachers=[m for m in out_models if m["role"] == "teacher"], student=students[0])  # fmt: skip
    return report


def share(model: dict, report: dict) -> float:
    """``model``'s Gaussians as a share of the standard (first) teacher's."""
    base = report["teachers"][0]["count"]
    return model["count"] / base if base else math.nan


def per_view_series(report: dict, metric: str = "psnr") -> list[tuple[str, list[float]]]:
    """(label, values per test view) for each model, teachers first: the per-view chart's lines."""
    if metric not in ("psnr", "ssim"):
        raise ValueError(f"unknown metric {metric!r}")
    return [(m["label"], list(m[f"{metric}_per_view"])) for m in report["models"]]
