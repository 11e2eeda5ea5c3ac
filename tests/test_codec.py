"""The .smol container and the post-training codec ladder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from engine import io, jobs
from engine.codec import container, decode_bytes, entropy, ladder, octree
from engine.errors import InputError
from engine.evaluate import eval_against_reference
from engine.rd import rd_sweep, validate_rd
from tests.conftest import REPO, random_scene


@pytest.fixture(scope="module")
def donut(donut_path_module):
    return io.load(donut_path_module)


@pytest.fixture(scope="module")
def donut_path_module():
    from tests.conftest import DONUT

    return DONUT


@pytest.fixture(scope="module")
def small_smol(donut):
    sub = donut.subset(torch.arange(0, donut.count, 60))  # 761 splats
    return ladder.encode(sub, 3)


def test_container_round_trip_and_layout():
    data = container.pack("ladder", 5, {"a": 1}, {"x": b"hello", "y": b""})
    c = container.unpack(data)
    assert (c.codec, c.level, c.meta, c.sections["x"], c.sections["y"]) == ("ladder", 5, {"a": 1}, b"hello", b"")
    assert data[:4] == b"SMOL"


def test_every_single_byte_flip_is_detected(small_smol):
    for pos in range(len(small_smol)):
        bad = bytearray(small_smol)
        bad[pos] ^= 0x5A
        with pytest.raises(InputError):
            decode_bytes(bytes(bad), "x.smol")


def test_every_truncation_is_detected(small_smol):
    for cut in range(len(small_smol)):
        with pytest.raises(InputError, match="truncated|corrupt|magic"):
            decode_bytes(small_smol[:cut], "x.smol")
    with pytest.raises(InputError, match="unexpected bytes"):
        decode_bytes(small_smol + b"\0", "x.smol")


def test_unknown_version_and_codec_are_reported():
    data = bytearray(container.pack("ladder", 1, {}, {}))
    data[4] = 7  # version
    head_end = container.HEADER.size + container.ENTRY.size
    data[head_end : head_end + 4] = container.CRC.pack(__import__("zlib").crc32(bytes(data[:head_end])))
    with pytest.raises(InputError, match="unsupported .smol version 7"):
        container.unpack(bytes(data), "v.smol")
    other = container.pack("nosuchcodec", 1, {}, {})
    with pytest.raises(InputError, match="unknown codec 'nosuchcodec'"):
        decode_bytes(other, "c.smol")


@pytest.mark.parametrize("level", sorted(ladder.LEVELS))
def test_encode_decode_encode_is_bit_exact_and_valid(donut, level):
    data = ladder.encode(donut, level)
    scene = decode_bytes(data)
    assert ladder.encode(scene, level) == data
    assert scene.invalid_rows().sum() == 0
    spec = ladder.LEVELS[level]
    assert scene.count == max(1, int(np.ceil(donut.count * spec.keep)))
    assert scene.sh_degree == min(spec.sh_degree, donut.sh_degree)
    # positions lie within half a cell of an original splat's
    cell = float(scene.meta["ladder_grid"]["side"]) / (1 << spec.bits)
    from scipy.spatial import cKDTree

    d, _ = cKDTree(donut.means.numpy()).query(scene.means.numpy())
    assert d.max() <= cell * np.sqrt(3) / 2 + 1e-6


def test_sh3_scenes_keep_their_bands_at_low_levels():
    scene = random_scene(500, sh_degree=3, seed=3)
    for level in (1, 2):
        data = ladder.encode(scene, level)
        dec = decode_bytes(data)
        assert dec.sh_degree == 3 and ladder.encode(dec, level) == data
        bits = ladder.LEVELS[level].bits
        codes = octree.morton_encode(ladder._cells(scene.means.numpy(), ladder._grid(scene, bits), bits))
        order = torch.from_numpy(np.argsort(codes, kind="stable"))  # decoded splats come in Morton order
        err = (dec.sh[:, 1:] - scene.sh[order, 1:]).abs().max()
        assert err <= ladder.LEVELS[level].rest_step / 2 + 1e-6


def test_ladder_trades_size_for_fidelity(donut):
    sizes, psnrs = [], []
    for level in (1, 4, 8):
        data = ladder.encode(donut, level)
        sizes.append(len(data))
        r = jobs.run(eval_against_reference(decode_bytes(data), donut, views=2, size=128), show=False)
        psnrs.append(r["psnr"])
    assert sizes[0] > sizes[1] > sizes[2]
    assert psnrs[0] > psnrs[1] > psnrs[2]
    assert psnrs[0] > 55  # level 1 is near-lossless
    assert donut.count * 56 / sizes[2] > 20  # level 8 is far smaller than the PLY


def test_octree_and_entropy_round_trip():
    rng = np.random.default_rng(0)
    cells = rng.integers(0, 2**10, (5000, 3))
    codes = octree.morton_encode(cells)
    assert (octree.morton_decode(codes) == cells).all()
    occ, leaves, counts = octree.build(codes, 10)
    assert (octree.rebuild(occ, 10) == leaves).all() and counts.sum() == 5000
    values = rng.integers(-50, 50, 10000)
    ctx = rng.integers(0, 3, 10000)
    assert (entropy.decode(entropy.encode(values, ctx, 3), ctx, 10000) == values).all()


def test_rd_json_follows_the_schema(donut):
    sub = donut.subset(torch.arange(0, donut.count, 20))
    result = jobs.run(rd_sweep(sub, None, levels=(2, 7), baselines=("fp16_ply", "spz"), views=2, size=96), show=False)
    validate_rd(result)
    json.dumps(result)  # plain JSON
    codecs = [c["codec"] for c in result["curves"]]
    assert codecs == ["ladder", "fp16_ply", "spz"]
    pts = result["curves"][0]["points"]
    assert [p["level"] for p in pts] == [2, 7] and pts[0]["ratio"] < pts[1]["ratio"]
    assert abs(result["scene"]["ply_bytes"] - sub.count * 56) < 1000  # 56 B per SH0 splat, plus the header


def test_a_trained_point_joins_an_rd_result_and_it_saves_as_strict_json(tmp_path):
    """engine.rd.put_curve / save_rd: what the studio does to an RD result (a Smol-GS run joins
    the sweep, then Save RD JSON) is engine code, the same writer `splatlab rd` uses."""
    import math

    from engine.rd import LABELS, put_curve, save_rd

    point = {"level": 1, "bytes": 100, "bits_per_gaussian": 8.0, "ratio": 5.0, "psnr": math.inf, "ssim": 1.0,
             "encode_s": 0.1, "decode_s": 0.1, "count": 100}  # fmt: skip
    result = {"schema": "splatlab.rd/1", "scene": {"path": None, "count": 100, "sh_degree": 0, "ply_bytes": 500},
              "reference": {"mode": "orbit", "views": 2, "size": 96},
              "curves": [{"codec": "ladder", "label": LABELS["ladder"], "points": [point]}]}  # fmt: skip
    smol = dict(point, level=None, psnr=30.0, test_psnr=29.0)
    assert put_curve(result, "smol", [smol]) is result
    put_curve(result, "smol", [dict(smol, psnr=31.0)])  # trained again: replaces, never a second curve
    assert [c["codec"] for c in result["curves"]] == ["ladder", "smol"]
    assert result["curves"][1] == {"codec": "smol", "label": LABELS["smol"], "points": [dict(smol, psnr=31.0)]}
    validate_rd(result)
    save_rd(tmp_path / "rd.json", result)
    text = (tmp_path / "rd.json").read_text()
    back = json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in RD JSON"))
    assert back["curves"][0]["points"][0]["psnr"] is None  # identical renders: inf dB, null in JSON
    assert back["curves"][1]["points"][0]["psnr"] == 31.0 and os.listdir(tmp_path) == ["rd.json"]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_cli_compress_decompress_info_render(donut_path_module, tmp_path):
    out = tmp_path / "d.smol"
    r = _cli("compress", str(donut_path_module), "-o", str(out), "--level", "6", "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["bytes"] == os.path.getsize(out) and summary["level"] == 6
    info = json.loads(_cli("info", str(out), "--json").stdout)
    assert info["format"] == "smol" and info["codec"] == "ladder" and info["level"] == 6
    r = _cli("decompress", str(out), "-o", str(tmp_path / "d.ply"))
    assert r.returncode == 0, r.stderr
    assert io.load(tmp_path / "d.ply").count == info["count"]
    assert _cli("render", str(out), "-o", str(tmp_path / "d.png"), "--width", "64").returncode == 0
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".part")]
    bad = tmp_path / "bad.smol"
    bad.write_bytes(out.read_bytes()[:-10])
    r = _cli("info", str(bad))
    assert r.returncode == 2 and "bad.smol" in r.stderr and "truncated" in r.stderr
    r = _cli("compress", str(donut_path_module), "-o", str(tmp_path / "x.smol"), "--level", "9")
    assert r.returncode == 2 and "level 9" in r.stderr


def test_info_says_which_codec_and_level_a_smol_scene_is(tmp_path, capsys):
    """A .smol file and a level decoded in memory (the Compress panel's) describe themselves the
    same way in scene_info and `splatlab info`; never "unknown" (issue 13)."""
    from engine.cli import main
    from engine.info import scene_info

    scene = random_scene(80)
    path = tmp_path / "l7.smol"
    io.save(scene, path, level=7)
    info = scene_info(io.load(path))
    assert info["format"] == "smol" and info["description"] == "SplatLab ladder, level 7 (.smol)"
    in_memory = decode_bytes(ladder.encode(scene, 7))
    assert scene_info(in_memory)["description"] == "SplatLab ladder, level 7 (.smol)"
    stored = os.path.join(os.path.dirname(__file__), "data", "tiny_lego.smol")  # tests/data/make_tiny_smol.py
    assert scene_info(io.load(stored))["description"] == "Smol-GS (.smol)"
    assert scene_info(random_scene(10))["description"] == "in memory (not from a file)"
    assert main(["info", str(path)]) == 0
    assert "format     SplatLab ladder, level 7 (.smol)\n" in capsys.readouterr().out
    assert main(["info", stored, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["description"] == "Smol-GS (.smol)"


def test_an_empty_scene_round_trips_through_every_level():
    empty = random_scene(10, sh_degree=2, seed=1).subset(torch.zeros(0, dtype=torch.long))
    for level in range(ladder.MIN_LEVEL, ladder.MAX_LEVEL + 1):
        back = decode_bytes(ladder.encode(empty, level))
        assert back.count == 0


def test_the_shared_position_sections_round_trip_with_repeats_and_reject_a_wrong_count():
    rng = np.random.default_rng(3)
    cells = rng.integers(0, 1 << 10, (500, 3))
    cells = np.concatenate([cells, cells[:40]])  # 40 cells hold two splats
    codes = np.sort(octree.morton_encode(cells))
    sections, meta = octree.encode_positions(codes, 10)
    back = octree.decode_cells(sections["occ"], sections["count"], meta["occupancy_per_depth"], meta["leaves"], len(codes), 10, "x.smol")
    assert np.array_equal(octree.morton_encode(back), codes) and meta["leaves"] == 500
    with pytest.raises(InputError, match="x.smol: corrupt leaf counts"):
        octree.decode_cells(sections["occ"], sections["count"], meta["occupancy_per_depth"], meta["leaves"], len(codes) + 1, 10, "x.smol")
