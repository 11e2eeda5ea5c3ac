"""Depth sorting for the GL splat renderer (3DGS arXiv 2308.04079 §6): near-to-far order by camera-space
z (the engine's sort key), computed off the GUI thread.

``depth_order`` maps each depth to a 16-bit integer key and uses NumPy's stable argsort, which is a
radix sort for 16-bit keys: 1M splats in ~29 ms on 2 cores, all in (3M: ~105 ms; see
tests/bench/bench_viewport.py). Measured alternatives for 1M: a float argsort ~34 ms, 32-bit keys in
two radix passes ~46 ms, torch.argsort ~100 ms. The key is the float's bit pattern relative to the
nearest depth, shifted down to 16 bits: a log-like scale with the same *relative* resolution at
every distance (a depth range spanning R octaves gets about R/65536, 1e-4 for 0.5 to 50 m), so
floaters far away do not steal resolution from the splats in front of the camera. Splats at or
behind the near plane go last (the renderer culls them anyway). Splats whose depths share a key
keep their index order; against an exact sort this costs a few dB of a >60 dB match.

Contract with the caller (the viewport widget): while the camera moves, frames may be drawn with the
order of an earlier camera (the last one that arrived); ``view_changed_enough`` lets it skip
re-sorts for tiny moves *during* motion. When the motion stops, the caller always requests a sort
for the *final* camera and redraws when that order arrives, so the still frame is drawn with the
order for its own camera (this is what the >= 35 dB parity with the engine assumes).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Callable

import numpy as np

from engine.camera import Camera

NEAR_PLANE = 0.01  # engine.render.projection: splats with z <= near are culled
KEY_BITS = 16

log = logging.getLogger(__name__)


def view_depths(means: np.ndarray, camera: Camera) -> np.ndarray:
    """Camera-space z [N] float32 of ``means`` [N, 3] (the engine's depth)."""
    w2c = camera.world_to_camera
    fwd = w2c[2, :3].astype(np.float32)  # [3]
    z = np.asarray(means, dtype=np.float32) @ fwd  # [N]
    z += np.float32(w2c[2, 3])
    return z


def depth_keys(z: np.ndarray, near: float = NEAR_PLANE) -> np.ndarray:
    """uint16 keys [N], non-decreasing in z; splats with z <= near get a key above all others."""
    n = z.shape[0]
    if n == 0:
        return np.zeros(0, np.uint16)
    front = z > np.float32(near)
    zf = np.where(front, z, np.float32(np.inf))  # [N] float32, positive or +inf
    zmin = zf.min()
    if not np.isfinite(zmin):  # everything behind the camera
        return np.zeros(n, np.uint16)
    zmax = np.where(front, z, np.float32(0)).max()
    bits = zf.view(np.uint32)  # positive floats: bit patterns are ordered like the values
    lo = int(np.float32(zmin).view(np.uint32))
    hi = int(np.float32(zmax).view(np.uint32))
    shift = 0
    while (hi - lo) >> shift >= (1 << KEY_BITS) - 1:  # visible keys stay below 65535
        shift += 1
    np.minimum(bits, np.uint32(hi + (1 << shift)), out=bits)  # +inf (behind) -> one key past the farthest
    bits -= np.uint32(lo)
    bits >>= np.uint32(shift)
    return bits.astype(np.uint16)


def depth_order(means: np.ndarray, camera: Camera) -> np.ndarray:
    """uint32 [N] splat indices sorted near to far by camera-space z."""
    keys = depth_keys(view_depths(means, camera))
    return np.argsort(keys, kind="stable").astype(np.uint32, copy=False)


def view_changed_enough(
    cam_a: Camera | None,
    cam_b: Camera | None,
    scene_scale: float = 1.0,
    move_fraction: float = 0.01,
    angle_deg: float = 0.5,
) -> bool:
    """True when the depth order for ``cam_a`` may be stale for ``cam_b``: the eye moved more than
    ``move_fraction`` of ``scene_scale`` (pass ``PreparedSplats.scene_scale``) or the view direction
    turned more than ``angle_deg``. Roll about the view axis and intrinsics do not change depths."""
    if cam_a is None or cam_b is None:
        return True
    if np.linalg.norm(cam_a.center - cam_b.center) > move_fraction * scene_scale:
        return True
    cos = float(np.clip(np.dot(cam_a.forward, cam_b.forward), -1.0, 1.0))
    return math.degrees(math.acos(cos)) > angle_deg


OnDone = Callable[[np.ndarray, Any, float], None]


class BackgroundSorter:
    """A worker thread that sorts splats by depth off the calling thread.

    ``request(means, camera, token)`` replaces any request not yet started (only the latest one is
    computed); when a sort finishes, ``on_done(order, token, seconds)`` is called **on the worker
    thread**. A Qt caller must hand the result to the GUI thread (a queued signal) and upload it
    with ``SplatRenderer.set_order`` while its GL context is current. ``token`` comes back unchanged:
    use it to drop orders for an older scene or camera. See the module docstring for the contract
    about the final frame after motion stops.
    """

    def __init__(self, on_done: OnDone, name: str = "splat-sorter") -> None:
        self._on_done = on_done
        self._cond = threading.Condition()
        self._pending: tuple[np.ndarray, Camera, Any] | None = None
        self._busy = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def request(self, means: np.ndarray, camera: Camera, token: Any = None) -> None:
        """Queue a sort of ``means`` [N, 3] for ``camera``; supersedes a queued request."""
        with self._cond:
            if self._closed:
                raise RuntimeError("BackgroundSorter is closed")
            self._pending = (means, camera, token)
            self._cond.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no request is queued or running; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._busy, timeout)

    @property
    def idle(self) -> bool:
        with self._cond:
            return self._pending is None and not self._busy

    def close(self, timeout: float | None = 5.0) -> None:
        """Stop the worker (a running sort finishes; a queued one is dropped)."""
        with self._cond:
            self._closed = True
            self._pending = None
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    stop = close

    def __enter__(self) -> "BackgroundSorter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _take(self) -> tuple[np.ndarray, Camera, Any] | None:
        with self._cond:
            self._cond.wait_for(lambda: self._pending is not None or self._closed)
            if self._closed:
                return None
            job, self._pending, self._busy = self._pending, None, True
            return job

    def _run(self) -> None:
        while True:
            job = self._take()
            if job is None:
                return
            means, camera, token = job
            try:
                t0 = time.perf_counter()
                order = depth_order(means, camera)
                self._on_done(order, token, time.perf_counter() - t0)
            except Exception:  # keep the worker alive; the caller keeps its last order
                log.exception("background depth sort failed")
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
