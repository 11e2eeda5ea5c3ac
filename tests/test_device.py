"""Every command that trains takes its default length from the device it runs on (engine.device)."""

from __future__ import annotations

import pytest

from engine import device as dev
from engine.cli import build_parser, main
from engine.errors import InputError


def test_auto_resolves_to_the_cpu_without_a_gpu(monkeypatch):
    monkeypatch.setattr(dev, "cuda_available", lambda: False)
    assert dev.resolve_device("auto").type == "cpu"
    assert dev.TRAIN.iterations("auto") == dev.TRAIN.cpu_iterations
    with pytest.raises(InputError, match="no CUDA GPU"):
        dev.resolve_device("cuda")
    with pytest.raises(InputError, match="unknown device"):
        dev.resolve_device("tpu")


def test_auto_resolves_to_cuda_with_a_gpu(monkeypatch):
    monkeypatch.setattr(dev, "cuda_available", lambda: True)
    assert dev.TRAIN.iterations("auto") == 30_000
    assert dev.TRAIN.max_side("auto") is None
    assert dev.TRAIN.iterations("cpu") == dev.TRAIN.cpu_iterations  # --device cpu on a GPU machine
    assert dev.IMAGE.iterations("auto") == 10_000


def test_cli_train_on_the_cpu_defaults_to_a_run_of_minutes(monkeypatch, tmp_path):
    """`splatlab train CAPTURE -o OUT` on a CPU: 3000 steps at 200 px, not INRIA's 30,000 at full size."""
    import engine.train

    monkeypatch.setattr(dev, "cuda_available", lambda: False)
    seen = {}

    def fake_job(capture, out, cfg, resume=False, init_scene=None):
        seen["cfg"] = cfg
        raise InputError(capture, "stop here")
        yield  # a generator, like the real job

    monkeypatch.setattr(engine.train, "train_job", fake_job)
    assert main(["train", str(tmp_path), "-o", str(tmp_path / "out")]) == 2
    assert seen["cfg"].iterations == 3000 and seen["cfg"].max_side == 200
    assert main(["train", str(tmp_path), "-o", str(tmp_path / "out"), "--iterations", "40", "--max-side", "0"]) == 2
    assert seen["cfg"].iterations == 40 and seen["cfg"].max_side is None


@pytest.mark.parametrize("argv", [["train"], ["compress"], ["image", "compress"]])
def test_help_of_every_training_command_states_both_defaults(argv, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args([*argv, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "on the CPU" in text and "on CUDA" in text
