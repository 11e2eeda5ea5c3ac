"""``splatlab edit``: steps in command-line order, counts, bad input (exit 2), atomic output."""

from __future__ import annotations

import json
import math
import subprocess

import numpy as np
import pytest
import torch

from engine import io
from engine.cli import main
from engine.edit import transform
from engine.scene import GaussianScene
from tests.conftest import random_scene, splat_transform


def line_scene(n: int = 21) -> GaussianScene:
    """Splats on the x axis at 0, 0.1, ..., 2.0 (SH degree 1)."""
    s = random_scene(n, sh_degree=1, seed=9)
    s.means[:] = 0.0
    s.means[:, 0] = torch.arange(n, dtype=torch.float32) * 0.1
    return s


@pytest.fixture
def line_file(tmp_path):
    path = tmp_path / "line.ply"
    io.save(line_scene(), path)
    return path


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_steps_run_in_the_order_given(tmp_path, line_file, capsys):
    a, b = tmp_path / "a.ply", tmp_path / "b.ply"
    # translate then crop: the splats at 0.0-1.0 move to 1.0-2.0 and stay; crop then translate: 0.0-1.0 kept
    code, _, err = run(capsys, "edit", line_file, "-o", a, "--translate", "1,0,0", "--crop-box", "-0.05,-1,-1,1.05,1,1")
    assert code == 0, err
    code, _, err = run(capsys, "edit", line_file, "-o", b, "--crop-box", "-0.05,-1,-1,1.05,1,1", "--translate", "1,0,0")
    assert code == 0, err
    xa, xb = io.load(a).means[:, 0].numpy(), io.load(b).means[:, 0].numpy()
    assert len(xa) == 1 and xa[0] == pytest.approx(1.0)  # only the splat at 0.0 (now 1.0) stays in the box
    assert len(xb) == 11 and np.allclose(np.sort(xb), np.arange(11) * 0.1 + 1.0, atol=1e-6)
    assert "--crop-box -0.05,-1,-1,1.05,1,1: 21 -> 11 splats (10 deleted)" in err
    assert f"wrote {b} (11 splats" in err


def test_negative_values_rotate_scale_mirror_and_up(tmp_path, line_file, capsys):
    out = tmp_path / "t.ply"
    code, _, err = run(capsys, "edit", line_file, "-o", out, "--translate", "-1,0,0", "--rotate", "0,0,90", "--mirror", "x",
                       "--scale", "2", "--up", "-z")  # fmt: skip
    assert code == 0, err
    # x - 1 -> (0, x - 1, 0) by the quarter turn about z -> unchanged by mirror x -> doubled -> up -z to -y: y -> z
    r = transform.up_rotation("-z")
    want = (r @ np.stack([np.zeros(21), 2 * (np.arange(21) * 0.1 - 1), np.zeros(21)])).T
    assert np.allclose(io.load(out).means.numpy(), want, atol=1e-5)


def test_rotate_matches_the_engine_and_keeps_the_colours(tmp_path, capsys):
    src, out = tmp_path / "s.ply", tmp_path / "r.ply"
    scene = random_scene(100, sh_degree=3, seed=1)
    io.save(scene, src)
    assert run(capsys, "edit", src, "-o", out, "--rotate", "10,-20,30")[0] == 0
    got = io.load(out)
    r = transform.rotation_from_euler(10, -20, 30)
    assert np.allclose(got.means.numpy(), scene.means.numpy() @ r.T, atol=1e-6)
    from engine.render.sh import eval_sh

    d = torch.randn(100, 3, dtype=torch.float64)
    assert torch.allclose(eval_sh(3, got.sh.double(), d @ torch.from_numpy(r).T), eval_sh(3, scene.sh.double(), d), atol=1e-5)


def test_filters_clean_up_and_json(tmp_path, capsys):
    scene = random_scene(400, seed=2)
    scene.opacity_logits[:50] = -5.0  # opacity ~0.0067
    scene.opacity_logits[50:] = 2.0
    rng = np.random.default_rng(0)
    scene.means[:] = torch.tensor(rng.standard_normal((400, 3)) * 0.2, dtype=torch.float32)
    scene.means[390:] = torch.tensor([[5.0, 5, 5]]) + torch.rand(10, 3) * 0.1  # a far clump: floaters
    src, out = tmp_path / "s.ply", tmp_path / "o.ply"
    io.save(scene, src)
    code, stdout, err = run(capsys, "edit", src, "-o", out, "--filter", "opacity < 0.01", "--keep-largest-cluster", "0.5",
                            "--remove-floaters", "--json")  # fmt: skip
    assert code == 0, err
    report = json.loads(stdout)
    assert [(s["step"], s["before"], s["after"]) for s in report["steps"]][:2] == [("filter", 400, 350), ("keep-largest-cluster", 350, 340)]
    assert report["after"] == io.load(out).count == report["steps"][-1]["after"]
    kept = io.load(out)
    assert (torch.sigmoid(kept.opacity_logits) >= 0.01).all() and (kept.means.abs() < 4).all()


def test_drop_invalid_runs_in_order_and_is_required_for_invalid_files(tmp_path, capsys):
    scene = random_scene(30, seed=3)
    scene.means[4, 1] = float("nan")
    src, out = tmp_path / "nan.ply", tmp_path / "o.ply"
    io.save(scene, src)
    code, _, err = run(capsys, "edit", src, "-o", out, "--translate", "1,0,0")
    assert code == 2 and "--drop-invalid" in err and str(src) in err and not out.exists()
    code, _, err = run(capsys, "edit", src, "-o", out, "--translate", "1,0,0", "--drop-invalid")
    assert code == 0, err
    got = io.load(out)
    assert got.count == 29 and torch.isfinite(got.means).all()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--crop-box", "1,2,3"], "--crop-box '1,2,3': expected x0,y0,z0,x1,y1,z1"),
        (["--crop-sphere", "0,0,0,-1"], "--crop-sphere '0,0,0,-1': the radius must be > 0"),
        (["--translate", "1,x,0"], "--translate '1,x,0': expected x,y,z"),
        (["--rotate", "1,2"], "--rotate '1,2': expected rx,ry,rz"),
        (["--scale", "0"], "--scale '0': the factor must be > 0"),
        (["--filter", "weight<3"], "unknown attribute 'weight'"),
        (["--filter", "opacity 3"], "expected ATTRIBUTE OP VALUE"),
        (["--filter", "opacity<abc"], "'abc' is not a number"),
        (["--remove-floaters", "0,2"], "K must be a whole number >= 1"),
        (["--keep-largest-cluster", "nan"], "--keep-largest-cluster 'nan'"),
        (["--up", "+w"], "--up: up axis '+w' is not one of"),
    ],
)
def test_bad_values_exit_2_naming_the_option(tmp_path, line_file, capsys, args, message):
    out = tmp_path / "o.ply"
    code, _, err = run(capsys, "edit", line_file, "-o", out, *args)
    assert code == 2 and message in err, err
    assert not out.exists()


def test_missing_input_and_bad_output_exit_2(tmp_path, line_file, capsys):
    code, _, err = run(capsys, "edit", tmp_path / "absent.ply", "-o", tmp_path / "o.ply")
    assert code == 2 and f"{tmp_path / 'absent.ply'}: no such file" in err
    code, _, err = run(capsys, "edit", line_file, "-o", tmp_path / "o.xyz")
    assert code == 2 and "unknown output extension" in err
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    code, _, err = run(capsys, "edit", line_file, "-o", blocker / "o.ply", "--remove-floaters")
    assert code == 2 and f"{blocker}/o.ply: cannot write: {blocker} is a file, not a folder" in err
    with pytest.raises(SystemExit) as exit_info:  # argparse checks the axis
        run(capsys, "edit", line_file, "-o", tmp_path / "o.ply", "--mirror", "w")
    assert exit_info.value.code == 2 and "--mirror" in capsys.readouterr().err


def test_the_output_replaces_an_old_file_only_when_complete(tmp_path, line_file, capsys):
    out = tmp_path / "o.ply"
    out.write_bytes(b"old")
    assert run(capsys, "edit", line_file, "-o", out, "--filter", "sh_energy>1e9")[0] == 0
    assert io.load(out).count == 21
    assert sorted(p.name for p in tmp_path.iterdir()) == ["line.ply", "o.ply"]  # no temporary left
    assert math.isclose(float(io.load(out).means[5, 0]), 0.5, rel_tol=1e-6)


def test_playcanvas_axes_match_splat_transform(tmp_path, capsys):
    """-N -t -r -s -B -S of PlayCanvas' splat-transform and the same steps here, in its axes."""
    cli = splat_transform()
    scene = random_scene(400, sh_degree=3, seed=6)
    scene.means[7, 2] = float("nan")
    src, theirs, ours = tmp_path / "in.ply", tmp_path / "theirs.ply", tmp_path / "ours.ply"
    io.save(scene, src)
    steps = [("-N", "--drop-invalid", None), ("-t", "--translate", "0.1,-0.2,0.3"), ("-r", "--rotate", "10,-20,30"),
             ("-s", "--scale", "1.5"), ("-B", "--crop-box", "-1.2,-1.3,-1.4,1.1,1.0,1.3"), ("-S", "--crop-sphere", "0.1,0,0,1.4")]
    st_args = [a for short, _, v in steps for a in ([short] if v is None else [short, v])]
    done = subprocess.run([cli, "-w", str(src), *st_args, str(theirs)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    our_args = [a for _, long, v in steps for a in ([long] if v is None else [long, v])]
    code, _, err = run(capsys, "edit", src, "-o", ours, "--playcanvas-axes", *our_args)
    assert code == 0, err
    a, b = io.load(theirs), io.load(ours)
    assert a.count == b.count and 100 < a.count < 350  # the box and the sphere both cut
    assert torch.allclose(a.means, b.means, atol=1e-5)
    qa, qb = torch.nn.functional.normalize(a.quats, dim=1), torch.nn.functional.normalize(b.quats, dim=1)
    assert torch.minimum((qa - qb).abs().amax(1), (qa + qb).abs().amax(1)).max() < 1e-6
    assert torch.allclose(a.log_scales, b.log_scales, atol=1e-6)
    assert torch.allclose(a.sh, b.sh, atol=1e-5)
    assert torch.equal(a.opacity_logits, b.opacity_logits)


def test_playcanvas_axes_turn_filters_and_up_too(tmp_path, line_file, capsys):
    out = tmp_path / "o.ply"
    # PlayCanvas x is the file's -x: x < -0.55 there is x > 0.55 here (0.6 ... 2.0: 15 splats)
    code, _, err = run(capsys, "edit", line_file, "-o", out, "--playcanvas-axes", "--filter", "x<-0.55", "--up", "+y")
    assert code == 0, err
    got = io.load(out)
    assert got.count == 6 and float(got.means[:, 0].max()) == pytest.approx(0.5)
    assert torch.equal(got.means, io.load(line_file).means[:6])  # PlayCanvas +y up is the file's -y: no turn
