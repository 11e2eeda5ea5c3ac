"""The Image panel under Xvfb: open an image, a tiny real compression run from the panel (decoded
view, PSNR / MS-SSIM, matched-rate table and RD plot), save and reopen the .sgi, cancel, and the
error dialog for a corrupt .sgi file."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.image import codec
from engine.image.baselines import available_codecs
from tests.test_image import synthetic

pytestmark = pytest.mark.gui

TIMEOUT = 600_000  # ms; the run below takes ~15 s of CPU (minutes when the 2 cores are shared)


@pytest.fixture
def png(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(synthetic(192, 168, seed=5)).save(path)
    return path


def _open(qtbot, window, path):
    c = window.imager
    c.ask_open_path = lambda: str(path)
    with qtbot.waitSignal(c.loaded, timeout=TIMEOUT):
        window.image_panel.open_button.click()
    qtbot.waitUntil(lambda: not c.is_running(), timeout=10_000)
    return c


def test_compress_from_the_panel(qtbot, window, png, tmp_path):
    panel, c = window.image_panel, _open(qtbot, window, png)
    original = np.asarray(Image.open(png))
    assert panel.view.a is not None and panel.view.b is None
    assert "192×168" in panel.source.text()
    assert panel.compress_button.isEnabled() and not panel.save_button.isEnabled()
    panel.bpp.setValue(1.0)
    panel.iterations.setValue(60)
    with qtbot.waitSignal(c.finished, timeout=TIMEOUT) as blocker:
        panel.compress_button.click()
    qtbot.waitUntil(lambda: not c.is_running() and panel.state == "idle", timeout=10_000)
    assert not window.errors
    result = blocker.args[0]["result"]
    assert result.bpp <= 1.0 and result.psnr > 20
    # the decoded side shows the result, pixel for pixel
    b = panel.view.b
    assert (b.width(), b.height()) == (192, 168)
    shown = np.frombuffer(b.constBits(), np.uint8).reshape(168, b.bytesPerLine())[:, : 192 * 3].reshape(168, 192, 3)
    assert np.array_equal(shown, result.image)
    assert not np.array_equal(shown, original)
    text = panel.metrics.text()
    assert f"PSNR {result.psnr:.2f} dB" in text and "MS-SSIM" in text and "bpp" in text
    # the matched-rate table and the RD plot: SmartSplat and every codec Pillow can write
    codecs = available_codecs()
    assert panel.table.rowCount() == 1 + len(codecs)
    assert panel.table.item(0, 0).text().startswith("SmartSplat")
    assert panel.plotted("smartsplat") == [(pytest.approx(result.bpp), pytest.approx(result.psnr))]
    for name in codecs:
        pts = panel.plotted(name)
        assert len(pts) == 1 and (pts[0][0] <= result.bpp + 1e-9 or name == "jpeg")
    # the split slider moves the divider; zoom buttons change the scale
    panel.split.setValue(250)
    assert panel.view.divider == pytest.approx(0.25)
    panel.one_button.click()
    assert panel.view.scale() == pytest.approx(1.0)
    panel.fit_button.click()
    # save the .sgi, open it again: decoded from the file, compared with the open image
    out = tmp_path / "saved.sgi"
    c.ask_save_path = lambda: str(out)
    panel.save_button.click()
    assert out.read_bytes() == result.data
    with qtbot.waitSignal(c.decoded, timeout=TIMEOUT) as blocker:
        c.open_path(str(out))
    assert np.array_equal(blocker.args[0]["image"], result.image)
    assert f"PSNR {result.psnr:.2f} dB" in panel.metrics.text()
    assert not window.errors


def test_cancel_and_corrupt_file(qtbot, window, png, tmp_path):
    panel, c = window.image_panel, _open(qtbot, window, png)
    panel.iterations.setValue(100_000)
    with qtbot.waitSignal(c.cancelled, timeout=TIMEOUT):
        panel.compress_button.click()
        qtbot.waitUntil(lambda: panel.state == "compressing" and panel.progress.value() > 0, timeout=TIMEOUT)
        panel.cancel_button.click()
    qtbot.waitUntil(lambda: panel.state == "idle", timeout=10_000)
    assert c.result is None and not panel.save_button.isEnabled()
    # a corrupt .sgi: one dialog naming the file; the open image stays
    bad = tmp_path / "broken.sgi"
    good = codec.pack(codec.Header(8, 8, 1024, 32, codec.QuantSpec()), [b"\x00"])
    bad.write_bytes(good[:-1] + bytes([good[-1] ^ 0xFF]))
    with qtbot.waitSignal(c.failed, timeout=TIMEOUT):
        c.open_path(str(bad))
    qtbot.waitUntil(lambda: panel.state == "idle", timeout=10_000)
    assert len(window.errors) == 1 and "broken.sgi" in window.errors[0][1]
    assert c.image is not None and panel.view.a is not None and "photo.png" in panel.source.text()
