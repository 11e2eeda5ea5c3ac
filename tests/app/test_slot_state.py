"""The viewport's per-side state machine (app/viewport/slot_state.py), without Qt or GL: which
preparation results, depth orders and uploads are taken, and which a newer one overtakes."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from app.viewport.slot_state import SlotState
from engine.camera import Camera


def _doc():
    return SimpleNamespace(scene=object())


def _prepared(count: int):
    return SimpleNamespace(count=count, scene_scale=1.0)


def _camera(x: float = 0.0, yaw_deg: float = 0.0) -> Camera:
    a = np.radians(yaw_deg)
    c2w = np.eye(4)
    c2w[:3, :3] = [[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]]
    c2w[0, 3] = x
    return Camera(c2w, 100.0, 100.0, 32.0, 24.0, 64, 48)


def _drawn(state: SlotState, count: int, version: int = 1) -> None:
    """Bring ``state`` to a scene of ``count`` splats drawn with an order sorted at ``version``."""
    doc, job = _doc(), object()
    state.show(doc, job)
    assert state.prepared_ready(job, doc, _prepared(count))
    assert state.take_upload()
    assert state.sort_arrived(np.arange(count), version)
    assert state.take_order() is not None


def test_a_new_scene_is_prepared_uploaded_sorted_then_drawn():
    s = SlotState("A")
    doc, job = _doc(), object()
    assert s.show(doc, job) is None and s.document is doc and s.scene is doc.scene
    assert s.busy() and not s.drawable and not s.wants_sort(_camera())  # nothing to sort yet
    prepared = _prepared(5)
    assert s.prepared_ready(job, doc, prepared)
    assert s.prepared is prepared and s.prepare_job is None and s.busy()
    assert s.wants_sort(_camera())  # the first sort is always wanted
    s.sort_requested(_camera())
    assert s.take_upload() and not s.take_upload()  # uploaded once
    assert s.take_order() is None and not s.drawable and s.busy()  # no order yet
    order = np.arange(5)[::-1]
    assert s.sort_arrived(order, 3)
    assert s.take_order() is order and s.take_order() is None
    assert s.drawable and not s.busy()
    assert s.exact(3) and not s.exact(4)
    assert s.needs_exact_sort(4) and not s.needs_exact_sort(3)


def test_a_preparation_overtaken_by_a_newer_scene_is_dropped():
    s = SlotState("A")
    _drawn(s, 5)
    old_doc, old_job = _doc(), object()
    s.show(old_doc, old_job)
    new_doc, new_job = _doc(), object()
    assert s.show(new_doc, new_job) is old_job  # the caller cancels it
    assert not s.prepared_ready(old_job, old_doc, _prepared(7))
    assert s.prepared.count == 5 and s.drawable  # the previous scene stays drawn meanwhile
    assert s.prepared_ready(new_job, new_doc, _prepared(9))
    assert s.prepared.count == 9 and s.order is None and not s.drawable


def test_a_sort_of_the_replaced_scene_is_never_drawn_with_the_new_one():
    s = SlotState("A")
    _drawn(s, 5)
    doc, job = _doc(), object()
    s.show(doc, job)
    assert s.sort_arrived(np.arange(5), 2)  # fits the scene still on screen: taken
    assert s.prepared_ready(job, doc, _prepared(3))  # the new scene drops it
    assert s.pending_order is None and s.take_upload() and s.take_order() is None
    assert not s.sort_arrived(np.arange(5), 2)  # the old scene's order no longer fits
    assert s.sort_arrived(np.arange(3), 2)


def test_emptying_a_side_drops_its_data_at_once_and_leaves_it_idle():
    s = SlotState("B")
    _drawn(s, 5)
    doc, job = _doc(), object()
    s.show(doc, job)
    assert s.show(None) is job  # the preparation under way is superseded
    assert s.document is None and s.scene is None and s.prepared is None and not s.busy()
    assert not s.prepared_ready(job, doc, _prepared(5))  # it may still finish: dropped
    assert s.take_upload() and s.order is None and not s.drawable  # the renderer is emptied
    assert not s.sort_arrived(np.arange(5), 1) and not s.wants_sort(_camera(), force=True)
    assert s.exact(7) and not s.needs_exact_sort(7)


def test_sorts_are_asked_for_when_the_view_moved_enough_or_when_forced():
    s = SlotState("A")
    _drawn(s, 5)
    s.sort_requested(_camera())
    assert not s.wants_sort(_camera(x=0.001))  # 0.1 % of the scene: the order still holds
    assert s.wants_sort(_camera(x=0.001), force=True)
    assert s.wants_sort(_camera(x=0.1))  # moved 10 % of the scene
    assert s.wants_sort(_camera(yaw_deg=2.0))  # turned 2 degrees


def test_a_new_gl_context_uploads_the_data_and_the_drawn_order_again():
    s = SlotState("A")
    _drawn(s, 5, version=4)
    drawn = s.order
    s.context_created()
    assert s.take_upload()
    assert s.take_order() is drawn and s.order_version == 4
    empty = SlotState("B")
    empty.context_created()
    assert not empty.take_upload() and empty.take_order() is None
