"""Ground-truth photos for the A/B compare: the photos of a set of cameras (a capture's), one of
which the viewport shows as side A or B while the view looks exactly through its camera. No Qt,
no GL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from engine.camera import Camera

POSE_TOLERANCE = 1e-7  # relative: the view's camera-to-world matrix against a photo's camera
INTRINSICS_TOLERANCE = 1e-6  # relative, fx fy cx cy at the photo's own size


@dataclass(eq=False)
class PhotoSet:
    """Photos and the cameras that took them.

    ``load(i)`` returns photo ``i`` as ([H, W, 3] float in [0, 1], [H, W] alpha or None), H x W
    being ``cameras[i]``'s image size; it is called in a worker thread. ``background`` is what
    the photos were composited onto where their alpha is below 1 (the viewport swaps it for its
    own background)."""

    cameras: list[Camera]
    names: list[str]
    load: Callable[[int], tuple[np.ndarray, np.ndarray | None]]
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)
    label: str = ""  # where the photos come from (e.g. the capture folder's name)
    _c2w: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.names) != len(self.cameras):
            raise ValueError(f"{len(self.names)} names for {len(self.cameras)} cameras")
        self._c2w = np.stack([c.camera_to_world for c in self.cameras]) if self.cameras else np.zeros((0, 4, 4))

    def __len__(self) -> int:
        return len(self.cameras)

    @classmethod
    def from_capture(cls, capture) -> "PhotoSet":
        """The photos of an ``engine.io.captures.Capture`` (decoded by ``capture.image``/``alpha``,
        at the capture's output size, which is its cameras' size)."""
        import os

        def load(i: int):
            alpha = capture.alpha(i)
            return capture.image(i).numpy(), None if alpha is None else alpha.numpy()

        return cls([f.camera for f in capture.frames], [f.name for f in capture.frames], load,
                   tuple(float(c) for c in capture.background),
                   os.path.basename(os.path.normpath(capture.path)) if capture.path else "")  # fmt: skip

    def index_of_view(self, c2w: np.ndarray, camera_at: Callable[[int, int], Camera]) -> int | None:
        """The photo whose camera the view is looking exactly through, or None.

        ``c2w`` is the view's camera-to-world matrix and ``camera_at(w, h)`` the view's camera at
        an image size (CameraController.camera): the pose must equal the photo camera's, and so
        must the intrinsics at the photo's size (which rules out a view whose field of view the
        user changed after looking through the camera)."""
        if not len(self.cameras):
            return None
        c2w = np.asarray(c2w, np.float64)
        scale = 1.0 + np.abs(self._c2w[:, :3, 3]).max(axis=1)
        err = np.abs(self._c2w - c2w).max(axis=(1, 2))
        for i in np.nonzero(err <= POSE_TOLERANCE * scale)[0]:
            cam = self.cameras[int(i)]
            view = camera_at(cam.width, cam.height)
            want = np.array([cam.fx, cam.fy, cam.cx, cam.cy])
            got = np.array([view.fx, view.fy, view.cx, view.cy])
            if np.all(np.abs(got - want) <= INTRINSICS_TOLERANCE * np.abs(want).max()):
                return int(i)
        return None
