"""Training the feed-forward codec's networks: the rate-distortion objective and the job.

Objective per window (arXiv 2512.00877 §3.5; FCGS arXiv 2410.08017 §4.4), at a level l drawn
per step: ``loss = LAMBDAS[l] * D + R``.

- **R**: estimated bits per Gaussian, the Gaussian-bin likelihood of Smol-GS's ``rate_bits``
  (engine.codec.smol.entropy_model) under the same (mu, sigma) the coder uses: geometry and
  sensitive SH on their learned steps (learned-step quantisation, straight through), the latent
  with additive uniform noise (Ballé et al.), the division choice as the binary entropy of its
  mean. The 1/1024 snapping and the exact arithmetic happen only at coding time (coding.py).
- **D**: an attribute-space distortion, weighted per Gaussian by how much it shows: opacity x a
  projected-size proxy (the product of its two largest scales), normalised to mean 1 in the
  window. Opacity is compared after the sigmoid, scales in log space, rotations as unit
  quaternions, colour as SH in RGB units (DC through C0, higher bands down-weighted). The real
  target is render PSNR at orbit views (engine.rd); a render-loss fine-tune may follow.
- The colour path mixes lossy and sensitive costs with the division's soft probability m:
  ``(1 - m) (lambda D_lossy + R_latent) + m (lambda D_sens + R_sens)``, so the division learns to
  send a Gaussian to the path that is cheaper in the RD sense (hard decisions for the contexts).

Augmentation (:func:`augment`): rotation about the up axis, global scale, random subsets, colour
jitter. Rotation moves positions and quaternions; SH bands above DC are not rotated (the codec
sees another plausible scene, not the same scene turned).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import Tensor

from engine.codec.feedforward import coding, serialise, weights as weights_mod
from engine.codec.feedforward.models import (COLOUR_SCALE, GEOM_CHUNKS, GEOM_OFFSET, GEOM_SCALE, LAMBDAS, LEVELS,
                                             MIN_SIGMA_STEPS, SENS_CHUNKS, Arch, FeedForwardModel, vec)  # fmt: skip
from engine.codec.smol.entropy_model import quantise_ste, rate_bits
from engine.errors import InputError
from engine.io.atomic import sha256_file
from engine.jobs import CancelToken, Job, Progress
from engine.scene import SH_C0, GaussianScene

W_OPACITY, W_SCALE, W_ROT = 1.0, 0.05, 0.1  # geometry distortion weights
W_DC, W_REST = SH_C0**2, 0.25 * SH_C0**2  # colour: DC in RGB units, higher bands down-weighted
MAX_VISIBILITY = 10.0


@dataclass
class Window:
    """One window of a prepared scene, in serial order (what a training step consumes)."""

    cells: np.ndarray  # [n, 3] int64
    geom: Tensor  # [n, 8]
    sh48: Tensor  # [n, 48]
    n_sh: int


def prepare(scene: GaussianScene, window: int = serialise.MIN_WINDOW) -> list[Window]:
    """Serialise a scene exactly as the codec does and cut it into windows."""
    scene = scene.detach().to("cpu")
    means = scene.means.numpy().astype(np.float64)
    box = serialise.grid_box(means)
    order, _ = serialise.serial_order(means, box)
    cells = serialise.voxelise(means, box)[order]
    geom = torch.from_numpy(coding.geometry_table(scene)[order]).float()
    sh48, n_sh = coding.sh_table(scene)
    sh48 = torch.from_numpy(sh48[order]).float()
    return [Window(cells[s:e], geom[s:e], sh48[s:e], n_sh) for s, e in serialise.windows(scene.count, window)]


def augment(scene: GaussianScene, rng: np.random.Generator, up: tuple[float, float, float] = (0.0, 0.0, 1.0),
            min_keep: float = 0.5) -> GaussianScene:  # fmt: skip
    """A randomly rotated (about ``up``), scaled, subsampled and colour-jittered copy."""
    s = scene.detach().to("cpu")
    theta = float(rng.uniform(0, 2 * math.pi))
    axis = np.asarray(up, np.float64) / np.linalg.norm(up)
    kx = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rot = np.eye(3) + math.sin(theta) * kx + (1 - math.cos(theta)) * kx @ kx  # Rodrigues
    qr = torch.tensor([math.cos(theta / 2), *(math.sin(theta / 2) * axis)], dtype=torch.float32)
    w1, v1 = qr[0], qr[1:]
    q = s.quats
    w2, v2 = q[:, :1], q[:, 1:]
    quats = torch.cat([w1 * w2 - (v2 @ v1)[:, None], w1 * v2 + w2 * v1 + torch.cross(v1.expand_as(v2), v2, dim=1)], 1)
    scale = float(np.exp(rng.uniform(-0.7, 0.7)))
    means = (s.means @ torch.from_numpy(rot).float().T) * scale
    sh = s.sh.clone()
    sh[:, 0, :] += torch.from_numpy(rng.normal(0, 0.15, 3)).float()
    if sh.shape[1] > 1:
        sh[:, 1:, :] *= float(rng.uniform(0.7, 1.3))
    out = s.replace(means=means, quats=quats, log_scales=s.log_scales + math.log(scale), sh=sh, extras={})
    keep = rng.random(s.count) < rng.uniform(min_keep, 1.0)
    return out.subset(torch.from_numpy(np.nonzero(keep)[0])) if keep.sum() > 0 else out


def visibility(geom: Tensor) -> Tensor:
    """[n] weight: opacity x (product of the two largest scales), mean 1, capped (no gradient)."""
    g = geom.detach()
    area = torch.exp(torch.topk(g[:, 1:4], 2, dim=1).values.sum(1))
    w = torch.sigmoid(g[:, 0]) * area
    return (w / w.mean().clamp_min(1e-30)).clamp(max=MAX_VISIBILITY)


def window_loss(model: FeedForwardModel, win: Window, level: int, lam: float | None = None) -> tuple[Tensor, dict]:
    """(lambda D + R, metrics) of one window at ``level`` (float32, differentiable)."""
    lam = LAMBDAS[level] if lam is None else lam
    ctx = coding.window_context(model, win.cells, level, exact=False)
    n, rows = ctx.n, torch.arange(ctx.n)
    g = win.geom
    w = visibility(g)
    step = model.geometry.steps(level, False)
    gq = quantise_ste(g, step)
    gnorm = (gq - vec(GEOM_OFFSET, g)) / vec(GEOM_SCALE, g)
    avail = ctx.earlier.float()
    r_geom = torch.zeros(n)
    for c, (a, b) in enumerate(GEOM_CHUNKS):
        mu, sigma = model.geometry.params(c, rows, ctx.posemb, gnorm, ctx.nbr, avail, ctx.group_oh, ctx.level_oh, False)
        r_geom = r_geom + rate_bits(gq[:, a:b], mu, torch.maximum(sigma, step[a:b] * MIN_SIGMA_STEPS), step[a:b]).sum(1)
    qn = gq[:, 4:8] / gq[:, 4:8].norm(dim=1, keepdim=True).clamp_min(1e-8)
    d_geom = (W_OPACITY * (torch.sigmoid(gq[:, 0]) - torch.sigmoid(g[:, 0])) ** 2
              + W_SCALE * ((gq[:, 1:4] - g[:, 1:4]) ** 2).sum(1) + W_ROT * ((qn - g[:, 4:8]) ** 2).sum(1))  # fmt: skip
    # colour
    cm = model.colour
    cscale = vec(COLOUR_SCALE, g)
    present = (torch.arange(len(COLOUR_SCALE)) < win.n_sh).float()
    cw = torch.where(torch.arange(len(COLOUR_SCALE)) < 3, W_DC, W_REST) * present / cscale**2  # normalised -> RGB units
    sh_norm = win.sh48 * cscale
    logit = cm.divide(sh_norm, ctx.posemb, ctx.level_oh)
    m, hard = torch.sigmoid(logit), (logit > 0).float().detach()
    gain = cm.gain(level, False)
    y = cm.analysis(sh_norm, ctx.posemb) * gain
    y_noisy = y + torch.rand_like(y) - 0.5
    y_ctx = torch.round(y).detach() * (1 - hard)[:, None]
    lat_avail = (ctx.earlier & (hard[ctx.nbr] == 0)).float()
    r_lat = torch.zeros(n)
    for c, (a, b) in enumerate(cm.latent_chunks):
        mu, sigma = cm.latent_params(c, rows, ctx.posemb, y_ctx, ctx.nbr, lat_avail, ctx.group_oh, ctx.level_oh, False)
        r_lat = r_lat + rate_bits(y_noisy[:, a:b], mu, sigma.clamp_min(MIN_SIGMA_STEPS), torch.ones(())).sum(1)
    y_ste = y + (torch.round(y) - y).detach()
    synth = cm.synthesis(y_ste * (1 - hard)[:, None] / gain, hard, ctx.posemb)
    d_lossy = (cw * (synth - sh_norm) ** 2).sum(1)
    sstep = cm.sens_steps(level, False)
    sq = quantise_ste(sh_norm, sstep)
    r_sens = torch.zeros(n)
    for c, (a, b) in enumerate(SENS_CHUNKS):
        b = min(b, win.n_sh)
        if a >= b:
            break
        mu, sigma = cm.sens_params(c, rows, ctx.posemb, synth, sq, ctx.level_oh, False)
        k = b - a
        r_sens = r_sens + rate_bits(sq[:, a:b], mu[:, :k], torch.maximum(sigma[:, :k], sstep[a:b] * MIN_SIGMA_STEPS),
                                    sstep[a:b]).sum(1)  # fmt: skip
    d_sens = (cw * (sq - sh_norm) ** 2).sum(1)
    pm = m.mean().clamp(1e-6, 1 - 1e-6)
    r_choice = -(pm * torch.log2(pm) + (1 - pm) * torch.log2(1 - pm))
    d = (w * (d_geom + (1 - m) * d_lossy + m * d_sens)).mean()
    r = (r_geom + (1 - m) * r_lat + m * r_sens).mean() + r_choice
    loss = lam * d + r
    f = lambda t: float(t.detach())  # noqa: E731
    metrics = {"loss": f(loss), "D": f(d), "bits": f(r), "bits_geometry": f(r_geom.mean()), "bits_latent": f(r_lat.mean()),
               "bits_sensitive": f(r_sens.mean()), "sensitive": f(hard.mean())}  # fmt: skip
    return loss, metrics


def evaluate(model: FeedForwardModel, windows: list[Window], levels: list[int], seed: int = 0) -> float:
    """The mean RD loss over ``windows`` x ``levels`` (fixed noise: comparable between calls)."""
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        with torch.no_grad():
            losses = [float(window_loss(model, w, lv)[0]) for w in windows for lv in levels]
    finally:
        torch.random.set_rng_state(state)
    return float(np.mean(losses))


def train_step(model: FeedForwardModel, opt: torch.optim.Optimizer, windows: list[Window], level: int) -> dict:
    """One optimiser step on ``windows`` at ``level``; returns the metrics of the first."""
    opt.zero_grad(set_to_none=True)
    metrics = {}
    for w in windows:
        loss, m = window_loss(model, w, level)
        (loss / len(windows)).backward()
        metrics = metrics or m
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    opt.step()
    return metrics


@dataclass
class TrainConfig:
    steps: int = 2000
    seed: int = 0
    lr: float = 2e-3
    window: int = serialise.MIN_WINDOW
    windows_per_step: int = 2
    arch: dict = field(default_factory=lambda: Arch().to_dict())
    augment: bool = True
    up: tuple[float, float, float] = (0.0, 0.0, 1.0)
    log_every: int = 10


def _scene_hash(path) -> str | None:
    return sha256_file(path) if isinstance(path, (str, os.PathLike)) else None


def codec_train_job(scene_paths: list, out_path: str | os.PathLike, steps: int = 2000, seed: int = 0,
                    cancel: CancelToken | None = None, model: FeedForwardModel | None = None, extra: dict | None = None,
                    **options) -> Job:  # fmt: skip
    """Train on the scenes (paths or GaussianScene objects); write the weights and their manifest.

    ``extra`` joins the manifest's training record (``splatlab codec-train`` puts the corpus there:
    every scene's name, split, command, seed and sha256). Yields Progress every ``log_every``
    steps; returns {"weights", "manifest", "loss_start", "loss_end", "seconds"}. Writes nothing
    until the end, then atomically (a cancelled run leaves no file)."""
    from engine.io import load as load_scene

    cfg = TrainConfig(steps=steps, seed=seed, **options)
    if not scene_paths:
        raise InputError(None, "codec training needs at least one scene")
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    scenes = [load_scene(p) if isinstance(p, (str, os.PathLike)) else p for p in scene_paths]
    model = model if model is not None else FeedForwardModel(Arch.from_dict(cfg.arch))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    held = [w for s in scenes for w in prepare(s, cfg.window)[:1]]
    levels = list(range(1, LEVELS + 1))
    t0 = time.perf_counter()
    start = evaluate(model, held, [1, LEVELS], cfg.seed)
    yield Progress(0, cfg.steps, "codec training", {"loss": start})
    for step in range(1, cfg.steps + 1):
        if cancel is not None:
            cancel.check()
        scene = scenes[int(rng.integers(len(scenes)))]
        if cfg.augment:
            scene = augment(scene, rng, cfg.up)
        wins = prepare(scene, cfg.window)
        pick = [wins[int(i)] for i in rng.integers(len(wins), size=min(cfg.windows_per_step, len(wins)))]
        metrics = train_step(model, opt, pick, int(rng.choice(levels)))
        if step % cfg.log_every == 0 or step == cfg.steps:
            yield Progress(step, cfg.steps, "codec training", metrics)
    end = evaluate(model, held, [1, LEVELS], cfg.seed)
    training = {"config": asdict(cfg), "scenes": [{"path": str(p) if isinstance(p, (str, os.PathLike)) else None,
                                                    "sha256": _scene_hash(p)} for p in scene_paths],
                "loss_start": start, "loss_end": end, **(extra or {})}  # fmt: skip
    manifest = weights_mod.save(model, out_path, training)
    return {"weights": os.fspath(out_path), "manifest": manifest, "loss_start": start, "loss_end": end,
            "seconds": time.perf_counter() - t0}  # fmt: skip
