"""The two regularised teachers of Distilled-3DGS (arXiv 2508.14037 §3.2; the released code's
schedule and magnitudes in lt-xiang/Distilled-3DGS), as Trainer subclasses using its hooks. The
standard teacher is the plain engine.train.Trainer.

Events happen at the steps of 16k, 17k, ..., 24k of a 30k run (DistillConfig.event_steps).
"""

from __future__ import annotations

import torch
from torch import Tensor

from engine.distill.config import FULL, DistillConfig
from engine.train.trainer import Trainer

NOISE_STD = 0.1  # per-channel std = NOISE_STD * max(mean |param|, 1)
ROTATION_NOISE_STD = 0.1  # on the 6-D rotation form
CLONE_MAX_SCALE = 0.01  # clone candidates: max scale <= this * the scene extent
NOISE_GROUPS = ("means", "opacities", "scales", "quats")


def _quat_to_matrix(q: Tensor) -> Tensor:  # [N, 4] wxyz -> [N, 3, 3]
    w, x, y, z = torch.nn.functional.normalize(q, dim=-1).unbind(-1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], -1).reshape(-1, 3, 3)  # fmt: skip


def _matrix_to_quat(m: Tensor) -> Tensor:  # [N, 3, 3] rotation -> [N, 4] wxyz, w >= 0
    t = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    cands = torch.stack([
        torch.stack([1 + t, m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0], m[:, 1, 0] - m[:, 0, 1]], -1),
        torch.stack([m[:, 2, 1] - m[:, 1, 2], 1 + 2 * m[:, 0, 0] - t, m[:, 0, 1] + m[:, 1, 0], m[:, 0, 2] + m[:, 2, 0]], -1),
        torch.stack([m[:, 0, 2] - m[:, 2, 0], m[:, 0, 1] + m[:, 1, 0], 1 + 2 * m[:, 1, 1] - t, m[:, 1, 2] + m[:, 2, 1]], -1),
        torch.stack([m[:, 1, 0] - m[:, 0, 1], m[:, 0, 2] + m[:, 2, 0], m[:, 1, 2] + m[:, 2, 1], 1 + 2 * m[:, 2, 2] - t], -1),
    ], 1)  # [N, 4 candidates, 4]: the one with the largest norm is the stable one  # fmt: skip
    best = cands.norm(dim=-1).argmax(1)
    q = torch.nn.functional.normalize(cands[torch.arange(len(m)), best], dim=-1)
    return q * torch.where(q[:, :1] < 0, -1.0, 1.0)


def six_d_noise(quats: Tensor, std: float) -> Tensor:
    """Perturb rotations [N, 4] in the continuous 6-D form (first two matrix columns), then
    Gram-Schmidt back to a rotation and a quaternion."""
    m = _quat_to_matrix(quats)
    a, b = m[:, :, 0] + torch.randn_like(m[:, :, 0]) * std, m[:, :, 1] + torch.randn_like(m[:, :, 1]) * std
    a = torch.nn.functional.normalize(a, dim=-1)
    b = torch.nn.functional.normalize(b - (a * b).sum(-1, keepdim=True) * a, dim=-1)
    return _matrix_to_quat(torch.stack([a, b, torch.cross(a, b, dim=-1)], -1))


class NoiseTeacher(Trainer):
    """At each event: Gaussian noise on the raw position, opacity logit, log-scale and rotation of
    the clone candidates (mean view-space gradient >= grow_grad2d and max scale <= 0.01 x the
    extent, from the densification statistics frozen when growth stopped); then the Adam moments
    of those four groups are zeroed for every Gaussian."""

    def __init__(self, capture, config, device, init=None, *, distill: DistillConfig):
        super().__init__(capture, config, device, init)
        self.events = set(distill.event_steps)

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        if step not in self.events:
            return
        p, st = self.params, self.strategy_state
        grad2d, count = st.get("grad2d"), st.get("count")
        if grad2d is None or count is None or len(grad2d) != len(p["means"]):
            return
        small = torch.exp(p["scales"]).max(-1).values <= CLONE_MAX_SCALE * self.extent
        cand = ((grad2d / count.clamp_min(1)) >= self.cfg.grow_grad2d) & small  # [N]
        if cand.any():
            for name in ("means", "opacities", "scales"):
                v = p[name]
                std = NOISE_STD * torch.clamp(v.abs().reshape(len(v), -1).mean(0), min=1.0)  # per channel
                noise = torch.randn_like(v[cand]) * std.reshape((1,) + v.shape[1:] if v.ndim > 1 else ())
                v[cand] += noise
            p["quats"][cand] = six_d_noise(p["quats"][cand], ROTATION_NOISE_STD)
        for name in NOISE_GROUPS:
            for s in self.optimizers[name].state.values():
                for k in ("exp_avg", "exp_avg_sq"):
                    if k in s:
                        s[k].zero_()


class DropoutTeacher(Trainer):
    """At each event step the render drops each Gaussian's opacity with probability
    p = 0.2 (it - 500) / 14500 (it: the step in 30k terms; 0.214 at 16k, 0.324 at 24k) and divides
    the survivors' by 1 - p."""

    def __init__(self, capture, config, device, init=None, *, distill: DistillConfig):
        super().__init__(capture, config, device, init)
        self.events = set(distill.event_steps)
        self.scale = FULL / max(config.iterations, 1)

    def render_opacities(self, step: int) -> Tensor | None:
        if step not in self.events:
            return None
        drop = 0.2 * (step * self.scale - 500) / 14_500
        opac = torch.sigmoid(self.params["opacities"])
        keep = (torch.rand_like(opac) >= drop).to(opac.dtype)
        return opac * keep / (1.0 - drop)


def teacher_factory(kind: str, distill: DistillConfig):
    """make_trainer for engine.train.train_job: the Trainer class of a teacher kind."""
    if kind == "standard":
        return None
    cls = {"noise": NoiseTeacher, "dropout": DropoutTeacher}[kind]
    return lambda capture, config, device, init=None: cls(capture, config, device, init, distill=distill)
