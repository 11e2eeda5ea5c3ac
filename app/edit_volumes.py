"""The Edit panel's sphere and box volumes shown in the viewport and kept in step both ways:
the panel's numbers (and its "Show in viewport" boxes) drive the viewport's VolumeOverlay
(app/viewport/volume_drag.py), and a drag or Ctrl+wheel there sets the panel's numbers live.

The panel's numbers are what "Select inside" and "Crop to" use; a volume is a tool, not an edit,
so moving it is not in the undo history (a selection or crop made with it is).
"""

from __future__ import annotations


class VolumeLink:
    def __init__(self, viewport, panel):
        self.overlay = viewport.volumes
        self.panel = panel
        panel.volume_shown.connect(self.show)
        panel.volume_edited.connect(self._edited)
        self.overlay.changed.connect(self._dragged)
        self.overlay.finished.connect(self._dropped)

    def show(self, kind: str, on: bool = True) -> None:
        """Show (or hide) volume ``kind`` in the viewport; the panel's box follows."""
        box = self.panel.show_volume[kind]
        if box.isChecked() != on:
            box.setChecked(on)  # toggled -> here again
            return
        self.overlay.set_volume(kind, self.panel.volume_values(kind) if on else None)

    def _edited(self, kind: str, values: dict) -> None:
        """Numbers typed in the panel: the shown volume moves with them."""
        if kind in self.overlay.volumes and not self.overlay.dragging:
            self.overlay.set_volume(kind, values)

    def _dragged(self, kind: str, values: dict) -> None:
        self.panel.set_volume(kind, values)

    def _dropped(self, kind: str, values: dict) -> None:
        """A drag ended: show exactly the panel's numbers (rounded to its decimals)."""
        self.panel.set_volume(kind, values)
        self.overlay.set_volume(kind, self.panel.volume_values(kind))
