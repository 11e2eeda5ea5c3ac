"""The Compress panel with the feed-forward codec (issue 16) under Xvfb: its curve in the RD plot,
the codec chooser and the slider scrubbing its decoded levels, Export with the codec chosen, and
the studio without its weights (the ladder alone; a missing-weights export is an error dialog).

Independent of the shipped weights: a tiny untrained model is saved to a temporary file and
``engine.codec.feedforward.weights.default_path`` points at it (or at nothing)."""

from __future__ import annotations

import os

import pytest
import torch

from app.dialogs import EXPORT_FORMATS, SMOL_FEEDFORWARD, SMOL_LADDER, ExportDialog, feedforward_warnings
from app.documents import Document
from engine import io
from engine.codec.feedforward import weights
from engine.codec.feedforward.models import Arch, FeedForwardModel
from engine.rd import default_codecs
from tests.app.conftest import export_dialog, wait_until_drawn
from tests.conftest import random_scene

pytestmark = pytest.mark.gui

TINY = Arch(dim=16, heads=2, latent=8, latent_chunks=2, fourier=3, attn_layers=1, division=16, attn_pool=8)
SWEEP_TIMEOUT = 60_000  # ms; the sweep below takes a few seconds on 2 busy cores
LEVELS = range(1, 9)


@pytest.fixture(scope="module")
def scene():
    return random_scene(1500, sh_degree=1, seed=5)


@pytest.fixture
def ff_weights(tmp_path, monkeypatch):
    """A tiny untrained model as the installed weights (list it before ``window``: the panel looks
    for them when it starts)."""
    torch.manual_seed(0)
    path = tmp_path / "codecs" / "feedforward_v1.pt"
    path.parent.mkdir()
    weights.save(FeedForwardModel(TINY), path)
    monkeypatch.setattr(weights, "default_path", lambda: path)
    assert default_codecs() == ("ladder", "feedforward")
    return path


@pytest.fixture
def no_ff_weights(tmp_path, monkeypatch):
    """No feed-forward weights installed, whatever resources/ holds (list it before ``window``)."""
    monkeypatch.setattr(weights, "default_path", lambda: tmp_path / "absent" / "feedforward_v1.pt")
    assert default_codecs() == ("ladder",)


def _prepare(qtbot, window, scene, name="random"):
    c = window.compressor
    c.views, c.size, c.baselines = 2, 64, ("spz",)
    doc = Document(name, scene)
    window.workspace.add(doc)
    finished = []
    c.finished.connect(finished.append)
    window.compress_panel.prepare_button.click()
    qtbot.waitUntil(lambda: bool(finished or window.errors), timeout=SWEEP_TIMEOUT)
    assert not window.errors
    qtbot.waitUntil(lambda: not c.is_running(), timeout=10_000)
    return doc, finished[0]


def _errors_as_dialogs(window, monkeypatch):
    """The window's real report_error (a QMessageBox), with the box recorded instead of shown."""
    import app.dialogs

    shown = []
    del window.report_error  # the conftest's replacement; the class method shows the dialog
    monkeypatch.setattr(app.dialogs.QMessageBox, "critical", lambda parent, title, text: shown.append((title, text)))
    return shown


def test_feedforward_curve_codec_chooser_and_export(ff_weights, qtbot, window, scene, tmp_path, monkeypatch):
    window.resize(1400, 900)
    c, panel = window.compressor, window.compress_panel
    assert panel.codec_available("feedforward")  # installed: offered before any sweep
    doc, result = _prepare(qtbot, window, scene)

    # both levelled codecs swept, measured and plotted, each its own curve with its own look
    assert [cv["codec"] for cv in result["curves"]] == ["ladder", "feedforward", "spz"]
    assert set(c.scenes) == {(k, lv) for k in ("ladder", "feedforward") for lv in LEVELS} | {("spz", None)}
    assert set(panel.curves) == {"ladder", "feedforward", "spz"}
    assert [k for k, _, _ in panel.plotted_points("feedforward")] == [("feedforward", lv) for lv in LEVELS]
    ff, lad = panel.curves["feedforward"].opts, panel.curves["ladder"].opts
    assert ff["name"] == "Feed-forward codec (.smol)" and ff["pen"] is not None  # a line through its levels
    assert ff["symbol"] != lad["symbol"] and ff["symbolBrush"].color() != lad["symbolBrush"].color()
    assert panel.table.rowCount() == 17 and panel.table.item(8, 0).text() == "FF L1"

    # choosing the feed-forward codec shows its decoded level; the slider scrubs its levels
    panel.slider.setValue(4)
    assert window.workspace.a.scene is c.scenes[("ladder", 4)]
    panel.codec_box.setCurrentIndex(panel.codec_box.findData("feedforward"))
    assert c.selected == ("feedforward", 4) and window.workspace.a.scene is c.scenes[("feedforward", 4)]
    for level in LEVELS:
        panel.slider.setValue(level)
        a = window.workspace.a
        assert a is c.document and a.scene is c.scenes[("feedforward", level)]
        assert a.name == f"compressed: random FF L{level}" and a.file_bytes == c.points[("feedforward", level)]["bytes"]
        assert panel.current.text().startswith(f"FF L{level} · ")
        assert panel.highlighted() is not None
    assert "format: feed-forward" in window.scene_panel.info.text()
    wait_until_drawn(qtbot, window)
    slot = window.viewport.slots["A"]
    assert slot.document is c.document and slot.scene is c.scenes[("feedforward", 8)]
    assert slot.prepared.count == c.scenes[("feedforward", 8)].count
    # a ladder row in the table switches the chooser back
    panel.table.selectRow(panel._rows.index(("ladder", 2)))
    assert panel.codec() == "ladder" and panel.slider.value() == 2
    assert window.workspace.a.scene is c.scenes[("ladder", 2)]

    # File > Export… while A shows a feed-forward level: that codec and level are preselected
    panel.table.selectRow(panel._rows.index(("feedforward", 6)))
    assert panel.codec() == "feedforward" and window.workspace.a.scene is c.scenes[("feedforward", 6)]
    dlg = export_dialog(window, monkeypatch, tmp_path / "out")
    fmt, opts, degree, path = dlg.choice()
    assert (fmt, opts) == ("smol", {"codec": "feedforward", "level": 6}) and path.endswith("random-ff-L6.smol")
    assert dlg.format.model().item(dlg.format.currentIndex()).isEnabled()
    assert "prunes" not in dlg.warning.text()  # the shown scene was decoded from level 6: already pruned
    assert feedforward_warnings(scene, 6) == ["level 6 prunes the least important splats: keeps 900 of 1,500 (60%)"]
    qtbot.waitUntil(lambda: os.path.exists(path), timeout=60_000)
    back = io.load(path)
    assert (back.meta["codec"], back.meta["level"], back.count) == ("feedforward", 6, 900)  # 60 % of 1,500, not pruned again

    # the weights disappear: exporting with the codec is an error dialog, the studio goes on
    shown = _errors_as_dialogs(window, monkeypatch)
    monkeypatch.setattr(weights, "default_path", lambda: tmp_path / "gone" / "feedforward_v1.pt")
    job = window.export(doc, str(tmp_path / "out" / "again.smol"), 1, {"codec": "feedforward", "level": 3})
    with qtbot.waitSignal(job.done, timeout=60_000):
        pass
    assert shown and shown[-1][0] == "Export failed" and "weights v1 are missing" in shown[-1][1]
    assert not (tmp_path / "out" / "again.smol").exists() and window.workspace.documents


def test_without_weights_the_panel_has_the_ladder_alone(no_ff_weights, qtbot, window, scene, tmp_path,
                                                        monkeypatch):  # fmt: skip
    c, panel = window.compressor, window.compress_panel
    assert not panel.codec_available("feedforward") and panel.codec() == "ladder"
    _, result = _prepare(qtbot, window, scene)
    assert [cv["codec"] for cv in result["curves"]] == ["ladder", "spz"]
    assert set(panel.curves) == {"ladder", "spz"} and not panel.codec_available("feedforward")
    for level in (1, 5, 8):
        panel.slider.setValue(level)
        assert c.selected == ("ladder", level) and window.workspace.a.scene is c.scenes[("ladder", level)]
    # the Export dialog offers the ladder's .smol; the feed-forward one is there, disabled
    dlg = ExportDialog(window.workspace.a, str(tmp_path), window)
    qtbot.addWidget(dlg)
    ff_row = EXPORT_FORMATS.index(SMOL_FEEDFORWARD)
    assert not dlg.format.model().item(ff_row).isEnabled()
    assert "not installed" in dlg.format.itemData(ff_row, 3)  # Qt.ToolTipRole
    assert dlg.format.model().item(EXPORT_FORMATS.index(SMOL_LADDER)).isEnabled()
    # preselected anyway (a feed-forward level shown when the weights went): Save says why not, in a dialog
    shown = _errors_as_dialogs(window, monkeypatch)
    dlg = ExportDialog(window.workspace.a, str(tmp_path), window, level=3, codec="feedforward")
    qtbot.addWidget(dlg)
    assert dlg.choice()[:2] == ("smol", {"codec": "feedforward", "level": 3})
    assert "not installed" in dlg.warning.text() and dlg.estimate.text().startswith("unknown")
    dlg._accept()
    assert shown and "not installed" in shown[-1][1] and dlg.result() == 0
    assert not window.errors
