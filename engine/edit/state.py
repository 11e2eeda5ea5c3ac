"""Per-splat edit state and the editing session that owns a scene, its state and its history.

The state is one uint8 per splat, a bit field:

- ``SELECTED`` (1): part of the current selection (never together with HIDDEN or DELETED);
- ``HIDDEN``   (2): not drawn and not selectable, but kept and saved;
- ``DELETED``  (4): soft-deleted: not drawn, not selectable, left out when the scene is saved
  (:meth:`EditSession.result_scene`); undo brings it back.

:class:`EditSession` is the model a front end works on: the studio's Edit panel and
``splatlab edit`` call the same functions (engine.edit.select / ops / transform / cleanup) on it.
The session owns its scene: transforms write into the scene's tensors in place, so editing a
1 M-splat scene holds one copy of it plus the compact history (engine.edit.history).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from engine.edit.history import History, StateEdit
from engine.scene import GaussianScene

SELECTED, HIDDEN, DELETED = 1, 2, 4
MODES = ("replace", "add", "subtract", "intersect")


def combine(current: np.ndarray, new: np.ndarray, mode: str) -> np.ndarray:
    """A selection mode applied to bool masks [N]: replace, add (Shift), subtract (Ctrl),
    intersect."""
    if mode == "replace":
        return new.copy()
    if mode == "add":
        return current | new
    if mode == "subtract":
        return current & ~new
    if mode == "intersect":
        return current & new
    raise ValueError(f"unknown selection mode {mode!r} (choose from {', '.join(MODES)})")


class EditSession:
    """A scene being edited: ``scene``, ``state`` (uint8 [N] bit field) and ``history``.

    ``keep_history=False`` (the CLI) records nothing, so transforms skip computing their undo
    residuals. ``history_max_bytes`` bounds the history's memory (oldest edits are forgotten).
    A scene baked from a neural representation (``scene.neural``) loses it: the edited splats no
    longer match it."""

    def __init__(self, scene: GaussianScene, *, keep_history: bool = True, history_max_bytes: int | None = None):
        if scene.neural is not None:
            scene = scene.replace(neural=None)
        self.scene = scene
        self.state = np.zeros(scene.count, dtype=np.uint8)  # [N]
        self.keep_history = keep_history
        self.history = History(max_bytes=history_max_bytes)
        self.revision = 0  # bumped on every change (front ends compare it to refresh)
        self.listeners: list[Callable[["EditSession"], None]] = []
        self._saved = self.history.top()
        self._saved_revision = 0

    # ------------------------------------------------------------------ counts and masks
    @property
    def total(self) -> int:
        return self.scene.count

    def _bit(self, bit: int) -> np.ndarray:
        return (self.state & bit) != 0

    @property
    def selected(self) -> np.ndarray:  # [N] bool
        return self._bit(SELECTED)

    @property
    def hidden(self) -> np.ndarray:  # [N] bool
        return self._bit(HIDDEN)

    @property
    def deleted(self) -> np.ndarray:  # [N] bool
        return self._bit(DELETED)

    @property
    def visible_mask(self) -> np.ndarray:  # [N] bool: neither hidden nor deleted (drawn, selectable)
        return (self.state & (HIDDEN | DELETED)) == 0

    @property
    def selected_count(self) -> int:
        return int(np.count_nonzero(self.state & SELECTED))

    @property
    def hidden_count(self) -> int:
        return int(np.count_nonzero(self.state & HIDDEN))

    @property
    def deleted_count(self) -> int:
        return int(np.count_nonzero(self.state & DELETED))

    @property
    def kept_count(self) -> int:
        """Splats a save writes (all but the deleted)."""
        return self.total - self.deleted_count

    def counts(self) -> dict[str, int]:
        return {"total": self.total, "selected": self.selected_count, "hidden": self.hidden_count,
                "deleted": self.deleted_count, "kept": self.kept_count}  # fmt: skip

    def result_scene(self) -> GaussianScene:
        """The scene without the deleted splats: what Save writes (hidden splats are kept)."""
        deleted = self.deleted
        if not deleted.any():
            return self.scene
        return self.scene.subset(torch.from_numpy(~deleted))

    # ------------------------------------------------------------------ changing state
    def set_state(self, new_state: np.ndarray, label: str) -> StateEdit | None:
        """Replace the whole state by ``new_state`` [N] uint8 as one undoable edit; returns the
        edit (None when nothing changed)."""
        new_state = np.asarray(new_state, dtype=np.uint8)
        if new_state.shape != self.state.shape:
            raise ValueError(f"state has shape {new_state.shape}, the scene has {self.total} splats")
        edit = StateEdit.between(self.state, new_state, label)
        if edit is None:
            return None
        self.state = new_state.copy()
        self.record(edit)
        return edit

    def select(self, mask: np.ndarray, mode: str = "replace", label: str | None = None) -> StateEdit | None:
        """Combine ``mask`` [N] bool with the selection by ``mode``; hidden and deleted splats are
        never selected."""
        eligible = self.visible_mask
        new = combine(self.selected, np.asarray(mask, dtype=bool) & eligible, mode) & eligible
        state = (self.state & np.uint8(~SELECTED & 0xFF)) | (new.astype(np.uint8) * np.uint8(SELECTED))
        return self.set_state(state, label or f"select ({mode})")

    def record(self, edit) -> None:
        """Note an edit that has just been applied to the scene or state."""
        if self.keep_history:
            self.history.push(edit)
        self._changed()

    def undo(self):
        """Undo the last edit; returns it, or None when there is nothing to undo."""
        edit = self.history.undo(self)
        if edit is not None:
            self._changed()
        return edit

    def redo(self):
        edit = self.history.redo(self)
        if edit is not None:
            self._changed()
        return edit

    # ------------------------------------------------------------------ saved / modified
    def mark_saved(self) -> None:
        """The current version is what is on disk (the title shows no unsaved mark)."""
        self._saved = self.history.top()
        self._saved_revision = self.revision

    @property
    def modified(self) -> bool:
        """True when the scene or state differs from the last saved (or loaded) version."""
        if not self.keep_history:
            return self.revision != self._saved_revision
        return self.history.top() is not self._saved

    def _changed(self) -> None:
        self.revision += 1
        for listener in list(self.listeners):
            listener(self)
