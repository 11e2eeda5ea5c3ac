"""Distillation settings (Distilled-3DGS, arXiv 2508.14037; the released code lt-xiang/Distilled-3DGS).

One schedule for every run length: the paper's 30k-step events are fractions of ``iterations``
(teacher noise and dropout at 16k..24k, the student's sampling prune at 15k where densification
stops, its CDF prune at 20k, the structural loss at 21k..29k).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from engine.device import DEVICES, DISTILL
from engine.errors import InputError
from engine.train.config import TrainConfig

TEACHER_KINDS = ("standard", "noise", "dropout")
L1_TARGETS = ("gt", "teacher")
FULL = 30_000  # the paper's run length, which the fractions below refer to


def at(iterations: int, paper_step: int) -> int:
    """The step of a run of ``iterations`` that corresponds to ``paper_step`` of 30k."""
    return max(1, int(round(iterations * paper_step / FULL)))


@dataclass
class DistillConfig:
    iterations: int = DISTILL.cpu_iterations  # steps of each teacher trained here and of the student
    keep: float = 0.15  # the student keeps at most this share of the standard teacher's Gaussians
    max_side: int | None = DISTILL.cpu_max_side
    device: str = "auto"
    seed: int = 0
    init_points: int | None = None  # random initial points of every model (None: the trainer's default)
    teachers: tuple[str, ...] = TEACHER_KINDS  # kinds trained when no teacher files are given
    # student losses (per step, on its one training view): (1 - distill_weight) x photometric vs
    # the photo, plus distill_weight x [0.8 L1(student, target) + 0.2 (1 - SSIM(student, teacher
    # mean))] with target the photo ("gt", the released code) or the teacher mean ("teacher", the
    # paper's text) — the code's 0.6 / 0.4 on the view that feeds densification — plus
    # structure_weight x the structural loss against the standard teacher at 21k..29k
    distill_weight: float = 0.4
    structure_weight: float = 1.0
    l1_target: str = "gt"
    # pseudo-views (engine.distill.pseudo_views): this many cameras between the training ones,
    # where the student also matches the teacher mean, pseudo_weight x [0.8 L1 + 0.2 (1 - SSIM)],
    # on one of them every pseudo_every steps; 0 views: the paper's training-views-only scheme
    pseudo_views: int = 64
    pseudo_weight: float = 0.4
    pseudo_every: int = 1
    importance: str = "indoor"  # §3.4 score: indoor (sum of weights) or outdoor (per-pixel)
    cdf_drop_mass: float = 0.01  # CDF prune at 20k: drop the least important 1 % of the score mass
    # the sampling prune at 15k draws oversample x the budget; the CDF prune at 20k then trims to
    # the budget (it drops about a third of a sample at CPU run lengths, so 1 x ended at ~10 %)
    oversample: float = 2.0

    @classmethod
    def from_options(cls, *, iterations: int | None = None, max_side: int | None = None, device: str = "auto",
                     seed: int = 0, keep: float = 0.15, init_points: int | None = None, **losses) -> "DistillConfig":  # fmt: skip
        """A run's config from what the user chose: ``splatlab distill``'s options and the Distill
        panel's fields both come through here. None means the default per device
        (engine.device.DISTILL); ``max_side`` 0 means full size; ``losses`` are the loss fields
        (l1_target, structure_weight, ...). Validated (InputError for values out of range)."""
        return cls(
            iterations=int(iterations if iterations is not None else DISTILL.iterations(device)),
            max_side=(max_side if max_side is not None else DISTILL.max_side(device)) or None,
            device=device, seed=int(seed), keep=float(keep),
            init_points=None if init_points is None else int(init_points), **losses,
        ).validate()  # fmt: skip

    def validate(self) -> "DistillConfig":
        if not 0.0 < self.keep <= 1.0:
            raise InputError(None, f"--keep {self.keep:g} is out of range (a share in (0, 1], e.g. 0.15)")
        if not 10 <= self.iterations <= 10_000_000:
            raise InputError(None, f"--iterations {self.iterations} is out of range (10-10,000,000)")
        if self.max_side is not None and not 8 <= self.max_side <= 16384:
            raise InputError(None, f"--max-side {self.max_side} is out of range (8-16384)")
        if self.device not in DEVICES:
            raise InputError(None, f"unknown device {self.device!r} (choose from {', '.join(DEVICES)})")
        unknown = [k for k in self.teachers if k not in TEACHER_KINDS]
        if unknown or not self.teachers:
            raise InputError(None, f"teacher kinds must be some of {', '.join(TEACHER_KINDS)} (got {', '.join(self.teachers) or 'none'})")
        if self.l1_target not in L1_TARGETS:
            raise InputError(None, f"--l1-target must be one of {', '.join(L1_TARGETS)}")
        if self.pseudo_views < 0 or self.pseudo_weight < 0 or self.pseudo_every < 1:
            raise InputError(None, "pseudo-views: the count and weight must not be negative, and the interval at least 1 step")
        if self.oversample < 1:
            raise InputError(None, f"the oversampling of the 15k prune must be at least 1 (got {self.oversample:g})")
        if not 0 <= self.distill_weight < 1 or self.structure_weight < 0:
            raise InputError(None, "the distillation weight must be in [0, 1) and the structure weight not negative")
        return self

    def train_config(self, seed_offset: int = 0) -> TrainConfig:
        """The 3DGS recipe every teacher and the student start from, squeezed into the run."""
        cfg = TrainConfig(iterations=self.iterations, max_side=self.max_side, device=self.device,
                          seed=self.seed + seed_offset, init_points=self.init_points).validate()  # fmt: skip
        return cfg.for_iterations(self.iterations)

    # the schedule (steps of this run)
    @property
    def event_steps(self) -> list[int]:
        """Teacher noise / dropout events: 16k, 17k, ..., 24k."""
        return sorted({at(self.iterations, k * 1000) for k in range(16, 25)})

    @property
    def prune_step(self) -> int:
        return at(self.iterations, 15_000)

    @property
    def cdf_prune_step(self) -> int:
        return at(self.iterations, 20_000)

    @property
    def structure_steps(self) -> tuple[int, int]:
        """[start, end) of the structural loss: 21k to 29k."""
        return at(self.iterations, 21_000), at(self.iterations, 29_000)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
