"""One builder per job config: the CLI and the studio's panels give the same config for the same
choices (TrainConfig.from_options, SmolConfig.from_options)."""

from __future__ import annotations

import pytest

from app.compress_controller import make_smol_config
from app.panels.compress_panel import CompressPanel
from app.panels.train_panel import TrainPanel
from app.train_controller import make_config
from engine.cli import main as cli

pytestmark = pytest.mark.gui


class _Captured(Exception):
    """Raised by the stand-in job once the CLI has built its config."""


def _cli_config(monkeypatch, module: str, name: str, argv: list[str]):
    """The config the CLI hands to the job ``module.name`` for ``argv`` (the job never runs)."""
    import importlib

    seen = []

    def job(*args, **kwargs):
        seen.extend(a for a in args if type(a).__name__ in ("TrainConfig", "SmolConfig"))
        raise _Captured

    monkeypatch.setattr(importlib.import_module(module), name, job)
    assert cli(argv) == 1  # the stand-in's exception: a failure, after the config was built
    assert len(seen) == 1
    return seen[0]


@pytest.mark.parametrize("fields, options", [
    (dict(iterations=1200, max_side=64, strategy="mcmc", cap_max=5000, device="cpu", seed=3, init_points=700),
     ["--iterations", "1200", "--max-side", "64", "--strategy", "mcmc", "--cap-max", "5000", "--device", "cpu",
      "--seed", "3", "--init-points", "700"]),
    # full size (the panel's 0 is --max-side 0), no initial point count, and a run of the full recipe's length
    (dict(iterations=30_000, max_side=0, strategy="default", cap_max=1_000_000, device="cpu", seed=0, init_points=0),
     ["--iterations", "30000", "--max-side", "0", "--device", "cpu"]),
    (dict(iterations=45_000, max_side=200, device="auto", init_points=0),
     ["--iterations", "45000", "--max-side", "200"]),
])  # fmt: skip
def test_the_train_panel_and_splatlab_train_build_the_same_config(qtbot, monkeypatch, tmp_path, fields, options):
    panel = TrainPanel(cuda=False)
    qtbot.addWidget(panel)
    panel.set_settings(device=fields["device"])  # first: a device change re-applies that device's defaults
    panel.set_settings(**fields)
    gui = make_config(panel.settings())
    cli_cfg = _cli_config(monkeypatch, "engine.train", "train_job", ["train", str(tmp_path), "-o", str(tmp_path / "out"), *options])
    assert gui == cli_cfg
    assert gui.iterations == fields["iterations"] and gui.max_side == (fields["max_side"] or None)


@pytest.mark.parametrize("fields, options", [
    (dict(iterations=500, max_side=64, max_splats=900), ["--iterations", "500", "--max-side", "64", "--max-splats", "900"]),
    (dict(iterations=3000, max_side=0, max_splats=0), ["--iterations", "3000", "--max-side", "0"]),  # full size, no budget
])  # fmt: skip
def test_the_compress_panel_and_splatlab_compress_smol_build_the_same_config(qtbot, monkeypatch, tmp_path, donut_path,
                                                                            fields, options):  # fmt: skip
    panel = CompressPanel()
    qtbot.addWidget(panel)
    panel.smol_iterations.setValue(fields["iterations"])
    panel.smol_max_side.setValue(fields["max_side"])
    panel.smol_max_splats.setValue(fields["max_splats"])
    gui = make_smol_config(panel.smol_settings())
    argv = ["compress", str(donut_path), "-o", str(tmp_path / "x.smol"), "--codec", "smol", "--capture", str(tmp_path),
            *options]  # fmt: skip
    cli_cfg = _cli_config(monkeypatch, "engine.codec.smol.job", "compress_smol_job", argv)
    assert gui == cli_cfg
    assert gui.iterations == fields["iterations"] and gui.max_splats == (fields["max_splats"] or None)
