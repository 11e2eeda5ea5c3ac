"""Initial Gaussians for training (3DGS, arXiv 2308.04079 §5.1): from SfM points when the capture has them,
otherwise random points inside the region the cameras look at, coloured from the images."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.spatial import cKDTree

from engine.errors import InputError
from engine.io.captures import Capture
from engine.scene import GaussianScene, rgb_to_sh_dc
from engine.train.config import TrainConfig


def convergence_point(capture: Capture) -> np.ndarray:
    """Least-squares point nearest every training camera's optical axis ([3])."""
    a = np.zeros((3, 3))
    b = np.zeros(3)
    for i in capture.train_indices or range(len(capture.frames)):
        cam = capture.frames[i].camera
        d = cam.forward / np.linalg.norm(cam.forward)
        m = np.eye(3) - np.outer(d, d)
        a += m
        b += m @ cam.center
    return np.linalg.lstsq(a, b, rcond=None)[0]


def _project(points: np.ndarray, cam) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates [P, 2] and camera-space depth [P] of world points [P, 3]."""
    w2c = cam.world_to_camera
    pc = points @ w2c[:3, :3].T + w2c[:3, 3]
    z = pc[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = np.stack([cam.fx * pc[:, 0] / z + cam.cx, cam.fy * pc[:, 1] / z + cam.cy], 1)
    return uv, z


MASK_BACKGROUND = 0.1  # alpha below this in any view: the point is outside the object
# without masks the random points fill a cube this many times the subject's (gsplat's simple_trainer
# likewise starts from 3x the scene scale; measured on the fox: README, Benchmarks, "Design measurements")
UNMASKED_SPREAD = 3.0


def random_points_in_view(capture: Capture, n: int, seed: int, spread: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points uniform in a cube around the point the cameras converge on, kept where at
    least one training camera sees them, each coloured by the pixel it projects to in one such
    camera. ([n,3], [n,3]). The cube's half-size is ``spread`` x the median camera distance x
    tan(half the narrowest field of view).

    When the images carry alpha masks (NeRF-synthetic), points that any camera sees as
    background are dropped too: the cloud starts inside the object's visual hull (space
    carving), so it needs far fewer and smaller Gaussians than a box full of them; the cube is
    the object's (spread 1). Without masks (a real capture: the background is part of the scene)
    the cube is UNMASKED_SPREAD times larger, so the room behind the subject starts with points."""
    rng = np.random.default_rng(seed)
    ids = capture.train_indices or list(range(len(capture.frames)))
    cams = [capture.frames[i].camera for i in ids]
    centre = convergence_point(capture)
    dist = np.median([np.linalg.norm(c.center - centre) for c in cams])
    half_fov = min(min(math.atan(0.5 * c.width / c.fx), math.atan(0.5 * c.height / c.fy)) for c in cams)
    masks = {}
    for j, i in enumerate(ids):
        a = capture.alpha(i)
        if a is None:
            masks = {}
            break
        masks[j] = a.numpy()
    if spread is None:
        spread = 1.0 if masks else UNMASKED_SPREAD
    half = spread * dist * math.tan(half_fov)
    pts_out, rgb_out, have = [], [], 0
    for _ in range(50):  # rejection rounds: keep points some camera sees (inside the hull)
        pts = centre + rng.uniform(-half, half, size=(2 * n, 3))
        owner = np.full(len(pts), -1)
        for j in rng.permutation(len(cams)):
            free = owner < 0
            if not free.any():
                break
            uv, z = _project(pts[free], cams[j])
            c = cams[j]
            ok = (z > 1e-3) & (uv[:, 0] >= 0) & (uv[:, 0] < c.width) & (uv[:, 1] >= 0) & (uv[:, 1] < c.height)
            owner[np.nonzero(free)[0][ok]] = j
        keep = owner >= 0
        if masks:
            for j, alpha in masks.items():
                uv, z = _project(pts, cams[j])
                c = cams[j]
                inside = keep & (z > 1e-3) & (uv[:, 0] >= 0) & (uv[:, 0] < c.width) & (uv[:, 1] >= 0) & (uv[:, 1] < c.height)
                x = np.clip(np.nan_to_num(uv[:, 0]).astype(int), 0, c.width - 1)
                y = np.clip(np.nan_to_num(uv[:, 1]).astype(int), 0, c.height - 1)
                keep &= ~(inside & (alpha[y, x] < MASK_BACKGROUND))
        pts, owner = pts[keep], owner[keep]
        rgb = np.zeros((len(pts), 3), np.float32)
        for j in np.unique(owner):
            sel = owner == j
            uv, _ = _project(pts[sel], cams[j])
            img = capture.image(ids[j]).numpy()
            x = np.clip(uv[:, 0].astype(int), 0, img.shape[1] - 1)
            y = np.clip(uv[:, 1].astype(int), 0, img.shape[0] - 1)
            rgb[sel] = img[y, x]
        pts_out.append(pts)
        rgb_out.append(rgb)
        have += len(pts)
        if have >= n:
            break
    pts = np.concatenate(pts_out)[:n]
    rgb = np.concatenate(rgb_out)[:n]
    if len(pts) == 0:
        raise InputError(capture.path, "no camera sees the region the cameras point at; cannot initialise")
    return pts.astype(np.float32), rgb


CPU_INIT_POINTS = 20_000
CUDA_INIT_POINTS = 100_000


def initial_scene(capture: Capture, config: TrainConfig, init: GaussianScene | None = None,
                  on_cuda: bool = False) -> GaussianScene:  # fmt: skip
    if init is not None:
        return init.detach().to("cpu")
    if capture.points is not None and len(capture.points) > 0:
        pts = np.asarray(capture.points, np.float32)
        rgb = np.asarray(capture.point_colors, np.float32) / 255.0 if capture.point_colors is not None else np.full_like(pts, 0.5)
    else:
        n = config.init_points or (CUDA_INIT_POINTS if on_cuda else CPU_INIT_POINTS)
        pts, rgb = random_points_in_view(capture, n, config.seed)
    return gaussians_at(pts, rgb, config.init_opacity)


def gaussians_at(points: np.ndarray, rgb: np.ndarray, opacity: float) -> GaussianScene:
    """Isotropic Gaussians at ``points`` [N, 3]: scale sqrt(mean squared distance to the 3
    nearest neighbours), identity rotation, the given opacity and colour ``rgb`` [N, 3]."""
    n = len(points)
    k = min(4, n)
    d, _ = cKDTree(points).query(points, k=k)
    d = d[:, 1:] if k > 1 else np.ones((n, 1))
    scale = np.sqrt(np.maximum((d**2).mean(1), 1e-14))
    opac = torch.full((n,), float(opacity))
    return GaussianScene(
        means=torch.from_numpy(points.astype(np.float32)),
        quats=torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(n, 1),
        log_scales=torch.from_numpy(np.log(scale).astype(np.float32))[:, None].repeat(1, 3),
        opacity_logits=torch.log(opac) - torch.log1p(-opac),
        sh=rgb_to_sh_dc(torch.from_numpy(rgb.astype(np.float32)))[:, None, :],
    )
