"""Editing in the studio: the Edit menu and toolbar, the Edit panel, the viewport's selection tools,
saving the edited scene and asking about unsaved edits. Every selection, operation and transform
is a call into engine.edit on the current document's EditSession (app.documents.Document.editing);
this module only wires them to the GUI.

- Only scene A is edited; the viewport draws A's state (selected tinted, hidden / deleted not
  drawn) and B as before.
- Screen selections (rectangle R, lasso L, brush B): the shape comes from the viewport's overlay;
  with "front layer only" the depth of what A shows is read back from the GL renderer
  (Viewport.front_depth, the engine's render_depth in GL) and engine.edit.select.front_layer keeps
  only the splats not behind it. The mask is computed in a worker (jobs run one at a time, in the
  order asked) and combined with the selection on the GUI thread.
  Grow and shrink (k nearest neighbours) run there too.
- Colour similarity: the pick tool (I) hands over a clicked pixel; the splat under it
  (engine.edit.select.pick, front layer by the GL depth) is remembered and the splats within the
  panel's tolerance of its colour are selected (select.similar_colour); "Select similar" repeats it
  (with no splat picked: the most opaque selected splat's colour).
- Transforms (1 move, 2 rotate, 3 scale) take numbers in a dialog (TransformDialog); mirror X / Y /
  Z reflects across the plane through the centre; all apply to the selection, or the whole scene
  when nothing is selected, about the moved splats' centre. "Set up axis" turns the whole scene so
  that the chosen axis becomes -y (engine.edit.transform.set_up) and shows its new home view.
- Volumes: the panel's numbers, shown in the viewport (app/edit_volumes.py) and dragged there.
  They are tools, not edits: moving one is not in the undo history (selecting or cropping with it is).
- The Edit shortcuts are window-wide but leave their keys to text fields, spin boxes, combo boxes
  and lists (app/shortcut_guard.py): Delete in the Scenes list never deletes splats.
- Saving: app/edit_saving.py (the title shows "*" while edits are unsaved, closing asks).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QToolBar

from app import workers
from app.dialogs import TransformDialog
from app.documents import Document
from app.edit_saving import EditSaving
from app.edit_volumes import VolumeLink
from app.panels.edit_panel import HISTOGRAM_ATTRIBUTES, UP_AXES, EditPanel
from app.shortcut_guard import InputFocusGuard
from app.viewport.edit_overlay import BRUSH_STEP
from engine.edit import StateEdit, cleanup, ops, select, transform

LOG_ATTRIBUTES = {name for _, name, log in HISTOGRAM_ATTRIBUTES if log}

# (key, label, shortcut); the tools are checkable and exclusive
TOOL_ACTIONS = [("rectangle", "Rectangle Select", "R"), ("lasso", "Lasso Select", "L"), ("brush", "Brush Select", "B"),
                ("pick", "Pick Colour", "I")]  # fmt: skip
COMMAND_ACTIONS = [
    ("all", "Select All", "Ctrl+A"), ("none", "Select None", "Ctrl+Shift+A"), ("invert", "Invert Selection", "Ctrl+I"),
    ("grow", "Grow Selection", None), ("shrink", "Shrink Selection", None),
    ("similar", "Select Similar Colour", None), (None, None, None),
    ("hide", "Hide Selected", "H"), ("unhide", "Unhide All", "Shift+H"), ("delete", "Delete Selected", "Del"),
    (None, None, None), ("move", "Move Selection…", "1"), ("rotate", "Rotate Selection…", "2"),
    ("scale", "Scale Selection…", "3"), ("mirror_x", "Mirror X", None), ("mirror_y", "Mirror Y", None),
    ("mirror_z", "Mirror Z", None),
]  # fmt: skip
NEIGHBOURS = 8  # grow / shrink: the k nearest neighbours
TOOL_HINTS = {"pick": "Pick colour: click a splat to select those of a similar colour (the panel's tolerance)"}


class EditController(EditSaving, QObject):
    changed = Signal()  # A's edit state or history changed (counts, title)
    selection_done = Signal(int)  # a screen / range / volume / colour selection was applied: the selected count
    preview_done = Signal(str, int)  # clean-up preset, how many splats would go
    saved = Signal(object, str)  # Document, path

    def __init__(self, window, panel: EditPanel):
        super().__init__(window)
        self.window = window
        self.panel = panel
        self.viewport = window.viewport
        self.front_only = True
        self._queue: list = []  # (work, done, label, prepare): worker jobs, run one at a time (_run)
        self._job = None
        self._save_job = None
        self._values_key = None  # (attribute, scene id, scene version) of the cached histogram values
        self._values: np.ndarray | None = None
        self._histogram_shown = (0, 0)  # (hidden, deleted) counts when the histogram was drawn
        self._scene_version = 0  # bumped when A's splats move (transforms, undo of one)
        self._shown_doc: Document | None = None
        self._watched: set[int] = set()
        self.picked: int | None = None  # index of the splat whose colour "similar" matches (A's)
        self._build_actions()
        self.guard = InputFocusGuard(self, [act.shortcut() for key, act in self.actions.items()
                                            if key not in ("undo", "redo") and not act.shortcut().isEmpty()])  # fmt: skip
        self.volumes = VolumeLink(self.viewport, panel)
        self.viewport.volumes.camera = self.selection_camera  # A's image (the left half side by side)
        panel.command.connect(self.command)
        panel.similar_requested.connect(self.similar)
        panel.up_requested.connect(self.set_up)
        panel.attribute_changed.connect(lambda _: self.refresh_histogram())
        panel.range_selected.connect(self.select_range)
        panel.volume_requested.connect(self.volume)
        panel.cleanup_preview.connect(self.preview)
        panel.front_only_changed.connect(self.set_front_only)
        self.viewport.selection.shape_drawn.connect(self.screen_select)
        window.workspace.subscribe(self._workspace_changed)
        self._workspace_changed()

    # ------------------------------------------------------------------ actions, menu and toolbar
    def _build_actions(self) -> None:
        w = self.window
        self.actions: dict[str, QAction] = {}
        self.tool_group = QActionGroup(self)
        self.tool_group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        for key, label, shortcut in TOOL_ACTIONS:
            act = QAction(f"{label} ({shortcut})", w, checkable=True)
            act.setShortcut(QKeySequence(shortcut))
            act.setData(key)
            self.tool_group.addAction(act)
            self.actions[key] = act
        self.tool_group.triggered.connect(lambda act: self.set_tool(act.data() if act.isChecked() else None))
        self.actions["navigate"] = QAction("Navigate (Esc)", w, shortcut=QKeySequence("Esc"),
                                           triggered=lambda: self.set_tool(None))  # fmt: skip
        self.actions["brush_smaller"] = QAction("Smaller Brush ([)", w, shortcut=QKeySequence("["),
                                                triggered=lambda: self.scale_brush(1 / BRUSH_STEP))  # fmt: skip
        self.actions["brush_larger"] = QAction("Larger Brush (])", w, shortcut=QKeySequence("]"),
                                               triggered=lambda: self.scale_brush(BRUSH_STEP))  # fmt: skip
        self.actions["front_only"] = QAction("Front Layer Only", w, checkable=True, checked=True)
        self.actions["front_only"].setToolTip("Screen selections take only the splats you see, not those behind them")
        self.actions["front_only"].toggled.connect(self.set_front_only)
        for key, label, shortcut in COMMAND_ACTIONS:
            if key is None:
                continue
            act = QAction(label, w, triggered=lambda _=False, key=key: self.command(key))
            if shortcut:
                act.setShortcut(QKeySequence(shortcut))
            self.actions[key] = act
        self.actions["undo"] = QAction("Undo", w, shortcut=QKeySequence("Ctrl+Z"), triggered=lambda: self.command("undo"))
        self.actions["redo"] = QAction("Redo", w, triggered=lambda: self.command("redo"))
        self.actions["redo"].setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.up_actions: dict[str, QAction] = {}
        for axis in UP_AXES:
            self.up_actions[axis] = QAction(f"Up Is {axis.upper()}", w, triggered=lambda _=False, axis=axis: self.set_up(axis))
        for act in self.actions.values():
            w.addAction(act)  # window-wide shortcuts; text fields, spin boxes and lists keep their keys (self.guard)
        bar = QToolBar("Edit", w)
        bar.setObjectName("toolbarEdit")
        for key in ("rectangle", "lasso", "brush", "pick", "front_only", None, "all", "none", "invert", None, "hide",
                    "unhide", "delete", None, "undo", "redo"):  # fmt: skip
            bar.addSeparator() if key is None else bar.addAction(self.actions[key])
        w.addToolBar(Qt.TopToolBarArea, bar)
        self.toolbar = bar

    def fill_menu(self, menu) -> None:
        """The Edit menu (MainWindow._build_menus)."""
        for key in ("undo", "redo", None, "rectangle", "lasso", "brush", "navigate", "brush_smaller", "brush_larger",
                    "front_only", None):  # fmt: skip
            menu.addSeparator() if key is None else menu.addAction(self.actions[key])
        for key, _, _ in COMMAND_ACTIONS:
            menu.addSeparator() if key is None else menu.addAction(self.actions[key])
        up = menu.addMenu("Set Up Axis (turn the scene so that it becomes -y)")
        for act in self.up_actions.values():
            up.addAction(act)

    def set_tool(self, tool: str | None) -> None:
        """The viewport's tool: "rectangle", "lasso", "brush", "pick" (colour) or None (navigate)."""
        for key, _, _ in TOOL_ACTIONS:
            self.actions[key].setChecked(key == tool)
        self.panel.buttons["pick"].setChecked(tool == "pick")
        self.viewport.selection.set_tool(tool)
        if tool in TOOL_HINTS:
            self.window.statusBar().showMessage(TOOL_HINTS[tool], 8000)
        elif tool is not None:
            mods = "Shift add · Ctrl subtract · Ctrl+Shift intersect · Alt+drag orbits · Esc navigates"
            extra = f" · [ ] radius ({self.viewport.selection.brush_radius:.0f} px)" if tool == "brush" else ""
            self.window.statusBar().showMessage(f"{tool.capitalize()} select: drag over the splats · {mods}{extra}", 8000)

    def scale_brush(self, factor: float) -> None:
        sel = self.viewport.selection
        sel.set_brush_radius(sel.brush_radius * factor)
        self.window.statusBar().showMessage(f"Brush radius {sel.brush_radius:.0f} px", 3000)

    def set_front_only(self, on: bool) -> None:
        self.front_only = bool(on)
        for widget in (self.actions["front_only"], self.panel.front_only):
            if widget.isChecked() != self.front_only:
                widget.blockSignals(True)
                widget.setChecked(self.front_only)
                widget.blockSignals(False)

    # ------------------------------------------------------------------ the session of A
    def document(self) -> Document | None:
        return self.window.workspace.a

    def session(self, create: bool = True):
        """A's EditSession (created on the first edit when ``create``), or None without a scene."""
        doc = self.document()
        if doc is None:
            return None
        session = doc.editing() if create else doc.session
        if session is not None and id(session) not in self._watched:
            self._watched.add(id(session))
            session.listeners.append(self._session_changed)
        return session

    def _session_changed(self, session) -> None:
        doc = self.document()
        if doc is not None and doc.session is session:
            self.refresh()
            shown = (session.hidden_count, session.deleted_count)
            if shown != self._histogram_shown:  # hidden and deleted splats leave the histogram
                self.refresh_histogram()
        else:
            self.window.update_title()

    def refresh(self) -> None:
        """Show A's state: the viewport's tint and hidden splats, counts, history, title, actions."""
        doc = self.document()
        session = doc.session if doc is not None else None
        self.viewport.set_edit_state(session.state if session is not None else None)
        if session is not None:
            self.panel.show_counts(session.counts())
            h = session.history
            self.panel.show_history(h.position, len(h.edits), h.nbytes, h.undo_label, h.redo_label)
        else:
            total = doc.scene.count if doc is not None else 0
            self.panel.show_counts(None if doc is None else {"total": total, "selected": 0, "hidden": 0, "deleted": 0})
            self.panel.show_history(0, 0, 0, None, None)
        self.actions["undo"].setEnabled(session is not None and session.history.can_undo)
        self.actions["redo"].setEnabled(session is not None and session.history.can_redo)
        for key, act in [*self.actions.items(), *self.up_actions.items()]:
            if key not in ("undo", "redo", "navigate", "front_only", "brush_smaller", "brush_larger"):
                act.setEnabled(doc is not None)
        self.panel.set_enabled(doc is not None)
        self.window.update_title()
        self.changed.emit()

    def _workspace_changed(self) -> None:
        doc = self.document()
        if doc is not self._shown_doc:
            self._shown_doc = doc
            self._values_key = None
            if doc is not None:
                self.session(create=False)
                lo, hi = doc.scene.robust_bounds() if doc.scene.count else (np.zeros(3), np.ones(3))
                diag = float(np.linalg.norm(hi - lo))
                self.panel.set_volume_defaults((lo + hi) / 2, diag / 2, hi - lo)
                self.panel.cluster_voxel.setValue(max(diag / 100.0, 1e-5))
                for key in self.panel.preview_counts:
                    self.panel.show_preview(key, None)
            else:
                for kind in ("sphere", "box"):
                    self.volumes.show(kind, False)  # no scene: no volume over the empty view
            self.picked = None
            self.panel.show_picked(None)
            self.refresh_histogram()
        self.refresh()

    def _after(self, edit) -> None:
        """After an edit of A: a transform (or its undo) moved the splats: prepare them again."""
        if edit is not None and not isinstance(edit, StateEdit):
            self._scene_version += 1
            self._values_key = None
            doc = self.document()
            if doc is not None:
                self.viewport.set_document("A", doc)
            self.refresh_histogram()

    # ------------------------------------------------------------------ commands
    def command(self, name: str) -> None:
        """A selection command, hide / unhide / delete, undo / redo, grow / shrink (in a worker),
        the colour picker on / off, "similar", a mirror or a transform dialog."""
        if name in ("move", "rotate", "scale"):
            self.transform_dialog(name)
            return
        if name == "pick":
            self.set_tool(None if self.viewport.selection.tool == "pick" else "pick")
            return
        if name == "similar":
            self.similar(float(self.panel.colour_tolerance.value()))
            return
        if name.startswith("mirror_"):
            self.mirror(name[-1])
            return
        session = self.session()
        if session is None:
            return
        if name in ("grow", "shrink"):
            self.grow(session, shrink=name == "shrink")
            return
        if name in ("undo", "redo") and self._busy("undo"):
            return
        fns = {"all": select.select_all, "none": select.select_none, "invert": select.invert, "hide": ops.hide,
               "unhide": ops.unhide, "delete": ops.delete, "undo": type(session).undo, "redo": type(session).redo}  # fmt: skip
        edit = fns[name](session)
        self._after(edit)
        if edit is not None:
            self.window.statusBar().showMessage(f"{'Undid' if name == 'undo' else 'Redid' if name == 'redo' else 'Done'}:"
                                                f" {edit.label}", 4000)  # fmt: skip

    def grow(self, session, shrink: bool = False) -> None:
        """Grow (or shrink) the selection by the NEIGHBOURS nearest visible splats, in a worker
        (a k-d tree over the scene: seconds on a million splats); the selection and visibility
        are read when the job starts, the result is combined when it ends."""
        scene, label = session.scene, "shrink selection" if shrink else "grow selection"
        fn = select.border if shrink else select.grown

        def done(mask):
            self._apply(session, mask, "subtract" if shrink else "add", label)
            self.window.statusBar().showMessage(f"Done: {label} ({session.selected_count:,} selected)", 4000)

        self.window.statusBar().showMessage(f"{label.capitalize()}…")
        self._run(lambda selected, visible: fn(scene, selected, visible, NEIGHBOURS), done, label.split()[0],
                  prepare=lambda: (session.selected, session.visible_mask))  # fmt: skip

    def _busy(self, what: str) -> bool:
        """True (and says so) while a worker reads the splats: transforms and undo wait for it."""
        if self._job is None and self._save_job is None:
            return False
        self.window.statusBar().showMessage(f"Busy (a selection or save is running): {what} not done; try again", 4000)
        return True

    # ------------------------------------------------------------------ worker jobs, one at a time
    def _run(self, work, done, label: str, prepare=None) -> None:
        """Queue ``work(*prepare())`` for a worker (``prepare``, when given, runs on the GUI thread
        as the job starts: a snapshot of what it reads); ``done(result)`` on the GUI thread."""
        self._queue.append((work, done, label, prepare))
        if self._job is None:
            self._next()

    def _next(self) -> None:
        if not self._queue:
            return
        work, done, label, prepare = self._queue.pop(0)
        args = prepare() if prepare is not None else ()
        job = workers.start(lambda token: work(*args), self)
        self._job = job

        def finished(result, job=job):
            if self._job is job:
                done(result)

        def failed(message, bad, job=job):
            self.window.report_error(f"Cannot {label}", message)

        def ended(job=job):
            if self._job is job:
                self._job = None
                self._next()

        job.finished.connect(finished)
        job.failed.connect(failed)
        job.done.connect(ended)

    def is_busy(self) -> bool:
        return self._job is not None or bool(self._queue) or self._save_job is not None

    # ------------------------------------------------------------------ selections
    def screen_select(self, shape: str, args, mode: str) -> None:
        """A shape drawn in the viewport (widget pixels of its current camera): select the splats
        whose centre lies in it (only the visible front layer with ``front_only``) by ``mode``."""
        session = self.session()
        if session is None:
            return
        if shape == "pick":
            self.pick(session, args, mode)
            return
        cam = self.selection_camera()
        front = self.front_only
        depth = self.viewport.front_depth(cam) if front else None  # None: the engine renders it
        scene, visible = session.scene, session.visible_mask
        fn = {"rectangle": select.rectangle, "polygon": select.polygon, "brush": select.brush}[shape]
        argv = tuple(args) if shape == "rectangle" else (args,) if shape == "polygon" else tuple(args)

        def work():
            mask = fn(scene, cam, *argv)
            if front:
                d, a = depth if depth is not None else (None, None)
                mask = select.front_layer(scene, cam, mask, visible, depth=d, alpha=a)
            return mask

        self._run(work, lambda mask: self._apply(session, mask, mode, f"select {shape}"), "select")

    # ------------------------------------------------------------------ colour similarity
    def pick(self, session, xy, mode: str) -> None:
        """The pick tool clicked at widget pixel ``xy``: remember the splat under it (what is
        seen there: the front layer by the GL depth) and select the splats of a similar colour."""
        cam = self.selection_camera()
        depth = self.viewport.front_depth(cam)
        d, a = depth if depth is not None else (None, None)
        scene, visible, (x, y) = session.scene, session.visible_mask, xy
        tolerance = float(self.panel.colour_tolerance.value())

        def work():
            index = select.pick(scene, cam, x, y, visible, depth=d, alpha=a)
            return index, None if index is None else select.similar_colour(scene, index, tolerance)

        def done(result):
            index, mask = result
            if session is not self.session(create=False):
                return
            if index is None:
                self.window.statusBar().showMessage("No splat under the cursor: click on the scene", 4000)
                return
            self._show_picked(session, index)
            self._apply(session, mask, mode, f"select colour like splat {index}")

        self._run(work, done, "pick a colour")

    def _show_picked(self, session, index: int) -> None:
        self.picked = index
        rgb = select.base_colour(session.scene.subset(np.array([index])))[0]
        self.panel.show_picked(tuple(float(c) for c in rgb), index)

    def similar(self, tolerance: float) -> None:
        """Select the splats within ``tolerance`` (CIE Delta E) of the picked splat's colour (with
        none picked, the most opaque selected splat's), by the panel's mode."""
        session = self.session()
        if session is None:
            return
        index = self.picked
        if index is None or index >= session.total:
            candidates = np.flatnonzero(session.selected)
            if candidates.size == 0:
                self.window.statusBar().showMessage("Pick a splat first (Pick colour, I), or select some", 5000)
                return
            opacity = session.scene.opacity_logits.detach().cpu().numpy().reshape(-1)[candidates]
            index = int(candidates[np.argmax(opacity)])
            self._show_picked(session, index)
        scene, mode = session.scene, self.panel.selection_mode()
        self._run(lambda: select.similar_colour(scene, index, tolerance),
                  lambda mask: self._apply(session, mask, mode, f"select colour like splat {index}"),
                  "select similar colours")  # fmt: skip

    def selection_camera(self):
        """The camera of A's image under the mouse: the view's, or in side-by-side compare the
        left half's (A is on the left; widget pixels from its left edge)."""
        vp = self.viewport
        a_left = (self.window.workspace.b is not None and vp.photo_slot is None) or vp.photo_slot == "B"
        if vp.compare_mode == "side" and a_left:
            return vp.controller.camera(max(vp.width() // 2, 1), max(vp.height(), 1))
        return vp.current_camera()

    def _apply(self, session, mask: np.ndarray, mode: str, label: str):
        if session is not self.session(create=False):
            return None  # A changed meanwhile
        edit = session.select(mask, mode, label)
        self.selection_done.emit(session.selected_count)
        return edit

    def select_range(self, attribute: str, lo: float, hi: float, mode: str) -> None:
        """The histogram's range released: select the splats with lo <= value <= hi."""
        session = self.session()
        if session is None:
            return
        mask = select.attribute_range(session.scene, attribute, lo, hi, point=self._centre())
        self._apply(session, mask, mode, f"select {attribute} {lo:.4g}..{hi:.4g}")
        self.panel.show_range_result(lo, hi, int(np.count_nonzero(mask & session.visible_mask)))

    def _centre(self) -> np.ndarray:
        """Where "distance from centre" is measured from: the middle of A's robust bounds."""
        doc = self.document()
        lo, hi = doc.scene.robust_bounds()
        return (lo + hi) / 2

    def refresh_histogram(self) -> None:
        doc = self.document()
        name = self.panel.attribute.currentData()
        if doc is None or doc.scene.count == 0:
            self.panel.show_histogram(None, name in LOG_ATTRIBUTES)
            return
        key = (name, id(doc.scene), self._scene_version)
        if key != self._values_key:
            self._values = select.attribute_values(doc.scene, name, point=self._centre() if name == "distance" else None)
            self._values_key = key
        session = doc.session
        values = self._values if session is None else self._values[session.visible_mask]
        self._histogram_shown = (0, 0) if session is None else (session.hidden_count, session.deleted_count)
        self.panel.show_histogram(values, name in LOG_ATTRIBUTES)

    def volume(self, kind: str, action: str, values: dict) -> None:
        """Select inside, or crop to, a sphere (centre, radius) or an axis-aligned box (centre, size)."""
        session = self.session()
        if session is None:
            return
        c = np.asarray(values["center"], np.float64)
        if kind == "sphere":
            if action == "crop":
                self._after(ops.crop_sphere(session, c, values["radius"]))
                return
            mask = select.sphere(session.scene, c, values["radius"])
        else:
            half = np.asarray(values["size"], np.float64) / 2
            if action == "crop":
                self._after(ops.crop_oriented_box(session, c, half))
                return
            mask = select.box(session.scene, c, half)
        self._apply(session, mask, self.panel.selection_mode(), f"select inside {kind}")

    def preview(self, key: str, options: dict) -> None:
        """A clean-up preset: select what it would remove (replacing the selection) and show the count."""
        session = self.session()
        doc = self.document()
        if session is None:
            return
        scene, visible, cameras = session.scene, session.visible_mask, doc.cameras

        def work():
            if key == "floaters":
                return cleanup.statistical_outliers(scene, options["k"], options["std"], candidates=visible)
            if key == "prune":
                return cleanup.prune_preset(scene, options["preset"], cameras=cameras, candidates=visible)
            return cleanup.outside_largest_cluster(scene, options["voxel"], candidates=visible)

        def done(mask):
            if session is not self.session(create=False):
                return  # A changed meanwhile
            self._apply(session, mask, "replace", f"preview {key}")
            count = int(np.count_nonzero(mask))
            self.panel.show_preview(key, count)
            self.preview_done.emit(key, count)

        self._run(work, done, "preview the clean-up")

    # ------------------------------------------------------------------ transforms
    def transform_dialog(self, kind: str) -> None:
        session = self.session()
        if session is None:
            return
        target = f"{session.selected_count:,} selected splats" if session.selected_count else "the whole scene"
        dlg = TransformDialog(kind, target, self.window)
        if dlg.exec():
            self.transform(kind, dlg.values())

    def _moved(self, session) -> tuple[str, np.ndarray]:
        """What a transform moves ("selection", or "all" when nothing is selected) and its centre [3]."""
        which = "selection" if session.selected_count else "all"
        rows = session.selected if which == "selection" else slice(None)
        return which, session.scene.means.detach().cpu().numpy()[rows].astype(np.float64).mean(0)

    def transform(self, kind: str, values) -> None:
        """Move (offset [3]), rotate (degrees about x, y, z [3]) or scale (factor) the selection, or
        every splat when none is selected, about the moved splats' centre."""
        session = self.session()
        if session is None or self._busy(kind):
            return
        which, pivot = self._moved(session)
        if kind == "move":
            edit = transform.translate(session, values, which)
        elif kind == "rotate":
            edit = transform.rotate(session, np.asarray(values, np.float64), pivot, which)
        elif kind == "scale":
            if not values[0] > 0:
                self.window.report_error("Cannot scale", f"the factor must be positive, not {values[0]}")
                return
            edit = transform.scale(session, float(values[0]), pivot, which)
        else:
            raise ValueError(f"unknown transform {kind!r}")
        self._after(edit)

    def mirror(self, axis: str) -> None:
        """Mirror the selection (or the whole scene) across the plane normal to ``axis`` through
        the moved splats' centre (quaternions reflected, odd SH flipped: engine.edit.transform)."""
        session = self.session()
        if session is None or self._busy("mirror"):
            return
        which, pivot = self._moved(session)
        edit = transform.mirror(session, axis, which, plane=float(pivot["xyz".index(axis)]))
        self._after(edit)
        if edit is not None:
            self.window.statusBar().showMessage(f"Done: {edit.label}", 4000)

    def set_up(self, axis: str) -> None:
        """The scene's up is ``axis`` ("+z" ...): turn the whole scene so that it becomes -y (the
        studio's and SuperSplat's convention) and show its home view with that up."""
        session = self.session()
        if session is None or self._busy("set the up axis"):
            return
        edit = transform.set_up(session, axis)
        if edit is None:
            self.window.statusBar().showMessage("The scene's up is already -y: nothing to turn", 4000)
            return
        self._after(edit)
        self.window.set_up_axis("-y", remember=False)
        self.window.statusBar().showMessage(f"Turned the scene: its {axis} is now up (-y)", 5000)
