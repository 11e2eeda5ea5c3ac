"""engine.distill.report: a distillation's metrics.json read back for display (no scene files)."""

from __future__ import annotations

import json
import math
import os

import pytest

from engine.distill.report import load_report, per_view_series, share
from engine.errors import InputError


def _model(role, kind, path, count, psnr):
    return {"role": role, "kind": kind, "path": path, "count": count, "bytes": count * 248, "render_ms": 3.0,
            "psnr": psnr, "ssim": 0.9, "psnr_per_view": [psnr - 1, psnr + 1], "ssim_per_view": [0.8, 1.0]}


def _write(folder, **changes) -> dict:
    data = {"format": "splatlab.distill/1", "capture": "/data/lego", "keep": 0.15, "keep_count": 150,
            "iterations": 30, "max_side": 32, "test_views": ["r_0", "r_8"], "test_view_indices": [0, 8],
            "models": [_model("teacher", "standard", os.path.join("teachers", "standard", "point_cloud.ply"), 1000, 25.0),
                       _model("teacher", "given", "/elsewhere/t.ply", 900, 24.0),
                       _model("student", "student", "point_cloud.ply", 150, float("inf"))]}
    data.update(changes)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "metrics.json"), "w") as f:
        json.dump(data, f)
    return data


def test_a_report_resolves_paths_and_labels_its_models(tmp_path):
    _write(tmp_path)
    for where in (tmp_path, tmp_path / "metrics.json"):
        r = load_report(where)
        assert r["out_dir"] == str(tmp_path) and r["metrics_path"] == str(tmp_path / "metrics.json")
        assert [m["label"] for m in r["models"]] == ["teacher (standard)", "teacher 2 (given)", "student"]
        assert r["models"][0]["file"] == str(tmp_path / "teachers" / "standard" / "point_cloud.ply")
        assert r["models"][1]["file"] == "/elsewhere/t.ply"  # a given teacher stays where it is
        assert r["student"]["file"] == str(tmp_path / "point_cloud.ply") and r["student"]["psnr"] == math.inf
        assert [t["index"] for t in r["teachers"]] == [0, 1]
        assert share(r["student"], r) == pytest.approx(0.15)
        assert per_view_series(r)[0] == ("teacher (standard)", [24.0, 26.0])
        assert per_view_series(r, "ssim")[2] == ("student", [0.8, 1.0])


@pytest.mark.parametrize("changes, problem", [
    ({"format": "splatlab.train/1"}, "not a distillation result"),
    ({"test_view_indices": [0]}, "different lengths"),
    ({"models": []}, "lists no models"),
    ({"models": [_model("teacher", "standard", "a.ply", 10, 20.0)]}, "one student"),
    ({"models": [dict(_model("student", "student", "b.ply", 10, 20.0), psnr_per_view=[1.0])]}, "one value per test view"),
    ({"models": [{"role": "student"}]}, "lacks kind"),
])
def test_a_bad_report_names_its_file_and_the_problem(tmp_path, changes, problem):
    _write(tmp_path, **changes)
    with pytest.raises(InputError, match=problem) as e:
        load_report(tmp_path)
    assert e.value.path == str(tmp_path / "metrics.json")


def test_a_missing_or_broken_metrics_file_is_bad_input(tmp_path):
    with pytest.raises(InputError, match="no distillation metrics") as e:
        load_report(tmp_path)
    assert e.value.path == str(tmp_path / "metrics.json")
    (tmp_path / "metrics.json").write_text("{ not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_report(tmp_path)
