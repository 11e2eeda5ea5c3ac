"""The ``splatlab`` console script (:func:`main`): the engine's commands (engine.cli) plus
``splatlab gui [FILE] [--camera CAM.json] [--up AXIS] [--size WxH] [--screenshot OUT.png]``, the
default with no subcommand, which starts the studio (:func:`run`).

With ``--screenshot`` the window opens, renders that view (after the scene is loaded and sorted
for the exact camera), saves the viewport image and exits 0; bad input exits 2. Without a
display, ``--screenshot`` renders the same viewport image with the GL renderer on a standalone
EGL context instead of a window, and plain ``splatlab gui`` prints the scene's info and renders
a PNG of it. Qt is imported only when a window opens.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Sequence

from engine import cli
from engine.cli import EXIT_OK, Command, parse_size

SCREENSHOT_TIMEOUT_S = 600


def main(argv: Sequence[str] | None = None) -> int:
    """``splatlab ARGV``: every engine command, and ``gui`` (the default)."""
    return cli.main(argv, extra={"gui": GUI}, default="gui")


# ---------------------------------------------------------------------------- the gui command
def _gui_args(p):
    p.add_argument("file", nargs="?", help="scene to open (default: the bundled sample scene)")
    p.add_argument("--camera", help="camera JSON to start from")
    p.add_argument("--up", help="the scene's up axis: +x -x +y -y +z -z (default: chosen or remembered)")
    p.add_argument("--size", help="viewport size WxH")
    p.add_argument("--screenshot", help="save the viewport to this PNG and exit")


def _gui(args) -> int:
    if args.size:
        parse_size(args.size)
    if args.up:
        from engine.framing import parse_up

        parse_up(args.up)
    if not has_display() and not args.screenshot:
        return _no_display_demo(args)
    return run(args)


GUI = Command("open the studio (the default with no subcommand)", _gui_args, _gui)


def has_display() -> bool:
    if sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _no_display_demo(args) -> int:
    """No display: show what the studio would open (info plus a rendered PNG of it)."""
    from engine.resources import sample_scene_path

    path = args.file or str(sample_scene_path())
    print("splatlab: no display found; showing the scene's info and rendering a PNG instead", file=sys.stderr)
    out = "splatlab-sample.png" if not args.file else os.path.basename(path).split(".")[0] + ".png"
    rc = cli.main(["info", path])
    if rc != EXIT_OK:
        return rc
    render_args = ["render", path, "-o", out] + (["--camera", args.camera] if args.camera else [])
    render_args += ["--up", args.up] if args.up and not args.camera else []
    if args.size:
        w, h = parse_size(args.size)
        render_args += ["--width", str(w), "--height", str(h)]
    return cli.main(render_args)


# ---------------------------------------------------------------------------- the studio
def _print_error(message: str) -> None:
    print(f"splatlab: error: {message}", file=sys.stderr)


def _size(args) -> tuple[int, int] | None:
    return parse_size(args.size) if getattr(args, "size", None) else None


def _screenshot_without_display(args, path: str) -> int:
    from PIL import Image

    from app.viewport.offscreen import render_offscreen
    from engine import io
    from engine.camera import Camera, home_view
    from engine.framing import cameras_beside, parse_up
    from engine.io.atomic import atomic_output

    print("splatlab: no display: rendering the viewport image offscreen (EGL)", file=sys.stderr)
    scene = io.load(path)
    size = _size(args)
    if args.camera:
        cam = Camera.load(args.camera)
        if size:
            cam = cam.scaled(*size)
    else:
        w, h = size or (1280, 720)
        cam = home_view(scene, w, h, up=parse_up(args.up) if args.up else None, cameras=cameras_beside(path))
    img = render_offscreen(scene, cam)
    with atomic_output(args.screenshot) as tmp:
        Image.fromarray(img).save(tmp, format="PNG")
    print(f"wrote {args.screenshot} ({cam.width}x{cam.height})", file=sys.stderr)
    return 0


def run(args) -> int:
    """Open the studio on ``args.file`` (the ``gui`` command's arguments); returns the exit code."""
    from engine.resources import sample_scene_path

    path = args.file or str(sample_scene_path())
    if args.screenshot and not has_display():
        return _screenshot_without_display(args, path)

    from PySide6.QtGui import QSurfaceFormat
    from PySide6.QtWidgets import QApplication

    from app import workers
    from app.viewport.widget import default_surface_format

    QSurfaceFormat.setDefaultFormat(default_surface_format())  # before the QApplication exists
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("SplatLab")
    app.setApplicationName("SplatLab")
    with workers.gui_thread_gc():  # garbage is collected in the GUI thread only (why: see there)
        return _studio(app, args, path)


def _studio(app, args, path: str) -> int:
    """The window and its event loop (interactive, or until the --screenshot is saved)."""
    from PySide6.QtCore import QTimer

    from app.main_window import MainWindow
    from engine.camera import Camera
    from engine.errors import InputError

    camera = Camera.load(args.camera) if args.camera else None  # bad JSON: InputError -> exit 2
    size = _size(args) or ((camera.width, camera.height) if camera and args.screenshot else None)
    win = MainWindow()
    if size:
        win.viewport.setFixedSize(*size)
    win.resize(max(win.width(), (size or (1280, 720))[0] + 520), max(win.height(), (size or (1280, 720))[1] + 120))
    win.show()
    if not args.screenshot:
        if camera is not None:
            win.scene_opened.connect(lambda doc: win.viewport.set_camera(camera))
        win.open_path(path, up=args.up)
        return app.exec()

    # --screenshot: load, wait until the exact view is drawn, save, quit
    result = {"rc": 0}
    started = time.monotonic()

    def fail(message: str, rc: int = 2) -> None:
        _print_error(message)
        result["rc"] = rc
        app.quit()

    win.report_error = lambda title, message: None  # no modal dialogs: open_failed reports and exits
    win.open_failed.connect(fail)
    state = {"opened": False}

    def opened(doc):
        if camera is not None:
            win.viewport.set_camera(camera)
        state["opened"] = True

    win.scene_opened.connect(opened)

    def poll():
        vp = win.viewport
        if time.monotonic() - started > SCREENSHOT_TIMEOUT_S:
            return fail(f"timed out after {SCREENSHOT_TIMEOUT_S} s waiting for the view", 1)
        if not state["opened"] or win.is_loading() or vp.is_busy() or not vp.view_is_exact():
            vp.update()
            return
        timer.stop()
        try:
            win.save_screenshot(args.screenshot)
        except OSError as e:
            return fail(f"{args.screenshot}: {e}", 1)
        img = vp.grab_image()
        print(f"wrote {args.screenshot} ({img.width()}x{img.height()})", file=sys.stderr)
        app.quit()

    timer = QTimer(interval=50, timeout=poll)
    timer.start()
    try:
        win.open_path(path, up=args.up)
    except InputError as e:
        fail(str(e))
    app.exec()
    win.close()
    return result["rc"]
