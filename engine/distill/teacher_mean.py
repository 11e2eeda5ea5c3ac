"""The aggregated teacher image per view (Distilled-3DGS, arXiv 2508.14037 §3.2): the training
views, and the pseudo-views between them (engine.distill.pseudo_views).

The teachers are frozen and the poses fixed, so the pixel mean of their renders (each clamped to
[0, 1]) is computed once per view and kept as uint8: 3 bytes a pixel, 43 views of 200x200 in
5 MB, instead of one render per teacher per step. Saved beside the student's checkpoint so a
resumed run reads it back instead of re-rendering.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor

from engine.camera import Camera
from engine.jobs import CancelToken, Job, Progress
from engine.render import render
from engine.scene import GaussianScene


class TeacherMeans:
    """uint8 [H, W, 3] mean teacher image per view key (a training view's index, or a
    pseudo-view's number)."""

    def __init__(self, images: dict[int, np.ndarray]):
        self.images = images

    def image(self, view: int, device="cpu") -> Tensor:  # [H, W, 3] float in [0, 1]
        return torch.from_numpy(self.images[view]).to(device=device, dtype=torch.float32) / 255.0

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.images.values())

    def save(self, path: str) -> None:
        from engine.io.atomic import atomic_output

        keys = sorted(self.images)
        with atomic_output(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, views=np.array(keys), **{f"v{k}": self.images[k] for k in keys})

    @classmethod
    def load(cls, path: str) -> "TeacherMeans":
        with np.load(path) as z:
            return cls({int(k): z[f"v{int(k)}"] for k in z["views"]})


@torch.no_grad()
def teacher_means_job(teachers: list[GaussianScene], cameras: dict[int, Camera], background, cache: str | None = None,
                      cancel: CancelToken | None = None, what: str = "view") -> Job:  # fmt: skip
    """Job: the mean teacher image for each camera of ``cameras`` (read from ``cache`` when it
    exists; written there when given)."""
    if cache and os.path.exists(cache):
        return TeacherMeans.load(cache)
    bg = tuple(background)
    images = {}
    for n, (i, cam) in enumerate(cameras.items()):
        if cancel is not None:
            cancel.check()
        total = None
        for t in teachers:
            img = render(t, cam, background=bg, with_depth=False).colors[0].clamp(0, 1)
            total = img if total is None else total + img
        images[i] = (total / len(teachers) * 255.0).round().to(torch.uint8).cpu().numpy()
        yield Progress(n + 1, len(cameras), f"teacher mean, {what} {n + 1}/{len(cameras)}", {})
    means = TeacherMeans(images)
    if cache:
        means.save(cache)
    return means
