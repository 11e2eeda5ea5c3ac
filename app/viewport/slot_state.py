"""The state of one side (A or B) of the viewport, as a state machine without Qt or GL.

A side shows a document's scene. Its data reaches the screen through three hand-offs, each made
on its own thread, and each of which a newer one can overtake:

1. Preparation (a worker thread): the scene becomes ``PreparedSplats``. :meth:`SlotState.show`
   starts one; :meth:`SlotState.prepared_ready` takes its result only from the job that is still
   current for the document still shown (a newer document, or an emptied side, drops it).
   Until then the previous scene stays on screen.
2. Depth sorting (the sort thread): :meth:`SlotState.sort_arrived` takes an order only when it fits
   the prepared data (the same count), so a sort of a replaced scene is never drawn with the new
   one. :meth:`SlotState.wants_sort` says when the view moved enough to ask for another.
3. Upload (the GUI thread, in paintGL, with the GL context current): :meth:`SlotState.take_upload`
   hands over new data once, :meth:`SlotState.take_order` the newest order taken, remembering the
   camera version it was sorted for (:meth:`SlotState.exact`).

A new GL context (the widget re-parented) uploads everything again: :meth:`SlotState.context_created`.
The widget (app/viewport/widget.py) owns the threads, the renderer and the timers; this class
owns only the decisions, so they are tested without a display (tests/app/test_slot_state.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from app.viewport.sorting import view_changed_enough
from engine.camera import Camera


class SlotState:
    """One side's document, prepared data, depth orders and the hand-offs between them.

    ``prepared`` is duck-typed: anything with ``count`` and ``scene_scale`` (``PreparedSplats``).
    ``prepare_job`` is the caller's handle of the running preparation (anything; compared by
    identity)."""

    def __init__(self, name: str):
        self.name = name
        self.document = None  # app.documents.Document shown, or None
        self.scene = None  # the GaussianScene `prepared` is (being) made from (a live job may replace it)
        self.prepare_job: Any = None  # the preparation still current, None when none runs
        self.prepared = None  # PreparedSplats of the scene on screen (or about to be)
        self.pending_upload = False  # `prepared` (None: empty) awaits upload to the GL renderer
        self.order: np.ndarray | None = None  # the order the renderer draws with
        self.order_version = -1  # camera version `order` was sorted for (-1: none yet)
        self.pending_order: tuple[np.ndarray, int] | None = None  # (order, version) taken, not yet uploaded
        self.sorted_camera: Camera | None = None  # the camera of the last sort asked for

    # ------------------------------------------------------------------ documents
    def show(self, document, job: Any = None) -> Any:
        """Show ``document`` (None: nothing) whose data ``job`` prepares (None with no document).
        Returns the preparation this supersedes (None if none), for the caller to cancel. An
        emptied side drops its data at once; otherwise the old scene stays until the new is ready."""
        superseded = self.prepare_job
        self.document = document
        self.scene = document.scene if document is not None else None
        self.prepare_job = job
        if document is None:
            self.prepared, self.pending_upload, self.order, self.pending_order = None, True, None, None
        return superseded

    def prepared_ready(self, job: Any, document, prepared) -> bool:
        """Take ``prepared`` from ``job``, made for ``document``; False (and nothing changes) when
        a newer document or job has superseded it. Any order of the old data is dropped."""
        if self.prepare_job is not job or self.document is not document:
            return False
        self.prepare_job = None
        self.prepared = prepared
        self.pending_upload = True
        self.order = None
        self.pending_order = None  # a sort of the old scene that was not drawn yet
        self.sorted_camera = None
        return True

    # ------------------------------------------------------------------ sorting
    def wants_sort(self, camera: Camera, force: bool = False) -> bool:
        """True when a sort for ``camera`` should be asked for: there is data and ``force``, or no
        sort was asked for yet, or the view moved enough since the last (sorting.view_changed_enough)."""
        if self.prepared is None:
            return False
        return force or view_changed_enough(self.sorted_camera, camera, scene_scale=self.prepared.scene_scale)

    def sort_requested(self, camera: Camera) -> None:
        self.sorted_camera = camera

    def sort_arrived(self, order: np.ndarray, version: int) -> bool:
        """Take a depth order sorted at camera ``version``; False when it cannot belong to the
        prepared data (a sort of a scene since replaced, or of none)."""
        if self.prepared is None or len(order) != self.prepared.count:
            return False
        self.pending_order = (order, version)
        return True

    def needs_exact_sort(self, version: int) -> bool:
        """True when the order drawn was not sorted for camera ``version`` (the camera stopped)."""
        return self.prepared is not None and self.order_version != version

    # ------------------------------------------------------------------ GL
    def context_created(self) -> None:
        """A new GL context: upload the prepared data and the last order again."""
        self.pending_upload = self.prepared is not None
        if self.order is not None and self.pending_order is None:
            self.pending_order = (self.order, self.order_version)

    def take_upload(self) -> bool:
        """True once when ``prepared`` (None: empty the renderer) is to be uploaded now."""
        if not self.pending_upload:
            return False
        self.pending_upload = False
        self.order_version = -1
        if self.prepared is None:
            self.order = None
        return True

    def take_order(self) -> np.ndarray | None:
        """The order taken since the last upload, to upload now (it becomes the drawn one), or None."""
        if self.pending_order is None or self.prepared is None:
            return None
        order, version = self.pending_order
        self.pending_order = None
        self.order, self.order_version = order, version
        return order

    # ------------------------------------------------------------------ queries
    @property
    def drawable(self) -> bool:
        """There is data on the renderer and an order to draw it with."""
        return self.prepared is not None and self.order is not None

    def busy(self) -> bool:
        """Preparing, or the prepared data still waits for its upload or its first order."""
        if self.prepare_job is not None:
            return True
        return self.prepared is not None and (self.pending_upload or self.order is None and self.pending_order is None)

    def exact(self, version: int) -> bool:
        """Nothing to draw, or the drawn order was sorted for camera ``version``."""
        return self.prepared is None or self.order_version == version
