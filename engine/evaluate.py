"""Scene fidelity: a scene against a reference scene (orbit views) or a capture (test views).

``splatlab eval`` and the RD sweeps use these. Both are jobs (engine.jobs) that yield one
Progress per view and return a dict with ``psnr``, ``ssim`` (means over views) and per-view lists.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from engine.camera import orbit_views
from engine.jobs import CancelToken, Job, Progress
from engine.metrics import psnr, ssim
from engine.render import render
from engine.scene import GaussianScene

DEFAULT_VIEWS = 8
DEFAULT_SIZE = 512


def _summary(psnrs: list[float], ssims: list[float], seconds: float, **extra) -> dict:
    finite = [p for p in psnrs if math.isfinite(p)]
    # identical renders give inf dB; report the mean over finite views, or inf if all are
    mean_psnr = float(np.mean(finite)) if finite else math.inf
    return {"psnr": mean_psnr, "ssim": float(np.mean(ssims)), "views": len(psnrs), "psnr_per_view": psnrs,
            "ssim_per_view": ssims, "seconds": seconds, **extra}  # fmt: skip


@torch.no_grad()
def eval_against_reference(
    scene: GaussianScene,
    reference: GaussianScene,
    views: int = DEFAULT_VIEWS,
    size: int = DEFAULT_SIZE,
    background=(0.0, 0.0, 0.0),
    cancel: CancelToken | None = None,
    reference_images: list[torch.Tensor] | None = None,
) -> Job:
    """PSNR/SSIM of ``scene`` against ``reference`` rendered at the reference's orbit views.

    ``reference_images`` (renders of the reference at those views) may be passed in to avoid
    re-rendering the reference when many scenes are compared against it.
    """
    t0 = time.perf_counter()
    cams = orbit_views(reference, views, size, size)
    psnrs, ssims = [], []
    for i, cam in enumerate(cams):
        if cancel:
            cancel.check()
        ref = reference_images[i] if reference_images is not None else render_view(reference, cam, background)
        img = render_view(scene, cam, background)
        psnrs.append(psnr(img, ref))
        ssims.append(ssim(img, ref))
        yield Progress(i + 1, len(cams), f"view {i + 1}/{len(cams)}", {"psnr": psnrs[-1]})
    return _summary(psnrs, ssims, time.perf_counter() - t0, mode="reference", size=size)


def render_view(scene: GaussianScene, cam, background=(0.0, 0.0, 0.0)) -> torch.Tensor:
    """[H, W, 3] clamped to [0, 1]."""
    return render(scene, cam, background=background, with_depth=False).colors[0].clamp(0, 1)


def reference_renders(reference: GaussianScene, views: int = DEFAULT_VIEWS, size: int = DEFAULT_SIZE,
                      background=(0.0, 0.0, 0.0)) -> list[torch.Tensor]:  # fmt: skip
    with torch.no_grad():
        return [render_view(reference, c, background) for c in orbit_views(reference, views, size, size)]


@torch.no_grad()
def eval_against_capture(scene: GaussianScene, capture, cancel: CancelToken | None = None, split: str = "test") -> Job:
    """PSNR/SSIM of ``scene`` rendered at the capture's test (or train) cameras vs its images."""
    t0 = time.perf_counter()
    indices = capture.test_indices if split == "test" else capture.train_indices
    if not indices:
        indices = list(range(len(capture.frames)))
    bg = tuple(capture.background)
    psnrs, ssims = [], []
    for n, i in enumerate(indices):
        if cancel:
            cancel.check()
        frame = capture.frames[i]
        gt = capture.image(i)
        img = render_view(scene.to("cpu") if scene.device.type != "cpu" else scene, frame.camera, bg)
        psnrs.append(psnr(img, gt))
        ssims.append(ssim(img, gt))
        yield Progress(n + 1, len(indices), f"{split} view {frame.name}", {"psnr": psnrs[-1]})
    return _summary(psnrs, ssims, time.perf_counter() - t0, mode="capture", split=split,
                    views_names=[capture.frames[i].name for i in indices])  # fmt: skip
