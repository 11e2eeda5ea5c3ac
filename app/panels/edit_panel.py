"""The Edit dock: counts, selection commands, an attribute histogram whose dragged range selects,
selection by colour similarity to a picked splat, sphere / box volumes by numbers (and shown in the
viewport, where they are dragged), mirror and up axis, the clean-up presets with a preview count,
undo / redo.

A thin widget: it only emits what was asked for; app/edit_controller.py does it through engine.edit.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QGridLayout, QGroupBox, QHBoxLayout,
                               QLabel, QPushButton, QScrollArea, QSizePolicy, QSpinBox, QVBoxLayout, QWidget)  # fmt: skip

# (label, engine.edit.select attribute, histogram in log10)
HISTOGRAM_ATTRIBUTES = [
    ("Opacity", "opacity", False), ("Scale 1", "scale_0", True), ("Scale 2", "scale_1", True),
    ("Scale 3", "scale_2", True), ("Largest scale", "scale_max", True), ("Volume", "volume", True),
    ("Hue (°)", "hue", False), ("Saturation", "saturation", False), ("Brightness", "brightness", False),
    ("Distance from centre", "distance", False), ("SH energy (bands ≥ 1)", "sh_energy", True),
]  # fmt: skip
MODES = [("Replace", "replace"), ("Add (Shift)", "add"), ("Subtract (Ctrl)", "subtract"), ("Intersect (Ctrl+Shift)", "intersect")]
CLEANUP_TIPS = {
    "floaters": "Statistical outliers: mean distance to the k nearest neighbours above mean + std standard deviations",
    "prune": "The prune thresholds of a trainer: low opacity, or larger than a fraction of the scene extent",
    "cluster": "Keep the largest connected cluster of occupied voxels of this size; the rest would go",
}
UP_AXES = ("+x", "-x", "+y", "-y", "+z", "-z")
PRUNE_PRESETS = [("INRIA 3DGS (opacity < 0.005, size > 0.1 × extent)", "inria"), ("gsplat DefaultStrategy", "gsplat")]


def _spin(lo: float, hi: float, value: float, decimals: int = 3, step: float = 0.1) -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setRange(lo, hi)
    s.setDecimals(decimals)
    s.setSingleStep(step)
    s.setValue(value)
    s.setKeyboardTracking(False)
    s.setMinimumWidth(50)
    s.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)  # three to a row in a narrow dock
    return s


def _vector(values=(0.0, 0.0, 0.0), lo: float = -1e6, hi: float = 1e6, decimals: int = 3) -> list[QDoubleSpinBox]:
    return [_spin(lo, hi, v, decimals) for v in values]


def _narrow(combo: QComboBox, chars: int = 12) -> QComboBox:
    """A combo box whose width does not follow its longest item (the dock is narrow)."""
    combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(chars)
    return combo


def _row(*widgets) -> QHBoxLayout:
    row = QHBoxLayout()
    row.setContentsMargins(0, 0, 0, 0)
    for w in widgets:
        row.addWidget(w)
    return row


class EditPanel(QScrollArea):
    # "all" "none" "invert" "grow" "shrink" "hide" "unhide" "delete" "undo" "redo" "pick" (the colour
    # picker tool on / off) "move" "rotate" "scale" (a dialog) "mirror_x" "mirror_y" "mirror_z"
    command = Signal(str)
    attribute_changed = Signal(str)  # engine.edit.select attribute name
    range_selected = Signal(str, float, float, str)  # attribute, lo, hi (its own units), mode
    volume_requested = Signal(str, str, dict)  # "sphere" | "box", "select" | "crop", {"center", "radius" | "size"}
    volume_edited = Signal(str, dict)  # a volume's numbers were changed here: kind, values
    volume_shown = Signal(str, bool)  # "Show in viewport" of a volume toggled
    similar_requested = Signal(float)  # select the splats of a colour similar to the picked one, tolerance (Delta E)
    up_requested = Signal(str)  # set the scene's up axis: "+x" ... "-z" becomes -y
    cleanup_preview = Signal(str, dict)  # "floaters" {"k", "std"} | "prune" {"preset"} | "cluster" {"voxel"}
    front_only_changed = Signal(bool)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        body = QWidget()
        self.setWidget(body)
        layout = QVBoxLayout(body)

        # ---------------------------------------------------------------- counts and commands
        sel = QGroupBox("Selection")
        grid = QGridLayout(sel)
        self.counts = QLabel("No scene open.")
        self.counts.setObjectName("editCounts")
        self.counts.setWordWrap(True)
        grid.addWidget(self.counts, 0, 0, 1, 4)
        self.front_only = QCheckBox("Front layer only")
        self.front_only.setToolTip("Screen selections take what you see, not the splats behind it")
        self.front_only.setChecked(True)
        self.front_only.toggled.connect(self.front_only_changed)
        grid.addWidget(self.front_only, 1, 0, 1, 4)
        self.buttons: dict[str, QPushButton] = {}
        for i, (name, label) in enumerate([("all", "All"), ("none", "None"), ("invert", "Invert"), ("grow", "Grow"),
                                           ("shrink", "Shrink"), ("hide", "Hide"), ("unhide", "Unhide all"),
                                           ("delete", "Delete")]):  # fmt: skip
            b = QPushButton(label)
            b.clicked.connect(lambda _=False, name=name: self.command.emit(name))
            self.buttons[name] = b
            grid.addWidget(b, 2 + i // 4, i % 4)
        self.buttons["undo"] = QPushButton("Undo")
        self.buttons["redo"] = QPushButton("Redo")
        for name in ("undo", "redo"):
            self.buttons[name].clicked.connect(lambda _=False, name=name: self.command.emit(name))
        self.history = QLabel("History: empty")
        self.history.setObjectName("editHistory")
        grid.addWidget(self.buttons["undo"], 4, 0)
        grid.addWidget(self.buttons["redo"], 4, 1)
        grid.addWidget(self.history, 4, 2, 1, 2)
        layout.addWidget(sel)

        # ---------------------------------------------------------------- histogram
        hist = QGroupBox("Select by attribute (drag the range)")
        hl = QVBoxLayout(hist)
        self.attribute = _narrow(QComboBox())
        for label, name, _ in HISTOGRAM_ATTRIBUTES:
            self.attribute.addItem(label, name)
        self.mode = _narrow(QComboBox())
        for label, key in MODES:
            self.mode.addItem(label, key)
        hl.addLayout(_row(self.attribute, self.mode))
        self.plot = pg.PlotWidget()
        self.plot.setMinimumHeight(150)
        self.plot.setMaximumHeight(240)  # the groups below stay in view
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.getPlotItem().setMenuEnabled(False)
        self.plot.getAxis("left").setStyle(showValues=False)
        self.bars = pg.PlotDataItem(stepMode="center", fillLevel=0, brush=(90, 140, 220, 160), pen=(90, 140, 220))
        self.plot.addItem(self.bars)
        self.region = pg.LinearRegionItem(values=(0.0, 1.0), brush=(255, 160, 40, 50))
        self.region.setZValue(10)
        self.plot.addItem(self.region)
        hl.addWidget(self.plot)
        self.range_label = QLabel("")
        self.range_label.setObjectName("editRange")
        hl.addWidget(self.range_label)
        self.attribute.currentIndexChanged.connect(lambda: self.attribute_changed.emit(self.attribute.currentData()))
        self.region.sigRegionChangeFinished.connect(self._range_finished)
        self._log = False
        layout.addWidget(hist)

        # ---------------------------------------------------------------- colour similarity
        colour = QGroupBox("Select by colour")
        cl = QGridLayout(colour)
        self.buttons["pick"] = QPushButton("Pick colour (I)")
        self.buttons["pick"].setCheckable(True)
        self.buttons["pick"].setToolTip("Click a splat in the viewport: the splats of a similar colour are selected")
        self.buttons["pick"].clicked.connect(lambda: self.command.emit("pick"))
        self.swatch = QLabel()
        self.swatch.setObjectName("editSwatch")
        self.swatch.setFixedSize(22, 22)
        self.picked = QLabel("No splat picked")
        self.picked.setObjectName("editPicked")
        self.colour_tolerance = _spin(0.5, 100.0, 10.0, 1, 1.0)
        self.colour_tolerance.setToolTip("CIE Delta E: 1 is a just-noticeable difference, 10 similar")
        self.buttons["similar"] = QPushButton("Select similar")
        self.buttons["similar"].clicked.connect(lambda: self.similar_requested.emit(float(self.colour_tolerance.value())))
        cl.addWidget(self.buttons["pick"], 0, 0)
        cl.addWidget(self.swatch, 0, 1)
        cl.addWidget(self.picked, 0, 2, 1, 2)
        cl.addWidget(QLabel("Tolerance ΔE"), 1, 0)
        cl.addWidget(self.colour_tolerance, 1, 1, 1, 2)
        cl.addWidget(self.buttons["similar"], 1, 3)
        self.show_picked(None)
        layout.addWidget(colour)

        # ---------------------------------------------------------------- volumes
        vol = QGroupBox("Volumes")
        vf = QFormLayout(vol)
        hint = QLabel("Shown in the viewport: drag the white centre dot (or the outline) to move, the other dots"
                      " to size; Ctrl+wheel sizes.")  # fmt: skip
        hint.setWordWrap(True)
        vf.addRow(hint)
        self.sphere_center = _vector(decimals=4)
        self.sphere_radius = _spin(0.0, 1e6, 1.0, 4)
        self.box_center = _vector(decimals=4)
        self.box_size = _vector((1.0, 1.0, 1.0), 0.0, decimals=4)
        self.show_volume: dict[str, QCheckBox] = {}
        for kind in ("sphere", "box"):
            show = QCheckBox("Show in viewport")
            show.setObjectName(f"show_{kind}")
            show.toggled.connect(lambda on, kind=kind: self.volume_shown.emit(kind, on))
            self.show_volume[kind] = show
            if kind == "sphere":
                vf.addRow("Sphere centre", _row(*self.sphere_center))
                vf.addRow("Radius", _row(self.sphere_radius, show))
            else:
                vf.addRow("Box centre", _row(*self.box_center))
                vf.addRow("Size", _row(*self.box_size))
                vf.addRow("", show)
            for spin in self._volume_spins(kind):
                spin.valueChanged.connect(lambda _=0.0, kind=kind: self.volume_edited.emit(kind, self.volume_values(kind)))
            select_b, crop_b = QPushButton(f"Select inside {kind}"), QPushButton(f"Crop to {kind}")
            select_b.clicked.connect(lambda _=False, kind=kind: self._volume(kind, "select"))
            crop_b.clicked.connect(lambda _=False, kind=kind: self._volume(kind, "crop"))
            self.buttons[f"{kind}_select"], self.buttons[f"{kind}_crop"] = select_b, crop_b
            vf.addRow(_row(select_b, crop_b))
        layout.addWidget(vol)

        # ---------------------------------------------------------------- transforms
        tr = QGroupBox("Transform")
        tr.setToolTip("Moves the selection, or the whole scene when nothing is selected")
        tg = QGridLayout(tr)
        for i, (name, label) in enumerate([("move", "Move… (1)"), ("rotate", "Rotate… (2)"), ("scale", "Scale… (3)")]):
            b = QPushButton(label)
            b.clicked.connect(lambda _=False, name=name: self.command.emit(name))
            self.buttons[name] = b
            tg.addWidget(b, 0, i)
        for i, axis in enumerate("xyz"):
            b = QPushButton(f"Mirror {axis.upper()}")
            b.setToolTip(f"Mirror across the plane normal to {axis} through the centre of the moved splats")
            b.clicked.connect(lambda _=False, axis=axis: self.command.emit(f"mirror_{axis}"))
            self.buttons[f"mirror_{axis}"] = b
            tg.addWidget(b, 1, i)
        self.up_axis = QComboBox()
        for axis in UP_AXES:
            self.up_axis.addItem(f"Up is {axis}", axis)
        self.up_axis.setCurrentIndex(self.up_axis.findData("+z"))
        self.buttons["set_up"] = QPushButton("Set up axis")
        self.buttons["set_up"].setToolTip("Turn the whole scene so that this axis becomes -y (the studio's up)")
        self.buttons["set_up"].clicked.connect(lambda: self.up_requested.emit(self.up_axis.currentData()))
        tg.addWidget(self.up_axis, 2, 0, 1, 2)
        tg.addWidget(self.buttons["set_up"], 2, 2)
        layout.addWidget(tr)

        # ---------------------------------------------------------------- clean-up
        clean = QGroupBox("Clean up")
        clean.setToolTip("Preview selects what would go; Delete removes it")
        cg = QGridLayout(clean)
        self.floater_k = QSpinBox()
        self.floater_k.setRange(1, 200)
        self.floater_k.setValue(20)
        self.floater_std = _spin(0.1, 20.0, 2.0, 2, 0.25)
        self.prune_preset = _narrow(QComboBox(), 8)
        for label, key in PRUNE_PRESETS:
            self.prune_preset.addItem(label, key)
        self.cluster_voxel = _spin(1e-5, 1e4, 0.05, 4, 0.01)
        self.preview_counts: dict[str, QLabel] = {}
        rows = [("floaters", "Floaters k", _row(self.floater_k, QLabel("std"), self.floater_std)),
                ("prune", "Prune", _row(self.prune_preset)),
                ("cluster", "Cluster voxel", _row(self.cluster_voxel))]  # fmt: skip
        for r, (key, label, fields) in enumerate(rows):
            name = QLabel(label)
            name.setToolTip(CLEANUP_TIPS[key])
            cg.addWidget(name, r, 0)
            holder = QWidget()
            holder.setLayout(fields)
            cg.addWidget(holder, r, 1)
            b = QPushButton("Preview")
            b.clicked.connect(lambda _=False, key=key: self.cleanup_preview.emit(key, self.cleanup_options(key)))
            self.buttons[f"preview_{key}"] = b
            cg.addWidget(b, r, 2)
            count = QLabel("")
            count.setObjectName(f"preview_{key}")
            self.preview_counts[key] = count
            cg.addWidget(count, r, 3)
        self.buttons["cleanup_delete"] = QPushButton("Delete selected")
        self.buttons["cleanup_delete"].clicked.connect(lambda: self.command.emit("delete"))
        cg.addWidget(self.buttons["cleanup_delete"], len(rows), 0, 1, 4)
        layout.addWidget(clean)
        layout.addStretch(1)

    # ------------------------------------------------------------------ reading the fields
    def cleanup_options(self, key: str) -> dict:
        if key == "floaters":
            return {"k": int(self.floater_k.value()), "std": float(self.floater_std.value())}
        if key == "prune":
            return {"preset": self.prune_preset.currentData()}
        return {"voxel": float(self.cluster_voxel.value())}

    def _volume_spins(self, kind: str) -> list[QDoubleSpinBox]:
        if kind == "sphere":
            return [*self.sphere_center, self.sphere_radius]
        return [*self.box_center, *self.box_size]

    def volume_values(self, kind: str) -> dict:
        """The numbers of volume ``kind``: {"center": [3], "radius"} or {"center": [3], "size": [3]}."""
        if kind == "sphere":
            return {"center": [s.value() for s in self.sphere_center], "radius": self.sphere_radius.value()}
        return {"center": [s.value() for s in self.box_center], "size": [s.value() for s in self.box_size]}

    def set_volume(self, kind: str, values: dict) -> None:
        """Show these numbers for volume ``kind`` (rounded to the fields' decimals) without emitting
        ``volume_edited`` (a drag in the viewport sets them)."""
        numbers = list(values["center"]) + ([values["radius"]] if kind == "sphere" else list(values["size"]))
        for spin, v in zip(self._volume_spins(kind), numbers):
            spin.blockSignals(True)
            spin.setValue(float(v))
            spin.blockSignals(False)

    def _volume(self, kind: str, action: str) -> None:
        self.volume_requested.emit(kind, action, self.volume_values(kind))

    def selection_mode(self) -> str:
        return self.mode.currentData()

    def _range_finished(self) -> None:
        lo, hi = self.region.getRegion()
        if self._log:
            lo, hi = 10.0**lo, 10.0**hi
        self.range_selected.emit(self.attribute.currentData(), float(lo), float(hi), self.selection_mode())

    # ------------------------------------------------------------------ showing
    def show_counts(self, counts: dict | None) -> None:
        if counts is None:
            self.counts.setText("No scene open.")
            return
        self.counts.setText(f"Selected {counts['selected']:,} · hidden {counts['hidden']:,} · "
                            f"deleted {counts['deleted']:,} · total {counts['total']:,}")  # fmt: skip

    def show_history(self, done: int, total: int, nbytes: int, undo: str | None, redo: str | None) -> None:
        self.history.setText(f"History: {done} of {total} edits ({nbytes / 1024:.0f} KB)")
        self.buttons["undo"].setEnabled(undo is not None)
        self.buttons["redo"].setEnabled(redo is not None)
        self.buttons["undo"].setToolTip(f"Undo {undo}" if undo else "Nothing to undo")
        self.buttons["redo"].setToolTip(f"Redo {redo}" if redo else "Nothing to redo")

    def show_histogram(self, values: np.ndarray | None, log: bool, bins: int = 80) -> None:
        """The histogram of the current attribute's values (log10 of them when ``log``); the
        range resets to the whole span (without selecting)."""
        self._log = log
        v = np.asarray(values if values is not None else [], np.float64)
        if log:
            v = np.log10(v[v > 0])
        v = v[np.isfinite(v)]
        if v.size == 0:
            self.bars.setData([0.0, 1.0], [0.0])
            lo, hi = 0.0, 1.0
        else:
            lo, hi = float(v.min()), float(v.max())
            if hi <= lo:
                hi = lo + 1e-6
            counts, edges = np.histogram(v, bins=bins, range=(lo, hi))
            self.bars.setData(edges, counts.astype(np.float64))
        self.plot.getAxis("bottom").setLabel("log10 " + self.attribute.currentText() if log else self.attribute.currentText())
        self.region.blockSignals(True)
        self.region.setBounds((lo, hi))
        self.region.setRegion((lo, hi))  # all of it: drag an edge in, release to select
        self.region.blockSignals(False)
        self.plot.setXRange(lo, hi, padding=0.02)
        self.range_label.setText("")

    def set_region(self, lo: float, hi: float) -> None:
        """Set the dragged range (in the attribute's units) and select by it, as a drag's release does."""
        if self._log:
            lo, hi = np.log10(max(lo, 1e-300)), np.log10(max(hi, 1e-300))
        self.region.blockSignals(True)
        self.region.setRegion((lo, hi))
        self.region.blockSignals(False)
        self._range_finished()

    def show_range_result(self, lo: float, hi: float, count: int) -> None:
        self.range_label.setText(f"{lo:.4g} … {hi:.4g}: {count:,} splats")

    def show_preview(self, key: str, count: int | None) -> None:
        self.preview_counts[key].setText("" if count is None else f"{count:,} would go")

    def set_volume_defaults(self, center, radius: float, size) -> None:
        """A new scene: volumes around its bounds, arrow steps of 1/100 of its size; each volume
        still shown emits ``volume_edited`` once."""
        step = float(max(radius, 1e-4)) / 50
        for kind in ("sphere", "box"):
            for spin in self._volume_spins(kind):
                spin.setSingleStep(step)
        self.set_volume("sphere", {"center": center, "radius": radius})
        self.set_volume("box", {"center": center, "size": size})
        for kind in ("sphere", "box"):
            self.volume_edited.emit(kind, self.volume_values(kind))

    def show_picked(self, colour: tuple[float, float, float] | None, index: int | None = None) -> None:
        """The picked splat's base colour (RGB 0-1) as a swatch, or none picked."""
        if colour is None:
            self.swatch.setStyleSheet("border: 1px solid palette(mid); background: transparent;")
            self.picked.setText("No splat picked")
            return
        r, g, b = (int(round(255 * min(max(c, 0.0), 1.0))) for c in colour)
        self.swatch.setStyleSheet(f"border: 1px solid palette(dark); background: rgb({r}, {g}, {b});")
        self.picked.setText(f"Splat {index:,}: #{r:02x}{g:02x}{b:02x}" if index is not None else f"#{r:02x}{g:02x}{b:02x}")

    def sizeHint(self) -> QSize:  # narrow: the dock column is shared with Display, Train, ...
        return QSize(340, 600)

    def minimumSizeHint(self) -> QSize:
        return QSize(260, 200)

    def set_enabled(self, on: bool) -> None:
        self.widget().setEnabled(on)
