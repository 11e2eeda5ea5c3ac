"""State operations on an :class:`~engine.edit.state.EditSession`, each one undoable edit:
hide / unhide, (soft) delete, crop to a box or a sphere, and delete by any mask (the clean-up
filters and ``splatlab edit --filter``).

Deleting is soft: the DELETED bit; :meth:`EditSession.result_scene` leaves those splats out when
the scene is saved. Each function returns the history record (None when nothing changed).
"""

from __future__ import annotations

import numpy as np

from engine.edit import select
from engine.edit.state import DELETED, HIDDEN, SELECTED, EditSession


def _set(state: np.ndarray, mask: np.ndarray, bit: int) -> np.ndarray:
    return state | (mask.astype(np.uint8) * np.uint8(bit))


def _clear(state: np.ndarray, mask: np.ndarray, bit: int) -> np.ndarray:
    return state & ~(mask.astype(np.uint8) * np.uint8(bit))


def hide(session: EditSession, mask: np.ndarray | None = None):
    """Hide the selection (or the visible splats of ``mask``); hidden splats leave the selection."""
    target = session.selected if mask is None else np.asarray(mask, dtype=bool) & session.visible_mask
    state = _clear(_set(session.state, target, HIDDEN), target, SELECTED)
    return session.set_state(state, f"hide {int(target.sum()):,}")


def unhide(session: EditSession):
    """Show every hidden splat again (deleted ones stay deleted)."""
    return session.set_state(_clear(session.state, session.hidden, HIDDEN), "unhide all")


def delete_mask(session: EditSession, mask: np.ndarray, label: str | None = None):
    """Soft-delete the splats of ``mask`` [N] bool (hidden ones too); they leave the selection."""
    target = np.asarray(mask, dtype=bool) & ~session.deleted
    state = _clear(_set(session.state, target, DELETED), target, SELECTED)
    return session.set_state(state, label or f"delete {int(target.sum()):,}")


def delete(session: EditSession):
    """Soft-delete the selection (the Delete key)."""
    return delete_mask(session, session.selected, f"delete {session.selected_count:,}")


def crop_box(session: EditSession, lo, hi):
    """Delete every splat whose centre lies outside the axis-aligned box ``lo``..``hi`` [3]."""
    return delete_mask(session, ~select.aabb(session.scene, lo, hi), "crop to box")


def crop_oriented_box(session: EditSession, center, half_size, rotation=None):
    """Delete every splat outside an oriented box (:func:`engine.edit.select.box`)."""
    return delete_mask(session, ~select.box(session.scene, center, half_size, rotation), "crop to box")


def crop_sphere(session: EditSession, center, radius: float):
    """Delete every splat whose centre lies outside the sphere."""
    return delete_mask(session, ~select.sphere(session.scene, center, radius), "crop to sphere")


def delete_invalid(session: EditSession):
    """Delete splats with NaN/Inf in any parameter or a zero quaternion."""
    return delete_mask(session, session.scene.invalid_rows().cpu().numpy(), "delete invalid")
