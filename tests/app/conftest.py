"""GUI test set-up: a display (Xvfb) is required; the GL surface format is set before pytest-qt
creates the QApplication."""

from __future__ import annotations

import os

import pytest

DISPLAY_REASON = "needs a display and OpenGL: run under xvfb-run with QT_QPA_PLATFORM=xcb (packaging/test.sh does)"


def pytest_collection_modifyitems(config, items):
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return
    skip = pytest.mark.skip(reason=DISPLAY_REASON)
    for item in items:
        if "gui" in item.keywords:
            item.add_marker(skip)


if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    from PySide6.QtGui import QSurfaceFormat

    from app.viewport.widget import default_surface_format

    QSurfaceFormat.setDefaultFormat(default_surface_format())


@pytest.fixture(autouse=True)
def _gui_thread_gc(request):
    """GUI tests run as the studio does (app.main.run): garbage is collected in the GUI thread
    only (app.workers.gui_thread_gc says why)."""
    if request.node.get_closest_marker("gui") is None:
        yield
        return
    request.getfixturevalue("qapp")
    from app import workers

    with workers.gui_thread_gc():
        yield


@pytest.fixture
def settings(tmp_path):
    """A QSettings in a temporary INI file, so tests never touch the user's settings."""
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)


@pytest.fixture
def window(qtbot, settings):
    from app.main_window import MainWindow

    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.viewport.setFixedSize(320, 240)
    win.show()
    qtbot.waitExposed(win)
    errors: list[tuple[str, str]] = []
    win.report_error = lambda title, message: errors.append((title, message))
    win.errors = errors
    yield win
    win.close()


def wait_until_drawn(qtbot, win, timeout=60_000):
    """Wait until the scene(s) are loaded, uploaded and sorted for the exact current view."""
    vp = win.viewport

    def ready():
        vp.update()
        assert not win.is_loading()
        assert not vp.is_busy()
        assert vp.view_is_exact()

    qtbot.waitUntil(ready, timeout=timeout)
    vp.grab_image()  # forces a final paint with the exact order


def open_and_wait(qtbot, win, path, timeout=60_000):
    with qtbot.waitSignal(win.scene_opened, timeout=timeout) as blocker:
        win.open_path(str(path))
    wait_until_drawn(qtbot, win, timeout)
    return blocker.args[0]


@pytest.fixture(scope="module")
def egl():
    """The shared offscreen EGL state; skips when no EGL context can be created."""
    try:
        from app.viewport.offscreen import offscreen_context

        return offscreen_context()
    except Exception as e:  # no libEGL, no Mesa driver, ...
        pytest.skip(f"cannot create a standalone EGL OpenGL context: {e}")


def export_dialog(window, monkeypatch, folder):
    """Trigger File > Export with the dialog accepted at once, its file name moved into
    ``folder``; returns the dialog (its choice() is what the export writes)."""
    from app.dialogs import ExportDialog

    captured = {}

    def accept_at_once(self):
        captured["dlg"] = self
        self.path.setText(str(folder / os.path.basename(self.path.text())))
        return 1

    monkeypatch.setattr(ExportDialog, "exec", accept_at_once)
    window.act_export.trigger()
    return captured["dlg"]
