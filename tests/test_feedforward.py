"""The feed-forward codec (engine/codec/feedforward): serialisation, bit-exact coding, determinism
across processes and thread counts, window independence, weights checks, training."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from engine import jobs
from engine.codec import container, decode_bytes
from engine.codec import encode as registry_encode
from engine.codec.feedforward import codec, exact, serialise, train, weights
from engine.codec.feedforward.coding import geometry_table, sh_table
from engine.codec.feedforward.models import COLOUR_SCALE, Arch, FeedForwardModel
from engine.errors import InputError
from tests.conftest import REPO, random_scene

TINY = Arch(dim=16, heads=2, latent=8, latent_chunks=2, fourier=3, attn_layers=1, division=16, attn_pool=8)


def tiny_model(seed: int = 0) -> FeedForwardModel:
    torch.manual_seed(seed)
    return FeedForwardModel(TINY)


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def scene():
    return random_scene(3200, sh_degree=3, seed=3)  # 3 windows: 1024, 1024, 1152


@pytest.fixture(scope="module")
def encoded(model, scene):
    return codec.encode_with_reconstruction(scene, 3, weights=model)


def _equal(a, b) -> None:
    for name in ("means", "quats", "log_scales", "opacity_logits", "sh"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.shape == y.shape, name
        assert torch.equal(x, y), f"{name} differs by up to {float((x - y).abs().max())}"


# ---------------------------------------------------------------------------- serialisation
def test_windows_groups_and_neighbours():
    assert serialise.windows(3200, 1024) == [(0, 1024), (1024, 2048), (2048, 3200)]
    assert serialise.windows(2047, 1024) == [(0, 2047)]  # the short rest joins the last window
    assert serialise.windows(500, 1024) == [(0, 500)]
    g = serialise.groups(9)
    assert g.tolist() == [0, 2, 1, 3, 0, 2, 1, 3, 0]
    nbr, valid = serialise.neighbours(6)
    # every Gaussian of a later group has decoded neighbours on both sides (where the window has them)
    for k in range(2, 4):
        earlier = valid[k] & (g[nbr[k]] < g[k])
        offs = serialise.NEIGHBOUR_OFFSETS[earlier]
        assert (offs < 0).any() and (offs > 0).any()
    assert not valid[0, :4].any() and valid[0, 4:].all()


def test_duplicates_are_kept_with_their_attributes(model):
    s = random_scene(1100, sh_degree=0, seed=5)
    s.means[1000:1040] = s.means[:40]  # 40 Gaussians share a cell with another one
    data, recon = codec.encode_with_reconstruction(s, 3, weights=model)  # level 3: 16-bit grid, no pruning
    c = container.unpack(data)
    assert c.meta["count"] == 1100 and c.meta["positions"]["leaves"] == 1060
    dec = codec.decode(c, weights=model)
    _equal(dec, recon)
    assert dec.count == 1100 and dec.sh_degree == 0
    # each duplicated position appears twice in the decoded scene, with two different opacities
    pos = [tuple(p) for p in dec.means.numpy().tolist()]
    twice = {p for p in pos if pos.count(p) == 2}
    assert len(twice) == 40


# ---------------------------------------------------------------------------- bit-exact round trip
def test_round_trip_is_bit_exact(model, scene, encoded):
    data, recon = encoded
    c = container.unpack(data)
    assert c.codec == "feedforward" and c.level == 3 and c.meta["windows"] == 3
    dec = codec.decode(c, weights=model)
    _equal(dec, recon)
    assert dec.sh_degree == 3 and dec.count == scene.count
    # positions: the cell centres of the 16-bit grid, within half a cell of the input (serial order)
    box = c.meta["box"]
    order, _ = serialise.serial_order(scene.means.numpy(), box)
    half = box["side"] / (1 << serialise.BITS) / 2
    assert np.abs(dec.means.numpy() - scene.means.numpy()[order]).max() <= half * 1.001
    # geometry: exactly symbol x step of the level's steps
    m64 = model.coding_copy()
    step = m64.geometry.steps(3, True).numpy()
    g_in = geometry_table(scene)[order]
    g_out = np.concatenate([dec.opacity_logits.numpy()[:, None], dec.log_scales.numpy(), dec.quats.numpy()], 1)
    expected = (np.rint(g_in / step) * step).astype(np.float32)
    assert np.array_equal(g_out, expected)
    # colour: sensitive Gaussians within half a step of the input, all on their grids
    sh_in, n_sh = sh_table(scene)
    sh_in = sh_in[order]
    sstep = m64.colour.sens_steps(3, True).numpy() / np.asarray(COLOUR_SCALE)
    near = (np.abs(dec.sh.numpy().reshape(len(order), -1) - sh_in) <= sstep / 2 * 1.0001).all(1)
    assert near.any()  # the untrained division sends some Gaussians to the lossless path
    assert np.isfinite(dec.sh.numpy()).all()


def test_small_levels_use_the_ladders_coarser_grids_and_pruning(model, scene):
    from engine.codec.importance import importance, prune_to_share

    imp = importance(scene, views=2, size=48)
    data8, recon8 = codec.encode_with_reconstruction(scene, 8, weights=model, importance=imp)
    c8 = container.unpack(data8)
    assert c8.meta["position_bits"] == serialise.POSITION_BITS[8] == 12
    kept = prune_to_share(scene, codec.level_keep(8), imp)  # the ladder's share: 22 %
    assert c8.meta["count"] == kept.count == math.ceil(0.22 * scene.count)
    dec = codec.decode(c8, weights=model)
    _equal(dec, recon8)
    box = c8.meta["box"]
    order, _ = serialise.serial_order(kept.means.numpy(), box, 12)
    half = box["side"] / (1 << 12) / 2
    assert np.abs(dec.means.numpy() - kept.means.numpy()[order]).max() <= half * 1.001
    again = container.unpack(codec.encode(dec, 8, weights=model))
    assert again.meta["count"] == kept.count  # a scene decoded from level 8 is not pruned again
    data1 = codec.encode(scene, 1, weights=model)
    assert len(c8.sections["occ"]) < len(container.unpack(data1).sections["occ"])
    # the networks see coarse cells as 16-bit cells (the coarse cell's centre)
    assert np.array_equal(serialise.network_cells(np.array([[0, 1, 4095]]), 12), [[8, 24, 65528]])


def test_registry_and_errors(model, scene):
    with pytest.raises(InputError, match="level 9"):
        codec.encode(scene, 9, weights=model)
    with pytest.raises(InputError, match="window"):
        codec.encode(scene, 3, weights=model, window=512)
    # decoding with other weights is refused clearly
    data = codec.encode(scene.subset(slice(0, 1100)), 2, weights=model)
    with pytest.raises(InputError, match="other feed-forward codec weights"):
        codec.decode(container.unpack(data), "x.smol", weights=tiny_model(seed=1))


def test_corrupt_byte_is_reported_by_the_container(encoded):
    data = bytearray(encoded[0])
    c = container.unpack(bytes(data))
    start = len(data) - len(c.sections["windows"]) + 100  # inside the windows section (the last)
    data[start] ^= 0x40
    with pytest.raises(InputError, match="'windows' is corrupt"):
        container.unpack(bytes(data), "bad.smol")
    with pytest.raises(InputError, match="truncated"):
        container.unpack(encoded[0][:-3], "short.smol")


# ---------------------------------------------------------------------------- window independence
def test_each_window_decodes_alone(model, encoded):
    c = container.unpack(encoded[0])
    full = codec.decode(c, weights=model)
    bounds = codec.window_bounds(c)
    assert len(bounds) == 3
    for i in (2, 0, 1):
        s, e = bounds[i]
        _equal(codec.decode_window(c, i, weights=model), full.subset(slice(s, e)))
    with pytest.raises(InputError, match="out of range"):
        codec.decode_window(c, 3, weights=model)


# ---------------------------------------------------------------------------- determinism
def test_exact_arithmetic_is_order_independent():
    torch.manual_seed(0)
    m = tiny_model().coding_copy()
    cells = np.random.default_rng(0).integers(0, 1 << 16, (1500, 3))
    from engine.codec.feedforward.coding import window_context

    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        a = window_context(m, cells, 2).posemb
        y1 = m.colour.analysis(torch.randn(1500, 48, generator=torch.Generator().manual_seed(1)).double(), a, True)
        torch.set_num_threads(2)
        b = window_context(m, cells, 2).posemb
        y2 = m.colour.analysis(torch.randn(1500, 48, generator=torch.Generator().manual_seed(1)).double(), b, True)
    finally:
        torch.set_num_threads(old)
    assert torch.equal(a, b) and torch.equal(y1, y2)
    # a row's result does not depend on which other rows are evaluated with it
    x = exact.snap(torch.randn(300, 16, dtype=torch.float64) * 3, True)
    mlp = m.geometry.heads[0].layers[0]
    full = exact.linear(mlp, torch.cat([x, torch.zeros(300, mlp.in_features - 16, dtype=torch.float64)], 1), True)
    part = exact.linear(mlp, torch.cat([x[::7], torch.zeros(len(x[::7]), mlp.in_features - 16, dtype=torch.float64)], 1), True)
    assert torch.equal(full[::7], part)
    # the weight grid is idempotent
    before = [p.clone() for p in m.parameters()]
    exact.round_to_grid(m)
    assert all(torch.equal(p, q) for p, q in zip(before, m.parameters()))


_CHILD = textwrap.dedent(
    """
    import sys, numpy as np, torch
    torch.set_num_threads(int(sys.argv[1]))
    sys.path.insert(0, sys.argv[4])
    from tests.conftest import random_scene
    from engine.codec import container
    from engine.codec.feedforward import codec, weights
    model = weights.load(sys.argv[2])
    data = codec.encode(random_scene(2100, sh_degree=1, seed=7), 4, weights=model)
    other = sys.argv[5]
    src = open(other, "rb").read() if other != "-" else data
    dec = codec.decode(container.unpack(src), weights=model)
    open(sys.argv[3] + ".smol", "wb").write(data)
    np.savez(sys.argv[3] + ".npz", **{k: getattr(dec, k).numpy() for k in ("means", "quats", "log_scales", "opacity_logits", "sh")})
    """
)


def test_same_bytes_and_scene_in_two_processes_with_other_thread_counts(tmp_path):
    path = tmp_path / "w.pt"
    weights.save(tiny_model(seed=2), path)
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    env = {**os.environ, "OMP_NUM_THREADS": "2"}

    def child(threads: int, out: str, other: str) -> None:
        r = subprocess.run([sys.executable, str(script), str(threads), str(path), str(tmp_path / out), str(REPO), other],
                           capture_output=True, text=True, env=env, timeout=300)  # fmt: skip
        assert r.returncode == 0, r.stderr[-2000:]

    child(1, "a", "-")
    child(2, "b", str(tmp_path / "a.smol"))  # encodes itself and decodes the first process's file
    assert (tmp_path / "a.smol").read_bytes() == (tmp_path / "b.smol").read_bytes()
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    for k in a.files:
        assert np.array_equal(a[k], b[k]), k


# ---------------------------------------------------------------------------- weights
def test_missing_and_corrupt_weights(tmp_path, monkeypatch, scene):
    monkeypatch.setenv("SPLATLAB_RESOURCES", str(tmp_path / "resources"))
    with pytest.raises(InputError, match=r"weights v1 are missing: .*codec-train"):
        registry_encode(scene.subset(slice(0, 1100)), "feedforward", 3)
    path = tmp_path / "w.pt"
    manifest = weights.save(tiny_model(seed=4), path)
    assert manifest["sha256"] and json.loads(weights.manifest_path(path).read_text())["fingerprint"] == manifest["fingerprint"]
    loaded = weights.load(path)
    assert weights.fingerprint(loaded) == manifest["fingerprint"] == weights.fingerprint(tiny_model(seed=4))
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(InputError, match=r"corrupt: sha256 .*codec-train"):
        weights.load(path)
    weights.manifest_path(path).unlink()
    with pytest.raises(InputError, match="manifest .* is missing"):
        weights.load(path)
    # a feed-forward file opened through the registry without weights installed: the same clear error
    data = codec.encode(scene.subset(slice(0, 1100)), 3, weights=tiny_model())
    with pytest.raises(InputError, match="missing"):
        decode_bytes(data, "scene.smol")


# ---------------------------------------------------------------------------- training
def test_tiny_training_run_lowers_the_rd_loss(tmp_path):
    torch.manual_seed(0)
    scenes = [random_scene(1500, sh_degree=1, seed=s) for s in (11, 12)]
    seen = []
    out = tmp_path / "trained.pt"
    result = jobs.drain(train.codec_train_job(scenes, out, steps=30, seed=0, arch=TINY.to_dict(), windows_per_step=1, lr=3e-3,
                                              log_every=10), seen.append)  # fmt: skip
    assert [p.step for p in seen] == [0, 10, 20, 30]
    assert result["loss_end"] < 0.5 * result["loss_start"], result
    m = weights.load(out)  # the job wrote the weights and a manifest whose sha256 checks
    assert result["manifest"]["training"]["config"]["steps"] == 30
    data, recon = codec.encode_with_reconstruction(scenes[0], 2, weights=m)
    _equal(codec.decode(container.unpack(data), weights=m), recon)


def _toy_corpus(tmp_path, scenes: dict) -> str:
    """A corpus manifest of scene files under tmp_path/data: {name: (split, scene)}."""
    from engine import io

    entries = []
    (tmp_path / "data").mkdir(exist_ok=True)
    for name, (split, s) in scenes.items():
        io.save(s, tmp_path / "data" / f"{name}.ply")
        entries.append({"name": name, "split": split, "file": f"{name}.ply"})
    path = tmp_path / "corpus.json"
    path.write_text(json.dumps({"schema": "splatlab.codec-corpus/1", "scenes": entries}))
    return str(path)


def test_codec_train_cli_records_the_corpus_and_keeps_the_eval_scenes_out(tmp_path):
    from engine.cli import main
    from engine.io.atomic import sha256_file

    corpus = _toy_corpus(tmp_path, {"a": ("train", random_scene(1100, sh_degree=1, seed=21)),
                                    "b": ("train", random_scene(1100, sh_degree=0, seed=22)),
                                    "held": ("eval", random_scene(1100, sh_degree=1, seed=23))})  # fmt: skip
    out = tmp_path / "w" / "ff.pt"
    (tmp_path / "w").mkdir()
    assert main(["codec-train", corpus, "-o", str(out), "--data", str(tmp_path / "data"), "--steps", "2"]) == 0
    training = json.loads(out.with_suffix(".json").read_text())["training"]
    trained_on = {s["sha256"] for s in training["scenes"]}
    records = {r["name"]: r for r in training["corpus"]["scenes"]}
    assert set(records) == {"a", "b", "held"} and records["held"]["split"] == "eval"
    assert records["held"]["sha256"] == sha256_file(tmp_path / "data" / "held.ply")
    assert records["held"]["sha256"] not in trained_on  # measured on, never trained on
    assert trained_on == {records["a"]["sha256"], records["b"]["sha256"]}
    weights.load(out)


def test_codec_train_cli_rejects_a_bad_corpus(tmp_path, capsys):
    from engine.cli import main
    from engine.codec.feedforward.corpus import CorpusScene

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": "splatlab.codec-corpus/1", "scenes": [{"name": "x", "split": "eval", "file": "x.ply"}]}))
    assert main(["codec-train", str(bad), "-o", str(tmp_path / "w.pt"), "--data", str(tmp_path)]) == 2
    assert "bad.json" in capsys.readouterr().err
    gone = _toy_corpus(tmp_path, {"a": ("train", random_scene(10, seed=1))})
    (tmp_path / "data" / "a.ply").unlink()
    assert main(["codec-train", gone, "-o", str(tmp_path / "w.pt"), "--data", str(tmp_path / "data")]) == 2
    assert "a.ply" in capsys.readouterr().err and not (tmp_path / "w.pt").exists()
    made = CorpusScene("s", "train", train={"capture": "captures/lego", "max_side": 80, "seed": 2, "sh_degree": 1})
    assert made.command("D", "B") == "splatlab train D/captures/lego -o B/s --max-side 80 --seed 2 --sh-degree 1"


def test_augment_rotates_about_up_and_scales():
    s = random_scene(400, sh_degree=2, seed=1)
    a = train.augment(s, np.random.default_rng(0), up=(0.0, 0.0, 1.0), min_keep=1.0)
    assert a.count == s.count and a.sh_degree == 2
    a.validate()
    # heights and distances to the up axis scale by one common factor; the angle about it changes
    k = a.means[:, 2] / s.means[:, 2]
    r = a.means[:, :2].norm(dim=1) / s.means[:, :2].norm(dim=1)
    assert torch.allclose(k, k[0].expand_as(k), rtol=1e-4) and torch.allclose(r, k, rtol=1e-3)
    assert not torch.allclose(a.means[:, :2] / k[0], s.means[:, :2], atol=1e-3)
    assert torch.allclose(a.log_scales - s.log_scales, torch.log(k[0]).expand(400, 3), atol=1e-5)
    # the quaternions turn with the positions: R(q') = R_up R(q)
    from engine.render.projection import quat_to_rotmat

    R_in, R_out = quat_to_rotmat(torch.nn.functional.normalize(s.quats)), quat_to_rotmat(torch.nn.functional.normalize(a.quats))
    turn = R_out @ R_in.transpose(1, 2)  # the same rotation about z for every Gaussian
    assert torch.allclose(turn, turn[:1].expand_as(turn), atol=1e-4) and torch.allclose(turn[0, 2], torch.tensor([0.0, 0, 1]), atol=1e-4)


def test_the_shipped_weights_load_and_never_saw_their_evaluation_scenes(scene, monkeypatch, tmp_path):
    manifest = json.loads((REPO / "resources" / "codecs" / weights.MANIFEST).read_text())
    assert manifest["version"] == weights.VERSION and manifest["file"] == weights.FILE
    assert Arch.from_dict(manifest["architecture"]) == Arch()
    weights.load()  # the shipped file matches its manifest's sha256
    corpus = manifest["training"]["corpus"]["scenes"]
    trained_on = {s["sha256"] for s in manifest["training"]["scenes"]}
    evaluation = [s for s in corpus if s["split"] == "eval"]
    assert {s["name"] for s in evaluation} >= {"biker", "donut"} and len(evaluation) == 3
    assert all(s["sha256"] and s["sha256"] not in trained_on for s in evaluation)
    assert not any("fox" in s["command"] for s in corpus if s["split"] == "train")
    monkeypatch.setattr(weights, "default_path", lambda: tmp_path / weights.FILE)
    with pytest.raises(InputError, match=r"feedforward_v1.pt: feedforward codec weights v1 are missing"):
        registry_encode(scene.subset(slice(0, 1100)), "feedforward", 3)


def test_rd_sweeps_the_feedforward_levels_beside_the_ladder(tmp_path, monkeypatch):
    from engine.rd import bd_summary, default_codecs, rd_sweep

    path = tmp_path / weights.FILE
    weights.save(tiny_model(4), path)
    monkeypatch.setattr(weights, "default_path", lambda: path)
    assert default_codecs() == ("ladder", "feedforward")
    s = random_scene(1200, sh_degree=1, seed=5)
    result = jobs.drain(rd_sweep(s, None, levels=[2, 7], baselines=(), views=2, size=48, codecs=("ladder", "feedforward")))
    curves = {c["codec"]: c for c in result["curves"]}
    assert set(curves) == {"ladder", "feedforward"}
    ff = curves["feedforward"]["points"]
    assert [p["level"] for p in ff] == [2, 7] and [p["count"] for p in ff] == [s.count, math.ceil(0.45 * s.count)]
    assert ff[1]["bytes"] < ff[0]["bytes"] and all(p["psnr"] is not None for p in ff)
    assert "feedforward" in bd_summary(result)["codecs"]
    monkeypatch.setattr(weights, "default_path", lambda: tmp_path / "absent.pt")
    assert default_codecs() == ("ladder",)
