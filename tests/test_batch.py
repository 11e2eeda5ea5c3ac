"""splatlab batch (engine.batch, issue 18): inputs, manifest and resume, bad input among good,
a worker killed mid-way, the same bytes as the single command, the report; Ray started once
for the module (a local instance, as the CLI starts one), and once more in a subprocess to see
that an embedded run leaves nothing behind."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from engine import io, jobs
from engine.batch import JOBS, BatchSettings, ClusterSettings, Manifest, RaySession, batch_job, job_options
from engine.batch.items import find_inputs, sha256_of, unique_names
from engine.batch.report import render_html, svg_chart, table_lines
from engine.cli import main
from engine.errors import Cancelled, InputError
from engine.jobs import CancelToken
from tests.conftest import DONUT, REPO, data_path, random_scene

pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray instance (2 CPUs) for the module; every batch here runs on it."""
    with RaySession(ClusterSettings(num_cpus=2)) as session:
        yield session


@pytest.fixture
def scenes(tmp_path):
    """Three small scene files: two random PLYs and the donut as SPZ."""
    folder = tmp_path / "in"
    folder.mkdir()
    paths = []
    for i, n in enumerate((300, 500)):
        paths.append(str(folder / f"rand{i}.ply"))
        io.save(random_scene(n, sh_degree=1, seed=i), paths[-1])
    paths.append(str(folder / "donut.spz"))
    io.save(io.load(DONUT), paths[-1])
    return paths


def run(*args, **kw) -> dict:
    return jobs.drain(batch_job(*args, **kw))


def by_output(result: dict) -> dict[str, dict]:
    return {r["output"]: r for r in result["items"]}


# ---------------------------------------------------------------------------- no Ray
def test_inputs_from_globs_folders_and_lists(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    for rel in ("a/x.ply", "a/deep/y.spz", "a/deep/notes.txt", "b.compressed.ply"):
        (tmp_path / rel).write_bytes(b"x")
    (tmp_path / "list.txt").write_text("# scenes\nb.compressed.ply\n\na/x.ply\nmissing.ply\n")
    found = find_inputs([str(tmp_path / "a"), f"@{tmp_path / 'list.txt'}", str(tmp_path / "*.nothing")], "scene")
    rel = [(os.path.relpath(f.path, tmp_path), f.problem) for f in found]
    assert rel == [("a/x.ply", None), ("a/deep/y.spz", None), ("b.compressed.ply", None),
                   ("missing.ply", "no such file or folder"), ("*.nothing", "matches no scene file (.ply .spz .splat .smol)")]  # fmt: skip
    # the output folder is never searched
    assert [f.path for f in find_inputs([str(tmp_path)], "scene", exclude=str(tmp_path / "a"))] == [str(tmp_path / "b.compressed.ply")]
    with pytest.raises(InputError, match="nope.txt: cannot read the list of inputs"):
        find_inputs(["@" + str(tmp_path / "nope.txt")], "scene")


def test_unique_output_names():
    names = unique_names(["/d/lego/point_cloud.ply", "/d/fox/point_cloud.ply", "/e/donut.compressed.ply", "/f/donut.spz"])
    assert names == {"/d/lego/point_cloud.ply": "lego__point_cloud", "/d/fox/point_cloud.ply": "fox__point_cloud",
                     "/e/donut.compressed.ply": "e__donut", "/f/donut.spz": "f__donut"}  # fmt: skip


def test_options_are_checked_before_any_work():
    assert job_options("compress", {"levels": [5, 2, 5]})["levels"] == [2, 5]
    with pytest.raises(InputError, match="levels are 1 to 8"):
        job_options("compress", {"levels": [9]})
    with pytest.raises(InputError, match="has no option colour"):
        job_options("convert", {"colour": 1})
    with pytest.raises(InputError, match="--to 'jpg'"):
        job_options("convert", {"to": "jpg"})
    with pytest.raises(InputError, match="one of --reference SCENE or --capture DIR"):
        job_options("eval", {})


def test_manifest_resume_rule(tmp_path):
    (tmp_path / "a.L3.smol").write_bytes(b"x")
    m = Manifest(str(tmp_path))
    rec = {"job": "compress", "input": "/a.ply", "sha256": "1", "params": {"level": 3}, "status": "done", "output": "a.L3.smol"}
    m.records["a.L3.smol"] = rec
    m.save()
    m = Manifest.load(str(tmp_path))
    assert m.is_done(dict(rec, status="pending"))
    assert not m.is_done(dict(rec, sha256="2")) and not m.is_done(dict(rec, params={"level": 4}))
    os.unlink(tmp_path / "a.L3.smol")
    assert not m.is_done(rec)  # its output is gone
    (tmp_path / "batch.json").write_text("{")
    with pytest.raises(InputError, match="batch.json: cannot read the batch manifest"):
        Manifest.load(str(tmp_path))


def test_report_draws_rd_curves():
    curves = [{"label": "ladder", "points": [{"level": lv, "bits_per_gaussian": b, "psnr": p}
                                             for lv, b, p in ((1, 120.0, 45.0), (4, 30.0, 36.0), (8, 6.0, 27.5))]}]  # fmt: skip
    svg = svg_chart("donut <1>", curves)
    assert svg.count("<circle") == 3 and "<polyline" in svg and "donut &lt;1&gt;" in svg
    item = {"input": "/x/donut.ply", "output": "donut.rd.json", "status": "done", "skipped": False, "seconds": 3.0,
            "figures": {"bytes_in": 2_000_000, "curves": [dict(curves[0], codec="ladder")]}, "error": None}  # fmt: skip
    bad = {"input": "/x/bad.ply", "output": "bad.rd.json", "status": "bad_input", "figures": {}, "seconds": 0.0,
           "error": "/x/bad.ply: truncated"}  # fmt: skip
    result = {"job": "rd", "output": "/o", "items": [item, bad], "seconds": 4.0, "ray": None,
              "counts": {"done": 1, "failed": 0, "bad_input": 1, "pending": 0, "skipped": 0}}  # fmt: skip
    page = render_html(result)
    assert "<svg" in page and '<tr class="bad_input">' in page and "/x/bad.ply: truncated" in page
    lines = table_lines(result)
    assert lines[1].startswith("donut.rd.json  done") and "45.00" in lines[1] and lines[3] == "    /x/bad.ply: truncated"


# ---------------------------------------------------------------------------- on Ray
def test_local_ray_listens_on_loopback(ray_session):
    info = ray_session.describe()
    assert info["mode"] == "local" and info["address"].startswith("127.0.0.1:") and info["cpus"] == 2


def test_batch_compress_writes_the_bytes_compress_writes(ray_session, scenes, tmp_path):
    result = run("compress", scenes, str(tmp_path / "out"), {"levels": [3, 5]})
    assert result["counts"]["done"] == 6
    for src in (scenes[0], scenes[2]):
        for level in (3, 5):
            single = tmp_path / f"single{level}.smol"
            assert main(["compress", src, "-o", str(single), "--level", str(level)]) == 0
            name = os.path.basename(src).rsplit(".", 1)[0]
            assert (tmp_path / "out" / f"{name}.L{level}.smol").read_bytes() == single.read_bytes()
    rec = by_output(result)["donut.L3.smol"]
    assert rec["sha256"] == sha256_of(scenes[2]) and rec["params"]["level"] == 3 and rec["node"]
    assert rec["figures"]["bytes_out"] == os.path.getsize(tmp_path / "out" / "donut.L3.smol")


def test_resume_skips_finished_items(ray_session, scenes, tmp_path):
    out = tmp_path / "out"
    first = run("convert", scenes, str(out), {"to": "splat"})
    assert first["counts"]["done"] == 3 and first["ray"] is not None
    stamps = {p: os.stat(out / p).st_mtime_ns for p in by_output(first)}
    again = run("convert", scenes, str(out), {"to": "splat"})
    assert again["counts"]["skipped"] == 3 and again["ray"] is None  # nothing to run: Ray is not even asked
    assert {p: os.stat(out / p).st_mtime_ns for p in stamps} == stamps
    io.save(random_scene(50, sh_degree=1, seed=9), scenes[1])  # a changed input runs again, the others not
    third = run("convert", scenes, str(out), {"to": "splat"})
    assert [r["output"] for r in third["items"] if not r["skipped"]] == ["rand1.splat"]
    assert io.load(out / "rand1.splat").count == 50
    other = run("convert", scenes, str(out), {"to": "splat", "drop_invalid": True})  # other params: all again
    assert other["counts"]["skipped"] == 0 and other["counts"]["done"] == 3
    assert len(json.loads((out / "batch.json").read_text())["items"]) == 3


def test_bad_input_is_recorded_and_the_others_finish(ray_session, scenes, tmp_path, capsys):
    truncated = tmp_path / "in" / "truncated.ply"
    truncated.write_bytes(open(scenes[0], "rb").read()[:700])
    nan = random_scene(40)
    nan.means[3, 0] = float("nan")
    io.save(nan, tmp_path / "in" / "nan.ply")
    out = tmp_path / "out"
    code = main(["batch", "compress", str(tmp_path / "in"), str(tmp_path / "gone.ply"), "-o", str(out), "--json"])
    assert code == 2
    result = json.loads(capsys.readouterr().out)
    recs = by_output(result)
    assert result["counts"] == {"done": 3, "failed": 0, "bad_input": 3, "pending": 0, "skipped": 0}
    for name in ("truncated", "nan", "gone"):
        error = recs[f"{name}.L3.smol"]["error"]
        assert recs[f"{name}.L3.smol"]["status"] == "bad_input" and f"{name}.ply: " in error and "\n" not in error
        assert not (out / f"{name}.L3.smol").exists()
    assert "NaN" in recs["nan.L3.smol"]["error"] or "non-finite" in recs["nan.L3.smol"]["error"]
    assert sorted(p for p in os.listdir(out)) == ["batch.json", "donut.L3.smol", "rand0.L3.smol", "rand1.L3.smol", "report.html"]
    assert "truncated.ply" in (out / "report.html").read_text()


def _crash_first_attempt(marker: str):
    """compress, except that the first attempt leaves half a temporary file and kills its worker."""
    real = JOBS["compress"].run

    def run(src, out, params):
        if not os.path.exists(marker):
            open(marker, "w").close()
            with open(os.path.join(os.path.dirname(out), "." + os.path.basename(out) + ".dead.part"), "wb") as f:
                f.write(b"half a file")
            os._exit(1)
        return real(src, out, params)

    return run


def test_a_killed_worker_is_retried_and_its_output_is_whole(ray_session, scenes, tmp_path):
    marker = str(tmp_path / "attempted")
    spec = dataclasses.replace(JOBS["compress"], run=_crash_first_attempt(marker))
    out = tmp_path / "out"
    result = run(spec, [scenes[2]], str(out), {"levels": [3]}, BatchSettings(max_retries=1))
    assert os.path.exists(marker) and result["counts"]["done"] == 1, result["items"]
    assert main(["compress", scenes[2], "-o", str(tmp_path / "single.smol")]) == 0
    assert (out / "donut.L3.smol").read_bytes() == (tmp_path / "single.smol").read_bytes()
    assert sorted(os.listdir(out)) == ["batch.json", "donut.L3.smol", "report.html"]  # no .part left
    # with no retries the item fails, recorded as such, and the rest of the batch goes on
    os.unlink(marker)
    result = run(spec, scenes[1:], str(tmp_path / "out2"), {"levels": [3]}, BatchSettings(max_retries=0))
    recs = by_output(result)
    assert result["counts"]["failed"] == 1 and result["counts"]["done"] == 1
    failed = [r for r in recs.values() if r["status"] == "failed"][0]
    assert "worker died" in failed["error"]


def test_rd_eval_and_measured_levels_make_the_report(ray_session, scenes, tmp_path):
    out = tmp_path / "out"
    rd = run("rd", scenes[:1], str(out), {"levels": [1, 4], "baselines": False, "codecs": ["ladder"], "views": 2, "size": 48})
    rec = rd["items"][0]
    assert rec["status"] == "done" and json.loads((out / "rand0.rd.json").read_text())["curves"][0]["codec"] == "ladder"
    assert [q["level"] for q in rec["figures"]["curves"][0]["points"]] == [1, 4]
    assert "<polyline" in (out / "report.html").read_text()
    ev = run("eval", scenes[:2], str(tmp_path / "ev"), {"reference": scenes[0], "views": 2, "size": 48})
    recs = by_output(ev)
    assert recs["rand0.eval.json"]["figures"]["psnr"] is None or recs["rand0.eval.json"]["figures"]["psnr"] > 60
    assert 0 < recs["rand1.eval.json"]["figures"]["psnr"] < 40
    levels = run("compress", scenes[2:], str(tmp_path / "lv"), {"levels": [2, 6], "psnr": True, "views": 2, "size": 48})
    figs = [r["figures"] for r in levels["items"]]
    assert figs[0]["psnr"] > figs[1]["psnr"] > 15
    assert (tmp_path / "lv" / "report.html").read_text().count("<circle") == 2


def test_image_item(ray_session, tmp_path):
    """An image into .sgi, with the figures the report shows."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:48, 0:64]
    Image.fromarray(np.stack([x * 4 % 256, y * 5 % 256, (x + y) * 2 % 256], -1).astype(np.uint8)).save(tmp_path / "a.png")
    img = run("image", [str(tmp_path / "a.png")], str(tmp_path / "img"), {"bpp": 2.0, "iterations": 20})
    fig = img["items"][0]["figures"]
    assert img["counts"]["done"] == 1 and fig["bytes_out"] == os.path.getsize(tmp_path / "img" / "a.sgi")
    assert fig["bpp"] <= 2.0 and fig["psnr"] > 10 and fig["ratio"] == pytest.approx(48 * 64 * 3 / fig["bytes_out"])


def test_train_item(ray_session, tmp_path):
    """A folder of captures: each one trained (5 steps at 16 px) into its own output folder."""
    lego = str(data_path("captures/lego_nerf_synthetic"))
    trained = run("train", [os.path.dirname(lego)], str(tmp_path / "tr"), {"iterations": 5, "max_side": 16, "device": "cpu"})
    recs = by_output(trained)
    assert recs["lego_nerf_synthetic"]["status"] == "done" and recs["lego_nerf_synthetic"]["figures"]["psnr"] > 5
    assert io.load(tmp_path / "tr" / "lego_nerf_synthetic" / "point_cloud.ply").count == recs["lego_nerf_synthetic"]["figures"]["count"]
    assert not any(name.endswith(".partial") for name in os.listdir(tmp_path / "tr"))


def test_cancel_leaves_items_pending(ray_session, scenes, tmp_path):
    token = CancelToken()
    seen = []

    def on_progress(p):
        seen.append(p.message)
        if p.message == "starting Ray":
            token.cancel()

    with pytest.raises(Cancelled):
        jobs.drain(batch_job("compress", scenes, str(tmp_path / "out"), {"levels": [6]}, cancel=token), on_progress)
    statuses = [r["status"] for r in json.loads((tmp_path / "out" / "batch.json").read_text())["items"]]
    assert "pending" in statuses and not any(n.endswith(".part") for n in os.listdir(tmp_path / "out"))


def test_embedded_run_leaves_nothing_behind(tmp_path):
    """The CLI in a fresh process: its own Ray instance on 127.0.0.1, then no processes, no
    temporary folder and no ~/.ray left."""
    home, tmp = tmp_path / "home", tempfile.mkdtemp(prefix="slb-", dir="/tmp")
    home.mkdir()
    env = dict(os.environ, HOME=str(home), TMPDIR=tmp, OMP_NUM_THREADS="1")
    env.pop("RAY_AUTH_TOKEN", None)
    try:
        r = subprocess.run([sys.executable, "-m", "engine.cli", "batch", "convert", str(DONUT), "--to", "spz",
                            "-o", str(tmp_path / "out"), "--num-cpus", "1", "--json"], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=240)  # fmt: skip
        assert r.returncode == 0, r.stderr
        summary = json.loads(r.stdout)
        assert summary["ray"]["address"].startswith("127.0.0.1:") and summary["counts"]["done"] == 1
        assert os.listdir(tmp) == [] and os.listdir(home) == []
        left = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if tmp.encode() in f.read():
                        left.append(pid)
            except OSError:
                pass
        assert left == [], "Ray processes left running"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
