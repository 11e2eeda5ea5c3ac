"""The command line's outputs: a path that cannot be written is bad input (exit 2, one line naming
the path as given and why), found before the work where the work is long, and nothing is left
behind (issue 13)."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys

import pytest

from engine import io
from engine.camera import home_view
from engine.cli import main
from engine.errors import InputError, OutputError
from engine.io.atomic import atomic_output, atomic_write_bytes, check_writable
from tests.conftest import REPO, data_path, random_scene

LINUX = sys.platform.startswith("linux")


@pytest.fixture
def scene_file(tmp_path):
    path = tmp_path / "in.ply"
    io.save(random_scene(60), path)
    return path


def _listing(root) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, n), root) for d, dirs, files in os.walk(root) for n in dirs + files)


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert ".part" not in err and "Traceback" not in err, err
    return lines[0]


def test_convert_under_a_file_exits_2_naming_the_path(tmp_path, scene_file, capsys):
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    before = _listing(tmp_path)
    for out in (tmp_path / "notes.txt" / "x.ply", tmp_path / "notes.txt" / "deeper" / "x.spz"):
        assert main(["convert", str(scene_file), str(out)]) == 2
        line = _error_line(capsys)
        assert line == f"splatlab: error: {out}: cannot write: {tmp_path / 'notes.txt'} is a file, not a folder"
    assert _listing(tmp_path) == before


def test_convert_onto_a_folder_exits_2(tmp_path, scene_file, capsys):
    (tmp_path / "d.ply").mkdir()
    assert main(["convert", str(scene_file), str(tmp_path / "d.ply")]) == 2
    assert _error_line(capsys).endswith("d.ply: cannot write: it is a folder, not a file")
    assert os.listdir(tmp_path / "d.ply") == []


@pytest.mark.skipif(not LINUX, reason="/proc and /sys are Linux's")
@pytest.mark.parametrize("folder", ["/proc", "/proc/no-such-folder", "/sys"])
def test_convert_into_a_place_even_root_cannot_write_exits_2(scene_file, capsys, folder):
    if not os.path.isdir("/proc/self") or (folder == "/sys" and not os.path.isdir("/sys/kernel")):
        pytest.skip(f"{folder} is not mounted here")
    out = f"{folder}/x.ply"
    r = subprocess.run([sys.executable, "-m", "engine.cli", "convert", str(scene_file), out],
                       cwd=REPO, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"splatlab: error: {out}: cannot write: "), r.stderr
    assert ".part" not in r.stderr
    assert not os.path.exists(out)


def test_convert_into_a_read_only_folder_exits_2(tmp_path, scene_file, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("this user writes into read-only folders (root): see the /proc, /sys and read-only mount tests")
        out = folder / "x.ply"
        assert main(["convert", str(scene_file), str(out)]) == 2
        assert _error_line(capsys) == f"splatlab: error: {out}: cannot write: Permission denied in the folder {folder}"
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o755)


@pytest.mark.skipif(not LINUX or shutil.which("unshare") is None, reason="needs Linux's unshare")
def test_convert_onto_a_read_only_file_system_exits_2(tmp_path, scene_file):
    """A real read-only mount (a private mount namespace; skipped where mounting is not allowed)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o ro tmpfs '{ro}'"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot mount a read-only file system here")
    cli = f"'{sys.executable}' -m engine.cli convert '{scene_file}'"
    script = f"mount -t tmpfs -o ro tmpfs '{ro}' && {cli} '{ro}/x.ply'; echo rc=$?; {cli} '{ro}/new/x.ply'; echo rc=$?"
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.stdout.split() == ["rc=2", "rc=2"], r.stdout + r.stderr
    assert r.stderr.strip().splitlines() == [
        f"splatlab: error: {ro}/x.ply: cannot write: Read-only file system",
        f"splatlab: error: {ro}/new/x.ply: cannot write: cannot create the folder {ro}/new (Read-only file system)",
    ]


def test_a_missing_output_folder_is_created(tmp_path, scene_file, capsys):
    out = tmp_path / "new" / "sub" / "x.spz"
    assert main(["convert", str(scene_file), str(out)]) == 0
    assert io.load(out).count == 60 and os.listdir(out.parent) == ["x.spz"]


def test_a_failed_write_removes_its_temporary_file_and_the_folders_it_made(tmp_path):
    out = tmp_path / "new" / "sub" / "x.bin"
    with pytest.raises(OutputError) as e:
        with atomic_output(out):
            assert os.path.isdir(tmp_path / "new" / "sub")
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # what a full disk says on write
    assert str(e.value) == f"{out}: cannot write: {os.strerror(errno.ENOSPC)}"
    assert isinstance(e.value, InputError) and isinstance(e.value, OSError)
    assert e.value.strerror == os.strerror(errno.ENOSPC)  # for callers that show `strerror`
    assert os.listdir(tmp_path) == []
    # an error that is not about the output passes through untouched
    with pytest.raises(OSError) as e2:
        with atomic_output(out):
            raise FileNotFoundError(errno.ENOENT, "no such file", str(tmp_path / "some-input"))
    assert not isinstance(e2.value, InputError) and os.listdir(tmp_path) == []
    atomic_write_bytes(out, b"ok")
    assert out.read_bytes() == b"ok" and os.listdir(out.parent) == ["x.bin"]


def test_check_writable_probes_and_leaves_nothing(tmp_path):
    check_writable(tmp_path / "a" / "b" / "x.ply")
    assert os.listdir(tmp_path) == []
    (tmp_path / "f").write_text("")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_writable(tmp_path / "f" / "x.ply")
    assert os.listdir(tmp_path) == ["f"]


def test_every_command_names_an_unwritable_output_before_the_work(tmp_path, scene_file, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    bad = lambda name: str(blocker / name)  # noqa: E731
    smol = tmp_path / "s.smol"
    io.save(random_scene(60), smol, level=6)
    cam = tmp_path / "cam.json"
    home_view(random_scene(60), 32, 32).save(cam)
    before = _listing(tmp_path)
    cases = [
        ["convert", str(scene_file), bad("x.ply")],
        ["decompress", str(smol), "-o", bad("x.ply")],
        ["render", str(scene_file), "-o", bad("x.png"), "--width", "16"],
        ["render", str(scene_file), "-o", str(tmp_path / "ok.png"), "--width", "16", "--save-camera", bad("c.json")],
        ["compress", str(scene_file), "-o", bad("x.smol")],
        ["compress", str(scene_file), "-o", bad("x.smol"), "--codec", "smol", "--capture", str(tmp_path)],
        ["rd", str(scene_file), "-o", bad("rd.json"), "--levels", "8", "--no-baselines", "--views", "1"],
        ["image", "compress", str(tmp_path / "img.png"), "-o", bad("x.sgi"), "--bpp", "1"],
        ["image", "decompress", str(tmp_path / "x.sgi"), "-o", bad("x.png")],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        line = _error_line(capsys)
        assert line.startswith(f"splatlab: error: {blocker}/"), (argv, line)
        assert line.endswith(f": cannot write: {blocker} is a file, not a folder"), (argv, line)
    assert _listing(tmp_path) == before  # neither the PNG of the --save-camera case nor a temporary file


def test_camera_save_to_an_unwritable_path_is_bad_input(tmp_path):
    (tmp_path / "f").write_text("")
    with pytest.raises(InputError, match=r"f/c\.json: cannot write: .* is a file, not a folder"):
        home_view(random_scene(20), 16, 16).save(tmp_path / "f" / "c.json")
    assert os.listdir(tmp_path) == ["f"]


def test_train_into_an_unwritable_folder_exits_2_before_training(tmp_path, capsys):
    src = data_path("captures/lego_nerf_synthetic")
    cap = tmp_path / "cap"
    (cap / "train").mkdir(parents=True)
    meta = json.loads((src / "transforms_train.json").read_text())
    meta["frames"] = [f for f in meta["frames"] if (src / (f["file_path"].lstrip("./") + ".png")).exists()][:2]
    for f in meta["frames"]:
        shutil.copy(src / (f["file_path"].lstrip("./") + ".png"), cap / (f["file_path"].lstrip("./") + ".png"))
    (cap / "transforms_train.json").write_text(json.dumps(meta))
    (tmp_path / "f").write_text("")
    before = _listing(tmp_path)
    cases = [(tmp_path / "f" / "run", f"{tmp_path / 'f'} is a file, not a folder"), (tmp_path / "f", "it is a file, not a folder")]
    for out, why in cases:
        assert main(["train", str(cap), "-o", str(out), "--iterations", "5", "--max-side", "16"]) == 2
        assert capsys.readouterr().err.strip().splitlines()[-1] == f"splatlab: error: {out}: cannot write: {why}"
    assert _listing(tmp_path) == before
