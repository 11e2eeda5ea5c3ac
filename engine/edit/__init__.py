"""Editing splats: per-splat state, selections, transforms, clean-up, with an undo history.

No Qt here: the studio's Edit panel and ``splatlab edit`` call the same functions.

- :mod:`engine.edit.state`: the SELECTED / HIDDEN / DELETED bit field and :class:`EditSession`
  (scene + state + history; ``result_scene()`` is what Save writes);
- :mod:`engine.edit.history`: undo/redo records as compact diffs (index runs or packed masks,
  XOR of state bits; transforms as matrices plus small residuals), never scene copies;
- :mod:`engine.edit.select`: selections as bool masks (screen shapes with an optional
  front-layer depth test, world volumes, attribute ranges, colour similarity, grow / shrink);
- :mod:`engine.edit.ops`: hide / unhide, soft delete, crop to a box or a sphere;
- :mod:`engine.edit.transform`: translate, rotate (SH through real Wigner-D matrices), uniform
  scale, mirror, set the up axis;
- :mod:`engine.edit.cleanup`: statistical outliers, trainer prune presets, largest cluster.
"""

from engine.edit.history import History, IndexSet, StateEdit
from engine.edit.state import DELETED, HIDDEN, MODES, SELECTED, EditSession, combine

__all__ = ["DELETED", "HIDDEN", "MODES", "SELECTED", "EditSession", "History", "IndexSet", "StateEdit", "combine"]
