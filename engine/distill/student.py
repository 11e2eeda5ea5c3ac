"""The Distilled-3DGS student (arXiv 2508.14037 §3.3-3.6; the released code's schedule,
lt-xiang/Distilled-3DGS), a Trainer subclass using its hooks.

It trains from the capture like a teacher (INRIA densification until 15k, but no opacity reset),
and on top of the photometric loss against the photo:

- every step, distill_weight * [0.8 L1(student, target) + 0.2 (1 - SSIM(student, teacher mean))],
  the teacher mean being the cached pixel mean of the teachers' renders of this view, and the
  L1 target the photo (the released code) or the teacher mean (the paper's text);
- at 15k (when growth stops) it keeps ``oversample x keep_count`` Gaussians, drawn with
  probability proportional to their importance (§3.4) over the training views, ``keep_count``
  being the requested share of the standard teacher's count. Survivors keep their trained
  parameters (the code re-initialises them; on short CPU runs there is no time to re-learn them);
- at 20k the CDF prune drops the least important 1 % of the importance mass and then, if more
  than ``keep_count`` remain, the least important beyond it: the student ends at its budget
  (the code's schedule has a sampling factor instead of a budget, and ends wherever the CDF
  prune leaves it);
- from 21k to 29k, structure_weight * the structural loss (§3.5) against the standard teacher's
  means;
- with pseudo-views (engine.distill.pseudo_views), every pseudo_every steps one more render, at a
  view between the training cameras, matched to the teacher mean there: pseudo_weight x [0.8 L1
  + 0.2 (1 - SSIM)]. Its gradients train the parameters but not the densification statistics
  (those come from the training view's render only).

With distill_weight = structure_weight = 0 it is "pruning alone", the ablation baseline.
"""

from __future__ import annotations

import torch
from torch import Tensor

from engine.distill.config import DistillConfig
from engine.distill.importance import budget_prune_mask, importance_score, sample_survivors
from engine.distill.structure import structural_loss
from engine.distill.teacher_mean import TeacherMeans
from engine.metrics import l1_ssim_loss, ssim_differentiable
from engine.train.trainer import Trainer


class Student(Trainer):
    def __init__(self, capture, config, device, init=None, *, distill: DistillConfig, keep_count: int,
                 teacher_means: TeacherMeans | None = None, structure_target: Tensor | None = None,
                 pseudo: tuple[list, TeacherMeans] | None = None):  # fmt: skip
        super().__init__(capture, config, device, init)
        self.distill = distill
        self.keep_count = int(keep_count)
        self.teacher_means = teacher_means
        self.structure_target = None if structure_target is None else structure_target.to(device).float()
        self.prune_generator = torch.Generator().manual_seed(distill.seed + 1)
        self.pseudo_cameras, self.pseudo_means = pseudo if pseudo is not None else ([], None)

    def photometric_weight(self, step: int) -> float:
        """1 - distill_weight when distilling: the photometric and distillation weights sum to 1,
        as on the released code's one view per step that feeds densification (0.6 + 0.4), so
        the view-space gradients that decide growth keep the scale the thresholds expect."""
        return 1.0 - self.distill.distill_weight if self.teacher_means is not None else 1.0

    def extra_loss(self, view: int, image: Tensor, step: int) -> Tensor | None:
        d = self.distill
        loss = None
        if d.distill_weight > 0 and self.teacher_means is not None:
            teacher = self.teacher_means.image(view, image.device)
            target = self.images[view] if d.l1_target == "gt" else teacher
            term = l1_ssim_loss((image - target).abs().mean(), ssim_differentiable(image, teacher))  # 0.8 L1 + 0.2 (1 - SSIM)
            loss = d.distill_weight * term
        start, end = d.structure_steps
        if d.structure_weight > 0 and self.structure_target is not None and start <= step < end:
            s = d.structure_weight * structural_loss(self.params["means"], self.structure_target)
            loss = s if loss is None else loss + s
        if self.pseudo_cameras and d.pseudo_weight > 0 and step % d.pseudo_every == 0:
            p = self.pseudo_loss(step)
            loss = p if loss is None else loss + p
        return loss

    def pseudo_loss(self, step: int) -> Tensor:
        """pseudo_weight x [0.8 L1 + 0.2 (1 - SSIM)] against the teacher mean at a pseudo-view
        picked by the step alone (so a resumed run picks the same ones)."""
        pick = torch.Generator().manual_seed(self.distill.seed * 1_000_003 + step)
        k = int(torch.randint(len(self.pseudo_cameras), (1,), generator=pick))
        out = self.render_params([self.pseudo_cameras[k]], self.active_sh_degree(step), self.render_opacities(step))
        image = out.colors[0]  # [H, W, 3]
        teacher = self.pseudo_means.image(k, image.device)
        return self.distill.pseudo_weight * l1_ssim_loss((image - teacher).abs().mean(), ssim_differentiable(image, teacher))

    @torch.no_grad()
    def after_step(self, step: int) -> None:
        d = self.distill
        if step + 1 == d.prune_step:
            score = self.importance()
            drawn = int(round(d.oversample * self.keep_count))
            self._remove(~sample_survivors(score, drawn, self.prune_generator))
        elif step + 1 == d.cdf_prune_step:
            keep = budget_prune_mask(self.importance(), self.keep_count, d.cdf_drop_mass)
            if keep.any():
                self._remove(~keep)

    def importance(self) -> Tensor:
        """[N] §3.4 importance over the training views."""
        p = self.params
        cams = [self.capture.frames[i].camera for i in self.train_ids]
        return importance_score(p["means"], p["quats"], torch.exp(p["scales"]), torch.sigmoid(p["opacities"]),
                                cams, self.distill.importance)  # fmt: skip

    def _remove(self, mask: Tensor) -> None:
        from gsplat.strategy.ops import remove

        if mask.any():
            remove(params=self.params, optimizers=self.optimizers, state=self.strategy_state, mask=mask)


def student_factory(distill: DistillConfig, keep_count: int, teacher_means: TeacherMeans | None,
                    structure_target: Tensor | None, pseudo: tuple[list, TeacherMeans] | None = None):  # fmt: skip
    """make_trainer for engine.train.train_job; ``pseudo``: (cameras, their teacher means)."""

    def make(capture, config, device, init=None):
        return Student(capture, config, device, init, distill=distill, keep_count=keep_count,
                       teacher_means=teacher_means, structure_target=structure_target, pseudo=pseudo)  # fmt: skip

    return make
