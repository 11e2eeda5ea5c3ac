"""File > Batch… under Xvfb: a compress batch over good and bad inputs runs in the background on
its own local Ray instance (the engine job splatlab batch runs), the table fills, a done row opens
in the viewport, a bad one does not; a second Start resumes (the good items done before are skipped)."""

from __future__ import annotations

import os

import pytest

from engine import io
from tests.conftest import random_scene

pytestmark = pytest.mark.gui
pytest.importorskip("ray")

TIMEOUT = 300_000  # ms: Ray starts in 3-6 s; the items take seconds (minutes when the 2 cores are shared)
SHOT = os.environ.get("SPLATLAB_BATCH_SHOT")  # where to save a picture of the finished dialog, if set


def test_batch_from_the_file_menu(qtbot, window, donut_path, tmp_path):
    small = tmp_path / "small.ply"
    io.save(random_scene(400, sh_degree=1), small)
    broken = tmp_path / "broken.ply"
    broken.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 9\nend_header\n")
    window.act_batch.trigger()
    c, d = window.batcher, window.batcher.dialog
    assert d.isVisible() and d.start_button.isEnabled() and not d.cancel_button.isEnabled()
    d.start_button.click()  # nothing chosen yet: said in a dialog, nothing starts
    assert window.errors[-1] == ("Cannot start the batch", "add inputs first (files or folders)") and not c.is_running()
    window.errors.clear()
    d.inputs.addItems([str(donut_path), str(small), str(broken)])
    d.job.setCurrentIndex([d.job.itemData(i) for i in range(d.job.count())].index("compress"))
    d.levels.setText("3,5")
    d.output.setText(str(tmp_path / "out"))
    d.cpus.setValue(min(2, d.cpus.maximum()))
    with qtbot.waitSignal(c.finished, timeout=TIMEOUT) as blocker:
        d.start_button.click()
        assert c.is_running() and d.cancel_button.isEnabled() and not d.inputs.isEnabled()
    qtbot.waitUntil(lambda: not c.is_running(), timeout=10_000)
    result = blocker.args[0]
    assert not window.errors
    assert result["counts"] == {"done": 4, "failed": 0, "bad_input": 2, "pending": 0, "skipped": 0}
    rows = {d.table.item(r, 0).text(): r for r in range(d.table.rowCount())}
    assert set(rows) == {"fused.L3.smol", "fused.L5.smol", "small.L3.smol", "small.L5.smol", "broken.L3.smol", "broken.L5.smol"}
    bad = rows["broken.L3.smol"]
    assert d.table.item(bad, 1).text() == "bad input" and "broken.ply: " in d.table.item(bad, 7).text()
    assert d.report_button.isEnabled() and "6 items: 4 done" in d.status.text()
    d.table.selectRow(bad)
    assert not d.open_button.isEnabled()
    if SHOT:
        d.grab().save(SHOT)
    # a done row opens its output in the viewport
    d.table.selectRow(rows["fused.L5.smol"])
    assert d.open_button.isEnabled()
    d.open_button.click()
    qtbot.waitUntil(lambda: window.workspace.a is not None and window.workspace.a.path.endswith("fused.L5.smol"), timeout=60_000)
    assert window.workspace.a.scene.meta.get("level") == 5
    # Start again: every good item was done with the same input and params, so it is skipped; the
    # bad one is tried again (an output that could not be written is bad input too, and may be fixed)
    with qtbot.waitSignal(c.finished, timeout=TIMEOUT) as again:
        d.start_button.click()
    assert again.args[0]["counts"] == {"done": 4, "failed": 0, "bad_input": 2, "pending": 0, "skipped": 4}
    assert d.table.item(rows["small.L3.smol"], 1).text() == "skipped (done)"
