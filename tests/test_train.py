"""Training on the CPU: it learns, it resumes identically, cancel leaves nothing behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from engine import io, jobs
from engine.errors import Cancelled, InputError
from engine.evaluate import eval_against_capture
from engine.io.captures import load_capture
from engine.jobs import CancelToken
from engine.train import TrainConfig, Trainer, train_job
from engine.train.init import initial_scene
from engine.train.strategies import relocation_torch
from engine.train.trainer import partial_dir
from tests.conftest import REPO, data_path

LEGO = "captures/lego_nerf_synthetic"


def _cfg(iterations=60, **kw):
    base = dict(iterations=iterations, max_side=32, init_points=400, log_every=5)
    base.update(kw)
    return TrainConfig(**base).validate().for_iterations(iterations)


def _run(job):
    return jobs.run(job, show=False)


def test_a_tiny_run_lowers_the_loss_and_raises_test_psnr(tiny_capture, tmp_path):
    cfg = _cfg(120)
    before = _run(eval_against_capture(initial_scene(tiny_capture, cfg), tiny_capture))["psnr"]
    losses = []
    job = train_job(tiny_capture, str(tmp_path / "out"), cfg)
    result = jobs.run(job, show=False, on_progress=lambda p: p.metrics.get("loss") and losses.append(p.metrics["loss"]))
    assert result.status == "done"
    assert np.mean(losses[-20:]) < 0.8 * np.mean(losses[:20])
    assert result.metrics["psnr"] > before + 2.0
    out = tmp_path / "out"
    assert sorted(os.listdir(out)) == ["cameras.json", "config.json", "metrics.json", "point_cloud.ply", "train_log.jsonl"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"psnr", "ssim", "count", "seconds"} <= set(metrics)
    scene = io.load(out / "point_cloud.ply")
    assert scene.count == metrics["count"] and scene.sh_degree == 3
    cams = json.loads((out / "cameras.json").read_text())
    assert len(cams) == len(tiny_capture.frames) and {"position", "rotation", "fx", "fy"} <= set(cams[0])
    assert not os.path.exists(partial_dir(str(out)))


def test_resume_after_pause_continues_identically(tiny_capture, tmp_path):
    cfg = _cfg(40, checkpoint_every=1000)
    straight = _run(train_job(tiny_capture, str(tmp_path / "a"), cfg))
    pause = CancelToken()
    job = train_job(tiny_capture, str(tmp_path / "b"), cfg, pause=pause)
    paused = jobs.run(job, show=False, on_progress=lambda p: p.step >= 17 and pause.cancel())
    assert paused.status == "paused" and paused.metrics["step"] == 17
    assert os.path.exists(os.path.join(partial_dir(str(tmp_path / "b")), "checkpoint.pt"))
    assert not (tmp_path / "b").exists()
    resumed = _run(train_job(tiny_capture, str(tmp_path / "b"), cfg, resume=True))
    assert resumed.status == "done"
    a, b = straight.scene, resumed.scene
    assert a.count == b.count
    for name in ("means", "quats", "log_scales", "opacity_logits", "sh"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name


def test_a_checkpoint_save_that_dies_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    """Checkpoints go through the atomic writer: a save that raises (a full disk, an interrupt)
    half-way leaves the previous checkpoint intact, or none, and no temporary file."""
    from engine.train.trainer import save_checkpoint

    class Fake:
        def __init__(self, step):
            self.step = step

        def state_dict(self):
            return {"step": self.step, "params": torch.arange(1000.0)}

    real_save = torch.save

    def dies_half_way(error):
        def save(obj, f, *a, **kw):
            real_save(obj, f, *a, **kw)
            with open(f, "r+b") as fh:
                fh.truncate(100)
            raise error

        return save

    fresh = tmp_path / "fresh" / "checkpoint.pt"
    fresh.parent.mkdir()
    monkeypatch.setattr(torch, "save", dies_half_way(RuntimeError("no space left")))
    with pytest.raises(RuntimeError):
        save_checkpoint(Fake(1), str(fresh))
    assert os.listdir(fresh.parent) == []
    monkeypatch.undo()

    path = tmp_path / "checkpoint.pt"
    save_checkpoint(Fake(1), str(path))
    for error in (RuntimeError("no space left"), KeyboardInterrupt()):
        monkeypatch.setattr(torch, "save", dies_half_way(error))
        with pytest.raises(type(error)):
            save_checkpoint(Fake(2), str(path))
        monkeypatch.undo()
        assert torch.load(path, weights_only=False)["step"] == 1
        assert sorted(os.listdir(tmp_path)) == ["checkpoint.pt", "fresh"]


def test_cancel_leaves_no_output_folder(tiny_capture, tmp_path):
    cancel = CancelToken()
    out = tmp_path / "cancelled"
    job = train_job(tiny_capture, str(out), _cfg(200, checkpoint_every=2), cancel=cancel)
    with pytest.raises(Cancelled):
        jobs.run(job, show=False, on_progress=lambda p: p.step >= 6 and cancel.cancel())
    job.close()
    assert not out.exists()
    assert not os.path.exists(partial_dir(str(out)))


def test_default_strategy_opacity_reset_fires(tiny_capture):
    """gsplat 1.5.3 never resets opacities; the trainer must (INRIA: every reset_every steps)."""
    cfg = _cfg(60, init_opacity=0.9)
    cfg.refine_start, cfg.refine_every, cfg.reset_every, cfg.refine_stop = 1000, 1000, 10, 60
    tr = Trainer(tiny_capture, cfg, torch.device("cpu"))
    for _ in range(11):  # steps 0..10: the reset happens after step 10
        tr.step()
    assert torch.sigmoid(tr.params["opacities"]).max() <= cfg.prune_opa * 2.0 + 1e-6


def test_mcmc_runs_on_cpu_within_its_budget(tiny_capture, tmp_path):
    cfg = _cfg(60, strategy="mcmc", cap_max=500)
    result = _run(train_job(tiny_capture, str(tmp_path / "mcmc"), cfg))
    assert result.status == "done"
    assert 400 < result.metrics["count"] <= 500


def test_relocation_twin_matches_the_paper_formula():
    import math

    binoms = torch.tensor([[math.comb(n, k) if k <= n else 0 for k in range(51)] for n in range(51)], dtype=torch.float32)
    o = torch.tensor([0.3, 0.9, 0.05, 0.6])
    s = torch.rand(4, 3)
    r = torch.tensor([1, 2, 5, 12])
    new_o, new_s = relocation_torch(o, s, r, binoms)
    for j in range(4):
        n, oj = int(r[j]), float(o[j])
        no = 1 - (1 - oj) ** (1 / n)
        denom = sum(math.comb(i - 1, k) * (-1) ** k / math.sqrt(k + 1) * no ** (k + 1) for i in range(1, n + 1) for k in range(i))
        assert float(new_o[j]) == pytest.approx(no, rel=1e-6)
        assert new_s[j].numpy() == pytest.approx((s[j] * oj / denom).numpy(), rel=1e-5)


def test_gsplat_ops_are_patched_only_during_a_cpu_mcmc_step():
    """The CPU twins of gsplat's two MCMC kernels (engine.train.strategies.cpu_twins) are bound in
    gsplat.strategy.ops while a CPU MCMC step runs, and gsplat's own functions are back after it:
    making the strategy or taking a step leaves gsplat as it was for the rest of the process."""
    import gsplat.strategy.ops as ops

    from engine.train.strategies import MCMC

    def bound():
        return ops.compute_relocation, ops.quat_scale_to_covar_preci

    original = bound()
    cfg = TrainConfig(iterations=1000, strategy="mcmc", cap_max=80, refine_start=10, refine_stop=900, refine_every=10)
    strategy = MCMC(cfg)
    assert bound() == original
    n = 50
    g = torch.Generator().manual_seed(0)
    params = torch.nn.ParameterDict({
        "means": torch.randn(n, 3, generator=g), "scales": torch.full((n, 3), -2.0), "quats": torch.randn(n, 4, generator=g),
        "opacities": torch.cat([torch.full((n // 2,), -8.0), torch.full((n - n // 2,), 1.0)]),  # half of them dead
    })  # fmt: skip
    optimizers = {k: torch.optim.Adam([p], lr=1e-3) for k, p in params.items()}
    state = strategy.initialize_state(scene_scale=1.0)
    during = []
    step_post_backward = strategy.inner.step_post_backward
    strategy.inner.step_post_backward = lambda *a, **k: (during.append(bound()), step_post_backward(*a, **k))
    strategy.after_step(params, optimizers, state, 20, {}, lr=1e-3)  # relocates, adds 5% and adds noise
    assert len(during) == 1 and during[0][0] is not original[0] and during[0][1] is not original[1]
    assert bound() == original
    assert len(params["means"]) == 52 and torch.sigmoid(params["opacities"]).min() > 0.004  # the dead were moved


def _small_capture_copy(tmp_path, n_images=6):
    """A NeRF-synthetic capture with the first few lego images (for damaging on purpose)."""
    src = data_path(LEGO)
    dst = tmp_path / "lego_small"
    (dst / "train").mkdir(parents=True)
    meta = json.loads((src / "transforms_train.json").read_text())
    frames = [f for f in meta["frames"] if (src / (f["file_path"].lstrip("./") + ".png")).exists()][:n_images]
    for f in frames:
        rel = f["file_path"].lstrip("./") + ".png"
        shutil.copy(src / rel, dst / rel)
    meta["frames"] = frames
    (dst / "transforms_train.json").write_text(json.dumps(meta))
    return dst, frames


def test_corrupt_and_missing_images_warn_and_are_skipped(tmp_path):
    cap_dir, frames = _small_capture_copy(tmp_path)
    (cap_dir / (frames[1]["file_path"].lstrip("./") + ".png")).write_bytes(b"\x89PNG\r\n\x1a\n broken")
    os.unlink(cap_dir / (frames[2]["file_path"].lstrip("./") + ".png"))
    with pytest.warns(UserWarning):
        result = _run(train_job(str(cap_dir), str(tmp_path / "out"), _cfg(10)))
    assert result.status == "done"


def test_a_capture_without_images_is_a_clear_error(tmp_path):
    cap_dir, frames = _small_capture_copy(tmp_path, 3)
    for f in frames:
        os.unlink(cap_dir / (f["file_path"].lstrip("./") + ".png"))
    with pytest.raises(InputError, match="transforms_train.json"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _run(train_job(str(cap_dir), str(tmp_path / "out"), _cfg(10)))
    assert not (tmp_path / "out").exists()


def test_cli_train_and_eval(tmp_path):
    cap = data_path(LEGO)
    out = tmp_path / "cli_out"
    run = lambda *a: subprocess.run([sys.executable, "-m", "engine.cli", *a], cwd=REPO, capture_output=True, text=True, timeout=300)  # noqa: E731
    r = run("train", str(cap), "-o", str(out), "--iterations", "20", "--max-side", "24", "--init-points", "800", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["count"] > 0 and os.path.exists(out / "point_cloud.ply")
    r = run("eval", str(out / "point_cloud.ply"), "--capture", str(cap), "--max-side", "24", "--json")
    assert r.returncode == 0, r.stderr
    ev = json.loads(r.stdout)
    assert ev["psnr"] == pytest.approx(summary["psnr"], abs=1e-6)
    r = run("train", str(tmp_path / "nope"), "-o", str(tmp_path / "x"), "--iterations", "5")
    assert r.returncode == 2 and "nope" in r.stderr
    r = run("train", str(cap), "-o", str(tmp_path / "x"), "--iterations", "0")
    assert r.returncode == 2


def test_random_init_of_a_real_capture_reaches_the_background():
    """Without alpha masks (fox) the random cloud fills a cube 3x the subject's, so the room
    behind the fox starts with points; with masks (lego) it stays inside the object's hull."""
    from engine.train.init import UNMASKED_SPREAD, convergence_point, random_points_in_view

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fox lists frames whose image is missing
        fox = load_capture(data_path("captures/fox_instant_ngp"), max_side=48)
    centre = convergence_point(fox)
    subject, _ = random_points_in_view(fox, 3000, seed=0, spread=1.0)
    default, rgb = random_points_in_view(fox, 3000, seed=0)
    reach = lambda p: float(np.abs(p - centre).max())  # noqa: E731
    assert reach(default) > 0.8 * UNMASKED_SPREAD * reach(subject)
    assert rgb.shape == (3000, 3) and 0.0 <= rgb.min() and rgb.max() <= 1.0
    lego = load_capture(data_path(LEGO), max_side=32)
    hull, _ = random_points_in_view(lego, 2000, seed=0)
    assert np.array_equal(hull, random_points_in_view(lego, 2000, seed=0, spread=1.0)[0])  # the object's cube


def test_config_from_options_applies_the_device_defaults():
    """TrainConfig.from_options is what `splatlab train` and the Train panel build a run with."""
    from engine.device import TRAIN

    cfg = TrainConfig.from_options(device="cpu")
    assert cfg.iterations == TRAIN.cpu_iterations and cfg.max_side == TRAIN.cpu_max_side
    assert cfg == TrainConfig(iterations=TRAIN.cpu_iterations, max_side=TRAIN.cpu_max_side,
                              device="cpu").for_iterations(TRAIN.cpu_iterations)  # fmt: skip
    assert TrainConfig.from_options(device="cpu", max_side=0).max_side is None  # 0: full size
    assert TrainConfig.from_options(device="cpu", init_points=500).init_points == 500
    for bad in (dict(init_points=0), dict(iterations=0), dict(max_side=4), dict(strategy="x")):
        with pytest.raises(InputError):
            TrainConfig.from_options(device="cpu", **bad)
