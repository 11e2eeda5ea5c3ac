"""3DGS training over engine.io captures (Kerbl et al. 2023, arXiv 2308.04079).

Recipe: Adam per attribute (INRIA learning rates, position LR decayed log-linearly and scaled by
the scene extent), loss (1 - l) L1 + l (1 - SSIM) with l = 0.2, SH degree raised stepwise, and
densification by gsplat's strategies: DefaultStrategy (INRIA clone/split/prune; its 1.5.3
opacity reset never fires, so the trainer does the reset) or MCMC with a Gaussian budget.
It renders with gsplat on CUDA and with the project's torch rasterizer on the CPU.

``train_job`` is a job (engine.jobs): it yields Progress (loss, PSNR, Gaussian count, elapsed
time, and a preview scene every few seconds), honours cancel and pause, checkpoints so a run can
resume bit-identically, and writes the output folder only when it is complete.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import dataclass

import torch
from torch import Tensor

from engine.errors import Cancelled, InputError
from engine.io.atomic import json_text
from engine.io.captures import Capture, load_capture
from engine.jobs import CancelToken, Job, Progress
from engine.metrics import photometric_loss, psnr_from_mse
from engine.render import camera_tensors, rasterize
from engine.scene import GaussianScene, sh_coeff_count
from engine.device import resolve_device
from engine.train.config import TrainConfig
from engine.train.init import initial_scene
from engine.train.strategies import make_strategy

CHECKPOINT = "checkpoint.pt"
PARAM_NAMES = ("means", "scales", "quats", "opacities", "sh0", "shN")


@dataclass
class TrainResult:
    status: str  # "done" | "paused"
    out_dir: str
    metrics: dict
    scene: GaussianScene | None


class Trainer:
    """The optimisation state of one run; ``step()`` does one iteration."""

    def __init__(self, capture: Capture, config: TrainConfig, device: torch.device, init: GaussianScene | None = None):
        self.capture = capture
        self.cfg = config
        self.device = device
        torch.manual_seed(config.seed)
        self.view_rng = torch.Generator().manual_seed(config.seed)
        self.view_queue: list[int] = []
        self.train_ids = list(capture.train_indices) or list(range(len(capture.frames)))
        self.extent = float(capture.scene_extent())
        self.background = torch.tensor(capture.background, dtype=torch.float32, device=device)
        self.images = {i: capture.image(i).to(device) for i in self.train_ids}  # [H, W, 3] each
        scene = initial_scene(capture, config, init, on_cuda=device.type == "cuda")
        self.params = torch.nn.ParameterDict(_params_from_scene(scene, config.sh_degree, device))
        self.optimizers = self._make_optimizers()
        self.strategy = make_strategy(config, self.extent)
        self.strategy_state = self.strategy.initialize_state(scene_scale=self.extent)
        self.step_index = 0
        self.elapsed = 0.0

    # ------------------------------------------------------------------ optimisation
    def _make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.cfg
        lrs = {"means": c.lr_means * self.extent, "scales": c.lr_scales, "quats": c.lr_quats,
               "opacities": c.lr_opacities, "sh0": c.lr_sh0, "shN": c.lr_shN}  # fmt: skip
        return {k: torch.optim.Adam([{"params": self.params[k], "lr": lrs[k], "name": k}], eps=1e-15) for k in PARAM_NAMES}

    def means_lr(self, step: int) -> float:
        """INRIA's log-linear decay from lr_means to lr_means_final over the run."""
        t = min(step / max(self.cfg.iterations, 1), 1.0)
        lr = math.exp((1 - t) * math.log(self.cfg.lr_means) + t * math.log(self.cfg.lr_means_final))
        return lr * self.extent

    def active_sh_degree(self, step: int) -> int:
        return min(step // self.cfg.sh_degree_interval, self.cfg.sh_degree)

    def _next_view(self) -> int:
        if not self.view_queue:
            perm = torch.randperm(len(self.train_ids), generator=self.view_rng).tolist()
            self.view_queue = [self.train_ids[j] for j in perm]
        return self.view_queue.pop()

    def render_params(self, cameras, sh_degree: int, opacities: Tensor | None = None):
        """Render the current parameters; ``opacities`` [N] replaces sigmoid(logits) (dropout)."""
        p = self.params
        viewmats, Ks = camera_tensors(cameras, self.device)
        cam = cameras[0]
        return rasterize(
            p["means"], p["quats"], torch.exp(p["scales"]),
            torch.sigmoid(p["opacities"]) if opacities is None else opacities,
            torch.cat([p["sh0"], p["shN"]], 1), viewmats, Ks, cam.width, cam.height,
            sh_degree=sh_degree, backgrounds=self.background, with_depth=False,
        )  # fmt: skip

    # ------------------------------------------------------------------ hooks (engine.distill)
    def render_opacities(self, step: int) -> Tensor | None:
        """Opacities [N] to render this step with; None: the parameters' own."""
        return None

    def photometric_weight(self, step: int) -> float:
        """Weight of the photometric loss against the photo (1; a student shares it with its
        distillation term so the densification gradients keep their scale)."""
        return 1.0

    def extra_loss(self, view: int, image: Tensor, step: int) -> Tensor | None:
        """A loss term added to the photometric one for training view ``view`` (image [H, W, 3])."""
        return None

    def after_step(self, step: int) -> None:
        """Called after the optimiser and densification steps of ``step``."""

    def step(self) -> dict:
        """One iteration: render a training view, L1 + SSIM loss, backward, Adam, densify."""
        cfg, step = self.cfg, self.step_index
        t0 = time.perf_counter()
        i = self._next_view()
        gt = self.images[i]
        out = self.render_params([self.capture.frames[i].camera], self.active_sh_degree(step), self.render_opacities(step))
        info = dict(out.meta, gaussian_ids=None)
        self.strategy.step_pre_backward(self.params, self.optimizers, self.strategy_state, step, info)
        img = out.colors[0]
        loss = self.photometric_weight(step) * photometric_loss(img, gt, cfg.ssim_lambda)
        extra = self.extra_loss(i, img, step)
        if extra is not None:
            loss = loss + extra
        if cfg.strategy == "mcmc":
            loss = loss + cfg.opacity_reg * torch.sigmoid(self.params["opacities"]).mean()
            loss = loss + cfg.scale_reg * torch.exp(self.params["scales"]).mean()
        loss.backward()
        lr = self.means_lr(step)
        self.optimizers["means"].param_groups[0]["lr"] = lr
        for opt in self.optimizers.values():
            opt.step()
            opt.zero_grad(set_to_none=True)
        self.strategy.after_step(self.params, self.optimizers, self.strategy_state, step, info, lr)
        self.after_step(step)
        self.step_index += 1
        self.elapsed += time.perf_counter() - t0
        with torch.no_grad():
            mse = torch.mean((img.detach().clamp(0, 1) - gt) ** 2).item()
        return {"loss": float(loss.detach()), "psnr": psnr_from_mse(mse),
                "count": len(self.params["means"]), "elapsed": self.elapsed}  # fmt: skip

    # ------------------------------------------------------------------ results
    def scene(self) -> GaussianScene:
        """The current Gaussians as a scene (detached, on the CPU)."""
        p = {k: v.detach().cpu() for k, v in self.params.items()}
        return GaussianScene(
            means=p["means"].clone(),
            quats=p["quats"].clone(),
            log_scales=p["scales"].clone(),
            opacity_logits=p["opacities"].clone(),
            sh=torch.cat([p["sh0"], p["shN"]], 1).clone(),
        )

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        return {
            "step": self.step_index,
            "elapsed": self.elapsed,
            "params": {k: v.detach().cpu() for k, v in self.params.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "strategy_state": {k: (v.cpu() if isinstance(v, Tensor) else v) for k, v in self.strategy_state.items()},
            "view_rng": self.view_rng.get_state(),
            "view_queue": list(self.view_queue),
            "torch_rng": torch.random.get_rng_state(),
            "config": self.cfg.to_dict(),
        }

    def load_state_dict(self, sd: dict) -> None:
        self.params = torch.nn.ParameterDict({k: torch.nn.Parameter(v.to(self.device)) for k, v in sd["params"].items()})
        self.optimizers = self._make_optimizers()
        for k, o in self.optimizers.items():
            o.load_state_dict(sd["optimizers"][k])
        self.strategy_state = {k: (v.to(self.device) if isinstance(v, Tensor) else v) for k, v in sd["strategy_state"].items()}
        self.view_rng.set_state(sd["view_rng"])
        self.view_queue = list(sd["view_queue"])
        torch.random.set_rng_state(sd["torch_rng"])
        self.step_index = int(sd["step"])
        self.elapsed = float(sd["elapsed"])


def _params_from_scene(scene: GaussianScene, sh_degree: int, device) -> dict[str, torch.nn.Parameter]:
    scene = scene.with_sh_degree(sh_degree)
    k = sh_coeff_count(sh_degree)
    P = lambda t: torch.nn.Parameter(t.detach().clone().float().to(device).contiguous())  # noqa: E731
    return {
        "means": P(scene.means),
        "scales": P(scene.log_scales),
        "quats": P(scene.quats),
        "opacities": P(scene.opacity_logits),
        "sh0": P(scene.sh[:, :1]),
        "shN": P(scene.sh[:, 1:k]) if k > 1 else P(torch.zeros(scene.count, 0, 3)),
    }


# ---------------------------------------------------------------------------- outputs
def cameras_json(capture: Capture) -> list[dict]:
    """INRIA's cameras.json: per frame id, name, size, position, world rotation, focals."""
    out = []
    for i, f in enumerate(capture.frames):
        c = f.camera
        out.append({"id": i, "img_name": f.name, "width": c.width, "height": c.height,
                    "position": c.center.tolist(), "rotation": c.camera_to_world[:3, :3].tolist(),
                    "fx": c.fx, "fy": c.fy, "cx": c.cx, "cy": c.cy,
                    "split": "test" if i in set(capture.test_indices) else "train"})  # fmt: skip
    return out


def _write_json(path: str, obj) -> None:
    """Strict JSON into the partial folder (which becomes the output as a whole)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(json_text(obj, indent=2) + "\n")


def _finish_folder(partial: str, out_dir: str) -> None:
    """Move the complete run into place, replacing an older folder of that name."""
    old = None
    if os.path.exists(out_dir):
        old = out_dir + f".old-{os.getpid()}"
        os.replace(out_dir, old)
    os.replace(partial, out_dir)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def save_checkpoint(trainer: Trainer, path: str) -> None:
    """The trainer's state, written atomically (engine.io.atomic): a crash or an interrupt while
    saving leaves the previous checkpoint (or none), never a truncated one."""
    from engine.io.atomic import atomic_output

    with atomic_output(path) as tmp:
        torch.save(trainer.state_dict(), tmp)


def partial_dir(out_dir: str) -> str:
    return os.path.abspath(out_dir).rstrip(os.sep) + ".partial"


def train_job(
    capture: Capture | str,
    out_dir: str,
    config: TrainConfig,
    cancel: CancelToken | None = None,
    pause: CancelToken | None = None,
    resume: bool = False,
    init_scene: GaussianScene | None = None,
    make_trainer=None,
) -> Job:
    """Train, yielding Progress; returns a TrainResult.

    Work happens in ``OUT_DIR.partial`` (checkpoints, log). On completion it becomes ``OUT_DIR``
    with point_cloud.ply, cameras.json, metrics.json (psnr, ssim, count, seconds on the
    test views), config.json and train_log.jsonl. Cancel removes the partial folder; pause (or
    an interrupt) keeps it with a checkpoint that ``resume=True`` continues from.
    ``make_trainer(capture, config, device, init_scene)`` builds the Trainer (default: Trainer;
    engine.distill passes its teachers and student, subclasses that use the hooks).
    """
    from engine import io
    from engine.evaluate import eval_against_capture

    config.validate()
    device = resolve_device(config.device)
    if isinstance(capture, str):
        capture = load_capture(capture, max_side=config.max_side)
    work = partial_dir(out_dir)
    ckpt_path = os.path.join(work, CHECKPOINT)
    if resume and not os.path.exists(ckpt_path):
        raise InputError(work, "there is no checkpoint to resume from")
    if not resume and os.path.exists(work):
        shutil.rmtree(work)
    from engine.io.atomic import make_output_folder

    make_output_folder(work, out_dir)  # an unwritable OUT_DIR is bad input (InputError), named as given
    keep = False
    try:
        trainer = (make_trainer or Trainer)(capture, config, device, init_scene)
        if resume:
            trainer.load_state_dict(torch.load(ckpt_path, weights_only=False))
        log = open(os.path.join(work, "train_log.jsonl"), "a", encoding="utf-8")
        last_preview = -math.inf
        with log:
            while trainer.step_index < config.iterations:
                if cancel is not None:
                    cancel.check()
                if pause is not None and pause.cancelled:
                    save_checkpoint(trainer, ckpt_path)
                    keep = True
                    return TrainResult("paused", work, {"step": trainer.step_index}, trainer.scene())
                m = trainer.step()
                step = trainer.step_index
                if step % config.log_every == 0 or step == config.iterations:
                    log.write(json_text({"step": step, **m}) + "\n")
                if step % config.checkpoint_every == 0 and step < config.iterations:
                    save_checkpoint(trainer, ckpt_path)
                preview = None
                if time.monotonic() - last_preview >= config.snapshot_seconds:
                    preview = trainer.scene()
                    last_preview = time.monotonic()
                yield Progress(step, config.iterations, f"step {step}", m, preview)
        scene = trainer.scene()
        yield Progress(config.iterations, config.iterations, "evaluating on the test views", {}, scene)
        metrics_eval = yield from eval_against_capture(scene, capture, cancel=cancel)
        metrics = {
            "psnr": metrics_eval["psnr"],
            "ssim": metrics_eval["ssim"],
            "count": scene.count,
            "seconds": trainer.elapsed,
            "iterations": config.iterations,
            "test_views": metrics_eval["views"],
            "psnr_per_view": metrics_eval["psnr_per_view"],
            "device": str(device),
            "strategy": config.strategy,
            "max_side": config.max_side,
            "capture": capture.path,
        }
        io.save(scene, os.path.join(work, "point_cloud.ply"))
        _write_json(os.path.join(work, "cameras.json"), cameras_json(capture))
        _write_json(os.path.join(work, "metrics.json"), metrics)
        _write_json(os.path.join(work, "config.json"), config.to_dict())
        if os.path.exists(ckpt_path):
            os.unlink(ckpt_path)
        _finish_folder(work, out_dir)
        return TrainResult("done", os.path.abspath(out_dir), metrics, scene)
    except (Cancelled, GeneratorExit):
        raise
    except KeyboardInterrupt:
        if "trainer" in locals():
            save_checkpoint(trainer, ckpt_path)
            keep = True
        raise
    finally:
        if not keep and os.path.exists(work) and not os.path.exists(os.path.join(work, "metrics.json")):
            shutil.rmtree(work, ignore_errors=True)

