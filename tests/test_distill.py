"""Distilled-3DGS (engine.distill): teacher means, the structural loss, importance pruning, and
the whole job: it distils, pauses and resumes identically, cancels cleanly, refuses bad input."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
import torch

from engine import jobs
from engine.distill import DistillConfig, distill_job
from engine.distill.importance import budget_prune_mask, cdf_prune_mask, importance_score, sample_survivors
from engine.distill.pseudo_views import pseudo_views
from engine.distill.structure import structural_loss, structural_loss_dense
from engine.distill.teacher_mean import teacher_means_job
from engine.distill.teachers import _matrix_to_quat, _quat_to_matrix, six_d_noise
from engine.errors import Cancelled, InputError
from engine.jobs import CancelToken
from engine.render import camera_tensors, rasterize, render
from engine.render.contributions import contributions
from engine.train.trainer import partial_dir
from tests.conftest import random_scene



def _cfg(**kw) -> DistillConfig:
    base = dict(iterations=30, max_side=32, keep=0.3, init_points=300)
    return DistillConfig(**{**base, **kw}).validate()


# ---------------------------------------------------------------------------- pieces
def test_the_teacher_mean_is_the_pixel_mean_of_the_clamped_renders(tiny_capture, tmp_path):
    teachers = [random_scene(300, seed=s, extent=1.0) for s in (1, 2, 3)]
    views = list(tiny_capture.train_indices)[:3]
    cache = str(tmp_path / "means.npz")
    cams = {i: tiny_capture.frames[i].camera for i in views}
    means = jobs.run(teacher_means_job(teachers, cams, tiny_capture.background, cache=cache), show=False)
    bg = tuple(tiny_capture.background)
    for i in views:
        cam = tiny_capture.frames[i].camera
        expected = torch.stack([render(t, cam, background=bg, with_depth=False).colors[0].clamp(0, 1) for t in teachers]).mean(0)
        assert torch.allclose(means.image(i), expected, atol=0.5 / 255 + 1e-6)
        assert means.images[i].dtype == np.uint8  # 3 bytes a pixel, not a float image
    again = jobs.run(teacher_means_job([], cams, tiny_capture.background, cache=cache), show=False)  # read back, no renders
    assert all(np.array_equal(again.images[i], means.images[i]) for i in views)


def test_the_separable_structural_loss_equals_the_dense_histogram_definition():
    g = torch.Generator().manual_seed(0)
    teacher = torch.randn(400, 3, generator=g)
    student = teacher[:300] + 0.1 * torch.randn(300, 3, generator=g)
    for bins in (8, 24):
        assert structural_loss(student, teacher, bins=bins).item() == pytest.approx(
            structural_loss_dense(student, teacher, bins=bins).item(), abs=1e-5)


def test_the_structural_loss_is_zero_for_the_same_points_and_grows_with_displacement():
    g = torch.Generator().manual_seed(1)
    teacher = torch.randn(2000, 3, generator=g)
    assert structural_loss(teacher.clone(), teacher).item() == pytest.approx(0.0, abs=1e-5)
    losses = [structural_loss(teacher + torch.tensor([d, 0.0, 0.0]), teacher).item() for d in (0.02, 0.1, 0.5)]
    assert 0 < losses[0] < losses[1] < losses[2]
    moved = (teacher + 0.3).requires_grad_()
    structural_loss(moved, teacher).backward()
    assert moved.grad is not None and moved.grad.abs().sum() > 0  # it pulls the student


def test_contributions_match_the_renderers_weights_and_area_max_partitions_the_pixels():
    scene = random_scene(400, seed=4)
    from engine.camera import home_view

    cam = home_view(scene, 48, 40)
    g = scene.activated()
    c = contributions(g.means, g.quats, g.scales, g.opacities, cam)
    colors = torch.ones(scene.count, 1, requires_grad=True)
    viewmats, Ks = camera_tensors([cam], "cpu")
    out = rasterize(g.means, g.quats, g.scales, g.opacities, colors, viewmats, Ks, 48, 40, sh_degree=None, with_depth=False)
    out.colors.sum().backward()
    assert torch.allclose(c.weight, colors.grad[:, 0].double(), atol=1e-4)  # sum of alpha T, per Gaussian
    covered = int((out.alphas[0, ..., 0] > 0).sum())
    assert int(c.area_max.sum()) == covered  # every covered pixel has one top contributor (no ties here)
    assert bool((c.area >= c.area_max).all())


def test_pruning_keeps_the_requested_number_by_importance():
    gen = torch.Generator().manual_seed(0)
    score = torch.rand(1000, generator=gen, dtype=torch.float64)
    score[:100] = 0
    keep = sample_survivors(score, 150, gen)
    assert int(keep.sum()) == 150 and not keep[:100].any()  # zero importance is never drawn
    few = sample_survivors(score[:120], 50, gen)  # fewer positive than asked: the top ones
    assert int(few.sum()) == 50
    cdf = cdf_prune_mask(score, 0.01)
    assert not cdf[:100].any() and score[~cdf].sum() <= 0.01 * score.sum() + 1e-12
    budget = budget_prune_mask(score, 400, 0.01)  # the CDF prune, then down to the budget by importance
    assert int(budget.sum()) == 400 and not budget[:100].any()
    assert score[budget].min() >= score[cdf & ~budget].max()
    assert torch.equal(budget_prune_mask(score, 10_000, 0.01), cdf)  # under the budget: the CDF prune alone


def test_importance_is_zero_for_gaussians_that_never_win_a_pixel(tiny_capture):
    scene = random_scene(300, seed=5)
    far = scene.means.clone()
    far[:10] += 1000.0  # out of every view
    g = scene.replace(means=far).activated()
    cams = [tiny_capture.frames[i].camera for i in tiny_capture.train_indices[:4]]
    score = importance_score(g.means, g.quats, g.scales, g.opacities, cams)
    assert (score[:10] == 0).all() and (score > 0).any()


def test_pseudo_views_lie_between_neighbouring_training_cameras(tiny_capture):
    cams = [tiny_capture.frames[i].camera for i in tiny_capture.train_indices]
    views = pseudo_views(cams, 12, seed=3)
    assert len(views) == 12 and pseudo_views(cams, 0) == []
    centres = np.stack([c.center for c in cams])
    for v in views:
        r = v.camera_to_world[:3, :3]
        assert np.allclose(r @ r.T, np.eye(3), atol=1e-9) and np.linalg.det(r) > 0  # a rotation
        # the centre is on a segment from a training camera towards another, 25-75 % of the way
        d = np.linalg.norm(centres - v.center, axis=1)
        a, b = np.argsort(d)[:2]
        seg = centres[b] - centres[a]
        t = float(np.dot(v.center - centres[a], seg) / np.dot(seg, seg))
        assert 0.2 < t < 0.8 and np.allclose(centres[a] + t * seg, v.center, atol=1e-6)
        assert not any(np.allclose(v.center, c) for c in centres)
        assert (v.width, v.height, v.fx) == (cams[0].width, cams[0].height, cams[0].fx)
    again = pseudo_views(cams, 12, seed=3)
    assert all(np.array_equal(a.camera_to_world, b.camera_to_world) for a, b in zip(views, again))


def test_six_d_rotation_noise_keeps_unit_quaternions_and_zero_noise_is_identity():
    q = torch.nn.functional.normalize(torch.randn(50, 4, generator=torch.Generator().manual_seed(2)), dim=-1)
    assert torch.allclose(_quat_to_matrix(_matrix_to_quat(_quat_to_matrix(q))), _quat_to_matrix(q), atol=1e-5)
    assert torch.allclose(_quat_to_matrix(six_d_noise(q, 0.0)), _quat_to_matrix(q), atol=1e-5)
    noisy = six_d_noise(q, 0.1)
    assert torch.allclose(noisy.norm(dim=-1), torch.ones(50), atol=1e-5) and not torch.allclose(noisy, q)


# ---------------------------------------------------------------------------- the job
@pytest.fixture(scope="module")
def distilled(tiny_capture, tmp_path_factory):
    out = tmp_path_factory.mktemp("distill") / "run"
    losses = []

    def watch(p):
        if str(p.metrics.get("stage", "")).startswith("student") and "loss" in p.metrics:
            losses.append(p.metrics["loss"])

    result = jobs.run(distill_job(tiny_capture, str(out), _cfg()), show=False, on_progress=watch)
    return out, result, losses


def test_a_tiny_distillation_writes_the_student_the_teachers_and_metrics(distilled):
    out, result, losses = distilled
    assert result.status == "done"
    assert {"point_cloud.ply", "cameras.json", "metrics.json", "config.json", "teachers"} <= set(os.listdir(out))
    assert sorted(os.listdir(out / "teachers")) == ["dropout", "noise", "standard"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["format"] == "splatlab.distill/1"
    roles = [(m["role"], m["kind"]) for m in metrics["models"]]
    assert roles == [("teacher", "standard"), ("teacher", "noise"), ("teacher", "dropout"), ("student", "student")]
    standard, student = metrics["models"][0], metrics["models"][-1]
    assert student["count"] <= int(0.3 * standard["count"])  # the requested share (fewer if the CDF prune takes more)
    for m in metrics["models"]:
        assert len(m["psnr_per_view"]) == len(m["ssim_per_view"]) == len(metrics["test_views"])
        assert m["bytes"] > 0 and m["render_ms"] > 0 and np.isfinite(m["psnr"])
    assert len(losses) == 30 and np.mean(losses[8:14]) < np.mean(losses[:6])  # it learns (before the prune at 15)
    assert not os.path.exists(partial_dir(str(out)))


def test_pausing_and_resuming_gives_the_same_student_bit_for_bit(tiny_capture, distilled, tmp_path):
    out, result, _ = distilled
    teachers = [str(out / "teachers" / k / "point_cloud.ply") for k in ("standard", "noise", "dropout")]
    cfg = _cfg()
    jobs.run(distill_job(tiny_capture, str(tmp_path / "a"), cfg, teachers=teachers), show=False)
    pause = CancelToken()
    job = distill_job(tiny_capture, str(tmp_path / "b"), cfg, teachers=teachers, pause=pause)
    paused = jobs.run(job, show=False, on_progress=lambda p: "student" in p.message and "step 20" in p.message and pause.cancel())
    assert paused.status == "paused" and not (tmp_path / "b").exists()
    resumed = jobs.run(distill_job(tiny_capture, str(tmp_path / "b"), cfg, teachers=teachers, resume=True), show=False)
    assert resumed.status == "done"
    a = (tmp_path / "a" / "point_cloud.ply").read_bytes()
    assert a == (tmp_path / "b" / "point_cloud.ply").read_bytes()


def test_cancel_leaves_no_output(tiny_capture, tmp_path):
    cancel = CancelToken()
    job = distill_job(tiny_capture, str(tmp_path / "run"), _cfg(), cancel=cancel)
    with pytest.raises(Cancelled):
        jobs.run(job, show=False, on_progress=lambda p: p.step >= 50 and cancel.cancel())
    assert os.listdir(tmp_path) == []


def test_bad_teachers_and_budgets_are_refused_before_any_work(tiny_capture, distilled, tmp_path):
    out, _, _ = distilled
    with pytest.raises(InputError, match="keep"):
        _cfg(keep=1.5)
    with pytest.raises(InputError, match="missing.ply"):
        jobs.run(distill_job(tiny_capture, str(tmp_path / "x"), _cfg(), teachers=[str(tmp_path / "missing.ply")]), show=False)
    from engine import io

    moved = io.load(out / "teachers" / "standard" / "point_cloud.ply")
    moved = moved.replace(means=moved.means * 3.0 + torch.tensor([5.0, -2.0, 1.0]))  # another coordinate frame
    path = tmp_path / "elsewhere.ply"
    io.save(moved, path)
    with pytest.raises(InputError, match="does not fit the capture"):
        jobs.run(distill_job(tiny_capture, str(tmp_path / "x"), _cfg(), teachers=[str(path)]), show=False)
    assert not (tmp_path / "x").exists() and not os.path.exists(partial_dir(str(tmp_path / "x")))


def test_pruning_alone_needs_no_teacher_means(tiny_capture, distilled, tmp_path):
    out, _, _ = distilled
    cfg = dataclasses.replace(_cfg(), distill_weight=0.0, structure_weight=0.0)
    r = jobs.run(distill_job(tiny_capture, str(tmp_path / "p"), cfg,
                             teachers=[str(out / "teachers" / "standard" / "point_cloud.ply")]), show=False)  # fmt: skip
    assert r.status == "done" and r.metrics["models"][-1]["count"] <= r.metrics["keep_count"]


def test_cli_distills_from_a_train_folder_and_refuses_bad_input(tiny_capture, distilled, tmp_path, capsys):
    from engine.cli import main

    out, _, _ = distilled
    capture = tiny_capture.path
    assert main(["distill", capture, "-o", str(tmp_path / "a"), "--keep", "0"]) == 2
    assert "--keep 0 is out of range" in capsys.readouterr().err
    assert main(["distill", capture, "-o", str(tmp_path / "a"), "--teachers", str(tmp_path / "none.ply")]) == 2
    assert "none.ply: no such file" in capsys.readouterr().err
    assert not (tmp_path / "a").exists()
    rc = main(["distill", capture, "-o", str(tmp_path / "s"), "--teachers", str(out / "teachers" / "standard"),
               "--iterations", "20", "--max-side", "32", "--init-points", "300", "--keep", "0.2", "--json"])  # fmt: skip
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert [m["role"] for m in summary["models"]] == ["teacher", "student"]
    assert summary["models"][1]["count"] <= summary["keep_count"]
    assert (tmp_path / "s" / "point_cloud.ply").exists()
