"""Training a Smol-GS scene from a capture (Smol-GS, arXiv 2512.00850), as a job.

The five stages of the paper, as fractions of the run (35k steps there; CPU runs are shorter):

    warm-up        0 - 1.4 %   positions and scale bounds from the start scene, features random
    densify        1.4 - 43 %  clone only (position gradient > 2e-4): the child inherits f, its
                               position is drawn around the parent; prune mean opacity < 0.005
                               and splats that stay invisible
    compact        43 - 57 %   + opacity L1 (lambda_o) and pruning, no densification; with a
                               splat budget (``max_splats``) also the least contributing splats
    features       57 - 86 %   + learned-step quantisation of f and s with the rate term lambda_q
    coordinates    86 - 100 %  positions snapped to the 16-level octree (one splat per leaf)

Starting from a trained 3DGS scene (``init_scene``) saves time: positions and scale bounds come
from it, and a short distillation fits the heads to its per-splat attributes before the image
loss takes over (``fit_steps``). Such a scene is already densified, so the densify stage then
only trains (``densify_from_scene`` turns cloning back on).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor

from engine.codec.smol.entropy_model import ContextModel, estimated_rate
from engine.codec.smol.model import FEATURE_DIM, SmolArch, SmolDecoder, code_bits, snap_to_octree
from engine.codec.smol.representation import SmolScene
from engine.device import SMOL, resolve_device
from engine.errors import InputError
from engine.io.captures import Capture
from engine.jobs import CancelToken, Job, Progress
from engine.metrics import SSIM_WEIGHT, photometric_loss, psnr_from_mse
from engine.render import camera_tensors, rasterize
from engine.render.sh import eval_sh
from engine.scene import GaussianScene
from engine.train.init import initial_scene

VARIANTS = {"large": 1e-7, "base": 3e-7, "small": 4e-7}  # the paper's lambda_o per variant


@dataclass
class SmolConfig:
    iterations: int = SMOL.cuda_iterations
    max_side: int | None = None
    seed: int = 0
    device: str = "auto"
    hidden: int = 32
    init_points: int | None = None
    ssim_lambda: float = SSIM_WEIGHT  # engine.metrics.photometric_loss
    warmup_end: float = 0.5 / 35
    densify_end: float = 15 / 35
    compact_end: float = 20 / 35
    features_end: float = 30 / 35
    refine_every: int = 100
    grow_grad2d: float = 2e-4
    prune_opa: float = 0.005
    # opacity L1 per splat, summed over splats as in the paper (lambda_o x sum_i o_i); variant "base"
    lambda_o: float = VARIANTS["base"]
    lambda_o_scale: float = 1.0  # multiplies lambda_o x N (scenes much smaller than the paper's need more)
    lambda_q: float = 5e-4  # rate weight, per splat (bits of its 11 coded values)
    # splat budget: compaction also prunes the splats that contributed least (opacity x screen
    # area, summed over the views seen) down to this count, reached 70 % into the stage. The
    # paper's opacity L1 alone needs its full 35k-step schedule; None: no budget.
    max_splats: int | None = None
    # clone-only densification from a trained scene too (it is already densified: off by default)
    densify_from_scene: bool = False
    lr_means: float = 1.6e-4
    lr_means_final: float = 1.6e-6
    lr_features: float = 5e-3
    lr_scales: float = 5e-3
    lr_decoder: float = 2e-3
    lr_context: float = 2e-3
    fit_steps: int = 300
    log_every: int = 20
    snapshot_seconds: float = 3.0

    def for_iterations(self, iterations: int) -> "SmolConfig":
        import dataclasses

        r = min(1.0, iterations / SMOL.cuda_iterations)
        return dataclasses.replace(self, iterations=iterations, refine_every=max(10, int(round(self.refine_every * r))))

    def validate(self) -> "SmolConfig":
        if self.iterations < 1:
            raise InputError(None, "--iterations must be positive")
        if self.max_side is not None and self.max_side < 8:
            raise InputError(None, "--max-side must be at least 8")
        if not 4 <= self.hidden <= 512:
            raise InputError(None, "the head width must be 4-512")
        if self.max_splats is not None and self.max_splats < 16:
            raise InputError(None, "--max-splats must be at least 16")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_options(cls, *, iterations: int | None = None, max_side: int | None = None, device: str = "auto",
                     max_splats: int | None = None) -> "SmolConfig":  # fmt: skip
        """A run's config from what the user chose: ``splatlab compress --codec smol``'s options
        and the Compress panel's Smol-GS fields both come through here.

        None means the default: ``iterations`` and ``max_side`` per device (engine.device.SMOL),
        no splat budget; ``max_side`` 0 means full size. The schedule is fitted to the run's
        length (:meth:`for_iterations`) and the result validated (InputError when out of range).
        """
        iterations = int(iterations if iterations is not None else SMOL.iterations(device))
        max_side = (max_side if max_side is not None else SMOL.max_side(device)) or None
        cfg = cls(max_side=max_side, device=device, max_splats=max_splats)
        return cfg.for_iterations(iterations).validate()


class SmolTrainer:
    def __init__(self, capture: Capture, cfg: SmolConfig, device: torch.device, init: GaussianScene | None = None):
        self.capture, self.cfg, self.device = capture, cfg, device
        torch.manual_seed(cfg.seed)
        self.view_rng = torch.Generator().manual_seed(cfg.seed)
        self.view_queue: list[int] = []
        self.train_ids = list(capture.train_indices) or list(range(len(capture.frames)))
        self.extent = float(capture.scene_extent())
        self.background = torch.tensor(capture.background, dtype=torch.float32, device=device)
        self.images = {i: capture.image(i).to(device) for i in self.train_ids}
        from engine.train import TrainConfig

        start = init.detach().to("cpu") if init is not None else initial_scene(
            capture, TrainConfig(init_points=cfg.init_points, seed=cfg.seed), None, on_cuda=device.type == "cuda")  # fmt: skip
        g = start.activated()
        means = g.means.clone()
        lo = means.min(0).values
        hi = means.max(0).values
        margin = 0.05 * (hi - lo).max()
        self.lo = (lo - margin).to(device)
        self.side = float((hi - lo).max() + 2 * margin)
        n = len(means)
        self.means = torch.nn.Parameter(means.to(device))
        features = torch.randn(n, FEATURE_DIM, generator=torch.Generator().manual_seed(cfg.seed)).mul(0.1)
        self.features = torch.nn.Parameter(features.to(device))
        self.log_s = torch.nn.Parameter(torch.log(2.0 * g.scales.clamp_min(1e-7)).to(device))
        self.decoder = SmolDecoder(SmolArch(hidden=cfg.hidden)).to(device)
        self.context = ContextModel().to(device)
        self.step_index = 0
        self.elapsed = 0.0
        self.snapped = False
        self.grow = init is None or cfg.densify_from_scene
        self.contrib = torch.zeros(n, device=device)  # [N] sum of opacity x screen area over the views seen
        self._compact_from: tuple[int, int] | None = None  # (step, count) when compaction began
        self._make_optimizers()
        self._reset_stats()
        if init is not None and cfg.fit_steps > 0:
            self.fit_to(start)

    # ------------------------------------------------------------------ bookkeeping
    @property
    def count(self) -> int:
        return int(self.means.shape[0])

    def _make_optimizers(self) -> None:
        c = self.cfg
        self.opt_splats = torch.optim.Adam(
            [{"params": [self.means], "lr": c.lr_means * self.extent, "name": "means"},
             {"params": [self.features], "lr": c.lr_features, "name": "features"},
             {"params": [self.log_s], "lr": c.lr_scales, "name": "log_s"}], eps=1e-15)  # fmt: skip
        self.opt_nets = torch.optim.Adam(
            [{"params": self.decoder.parameters(), "lr": c.lr_decoder},
             {"params": self.context.parameters(), "lr": c.lr_context}])  # fmt: skip

    def _reset_stats(self) -> None:
        n = self.count
        self.grad_sum = torch.zeros(n, device=self.device)
        self.vis_count = torch.zeros(n, device=self.device)
        self.opac_sum = torch.zeros(n, device=self.device)

    def stage(self, step: int | None = None) -> str:
        t = (self.step_index if step is None else step) / max(self.cfg.iterations, 1)
        c = self.cfg
        if t < c.warmup_end:
            return "warm-up"
        if t < c.densify_end:
            return "densify"
        if t < c.compact_end:
            return "compact"
        if t < c.features_end:
            return "features"
        return "coordinates"

    def _next_view(self) -> int:
        if not self.view_queue:
            perm = torch.randperm(len(self.train_ids), generator=self.view_rng).tolist()
            self.view_queue = [self.train_ids[j] for j in perm]
        return self.view_queue.pop()

    def _edit_splats(self, keep: Tensor, new_from: Tensor | None = None, new_means: Tensor | None = None) -> None:
        """Keep rows ``keep`` (bool [N]) and append clones of ``new_from`` (indices) at
        ``new_means``; Adam's moments follow the rows (zeros for the new ones)."""
        groups = {g["name"]: g for g in self.opt_splats.param_groups}
        for name in ("means", "features", "log_s"):
            p = getattr(self, name)
            data = p.data[keep]
            extra = None
            if new_from is not None:
                extra = new_means if name == "means" else p.data[new_from]
                data = torch.cat([data, extra])
            new_p = torch.nn.Parameter(data)
            if name == "means":
                kept = self.contrib[keep]
                self.contrib = torch.cat([kept, self.contrib[new_from]]) if new_from is not None else kept
            state = self.opt_splats.state.pop(p, None)
            if state:
                for k in ("exp_avg", "exp_avg_sq"):
                    v = state[k][keep]
                    if extra is not None:
                        v = torch.cat([v, torch.zeros_like(extra)])
                    state[k] = v
                self.opt_splats.state[new_p] = state
            groups[name]["params"] = [new_p]
            setattr(self, name, new_p)
        self._reset_stats()

    # ------------------------------------------------------------------ the networks
    def coded(self, emb: Tensor, quantise: bool):
        """(features, log scale bounds, rate bits per splat or None), quantised when asked."""
        if not quantise:
            return self.features, self.log_s, None
        q, bits = estimated_rate(self.context, emb, torch.cat([self.features, self.log_s], 1))
        return q[:, :FEATURE_DIM], q[:, FEATURE_DIM:], bits

    def fit_to(self, scene: GaussianScene) -> None:
        """Distil the heads onto a trained scene's per-splat attributes (no rendering)."""
        g = scene.activated()
        target_o = g.opacities.to(self.device)
        target_q = g.quats.to(self.device)
        target_s = g.scales.to(self.device)
        centers = np.stack([self.capture.frames[i].camera.center for i in self.train_ids])
        cams = torch.tensor(centers, dtype=torch.float32, device=self.device)
        rng = torch.Generator().manual_seed(self.cfg.seed + 1)
        bits = code_bits(self.means, self.lo, self.side)
        for _ in range(self.cfg.fit_steps):
            center = cams[int(torch.randint(len(cams), (1,), generator=rng))]
            emb = self.decoder.mlp_oct(bits)
            o, rgb, q, s = self.decoder(self.features, emb, torch.exp(self.log_s), self.means, center, self.extent)
            with torch.no_grad():
                target_rgb = eval_sh(scene.sh_degree, scene.sh.to(self.device), self.means - center).clamp(0, 1)
            loss = ((o - target_o) ** 2).mean() + ((rgb - target_rgb) ** 2).mean() * 3
            loss = loss + (1 - (q * target_q).sum(1).abs()).mean() + ((torch.log(s) - torch.log(target_s)) ** 2).mean() * 0.1
            self.opt_splats.zero_grad(set_to_none=True)
            self.opt_nets.zero_grad(set_to_none=True)
            loss.backward()
            self.means.grad = None  # positions stay where the scene put them
            self.opt_splats.step()
            self.opt_nets.step()
        self.opt_splats.zero_grad(set_to_none=True)
        self.opt_nets.zero_grad(set_to_none=True)

    # ------------------------------------------------------------------ one iteration
    def step(self) -> dict:
        cfg, step = self.cfg, self.step_index
        stage = self.stage()
        t0 = time.perf_counter()
        if stage == "coordinates" and not self.snapped:
            self.snap()
        i = self._next_view()
        cam = self.capture.frames[i].camera
        gt = self.images[i]
        emb = self.decoder.mlp_oct(code_bits(self.means, self.lo, self.side))
        feats, log_s, bits = self.coded(emb, stage in ("features", "coordinates"))
        center = torch.tensor(cam.center, dtype=torch.float32, device=self.device)
        opac, rgb, quats, scales = self.decoder(feats, emb, torch.exp(log_s), self.means, center, self.extent)
        viewmats, Ks = camera_tensors([cam], self.device)
        out = rasterize(self.means, quats, scales, opac, rgb, viewmats, Ks, cam.width, cam.height,
                        sh_degree=None, backgrounds=self.background, with_depth=False)  # fmt: skip
        means2d = out.meta["means2d"]
        if means2d.requires_grad:  # positions are frozen in the coordinate stage
            means2d.retain_grad()
        img = out.colors[0]
        loss = photometric_loss(img, gt, cfg.ssim_lambda)
        if stage == "compact":
            loss = loss + cfg.lambda_o * cfg.lambda_o_scale * opac.sum()
        if bits is not None:
            loss = loss + cfg.lambda_q * bits.mean()
        self.opt_splats.zero_grad(set_to_none=True)
        self.opt_nets.zero_grad(set_to_none=True)
        loss.backward()
        if self.snapped:
            self.means.grad = None
        t = min(step / max(cfg.iterations, 1), 1.0)
        lr = math.exp((1 - t) * math.log(cfg.lr_means) + t * math.log(cfg.lr_means_final)) * self.extent
        self.opt_splats.param_groups[0]["lr"] = lr
        self.opt_splats.step()
        self.opt_nets.step()
        with torch.no_grad():
            vis = (out.meta["radii"][0] > 0).any(-1)
            if means2d.grad is not None:
                g = means2d.grad[0].clone()
                g[:, 0] *= cam.width / 2.0
                g[:, 1] *= cam.height / 2.0
                self.grad_sum += g.norm(dim=1) * vis
            self.vis_count += vis.float()
            self.opac_sum += opac.detach() * vis
            radii = out.meta["radii"][0].float()  # [N, 2] pixels
            self.contrib += opac.detach() * radii[:, 0] * radii[:, 1] * vis
        self.step_index += 1
        if stage in ("densify", "compact") and self.step_index % cfg.refine_every == 0:
            self.refine(grow=stage == "densify" and self.grow)
        self.elapsed += time.perf_counter() - t0
        with torch.no_grad():
            mse = torch.mean((img.detach().clamp(0, 1) - gt) ** 2).item()
        m = {"loss": float(loss.detach()), "psnr": psnr_from_mse(mse), "count": self.count,
             "elapsed": self.elapsed}  # fmt: skip
        if bits is not None:
            m["estimated_bits_per_gaussian"] = float(bits.detach().mean())
        return m

    @torch.no_grad()
    def refine(self, grow: bool) -> None:
        """Clone-only growth and opacity pruning (the paper's densify and compact stages)."""
        seen = self.vis_count > 0
        avg_grad = self.grad_sum / self.vis_count.clamp_min(1)
        mean_opac = self.opac_sum / self.vis_count.clamp_min(1)
        keep = seen & (mean_opac >= self.cfg.prune_opa)
        if keep.sum() < 16:  # never prune everything away
            keep = torch.ones_like(keep)
        allowed = self._allowed_count()
        if allowed is not None and int(keep.sum()) > allowed:
            score = torch.where(keep, self.contrib, torch.full_like(self.contrib, -1.0))
            top = torch.topk(score, allowed).indices
            keep = torch.zeros_like(keep)
            keep[top] = True
        new_from, new_means = None, None
        if grow:
            grow_mask = keep & (avg_grad > self.cfg.grow_grad2d)
            idx = torch.nonzero(grow_mask).flatten()
            if len(idx):
                std = 0.5 * torch.exp(self.log_s.data[idx])
                new_means = self.means.data[idx] + torch.randn_like(std) * std
                new_from = idx
        self._edit_splats(keep, new_from, new_means)

    def _allowed_count(self) -> int | None:
        """The splat budget at this step of the compaction stage (None: no budget / not compacting)."""
        c = self.cfg
        if c.max_splats is None or self.stage() != "compact":
            return None
        if self._compact_from is None:
            self._compact_from = (self.step_index, self.count)
        start, n0 = self._compact_from
        end = c.compact_end * c.iterations
        f = min(1.0, (self.step_index - start) / max(0.7 * (end - start), 1.0))
        if self.step_index + c.refine_every >= end:  # the stage's last pruning: the budget holds from here on
            f = 1.0
        return max(int(round(n0 - (n0 - c.max_splats) * f)), min(n0, c.max_splats))

    @torch.no_grad()
    def snap(self) -> None:
        """Enter the coordinate stage: positions to leaf-cell centres, one splat per leaf."""
        snapped = snap_to_octree(self.means.data, self.lo, self.side)
        cells = torch.floor((snapped - self.lo) / self.side * (1 << 16)).long()
        key = (cells[:, 0] << 32) | (cells[:, 1] << 16) | cells[:, 2]
        mean_opac = self.opac_sum / self.vis_count.clamp_min(1)
        order = torch.argsort(mean_opac, descending=True)  # the most opaque splat of a leaf stays
        _, first = _first_of_each(key[order])
        keep = torch.zeros(self.count, dtype=torch.bool, device=self.device)
        keep[order[first]] = True
        self.means.data.copy_(snapped)
        self._edit_splats(keep)
        self.means.requires_grad_(False)
        self.snapped = True

    # ------------------------------------------------------------------ results
    @torch.no_grad()
    def smol_scene(self) -> SmolScene:
        """The current representation (features quantised once quantisation has started)."""
        emb = self.decoder.mlp_oct(code_bits(self.means, self.lo, self.side))
        feats, log_s, _ = self.coded(emb, self.stage() in ("features", "coordinates"))
        return SmolScene(self.means.detach().clone(), feats.detach().clone(), log_s.detach().clone(), self.decoder,
                         self.lo.clone(), self.side, self.extent)  # fmt: skip


def _first_of_each(keys: Tensor) -> tuple[Tensor, Tensor]:
    """(unique keys, index of the first occurrence of each) for a 1-D tensor."""
    uniq, inverse = torch.unique(keys, return_inverse=True)
    first = torch.full((len(uniq),), len(keys), dtype=torch.long, device=keys.device)
    first.scatter_reduce_(0, inverse, torch.arange(len(keys), device=keys.device), reduce="amin")
    return uniq, first


def train_smol_job(capture: Capture, config: SmolConfig, cancel: CancelToken | None = None,
                   init_scene: GaussianScene | None = None) -> Job:  # fmt: skip
    """Train; yields Progress (preview: the current scene baked for display every few seconds);
    returns the trained SmolTrainer (its ``smol_scene()`` and context model go to the codec)."""
    config.validate()
    device = resolve_device(config.device)
    trainer = SmolTrainer(capture, config, device, init_scene)
    last = -math.inf
    while trainer.step_index < config.iterations:
        if cancel is not None:
            cancel.check()
        m = trainer.step()
        preview = None
        if time.monotonic() - last >= config.snapshot_seconds:
            preview = trainer.smol_scene()
            last = time.monotonic()
        yield Progress(trainer.step_index, config.iterations, trainer.stage(), m, preview)
    return trainer
